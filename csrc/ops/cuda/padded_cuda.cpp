// The CUDA padded identity ops: checks, device guard, outputs and workspace
// on the current stream (no host sync); the kernels take plain pointers
// (padded_kernels.cu).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../kernel_switches.h"
#include "../padded_common.h"
#include "padded_kernels.h"

namespace idmatch {
namespace ops {
namespace {

// Runs the problems on the current stream of the guarded device, in a
// workspace sized from the input shapes, from the caching allocator.
struct CudaRunner {
  at::TensorOptions options;

  template <class Params>
  void run(const Params& p, int64_t num_problems, int64_t rows, int64_t cols) const {
    if (num_problems == 0) return;
    const bool thread_solver = thread_solver_enabled();
    // Empty (no allocation) where the kernel keeps its states on chip.
    const int64_t units = padded_kernel_uses_workspace(rows, cols, thread_solver)
                              ? core::padded_workspace_units(rows, cols) * num_problems
                              : 0;
    auto doubles = at::empty({core::kDoublesPerUnit * units}, options.dtype(at::kDouble));
    auto ints = at::empty({core::kIntsPerUnit * units}, options.dtype(at::kInt));
    auto row_lists = at::empty({rows * num_problems}, options.dtype(at::kLong));
    C10_CUDA_CHECK(launch_padded_kernel(p, num_problems, rows, cols, doubles.mutable_data_ptr<double>(),
                                        ints.mutable_data_ptr<int32_t>(), row_lists.mutable_data_ptr<int64_t>(),
                                        thread_solver, c10::cuda::getCurrentCUDAStream().stream()));
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_padded_peaks_cuda(const at::Tensor& peaks,
                                                                                      const at::Tensor& peak_vals,
                                                                                      const at::Tensor& peak_mask,
                                                                                      const at::Tensor& class_probs) {
  check_padded_peaks_args(peaks, peak_vals, peak_mask, class_probs);
  const c10::cuda::CUDAGuard device_guard(peaks.device());
  return classify_padded_peaks_with(CudaRunner{peaks.options()}, peaks, peak_vals, peak_mask, class_probs);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> match_padded_instances_cuda(const at::Tensor& class_probs,
                                                                           const at::Tensor& instance_valid) {
  check_padded_instances_args(class_probs, instance_valid);
  const c10::cuda::CUDAGuard device_guard(class_probs.device());
  return match_padded_instances_with(CudaRunner{class_probs.options()}, class_probs, instance_valid);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) {
  m.impl("classify_padded_peaks", &idmatch::ops::classify_padded_peaks_cuda);
  m.impl("match_padded_instances", &idmatch::ops::match_padded_instances_cuda);
}

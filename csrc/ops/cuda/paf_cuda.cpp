// The CUDA PAF candidate matching op: checks, device guard and the shared
// glue (../paf_glue.h), whose sorts and searches are ATen ops on the current
// stream; the kernel takes plain pointers (paf_kernel.cu).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../kernel_switches.h"
#include "../paf_glue.h"
#include "paf_kernel.h"

namespace idmatch {
namespace ops {
namespace {

struct CudaPafKernels {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();

  template <typename T>
  void paf(const core::PafParams<T>& p, double* doubles, int32_t* ints) const {
    C10_CUDA_CHECK(launch_paf_kernel(p, doubles, ints, thread_solver_enabled(), stream));
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> match_paf_candidates_cuda(
    const at::Tensor& edge_inds, const at::Tensor& edge_peak_inds, const at::Tensor& line_scores,
    const at::Tensor& sample_inds, int64_t n_samples, int64_t n_edges) {
  check_paf_args(edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples, n_edges);
  const c10::cuda::CUDAGuard device_guard(line_scores.device());
  return match_paf_candidates(CudaPafKernels{}, edge_inds, edge_peak_inds, line_scores, sample_inds, n_samples,
                              n_edges);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) { m.impl("match_paf_candidates", &idmatch::ops::match_paf_candidates_cuda); }

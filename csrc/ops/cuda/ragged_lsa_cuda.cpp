// ATen glue of the CUDA ragged LSA op: checks, allocations, device guard and
// stream; the kernels take plain pointers (ragged_lsa_kernel.cu).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../ragged_lsa_checks.h"
#include "../ragged_lsa_params.h"
#include "ragged_lsa_cuda.h"
#include "ragged_lsa_kernel.h"

namespace idmatch {
namespace ops {

void run_ragged_lsa_cuda(const at::Tensor& cost, const at::Tensor& offsets, const int64_t* row_index, bool maximize,
                         core::MatchFilter match_filter, at::Tensor& col_for_row, at::Tensor& status) {
  const int64_t num_rows = cost.size(0), num_cols = cost.size(1), num_problems = offsets.size(0) - 1;
  const int64_t units = ragged_lsa_workspace_units(num_rows, num_problems, num_cols);
  const auto options = cost.options();
  auto doubles = at::empty({core::kDoublesPerUnit * units}, options.dtype(at::kDouble));
  auto ints = at::empty({core::kIntsPerUnit * units}, options.dtype(at::kInt));
  auto offsets_bad = at::empty({1}, options.dtype(at::kInt));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(cost.device().index()).stream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cost.scalar_type(), "ragged_lsa_cuda", [&] {
    const auto p = ragged_lsa_params<scalar_t>(cost, offsets.const_data_ptr<int64_t>(), num_problems, row_index,
                                               maximize, match_filter, col_for_row, status);
    C10_CUDA_CHECK(launch_ragged_lsa_kernel(p, doubles.mutable_data_ptr<double>(), ints.mutable_data_ptr<int32_t>(),
                                            offsets_bad.mutable_data_ptr<int32_t>(), stream));
  });
}

namespace {

std::tuple<at::Tensor, at::Tensor> ragged_linear_sum_assignment_cuda(const at::Tensor& cost, const at::Tensor& offsets,
                                                                     bool maximize) {
  check_ragged_lsa_args(cost, offsets);
  const c10::cuda::CUDAGuard device_guard(cost.device());
  auto col_for_row = at::full({cost.size(0)}, -1, cost.options().dtype(at::kLong));
  auto status = at::empty({offsets.size(0) - 1}, cost.options().dtype(at::kInt));
  run_ragged_lsa_cuda(cost, offsets.contiguous(), nullptr, maximize, core::MatchFilter::kAll, col_for_row, status);
  return {col_for_row, status};
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) {
  m.impl("ragged_linear_sum_assignment", &idmatch::ops::ragged_linear_sum_assignment_cuda);
}

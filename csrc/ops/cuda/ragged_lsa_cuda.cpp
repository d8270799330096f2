// The CUDA ragged LSA op: checks and device guard; the glue is the CUDA
// path's (../cuda_path.h), the kernels take plain pointers
// (ragged_lsa_kernel.cu).
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../cuda_path.h"
#include "../ragged_lsa_checks.h"
#include "cuda_kernels.h"

namespace idmatch {
namespace ops {
namespace {

std::tuple<at::Tensor, at::Tensor> ragged_linear_sum_assignment_cuda(const at::Tensor& cost, const at::Tensor& offsets,
                                                                     bool maximize) {
  check_ragged_lsa_args(cost, offsets);
  const c10::cuda::CUDAGuard device_guard(cost.device());
  return cuda_path::ragged_linear_sum_assignment(CudaKernels{}, cost, offsets, maximize);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) {
  m.impl("ragged_linear_sum_assignment", &idmatch::ops::ragged_linear_sum_assignment_cuda);
}

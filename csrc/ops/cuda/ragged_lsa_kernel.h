// The plain-pointer launcher of the CUDA ragged LSA kernels
// (ragged_lsa_kernel.cu), called by the CUDA path's glue (../cuda_path.h)
// through CudaKernels (cuda_kernels.h). No ATen here: the .cu files stay
// light.
#pragma once

#include <cuda_runtime_api.h>

#include "../../core/ragged_lsa.h"

namespace idmatch {
namespace ops {

// Solves every problem of the batch on `stream` in a workspace of
// core::workspace_units(...) units: by teams of threads (core/lsa_team.h),
// or by one thread per problem when thread_solver. offsets_bad is one int32
// on the device, which the launcher clears and sets where some pair of
// offsets is bad; null for offsets known to be valid (built by the glue),
// which are not checked. Returns the launch error, if any.
template <typename T>
cudaError_t launch_ragged_lsa_kernel(const core::RaggedLsaParams<T>& params, double* doubles, int32_t* ints,
                                     int32_t* offsets_bad, bool thread_solver, cudaStream_t stream);

}  // namespace ops
}  // namespace idmatch

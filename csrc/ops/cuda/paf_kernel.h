// The plain-pointer launcher of the CUDA PAF candidate matching kernel
// (paf_kernel.cu), called by the op's glue (../paf_glue.h) through
// CudaPafKernels (paf_cuda.cpp). No ATen here.
#pragma once

#include <cuda_runtime_api.h>

#include "../../core/paf.h"

namespace idmatch {
namespace ops {

// Solves every problem on `stream`, a tile of lanes per problem and the
// tile's thread block per problem over 32 columns (one thread per problem
// when thread_solver), in a workspace of
// core::kPafDoublesPerCandidate and kPafIntsPerCandidate times the candidate
// count. Returns the launch error, if any.
template <typename T>
cudaError_t launch_paf_kernel(const core::PafParams<T>& params, double* doubles, int32_t* ints, bool thread_solver,
                              cudaStream_t stream);

}  // namespace ops
}  // namespace idmatch

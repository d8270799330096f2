// The plain-pointer launcher of the CUDA ragged LSA kernels
// (ragged_lsa_kernel.cu), called by run_ragged_lsa_cuda (ragged_lsa_cuda.h).
// No ATen here: the .cu files stay light.
#pragma once

#include <cuda_runtime_api.h>

#include "../../core/ragged_lsa.h"

namespace idmatch {
namespace ops {

// Element counts of the workspace buffers a batch needs (see
// core::workspace_slot), times core::kDoublesPerUnit doubles and
// core::kIntsPerUnit int32s.
inline int64_t ragged_lsa_workspace_units(int64_t num_rows, int64_t num_problems, int64_t num_cols) {
  return num_rows + num_problems * num_cols;
}

// Solves every problem of the batch on `stream`, one thread per problem.
// offsets_bad is one int32 on the device; the launcher clears it itself.
// Returns the launch error, if any.
template <typename T>
cudaError_t launch_ragged_lsa_kernel(const core::RaggedLsaParams<T>& params, double* doubles, int32_t* ints,
                                     int32_t* offsets_bad, cudaStream_t stream);

}  // namespace ops
}  // namespace idmatch

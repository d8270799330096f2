// Plain-pointer launchers of the CUDA kernels of the padded identity ops
// (padded_kernels.cu), called by their glue (padded_cuda.cpp). No ATen here.
#pragma once

#include <cuda_runtime_api.h>

#include "../../core/padded.h"

namespace idmatch {
namespace ops {

// Whether launch_padded_kernel reads and writes the doubles and ints of the
// workspace: the tiles (max(rows, cols) up to 32) keep their lanes' states
// in registers and shared memory and need the row lists only. The launcher
// decides by it too.
inline bool padded_kernel_uses_workspace(int64_t rows, int64_t cols, bool thread_solver) {
  return thread_solver || core::tile_width(rows > cols ? rows : cols) == 0;
}

// Solves every problem of the op on `stream`, by a team of lanes per problem
// (or by one thread per problem when thread_solver), each in its slot of a
// workspace of num_problems times core::padded_workspace_units(rows, cols)
// units (row lists: rows int64s per problem; doubles and ints may be empty
// where padded_kernel_uses_workspace says so). Returns the launch error, if
// any.
template <class Params>
cudaError_t launch_padded_kernel(const Params& params, int64_t num_problems, int64_t rows, int64_t cols,
                                 double* doubles, int32_t* ints, int64_t* row_lists, bool thread_solver,
                                 cudaStream_t stream);

}  // namespace ops
}  // namespace idmatch

// CUDA kernels of the padded identity ops: one thread per (sample, node)
// group or per sample, each running the shared per-group function
// (core/padded.h) in its own slot of the workspace.
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "padded_kernels.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each with a long serial solve: small blocks spread
// the problems over more multiprocessors (as the ragged LSA kernel).
constexpr int kThreadsPerBlock = 128;

template <class Params>
__global__ void solve_padded_problems(const Params p, int64_t num_problems, int64_t rows, int64_t units,
                                      double* doubles, int32_t* ints, int64_t* row_lists) {
  for (int64_t s = grid_first_index(); s < num_problems; s += grid_stride()) {
    core::solve_padded_problem(p, s, doubles + core::kDoublesPerUnit * units * s, ints + core::kIntsPerUnit * units * s,
                               row_lists + rows * s);
  }
}

}  // namespace

template <class Params>
cudaError_t launch_padded_kernel(const Params& params, int64_t num_problems, int64_t rows, int64_t cols,
                                 double* doubles, int32_t* ints, int64_t* row_lists, cudaStream_t stream) {
  if (num_problems == 0) return cudaSuccess;
  const int64_t units = core::padded_workspace_units(rows, cols);
  solve_padded_problems<Params><<<blocks_for(num_problems, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
      params, num_problems, rows, units, doubles, ints, row_lists);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T)                                                                                  \
  template cudaError_t launch_padded_kernel<core::PaddedPeaksParams<T>>(                                        \
      const core::PaddedPeaksParams<T>&, int64_t, int64_t, int64_t, double*, int32_t*, int64_t*, cudaStream_t); \
  template cudaError_t launch_padded_kernel<core::PaddedInstancesParams<T>>(                                    \
      const core::PaddedInstancesParams<T>&, int64_t, int64_t, int64_t, double*, int32_t*, int64_t*, cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

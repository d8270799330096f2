// CUDA kernels of the ragged LSA op: one thread per problem, each running the
// shared solver core (core/ragged_lsa.h) on its own slot of a workspace. See
// docs/design.md, "GPU kernels".
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "ragged_lsa_kernel.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each with a long serial solve: small blocks spread
// the problems over more multiprocessors.
constexpr int kThreadsPerBlock = 128;

// A single bad pair of offsets can make the other problems overlap, so the
// whole batch is refused when any pair is bad (see core/ragged_lsa.h).
__global__ void find_bad_offsets(const int64_t* offsets, int64_t num_problems, int64_t num_rows, int32_t* offsets_bad) {
  for (int64_t s = grid_first_index(); s < num_problems; s += grid_stride()) {
    if (!core::offsets_pair_valid(offsets, s, num_rows)) *offsets_bad = 1;
  }
}

template <typename T>
__global__ void solve_problems(const core::RaggedLsaParams<T> p, double* doubles, int32_t* ints,
                               const int32_t* offsets_bad) {
  const bool refuse = *offsets_bad != 0;
  for (int64_t s = grid_first_index(); s < p.num_problems; s += grid_stride()) {
    core::solve_shared_workspace_problem(p, s, doubles, ints, refuse);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_ragged_lsa_kernel(const core::RaggedLsaParams<T>& params, double* doubles, int32_t* ints,
                                     int32_t* offsets_bad, cudaStream_t stream) {
  if (params.num_problems == 0) return cudaSuccess;
  cudaError_t error = cudaMemsetAsync(offsets_bad, 0, sizeof(int32_t), stream);
  if (error != cudaSuccess) return error;
  const int blocks = blocks_for(params.num_problems, kThreadsPerBlock);
  find_bad_offsets<<<blocks, kThreadsPerBlock, 0, stream>>>(params.offsets, params.num_problems, params.num_rows,
                                                            offsets_bad);
  error = cudaGetLastError();
  if (error != cudaSuccess) return error;
  solve_problems<T><<<blocks, kThreadsPerBlock, 0, stream>>>(params, doubles, ints, offsets_bad);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T)                                                                                   \
  template cudaError_t launch_ragged_lsa_kernel<T>(const core::RaggedLsaParams<T>&, double*, int32_t*, int32_t*, \
                                                   cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

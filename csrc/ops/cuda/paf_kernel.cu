// CUDA kernel of the PAF candidate matching op: one thread per (sample, edge)
// problem, each running the shared per-problem code (core/paf.h) on its own
// slot of the workspace.
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "paf_kernel.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each a serial solve: small blocks spread the
// problems over more multiprocessors.
constexpr int kThreadsPerBlock = 128;

template <typename T>
__global__ void solve_paf_problems(const core::PafParams<T> p, double* doubles, int32_t* ints) {
  for (int64_t s = grid_first_index(); s < p.num_problems; s += grid_stride()) {
    core::solve_paf_problem(p, s, doubles, ints);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_paf_kernel(const core::PafParams<T>& params, double* doubles, int32_t* ints, cudaStream_t stream) {
  if (params.num_problems == 0) return cudaSuccess;
  const int blocks = blocks_for(params.num_problems, kThreadsPerBlock);
  solve_paf_problems<T><<<blocks, kThreadsPerBlock, 0, stream>>>(params, doubles, ints);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T) \
  template cudaError_t launch_paf_kernel<T>(const core::PafParams<T>&, double*, int32_t*, cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

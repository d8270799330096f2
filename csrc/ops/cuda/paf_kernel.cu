// CUDA kernel of the PAF candidate matching op. By default a tile of 32
// lanes takes each (sample, edge) problem: its first lane ranks the
// problem's sources and destinations, and the tile solves it as a team
// (core/lsa_team.h, lsa_teams.cuh) when it has at most 32 columns in the
// solver's orientation, as nearly every problem of a frame has; a wider one
// is solved by the first lane alone. With IDMATCH_CUDA_THREAD_SOLVER=1, one
// thread per problem runs the whole per-problem function (core/paf.h).
// Either way each problem works in its own slot of the workspace.
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "lsa_teams.cuh"
#include "paf_kernel.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each a serial solve: small blocks spread the
// problems over more multiprocessors.
constexpr int kThreadsPerBlock = 128;

// The problem sizes are known only on the device, so one tile width serves
// every problem.
constexpr int kTileWidth = static_cast<int>(core::kPafTileColumns);

template <typename T>
__global__ void solve_paf_problems(const core::PafParams<T> p, double* doubles, int32_t* ints) {
  for (int64_t s = grid_first_index(); s < p.num_problems; s += grid_stride()) {
    core::solve_paf_problem(p, s, doubles, ints);
  }
}

template <typename T>
__global__ void solve_paf_problems_by_tiles(const core::PafParams<T> p, double* doubles, int32_t* ints) {
  __shared__ double staged[kThreadsPerBlock / kTileWidth][kTileWidth * kTileWidth];
  const auto tile = cg::tiled_partition<kTileWidth>(cg::this_thread_block());
  const bool leader = tile.thread_rank() == 0;
  const int64_t first = grid_first_index() / kTileWidth;
  const int64_t stride = grid_stride() / kTileWidth;
  for (int64_t s = first; s < p.num_problems; s += stride) {
    core::PafProblem q = core::paf_problem(p, s, doubles, ints);
    if (leader) core::rank_paf_problem(p, q);
    q.n_src = tile.shfl(q.n_src, 0);
    q.n_dst = tile.shfl(q.n_dst, 0);
    tile.sync();  // the ranks and line starts are read by every lane
    if (q.solver_cols() > core::kPafTileColumns) {
      if (leader) p.status[s] = core::solve_ranked_paf_problem_by_thread(p, q);
      continue;
    }
    TileTeam<kTileWidth> team(tile, staged[threadIdx.x / kTileWidth], static_cast<int32_t>(q.solver_rows()),
                              static_cast<int32_t>(q.solver_cols()));
    core::solve_ranked_paf_problem_team(team, p, s, q, leader);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_paf_kernel(const core::PafParams<T>& params, double* doubles, int32_t* ints, bool thread_solver,
                              cudaStream_t stream) {
  if (params.num_problems == 0) return cudaSuccess;
  if (thread_solver) {
    const int blocks = blocks_for(params.num_problems, kThreadsPerBlock);
    solve_paf_problems<T><<<blocks, kThreadsPerBlock, 0, stream>>>(params, doubles, ints);
  } else {
    const int blocks = blocks_for(params.num_problems * kTileWidth, kThreadsPerBlock);
    solve_paf_problems_by_tiles<T><<<blocks, kThreadsPerBlock, 0, stream>>>(params, doubles, ints);
  }
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T) \
  template cudaError_t launch_paf_kernel<T>(const core::PafParams<T>&, double*, int32_t*, bool, cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

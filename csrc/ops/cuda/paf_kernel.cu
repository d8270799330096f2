// CUDA kernel of the PAF candidate matching op. By default a tile of 32
// lanes takes each (sample, edge) problem: its first lane ranks the
// problem's sources and destinations, and the tile solves it as a team
// (core/lsa_team.h, lsa_teams.cuh) when it has at most 32 columns in the
// solver's orientation, as nearly every problem of a frame has. A wider one
// waits for the end of the round of the block's tiles, and then the whole
// block solves it, reading it line by line (core::PafTeamLines). With
// IDMATCH_CUDA_THREAD_SOLVER=1, one thread per problem runs the whole
// per-problem function (core/paf.h). Either way each problem works in its
// own slot of the workspace.
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "lsa_teams.cuh"
#include "paf_kernel.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each a serial solve: small blocks spread the
// problems over more multiprocessors. The tiles' blocks are as small, and a
// wide problem's team is a block of 4 warps.
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

constexpr int kTilesPerBlock = kThreadsPerBlock / kTileWidth;

// The doubles of the tiles' staging, which the block reuses for a wide
// problem's lane states and line buffer.
constexpr int64_t kStagedDoubles = int64_t{kTilesPerBlock} * kTileWidth * kTileWidth;

// A wide problem's lane states (nr + 2 nc doubles, nr + 3 nc int32s, with
// nr <= nc) and line buffer (nc doubles) in the staging when they fit, else
// in the problem's workspace slot.
__device__ inline bool fits_staging(int64_t nr, int64_t nc) {
  return (nr + 3 * nc) + (nr + 3 * nc + 1) / 2 <= kStagedDoubles;
}

// The block's problems come in rounds, one per tile. A tile solves a narrow
// problem on its own and hands a wide one to the block (its ranked
// PafProblem, in shared memory); after the round's barrier the block solves
// the handed problems one after another. The rounds depend on the block
// alone, so every thread meets every barrier; the tiles' staging is free
// between the round's first barrier and its last.
template <typename T>
__global__ void solve_paf_problems_by_tiles(const core::PafParams<T> p, double* doubles, int32_t* ints) {
  __shared__ double staged[kStagedDoubles];
  __shared__ core::PickKey slots[2][kMaxTeamWarps];
  __shared__ core::PafProblem handed[kTilesPerBlock];
  __shared__ int64_t handed_index[kTilesPerBlock];
  const auto tile = cg::tiled_partition<kTileWidth>(cg::this_thread_block());
  const int tile_index = static_cast<int>(threadIdx.x) / kTileWidth;
  const bool leader = tile.thread_rank() == 0;
  const int64_t round_stride = int64_t{gridDim.x} * kTilesPerBlock;
  for (int64_t round = int64_t{blockIdx.x} * kTilesPerBlock; round < p.num_problems; round += round_stride) {
    const int64_t s = round + tile_index;
    int64_t hands = -1;
    if (s < p.num_problems) {
      core::PafProblem q = core::paf_problem(p, s, doubles, ints);
      if (leader) core::rank_paf_problem(p, q);
      q.n_src = tile.shfl(q.n_src, 0);
      q.n_dst = tile.shfl(q.n_dst, 0);
      tile.sync();  // the ranks and line starts are read by every lane
      if (q.solver_cols() > core::kPafTileColumns) {
        if (leader) handed[tile_index] = q;
        hands = s;
      } else {
        TileTeam<kTileWidth> team(tile, staged + tile_index * kTileWidth * kTileWidth,
                                  static_cast<int32_t>(q.solver_rows()), static_cast<int32_t>(q.solver_cols()));
        core::solve_ranked_paf_problem_team(team, p, s, q, leader);
      }
    }
    if (leader) handed_index[tile_index] = hands;
    __syncthreads();  // the handed problems, and the tiles' last reads of the staging
    for (int t = 0; t < kTilesPerBlock; ++t) {
      const int64_t w = handed_index[t];
      if (w < 0) continue;
      const core::PafProblem q = handed[t];
      const int32_t nr = static_cast<int32_t>(q.solver_rows());
      const int32_t nc = static_cast<int32_t>(q.solver_cols());
      const bool in_staging = fits_staging(nr, nc);
      const core::Workspace ws =
          in_staging ? core::make_workspace(staged, reinterpret_cast<int32_t*>(staged + nr + 3 * nc), nr, nc)
                     : q.workspace();
      double* const line_buffer = in_staging ? staged + nr + 2 * nc : q.row_buffer();
      BlockTeam team{{ws, nr, nc}, slots, static_cast<int32_t>(threadIdx.x), static_cast<int32_t>(blockDim.x)};
      core::solve_ranked_paf_problem_by_lines(team, p, w, q, line_buffer, threadIdx.x == 0);
      __syncthreads();  // before the next problem's first writes (block team)
    }
    __syncthreads();  // every thread has read the hand-over before the next round writes it
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

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
// problem's line buffer and lane states.
constexpr int64_t kStagedDoubles = int64_t{kTilesPerBlock} * kTileWidth * kTileWidth;

// A tile ranks its problem and solves it if it has at most a tile's
// columns; a wider one goes to the block (solve_in_rounds) with its ranked
// PafProblem, and the block reads it line by line (core::PafTeamLines).
// Where both fit, the line buffer takes the end of the staging and the lane
// states its start; else both go to the problem's workspace slot.
template <typename T>
__global__ void solve_paf_problems_by_tiles(const core::PafParams<T> p, double* doubles, int32_t* ints) {
  __shared__ double staged[kStagedDoubles];
  __shared__ core::PickKey slots[2][kMaxTeamWarps];
  __shared__ core::PafProblem handed[kTilesPerBlock];
  __shared__ int64_t handed_index[kTilesPerBlock];
  const auto tile_step = [&](const cg::thread_block_tile<kTileWidth>& tile, int64_t s, core::PafProblem& hand) {
    const bool leader = tile.thread_rank() == 0;
    core::PafProblem q = core::paf_problem(p, s, doubles, ints);
    if (leader) core::rank_paf_problem(p, q);
    q.n_src = tile.shfl(q.n_src, 0);
    q.n_dst = tile.shfl(q.n_dst, 0);
    tile.sync();  // the ranks and line starts are read by every lane
    if (q.solver_cols() > core::kPafTileColumns) {
      if (leader) hand = q;
      return true;
    }
    const int64_t tile_index = threadIdx.x / kTileWidth;
    TileTeam<kTileWidth> team(tile, staged + tile_index * kTileWidth * kTileWidth,
                              static_cast<int32_t>(q.solver_rows()), static_cast<int32_t>(q.solver_cols()));
    core::solve_ranked_paf_problem_team(team, p, s, q, leader);
    return false;
  };
  const auto block_step = [&](int64_t s, const core::PafProblem& q) {
    const int32_t nr = static_cast<int32_t>(q.solver_rows());
    const int32_t nc = static_cast<int32_t>(q.solver_cols());
    const bool staged_line = lanes_fit(nr, nc, kStagedDoubles - nc);
    double* const line_buffer = staged_line ? staged + (kStagedDoubles - nc) : q.row_buffer();
    BlockTeam team = block_team_in(slots, staged, staged_line ? kStagedDoubles - nc : 0, nr, nc, q.doubles, q.ints);
    core::solve_ranked_paf_problem_by_lines(team, p, s, q, line_buffer, threadIdx.x == 0);
  };
  solve_in_rounds<kThreadsPerBlock, kTileWidth>(p.num_problems, handed, handed_index, tile_step, block_step);
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

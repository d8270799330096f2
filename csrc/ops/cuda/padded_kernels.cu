// CUDA kernels of the padded identity ops. By default each problem (a
// (sample, node) group, or a sample) is solved by a team (core/lsa_team.h,
// lsa_teams.cuh): a tile of 8, 16 or 32 lanes when the padded shapes give at
// most 32 columns in the solver's orientation; a tile of 32 when only the
// slots are more, which hands a group whose valid slots are more to its
// thread block; else a thread block. With
// IDMATCH_CUDA_THREAD_SOLVER=1, one thread per problem runs the whole
// per-problem function instead. Either way the problem works in its own slot
// of the workspace, with the steps of core/padded.h.
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "lsa_teams.cuh"
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

// A tile's first steps on group s: the lanes clear their share of the
// outputs, the first lane lists the valid slots into `listed`, and after the
// tile's barrier (the list is read by all lanes, and the pairs overwrite what
// other lanes cleared) every lane returns their count.
template <class Params, int Width>
__device__ int64_t clear_and_list_by_tile(const cg::thread_block_tile<Width>& tile, const Params& p, int64_t s,
                                          int64_t* listed) {
  const int32_t lane = static_cast<int32_t>(tile.thread_rank());
  core::clear_padded_outputs(p, s, lane, Width);
  const int64_t count = tile.shfl(lane == 0 ? core::list_padded_rows(p, s, listed) : int64_t{0}, 0);
  tile.sync();
  return count;
}

// Every problem has at most `rows` rows and Width columns or the reverse, so
// one width serves the whole batch.
template <class Params, int Width>
__global__ void solve_padded_problems_by_tiles(const Params p, int64_t num_problems, int64_t rows, int64_t* row_lists) {
  __shared__ double staged[kThreadsPerBlock / Width][Width * Width];
  const auto tile = cg::tiled_partition<Width>(cg::this_thread_block());
  const int64_t first = grid_first_index() / Width;
  const int64_t stride = grid_stride() / Width;
  for (int64_t s = first; s < num_problems; s += stride) {
    int64_t* const listed = row_lists + rows * s;
    const int64_t count = clear_and_list_by_tile<Params, Width>(tile, p, s, listed);
    int32_t nr = 0;
    int32_t nc = 0;
    // Never false: count <= rows, and rows and classes are at most Width.
    core::oriented_dims(count, p.classes, &nr, &nc);
    TileTeam<Width> team(tile, staged[threadIdx.x / Width], nr, nc);
    core::solve_listed_padded_problem_team(team, p, s, listed, count, tile.thread_rank() == 0);
  }
}

// Lanes of the tiles that hand their wide groups to the block.
constexpr int kHandingTileWidth = 32;

// Tiles of 32 lanes where the classes are at most 32 and the slots more: a
// tile solves a group of at most 32 valid slots, and hands a larger one
// (its count; the row list is in global memory) to its block
// (solve_in_rounds), whose lane states go to the tiles' staging where they
// fit, else to the group's workspace slot.
template <class Params>
__global__ void solve_padded_problems_by_tiles_and_block(const Params p, int64_t num_problems, int64_t rows,
                                                         int64_t units, double* doubles, int32_t* ints,
                                                         int64_t* row_lists) {
  constexpr int kWidth = kHandingTileWidth;
  constexpr int kTiles = kThreadsPerBlock / kWidth;
  constexpr int64_t kStagedDoubles = int64_t{kTiles} * kWidth * kWidth;
  __shared__ double staged[kStagedDoubles];
  __shared__ core::PickKey slots[2][kMaxTeamWarps];
  __shared__ int64_t handed[kTiles];
  __shared__ int64_t handed_index[kTiles];
  const auto tile_step = [&](const cg::thread_block_tile<kWidth>& tile, int64_t s, int64_t& hand) {
    const bool leader = tile.thread_rank() == 0;
    int64_t* const listed = row_lists + rows * s;
    const int64_t count = clear_and_list_by_tile<Params, kWidth>(tile, p, s, listed);
    int32_t nr = 0;
    int32_t nc = 0;
    if (!core::oriented_dims(count, p.classes, &nr, &nc)) {
      if (leader) p.status[s] = core::kInvalidProblem;
      return false;
    }
    if (nc > kWidth) {
      if (leader) hand = count;
      return true;
    }
    const int64_t tile_index = threadIdx.x / kWidth;
    TileTeam<kWidth> team(tile, staged + tile_index * kWidth * kWidth, nr, nc);
    core::solve_listed_padded_problem_team(team, p, s, listed, count, leader);
    return false;
  };
  const auto block_step = [&](int64_t s, int64_t count) {
    int32_t nr = 0;
    int32_t nc = 0;
    core::oriented_dims(count, p.classes, &nr, &nc);  // true: the tile checked it
    BlockTeam team = block_team_in(slots, staged, kStagedDoubles, nr, nc, doubles + core::kDoublesPerUnit * units * s,
                                   ints + core::kIntsPerUnit * units * s);
    core::solve_listed_padded_problem_team(team, p, s, row_lists + rows * s, count, threadIdx.x == 0);
  };
  solve_in_rounds<kThreadsPerBlock, kWidth>(num_problems, handed, handed_index, tile_step, block_step);
}

// A block per problem, in the same steps as the tiles.
template <class Params>
__global__ void solve_padded_problems_by_blocks(const Params p, int64_t num_problems, int64_t rows, int64_t units,
                                                double* doubles, int32_t* ints, int64_t* row_lists) {
  __shared__ BlockTeamShared shared;
  __shared__ int64_t listed_count;
  const int32_t thread = static_cast<int32_t>(threadIdx.x);
  for (int64_t s = blockIdx.x; s < num_problems; s += gridDim.x) {
    int64_t* const listed = row_lists + rows * s;
    core::clear_padded_outputs(p, s, thread, blockDim.x);
    if (thread == 0) listed_count = core::list_padded_rows(p, s, listed);
    __syncthreads();
    const int64_t count = listed_count;
    int32_t nr = 0;
    int32_t nc = 0;
    if (core::oriented_dims(count, p.classes, &nr, &nc)) {
      BlockTeam team = block_team(shared, nr, nc, doubles + core::kDoublesPerUnit * units * s,
                                  ints + core::kIntsPerUnit * units * s);
      core::solve_listed_padded_problem_team(team, p, s, listed, count, thread == 0);
    } else if (thread == 0) {
      p.status[s] = core::kInvalidProblem;
    }
    __syncthreads();  // before the next problem's count (and block_team)
  }
}

template <class Params, int Width>
cudaError_t launch_tiles(const Params& p, int64_t num_problems, int64_t rows, int64_t* row_lists, cudaStream_t stream) {
  const int blocks = blocks_for(num_problems * Width, kThreadsPerBlock);
  solve_padded_problems_by_tiles<Params, Width>
      <<<blocks, kThreadsPerBlock, 0, stream>>>(p, num_problems, rows, row_lists);
  return cudaGetLastError();
}

}  // namespace

template <class Params>
cudaError_t launch_padded_kernel(const Params& params, int64_t num_problems, int64_t rows, int64_t cols,
                                 double* doubles, int32_t* ints, int64_t* row_lists, bool thread_solver,
                                 cudaStream_t stream) {
  if (num_problems == 0) return cudaSuccess;
  const int64_t units = core::padded_workspace_units(rows, cols);
  if (!padded_kernel_uses_workspace(rows, cols, thread_solver)) {
    switch (core::tile_width(rows > cols ? rows : cols)) {
      case 8: return launch_tiles<Params, 8>(params, num_problems, rows, row_lists, stream);
      case 16: return launch_tiles<Params, 16>(params, num_problems, rows, row_lists, stream);
      default: return launch_tiles<Params, 32>(params, num_problems, rows, row_lists, stream);
    }
  }
  if (thread_solver) {
    solve_padded_problems<Params><<<blocks_for(num_problems, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
        params, num_problems, rows, units, doubles, ints, row_lists);
    return cudaGetLastError();
  }
  if (core::tile_width(cols) != 0) {
    solve_padded_problems_by_tiles_and_block<Params>
        <<<blocks_for(num_problems * kHandingTileWidth, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
            params, num_problems, rows, units, doubles, ints, row_lists);
    return cudaGetLastError();
  }
  const int blocks = static_cast<int>(num_problems < kMaxBlocks ? num_problems : kMaxBlocks);
  solve_padded_problems_by_blocks<Params>
      <<<blocks, kBlockTeamThreads, 0, stream>>>(params, num_problems, rows, units, doubles, ints, row_lists);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T)                                                                                        \
  template cudaError_t launch_padded_kernel<core::PaddedPeaksParams<T>>(                                              \
      const core::PaddedPeaksParams<T>&, int64_t, int64_t, int64_t, double*, int32_t*, int64_t*, bool, cudaStream_t); \
  template cudaError_t launch_padded_kernel<core::PaddedInstancesParams<T>>(const core::PaddedInstancesParams<T>&,    \
                                                                            int64_t, int64_t, int64_t, double*,       \
                                                                            int32_t*, int64_t*, bool, cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

// CUDA kernels of the ragged LSA op. By default each problem is solved by a
// team (core/lsa_team.h, lsa_teams.cuh): a tile of 8, 16 or 32 lanes for up to
// 32 columns in the solver's orientation, a thread block for more. With
// IDMATCH_CUDA_THREAD_SOLVER=1, one thread per problem runs the serial solver
// (core/ragged_lsa.h) instead. Either way each problem works in its own slot
// of a workspace shared by the batch. See docs/design.md, "GPU kernels".
#include "floating_types.cuh"
#include "grid_stride.cuh"
#include "lsa_teams.cuh"
#include "ragged_lsa_kernel.h"

namespace idmatch {
namespace ops {
namespace {

// One thread per problem, each with a long serial solve: small blocks spread
// the problems over more multiprocessors.
constexpr int kThreadsPerBlock = 128;

// The block kernel's grid is capped, as most of its blocks only skip the
// tiles' problems.
constexpr int64_t kMaxTeamBlocks = 4096;

// A single bad pair of offsets can make the other problems overlap, so the
// whole batch is refused when any pair is bad (see core/ragged_lsa.h).
// Without the flag (offsets the glue built itself) nothing is refused.
__device__ inline bool batch_refused(const int32_t* offsets_bad) { return offsets_bad != nullptr && *offsets_bad != 0; }

__global__ void find_bad_offsets(const int64_t* offsets, int64_t num_problems, int64_t num_rows, int32_t* offsets_bad) {
  for (int64_t s = grid_first_index(); s < num_problems; s += grid_stride()) {
    if (!core::offsets_pair_valid(offsets, s, num_rows)) *offsets_bad = 1;
  }
}

template <typename T>
__global__ void solve_problems(const core::RaggedLsaParams<T> p, double* doubles, int32_t* ints,
                               const int32_t* offsets_bad) {
  const bool refuse = batch_refused(offsets_bad);
  for (int64_t s = grid_first_index(); s < p.num_problems; s += grid_stride()) {
    core::solve_shared_workspace_problem(p, s, doubles, ints, refuse);
  }
}

// The tiles of one launch, in parts: its first blocks[0] blocks are tiles of
// 8 lanes, the next blocks[1] tiles of 16, the last blocks[2] tiles of 32; a
// width that the batch's bounds rule out has none. One launch instead of
// one per width: for a small batch, launches are most of the time.
struct TileParts {
  int blocks[3];
};

// The tiles of Width lanes: block part_block of the part's part_blocks runs
// the grid-stride loop a kernel of its own would. Each tile takes the
// problems whose width is its own and skips the others. In a refused batch,
// the part that writes_refusals writes every problem's refusal, and the
// others do nothing. staging: kThreadsPerBlock * Width doubles.
template <typename T, int Width>
__device__ void solve_problems_by_tiles(const core::RaggedLsaParams<T>& p, double* staging, int64_t part_block,
                                        int64_t part_blocks, bool refuse, bool writes_refusals) {
  if (refuse && !writes_refusals) return;
  const auto tile = cg::tiled_partition<Width>(cg::this_thread_block());
  const int64_t first = (part_block * blockDim.x + threadIdx.x) / Width;
  const int64_t stride = part_blocks * blockDim.x / Width;
  double* const staged = staging + (threadIdx.x / Width) * Width * Width;
  for (int64_t s = first; s < p.num_problems; s += stride) {
    if (refuse) {
      if (tile.thread_rank() == 0) p.status[s] = core::kInvalidProblem;
      continue;
    }
    int32_t nr = 0;
    int32_t nc = 0;
    const bool solvable = core::oriented_dims(p.offsets[s + 1] - p.offsets[s], p.num_cols, &nr, &nc);
    if (!solvable || core::tile_width(nc) != Width) continue;  // the block kernel refuses the unsolvable
    TileTeam<Width> team(tile, staged, nr, nc);
    core::solve_ragged_problem_team(team, p, s, tile.thread_rank() == 0);
  }
}

// Dynamic shared memory: kThreadsPerBlock times the widest part's width
// doubles, which every part's staging fits in.
template <typename T>
__global__ void solve_problems_by_tile_parts(const core::RaggedLsaParams<T> p, const int32_t* offsets_bad,
                                             const TileParts parts) {
  extern __shared__ double staging[];
  const bool refuse = batch_refused(offsets_bad);
  int64_t block = blockIdx.x;
  if (block < parts.blocks[0]) {
    solve_problems_by_tiles<T, 8>(p, staging, block, parts.blocks[0], refuse, true);
    return;
  }
  block -= parts.blocks[0];
  if (block < parts.blocks[1]) {
    solve_problems_by_tiles<T, 16>(p, staging, block, parts.blocks[1], refuse, parts.blocks[0] == 0);
    return;
  }
  block -= parts.blocks[1];
  solve_problems_by_tiles<T, 32>(p, staging, block, parts.blocks[2], refuse,
                                 parts.blocks[0] == 0 && parts.blocks[1] == 0);
}

// Each block takes the problems wider than a tile (and those too large to
// solve, which it refuses); refusals of a whole batch as for the tiles.
template <typename T>
__global__ void solve_problems_by_blocks(const core::RaggedLsaParams<T> p, double* doubles, int32_t* ints,
                                         const int32_t* offsets_bad, bool writes_refusals) {
  __shared__ BlockTeamShared shared;
  const bool refuse = batch_refused(offsets_bad);
  if (refuse && !writes_refusals) return;
  const int32_t thread = static_cast<int32_t>(threadIdx.x);
  for (int64_t s = blockIdx.x; s < p.num_problems; s += gridDim.x) {
    int32_t nr = 0;
    int32_t nc = 0;
    if (refuse || !core::oriented_dims(p.offsets[s + 1] - p.offsets[s], p.num_cols, &nr, &nc)) {
      if (thread == 0) p.status[s] = core::kInvalidProblem;
      continue;
    }
    if (core::tile_width(nc) != 0) continue;
    const int64_t slot = core::workspace_slot(p.offsets, s, p.num_cols);
    BlockTeam team =
        block_team(shared, nr, nc, doubles + core::kDoublesPerUnit * slot, ints + core::kIntsPerUnit * slot);
    core::solve_ragged_problem_team(team, p, s, thread == 0);
    __syncthreads();  // before the next problem (block_team)
  }
}

// Launches the tile parts and the block kernel only where the batch can
// have problems for them, as far as the host knows without reading the
// offsets: a problem has at least num_cols and at most
// max(num_rows, num_cols) columns in the solver's orientation.
template <typename T>
cudaError_t launch_teams(const core::RaggedLsaParams<T>& p, double* doubles, int32_t* ints, const int32_t* offsets_bad,
                         cudaStream_t stream) {
  const int32_t narrowest = core::tile_width(p.num_cols);                                      // 0: all are blocks'
  const int32_t widest = core::tile_width(p.num_rows > p.num_cols ? p.num_rows : p.num_cols);  // 0: some may be
  constexpr int32_t kWidths[3] = {8, 16, 32};
  TileParts parts{{0, 0, 0}};
  int32_t widest_part = 0;
  for (int k = 0; k < 3; ++k) {
    const int32_t width = kWidths[k];
    if (narrowest == 0 || width < narrowest || (widest != 0 && width > widest)) continue;
    // Each part within a third of the grid's cap, so that the sum is too.
    const int part = blocks_for(p.num_problems * width, kThreadsPerBlock);
    parts.blocks[k] = part < kMaxBlocks / 3 ? part : static_cast<int>(kMaxBlocks / 3);
    widest_part = width;
  }
  const int tile_blocks = parts.blocks[0] + parts.blocks[1] + parts.blocks[2];
  if (tile_blocks != 0) {
    const size_t staging = sizeof(double) * kThreadsPerBlock * widest_part;
    solve_problems_by_tile_parts<T><<<tile_blocks, kThreadsPerBlock, staging, stream>>>(p, offsets_bad, parts);
    const cudaError_t error = cudaGetLastError();
    if (error != cudaSuccess) return error;
  }
  if (widest != 0) return cudaSuccess;
  const int blocks = static_cast<int>(p.num_problems < kMaxTeamBlocks ? p.num_problems : kMaxTeamBlocks);
  solve_problems_by_blocks<T>
      <<<blocks, kBlockTeamThreads, 0, stream>>>(p, doubles, ints, offsets_bad, /*writes_refusals=*/tile_blocks == 0);
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t launch_ragged_lsa_kernel(const core::RaggedLsaParams<T>& params, double* doubles, int32_t* ints,
                                     int32_t* offsets_bad, bool thread_solver, cudaStream_t stream) {
  if (params.num_problems == 0) return cudaSuccess;
  const int blocks = blocks_for(params.num_problems, kThreadsPerBlock);
  if (offsets_bad != nullptr) {
    cudaError_t error = cudaMemsetAsync(offsets_bad, 0, sizeof(int32_t), stream);
    if (error != cudaSuccess) return error;
    find_bad_offsets<<<blocks, kThreadsPerBlock, 0, stream>>>(params.offsets, params.num_problems, params.num_rows,
                                                              offsets_bad);
    error = cudaGetLastError();
    if (error != cudaSuccess) return error;
  }
  if (!thread_solver) return launch_teams(params, doubles, ints, offsets_bad, stream);
  solve_problems<T><<<blocks, kThreadsPerBlock, 0, stream>>>(params, doubles, ints, offsets_bad);
  return cudaGetLastError();
}

#define IDMATCH_INSTANTIATE(T)                                                                                         \
  template cudaError_t launch_ragged_lsa_kernel<T>(const core::RaggedLsaParams<T>&, double*, int32_t*, int32_t*, bool, \
                                                   cudaStream_t);
IDMATCH_FOR_EACH_FLOATING_TYPE(IDMATCH_INSTANTIATE)
#undef IDMATCH_INSTANTIATE

}  // namespace ops
}  // namespace idmatch

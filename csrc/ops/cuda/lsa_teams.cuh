// The GPU teams of the cooperative solver (core/lsa_team.h): a tile of 8, 16
// or 32 lanes of a warp whose lanes keep their column and row in registers
// and talk by shuffles, and a thread block whose threads share the states
// (in shared memory, or in the problem's workspace when too many) and meet
// at one barrier per scan step (and two more where the cost is read a line
// at a time, core::PafTeamLines).
#pragma once

#include <type_traits>

#include <cooperative_groups.h>

#include "../../core/lsa_team.h"

namespace idmatch {
namespace ops {

namespace cg = cooperative_groups;

template <class Group>
__device__ inline core::PickKey shuffle_key(const Group& group, const core::PickKey& key, int lane_mask) {
  return {group.shfl_xor(key.cost, lane_mask), group.shfl_xor(key.tie, lane_mask),
          group.shfl_xor(key.column, lane_mask), group.shfl_xor(key.row, lane_mask)};
}

// The least key of a group of lanes, in every lane: keys differ (see
// core/lsa_team.h), so the butterfly's order does not matter.
template <class Group>
__device__ inline core::PickKey min_key(const Group& group, core::PickKey key) {
  for (int lane_mask = static_cast<int>(group.size()) / 2; lane_mask > 0; lane_mask /= 2) {
    const core::PickKey other = shuffle_key(group, key, lane_mask);
    if (core::precedes(other, key)) key = other;
  }
  return key;
}

// Whether a cost accessor stages whole lines (Cost::kFillsLines, with
// fill_line(i, out)) rather than cells.
template <class Cost, class = void>
struct fills_lines : std::false_type {};
template <class Cost>
struct fills_lines<Cost, std::void_t<decltype(Cost::kFillsLines)>> : std::integral_constant<bool, Cost::kFillsLines> {};

// Lanes [0, nc) of a tile of Width lanes hold the problem's columns, lanes
// [0, nr) its rows; the other lanes take part in the shuffles only. The
// problem's cost, in the solver's orientation and in float64, is staged in
// shared memory first (Width x Width doubles): a scan step then reads shared
// memory instead of waiting on global memory. Each lane copies its own
// column, and reads only what it wrote, or, for a cost that fills lines,
// its own row, with the tile's barrier between the filling and the reads.
template <int Width>
struct TileTeam {
  cg::thread_block_tile<Width> tile;
  double* staged;  // Width * Width, shared memory
  int32_t nr;
  int32_t nc;
  int32_t lane;
  core::ColumnState col;
  core::RowState rw;

  __device__ TileTeam(const cg::thread_block_tile<Width>& t, double* staging, int32_t rows, int32_t cols)
      : tile(t), staged(staging), nr(rows), nc(cols), lane(static_cast<int32_t>(t.thread_rank())) {}

  // A cost that fills lines (PafCells) is staged line by line, lane i
  // filling row i, and read by columns: the tile meets before (the last
  // reads of what was staged before) and after.
  template <class Cost>
  __device__ core::DenseRowMajor stage(const Cost& cost, int32_t rows, int32_t cols) const {
    if constexpr (fills_lines<Cost>::value) {
      tile.sync();
      if (lane < rows) cost.fill_line(lane, staged + lane * Width);
      tile.sync();
    } else if (lane < cols) {
      for (int32_t i = 0; i < rows; ++i) staged[i * Width + lane] = cost.row(i)(lane);
    }
    return {staged, Width};
  }

  __device__ void init() {
    col = core::fresh_column();
    rw = core::fresh_row();
  }
  template <class F>
  __device__ void for_columns(F&& f) {
    if (lane < nc) f(lane, col);
  }
  template <class F>
  __device__ bool any_column(F&& f) {
    const bool found = lane < nc && f(lane, col);
    return tile.any(found);
  }
  template <class F>
  __device__ core::PickKey min_column(F&& f) {
    return min_key(tile, lane < nc ? f(lane, static_cast<const core::ColumnState&>(col)) : core::no_pick());
  }
  __device__ core::ColumnState shuffle_column(int32_t from) const {
    return {tile.shfl(col.v, from), tile.shfl(col.spc, from), tile.shfl(col.path, from), tile.shfl(col.row4col, from),
            tile.shfl(col.pos, from)};
  }
  __device__ core::ColumnState column(int32_t j) const { return shuffle_column(j); }
  __device__ core::RowState row(int32_t i) const { return {tile.shfl(rw.u, i), tile.shfl(rw.col4row, i)}; }
  template <class F>
  __device__ void for_rows(F&& f) {
    const bool has_row = lane < nr;
    const core::ColumnState assigned = shuffle_column(has_row && rw.col4row >= 0 ? rw.col4row : lane);
    if (has_row) f(lane, rw, assigned);
  }
  template <class F>
  __device__ void at_column(int32_t j, F&& f) {
    if (lane == j) f(col);
  }
  template <class F>
  __device__ void at_row(int32_t i, F&& f) {
    if (lane == i) f(rw);
  }
  __device__ void sync() const {}
};

// The most warps a block team has.
constexpr int kMaxTeamWarps = 32;

// Threads of the block teams' launches. Problems over 32 columns are few and
// large (the identity ops' groups rarely exceed the class count), so a block
// per problem with a few columns per thread.
constexpr int kBlockTeamThreads = 256;

// The threads of a block, thread t holding columns and rows t, t + T, ...
// of the lane states in the workspace (64-bit loop indices: nc may come
// within T of 2^31). A scan step's pick is one barrier: each warp's least
// key goes to shared memory, and every warp reduces those. The slots
// alternate between two sets, so that the next pick's writes never meet this
// pick's reads (a barrier always lies between).
struct BlockTeam {
  core::WorkspaceLanes lanes;
  core::PickKey (*slots)[kMaxTeamWarps];  // [2][kMaxTeamWarps] in shared memory
  int32_t thread;
  int32_t threads;
  int parity = 0;

  template <class Cost>
  __device__ const Cost& stage(const Cost& cost, int32_t, int32_t) const {
    return cost;
  }

  __device__ void init() const {
    for (int64_t j = thread; j < lanes.nc; j += threads)
      lanes.store_column(static_cast<int32_t>(j), core::fresh_column());
    for (int64_t i = thread; i < lanes.nr; i += threads) lanes.store_row(static_cast<int32_t>(i), core::fresh_row());
  }
  template <class F>
  __device__ void for_columns(F&& f) const {
    for (int64_t k = thread; k < lanes.nc; k += threads) {
      const int32_t j = static_cast<int32_t>(k);
      core::ColumnState c = lanes.load_column(j);
      f(j, c);
      lanes.store_column(j, c);
    }
  }
  template <class F>
  __device__ bool any_column(F&& f) const {
    bool found = false;
    for_columns([&](int32_t j, core::ColumnState& c) { found |= f(j, c); });
    return __syncthreads_or(found) != 0;
  }
  template <class F>
  __device__ core::PickKey min_column(F&& f) {
    core::PickKey best = core::no_pick();
    for (int64_t k = thread; k < lanes.nc; k += threads) {
      const int32_t j = static_cast<int32_t>(k);
      const core::PickKey key = f(j, lanes.load_column(j));
      if (core::precedes(key, best)) best = key;
    }
    const cg::thread_block_tile<32> warp = cg::tiled_partition<32>(cg::this_thread_block());
    best = min_key(warp, best);
    const int32_t warps = threads / 32;
    if (warp.thread_rank() == 0) slots[parity][thread / 32] = best;
    __syncthreads();
    best = min_key(
        warp, static_cast<int32_t>(warp.thread_rank()) < warps ? slots[parity][warp.thread_rank()] : core::no_pick());
    parity ^= 1;
    return best;
  }
  __device__ core::ColumnState column(int32_t j) const { return lanes.load_column(j); }
  __device__ core::RowState row(int32_t i) const { return lanes.load_row(i); }
  // f(j) for each column this thread holds, as for_columns, without its state.
  template <class F>
  __device__ void for_column_indices(F&& f) const {
    for (int64_t k = thread; k < lanes.nc; k += threads) f(static_cast<int32_t>(k));
  }
  // f(k) for this thread's share of [0, n).
  template <class F>
  __device__ void for_share(int64_t n, F&& f) const {
    for (int64_t k = thread; k < n; k += threads) f(k);
  }
  template <class F>
  __device__ void for_rows(F&& f) const {
    for (int64_t k = thread; k < lanes.nr; k += threads) {
      const int32_t i = static_cast<int32_t>(k);
      core::RowState r = lanes.load_row(i);
      f(i, r, lanes.assigned_column(r));
      lanes.store_row(i, r);
    }
  }
  template <class F>
  __device__ void at_column(int32_t j, F&& f) const {
    if (j % threads != thread) return;
    core::ColumnState c = lanes.load_column(j);
    f(c);
    lanes.store_column(j, c);
  }
  template <class F>
  __device__ void at_row(int32_t i, F&& f) const {
    if (i % threads != thread) return;
    core::RowState r = lanes.load_row(i);
    f(r);
    lanes.store_row(i, r);
  }
  __device__ void sync() const { __syncthreads(); }
};

// The problems of a kernel of Threads threads per block whose tiles of Width
// lanes hand the problems too wide for them to their whole block; handed and
// handed_index have Threads / Width entries. The block's tiles take problems
// in rounds, one each; tile_step(tile, s, handed) solves problem s and returns
// false, or leaves what the block needs in `handed` (written by any lane
// before returning; the tile's slot of shared memory) and returns true, the
// same in every lane of the tile. After the round's barrier the block runs
// block_step(s, handed) for each handed problem, all its threads together.
// The rounds depend on the block alone, so every thread meets every
// barrier; between the round's first barrier and its last the tiles' shared
// memory is free for the block.
template <int Threads, int Width, class Handed, class TileStep, class BlockStep>
__device__ void solve_in_rounds(int64_t num_problems, Handed* handed, int64_t* handed_index, TileStep&& tile_step,
                                BlockStep&& block_step) {
  static_assert(Threads % Width == 0, "a block of whole tiles");
  constexpr int kTiles = Threads / Width;
  const auto tile = cg::tiled_partition<Width>(cg::this_thread_block());
  const int tile_index = static_cast<int>(threadIdx.x) / Width;
  const int64_t round_stride = int64_t{gridDim.x} * kTiles;
  for (int64_t round = int64_t{blockIdx.x} * kTiles; round < num_problems; round += round_stride) {
    const int64_t s = round + tile_index;
    const bool hands = s < num_problems && tile_step(tile, s, handed[tile_index]);
    if (tile.thread_rank() == 0) handed_index[tile_index] = hands ? s : -1;
    __syncthreads();  // the hand-over, and the tiles' last reads of their shared memory
    for (int t = 0; t < kTiles; ++t) {
      const int64_t w = handed_index[t];
      if (w < 0) continue;
      block_step(w, handed[t]);
      __syncthreads();  // before the next problem's first writes (block team)
    }
    __syncthreads();  // every thread has read the hand-over before the next round writes it
  }
}

// Whether the lane states of a problem of nr x nc (nr + 2 nc doubles, then
// nr + 3 nc int32s) fit in staging_doubles doubles.
__device__ inline bool lanes_fit(int32_t nr, int32_t nc, int64_t staging_doubles) {
  const int64_t lane_doubles = int64_t{nr} + 2 * int64_t{nc}, lane_ints = int64_t{nr} + 3 * int64_t{nc};
  return lane_doubles + (lane_ints + 1) / 2 <= staging_doubles;
}

// A block team for a problem of nr x nc whose lane states go to `staging`
// (shared memory of staging_doubles doubles) where they fit, else to the
// problem's workspace slot (slot_doubles, slot_ints).
__device__ inline BlockTeam block_team_in(core::PickKey (*slots)[kMaxTeamWarps], double* staging,
                                          int64_t staging_doubles, int32_t nr, int32_t nc, double* slot_doubles,
                                          int32_t* slot_ints) {
  const core::Workspace ws =
      lanes_fit(nr, nc, staging_doubles)
          ? core::make_workspace(staging, reinterpret_cast<int32_t*>(staging + int64_t{nr} + 2 * int64_t{nc}), nr, nc)
          : core::make_workspace(slot_doubles, slot_ints, nr, nc);
  return {{ws, nr, nc}, slots, static_cast<int32_t>(threadIdx.x), static_cast<int32_t>(blockDim.x)};
}

// Problems of up to this many columns keep a block team's lane states in
// shared memory (40 KiB), larger ones in their workspace slot.
constexpr int32_t kSharedLanes = 1024;

// A block team's shared memory: the pick's slots, and the lane states of a
// problem of up to kSharedLanes columns (nr + 2 nc doubles and nr + 3 nc
// int32s, nr <= nc).
struct BlockTeamShared {
  core::PickKey slots[2][kMaxTeamWarps];
  double doubles[core::kDoublesPerUnit * kSharedLanes + kSharedLanes];
  int32_t ints[core::kIntsPerUnit * kSharedLanes + kSharedLanes];
};

// The team of the calling block for a problem of nr x nc in the solver's
// orientation, whose workspace slot (used beyond kSharedLanes columns) is
// slot_doubles and slot_ints. A block solving problems one after another
// must pass a barrier between two of them: the next problem's first writes
// must not meet this one's last reads.
__device__ inline BlockTeam block_team(BlockTeamShared& shared, int32_t nr, int32_t nc, double* slot_doubles,
                                       int32_t* slot_ints) {
  const core::Workspace ws = nc <= kSharedLanes ? core::make_workspace(shared.doubles, shared.ints, nr, nc)
                                                : core::make_workspace(slot_doubles, slot_ints, nr, nc);
  return {{ws, nr, nc}, shared.slots, static_cast<int32_t>(threadIdx.x), static_cast<int32_t>(blockDim.x)};
}

}  // namespace ops
}  // namespace idmatch

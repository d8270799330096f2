// The AVX-512 small-problem solver (see small_lsa.h), built and run as
// avx512.h says.
#include "small_lsa.h"

#include "../../core/lsa_core.h"
#include "avx512.h"

#ifdef IDMATCH_HAVE_AVX512_KERNELS
#include <immintrin.h>
#endif

namespace idmatch {
namespace ops {

#ifndef IDMATCH_HAVE_AVX512_KERNELS

// Never called: avx512_kernels_enabled() is false on these targets.
void solve_small_problems(SmallProblem*, int) {}
bool load_small_rows(const float*, int64_t, bool, SmallProblem&) { return false; }
bool load_small_rows(const double*, int64_t, bool, SmallProblem&) { return false; }
bool load_small_problem(const float*, const int64_t*, bool, bool, SmallProblem&) { return false; }
bool load_small_problem(const double*, const int64_t*, bool, bool, SmallProblem&) { return false; }
bool small_problem_valid(const SmallProblem&) { return false; }
uint32_t best_matched_rows(const SmallProblem&, bool, bool) { return 0; }

#else

namespace {

#define IDMATCH_AVX512 IDMATCH_AVX512_TARGET
#define IDMATCH_AVX512_INLINE IDMATCH_AVX512 __attribute__((always_inline)) inline

// Eight problems at once, one per lane: lane l of every vector belongs to
// the problem in lane l, and the columns are separate vectors, so one scan of
// every lane's problem is a pass over the columns with vertical operations
// only. Each lane is at its own point of scipy's algorithm; a lane whose
// problem is solved takes the batch's next one. Branches depend on all eight
// lanes at once (does any search end, does any problem end): the tie rule
// and the augmentation are vector operations too, where a single problem's
// search mispredicts a branch about every other scan.
constexpr int kLanes = 8;

using Ints = __m256i;     // 8 int32 lanes
using Doubles = __m512d;  // 8 float64 lanes

IDMATCH_AVX512_INLINE Ints splat(int32_t x) { return _mm256_set1_epi32(x); }
IDMATCH_AVX512_INLINE Ints load_ints(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const Ints*>(p)); }
IDMATCH_AVX512_INLINE void store_ints(int32_t* p, Ints x) { _mm256_store_si256(reinterpret_cast<Ints*>(p), x); }

// The transpose of eight registers: out[k] lane l is r[l] lane k.
IDMATCH_AVX512_INLINE void transpose_registers(const Doubles* r, Doubles* out) {
  Doubles a[kLanes], b[kLanes];
  for (int k = 0; k < 4; ++k) {
    a[2 * k] = _mm512_unpacklo_pd(r[2 * k], r[2 * k + 1]);
    a[2 * k + 1] = _mm512_unpackhi_pd(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 2; ++k) {
    for (int h = 0; h < 2; ++h) {
      b[4 * k + h] = _mm512_shuffle_f64x2(a[4 * k + h], a[4 * k + 2 + h], 0x88);
      b[4 * k + 2 + h] = _mm512_shuffle_f64x2(a[4 * k + h], a[4 * k + 2 + h], 0xdd);
    }
  }
  for (int k = 0; k < 4; ++k) {
    out[k] = _mm512_shuffle_f64x2(b[k], b[4 + k], 0x88);
    out[4 + k] = _mm512_shuffle_f64x2(b[k], b[4 + k], 0xdd);
  }
}

// Columns j..j+7 of eight rows, one row per lane: out[k] lane l is
// rows[l][j + k].
IDMATCH_AVX512_INLINE void transpose(const double* const* rows, int j, Doubles* out) {
  Doubles r[kLanes];
  for (int l = 0; l < kLanes; ++l) r[l] = _mm512_load_pd(rows[l] + j);
  transpose_registers(r, out);
}

// The same for columns j..j+3 only, with 256-bit operations, for a block of
// at most four columns.
IDMATCH_AVX512_INLINE void transpose4(const double* const* rows, int j, Doubles* out) {
  __m256d a[kLanes];
  for (int k = 0; k < 4; ++k) {
    const __m256d r0 = _mm256_load_pd(rows[2 * k] + j);
    const __m256d r1 = _mm256_load_pd(rows[2 * k + 1] + j);
    a[2 * k] = _mm256_unpacklo_pd(r0, r1);      // columns 0 and 2 of rows 2k, 2k+1
    a[2 * k + 1] = _mm256_unpackhi_pd(r0, r1);  // columns 1 and 3
  }
  // The permute's selector must be a constant at every optimization level:
  // 0x20 takes the low 128-bit halves (columns 0 and 1), 0x31 the high ones.
  for (int c = 0; c < 2; ++c) {
    out[c] = _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_permute2f128_pd(a[c], a[2 + c], 0x20)),
                                _mm256_permute2f128_pd(a[4 + c], a[6 + c], 0x20), 1);
    out[2 + c] = _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_permute2f128_pd(a[c], a[2 + c], 0x31)),
                                    _mm256_permute2f128_pd(a[4 + c], a[6 + c], 0x31), 1);
  }
}

struct alignas(64) LaneSolver {
  // Every array is [column][lane]. The int32 ones come first: at the
  // struct's start their offsets fit AVX-512's compressed (scaled 8-bit)
  // displacement, which shortens the scan's instructions.
  int32_t row4col[kSmallMaxDim][kLanes];
  // Each column's place in scipy's scan order of the search (`remaining`),
  // which decides ties.
  int32_t position[kSmallMaxDim][kLanes];
  // Each column's predecessor on the shortest path tree, recorded when its
  // path cost is set: the row (bits 0-3 of pred) and the columns of the
  // path from `cur` to that row (a bit each, from bit 4), that row's u and
  // the path cost at which it was reached (spc[col4row[row]], 0 for `cur`).
  // So the augmenting path is known as a set at the sink, and augmenting is
  // one pass over the columns with no walk: each column on the path takes
  // its predecessor row, whose new u is scipy's u + (min_val -
  // spc[col4row]) (for `cur`, 0 + (min_val - 0), which is scipy's 0 +
  // min_val).
  int32_t pred[kSmallMaxDim][kLanes];
  double spc[kSmallMaxDim][kLanes];  // shortest path cost of every column
  double v[kSmallMaxDim][kLanes];    // column duals
  // The dual u of the row assigned to each column: scipy's u[i] lives at
  // col4row[i], so the row scanned next, reached through a column, brings
  // its u along without an indexed load, and the dual update over the tree
  // is a pass over its columns: u[i] += min_val - spc[col4row[i]].
  double u_of_col[kSmallMaxDim][kLanes];
  double path_u[kSmallMaxDim][kLanes];
  double path_reached[kSmallMaxDim][kLanes];

  int32_t problem[kLanes];  // index in the batch of the lane's problem

  SmallProblem* problems;
  int32_t count;
  int32_t next;

  IDMATCH_AVX512 void run();
};

// The state of each lane's search, a lane each, in registers.
struct Lanes {
  Doubles min_val;  // path cost of the row scanned next
  Doubles scan_u;   // its u
  Ints scan_row;
  Ints scan_path;  // the columns of its path from `cur`, a bit each
  Ints cur;        // row whose search runs
  Ints num_rows;
  Ints num_cols;
  Ints offset;     // the problem's first cost, in doubles from the batch's
  Ints all_cols;   // a bit per column of the problem
  Ints remaining;  // columns not yet on the row's tree
  Ints num_taken;  // columns taken by the row's search
  // The last step's removal from the scan order: the column at place
  // moved_from moves to place moved_to (done by the next scan).
  Ints moved_from;
  Ints moved_to;
};

IDMATCH_AVX512_INLINE void set_lane(Ints& x, int l, int32_t value) {
  x = _mm256_mask_mov_epi32(x, static_cast<__mmask8>(1u << l), splat(value));
}

// Gives lane l the batch's next problem, or leaves it idle: no columns, so
// none is ever open (its scans read row 0 of the batch's first problem and
// change nothing that is used).
IDMATCH_AVX512_INLINE void start_problem(LaneSolver& s, Lanes& lanes, int l) {
  const auto lane = static_cast<__mmask8>(1u << l);
  lanes.min_val = _mm512_mask_mov_pd(lanes.min_val, lane, _mm512_setzero_pd());
  lanes.scan_u = _mm512_mask_mov_pd(lanes.scan_u, lane, _mm512_setzero_pd());
  set_lane(lanes.scan_row, l, 0);
  set_lane(lanes.scan_path, l, 0);
  set_lane(lanes.cur, l, 0);
  set_lane(lanes.num_taken, l, 0);
  if (s.next == s.count) {
    set_lane(lanes.offset, l, 0);
    set_lane(lanes.all_cols, l, 0);
    set_lane(lanes.remaining, l, 0);
    return;
  }
  const int32_t k = s.next++;
  const SmallProblem& p = s.problems[k];
  s.problem[l] = k;
  set_lane(lanes.offset, l, static_cast<int32_t>(k * (sizeof(SmallProblem) / sizeof(double))));
  set_lane(lanes.num_rows, l, p.nr);
  set_lane(lanes.num_cols, l, p.nc);
  set_lane(lanes.all_cols, l, static_cast<int32_t>((1u << p.nc) - 1u));
  set_lane(lanes.remaining, l, static_cast<int32_t>((1u << p.nc) - 1u));
  // Row 0's search: its first scan is a scan from row 0 at path cost 0 with
  // u = 0, scipy's ((0 + c) - 0) - v[j]. Columns past nc are never open.
  for (int j = 0; j < p.nc; ++j) {
    s.v[j][l] = s.u_of_col[j][l] = 0.0;
    s.row4col[j][l] = -1;
  }
}

// Reports lane l's problem and starts the batch's next one there.
IDMATCH_AVX512_INLINE void change_problem(LaneSolver& s, Lanes& lanes, int l, int32_t status) {
  SmallProblem& p = s.problems[s.problem[l]];
  p.status = status;
  for (int j = 0; j < p.nr; ++j) p.col4row[j] = -1;
  for (int j = 0; j < p.nc; ++j) {
    const int32_t i = s.row4col[j][l];
    p.row4col[j] = i;
    if (i >= 0) p.col4row[i] = j;
  }
  start_problem(s, lanes, l);
}

// Starts the batch: its first problems, a lane each. Returns the widest
// problem's column count, the columns that every scan visits.
IDMATCH_AVX512_INLINE int32_t start_batch(LaneSolver& s, Lanes& lanes) {
  s.next = 0;
  int32_t widest = 0;
  for (int32_t k = 0; k < s.count; ++k) widest = s.problems[k].nc > widest ? s.problems[k].nc : widest;
  // Columns past a problem's nc are read but never open, and hold whatever
  // an earlier problem left there; the batch's first problems find zeros.
  for (int j = 0; j < kSmallMaxDim; ++j) {
    for (int l = 0; l < kLanes; ++l) {
      s.spc[j][l] = s.v[j][l] = s.u_of_col[j][l] = s.path_u[j][l] = s.path_reached[j][l] = 0.0;
      s.row4col[j][l] = s.pred[j][l] = s.position[j][l] = 0;
    }
  }
  lanes.min_val = lanes.scan_u = _mm512_setzero_pd();
  lanes.scan_row = lanes.scan_path = lanes.cur = lanes.num_rows = lanes.num_cols = lanes.offset = lanes.all_cols =
      lanes.remaining = lanes.num_taken = _mm256_setzero_si256();
  for (int l = 0; l < kLanes; ++l) start_problem(s, lanes, l);
  lanes.moved_from = splat(-1);
  lanes.moved_to = _mm256_setzero_si256();
  return widest;
}

// Scan: relaxes every remaining column of each lane from its scanned row
// (costs taken from `costs`, the batch's first problem), and returns the
// lowest path cost of the remaining columns. A lane's first scan of a
// search starts every column at +inf.
IDMATCH_AVX512_INLINE Doubles scan(LaneSolver& s, const Lanes& lanes, const double* costs, int32_t width) {
  // The scanned rows' costs, a vector per column (idle lanes read row 0
  // of the batch's first problem and use none of it).
  alignas(32) int32_t row_offset[kLanes];
  store_ints(row_offset, _mm256_add_epi32(lanes.offset, _mm256_slli_epi32(lanes.scan_row, 4)));
  const double* rows[kLanes];
  for (int l = 0; l < kLanes; ++l) rows[l] = costs + row_offset[l];
  const Doubles all_inf = _mm512_set1_pd(core::positive_infinity());
  const __mmask8 first_scan = _mm256_cmpeq_epi32_mask(lanes.num_taken, _mm256_setzero_si256());
  const Ints scan_pred = _mm256_or_si256(lanes.scan_row, _mm256_slli_epi32(lanes.scan_path, 4));
  const Ints last_col_v = _mm256_sub_epi32(lanes.num_cols, splat(1));
  Doubles low_even = all_inf, low_odd = all_inf;
  // Both blocks of eight columns unrolled, so that each column's index is a
  // constant: its bit and its first place fold into the instructions.
#pragma GCC unroll 2
  for (int32_t h = 0; 8 * h < width; ++h) {
    Doubles cost[8];
    if (width - 8 * h <= 4) transpose4(rows, 8 * h, cost);
    else transpose(rows, 8 * h, cost);
    for (int32_t k = 0; k < 8; ++k) {
      const int32_t j = 8 * h + k;
      if (j == width) break;
      const __mmask8 open = _mm256_test_epi32_mask(lanes.remaining, splat(1 << j));
      // ((min_val + c) - u[i]) - v[j], as scipy.
      const Doubles r =
          _mm512_sub_pd(_mm512_sub_pd(_mm512_add_pd(lanes.min_val, cost[k]), lanes.scan_u), _mm512_load_pd(s.v[j]));
      Doubles spc = _mm512_mask_mov_pd(_mm512_load_pd(s.spc[j]), first_scan, all_inf);
      const __mmask8 better = _mm512_mask_cmp_pd_mask(open, r, spc, _CMP_LT_OQ);
      spc = _mm512_mask_mov_pd(spc, better, r);
      _mm512_store_pd(s.spc[j], spc);
      store_ints(s.pred[j], _mm256_mask_mov_epi32(load_ints(s.pred[j]), better, scan_pred));
      // The column's place in scipy's scan order: nc - 1 - j when a search
      // starts, then moved by the last step's removal.
      Ints pos = load_ints(s.position[j]);
      pos = _mm256_mask_mov_epi32(pos, _mm256_cmpeq_epi32_mask(pos, lanes.moved_from), lanes.moved_to);
      store_ints(s.position[j], _mm256_mask_mov_epi32(pos, first_scan, _mm256_sub_epi32(last_col_v, splat(j))));
      _mm512_store_pd(s.path_u[j], _mm512_mask_mov_pd(_mm512_load_pd(s.path_u[j]), better, lanes.scan_u));
      _mm512_store_pd(s.path_reached[j], _mm512_mask_mov_pd(_mm512_load_pd(s.path_reached[j]), better, lanes.min_val));
      // No path cost is NaN, so min is exact.
      if (k % 2 == 0) low_even = _mm512_mask_min_pd(low_even, open, low_even, spc);
      else low_odd = _mm512_mask_min_pd(low_odd, open, low_odd, spc);
    }
  }
  return _mm512_min_pd(low_even, low_odd);
}

// The column a lane takes, and what it brings along.
struct Pick {
  Ints col;
  Ints row;       // the row assigned to it, -1 if it is free
  Doubles u;      // that row's u
  Ints path;      // the columns of the path from `cur` to its predecessor row
  Ints position;  // its place in the scan order
};

// Pick: the column each lane takes, by scipy's rule: of the remaining
// columns at the lowest path cost, the last free one in scan order if one is
// free, else the first. As a key that is largest for that column: 16 +
// position for a free column, 15 - position for an assigned one, -1 off the
// lowest; positions differ, so exactly one column has the largest key.
IDMATCH_AVX512_INLINE Pick pick(const LaneSolver& s, const Lanes& lanes, Doubles lowest, int32_t width) {
  Ints best = splat(-1);
  Pick taken{_mm256_setzero_si256(), splat(-1), _mm512_setzero_pd(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int32_t j = 0; j < width; ++j) {
    const __mmask8 at_lowest = _mm512_mask_cmp_pd_mask(_mm256_test_epi32_mask(lanes.remaining, splat(1 << j)),
                                                       _mm512_load_pd(s.spc[j]), lowest, _CMP_EQ_OQ);
    const Ints pos = load_ints(s.position[j]);
    const Ints row = load_ints(s.row4col[j]);
    const Ints k = _mm256_mask_mov_epi32(_mm256_sub_epi32(splat(15), pos), _mm256_movepi32_mask(row),
                                         _mm256_add_epi32(pos, splat(16)));
    // Then its row (-1 if free), that row's u, its path and position.
    const __mmask8 taken_here = _mm256_mask_cmpgt_epi32_mask(at_lowest, k, best);
    best = _mm256_mask_mov_epi32(best, taken_here, k);
    taken.col = _mm256_mask_mov_epi32(taken.col, taken_here, splat(j));
    taken.row = _mm256_mask_mov_epi32(taken.row, taken_here, row);
    taken.u = _mm512_mask_mov_pd(taken.u, taken_here, _mm512_load_pd(s.u_of_col[j]));
    taken.path = _mm256_mask_mov_epi32(taken.path, taken_here, load_ints(s.pred[j]));
    taken.position = _mm256_mask_mov_epi32(taken.position, taken_here, pos);
  }
  taken.path = _mm256_srli_epi32(taken.path, 4);
  return taken;
}

// The lanes whose search a step ended.
struct StepEnd {
  __mmask8 sinks;       // at a free column: the search's augmenting path
  __mmask8 infeasible;  // with no column reachable: the problem is infeasible
};

// Takes each active lane's picked column off its scan order, at path cost
// `lowest`, and adds it to taken.path, which then leads to it. A free column
// ends the search (a sink); an assigned one's row is scanned next, at the
// column's path cost.
IDMATCH_AVX512_INLINE StepEnd take(Lanes& lanes, Pick& taken, Doubles lowest, __mmask8 active) {
  const Ints one = splat(1);
  const __mmask8 infeasible =
      active & _mm512_cmp_pd_mask(lowest, _mm512_set1_pd(core::positive_infinity()), _CMP_EQ_OQ);
  const __mmask8 reachable = active & ~infeasible;
  const Ints col_bit = _mm256_sllv_epi32(one, taken.col);
  lanes.remaining = _mm256_mask_andnot_epi32(lanes.remaining, reachable, col_bit, lanes.remaining);
  lanes.num_taken = _mm256_add_epi32(lanes.num_taken, one);
  // scipy's removal from its scan order: the last remaining column moves
  // into the taken one's place.
  lanes.moved_from = _mm256_sub_epi32(lanes.num_cols, lanes.num_taken);
  lanes.moved_to = taken.position;
  const __mmask8 sinks = reachable & _mm256_cmpeq_epi32_mask(taken.row, splat(-1));
  const __mmask8 assigned = reachable & ~sinks;
  lanes.scan_row = _mm256_mask_mov_epi32(lanes.scan_row, assigned, taken.row);
  taken.path = _mm256_or_si256(taken.path, col_bit);
  lanes.scan_path = _mm256_mask_mov_epi32(lanes.scan_path, assigned, taken.path);
  lanes.scan_u = _mm512_mask_mov_pd(lanes.scan_u, assigned, taken.u);
  lanes.min_val = _mm512_mask_mov_pd(lanes.min_val, assigned, lowest);
  return {sinks, infeasible};
}

// Finish: ends the searches of the `sinks` lanes, whose augmenting path
// leads to their sink along `path` at cost `lowest`. Duals over their trees,
// as scipy: v[j] -= min_val - spc[j] over their columns, the sink included,
// and u[i] += min_val - spc[col4row[i]] over their rows but `cur` (the sink
// has none). Then each column on the augmenting path takes its predecessor
// row, and that row's u with the same update (see path_u). Then each lane
// searches from its next row, or reports its problem and starts the next
// one when that was the last row.
IDMATCH_AVX512_INLINE void finish(LaneSolver& s, Lanes& lanes, __mmask8 sinks, Doubles lowest, Ints path,
                                  int32_t width) {
  const Ints tree_cols = _mm256_andnot_si256(lanes.remaining, lanes.all_cols);
  for (int32_t j = 0; j < width; ++j) {
    const Ints bit = splat(1 << j);
    const __mmask8 on_tree = sinks & _mm256_test_epi32_mask(tree_cols, bit);
    const __mmask8 on_path = sinks & _mm256_test_epi32_mask(path, bit);
    // Masked to the lanes that use them: elsewhere (an idle lane, a column
    // off the tree) both operands can be +inf, and inf - inf raises the
    // invalid-operation flag, a SIGFPE where it is trapped.
    const Doubles gain = _mm512_maskz_sub_pd(on_tree, lowest, _mm512_load_pd(s.spc[j]));
    const Doubles vj = _mm512_load_pd(s.v[j]);
    _mm512_store_pd(s.v[j], _mm512_mask_sub_pd(vj, on_tree, vj, gain));
    const Doubles uj = _mm512_load_pd(s.u_of_col[j]);
    const Doubles moved = _mm512_maskz_add_pd(on_path, _mm512_load_pd(s.path_u[j]),
                                              _mm512_maskz_sub_pd(on_path, lowest, _mm512_load_pd(s.path_reached[j])));
    _mm512_store_pd(s.u_of_col[j], _mm512_mask_mov_pd(_mm512_mask_add_pd(uj, on_tree, uj, gain), on_path, moved));
    store_ints(s.row4col[j], _mm256_mask_mov_epi32(load_ints(s.row4col[j]), on_path,
                                                   _mm256_and_si256(load_ints(s.pred[j]), splat(15))));
  }
  // The next row's search, as in start_problem.
  lanes.cur = _mm256_mask_add_epi32(lanes.cur, sinks, lanes.cur, splat(1));
  const __mmask8 solved = sinks & _mm256_cmpeq_epi32_mask(lanes.cur, lanes.num_rows);
  const __mmask8 next_search = sinks & ~solved;
  lanes.remaining = _mm256_mask_mov_epi32(lanes.remaining, next_search, lanes.all_cols);
  lanes.num_taken = _mm256_mask_mov_epi32(lanes.num_taken, next_search, _mm256_setzero_si256());
  lanes.scan_row = _mm256_mask_mov_epi32(lanes.scan_row, next_search, lanes.cur);
  lanes.scan_path = _mm256_mask_mov_epi32(lanes.scan_path, next_search, _mm256_setzero_si256());
  lanes.scan_u = _mm512_mask_mov_pd(lanes.scan_u, next_search, _mm512_setzero_pd());
  lanes.min_val = _mm512_mask_mov_pd(lanes.min_val, next_search, _mm512_setzero_pd());
  for (__mmask8 b = solved; b != 0; b &= b - 1) change_problem(s, lanes, __builtin_ctz(b), core::kOk);
}

// Each step of the loop is one scan in every active lane, the pick of a
// column and its taking; a lane whose search ends finishes it there.
IDMATCH_AVX512 void LaneSolver::run() {
  Lanes lanes;
  const int32_t width = start_batch(*this, lanes);
  const double* const costs = problems[0].cost;
  while (true) {
    const __mmask8 active = _mm256_test_epi32_mask(lanes.remaining, lanes.remaining);
    if (active == 0) break;
    const Doubles lowest = scan(*this, lanes, costs, width);
    Pick taken = pick(*this, lanes, lowest, width);
    const StepEnd ended = take(lanes, taken, lowest, active);
    if (ended.sinks != 0) finish(*this, lanes, ended.sinks, lowest, taken.path, width);
    for (__mmask8 b = ended.infeasible; b != 0; b &= b - 1) {
      change_problem(*this, lanes, __builtin_ctz(b), core::kInfeasible);
    }
  }
}

// The lanes of a row's two registers that are NaN or -inf, a bit each:
// neither ordered nor greater than -inf.
IDMATCH_AVX512_INLINE uint32_t invalid_lanes(__m512d low, __m512d high) {
  const __m512d neg_inf = _mm512_set1_pd(-core::positive_infinity());
  return ~(static_cast<uint32_t>(_mm512_cmp_pd_mask(low, neg_inf, _CMP_GT_OQ)) |
           (static_cast<uint32_t>(_mm512_cmp_pd_mask(high, neg_inf, _CMP_GT_OQ)) << 8));
}

// x with every lane's sign flipped when `negate` (exactly -x).
IDMATCH_AVX512_INLINE __m512d negated_if(__m512d x, bool negate) {
  return negate ? _mm512_xor_pd(x, _mm512_set1_pd(-0.0)) : x;
}

// Stores one row's two registers of float64 lanes, negated when `negate`,
// and returns invalid_lanes of what it stored.
IDMATCH_AVX512_INLINE uint32_t store_row(__m512d low, __m512d high, bool negate, double* row) {
  low = negated_if(low, negate);
  high = negated_if(high, negate);
  _mm512_store_pd(row, low);
  _mm512_store_pd(row + 8, high);
  return invalid_lanes(low, high);
}

// Stores a source row's entries in the lanes of `columns` (its other lanes
// zero) as row `i` of `small`, negated when `negate`; returns invalid_lanes
// of what it stored. Masked loads: lanes past `columns` are never read.
IDMATCH_AVX512_INLINE uint32_t load_row(const float* row, uint32_t columns, bool negate, SmallProblem& small,
                                        int32_t i) {
  const __m512 x = _mm512_maskz_loadu_ps(static_cast<__mmask16>(columns), row);
  const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
  const __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  return store_row(low, high, negate, small.cost + kSmallMaxDim * i);
}
IDMATCH_AVX512_INLINE uint32_t load_row(const double* row, uint32_t columns, bool negate, SmallProblem& small,
                                        int32_t i) {
  const __m512d low = _mm512_maskz_loadu_pd(static_cast<__mmask8>(columns), row);
  const __m512d high = _mm512_maskz_loadu_pd(static_cast<__mmask8>(columns >> 8), row + 8);
  return store_row(low, high, negate, small.cost + kSmallMaxDim * i);
}

// The entries of `entries` (a lane each, others zero) of a source row,
// converted to float64 and negated when `negate`.
IDMATCH_AVX512_INLINE __m512d load_entries(const float* row, __mmask8 entries, bool negate) {
  return negated_if(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(entries, row)), negate);
}
IDMATCH_AVX512_INLINE __m512d load_entries(const double* row, __mmask8 entries, bool negate) {
  return negated_if(_mm512_maskz_loadu_pd(entries, row), negate);
}

// load_small_problem (small_lsa.h) for either source type.
template <typename T>
IDMATCH_AVX512_INLINE bool load_problem(const T* cost, const int64_t* row_start, bool transposed, bool negate,
                                        SmallProblem& small) {
  const uint32_t columns = (1u << small.nc) - 1u;
  uint32_t invalid = 0;
  if (!transposed) {
    for (int32_t i = 0; i < small.nr; ++i) invalid |= load_row(cost + row_start[i], columns, negate, small, i);
  } else {
    // The solver's row i is entry i of every source row: eight source rows
    // at a time, each loaded as a register of eight of its entries
    // (converted to float64, negated when `negate`), checked, then turned
    // into eight solver rows by one transpose of registers. Loads are
    // masked to the nr entries and nc rows there are. The solver's entries
    // past nc are zeros up to the end of their block of eight; the next
    // block, when nc <= 8, keeps what an earlier problem left there (NaN
    // included). The solver never uses them.
    uint32_t entries_invalid = 0;
    for (int32_t first = 0; first < small.nc; first += kLanes) {
      const int32_t block = small.nc - first < kLanes ? small.nc - first : kLanes;
      for (int32_t half = 0; half < small.nr; half += kLanes) {
        const auto entries = static_cast<__mmask8>(small.nr - half >= kLanes ? 0xffu : (1u << (small.nr - half)) - 1u);
        Doubles source[kLanes], solver[kLanes];
        for (int32_t r = 0; r < kLanes; ++r) {
          source[r] =
              r < block ? load_entries(cost + row_start[first + r] + half, entries, negate) : _mm512_setzero_pd();
          entries_invalid |= invalid_lanes(source[r], _mm512_setzero_pd()) & 0xffu;  // zeros past nr are valid
        }
        transpose_registers(source, solver);
        for (int32_t i = half; i < small.nr && i < half + kLanes; ++i) {
          _mm512_store_pd(small.cost + kSmallMaxDim * i + first, solver[i - half]);
        }
      }
    }
    return entries_invalid == 0;
  }
  return (invalid & columns) == 0;
}

// The better of a and b lane by lane, for best_matched_rows: the least
// when maximizing (the solver's values are negated), else the greatest.
IDMATCH_AVX512_INLINE __m512d best_of(bool maximize, __m512d a, __m512d b) {
  return maximize ? _mm512_min_pd(a, b) : _mm512_max_pd(a, b);
}

// load_small_rows (small_lsa.h) for either source type.
template <typename T>
IDMATCH_AVX512_INLINE bool load_rows(const T* rows, int64_t row_stride, bool negate, SmallProblem& small) {
  const uint32_t columns = (1u << small.nc) - 1u;
  uint32_t invalid = 0;
  for (int32_t i = 0; i < small.nr; ++i) invalid |= load_row(rows + i * row_stride, columns, negate, small, i);
  return (invalid & columns) == 0;
}

}  // namespace

IDMATCH_AVX512 bool load_small_rows(const float* rows, int64_t row_stride, bool negate, SmallProblem& small) {
  return load_rows(rows, row_stride, negate, small);
}

IDMATCH_AVX512 bool load_small_rows(const double* rows, int64_t row_stride, bool negate, SmallProblem& small) {
  return load_rows(rows, row_stride, negate, small);
}

IDMATCH_AVX512 bool load_small_problem(const float* cost, const int64_t* row_start, bool transposed, bool negate,
                                       SmallProblem& small) {
  return load_problem(cost, row_start, transposed, negate, small);
}

IDMATCH_AVX512 bool load_small_problem(const double* cost, const int64_t* row_start, bool transposed, bool negate,
                                       SmallProblem& small) {
  return load_problem(cost, row_start, transposed, negate, small);
}

IDMATCH_AVX512 bool small_problem_valid(const SmallProblem& small) {
  const uint32_t columns = (1u << small.nc) - 1u;
  uint32_t invalid = 0;
  for (int32_t i = 0; i < small.nr; ++i) {
    const double* row = small.cost + kSmallMaxDim * i;
    invalid |= invalid_lanes(_mm512_load_pd(row), _mm512_load_pd(row + 8));
  }
  return (invalid & columns) == 0;
}

IDMATCH_AVX512 uint32_t best_matched_rows(const SmallProblem& small, bool transposed, bool maximize) {
  // Only the nc entries of a row are loaded, the others replaced by a value
  // that never wins: entries past nc may hold anything an earlier problem
  // left, NaN included, and min and max would raise the invalid-operation
  // flag on NaN.
  const uint32_t columns = (1u << small.nc) - 1u;
  const auto low_columns = static_cast<__mmask8>(columns), high_columns = static_cast<__mmask8>(columns >> 8);
  const __m512d none = _mm512_set1_pd(maximize ? core::positive_infinity() : -core::positive_infinity());
  if (!transposed) {
    // Row i's best against its matched entry. Every row is matched (nr <= nc).
    uint32_t kept = 0;
    for (int32_t i = 0; i < small.nr; ++i) {
      const double* row = small.cost + kSmallMaxDim * i;
      const __m512d both = best_of(maximize, _mm512_mask_load_pd(none, low_columns, row),
                                   _mm512_mask_load_pd(none, high_columns, row + 8));
      const double best = maximize ? _mm512_reduce_min_pd(both) : _mm512_reduce_max_pd(both);
      kept |= static_cast<uint32_t>(best == row[small.col4row[i]]) << i;
    }
    return kept;
  }
  // Column j's best over the nr rows against the entry of its matched row,
  // taken from the row whose index row4col[j] holds; eight columns a
  // register.
  const __m512i row_of = _mm512_loadu_si512(small.row4col);
  __m512d best_low = none, best_high = none, matched_low = none, matched_high = none;
  for (int32_t i = 0; i < small.nr; ++i) {
    const double* row = small.cost + kSmallMaxDim * i;
    const __m512d low = _mm512_mask_load_pd(none, low_columns, row);
    const __m512d high = _mm512_mask_load_pd(none, high_columns, row + 8);
    best_low = best_of(maximize, best_low, low);
    best_high = best_of(maximize, best_high, high);
    const __mmask16 here = _mm512_cmpeq_epi32_mask(row_of, _mm512_set1_epi32(i));
    matched_low = _mm512_mask_mov_pd(matched_low, static_cast<__mmask8>(here), low);
    matched_high = _mm512_mask_mov_pd(matched_high, static_cast<__mmask8>(here >> 8), high);
  }
  const uint32_t matched = _mm512_cmpge_epi32_mask(row_of, _mm512_setzero_si512()) & columns;
  const uint32_t at_best = static_cast<uint32_t>(_mm512_cmp_pd_mask(matched_low, best_low, _CMP_EQ_OQ)) |
                           static_cast<uint32_t>(_mm512_cmp_pd_mask(matched_high, best_high, _CMP_EQ_OQ)) << 8;
  return matched & at_best;
}

void solve_small_problems(SmallProblem* problems, int count) {
  LaneSolver solver;
  solver.problems = problems;
  solver.count = count;
  solver.run();
}

#endif

}  // namespace ops
}  // namespace idmatch

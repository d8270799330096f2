// The AVX-512 small-problem solver (see small_lsa.h). The functions carry
// their own target attribute and run only after a CPU check, so the rest of
// the library stays built for the baseline x86-64 and the wheel runs on any
// CPU.
#include "small_lsa.h"

#include <cstdlib>
#include <cstring>

#include "../../core/lsa_core.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define IDMATCH_HAVE_SMALL_SOLVER 1
#include <immintrin.h>
#endif

namespace idmatch {
namespace ops {

#ifndef IDMATCH_HAVE_SMALL_SOLVER

bool small_solver_enabled() { return false; }
void solve_small_problems(SmallProblem*, int) {}
void load_small_rows(const float*, int64_t, bool, SmallProblem&) {}
void load_small_rows(const double*, int64_t, bool, SmallProblem&) {}
bool small_problem_valid(const SmallProblem&) { return false; }

#else

bool small_solver_enabled() {
  static const bool enabled = [] {
    const char* choice = std::getenv("IDMATCH_CPU_SOLVER");
    if (choice != nullptr && std::strcmp(choice, "portable") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return enabled;
}

namespace {

// Only the features small_solver_enabled() checks.
#define IDMATCH_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))
#define IDMATCH_AVX512_INLINE IDMATCH_AVX512 __attribute__((always_inline)) inline

// Scan order of the columns at a tie: scipy's `remaining` starts in reverse
// column order and loses each taken column to the last one's move into its
// place. Replaying the row's removals rebuilds it; ties of path costs are
// rare outside integer costs, so the fast path keeps no order at all.
int tie_column(int32_t nc, const int32_t* taken, int32_t num_taken, uint32_t lowest_cols, uint32_t free_cols) {
  int32_t remaining[kSmallMaxDim];
  int32_t position[kSmallMaxDim];
  for (int32_t it = 0; it < nc; ++it) {
    remaining[it] = nc - 1 - it;
    position[nc - 1 - it] = it;
  }
  int32_t num_remaining = nc;
  for (int32_t q = 0; q < num_taken; ++q) {
    const int32_t j = taken[q];
    const int32_t last = remaining[--num_remaining];
    remaining[position[j]] = last;
    position[last] = position[j];
  }
  // scipy's scan keeps the first column of lowest cost, then moves on to any
  // later one of equal cost that is unassigned: the last unassigned one in
  // scan order if there is one, else the first.
  const uint32_t lowest_free = lowest_cols & free_cols;
  int best = -1;
  if (lowest_free != 0) {
    for (uint32_t b = lowest_free; b != 0; b &= b - 1) {
      const int j = __builtin_ctz(b);
      if (best < 0 || position[j] > position[best]) best = j;
    }
  } else {
    for (uint32_t b = lowest_cols; b != 0; b &= b - 1) {
      const int j = __builtin_ctz(b);
      if (best < 0 || position[j] < position[best]) best = j;
    }
  }
  return best;
}

// One problem's state. H registers of 8 doubles hold the columns (H = 1:
// up to 8 columns, H = 2: up to 16); bit j of a mask stands for column j.
template <int H>
struct SmallSolver {
  SmallProblem* p;
  uint32_t all_cols;
  uint32_t free_cols;   // unassigned columns
  uint32_t remaining;   // columns not yet on this row's shortest path tree
  uint32_t tree_rows;   // rows on the tree, `cur` included
  int32_t cur;
  int32_t num_taken;
  bool done;
  __m512d v[H];
  __m512d u[H];      // row duals, lane i for row i
  __m512d spc[H];    // shortest path cost of every column
  // Path cost at which each tree row was reached (0 for `cur`). A row is
  // reached through its assigned column j, whose path cost then is the
  // lowest, and a taken column's cost never changes again: so scipy's
  // u[i] += min_val - spc[col4row[i]] is u[i] += min_val - reached[i].
  __m512d reached[H];
  __m512i path;      // predecessor row of every column (16 int32 lanes)

  IDMATCH_AVX512_INLINE void start(SmallProblem* problem) {
    p = problem;
    all_cols = (1u << p->nc) - 1u;
    free_cols = all_cols;
    cur = 0;
    done = false;
    for (int h = 0; h < H; ++h) {
      v[h] = _mm512_setzero_pd();
      u[h] = _mm512_setzero_pd();
    }
    for (int k = 0; k < kSmallMaxDim; ++k) {
      p->row4col[k] = -1;
      p->col4row[k] = -1;
    }
    start_row();
  }

  // The first scan from row `cur`: every column remains and none has a path
  // cost yet. u[cur] is still 0 and min_val is 0, so this is scipy's
  // ((0 + c) - 0) - v[j], rounded as scipy rounds it. scipy keeps r only if
  // r < +inf: a NaN r (duals overflowed by costs near the float64 limit)
  // leaves the column at +inf, and no NaN ever enters the path costs, which
  // the min reduction below could not order.
  IDMATCH_AVX512_INLINE void start_row() {
    remaining = all_cols;
    tree_rows = 1u << cur;
    num_taken = 0;
    path = _mm512_set1_epi32(cur);
    const double* row = p->cost + kSmallMaxDim * cur;
    for (int h = 0; h < H; ++h) {
      const __m512d c = _mm512_load_pd(row + 8 * h);
      const __m512d r = _mm512_sub_pd(_mm512_sub_pd(_mm512_add_pd(_mm512_setzero_pd(), c), _mm512_setzero_pd()), v[h]);
      spc[h] = _mm512_mask_mov_pd(_mm512_set1_pd(core::positive_infinity()), _mm512_cmp_pd_mask(r, r, _CMP_ORD_Q), r);
      reached[h] = _mm512_setzero_pd();
    }
  }

  // Takes the next column of the tree and scans from the row behind it, or
  // ends the row's search at a free column.
  IDMATCH_AVX512_INLINE void step() {
    const double inf = core::positive_infinity();
    const __m512d all_inf = _mm512_set1_pd(inf);
    // The lowest path cost over the remaining columns, in every lane.
    __m512d t = _mm512_mask_mov_pd(all_inf, static_cast<__mmask8>(remaining), spc[0]);
    if (H == 2) t = _mm512_min_pd(t, _mm512_mask_mov_pd(all_inf, static_cast<__mmask8>(remaining >> 8), spc[H - 1]));
    t = _mm512_min_pd(t, _mm512_shuffle_f64x2(t, t, 0x4e));
    t = _mm512_min_pd(t, _mm512_shuffle_f64x2(t, t, 0xb1));
    t = _mm512_min_pd(t, _mm512_permute_pd(t, 0x55));
    const double lowest = _mm512_cvtsd_f64(t);
    uint32_t lowest_cols = _mm512_cmpeq_pd_mask(spc[0], t);
    if (H == 2) lowest_cols |= static_cast<uint32_t>(_mm512_cmpeq_pd_mask(spc[H - 1], t)) << 8;
    lowest_cols &= remaining;
    // No column is reachable. (An empty lowest_cols with a finite lowest
    // cannot happen, as no path cost is NaN; the guard keeps a column index
    // past the problem from ever being formed.)
    if (lowest == inf || lowest_cols == 0) {
      p->status = core::kInfeasible;
      done = true;
      return;
    }
    const int32_t j = (lowest_cols & (lowest_cols - 1)) == 0
                          ? __builtin_ctz(lowest_cols)
                          : tie_column(p->nc, p->taken, num_taken, lowest_cols, free_cols);
    const uint32_t j_bit = 1u << j;
    p->taken[num_taken++] = j;
    remaining &= ~j_bit;
    const __m512d min_val = _mm512_set1_pd(lowest);
    if (free_cols & j_bit) {
      finish_row(j, min_val);
      return;
    }
    const int32_t i = p->row4col[j];
    tree_rows |= 1u << i;
    const __m512i i_lanes = _mm512_set1_epi64(i);
    const __m512d u_i = H == 2 ? _mm512_permutex2var_pd(u[0], i_lanes, u[H - 1]) : _mm512_permutexvar_pd(i_lanes, u[0]);
    const double* row = p->cost + kSmallMaxDim * i;
    __mmask16 improved = 0;
    for (int h = 0; h < H; ++h) {
      const __m512d c = _mm512_load_pd(row + 8 * h);
      // ((min_val + c) - u[i]) - v[j], as scipy.
      const __m512d r = _mm512_sub_pd(_mm512_sub_pd(_mm512_add_pd(min_val, c), u_i), v[h]);
      const __mmask8 better = _mm512_mask_cmplt_pd_mask(static_cast<__mmask8>(remaining >> (8 * h)), r, spc[h]);
      spc[h] = _mm512_mask_mov_pd(spc[h], better, r);
      improved |= static_cast<__mmask16>(static_cast<uint32_t>(better) << (8 * h));
      reached[h] = _mm512_mask_mov_pd(reached[h], static_cast<__mmask8>((1u << i) >> (8 * h)), min_val);
    }
    path = _mm512_mask_mov_epi32(path, improved, _mm512_set1_epi32(i));
  }

  IDMATCH_AVX512_INLINE void finish_row(int32_t sink, __m512d min_val) {
    // Duals over the tree: u[i] += min_val - reached[i] for its rows (for
    // `cur`: 0 + min_val), v[j] -= min_val - spc[j] for its columns.
    const uint32_t tree_cols = all_cols & ~remaining;
    for (int h = 0; h < H; ++h) {
      u[h] = _mm512_mask_add_pd(u[h], static_cast<__mmask8>(tree_rows >> (8 * h)), u[h],
                                _mm512_sub_pd(min_val, reached[h]));
      v[h] = _mm512_mask_sub_pd(v[h], static_cast<__mmask8>(tree_cols >> (8 * h)), v[h],
                                _mm512_sub_pd(min_val, spc[h]));
    }
    // Augment along the path back to `cur`.
    _mm512_storeu_si512(p->path, path);
    free_cols &= ~(1u << sink);
    int32_t j = sink;
    while (true) {
      const int32_t i = p->path[j];
      p->row4col[j] = i;
      const int32_t previous = p->col4row[i];
      p->col4row[i] = j;
      j = previous;
      if (i == cur) break;
    }
    if (++cur == p->nr) {
      p->status = core::kOk;
      done = true;
      return;
    }
    start_row();
  }
};

template <int H>
IDMATCH_AVX512 void solve_one(SmallProblem* a) {
  SmallSolver<H> x;
  x.start(a);
  while (!x.done) x.step();
}

// Two problems in alternation: each step's chain of dependent operations
// (reduction, pick, next row's load and scan) is long, and the other
// problem's step runs in its shadow.
template <int H>
IDMATCH_AVX512 void solve_two(SmallProblem* a, SmallProblem* b) {
  SmallSolver<H> x, y;
  x.start(a);
  y.start(b);
  while (!x.done && !y.done) {
    x.step();
    y.step();
  }
  while (!x.done) x.step();
  while (!y.done) y.step();
}

// Stores one row's two registers of float64 lanes, negated when `negate`.
IDMATCH_AVX512_INLINE void store_row(__m512d low, __m512d high, bool negate, double* row) {
  if (negate) {
    const __m512d sign = _mm512_set1_pd(-0.0);
    low = _mm512_xor_pd(low, sign);
    high = _mm512_xor_pd(high, sign);
  }
  _mm512_store_pd(row, low);
  _mm512_store_pd(row + 8, high);
}

}  // namespace

// Masked loads: lanes past nc are never read.
IDMATCH_AVX512 void load_small_rows(const float* rows, int64_t row_stride, bool negate, SmallProblem& small) {
  const auto columns = static_cast<__mmask16>((1u << small.nc) - 1u);
  for (int32_t i = 0; i < small.nr; ++i) {
    const __m512 x = _mm512_maskz_loadu_ps(columns, rows + i * row_stride);
    const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    const __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    store_row(low, high, negate, small.cost + kSmallMaxDim * i);
  }
}

IDMATCH_AVX512 void load_small_rows(const double* rows, int64_t row_stride, bool negate, SmallProblem& small) {
  const uint32_t columns = (1u << small.nc) - 1u;
  for (int32_t i = 0; i < small.nr; ++i) {
    const double* row = rows + i * row_stride;
    const __m512d low = _mm512_maskz_loadu_pd(static_cast<__mmask8>(columns), row);
    const __m512d high = _mm512_maskz_loadu_pd(static_cast<__mmask8>(columns >> 8), row + 8);
    store_row(low, high, negate, small.cost + kSmallMaxDim * i);
  }
}

IDMATCH_AVX512 bool small_problem_valid(const SmallProblem& small) {
  const uint32_t columns = (1u << small.nc) - 1u;
  const __m512d neg_inf = _mm512_set1_pd(-core::positive_infinity());
  uint32_t invalid = 0;
  for (int32_t i = 0; i < small.nr; ++i) {
    const double* row = small.cost + kSmallMaxDim * i;
    // Ordered and greater than -inf: neither NaN nor -inf.
    const uint32_t valid = static_cast<uint32_t>(_mm512_cmp_pd_mask(_mm512_load_pd(row), neg_inf, _CMP_GT_OQ)) |
                           (static_cast<uint32_t>(_mm512_cmp_pd_mask(_mm512_load_pd(row + 8), neg_inf, _CMP_GT_OQ))
                            << 8);
    invalid |= ~valid & columns;
  }
  return invalid == 0;
}

void solve_small_problems(SmallProblem* problems, int count) {
  int32_t widest = problems[0].nc;
  if (count == 2 && problems[1].nc > widest) widest = problems[1].nc;
  if (count == 2) {
    if (widest <= 8) solve_two<1>(&problems[0], &problems[1]);
    else solve_two<2>(&problems[0], &problems[1]);
  } else {
    if (widest <= 8) solve_one<1>(&problems[0]);
    else solve_one<2>(&problems[0]);
  }
}

#endif

}  // namespace ops
}  // namespace idmatch

// For Python (ctypes, see idmatch._loader.cpu_small_solver_enabled): whether
// this process solves small CPU problems with the AVX-512 solver, so that the
// test suite can report and check which solver it holds to scipy.
#if defined(_WIN32)
#define IDMATCH_EXPORT __declspec(dllexport)
#else
#define IDMATCH_EXPORT __attribute__((visibility("default")))
#endif
extern "C" IDMATCH_EXPORT int idmatch_cpu_small_solver_enabled() {
  return idmatch::ops::small_solver_enabled() ? 1 : 0;
}

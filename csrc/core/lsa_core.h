// The shared linear sum assignment solver core of idmatch, header-only and
// compiled for the host and the device alike: the CUDA kernels and the CPU
// kernels run this very code (the CPU's AVX-512 small solver,
// csrc/ops/cpu/small_lsa.h, computes the same), so the CPU tests exercise what
// runs on the GPU.
//
// It implements the shortest augmenting path algorithm of D. F. Crouse, "On
// implementing 2D rectangular assignment algorithms", IEEE Transactions on
// Aerospace and Electronic Systems 52(4), 2016, as
// scipy.optimize.linear_sum_assignment (scipy >= 1.9) does, with scipy's
// order of floating point operations, initial column order and tie rules:
// its results are scipy's, ties included. See docs/design.md, "Exact
// semantics".
//
// Nothing here allocates, throws or asserts: callers hand in a workspace and
// get a status back.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace idmatch {
namespace core {

// Per-problem outcome, reported by the raw ops instead of raising.
enum Status : int32_t {
  kOk = 0,
  kInvalidEntries = 1,  // NaN, or -inf after the maximize negation
  kInfeasible = 2,      // no complete assignment avoids +inf (forbidden) pairs
  kInvalidProblem = 3,  // bad offsets, bad indices or a problem too large
  // Infeasible, answered anyway with a largest matching of finite pairs
  // (match_paf_candidates only; see core/paf.h).
  kInfeasibleResolved = 4,
};

// Largest dimension the solver takes; its index arrays are int32.
constexpr int64_t kMaxDim = 0x7fffffff;

IDMATCH_HOST_DEVICE inline double positive_infinity() { return __builtin_huge_val(); }

// Scratch memory for one problem of nr rows and nc columns (nr <= nc), in the
// solver's orientation. Sizes: see the *_needed functions below.
struct Workspace {
  double* u;         // row duals, nr
  double* v;         // column duals, nc
  double* spc;       // shortest path cost of each column, nc
  int32_t* path;     // predecessor row of each column, nc
  int32_t* col4row;  // nr
  int32_t* row4col;  // nc
  // Columns in scan order: [0, num_remaining) are not yet on the shortest
  // path tree; the tail holds the columns taken from it, latest first.
  int32_t* remaining;  // nc
};

// Workspace per unit of rows + columns: a problem needs nr + 2 nc doubles
// and nr + 3 nc int32s, at most these multiples of nr + nc. As nr + nc == n + m
// whatever the orientation, kernels carve fixed slots out of one buffer.
constexpr int64_t kDoublesPerUnit = 2;
constexpr int64_t kIntsPerUnit = 3;

IDMATCH_HOST_DEVICE inline Workspace make_workspace(double* doubles, int32_t* ints, int64_t nr, int64_t nc) {
  Workspace ws;
  ws.u = doubles;
  ws.v = doubles + nr;
  ws.spc = doubles + nr + nc;
  ws.col4row = ints;
  ws.path = ints + nr;
  ws.row4col = ints + nr + nc;
  ws.remaining = ints + nr + 2 * nc;
  return ws;
}

// ---------------------------------------------------------------------------
// Cost accessors. The solver reads its matrix a row at a time: a cost
// accessor is a copyable object whose row(i) returns a line, a copyable object
// with `double operator()(int64_t j) const` giving entry (i, j) in float64.
// Hoisting the row's address out of the inner loop matters: the loop is the
// whole cost of the solver.

// A line of elements of T: element k is base[k * stride], or
// base[index[k] * stride] when gathered through an index. c10::Half and
// c10::BFloat16 convert to double through float, exactly.
template <typename T, bool Negate>
struct StridedLine {
  const T* base;
  int64_t stride;
  const int64_t* index;  // may be null

  IDMATCH_HOST_DEVICE double operator()(int64_t k) const {
    const double x = static_cast<double>(base[(index ? index[k] : k) * stride]);
    return Negate ? -x : x;
  }
};

// Rows of a strided 2-D array of T, optionally gathered through `row_index`
// (row r of the problem is array row row_index[first_row + r]).
template <typename T>
struct StridedRows {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
  const int64_t* row_index;  // may be null: rows first_row, first_row + 1, ...
  int64_t first_row;

  IDMATCH_HOST_DEVICE int64_t source_row(int64_t r) const {
    return row_index ? row_index[first_row + r] : first_row + r;
  }
  IDMATCH_HOST_DEVICE double operator()(int64_t r, int64_t c) const {
    return static_cast<double>(data[source_row(r) * row_stride + c * col_stride]);
  }
  template <bool Negate>
  IDMATCH_HOST_DEVICE StridedLine<T, Negate> row_line(int64_t r) const {
    return {data + source_row(r) * row_stride, col_stride, nullptr};
  }
  template <bool Negate>
  IDMATCH_HOST_DEVICE StridedLine<T, Negate> column_line(int64_t c) const {
    if (row_index) return {data + c * col_stride, row_stride, row_index + first_row};
    return {data + first_row * row_stride + c * col_stride, row_stride, nullptr};
  }
};

// The solver's view of a source problem of n rows and m columns: transposed
// when tall (n > m) and negated when maximizing, as scipy does. Both are
// template parameters so that the inner loop carries no branch for them.
template <class Source, bool Transposed, bool Negate>
struct Oriented {
  Source source;

  IDMATCH_HOST_DEVICE auto row(int64_t i) const {
    if constexpr (Transposed) {
      return source.template column_line<Negate>(i);
    } else {
      return source.template row_line<Negate>(i);
    }
  }
};

// A float64 matrix with contiguous rows, row_stride elements apart.
struct DenseRowMajor {
  struct Line {
    const double* base;
    IDMATCH_HOST_DEVICE double operator()(int64_t j) const { return base[j]; }
  };
  const double* data;
  int64_t row_stride;
  IDMATCH_HOST_DEVICE Line row(int64_t i) const { return {data + i * row_stride}; }
};

// ---------------------------------------------------------------------------
// The solver.

// Whether an entry is one scipy refuses, NaN or -inf. Equalities only: they
// raise no invalid-operation flag on NaN, where an ordered comparison would
// (a SIGFPE for a caller who traps that exception).
IDMATCH_HOST_DEVICE inline bool is_invalid_entry(double x) { return (x != x) | (x == -positive_infinity()); }

// Whether rows [first_row, nr) hold NaN or -inf, which scipy refuses.
template <class Cost>
IDMATCH_HOST_DEVICE bool has_invalid_entries(const Cost& cost, int64_t first_row, int64_t nr, int64_t nc) {
  for (int64_t i = first_row; i < nr; ++i) {
    const auto line = cost.row(i);
    for (int64_t j = 0; j < nc; ++j) {
      if (is_invalid_entry(line(j))) return true;
    }
  }
  return false;
}

// What the first scan of a row stores as a column's path cost: scipy keeps r
// only if r < +inf (the cost it starts from). Finite costs near the float64
// limit can overflow the duals to infinities of both signs and make r NaN;
// then the column stays at +inf, as in scipy, and no NaN enters the path
// costs. r is NaN too when its entry is (an invalid problem, refused after
// this scan), so the test is an equality (see is_invalid_entry).
IDMATCH_HOST_DEVICE inline double first_path_cost(double r) {
  return r == r ? r : positive_infinity();  // also +inf for r == +inf
}

// Longest scan that runs branch-free; longer ones branch (see below).
constexpr int32_t kBranchFreeMaxColumns = 64;

// What augmenting_path returns instead of a sink column.
constexpr int32_t kSinkInfeasible = -1;
constexpr int32_t kSinkInvalidEntries = -2;

// One shortest augmenting path from row `start`. Returns the sink column,
// kSinkInvalidEntries when row `start` holds NaN or -inf, or kSinkInfeasible
// when every remaining column is unreachable. On success
// *min_val_out holds the path's reduced cost and *num_visited the number of
// columns taken, which are ws.remaining[nc - num_visited, nc).
template <class Cost>
IDMATCH_HOST_DEVICE int32_t augmenting_path(const Cost& cost, int32_t nc, const Workspace& ws, int32_t start,
                                            double* min_val_out, int32_t* num_visited) {
  const double inf = positive_infinity();
  double* const spc = ws.spc;
  const double* const v = ws.v;
  int32_t* const path = ws.path;
  int32_t* const remaining = ws.remaining;
  const int32_t* const row4col = ws.row4col;
  double min_val = 0.0;
  double lowest = inf;
  int32_t index = -1;
  // scipy refuses NaN and -inf entries. The first scan from a row reads all
  // of it, and the solver reads no row before its first scan, so the check
  // rides along here instead of costing a pass of its own.
  bool invalid = false;
  // Each scan relaxes the remaining columns from row i and picks the next
  // column: the lowest path cost, ties going to the first candidate or to an
  // unassigned column. It is branch-free: the comparisons are data-dependent
  // coin flips, and a mispredicted branch costs more than a whole iteration.
  // Compilers turn selects of integers back into branches, so masks select
  // them. No entry is NaN, so "<=" and not "<" means "==". When a column is
  // not taken, its cost is >= lowest (or equal in value), so the smaller of
  // the two is the new lowest either way.

  // The first scan, from `start`: every column remains, in reverse order (as
  // scipy's), and none has a path cost yet (+inf), so every r replaces it. An
  // r of +inf leaves +inf, and the path of such a column is never followed.
  {
    const double u_i = ws.u[start];
    const auto line = cost.row(start);
    if (nc > kBranchFreeMaxColumns) {
      for (int32_t it = 0; it < nc; ++it) {
        const int32_t j = nc - 1 - it;
        remaining[it] = j;
        const double c = line(j);
        invalid |= is_invalid_entry(c);
        const double r = first_path_cost(min_val + c - u_i - v[j]);
        spc[j] = r;
        path[j] = start;
        if (r < lowest || (r == lowest && row4col[j] == -1)) {
          lowest = r;
          index = it;
        }
      }
    } else {
      for (int32_t it = 0; it < nc; ++it) {
        const int32_t j = nc - 1 - it;
        remaining[it] = j;
        // Left to right, in double: ((min_val + c) - u) - v, as scipy.
        const double c = line(j);
        invalid |= is_invalid_entry(c);
        const double r = first_path_cost(min_val + c - u_i - v[j]);
        spc[j] = r;
        path[j] = start;
        const int32_t takes = -static_cast<int32_t>((r < lowest) | ((r <= lowest) & (row4col[j] < 0)));
        index ^= (index ^ it) & takes;
        lowest = r < lowest ? r : lowest;
      }
    }
  }
  if (invalid) return kSinkInvalidEntries;
  int32_t num_remaining = nc;
  while (true) {
    min_val = lowest;
    if (min_val == inf) return kSinkInfeasible;
    // Take the column: it swaps places with the last remaining one. scipy
    // overwrites instead of swapping; the remaining columns and their order
    // are the same, and the tail keeps the taken ones.
    const int32_t taken = remaining[index];
    --num_remaining;
    remaining[index] = remaining[num_remaining];
    remaining[num_remaining] = taken;
    if (row4col[taken] == -1) {
      *min_val_out = min_val;
      *num_visited = nc - num_remaining;
      return taken;
    }
    const int32_t i = row4col[taken];
    const double u_i = ws.u[i];
    const auto line = cost.row(i);
    lowest = inf;
    index = -1;
    if (num_remaining > kBranchFreeMaxColumns) {
      // Long scans: the lowest cost settles early and improvements thin out,
      // so branches predict well and beat unconditional stores.
      for (int32_t it = 0; it < num_remaining; ++it) {
        const int32_t j = remaining[it];
        const double r = min_val + line(j) - u_i - v[j];
        double shortest = spc[j];
        if (r < shortest) {
          path[j] = i;
          spc[j] = r;
          shortest = r;
        }
        if (shortest < lowest || (shortest == lowest && row4col[j] == -1)) {
          lowest = shortest;
          index = it;
        }
      }
      continue;
    }
    for (int32_t it = 0; it < num_remaining; ++it) {
      const int32_t j = remaining[it];
      const double r = min_val + line(j) - u_i - v[j];
      const double previous = spc[j];
      const int32_t improves = -static_cast<int32_t>(r < previous);
      const double shortest = r < previous ? r : previous;
      spc[j] = shortest;
      path[j] ^= (path[j] ^ i) & improves;
      const int32_t takes = -static_cast<int32_t>((shortest < lowest) | ((shortest <= lowest) & (row4col[j] < 0)));
      index ^= (index ^ it) & takes;
      lowest = shortest < lowest ? shortest : lowest;
    }
  }
}

// Solves a problem already in the solver's orientation (nr <= nc, minimizing,
// entries checked). The assignment is left in ws.col4row and ws.row4col.
template <class Cost>
IDMATCH_HOST_DEVICE Status solve_oriented(const Cost& cost, int32_t nr, int32_t nc, const Workspace& ws) {
  for (int32_t i = 0; i < nr; ++i) {
    ws.u[i] = 0.0;
    ws.col4row[i] = -1;
  }
  for (int32_t j = 0; j < nc; ++j) {
    ws.v[j] = 0.0;
    ws.row4col[j] = -1;
  }
  for (int32_t cur = 0; cur < nr; ++cur) {
    double min_val = 0.0;
    int32_t num_visited = 0;
    const int32_t sink = augmenting_path(cost, nc, ws, cur, &min_val, &num_visited);
    if (sink == kSinkInvalidEntries) return kInvalidEntries;
    if (sink == kSinkInfeasible) {
      // scipy checks every entry before it solves: rows not reached yet
      // decide between the two errors.
      return has_invalid_entries(cost, cur + 1, nr, nc) ? kInvalidEntries : kInfeasible;
    }

    // Update the duals over the shortest path tree. The rows on it are `cur`
    // and the rows assigned to its columns other than the sink; each dual
    // changes once, so the order of the updates does not matter.
    ws.u[cur] += min_val;
    for (int32_t k = nc - num_visited; k < nc; ++k) {
      const int32_t j = ws.remaining[k];
      const int32_t i = ws.row4col[j];
      if (i >= 0) ws.u[i] += min_val - ws.spc[j];  // j == col4row[i]
      ws.v[j] -= min_val - ws.spc[j];
    }

    // Augment along the path back to `cur`.
    int32_t j = sink;
    while (true) {
      const int32_t i = ws.path[j];
      ws.row4col[j] = i;
      const int32_t previous = ws.col4row[i];
      ws.col4row[i] = j;
      j = previous;
      if (i == cur) break;
    }
  }
  return kOk;
}

// Solves a source problem of n rows and m columns as scipy does (transpose if
// tall, negate if maximizing, reject invalid entries) and reports each
// assigned (row, column) pair of the source, in ascending source row order,
// through emit(row, col). `oriented` is the solver's view of the source (see
// Oriented); CPU callers may pass a dense copy of it instead.
template <class Cost, class Emit>
IDMATCH_HOST_DEVICE Status solve_problem(const Cost& oriented, int64_t n, int64_t m, const Workspace& ws, Emit&& emit) {
  const bool transposed = n > m;
  const int64_t nr = transposed ? m : n;
  const int64_t nc = transposed ? n : m;
  if (nr == 0) return kOk;
  if (nc > kMaxDim) return kInvalidProblem;
  const Status status = solve_oriented(oriented, static_cast<int32_t>(nr), static_cast<int32_t>(nc), ws);
  if (status != kOk) return status;
  if (!transposed) {
    for (int32_t i = 0; i < nr; ++i) emit(static_cast<int64_t>(i), static_cast<int64_t>(ws.col4row[i]));
  } else {
    // Solver rows are source columns, solver columns source rows; row4col
    // is the inverse assignment, so it lists source rows in ascending order.
    for (int32_t j = 0; j < nc; ++j) {
      if (ws.row4col[j] >= 0) emit(static_cast<int64_t>(j), static_cast<int64_t>(ws.row4col[j]));
    }
  }
  return kOk;
}

}  // namespace core
}  // namespace idmatch

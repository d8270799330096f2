// One problem of the PAF candidate matching op (match_paf_candidates): the
// per-problem code that the CPU kernel and the CUDA kernel both run. Plain
// pointers only, no ATen. See docs/design.md, "PAF candidate matching".
//
// A problem is one (sample, edge) pair. Its rows are the edge's distinct
// source peaks, its columns the distinct destination peaks, both in ascending
// peak order; cell (row, col) costs -score of the candidate joining them (the
// last such candidate when a pair is listed twice), NaN scores and absent
// pairs cost +inf. The kernels order the candidates twice (the CUDA glue
// with stable ATen sorts, the CPU kernel with counting sorts): "by row"
// (problem, source, destination, candidate) and "by column" (problem,
// destination, source, candidate), so each problem is one range of both
// orders, each row and each column one run of its order, and duplicates of a
// pair are adjacent with the last one last.
#pragma once

#include <cstdint>

#include "lsa_core.h"

namespace idmatch {
namespace core {

// What a problem of this op needs per candidate, in units of its candidate
// count c: the solver's workspace for n_src + n_dst <= 2c lines (see
// lsa_core.h), one row buffer of at most c doubles, and the first position of
// each row and of each column (at most c each). A problem's slot starts at
// its first sorted position times these, so the whole buffer is the candidate
// count times these: known from the input's shape alone, without a sync.
constexpr int64_t kPafDoublesPerCandidate = 2 * kDoublesPerUnit + 1;
constexpr int64_t kPafIntsPerCandidate = 2 * kIntsPerUnit + 2;

// Codes in src_rank and dst_rank of a candidate that is in no problem.
constexpr int32_t kPafSampleOutOfRange = -2;
constexpr int32_t kPafEdgeOutOfRange = -3;

template <typename T>
struct PafParams {
  const T* scores;  // line score of candidate k at scores[k * score_stride]
  int64_t score_stride;
  const int64_t* src;     // source peak of each candidate (contiguous int64)
  const int64_t* dst;     // destination peak of each candidate
  const int64_t* by_row;  // candidates in "by row" order
  const int64_t* by_col;  // candidates in "by column" order
  const int64_t* starts;  // num_problems + 1: problem s is sorted positions [starts[s], starts[s + 1])
  int64_t num_problems;
  bool* matched;      // per candidate, pre-filled false
  int32_t* src_rank;  // per candidate; written for the candidates of a problem
  int32_t* dst_rank;
  int32_t* status;  // num_problems
};

// A candidate's cost as the solver reads it: -score in float64, NaN as +inf
// (absent, as sleap-nn's cost matrix has it). -inf stays: the solver
// refuses it, as scipy refuses a +inf line score.
template <typename T>
IDMATCH_HOST_DEVICE inline double paf_cost(const PafParams<T>& p, int64_t k) {
  const double c = -static_cast<double>(p.scores[k * p.score_stride]);
  return c == c ? c : positive_infinity();
}

// The solver's view of a problem: row(i) fills the row buffer with solver row
// i, which is source row i, or source column i when transposed (more rows
// than columns, as scipy transposes), from that line's run of the sorted
// order, and returns it. A cell no candidate fills costs `absent`; so does a
// candidate's +inf when `absent` is finite (the placeholder solve, below).
// Candidates of a pair come in candidate order within the run, so the last
// one is written last and wins. The solver reads one line at a time (each
// line object is dropped before the next row() call, see lsa_core.h), so one
// buffer serves all lines.
template <typename T>
struct PafLines {
  const PafParams<T>* p;
  const int64_t* order;       // by_row, or by_col when transposed
  const int32_t* line_start;  // sorted position of each line's first candidate
  const int32_t* cross_rank;  // dst_rank, or src_rank when transposed
  int64_t num_lines;
  int64_t range_end;    // end of the problem's sorted range
  int64_t line_length;  // nc
  double absent;
  double* buffer;

  IDMATCH_HOST_DEVICE DenseRowMajor::Line row(int64_t i) const {
    for (int64_t j = 0; j < line_length; ++j) buffer[j] = absent;
    const int64_t end = i + 1 < num_lines ? line_start[i + 1] : range_end;
    for (int64_t pos = line_start[i]; pos < end; ++pos) {
      const int64_t k = order[pos];
      const double c = paf_cost(*p, k);
      buffer[cross_rank[k]] = c == positive_infinity() ? absent : c;
    }
    return {buffer};
  }
};

// Ranks the candidates of sorted positions [begin, end) of `order` by `key`
// (the source or destination peak): each distinct key gets the next rank,
// written to rank[candidate], and its first position to first[rank]
// (relative to the slot, int32: a problem's candidates fit int32, checked by
// the glue). Returns the number of distinct keys.
IDMATCH_HOST_DEVICE inline int32_t paf_rank(const int64_t* order, const int64_t* key, int64_t begin, int64_t end,
                                            int32_t* rank, int32_t* first) {
  int32_t count = 0;
  int64_t previous = 0;
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t k = order[pos];
    if (count == 0 || key[k] != previous) {
      first[count++] = static_cast<int32_t>(pos);
      previous = key[k];
    }
    rank[k] = count - 1;
  }
  return count;
}

// Marks the candidate that supplied matched cell (row, col): the last one of
// the pair in the row's run (runs list a pair's duplicates together, in
// candidate order), unless its cost is +inf (a placeholder pair).
template <typename T>
struct PafMark {
  const PafParams<T>* p;
  const int32_t* row_start;
  int64_t n_src;
  int64_t range_end;

  IDMATCH_HOST_DEVICE void operator()(int64_t row, int64_t col) const {
    const int64_t end = row + 1 < n_src ? row_start[row + 1] : range_end;
    int64_t last = -1;
    for (int64_t pos = row_start[row]; pos < end; ++pos) {
      const int64_t k = p->by_row[pos];
      if (p->dst_rank[k] == col) last = k;
    }
    if (last >= 0 && paf_cost(*p, last) != positive_infinity()) p->matched[last] = true;
  }
};

// The finite placeholder for absent cells of an infeasible problem of nr
// solver rows whose finite costs lie in [lo, hi]:
//   M = hi + (span + 1) * (nr + 1), span = hi - lo.
// Why it forces a maximum number of finite pairs: every complete assignment
// has nr pairs. Let A have a finite pairs and B b < a. Then
//   cost(B) - cost(A) >= (b lo + (nr - b) M) - (a hi + (nr - a) M)
//                      = (a - b)(M - hi) - b span       (using lo = hi - span)
//                     >= (span + 1)(nr + 1) - nr span > 0,
// so the solver's optimum has the most finite pairs there are; among
// assignments with as many, the placeholders add the same (nr - a) M, so it
// has the least finite total. Dropping the placeholder pairs leaves a
// maximum-cardinality matching of the finite pairs of least total cost. The
// bound is exact arithmetic; in float64 the totals round, relatively by
// about 2**-53 times nr M, which can only matter between totals that close.
IDMATCH_HOST_DEVICE inline double paf_placeholder(double lo, double hi, int64_t nr) {
  return hi + (hi - lo + 1.0) * static_cast<double>(nr + 1);
}

// Solves problem s. doubles and ints are the whole batch's workspace, of
// kPafDoublesPerCandidate and kPafIntsPerCandidate times the candidate count.
template <typename T>
IDMATCH_HOST_DEVICE void solve_paf_problem(const PafParams<T>& p, int64_t s, double* doubles, int32_t* ints) {
  const int64_t begin = p.starts[s];
  const int64_t end = p.starts[s + 1];
  const int64_t count = end - begin;
  if (count == 0) {
    p.status[s] = kOk;
    return;
  }
  double* const d = doubles + kPafDoublesPerCandidate * begin;
  int32_t* const q = ints + kPafIntsPerCandidate * begin;
  // Line starts are absolute sorted positions; the glue checks that the
  // candidate count fits int32.
  int32_t* const row_start = q + 2 * kIntsPerUnit * count;
  int32_t* const col_start = row_start + count;
  const int64_t n_src = paf_rank(p.by_row, p.src, begin, end, p.src_rank, row_start);
  const int64_t n_dst = paf_rank(p.by_col, p.dst, begin, end, p.dst_rank, col_start);
  const bool transposed = n_src > n_dst;
  const int64_t nr = transposed ? n_dst : n_src;
  const int64_t nc = transposed ? n_src : n_dst;
  const Workspace ws = make_workspace(d, q, nr, nc);
  double* const buffer = d + 2 * kDoublesPerUnit * count;

  PafLines<T> lines{&p,
                    transposed ? p.by_col : p.by_row,
                    transposed ? col_start : row_start,
                    transposed ? p.src_rank : p.dst_rank,
                    nr,
                    end,
                    nc,
                    positive_infinity(),
                    buffer};
  const PafMark<T> mark{&p, row_start, n_src, end};
  Status status = solve_problem(lines, n_src, n_dst, ws, mark);
  if (status == kInfeasible) {
    // scipy would raise; this op answers with the largest matching of finite
    // pairs instead (see paf_placeholder). The first solve stopped before
    // writing any pair, so nothing is marked yet.
    // The bounds are over the matrix's finite cells: of a pair's duplicates
    // (adjacent in the row order) only the last counts, as only it is in the
    // matrix; an earlier one may even be -inf, which a later one replaced.
    double lo = positive_infinity(), hi = -positive_infinity();
    for (int64_t pos = begin; pos < end; ++pos) {
      const int64_t k = p.by_row[pos];
      if (pos + 1 < end) {
        const int64_t next = p.by_row[pos + 1];
        if (p.src[next] == p.src[k] && p.dst[next] == p.dst[k]) continue;
      }
      const double c = paf_cost(p, k);
      if (c == positive_infinity()) continue;  // no -inf left: the solve would have refused it
      lo = c < lo ? c : lo;
      hi = c > hi ? c : hi;
    }
    status = kInfeasibleResolved;
    if (lo != positive_infinity()) {
      lines.absent = paf_placeholder(lo, hi, nr);
      // A placeholder that overflows float64 (costs near its limit) leaves
      // the problem as scipy has it: infeasible.
      if (lines.absent == positive_infinity()) status = kInfeasible;
      else if (solve_problem(lines, n_src, n_dst, ws, mark) != kOk) status = kInfeasible;
    }
  }
  p.status[s] = status;
}

}  // namespace core
}  // namespace idmatch

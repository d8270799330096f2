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
#include "lsa_team.h"

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

// The solver's view of a problem, line by line: solver row i is source row
// i, or source column i when transposed (more rows than columns, as scipy
// transposes), made from that line's run of the sorted order. A cell no
// candidate fills costs `absent`; so does a candidate's +inf when `absent`
// is finite (the placeholder solve, below). Candidates of a pair come in
// candidate order within the run, so the last one is written last and wins.
template <typename T>
struct PafRuns {
  const PafParams<T>* p;
  const int64_t* order;       // by_row, or by_col when transposed
  const int32_t* line_start;  // sorted position of each line's first candidate
  const int32_t* cross_rank;  // dst_rank, or src_rank when transposed
  int64_t num_lines;
  int64_t range_end;    // end of the problem's sorted range
  int64_t line_length;  // nc
  double absent;

  IDMATCH_HOST_DEVICE int64_t line_end(int64_t i) const { return i + 1 < num_lines ? line_start[i + 1] : range_end; }

  // Line i into out[0, line_length).
  IDMATCH_HOST_DEVICE void fill_line(int64_t i, double* out) const {
    for (int64_t j = 0; j < line_length; ++j) out[j] = absent;
    for (int64_t pos = line_start[i], end = line_end(i); pos < end; ++pos) {
      const int64_t k = order[pos];
      const double c = paf_cost(*p, k);
      out[cross_rank[k]] = c == positive_infinity() ? absent : c;
    }
  }

  // The cell of the candidate at sorted position pos of a run that ends at
  // `end` into out, unless a later candidate of its pair follows it (that
  // one wins): the lanes of a team fill one line's positions at once.
  IDMATCH_HOST_DEVICE void fill_position(int64_t pos, int64_t end, double* out) const {
    const int64_t k = order[pos];
    if (pos + 1 < end && cross_rank[order[pos + 1]] == cross_rank[k]) return;
    const double c = paf_cost(*p, k);
    out[cross_rank[k]] = c == positive_infinity() ? absent : c;
  }

  // Cell (i, j) alone, by a scan of line i's run.
  IDMATCH_HOST_DEVICE double cell(int64_t i, int64_t j) const {
    double c = absent;
    for (int64_t pos = line_start[i], end = line_end(i); pos < end; ++pos) {
      const int64_t k = order[pos];
      if (cross_rank[k] != j) continue;
      const double cost = paf_cost(*p, k);
      c = cost == positive_infinity() ? absent : cost;
    }
    return c;
  }
};

// The cost accessor of one thread: row(i) fills the row buffer and returns
// it. The solver reads one line at a time (each line object is dropped
// before the next row() call, see lsa_core.h), so one buffer serves all
// lines.
template <typename T>
struct PafLines {
  PafRuns<T> runs;
  double* buffer;

  IDMATCH_HOST_DEVICE DenseRowMajor::Line row(int64_t i) const {
    runs.fill_line(i, buffer);
    return {buffer};
  }
};

// The cost accessor of a team, whose lanes read cells concurrently and so
// share no buffer: a cell is a scan of its line's run (SerialTeam reads
// those). A tile stages whole lines instead (kFillsLines): lane i fills line
// i, with the same fill_line as PafLines, then every lane reads its column.
template <typename T>
struct PafCells {
  static constexpr bool kFillsLines = true;
  PafRuns<T> runs;

  struct Line {
    const PafRuns<T>* runs;
    int64_t i;

    IDMATCH_HOST_DEVICE double operator()(int64_t j) const { return runs->cell(i, j); }
  };

  IDMATCH_HOST_DEVICE Line row(int64_t i) const { return {&runs, i}; }
  IDMATCH_HOST_DEVICE void fill_line(int64_t i, double* out) const { runs.fill_line(i, out); }
};

// The cost accessor of a team too wide to stage its problem (a thread
// block, or SerialTeam in its place): row(i) is a collective that fills
// line i into a buffer of nc doubles that the lanes share, each lane
// setting its own columns to `absent`, then, after the team's barrier, its
// share of the line's run (fill_position). A lane reads only its own
// columns of a line, so the next line's first writes need no barrier before
// them; its run's writes come after one. The team needs
// for_column_indices(f) and for_share(n, f) (lsa_teams.cuh's BlockTeam,
// SerialTeam). Cells read alone (lone_cell) scan their line's run.
template <typename T, class Team>
struct PafTeamLines {
  static constexpr bool kCollectiveRows = true;
  PafRuns<T> runs;
  double* buffer;
  const Team* team;

  IDMATCH_HOST_DEVICE DenseRowMajor::Line row(int64_t i) const {
    team->for_column_indices([&](int32_t j) { buffer[j] = runs.absent; });
    team->sync();
    const int64_t begin = runs.line_start[i], end = runs.line_end(i);
    team->for_share(end - begin, [&](int64_t k) { runs.fill_position(begin + k, end, buffer); });
    team->sync();
    return {buffer};
  }
  IDMATCH_HOST_DEVICE double cell(int64_t i, int64_t j) const { return runs.cell(i, j); }
};

// Ranks the candidates of sorted positions [begin, end) of `order` by `key`
// (the source or destination peak): each distinct key gets the next rank,
// written to rank[candidate], and its first position to first[rank]
// (the sorted position itself, int32: all of a call's candidates fit int32,
// checked by the glue). Returns the number of distinct keys.
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

// Problem s's ranges and its slot of the batch's workspace (doubles and
// ints, of kPafDoublesPerCandidate and kPafIntsPerCandidate times the
// candidate count); n_src and n_dst are set by rank_paf_problem.
struct PafProblem {
  int64_t begin, end;
  int64_t n_src, n_dst;
  double* doubles;
  int32_t* ints;
  int32_t* row_start;  // sorted position of each source's first candidate
  int32_t* col_start;  // and of each destination's

  IDMATCH_HOST_DEVICE bool transposed() const { return n_src > n_dst; }
  IDMATCH_HOST_DEVICE int64_t solver_rows() const { return transposed() ? n_dst : n_src; }
  IDMATCH_HOST_DEVICE int64_t solver_cols() const { return transposed() ? n_src : n_dst; }
  // The solver's workspace, then the row buffer of PafLines (or the line
  // buffer of PafTeamLines).
  IDMATCH_HOST_DEVICE Workspace workspace() const {
    return make_workspace(doubles, ints, solver_rows(), solver_cols());
  }
  IDMATCH_HOST_DEVICE double* row_buffer() const { return doubles + 2 * kDoublesPerUnit * (end - begin); }
};

template <typename T>
IDMATCH_HOST_DEVICE PafProblem paf_problem(const PafParams<T>& p, int64_t s, double* doubles, int32_t* ints) {
  PafProblem q;
  q.begin = p.starts[s];
  q.end = p.starts[s + 1];
  q.n_src = 0;
  q.n_dst = 0;
  const int64_t count = q.end - q.begin;
  q.doubles = doubles + kPafDoublesPerCandidate * q.begin;
  q.ints = ints + kPafIntsPerCandidate * q.begin;
  // Line starts are absolute sorted positions; the glue checks that the
  // candidate count fits int32.
  q.row_start = q.ints + 2 * kIntsPerUnit * count;
  q.col_start = q.row_start + count;
  return q;
}

// Ranks the problem's sources and destinations (src_rank, dst_rank,
// row_start, col_start) and counts them into q.
template <typename T>
IDMATCH_HOST_DEVICE void rank_paf_problem(const PafParams<T>& p, PafProblem& q) {
  q.n_src = paf_rank(p.by_row, p.src, q.begin, q.end, p.src_rank, q.row_start);
  q.n_dst = paf_rank(p.by_col, p.dst, q.begin, q.end, p.dst_rank, q.col_start);
}

// The oriented runs of a ranked problem, with `absent` cells.
template <typename T>
IDMATCH_HOST_DEVICE PafRuns<T> paf_runs(const PafParams<T>& p, const PafProblem& q, double absent) {
  const bool t = q.transposed();
  return {&p,
          t ? p.by_col : p.by_row,
          t ? q.col_start : q.row_start,
          t ? p.src_rank : p.dst_rank,
          q.solver_rows(),
          q.end,
          q.solver_cols(),
          absent};
}

// The bounds [lo, hi] of the problem's finite cells (lo = +inf when none).
// Of a pair's duplicates (adjacent in the row order) only the last counts,
// as only it is in the matrix; an earlier one may even be -inf, which a
// later one replaced.
template <typename T>
IDMATCH_HOST_DEVICE void paf_finite_bounds(const PafParams<T>& p, const PafProblem& q, double* lo, double* hi) {
  *lo = positive_infinity();
  *hi = -positive_infinity();
  for (int64_t pos = q.begin; pos < q.end; ++pos) {
    const int64_t k = p.by_row[pos];
    if (pos + 1 < q.end) {
      const int64_t next = p.by_row[pos + 1];
      if (p.src[next] == p.src[k] && p.dst[next] == p.dst[k]) continue;
    }
    const double c = paf_cost(p, k);
    if (c == positive_infinity()) continue;  // no -inf left: the solve would have refused it
    *lo = c < *lo ? c : *lo;
    *hi = c > *hi ? c : *hi;
  }
}

// Solves a ranked problem with solve(absent) -> Status, which solves the
// problem with its absent cells at `absent` and marks its pairs (PafMark).
template <typename T, class Solve>
IDMATCH_HOST_DEVICE Status solve_ranked_paf_problem(const PafParams<T>& p, const PafProblem& q, Solve&& solve) {
  Status status = solve(positive_infinity());
  if (status != kInfeasible) return status;
  // scipy would raise; this op answers with the largest matching of finite
  // pairs instead (see paf_placeholder). The first solve stopped before
  // writing any pair, so nothing is marked yet.
  double lo = 0.0, hi = 0.0;
  paf_finite_bounds(p, q, &lo, &hi);
  if (lo == positive_infinity()) return kInfeasibleResolved;
  const double absent = paf_placeholder(lo, hi, q.solver_rows());
  // A placeholder that overflows float64 (costs near its limit) leaves the
  // problem as scipy has it: infeasible.
  if (absent == positive_infinity()) return kInfeasible;
  return solve(absent) == kOk ? kInfeasibleResolved : kInfeasible;
}

template <typename T>
IDMATCH_HOST_DEVICE PafMark<T> paf_mark(const PafParams<T>& p, const PafProblem& q) {
  return {&p, q.row_start, q.n_src, q.end};
}

// Solves a ranked problem by one thread.
template <typename T>
IDMATCH_HOST_DEVICE Status solve_ranked_paf_problem_by_thread(const PafParams<T>& p, const PafProblem& q) {
  return solve_ranked_paf_problem(p, q, [&](double absent) {
    const PafLines<T> lines{paf_runs(p, q, absent), q.row_buffer()};
    return solve_problem(lines, q.n_src, q.n_dst, q.workspace(), paf_mark(p, q));
  });
}

// Solves problem s by one thread. doubles and ints are the whole batch's
// workspace.
template <typename T>
IDMATCH_HOST_DEVICE void solve_paf_problem(const PafParams<T>& p, int64_t s, double* doubles, int32_t* ints) {
  PafProblem q = paf_problem(p, s, doubles, ints);
  rank_paf_problem(p, q);
  p.status[s] = solve_ranked_paf_problem_by_thread(p, q);
}

// Solves a ranked problem with a team built for its oriented_dims;
// status[s] is written by the lane for which `leader` holds.
template <class Team, typename T>
IDMATCH_HOST_DEVICE void solve_ranked_paf_problem_team(Team& team, const PafParams<T>& p, int64_t s,
                                                       const PafProblem& q, bool leader) {
  const Status status = solve_ranked_paf_problem(p, q, [&](double absent) {
    const PafCells<T> cells{paf_runs(p, q, absent)};
    return solve_problem_team(team, cells, q.n_src, q.n_dst, paf_mark(p, q));
  });
  if (leader) p.status[s] = status;
}

// Solves a ranked problem with a team that reads it line by line
// (PafTeamLines) from line_buffer, of at least q.solver_cols() doubles.
template <class Team, typename T>
IDMATCH_HOST_DEVICE void solve_ranked_paf_problem_by_lines(Team& team, const PafParams<T>& p, int64_t s,
                                                           const PafProblem& q, double* line_buffer, bool leader) {
  const Status status = solve_ranked_paf_problem(p, q, [&](double absent) {
    const PafTeamLines<T, Team> lines{paf_runs(p, q, absent), line_buffer, &team};
    return solve_problem_team(team, lines, q.n_src, q.n_dst, paf_mark(p, q));
  });
  if (leader) p.status[s] = status;
}

// The widest problem, in the solver's orientation, that the CUDA kernel
// solves with a tile of lanes; its wider problems take the thread block.
constexpr int64_t kPafTileColumns = kMaxTileColumns;

// Problem s solved as the CUDA kernel solves it, lane after lane
// (SerialTeam): as a tile where a tile would solve it, else as the block,
// in the problem's workspace and row buffer: the CPU's imitation.
template <typename T>
void solve_paf_problem_serial_team(const PafParams<T>& p, int64_t s, double* doubles, int32_t* ints) {
  PafProblem q = paf_problem(p, s, doubles, ints);
  rank_paf_problem(p, q);
  const int32_t nr = static_cast<int32_t>(q.solver_rows());
  const int32_t nc = static_cast<int32_t>(q.solver_cols());
  SerialTeam team{{q.workspace(), nr, nc}};
  if (q.solver_cols() > kPafTileColumns) {
    solve_ranked_paf_problem_by_lines(team, p, s, q, q.row_buffer(), /*leader=*/true);
  } else {
    solve_ranked_paf_problem_team(team, p, s, q, /*leader=*/true);
  }
}

}  // namespace core
}  // namespace idmatch

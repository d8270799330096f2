// A CPU-only solver for small problems (at most 16 rows and 16 columns in the
// solver's orientation) that solves eight problems at once with AVX-512, one
// per vector lane: one scan of scipy's algorithm is then a pass over the
// columns in which every operation serves all eight problems, and branches
// depend on all eight at once, where a single problem's search mispredicts a
// branch about every other scan.
//
// It computes exactly what csrc/core/lsa_core.h computes: the same float64
// operations on the same operands in the same order per column, the same
// column order in every scan (each column's place in scipy's `remaining` is
// kept) and the same tie rule. The shared core stays the reference: it is
// what the CUDA kernels run and what every other CPU problem uses, and the
// CPU kernels use it for small problems too where the AVX-512 kernels are off
// (avx512.h). See docs/design.md, "The small solver".
#pragma once

#include <cstdint>

namespace idmatch {
namespace ops {

// Largest dimension, in the solver's orientation, of a problem this solver
// takes: a row index fits in 4 bits and a set of columns in 16.
constexpr int64_t kSmallMaxDim = 16;

// Most problems solved per call: the solver keeps eight of them going at
// once and gives a lane that finishes the next one, so a batch of many keeps
// the lanes busy.
constexpr int kSmallBatch = 128;

// One problem, in the solver's orientation (nr <= nc), minimizing. Rows are
// kSmallMaxDim doubles apart; the solver loads whole rows but uses no entry
// past nc.
struct alignas(64) SmallProblem {
  double cost[kSmallMaxDim * kSmallMaxDim];
  int32_t nr;
  int32_t nc;
  // Outputs: status is core::kOk or core::kInfeasible; when ok, row4col[j]
  // is the row of column j or -1, and col4row[i] the column of row i.
  int32_t status;
  int32_t row4col[kSmallMaxDim];
  int32_t col4row[kSmallMaxDim];
};

// Solves count (1 to kSmallBatch) problems. Call only when avx512_kernels_enabled().
void solve_small_problems(SmallProblem* problems, int count);

// Fills the cost of `small` (its nr and nc set) with rows of nc contiguous
// elements, row_stride elements apart, negated when `negate`: the fast path
// of core::copy_ragged_problem for rows already in the solver's orientation.
// Returns small_problem_valid(small). Call only when avx512_kernels_enabled().
bool load_small_rows(const float* rows, int64_t row_stride, bool negate, SmallProblem& small);
bool load_small_rows(const double* rows, int64_t row_stride, bool negate, SmallProblem& small);

// The same from the problem's source rows wherever they are, entries
// contiguous: source row r starts at cost + row_start[r]. Rows are the
// solver's rows, or its columns when `transposed`. For rows through a row
// index (match_peaks_to_classes' groups) and tall problems; contiguous rows in
// the solver's orientation take load_small_rows, with one row address fewer
// to look up per row.
bool load_small_problem(const float* cost, const int64_t* row_start, bool transposed, bool negate, SmallProblem& small);
bool load_small_problem(const double* cost, const int64_t* row_start, bool transposed, bool negate,
                        SmallProblem& small);

// The filter core::MatchFilter::kRowMax on a solved problem (status ok): bit r
// is set for each source row r whose matched entry is the row's best (the
// least of the solver's values, which are negated when maximizing; the
// greatest when minimizing), so that no entry of the row beats it. Source
// rows are the solver's rows, or its columns when `transposed`; unmatched
// ones have no bit. The comparisons are vector ones, where a loop that
// stops at the first better entry mispredicts about every other row. Call
// only when avx512_kernels_enabled().
uint32_t best_matched_rows(const SmallProblem& small, bool transposed, bool maximize);

// Whether the nr x nc entries of `small` are free of NaN and -inf, which the
// solver must not be given (scipy refuses them before it solves). Call only
// when avx512_kernels_enabled().
bool small_problem_valid(const SmallProblem& small);

}  // namespace ops
}  // namespace idmatch

// A CPU-only solver for small problems (at most 16 rows and 16 columns in the
// solver's orientation) that keeps a whole problem in AVX-512 registers: one
// scan of scipy's algorithm relaxes every column at once instead of one
// column per iteration, and two problems are solved in alternation so that
// one's chain of dependent operations fills the other's wait.
//
// It computes exactly what csrc/core/lsa_core.h computes: the same float64
// operations on the same operands in the same order per column, the same
// column order in every scan (replayed from the removals when a tie needs it)
// and the same tie rule. The shared core stays the reference: it is what the
// CUDA kernels run and what every other CPU problem uses, and setting
// IDMATCH_CPU_SOLVER=portable makes the CPU kernels use it for small problems
// too, which is how the test suite checks the shared core on a machine with
// AVX-512 (see the Makefile's test target).
#pragma once

#include <cstdint>

namespace idmatch {
namespace ops {

// Largest dimension, in the solver's orientation, of a problem this solver
// takes: 16 float64 lanes are two AVX-512 registers.
constexpr int64_t kSmallMaxDim = 16;

// One problem, in the solver's orientation (nr <= nc), minimizing. Rows are
// kSmallMaxDim doubles apart; lanes past nc are never read as columns.
struct alignas(64) SmallProblem {
  double cost[kSmallMaxDim * kSmallMaxDim];
  int32_t nr;
  int32_t nc;
  // Outputs: row4col[j] is the row of column j or -1; status is
  // core::kOk or core::kInfeasible.
  int32_t row4col[kSmallMaxDim];
  int32_t status;
  // Solver scratch.
  int32_t path[kSmallMaxDim];
  int32_t col4row[kSmallMaxDim];
  int32_t taken[kSmallMaxDim];
};

// Whether the small solver is used: the CPU has AVX-512 (F, DQ, VL) and
// IDMATCH_CPU_SOLVER is not "portable". Decided once per process.
bool small_solver_enabled();

// Solves count (1 or 2) problems. Call only when small_solver_enabled().
void solve_small_problems(SmallProblem* problems, int count);

// Fills the cost of `small` (its nr and nc set) with rows of nc contiguous
// elements, row_stride elements apart, negated when `negate`: the fast path
// of core::copy_ragged_problem for rows already in the solver's orientation.
// Call only when small_solver_enabled().
void load_small_rows(const float* rows, int64_t row_stride, bool negate, SmallProblem& small);
void load_small_rows(const double* rows, int64_t row_stride, bool negate, SmallProblem& small);

// Whether the nr x nc entries of `small` are free of NaN and -inf, which the
// solver must not be given (scipy refuses them before it solves). Call only
// when small_solver_enabled().
bool small_problem_valid(const SmallProblem& small);

}  // namespace ops
}  // namespace idmatch

// CPU kernel of the ragged linear sum assignment op.
#include <algorithm>
#include <atomic>
#include <type_traits>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../../core/ragged_lsa.h"
#include "../cuda_path.h"
#include "../ragged_lsa_checks.h"
#include "../ragged_lsa_params.h"
#include "avx512.h"
#include "cuda_path_kernels.h"
#include "ragged_lsa_cpu.h"
#include "small_lsa.h"

namespace idmatch {
namespace ops {
namespace {

// Work per parallel chunk, in units of the solver's rough cost rows * cols *
// min(rows, cols), about a nanosecond each. A parallel region pays off only
// for calls of half a millisecond or more: when another process holds a core,
// as in a real pipeline, the region waits for a descheduled thread for
// milliseconds, many times a short call's own time, so smaller calls stay
// serial.
constexpr int64_t kWorkPerChunk = 500000;

// The small solver's batch buffer, one per thread and kept (280 KiB): filling
// a fresh one with zeros would cost small calls more than their solving.
SmallProblem* thread_small_problems() {
  static thread_local std::vector<SmallProblem> problems(kSmallBatch);
  return problems.data();
}

// Writes -1 for every row of problem s: before a problem whose rows are not
// all assigned is solved, when the caller left col_for_row unfilled.
template <typename T>
void unassign_rows(const core::RaggedLsaParams<T>& p, int64_t s) {
  const core::StridedRows<T> rows = core::problem_rows(p, s);
  const int64_t n = p.offsets[s + 1] - p.offsets[s];
  for (int64_t r = 0; r < n; ++r) p.col_for_row[rows.source_row(r)] = -1;
}

// Problems of up to kSmallMaxDim rows and columns go to the small solver, up
// to kSmallBatch at a time; the others to the shared core.
template <typename T>
struct SmallBatch {
  const core::RaggedLsaParams<T>& p;
  bool fill_rows;  // col_for_row is not pre-filled: write -1 where no column is
  SmallProblem* problems = thread_small_problems();
  int64_t index[kSmallBatch];
  int count = 0;

  static bool takes(int64_t n, int64_t m) { return n >= 1 && m >= 1 && n <= kSmallMaxDim && m <= kSmallMaxDim; }

  // Loads problem s (n rows) in the small solver's layout, as the solver
  // sees it; one that holds NaN or -inf is refused before anything is
  // solved, as scipy does.
  void add(int64_t s, int64_t n) {
    const int64_t m = p.num_cols;
    const bool transposed = n > m;
    SmallProblem& small = problems[count];
    small.nr = static_cast<int32_t>(transposed ? m : n);
    small.nc = static_cast<int32_t>(transposed ? n : m);
    bool loaded = false, valid = false;
    if constexpr (std::is_same<T, float>::value || std::is_same<T, double>::value) {
      if (!transposed && p.col_stride == 1 && p.row_index == nullptr) {
        valid = load_small_rows(p.cost + p.offsets[s] * p.row_stride, p.row_stride, p.maximize, small);
        loaded = true;
      } else if (p.col_stride == 1) {
        int64_t row_start[kSmallMaxDim];
        const core::StridedRows<T> rows = core::problem_rows(p, s);
        for (int64_t r = 0; r < n; ++r) row_start[r] = rows.source_row(r) * p.row_stride;
        valid = load_small_problem(p.cost, row_start, transposed, p.maximize, small);
        loaded = true;
      }
    }
    if (!loaded) {
      core::copy_ragged_problem(p, s, n, small.cost, kSmallMaxDim);
      valid = small_problem_valid(small);
    }
    if (!valid) {
      p.status[s] = core::kInvalidEntries;
      if (fill_rows) unassign_rows(p, s);
      return;
    }
    index[count++] = s;
    if (count == kSmallBatch) flush();
  }

  // Solves the pending problems and reports their pairs in ascending source
  // row order, as core::solve_problem does.
  void flush() {
    if (count == 0) return;
    solve_small_problems(problems, count);
    const bool row_max_only = p.match_filter == core::MatchFilter::kRowMax;
    for (int k = 0; k < count; ++k) {
      const SmallProblem& small = problems[k];
      const int64_t s = index[k];
      p.status[s] = small.status;
      const bool transposed = p.offsets[s + 1] - p.offsets[s] > p.num_cols;
      if (small.status == core::kOk && !transposed && !row_max_only && p.row_index == nullptr) {
        // Every row of the problem is assigned, to a column of its own.
        int64_t* const out = p.col_for_row + p.offsets[s];
        for (int32_t i = 0; i < small.nr; ++i) out[i] = small.col4row[i];
        continue;
      }
      if (fill_rows) unassign_rows(p, s);
      if (small.status != core::kOk) continue;
      const core::StridedRows<T> rows = core::problem_rows(p, s);
      if (row_max_only) {
        // The filter's test (core::WriteAssignment) on the solver's copy,
        // whose values are the source's, negated when maximizing, and exact
        // in float64.
        const int32_t* const matched = transposed ? small.row4col : small.col4row;
        const uint32_t kept = best_matched_rows(small, transposed, p.maximize);
        const int32_t num_source_rows = transposed ? small.nc : small.nr;
        for (int32_t r = 0; r < num_source_rows; ++r) {
          if (kept >> r & 1u) p.col_for_row[rows.source_row(r)] = matched[r];
        }
      } else if (!transposed) {
        for (int32_t i = 0; i < small.nr; ++i) p.col_for_row[rows.source_row(i)] = small.col4row[i];
      } else {
        for (int32_t j = 0; j < small.nc; ++j) {
          if (small.row4col[j] >= 0) p.col_for_row[rows.source_row(j)] = small.row4col[j];
        }
      }
    }
    count = 0;
  }
};

// fill_rows: col_for_row is not pre-filled, so every row that gets no column
// is written -1 here, rows of problems that fail and rows outside every
// problem included. The op leaves the filling to the threads, problem by
// problem, and skips it where the small solver assigns every row of a
// problem, rather than filling the whole output first: a serial pass of its
// own, which the threads would not share.
template <typename T>
void solve_all(const core::RaggedLsaParams<T>& p, bool fill_rows) {
  const int64_t num_problems = p.num_problems;
  if (!core::offsets_valid(p.offsets, num_problems, p.num_rows)) {
    std::fill(p.status, p.status + num_problems, core::kInvalidProblem);
    if (fill_rows) std::fill(p.col_for_row, p.col_for_row + p.num_rows, int64_t{-1});
    return;
  }
  if (num_problems == 0) {
    // No problem, so no row is in one (and offsets[0] was never checked).
    if (fill_rows) std::fill(p.col_for_row, p.col_for_row + p.num_rows, int64_t{-1});
    return;
  }
  if (fill_rows) {
    // Valid offsets rise from offsets[0] to offsets[num_problems]: the
    // problems cover exactly the rows between them.
    std::fill(p.col_for_row, p.col_for_row + p.offsets[0], int64_t{-1});
    std::fill(p.col_for_row + p.offsets[num_problems], p.col_for_row + p.num_rows, int64_t{-1});
  }
  const int64_t m = p.num_cols;
  const double mean_rows = static_cast<double>(p.num_rows) / static_cast<double>(num_problems);
  const double mean_work = (mean_rows + 1) * (m + 1) * (std::min(mean_rows, static_cast<double>(m)) + 1);
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kWorkPerChunk / mean_work));
  const bool use_small = m <= kSmallMaxDim && avx512_kernels_enabled();

  const auto solve_range = [&](int64_t begin, int64_t end) {
    // One workspace per chunk, sized for its largest solvable problem.
    int64_t slot = 0, dense_size = 0;
    for (int64_t s = begin; s < end; ++s) {
      const int64_t n = p.offsets[s + 1] - p.offsets[s];
      if (n == 0 || m == 0 || n > core::kMaxDim || m > core::kMaxDim) continue;
      slot = std::max(slot, n + m);
      if (core::needs_dense_copy(p, n)) dense_size = std::max(dense_size, n * m);
    }
    std::vector<double> doubles(core::kDoublesPerUnit * slot);
    std::vector<int32_t> ints(core::kIntsPerUnit * slot);
    std::vector<double> dense(dense_size);
    SmallBatch<T> small{p, fill_rows};
    for (int64_t s = begin; s < end; ++s) {
      const int64_t n = p.offsets[s + 1] - p.offsets[s];
      if (use_small && SmallBatch<T>::takes(n, m)) {
        small.add(s, n);
        continue;
      }
      if (fill_rows) unassign_rows(p, s);
      core::solve_ragged_problem(p, s, doubles.data(), ints.data(), dense.data());
    }
    small.flush();
  };
  const int num_threads = at::get_num_threads();
  if (num_problems <= grain || num_threads == 1 || at::in_parallel_region()) {
    solve_range(0, num_problems);
    return;
  }
  // Threads take chunks of a grain from a shared counter rather than a
  // fixed share each: a thread that another process slows down then does
  // less of the work instead of holding up the call. Problems are
  // independent, so the answers do not depend on who solves what.
  const int64_t num_chunks = (num_problems + grain - 1) / grain;
  std::atomic<int64_t> next_chunk{0};
  at::parallel_for(0, num_threads, 1, [&](int64_t, int64_t) {
    for (int64_t c = next_chunk++; c < num_chunks; c = next_chunk++) {
      solve_range(c * grain, std::min(num_problems, (c + 1) * grain));
    }
  });
}

void run_batch(const at::Tensor& cost, const int64_t* offsets, int64_t num_problems, const int64_t* row_index,
               bool maximize, core::MatchFilter match_filter, bool fill_rows, at::Tensor& col_for_row,
               at::Tensor& status) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cost.scalar_type(), "ragged_lsa_cpu", [&] {
    const auto p = ragged_lsa_params<scalar_t>(cost, offsets, num_problems, row_index, maximize, match_filter,
                                               col_for_row, status);
    solve_all(p, fill_rows);
  });
}

std::tuple<at::Tensor, at::Tensor> ragged_linear_sum_assignment_cpu(const at::Tensor& cost, const at::Tensor& offsets,
                                                                    bool maximize) {
  check_ragged_lsa_args(cost, offsets);
  if (cuda_path_enabled()) return cuda_path::ragged_linear_sum_assignment(HostKernels{}, cost, offsets, maximize);
  // Left unfilled: the solve writes -1 where it assigns nothing.
  auto col_for_row = at::empty({cost.size(0)}, cost.options().dtype(at::kLong));
  auto status = at::empty({offsets.size(0) - 1}, cost.options().dtype(at::kInt));
  const auto offsets_contiguous = offsets.contiguous();
  run_batch(cost, offsets_contiguous.const_data_ptr<int64_t>(), offsets.size(0) - 1, nullptr, maximize,
            core::MatchFilter::kAll,
            /*fill_rows=*/true, col_for_row, status);
  return {col_for_row, status};
}

}  // namespace

void run_ragged_lsa_cpu(const at::Tensor& cost, const int64_t* offsets, int64_t num_problems, const int64_t* row_index,
                        bool maximize, core::MatchFilter match_filter, at::Tensor& col_for_row, at::Tensor& status) {
  run_batch(cost, offsets, num_problems, row_index, maximize, match_filter, /*fill_rows=*/false, col_for_row, status);
}

}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CPU, m) {
  m.impl("ragged_linear_sum_assignment", &idmatch::ops::ragged_linear_sum_assignment_cpu);
}

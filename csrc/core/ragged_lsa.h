// One problem of a ragged batch: the per-problem code that the CPU kernel and
// the CUDA kernel both run. Plain pointers only, no ATen.
//
// A ragged batch is a cost array (num_rows, num_cols) whose rows are split into
// problems by CSR offsets: problem s owns rows [offsets[s], offsets[s + 1]).
// When row_index is set, row r of the batch is row row_index[r] of the cost
// array (the identity ops group peaks this way without copying them).
#pragma once

#include <type_traits>

#include "lsa_core.h"

namespace idmatch {
namespace core {

// Which matched (row, col) pairs a solve writes. kRowMax writes a pair only
// where cost[row][col] equals the row's largest entry, compared exactly (as
// the reference's `==`): the identity ops' keep-best filter, which keeps a
// peak's class only where it is the peak's most probable one.
enum class MatchFilter : uint8_t { kAll, kRowMax };

template <typename T>
struct RaggedLsaParams {
  const T* cost;
  int64_t row_stride;
  int64_t col_stride;
  int64_t num_rows;
  int64_t num_cols;
  const int64_t* offsets;  // num_problems + 1
  int64_t num_problems;
  // May be null. Else row r of the batch (r < offsets[num_problems]) is cost
  // row row_index[r]; the identity ops list only their grouped peaks.
  const int64_t* row_index;
  bool maximize;
  MatchFilter match_filter;
  // num_rows; only assigned rows are written (at row_index[r] if set), so
  // the caller pre-fills it, or the CPU op's solve writes -1 (fill_rows).
  int64_t* col_for_row;
  int32_t* status;  // num_problems
};

// Offsets are usable when they rise monotonically inside [0, num_rows]. A
// single bad pair can make other problems overlap, so the whole batch is
// checked before any problem runs (see offsets_valid).
IDMATCH_HOST_DEVICE inline bool offsets_pair_valid(const int64_t* offsets, int64_t s, int64_t num_rows) {
  const int64_t begin = offsets[s];
  const int64_t end = offsets[s + 1];
  return 0 <= begin && begin <= end && end <= num_rows;
}

// Whether every pair of offsets is usable: the whole batch's check, serially
// (the CUDA kernel checks the pairs in a grid-stride loop of its own).
inline bool offsets_valid(const int64_t* offsets, int64_t num_problems, int64_t num_rows) {
  for (int64_t s = 0; s < num_problems; ++s) {
    if (!offsets_pair_valid(offsets, s, num_rows)) return false;
  }
  return true;
}

// Workspace slot of problem s in a buffer shared by all problems of a batch
// with valid offsets: problem s needs k * (rows_s + num_cols) elements (k is
// kDoublesPerUnit or kIntsPerUnit, see lsa_core.h), so slot s starts at
// k * (offsets[s] + s * num_cols) and the buffer holds
// k * (num_rows + num_problems * num_cols).
IDMATCH_HOST_DEVICE inline int64_t workspace_slot(const int64_t* offsets, int64_t s, int64_t num_cols) {
  return offsets[s] + s * num_cols;
}

// Element counts of that shared workspace, times kDoublesPerUnit doubles and
// kIntsPerUnit int32s.
inline int64_t workspace_units(int64_t num_rows, int64_t num_problems, int64_t num_cols) {
  return num_rows + num_problems * num_cols;
}

// Whether entry (r, c) of a source is the largest of its row's num_cols
// entries, compared exactly: the kRowMax filter.
template <class Source>
IDMATCH_HOST_DEVICE bool is_row_max(const Source& source, int64_t r, int64_t c, int64_t num_cols) {
  const double matched = source(r, c);
  for (int64_t k = 0; k < num_cols; ++k) {
    if (source(r, k) > matched) return false;
  }
  return true;
}

template <class Source>
struct WriteAssignment {
  Source source;
  int64_t num_cols;
  MatchFilter match_filter;
  int64_t* col_for_row;

  IDMATCH_HOST_DEVICE void operator()(int64_t r, int64_t c) const {
    if (match_filter == MatchFilter::kRowMax && !is_row_max(source, r, c, num_cols)) return;
    col_for_row[source.source_row(r)] = c;
  }
};

// The source rows of problem s, in batch order.
template <typename T>
IDMATCH_HOST_DEVICE StridedRows<T> problem_rows(const RaggedLsaParams<T>& p, int64_t s) {
  return {p.cost, p.row_stride, p.col_stride, p.row_index, p.offsets[s]};
}

// Copies the solver's view of a problem (nr x nc) into float64 rows
// dense_stride elements apart.
template <class Cost>
IDMATCH_HOST_DEVICE void copy_oriented(const Cost& cost, int64_t nr, int64_t nc, double* dense, int64_t dense_stride) {
  for (int64_t i = 0; i < nr; ++i) {
    const auto line = cost.row(i);
    for (int64_t j = 0; j < nc; ++j) dense[i * dense_stride + j] = line(j);
  }
}

// Copies the transpose of n source rows of m entries (negated when Negate):
// source row r becomes column r of dense, rows dense_stride elements apart.
// Read a source row at a time, so that each row's address (through a row
// index too) is found once.
template <typename T, bool Negate>
IDMATCH_HOST_DEVICE void copy_transposed(const StridedRows<T>& source, int64_t n, int64_t m, double* dense,
                                         int64_t dense_stride) {
  for (int64_t r = 0; r < n; ++r) {
    const auto line = source.template row_line<Negate>(r);
    for (int64_t k = 0; k < m; ++k) dense[k * dense_stride + r] = line(k);
  }
}

// Copies problem s (n rows) of a batch as the solver sees it: transposed when
// tall, negated when maximizing.
template <typename T>
IDMATCH_HOST_DEVICE void copy_ragged_problem(const RaggedLsaParams<T>& p, int64_t s, int64_t n, double* dense,
                                             int64_t dense_stride) {
  const int64_t m = p.num_cols;
  const StridedRows<T> source = problem_rows(p, s);
  dispatch_bool(p.maximize, [&](auto negate) {
    constexpr bool kNegate = decltype(negate)::value;
    if (n > m) copy_transposed<T, kNegate>(source, n, m, dense, dense_stride);
    else copy_oriented(Oriented<StridedRows<T>, false, kNegate>{source}, n, m, dense, dense_stride);
  });
}

// Smallest problem for which the CPU kernel copies the oriented matrix into a
// dense float64 buffer before solving (as scipy does) instead of reading the
// source in place. Below it both kernels run the same instantiation.
constexpr int64_t kDenseCopyMinEntries = 4096;

// Whether the CPU kernel copies a problem of n rows into a dense float64
// buffer before solving: large problems, unless the source already has that
// layout (float64, rows contiguous, read as they are) and is read in place.
template <typename T>
IDMATCH_HOST_DEVICE bool needs_dense_copy(const RaggedLsaParams<T>& p, int64_t n) {
  const int64_t m = p.num_cols;
  if (n * m < kDenseCopyMinEntries) return false;
  const bool in_place =
      std::is_same<T, double>::value && n <= m && !p.maximize && p.row_index == nullptr && p.col_stride == 1;
  return !in_place;
}

// Solves problem s of a batch whose offsets were found valid. The workspace
// pointers hold at least kDoublesPerUnit and kIntsPerUnit times
// (rows_s + num_cols) elements. `dense` holds rows_s * num_cols doubles
// whenever needs_dense_copy(p, rows_s), or is null (the CUDA kernels, which
// have no room for copies and read such problems through the strided
// accessor).
template <typename T>
IDMATCH_HOST_DEVICE void solve_ragged_problem(const RaggedLsaParams<T>& p, int64_t s, double* doubles, int32_t* ints,
                                              double* dense) {
  const int64_t first_row = p.offsets[s];
  const int64_t n = p.offsets[s + 1] - first_row;
  const int64_t m = p.num_cols;
  if (n > kMaxDim || m > kMaxDim) {
    p.status[s] = kInvalidProblem;
    return;
  }
  const bool transposed = n > m;
  const int64_t nr = transposed ? m : n;
  const int64_t nc = transposed ? n : m;
  const Workspace ws = make_workspace(doubles, ints, nr, nc);

  const StridedRows<T> source = problem_rows(p, s);
  const WriteAssignment<StridedRows<T>> write{source, m, p.match_filter, p.col_for_row};
  // Large problems in scipy's layout, so that every row the solver scans is
  // contiguous in memory: a float64 source that has it already is read in
  // place (on any device), others are copied where there is a buffer for it.
  if (nr * nc >= kDenseCopyMinEntries && !needs_dense_copy(p, n)) {
    const auto* rows = reinterpret_cast<const double*>(p.cost) + first_row * p.row_stride;
    p.status[s] = solve_problem(DenseRowMajor{rows, p.row_stride}, n, m, ws, write);
  } else if (dense != nullptr && needs_dense_copy(p, n)) {
    copy_ragged_problem(p, s, n, dense, nc);
    p.status[s] = solve_problem(DenseRowMajor{dense, nc}, n, m, ws, write);
  } else {
    p.status[s] = dispatch_bool(transposed, [&](auto tall) {
      return dispatch_bool(p.maximize, [&](auto negate) {
        using View = Oriented<StridedRows<T>, decltype(tall)::value, decltype(negate)::value>;
        return solve_problem(View{source}, n, m, ws, write);
      });
    });
  }
}

// Problem s of a batch that shares one workspace (workspace_units), with no
// room for dense copies: what each thread of the CUDA kernel runs, and the
// CPU kernels' serial imitation of it. `refuse`: some pair of the batch's
// offsets is bad (offsets_pair_valid), and every problem is refused.
template <typename T>
IDMATCH_HOST_DEVICE void solve_shared_workspace_problem(const RaggedLsaParams<T>& p, int64_t s, double* doubles,
                                                        int32_t* ints, bool refuse) {
  if (refuse) {
    p.status[s] = kInvalidProblem;
    return;
  }
  const int64_t slot = workspace_slot(p.offsets, s, p.num_cols);
  solve_ragged_problem(p, s, doubles + kDoublesPerUnit * slot, ints + kIntsPerUnit * slot, nullptr);
}

}  // namespace core
}  // namespace idmatch

// Per-problem steps of the padded identity ops, which take an exported
// model's fixed-shape outputs (peaks padded to K slots per (sample, node),
// instances padded to I per sample, with a validity mask) instead of a list
// of peaks. The groups need no sort: a group is K (or I) consecutive slots.
// Each function solves one group in full (fill, solve, filter, scatter), the
// work of one CPU task or one CUDA thread. Plain pointers only, no ATen. See
// docs/design.md, "Padded identity ops".
#pragma once

#include <cstdint>

#include "identity.h"
#include "lsa_core.h"
#include "ragged_lsa.h"

namespace idmatch {
namespace core {

// Stores a NaN as element `dest` of a contiguous array of a floating kind.
IDMATCH_HOST_DEVICE inline void store_nan(void* out, ScalarKind kind, int64_t dest) {
  switch (kind) {
    case ScalarKind::kFloat64: static_cast<double*>(out)[dest] = nan_of<double>(); break;
    case ScalarKind::kFloat32: static_cast<float*>(out)[dest] = nan_of<float>(); break;
    case ScalarKind::kFloat16: static_cast<c10::Half*>(out)[dest] = nan_of<c10::Half>(); break;
    default: static_cast<c10::BFloat16*>(out)[dest] = nan_of<c10::BFloat16>(); break;
  }
}

// Workspace of one padded problem of at most `rows` rows and `cols` columns:
// kDoublesPerUnit and kIntsPerUnit times this many doubles and int32s, plus
// `rows` int64s for its row list. Kernels carve fixed slots of this size out
// of one buffer, so the sizes depend on the input shapes only.
IDMATCH_HOST_DEVICE inline int64_t padded_workspace_units(int64_t rows, int64_t cols) { return rows + cols; }

// Lists the valid slots of a group in increasing slot order: rows[r] is the
// slot of the problem's row r. Returns the number of rows.
IDMATCH_HOST_DEVICE inline int64_t list_valid_slots(const bool* mask, int64_t stride, int64_t slots, int64_t* rows) {
  int64_t count = 0;
  for (int64_t k = 0; k < slots; ++k) {
    if (mask[k * stride]) rows[count++] = k;
  }
  return count;
}

// Solves rows `rows[0, n)` of a strided (slots, m) array of probabilities as
// scipy solves -probs, and hands each assigned pair (row, column) to emit.
template <typename T, class Emit>
IDMATCH_HOST_DEVICE Status solve_padded(const StridedRows<T>& source, int64_t n, int64_t m, double* doubles,
                                        int32_t* ints, Emit&& emit) {
  if (n > kMaxDim || m > kMaxDim) return kInvalidProblem;
  const bool transposed = n > m;
  const Workspace ws = make_workspace(doubles, ints, transposed ? m : n, transposed ? n : m);
  return dispatch_bool(transposed, [&](auto tall) {
    using View = Oriented<StridedRows<T>, decltype(tall)::value, /*Negate=*/true>;
    return solve_problem(View{source}, n, m, ws, emit);
  });
}

// classify_padded_peaks. Inputs (B, N, K, ...) with element strides; outputs
// contiguous: points (B, C, N, 2) in the peaks' kind, point_vals (B, C, N) in
// the values' kind, class_vectors (B, C, N, C) of T, status (B, N).
template <typename T>
struct PaddedPeaksParams {
  int64_t samples, nodes, slots, classes;  // B, N, K, C
  const void* peaks;
  ScalarKind peaks_kind;
  int64_t peaks_strides[4];
  const void* peak_vals;
  ScalarKind vals_kind;
  int64_t vals_strides[3];
  const bool* mask;
  int64_t mask_strides[3];
  const T* probs;
  int64_t probs_strides[4];
  void* points;
  void* point_vals;
  T* class_vectors;
  int32_t* status;

  IDMATCH_HOST_DEVICE int64_t num_groups() const { return samples * nodes; }
};

// Where a matched peak of group (b, n) goes: slot [b, class, n] of the
// outputs. Each class is matched at most once per group and each group owns
// its slots, so no two writes meet.
template <typename T>
struct PaddedPeakScatter {
  const PaddedPeaksParams<T>& p;
  StridedRows<T> source;  // the group's probabilities, rows through its row list
  StridedScalars x, y, vals;
  int64_t b, n;

  IDMATCH_HOST_DEVICE void operator()(int64_t r, int64_t c) const {
    // The keep-best filter: the match stays only when its probability is the
    // row's largest, compared exactly.
    if (!is_row_max(source, r, c, p.classes)) return;
    const int64_t k = source.source_row(r);
    const int64_t dest = (b * p.classes + c) * p.nodes + n;
    x.copy_to(p.points, 2 * dest, k);
    y.copy_to(p.points, 2 * dest + 1, k);
    vals.copy_to(p.point_vals, dest, k);
    // The whole probability vector of the peak, copied in its dtype.
    const T* const row = source.data + k * source.row_stride;
    T* const vector = p.class_vectors + dest * p.classes;
    for (int64_t j = 0; j < p.classes; ++j) vector[j] = row[j * source.col_stride];
  }
};

// Group g = b * N + n: NaN into its output slots, then the assignment of its
// valid slots to classes, filtered and scattered. doubles, ints and rows hold
// padded_workspace_units(K, C) units (rows: K int64s).
template <typename T>
IDMATCH_HOST_DEVICE void classify_padded_group(const PaddedPeaksParams<T>& p, int64_t g, double* doubles, int32_t* ints,
                                               int64_t* rows) {
  const int64_t b = g / p.nodes, n = g - b * p.nodes, C = p.classes;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t dest = (b * C + c) * p.nodes + n;
    store_nan(p.points, p.peaks_kind, 2 * dest);
    store_nan(p.points, p.peaks_kind, 2 * dest + 1);
    store_nan(p.point_vals, p.vals_kind, dest);
    for (int64_t j = 0; j < C; ++j) p.class_vectors[dest * C + j] = nan_of<T>();
  }
  // Nothing to match; the inputs then hold no elements, and their data
  // pointers may be null, which takes no offset.
  if (p.slots == 0 || C == 0) {
    p.status[g] = kOk;
    return;
  }
  const int64_t count =
      list_valid_slots(p.mask + b * p.mask_strides[0] + n * p.mask_strides[1], p.mask_strides[2], p.slots, rows);
  const StridedRows<T> source{p.probs + b * p.probs_strides[0] + n * p.probs_strides[1], p.probs_strides[2],
                              p.probs_strides[3], rows, 0};
  const StridedScalars x = StridedScalars{p.peaks, p.peaks_kind, p.peaks_strides[2]}.shifted(b * p.peaks_strides[0] +
                                                                                             n * p.peaks_strides[1]);
  const StridedScalars vals = StridedScalars{p.peak_vals, p.vals_kind, p.vals_strides[2]}.shifted(
      b * p.vals_strides[0] + n * p.vals_strides[1]);
  const PaddedPeakScatter<T> scatter{p, source, x, x.shifted(p.peaks_strides[3]), vals, b, n};
  p.status[g] = solve_padded(source, count, C, doubles, ints, scatter);
}

// match_padded_instances. class_probs (B, I, C) and instance_valid (B, I)
// with element strides; outputs contiguous: class_inds (B, I),
// instance_inds (B, C), status (B,).
template <typename T>
struct PaddedInstancesParams {
  int64_t samples, instances, classes;  // B, I, C
  const T* probs;
  int64_t probs_strides[3];
  const bool* valid;
  int64_t valid_strides[2];
  int64_t* class_inds;
  int64_t* instance_inds;
  int32_t* status;
};

// Sample b: -1 into its outputs, then the assignment of its valid instances
// to classes, every match kept (as sleap-nn's get_class_inds_from_vectors).
// doubles, ints and rows hold padded_workspace_units(I, C) units (rows: I
// int64s).
template <typename T>
IDMATCH_HOST_DEVICE void match_padded_sample(const PaddedInstancesParams<T>& p, int64_t b, double* doubles,
                                             int32_t* ints, int64_t* rows) {
  int64_t* const class_inds = p.class_inds + b * p.instances;
  int64_t* const instance_inds = p.instance_inds + b * p.classes;
  for (int64_t i = 0; i < p.instances; ++i) class_inds[i] = kUnmatched;
  for (int64_t c = 0; c < p.classes; ++c) instance_inds[c] = kUnmatched;
  if (p.instances == 0 || p.classes == 0) {  // as in classify_padded_group
    p.status[b] = kOk;
    return;
  }
  const int64_t count = list_valid_slots(p.valid + b * p.valid_strides[0], p.valid_strides[1], p.instances, rows);
  const StridedRows<T> source{p.probs + b * p.probs_strides[0], p.probs_strides[1], p.probs_strides[2], rows, 0};
  p.status[b] = solve_padded(source, count, p.classes, doubles, ints, [&](int64_t r, int64_t c) {
    const int64_t i = rows[r];
    class_inds[i] = c;
    instance_inds[c] = i;
  });
}

// Problem `s` of either op, for kernels written once for both.
template <typename T>
IDMATCH_HOST_DEVICE void solve_padded_problem(const PaddedPeaksParams<T>& p, int64_t s, double* doubles, int32_t* ints,
                                              int64_t* rows) {
  classify_padded_group(p, s, doubles, ints, rows);
}
template <typename T>
IDMATCH_HOST_DEVICE void solve_padded_problem(const PaddedInstancesParams<T>& p, int64_t s, double* doubles,
                                              int32_t* ints, int64_t* rows) {
  match_padded_sample(p, s, doubles, ints, rows);
}

}  // namespace core
}  // namespace idmatch

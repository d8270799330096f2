// Per-problem steps of the padded identity ops, which take an exported
// model's fixed-shape outputs (peaks padded to K slots per (sample, node),
// instances padded to I per sample, with a validity mask) instead of a list
// of peaks. The groups need no sort: a group is K (or I) consecutive slots.
// A problem (a group, or a sample) is solved in full (fill, solve, filter,
// scatter) by one thread (the CPU tasks, and the CUDA kernels' thread
// solver) or by a team of lanes (the CUDA kernels' default, lsa_team.h).
// Plain pointers only, no ATen. See docs/design.md, "Padded identity ops".
#pragma once

#include <cstdint>

#include "identity.h"
#include "lsa_core.h"
#include "lsa_team.h"
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

// The same with a team (lsa_team.h) built for oriented_dims(n, m), which
// the caller has checked.
template <class Team, typename T, class Emit>
IDMATCH_HOST_DEVICE Status solve_padded_team(Team& team, const StridedRows<T>& source, int64_t n, int64_t m,
                                             Emit&& emit) {
  return dispatch_bool(n > m, [&](auto tall) {
    using View = Oriented<StridedRows<T>, decltype(tall)::value, /*Negate=*/true>;
    return solve_problem_team(team, View{source}, n, m, emit);
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

// Each op's problem is solved in three steps, for one thread or for a team
// of lanes alike (the team's lanes meet between the steps):
//   clear_padded_outputs(p, s, lane, lanes)  the empty answer into the
//       problem's outputs, the part that lane `lane` of `lanes` owns;
//   list_padded_rows(p, s, rows)            the valid slots, by one lane;
//   solve_listed_padded_problem(p, s, rows, count, solve)  the assignment,
//       by solve(source, n, m, emit) -> Status, filtered and scattered.
// Every lane writes its own outputs only, and the solve's pairs go to
// outputs that no other pair and no other problem writes.

// Group g = b * N + n: NaN into its output slots, class c by lane c % lanes.
template <typename T>
IDMATCH_HOST_DEVICE void clear_padded_outputs(const PaddedPeaksParams<T>& p, int64_t g, int64_t lane, int64_t lanes) {
  const int64_t b = g / p.nodes, n = g - b * p.nodes, C = p.classes;
  for (int64_t c = lane; c < C; c += lanes) {
    const int64_t dest = (b * C + c) * p.nodes + n;
    store_nan(p.points, p.peaks_kind, 2 * dest);
    store_nan(p.points, p.peaks_kind, 2 * dest + 1);
    store_nan(p.point_vals, p.vals_kind, dest);
    for (int64_t j = 0; j < C; ++j) p.class_vectors[dest * C + j] = nan_of<T>();
  }
}

// Group g's valid slots into rows (K int64s); returns their count. A group
// with nothing to match has none: the inputs then hold no elements, and
// their data pointers may be null, which takes no offset.
template <typename T>
IDMATCH_HOST_DEVICE int64_t list_padded_rows(const PaddedPeaksParams<T>& p, int64_t g, int64_t* rows) {
  if (p.slots == 0 || p.classes == 0) return 0;
  const int64_t b = g / p.nodes, n = g - b * p.nodes;
  return list_valid_slots(p.mask + b * p.mask_strides[0] + n * p.mask_strides[1], p.mask_strides[2], p.slots, rows);
}

// Group g's assignment of its `count` listed slots to classes, through the
// keep-best filter into the group's output slots.
template <typename T, class Solve>
IDMATCH_HOST_DEVICE Status solve_listed_padded_problem(const PaddedPeaksParams<T>& p, int64_t g, const int64_t* rows,
                                                       int64_t count, Solve&& solve) {
  if (count == 0) return kOk;
  const int64_t b = g / p.nodes, n = g - b * p.nodes;
  const StridedRows<T> source{p.probs + b * p.probs_strides[0] + n * p.probs_strides[1], p.probs_strides[2],
                              p.probs_strides[3], rows, 0};
  const StridedScalars x = StridedScalars{p.peaks, p.peaks_kind, p.peaks_strides[2]}.shifted(b * p.peaks_strides[0] +
                                                                                             n * p.peaks_strides[1]);
  const StridedScalars vals = StridedScalars{p.peak_vals, p.vals_kind, p.vals_strides[2]}.shifted(
      b * p.vals_strides[0] + n * p.vals_strides[1]);
  const PaddedPeakScatter<T> scatter{p, source, x, x.shifted(p.peaks_strides[3]), vals, b, n};
  return solve(source, count, p.classes, scatter);
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

// Sample b: -1 into its outputs (instance i and class i by lane i % lanes),
// then the assignment of its valid instances to classes, every match kept
// (as sleap-nn's get_class_inds_from_vectors).
template <typename T>
IDMATCH_HOST_DEVICE void clear_padded_outputs(const PaddedInstancesParams<T>& p, int64_t b, int64_t lane,
                                              int64_t lanes) {
  for (int64_t i = lane; i < p.instances; i += lanes) p.class_inds[b * p.instances + i] = kUnmatched;
  for (int64_t c = lane; c < p.classes; c += lanes) p.instance_inds[b * p.classes + c] = kUnmatched;
}

template <typename T>
IDMATCH_HOST_DEVICE int64_t list_padded_rows(const PaddedInstancesParams<T>& p, int64_t b, int64_t* rows) {
  if (p.instances == 0 || p.classes == 0) return 0;  // as for the peaks' groups
  return list_valid_slots(p.valid + b * p.valid_strides[0], p.valid_strides[1], p.instances, rows);
}

struct PaddedInstanceScatter {
  int64_t* class_inds;     // the sample's
  int64_t* instance_inds;  // the sample's
  const int64_t* rows;

  IDMATCH_HOST_DEVICE void operator()(int64_t r, int64_t c) const {
    const int64_t i = rows[r];
    class_inds[i] = c;
    instance_inds[c] = i;
  }
};

template <typename T, class Solve>
IDMATCH_HOST_DEVICE Status solve_listed_padded_problem(const PaddedInstancesParams<T>& p, int64_t b,
                                                       const int64_t* rows, int64_t count, Solve&& solve) {
  if (count == 0) return kOk;
  const StridedRows<T> source{p.probs + b * p.probs_strides[0], p.probs_strides[1], p.probs_strides[2], rows, 0};
  const PaddedInstanceScatter scatter{p.class_inds + b * p.instances, p.instance_inds + b * p.classes, rows};
  return solve(source, count, p.classes, scatter);
}

// Problem s of either op by one thread. doubles, ints and rows hold
// padded_workspace_units(rows, cols) units (rows: `rows` int64s), where
// rows is K or I and cols is C.
template <class Params>
IDMATCH_HOST_DEVICE void solve_padded_problem(const Params& p, int64_t s, double* doubles, int32_t* ints,
                                              int64_t* rows) {
  clear_padded_outputs(p, s, 0, 1);
  const int64_t count = list_padded_rows(p, s, rows);
  p.status[s] =
      solve_listed_padded_problem(p, s, rows, count, [&](const auto& source, int64_t n, int64_t m, const auto& emit) {
        return solve_padded(source, n, m, doubles, ints, emit);
      });
}

// The solve step of problem s by a team built for oriented_dims(count, C);
// status[s] is written by the lane for which `leader` holds.
template <class Team, class Params>
IDMATCH_HOST_DEVICE void solve_listed_padded_problem_team(Team& team, const Params& p, int64_t s, const int64_t* rows,
                                                          int64_t count, bool leader) {
  const Status status =
      solve_listed_padded_problem(p, s, rows, count, [&](const auto& source, int64_t n, int64_t m, const auto& emit) {
        return solve_padded_team(team, source, n, m, emit);
      });
  if (leader) p.status[s] = status;
}

// Problem s of either op by a SerialTeam in the same workspace as
// solve_padded_problem: the CPU's imitation of the CUDA kernels' teams.
template <class Params>
void solve_padded_problem_serial_team(const Params& p, int64_t s, double* doubles, int32_t* ints, int64_t* rows) {
  clear_padded_outputs(p, s, 0, 1);
  const int64_t count = list_padded_rows(p, s, rows);
  int32_t nr = 0;
  int32_t nc = 0;
  if (!oriented_dims(count, p.classes, &nr, &nc)) {
    p.status[s] = kInvalidProblem;
    return;
  }
  SerialTeam team{{make_workspace(doubles, ints, nr, nc), nr, nc}};
  solve_listed_padded_problem_team(team, p, s, rows, count, /*leader=*/true);
}

}  // namespace core
}  // namespace idmatch

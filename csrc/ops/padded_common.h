// ATen-side glue of the padded identity ops, shared by their CPU and CUDA
// kernels: shape-level argument checks (metadata only, so no host sync), the
// outputs, and the plain-pointer views of core/padded.h. The kernels differ
// only in how they run the per-group function over the groups: a Runner's
//   run(params, num_problems, rows, cols)
// solves each problem with the steps of core/padded.h, in a workspace of
// core::padded_workspace_units(rows, cols) per problem.
#pragma once

#include <tuple>

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "../core/padded.h"
#include "identity_common.h"

namespace idmatch {
namespace ops {

// Problems of `rows` x `cols` and outputs of `per_problem` elements each must
// leave the workspace and output sizes far from int64's limit; an expanded
// input can have any sizes without holding memory.
inline void check_padded_sizes(int64_t problems, int64_t rows, int64_t cols, int64_t per_problem, const char* what) {
  constexpr int64_t limit = int64_t{1} << 60;
  if (problems == 0) return;
  TORCH_CHECK_VALUE(rows <= core::kMaxDim && cols <= core::kMaxDim, what, " too large a problem: ", rows, " slots and ",
                    cols, " classes (at most 2**31 - 1 each)");
  // At least one unit, so that problems without rows or classes divide too.
  const int64_t units = (core::padded_workspace_units(rows, cols) + 1) * 4;
  TORCH_CHECK_VALUE(problems <= limit / units && (per_problem == 0 || problems <= limit / per_problem), what,
                    " too large a batch: ", problems, " problems of ", rows, " slots and ", cols, " classes");
}

inline void check_padded_peaks_args(const at::Tensor& peaks, const at::Tensor& peak_vals, const at::Tensor& peak_mask,
                                    const at::Tensor& class_probs) {
  TORCH_CHECK_VALUE(peaks.dim() == 4 && peaks.size(3) == 2,
                    "peaks must have shape (n_samples, n_nodes, n_slots, 2), got ", peaks.sizes());
  check_floating(peaks, "peaks");
  const auto groups = peaks.sizes().slice(0, 3);
  TORCH_CHECK_VALUE(peak_vals.dim() == 3 && peak_vals.sizes() == groups, "peak_vals must have shape ", groups,
                    " (peaks.shape[:3]), got ", peak_vals.sizes());
  check_floating(peak_vals, "peak_vals");
  check_same_device(peak_vals, "peak_vals", peaks, "peaks");
  TORCH_CHECK_VALUE(peak_mask.dim() == 3 && peak_mask.sizes() == groups, "peak_mask must have shape ", groups,
                    " (peaks.shape[:3]), got ", peak_mask.sizes());
  TORCH_CHECK_TYPE(peak_mask.scalar_type() == at::kBool, "peak_mask must be a bool tensor, got ",
                   peak_mask.scalar_type());
  check_same_device(peak_mask, "peak_mask", peaks, "peaks");
  TORCH_CHECK_VALUE(class_probs.dim() == 4 && class_probs.sizes().slice(0, 3) == groups,
                    "class_probs must have shape (n_samples, n_nodes, n_slots, n_classes) with ", groups,
                    " = peaks.shape[:3], got ", class_probs.sizes());
  check_floating(class_probs, "class_probs");
  check_same_device(class_probs, "class_probs", peaks, "peaks");
  const int64_t n_samples = peaks.size(0), n_nodes = peaks.size(1), n_classes = class_probs.size(3);
  TORCH_CHECK_VALUE(n_nodes == 0 || n_samples <= (int64_t{1} << 60) / n_nodes,
                    "classify_padded_peaks: too many (sample, node) groups: ", n_samples, " x ", n_nodes);
  // Per group: C slots of 2 + 1 + C output elements.
  const int64_t per_group = n_classes <= core::kMaxDim ? n_classes * (n_classes + 3) : 0;
  check_padded_sizes(n_samples * n_nodes, peaks.size(2), n_classes, per_group, "classify_padded_peaks:");
}

inline void check_padded_instances_args(const at::Tensor& class_probs, const at::Tensor& instance_valid) {
  TORCH_CHECK_VALUE(class_probs.dim() == 3, "class_probs must have shape (n_samples, n_instances, n_classes), got ",
                    class_probs.sizes());
  check_floating(class_probs, "class_probs");
  const auto instances = class_probs.sizes().slice(0, 2);
  TORCH_CHECK_VALUE(instance_valid.dim() == 2 && instance_valid.sizes() == instances, "instance_valid must have shape ",
                    instances, " (class_probs.shape[:2]), got ", instance_valid.sizes());
  TORCH_CHECK_TYPE(instance_valid.scalar_type() == at::kBool, "instance_valid must be a bool tensor, got ",
                   instance_valid.scalar_type());
  check_same_device(instance_valid, "instance_valid", class_probs, "class_probs");
  const int64_t n_instances = class_probs.size(1), n_classes = class_probs.size(2);
  const int64_t per_sample = n_instances <= core::kMaxDim && n_classes <= core::kMaxDim ? n_instances + n_classes : 0;
  check_padded_sizes(class_probs.size(0), n_instances, n_classes, per_sample, "match_padded_instances:");
}

template <size_t N>
void copy_strides(const at::Tensor& t, int64_t (&out)[N]) {
  for (size_t d = 0; d < N; ++d) out[d] = t.stride(d);
}

// Outputs (points, point_vals, class_vectors, status) of
// classify_padded_peaks, computed by the runner; every element is written by
// the kernels, so they start uninitialized.
template <class Runner>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_padded_peaks_with(const Runner& runner,
                                                                                      const at::Tensor& peaks,
                                                                                      const at::Tensor& peak_vals,
                                                                                      const at::Tensor& peak_mask,
                                                                                      const at::Tensor& class_probs) {
  const int64_t B = peaks.size(0), N = peaks.size(1), K = peaks.size(2), C = class_probs.size(3);
  auto points = at::empty({B, C, N, 2}, peaks.options());
  auto point_vals = at::empty({B, C, N}, peak_vals.options());
  auto class_vectors = at::empty({B, C, N, C}, class_probs.options());
  auto status = at::empty({B, N}, class_probs.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_probs.scalar_type(), "classify_padded_peaks", [&] {
    core::PaddedPeaksParams<scalar_t> p;
    p.samples = B;
    p.nodes = N;
    p.slots = K;
    p.classes = C;
    p.peaks = peaks.const_data_ptr();
    p.peaks_kind = scalar_kind(peaks, "peaks");
    copy_strides(peaks, p.peaks_strides);
    p.peak_vals = peak_vals.const_data_ptr();
    p.vals_kind = scalar_kind(peak_vals, "peak_vals");
    copy_strides(peak_vals, p.vals_strides);
    p.mask = peak_mask.const_data_ptr<bool>();
    copy_strides(peak_mask, p.mask_strides);
    p.probs = class_probs.const_data_ptr<scalar_t>();
    copy_strides(class_probs, p.probs_strides);
    p.points = points.mutable_data_ptr();
    p.point_vals = point_vals.mutable_data_ptr();
    p.class_vectors = class_vectors.mutable_data_ptr<scalar_t>();
    p.status = status.mutable_data_ptr<int32_t>();
    runner.run(p, B * N, K, C);
  });
  return {points, point_vals, class_vectors, status};
}

// Outputs (class_inds, instance_inds, status) of match_padded_instances.
template <class Runner>
std::tuple<at::Tensor, at::Tensor, at::Tensor> match_padded_instances_with(const Runner& runner,
                                                                           const at::Tensor& class_probs,
                                                                           const at::Tensor& instance_valid) {
  const int64_t B = class_probs.size(0), I = class_probs.size(1), C = class_probs.size(2);
  const auto index_options = class_probs.options().dtype(at::kLong);
  auto class_inds = at::empty({B, I}, index_options);
  auto instance_inds = at::empty({B, C}, index_options);
  auto status = at::empty({B}, class_probs.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_probs.scalar_type(), "match_padded_instances", [&] {
    core::PaddedInstancesParams<scalar_t> p;
    p.samples = B;
    p.instances = I;
    p.classes = C;
    p.probs = class_probs.const_data_ptr<scalar_t>();
    copy_strides(class_probs, p.probs_strides);
    p.valid = instance_valid.const_data_ptr<bool>();
    copy_strides(instance_valid, p.valid_strides);
    p.class_inds = class_inds.mutable_data_ptr<int64_t>();
    p.instance_inds = instance_inds.mutable_data_ptr<int64_t>();
    p.status = status.mutable_data_ptr<int32_t>();
    runner.run(p, B, I, C);
  });
  return {class_inds, instance_inds, status};
}

}  // namespace ops
}  // namespace idmatch

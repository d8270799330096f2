// ATen-side helpers of the identity ops shared by the CPU and CUDA glue:
// shape-level argument checks (metadata only, never values, so no host sync)
// and views of tensors for the plain-pointer core (core/identity.h).
#pragma once

#include <algorithm>
#include <limits>

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>

#include "../core/identity.h"
#include "ragged_lsa_checks.h"

namespace idmatch {
namespace ops {

inline core::ScalarKind scalar_kind(const at::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
    case at::kDouble: return core::ScalarKind::kFloat64;
    case at::kFloat: return core::ScalarKind::kFloat32;
    case at::kHalf: return core::ScalarKind::kFloat16;
    case at::kBFloat16: return core::ScalarKind::kBFloat16;
    case at::kLong: return core::ScalarKind::kInt64;
    case at::kInt: return core::ScalarKind::kInt32;
    case at::kShort: return core::ScalarKind::kInt16;
    case at::kChar: return core::ScalarKind::kInt8;
    case at::kByte: return core::ScalarKind::kUInt8;
    default: TORCH_CHECK_TYPE(false, name, " has an unsupported dtype ", t.scalar_type());
  }
}

// Column `column` of a 1-D or 2-D tensor as a strided vector.
inline core::StridedScalars strided_scalars(const at::Tensor& t, const char* name, int64_t column = 0) {
  const core::StridedScalars base{t.const_data_ptr(), scalar_kind(t, name), t.stride(0)};
  return column == 0 ? base : base.shifted(column * t.stride(1));
}

template <typename T>
core::ClassMaps<T> class_maps_view(const at::Tensor& maps) {
  return core::ClassMaps<T>{maps.const_data_ptr<T>(), maps.size(0),   maps.size(1),   maps.size(2),  maps.size(3),
                            maps.stride(0),           maps.stride(1), maps.stride(2), maps.stride(3)};
}

inline void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& ref, const char* ref_name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on the device of ", ref_name, " (", ref.device(),
                    "), got ", t.device());
}

inline void check_floating(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_kernel_floating(t.scalar_type()), name, " must have a floating dtype (", kKernelFloatingNames,
                   "), got ", t.scalar_type());
}

inline void check_peak_indices(const at::Tensor& t, const char* name, int64_t num_peaks, const at::Tensor& ref,
                               const char* ref_name) {
  TORCH_CHECK_VALUE(t.dim() == 1 && t.size(0) == num_peaks, name, " must have shape (", num_peaks,
                    ",) (one per peak), got ", t.sizes());
  TORCH_CHECK_TYPE(at::isIntegralType(t.scalar_type(), /*includeBool=*/false), name,
                   " must have an integer dtype, got ", t.scalar_type());
  scalar_kind(t, name);
  check_same_device(t, name, ref, ref_name);
}

inline void check_class_maps_and_points(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                        const at::Tensor& peak_sample_inds) {
  TORCH_CHECK_VALUE(class_maps.dim() == 4, "class_maps must have shape (n_samples, n_classes, height, width), got ",
                    class_maps.sizes());
  check_floating(class_maps, "class_maps");
  TORCH_CHECK_VALUE(peak_points.dim() == 2 && peak_points.size(1) == 2,
                    "peak_points must have shape (n_peaks, 2), got ", peak_points.sizes());
  check_floating(peak_points, "peak_points");
  check_same_device(peak_points, "peak_points", class_maps, "class_maps");
  check_peak_indices(peak_sample_inds, "peak_sample_inds", peak_points.size(0), class_maps, "class_maps");
}

inline void check_groups(int64_t n_samples, int64_t n_channels, int64_t n_classes) {
  TORCH_CHECK_VALUE(n_samples >= 0, "n_samples must be >= 0, got ", n_samples);
  TORCH_CHECK_VALUE(n_channels >= 0, "n_channels must be >= 0, got ", n_channels);
  // One matching problem per (sample, channel) group, and per group a status
  // and a grouping offset: a count past the solver's dimension limit is a
  // mistake, and refusing it here names the arguments where the allocator
  // would only report the bytes it could not get.
  TORCH_CHECK_VALUE(n_samples == 0 || n_channels <= core::kMaxDim / n_samples,
                    "n_samples * n_channels (the number of (sample, channel) groups) must be at most 2**31 - 1, "
                    "got n_samples=",
                    n_samples, " and n_channels=", n_channels);
  // Outputs of n_samples * n_classes * n_channels * 2 elements, indexed in int64.
  constexpr int64_t limit = int64_t{1} << 60;
  const int64_t groups = n_samples * n_channels;
  // Divided, not multiplied: n_classes is any dimension of a (possibly
  // empty) tensor, and (n_classes + 1) * 2 can overflow.
  TORCH_CHECK_VALUE(groups == 0 || n_classes < limit / groups / 2,
                    "n_samples * n_classes * n_channels is too large, got n_samples=", n_samples,
                    ", n_classes=", n_classes, " and n_channels=", n_channels);
}

inline void check_match_args(const at::Tensor& probs, const at::Tensor& peak_sample_inds,
                             const at::Tensor& peak_channel_inds, int64_t n_samples, int64_t n_channels) {
  TORCH_CHECK_VALUE(probs.dim() == 2, "peak_class_probs must have shape (n_peaks, n_classes), got ", probs.sizes());
  check_floating(probs, "peak_class_probs");
  check_peak_indices(peak_sample_inds, "peak_sample_inds", probs.size(0), probs, "peak_class_probs");
  check_peak_indices(peak_channel_inds, "peak_channel_inds", probs.size(0), probs, "peak_class_probs");
  check_groups(n_samples, n_channels, probs.size(1));
}

inline void check_classify_args(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                const at::Tensor& peak_vals, const at::Tensor& peak_sample_inds,
                                const at::Tensor& peak_channel_inds, int64_t n_channels) {
  check_class_maps_and_points(class_maps, peak_points, peak_sample_inds);
  const int64_t num_peaks = peak_points.size(0);
  TORCH_CHECK_VALUE(peak_vals.dim() == 1 && peak_vals.size(0) == num_peaks, "peak_vals must have shape (", num_peaks,
                    ",) (one per peak), got ", peak_vals.sizes());
  check_floating(peak_vals, "peak_vals");
  check_same_device(peak_vals, "peak_vals", class_maps, "class_maps");
  check_peak_indices(peak_channel_inds, "peak_channel_inds", num_peaks, class_maps, "class_maps");
  check_groups(class_maps.size(0), n_channels, class_maps.size(1));
}

// The per-instance outputs of classify_peaks_from_maps, NaN until a kept peak
// lands in a slot, in the dtypes of their sources.
struct InstanceOutputs {
  at::Tensor points;       // (S, C, n_channels, 2), peak_points' dtype
  at::Tensor point_vals;   // (S, C, n_channels), peak_vals' dtype
  at::Tensor class_probs;  // (S, C, n_channels), class_maps' dtype

  InstanceOutputs(const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
                  int64_t n_channels) {
    const int64_t n_samples = class_maps.size(0), n_classes = class_maps.size(1);
    points = nan_filled({n_samples, n_classes, n_channels, 2}, peak_points.options());
    point_vals = nan_filled({n_samples, n_classes, n_channels}, peak_vals.options());
    class_probs = nan_filled({n_samples, n_classes, n_channels}, class_maps.options());
  }

  // A NaN-filled tensor. On the host the fill is a plain loop: at::full
  // dispatches a fill_ per tensor, a fair share of a small call's time.
  static at::Tensor nan_filled(at::IntArrayRef sizes, const at::TensorOptions& options) {
    if (!options.device().is_cpu()) return at::full(sizes, std::numeric_limits<double>::quiet_NaN(), options);
    auto out = at::empty(sizes, options);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "nan_filled", [&] {
      scalar_t* data = out.mutable_data_ptr<scalar_t>();
      std::fill(data, data + out.numel(), std::numeric_limits<scalar_t>::quiet_NaN());
    });
    return out;
  }

  // The scatter of kept peaks into these outputs; probs (rows, C) contiguous
  // in class_maps' dtype T, a row per peak (see core::InstanceScatter).
  template <typename T>
  core::InstanceScatter<T> scatter(const at::Tensor& peak_points, const at::Tensor& peak_vals, const at::Tensor& probs,
                                   int64_t n_channels) {
    return {strided_scalars(peak_points, "peak_points", 0),
            strided_scalars(peak_points, "peak_points", 1),
            strided_scalars(peak_vals, "peak_vals"),
            probs.const_data_ptr<T>(),
            probs.size(1),
            n_channels,
            points.mutable_data_ptr(),
            point_vals.mutable_data_ptr(),
            class_probs.mutable_data_ptr<T>()};
  }
};

}  // namespace ops
}  // namespace idmatch

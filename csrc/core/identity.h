// Per-peak steps of the identity ops (a peak's pixel and sampling, grouping,
// scattering into instances), shared by the CPU and CUDA kernels. Plain
// pointers only, no ATen (c10's Half and BFloat16 are host-and-device
// types). See docs/design.md, "Exact semantics".
#pragma once

#include <cmath>
#include <cstdint>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "lsa_core.h"

namespace idmatch {
namespace core {

// Per-peak codes of the matching ops' class output besides a class index.
enum PeakCode : int64_t {
  kUnmatched = -1,          // no class, or dropped by the keep-best filter
  kSampleOutOfRange = -2,   // peak ignored: sample index outside [0, n_samples)
  kChannelOutOfRange = -3,  // peak ignored: channel index outside [0, n_channels)
};

// Pixel of a peak coordinate on an axis of `size` > 0 pixels: rounded half to
// even (rint under the default rounding mode, as torch.round), then clamped.
// Clamping before the integer conversion keeps huge and infinite coordinates
// defined. Returns -1 for NaN.
IDMATCH_HOST_DEVICE inline int64_t pixel_index(double coord, int64_t size) {
  if (coord != coord) return -1;
  const double rounded = rint(coord);
  if (rounded <= 0.0) return 0;
  const double last = static_cast<double>(size - 1);
  return rounded >= last ? size - 1 : static_cast<int64_t>(rounded);
}

// Element types of the per-peak inputs. Peak coordinates, values and indices
// come in many dtypes; reading them through this tag instead of templates
// keeps the kernels to one instantiation per class-map dtype.
enum class ScalarKind : int32_t { kFloat64, kFloat32, kFloat16, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8 };

IDMATCH_HOST_DEVICE inline int64_t element_size(ScalarKind kind) {
  switch (kind) {
    case ScalarKind::kFloat64:
    case ScalarKind::kInt64: return 8;
    case ScalarKind::kFloat32:
    case ScalarKind::kInt32: return 4;
    case ScalarKind::kFloat16:
    case ScalarKind::kBFloat16:
    case ScalarKind::kInt16: return 2;
    default: return 1;
  }
}

// A strided 1-D view of elements of type E (float, double or int64_t),
// read as StridedScalars reads them. The CPU kernels read the usual dtypes
// through it: with the type known at compile time their per-peak loops are
// branch-free, where StridedScalars switches on its kind at every element.
template <typename E>
struct TypedScalars {
  const E* data;
  int64_t stride;  // in elements

  IDMATCH_HOST_DEVICE IDMATCH_INLINE double as_double(int64_t i) const { return static_cast<double>(data[i * stride]); }
  IDMATCH_HOST_DEVICE IDMATCH_INLINE int64_t as_int64(int64_t i) const {
    return static_cast<int64_t>(data[i * stride]);
  }
  // A plain load and store of E. On the targets built for (x86-64, whose
  // floats move through SSE registers, and CUDA) that copies the bits, NaN
  // payloads included; an x87 build would quiet signalling NaNs.
  IDMATCH_HOST_DEVICE IDMATCH_INLINE void copy_to(void* out, int64_t dest, int64_t i) const {
    static_cast<E*>(out)[dest] = data[i * stride];
  }
};

// A strided 1-D view of elements of any ScalarKind.
struct StridedScalars {
  const void* data;
  ScalarKind kind;
  int64_t stride;  // in elements

  IDMATCH_HOST_DEVICE IDMATCH_INLINE const char* address(int64_t i) const {
    return static_cast<const char*>(data) + i * stride * element_size(kind);
  }
  // The same view shifted by `elements` (e.g. the y column of (x, y) points).
  IDMATCH_HOST_DEVICE StridedScalars shifted(int64_t elements) const {
    return StridedScalars{static_cast<const char*>(data) + elements * element_size(kind), kind, stride};
  }
  // The same elements through a TypedScalars<E>; only for a kind whose
  // elements are E.
  template <typename E>
  IDMATCH_HOST_DEVICE TypedScalars<E> as_typed() const {
    return {static_cast<const E*>(data), stride};
  }
  IDMATCH_HOST_DEVICE IDMATCH_INLINE double as_double(int64_t i) const {
    const char* a = address(i);
    switch (kind) {
      case ScalarKind::kFloat64: return *reinterpret_cast<const double*>(a);
      case ScalarKind::kFloat32: return *reinterpret_cast<const float*>(a);
      case ScalarKind::kFloat16: return static_cast<float>(*reinterpret_cast<const c10::Half*>(a));
      case ScalarKind::kBFloat16: return static_cast<float>(*reinterpret_cast<const c10::BFloat16*>(a));
      default: return static_cast<double>(as_int64(i));
    }
  }
  IDMATCH_HOST_DEVICE IDMATCH_INLINE int64_t as_int64(int64_t i) const {
    const char* a = address(i);
    switch (kind) {
      case ScalarKind::kInt64: return *reinterpret_cast<const int64_t*>(a);
      case ScalarKind::kInt32: return *reinterpret_cast<const int32_t*>(a);
      case ScalarKind::kInt16: return *reinterpret_cast<const int16_t*>(a);
      case ScalarKind::kInt8: return *reinterpret_cast<const int8_t*>(a);
      case ScalarKind::kUInt8: return *reinterpret_cast<const uint8_t*>(a);
      default: return 0;  // floating indices are refused before any kernel runs
    }
  }
  // Copies element i, bit for bit, to element `dest` of a contiguous array of
  // the same kind.
  IDMATCH_HOST_DEVICE IDMATCH_INLINE void copy_to(void* out, int64_t dest, int64_t i) const {
    const char* a = address(i);
    char* o = static_cast<char*>(out);
    switch (element_size(kind)) {
      case 8: reinterpret_cast<uint64_t*>(o)[dest] = *reinterpret_cast<const uint64_t*>(a); break;
      case 4: reinterpret_cast<uint32_t*>(o)[dest] = *reinterpret_cast<const uint32_t*>(a); break;
      case 2: reinterpret_cast<uint16_t*>(o)[dest] = *reinterpret_cast<const uint16_t*>(a); break;
      default: reinterpret_cast<uint8_t*>(o)[dest] = *reinterpret_cast<const uint8_t*>(a); break;
    }
  }
};

// A 4-D strided array (n_samples, n_classes, height, width).
template <typename T>
struct ClassMaps {
  const T* data;
  int64_t samples, classes, height, width;
  int64_t stride_sample, stride_class, stride_row, stride_col;
};

// Where peak p at (x, y) reads its sample's class planes: the element offset
// row * stride_row + col * stride_col within a plane, or -1 when its
// coordinates cannot be sampled (NaN, or an empty map).
// Coords: StridedScalars or a TypedScalars of a floating type.
template <typename T, typename Coords>
IDMATCH_HOST_DEVICE IDMATCH_INLINE int64_t pixel_offset(const ClassMaps<T>& maps, const Coords& x, const Coords& y,
                                                        int64_t p) {
  const int64_t row = maps.height > 0 ? pixel_index(y.as_double(p), maps.height) : -1;
  const int64_t col = maps.width > 0 ? pixel_index(x.as_double(p), maps.width) : -1;
  if (row < 0 || col < 0) return -1;
  return row * maps.stride_row + col * maps.stride_col;
}

template <typename T>
IDMATCH_HOST_DEVICE T nan_of() {
  return static_cast<T>(__builtin_nanf(""));
}

// out[:] = class_maps[sample, :, row, col] for a sample in range, at the
// pixel whose element offset within a plane is `offset` (pixel_offset), or
// NaN where offset is -1.
template <typename T>
IDMATCH_HOST_DEVICE IDMATCH_INLINE void sample_pixel(const ClassMaps<T>& maps, int64_t sample, int64_t offset, T* out) {
  if (offset < 0) {
    for (int64_t c = 0; c < maps.classes; ++c) out[c] = nan_of<T>();
    return;
  }
  // An element offset, not a pointer: a map without classes may have no
  // data, and no pointer arithmetic is done on it.
  const int64_t at = sample * maps.stride_sample + offset;
  for (int64_t c = 0; c < maps.classes; ++c) out[c] = maps.data[at + c * maps.stride_class];
}

// probs[p, :] = class_maps[sample, :, row, col] for peak p at (x, y), into a
// contiguous (P, C) array. Rows that cannot be sampled (sample out of range,
// NaN coordinate, empty map) are filled with NaN.
template <typename T, typename Coords, typename Indices>
IDMATCH_HOST_DEVICE void sample_peak(const ClassMaps<T>& maps, const Coords& x, const Coords& y,
                                     const Indices& sample_inds, int64_t p, T* probs) {
  const int64_t sample = sample_inds.as_int64(p);
  const int64_t offset = sample >= 0 && sample < maps.samples ? pixel_offset(maps, x, y, p) : -1;
  sample_pixel(maps, sample, offset, probs + p * maps.classes);
}

// Group of a peak: sample * n_channels + channel, or a PeakCode (< 0) when
// either index is out of range. Indices: StridedScalars or a
// TypedScalars<int64_t>.
template <typename Indices>
IDMATCH_HOST_DEVICE IDMATCH_INLINE int64_t peak_group(const Indices& sample_inds, const Indices& channel_inds,
                                                      int64_t p, int64_t n_samples, int64_t n_channels) {
  const int64_t sample = sample_inds.as_int64(p);
  const int64_t channel = channel_inds.as_int64(p);
  if (sample < 0 || sample >= n_samples) return kSampleOutOfRange;
  if (channel < 0 || channel >= n_channels) return kChannelOutOfRange;
  return sample * n_channels + channel;
}

// The sort-and-search grouping's first step for peak p: sort_keys[p] gets its
// group, or num_groups (sorts last) when an index is out of range;
// class_inds[p] gets kUnmatched, or the peak's PeakCode.
template <typename Indices>
IDMATCH_HOST_DEVICE IDMATCH_INLINE void peak_sort_key(const Indices& sample_inds, const Indices& channel_inds,
                                                      int64_t p, int64_t n_samples, int64_t n_channels,
                                                      int64_t* sort_keys, int64_t* class_inds) {
  const int64_t group = peak_group(sample_inds, channel_inds, p, n_samples, n_channels);
  sort_keys[p] = group >= 0 ? group : n_samples * n_channels;
  class_inds[p] = group >= 0 ? static_cast<int64_t>(kUnmatched) : group;
}

// Item i of classify_peaks_from_maps' problem count, over num_peaks peaks and
// then the groups: a peak left out for an index out of range (its class
// index a PeakCode), or a group whose status is not kOk.
IDMATCH_HOST_DEVICE inline bool counts_as_problem(const int64_t* class_inds, int64_t num_peaks, const int32_t* status,
                                                  int64_t i) {
  return i < num_peaks ? class_inds[i] < kUnmatched : status[i - num_peaks] != kOk;
}

// Where classify_peaks_from_maps puts a kept peak: its point, value and class
// probability land at [sample, class, channel] of the contiguous outputs
// points (S, C, n_channels, 2), point_vals and class_probs (S, C, n_channels).
// Within a (sample, channel) group each class is matched once, so no two
// peaks share a destination. Scalars: StridedScalars or a TypedScalars of
// the points' and values' common type.
template <typename T, typename Scalars = StridedScalars>
struct InstanceScatter {
  Scalars x, y;  // peak points' columns
  Scalars peak_vals;
  const T* probs;  // (rows, C) contiguous: a row per peak
  int64_t n_classes, n_channels;
  void* points;      // dtype of peak_points
  void* point_vals;  // dtype of peak_vals
  T* class_probs;

  // The same scatter reading points and values through TypedScalars<E>
  // (from StridedScalars of a kind whose elements are E).
  template <typename E>
  IDMATCH_HOST_DEVICE InstanceScatter<T, TypedScalars<E>> with_typed_scalars() const {
    return {x.template as_typed<E>(),
            y.template as_typed<E>(),
            peak_vals.template as_typed<E>(),
            probs,
            n_classes,
            n_channels,
            points,
            point_vals,
            class_probs};
  }

  // Peak p with its probabilities in row p (probs in peak order).
  IDMATCH_HOST_DEVICE IDMATCH_INLINE void operator()(int64_t p, int64_t group, int64_t class_index) const {
    if (group < 0 || class_index < 0) return;
    const int64_t sample = group / n_channels;
    to_slot(p, p, sample, group - sample * n_channels, class_index);
  }

  // Peak p by its sort key (peak_sort_key): ignored peaks sort last.
  IDMATCH_HOST_DEVICE IDMATCH_INLINE void sorted_peak(int64_t p, const int64_t* sort_keys, const int64_t* class_inds,
                                                      int64_t num_groups) const {
    (*this)(p, sort_keys[p] < num_groups ? sort_keys[p] : -1, class_inds[p]);
  }

  // Peak p of group (sample, channel), matched to class_index >= 0; its
  // probabilities are row `row` of probs.
  IDMATCH_HOST_DEVICE IDMATCH_INLINE void to_slot(int64_t p, int64_t row, int64_t sample, int64_t channel,
                                                  int64_t class_index) const {
    const int64_t dest = (sample * n_classes + class_index) * n_channels + channel;
    x.copy_to(points, 2 * dest, p);
    y.copy_to(points, 2 * dest + 1, p);
    peak_vals.copy_to(point_vals, dest, p);
    class_probs[dest] = probs[row * n_classes + class_index];
  }
};

}  // namespace core
}  // namespace idmatch

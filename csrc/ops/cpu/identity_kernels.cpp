// CPU kernels of the identity ops. Grouping is a stable counting sort by
// (sample, channel); matching runs the shared ragged solver over the groups;
// sampling (peak by peak) and scattering run the shared per-peak steps
// (core/identity.h), but for the pixels of float32 points on CPUs with
// AVX-512 (peak_pixels.h). Under IDMATCH_CPU_CUDA_PATH=1 every op runs the
// CUDA path instead (../cuda_path.h).
#include <algorithm>
#include <type_traits>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../cuda_path.h"
#include "../identity_common.h"
#include "avx512.h"
#include "cuda_path_kernels.h"
#include "peak_pixels.h"
#include "ragged_lsa_cpu.h"

namespace idmatch {
namespace ops {
namespace {

// Values read per parallel chunk when sampling (a peak reads n_classes values
// a plane apart, a few nanoseconds each). As for the solver (see
// ragged_lsa_kernel.cpp), only calls of half a millisecond or more go
// parallel.
constexpr int64_t kValuesPerChunk = 131072;

// The usual dtypes of the per-peak inputs (float32 points and values, int64
// indices) are read through typed views, the others through their
// run-time kind; both read the same values (see core::TypedScalars).

// f(x, y) with the points' columns typed when they are float32.
template <typename F>
void with_coords(const core::StridedScalars& x, const core::StridedScalars& y, F&& f) {
  if (x.kind == core::ScalarKind::kFloat32) f(x.as_typed<float>(), y.as_typed<float>());
  else f(x, y);
}

// f(samples, channels) with both typed when both are int64.
template <typename F>
void with_indices(const core::StridedScalars& samples, const core::StridedScalars& channels, F&& f) {
  if (samples.kind == core::ScalarKind::kInt64 && channels.kind == core::ScalarKind::kInt64) {
    f(samples.as_typed<int64_t>(), channels.as_typed<int64_t>());
  } else {
    f(samples, channels);
  }
}

// A stable counting sort of peaks by a key in [0, num_keys) (peaks whose key
// is negative are left out): the peaks of key k are
// order[offsets[k], offsets[k + 1]), in ascending peak order.
struct PeakOrder {
  std::vector<int64_t> offsets;
  std::vector<int64_t> order;
};

// The sort's second half, from the counts: offsets[k + 1] holds the number
// of peaks of key k (offsets[0] is 0).
PeakOrder place_peaks(const std::vector<int64_t>& keys, std::vector<int64_t> offsets) {
  PeakOrder sorted;
  const int64_t num_keys = static_cast<int64_t>(offsets.size()) - 1;
  int64_t* const offset = offsets.data();
  for (int64_t k = 0; k < num_keys; ++k) offset[k + 1] += offset[k];
  std::vector<int64_t> cursors(offset, offset + num_keys);
  sorted.order.resize(offset[num_keys]);
  int64_t* const cursor = cursors.data();
  int64_t* const order = sorted.order.data();
  const int64_t* const key = keys.data();
  const int64_t num_peaks = static_cast<int64_t>(keys.size());
  for (int64_t p = 0; p < num_peaks; ++p) {
    if (key[p] >= 0) order[cursor[key[p]]++] = p;
  }
  sorted.offsets = std::move(offsets);
  return sorted;
}

PeakOrder sort_peaks(const std::vector<int64_t>& keys, int64_t num_keys) {
  std::vector<int64_t> counts(num_keys + 1, 0);
  for (const int64_t key : keys) {
    if (key >= 0) ++counts[key + 1];
  }
  return place_peaks(keys, std::move(counts));
}

// pixel[k] = core::pixel_offset(maps, x, y, peaks[k]) for k < count: eight
// at a time with AVX-512 for float32 points (peak_pixels.h) when `avx512`
// (avx512_kernels_enabled()), else one by one.
template <typename T, typename Coords>
void listed_pixels(const core::ClassMaps<T>& maps, const Coords& x, const Coords& y, const int64_t* peaks,
                   int64_t count, bool avx512, int64_t* pixel) {
  if constexpr (std::is_same<Coords, core::TypedScalars<float>>::value) {
    // x and y are columns of one tensor, so they share a stride.
    if (avx512 && x.stride == y.stride && pixel_offsets_float32_supports(maps.height, maps.width)) {
      pixel_offsets_float32(x.data, y.data, x.stride, peaks, count, maps.height, maps.width, maps.stride_row,
                            maps.stride_col, pixel);
      return;
    }
  }
  for (int64_t k = 0; k < count; ++k) pixel[k] = core::pixel_offset(maps, x, y, peaks[k]);
}

// Samples the peaks listed by sample: the peaks of sample s are order[begin(s),
// begin(s + 1)) with begin(s) = offsets[s * stride]. A sample's pixels
// first, then peak by peak, each reading its n_classes values a plane apart.
// Peak order[k] is written to row order[k] of probs, or to row k when
// kRowsInListOrder; rows of peaks not listed are not written (in peak
// order). Sample by sample keeps the reads within one sample's maps, where
// peaks in input order jump between samples; and peak by peak was faster
// than reading a sample's peaks plane by plane (one plane after the other,
// for fewer pages per stretch of reads), markedly so on large maps.
template <bool kRowsInListOrder, typename T, typename Coords>
void sample_listed(const core::ClassMaps<T>& maps, const Coords& x, const Coords& y, const int64_t* order,
                   const int64_t* offsets, int64_t stride, T* probs) {
  const int64_t n_samples = maps.samples, n_classes = maps.classes;
  const int64_t listed = n_samples == 0 ? 0 : offsets[n_samples * stride] - offsets[0];
  // Nothing to read. Returning here also keeps the loop over samples from
  // running when none has a peak and n_samples is huge (an expanded map with
  // n_channels == 0).
  if (listed == 0) return;
  const int64_t values_per_sample = std::max<int64_t>(1, listed * n_classes / n_samples);
  const int64_t grain = std::max<int64_t>(1, kValuesPerChunk / values_per_sample);
  const bool avx512 = avx512_kernels_enabled();
  at::parallel_for(0, n_samples, grain, [&](int64_t begin, int64_t end) {
    // Copies in locals: the loop's stores could otherwise alias them, and
    // they would be read again at every peak.
    const core::ClassMaps<T> view = maps;
    const Coords xs = x, ys = y;
    std::vector<int64_t> pixels;
    for (int64_t s = begin; s < end; ++s) {
      const int64_t first = offsets[s * stride], count = offsets[(s + 1) * stride] - first;
      pixels.resize(count);
      int64_t* const pixel = pixels.data();
      const int64_t* const peaks = order + first;
      listed_pixels(view, xs, ys, peaks, count, avx512, pixel);
      for (int64_t k = 0; k < count; ++k) {
        const int64_t row = kRowsInListOrder ? first + k : peaks[k];
        core::sample_pixel(view, s, pixel[k], probs + row * n_classes);
      }
    }
  });
}

at::Tensor sample_into(const at::Tensor& class_maps, const at::Tensor& peak_points,
                       const at::Tensor& peak_sample_inds) {
  const int64_t num_peaks = peak_points.size(0), n_samples = class_maps.size(0);
  auto probs = at::empty({num_peaks, class_maps.size(1)}, class_maps.options());
  const auto x = strided_scalars(peak_points, "peak_points", 0);
  const auto y = strided_scalars(peak_points, "peak_points", 1);
  const auto samples = strided_scalars(peak_sample_inds, "peak_sample_inds");
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "sample_class_maps_cpu", [&] {
    const auto maps = class_maps_view<scalar_t>(class_maps);
    scalar_t* out = probs.mutable_data_ptr<scalar_t>();
    with_coords(x, y, [&](const auto& xs, const auto& ys) {
      // Sorting by sample takes memory and time in n_samples; with more
      // samples than peaks (an expanded map), read peak by peak instead.
      if (n_samples > num_peaks) {
        for (int64_t p = 0; p < num_peaks; ++p) core::sample_peak(maps, xs, ys, samples, p, out);
        return;
      }
      std::vector<int64_t> keys(num_peaks);
      for (int64_t p = 0; p < num_peaks; ++p) {
        const int64_t sample = samples.as_int64(p);
        keys[p] = sample >= 0 && sample < n_samples ? sample : -1;
        if (keys[p] < 0) std::fill_n(out + p * maps.classes, maps.classes, core::nan_of<scalar_t>());
      }
      const PeakOrder by_sample = sort_peaks(keys, n_samples);
      sample_listed<false>(maps, xs, ys, by_sample.order.data(), by_sample.offsets.data(), 1, out);
    });
  });
  return probs;
}

// Groups peaks by (sample, channel), sample-major, so that rows of a group
// keep ascending peak order. groups[p] gets the peak's group or its PeakCode,
// and class_inds its PeakCode or kUnmatched, as match_peaks_to_classes
// returns it.
PeakOrder group_peaks(const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t num_peaks,
                      int64_t n_samples, int64_t n_channels, std::vector<int64_t>& groups, at::Tensor& class_inds) {
  const auto samples = strided_scalars(peak_sample_inds, "peak_sample_inds");
  const auto channels = strided_scalars(peak_channel_inds, "peak_channel_inds");
  int64_t* const classes = class_inds.mutable_data_ptr<int64_t>();
  groups.resize(num_peaks);
  int64_t* const group_of = groups.data();
  // Counted as they are found (counts[g + 1] for group g), for the sort.
  std::vector<int64_t> counts(n_samples * n_channels + 1, 0);
  int64_t* const count = counts.data() + 1;
  with_indices(samples, channels, [&](const auto& sample_view, const auto& channel_view) {
    for (int64_t p = 0; p < num_peaks; ++p) {
      const int64_t group = core::peak_group(sample_view, channel_view, p, n_samples, n_channels);
      group_of[p] = group;
      classes[p] = group >= 0 ? core::kUnmatched : group;
      if (group >= 0) ++count[group];
    }
  });
  return place_peaks(groups, std::move(counts));
}

// Matches each group's peaks to classes: the rows of probs (through
// row_index when it is set) of group g are grouped.offsets[g] to
// grouped.offsets[g + 1], and `classes` gets each row's class where the
// identity ops' filter keeps it (core::MatchFilter::kRowMax).
void match_groups(const at::Tensor& probs, const PeakOrder& grouped, const int64_t* row_index, at::Tensor& classes,
                  at::Tensor& status) {
  const int64_t num_groups = static_cast<int64_t>(grouped.offsets.size()) - 1;
  run_ragged_lsa_cpu(probs, grouped.offsets.data(), num_groups, row_index, /*maximize=*/true,
                     core::MatchFilter::kRowMax, classes, status);
}

at::Tensor sample_class_maps_cpu(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                 const at::Tensor& peak_sample_inds) {
  check_class_maps_and_points(class_maps, peak_points, peak_sample_inds);
  if (cuda_path_enabled())
    return cuda_path::sample_class_maps(HostKernels{}, class_maps, peak_points, peak_sample_inds);
  return sample_into(class_maps, peak_points, peak_sample_inds);
}

std::tuple<at::Tensor, at::Tensor> match_peaks_to_classes_cpu(const at::Tensor& peak_class_probs,
                                                              const at::Tensor& peak_sample_inds,
                                                              const at::Tensor& peak_channel_inds, int64_t n_samples,
                                                              int64_t n_channels) {
  check_match_args(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels);
  if (cuda_path_enabled()) {
    return cuda_path::match_peaks_to_classes(HostKernels{}, peak_class_probs, peak_sample_inds, peak_channel_inds,
                                             n_samples, n_channels);
  }
  const int64_t num_peaks = peak_class_probs.size(0);
  auto class_inds = at::empty({num_peaks}, peak_class_probs.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, peak_class_probs.options().dtype(at::kInt));
  std::vector<int64_t> groups;
  const PeakOrder grouped =
      group_peaks(peak_sample_inds, peak_channel_inds, num_peaks, n_samples, n_channels, groups, class_inds);
  // The rows are the peaks, listed group by group through the sort's order.
  // With no grouped peak, grouped.order.data() may be null, which the solver
  // reads as "no row index": harmless, as every problem is then empty.
  match_groups(peak_class_probs, grouped, grouped.order.data(), class_inds, status);
  return {class_inds, status};
}

// The fused op's phases after the grouping: sample, solve, scatter, count.
// Only grouped peaks are sampled (the others are never matched or
// scattered), into rows in group order: each group's problem is then a
// block of contiguous rows, which the solver loads without a row index, and
// the sampling's writes and the scatter's reads go in order. The classes
// come back per row, into class_inds per peak during the scatter.

// Sample: row k of probs (class_maps' dtype T) gets the classes at grouped
// peak grouped.order[k]. Groups are sample-major, so the peaks of sample s
// start at the offset of group s * n_channels.
template <typename T>
void sample_grouped(const at::Tensor& class_maps, const at::Tensor& peak_points, const PeakOrder& grouped,
                    int64_t n_channels, at::Tensor& probs) {
  const auto maps = class_maps_view<T>(class_maps);
  const auto x = strided_scalars(peak_points, "peak_points", 0);
  const auto y = strided_scalars(peak_points, "peak_points", 1);
  with_coords(x, y, [&](const auto& xs, const auto& ys) {
    sample_listed<true>(maps, xs, ys, grouped.order.data(), grouped.offsets.data(), n_channels,
                        probs.mutable_data_ptr<T>());
  });
}

// Scatter: each grouped peak's class (class_of_row, by row) into class_inds,
// and each kept peak into the instance outputs. Group by group, so that a
// group's sample and channel come from a count rather than a division per
// peak; float32 points and values are read through typed views.
template <typename T>
void scatter_grouped(const core::InstanceScatter<T>& scatter, const PeakOrder& grouped, const int64_t* class_of_row,
                     int64_t n_channels, at::Tensor& class_inds) {
  const int64_t num_groups = static_cast<int64_t>(grouped.offsets.size()) - 1;
  int64_t* const classes = class_inds.mutable_data_ptr<int64_t>();
  const auto scatter_all = [&](const auto& to_instances) {
    for (int64_t g = 0, sample = 0, channel = 0; g < num_groups; ++g) {
      for (int64_t k = grouped.offsets[g]; k < grouped.offsets[g + 1]; ++k) {
        const int64_t p = grouped.order[k], class_index = class_of_row[k];
        classes[p] = class_index;
        if (class_index >= 0) to_instances.to_slot(p, k, sample, channel, class_index);
      }
      if (++channel == n_channels) {
        channel = 0;
        ++sample;
      }
    }
  };
  if (scatter.x.kind == core::ScalarKind::kFloat32 && scatter.peak_vals.kind == core::ScalarKind::kFloat32) {
    scatter_all(scatter.template with_typed_scalars<float>());
  } else {
    scatter_all(scatter);
  }
}

// Count: the fused op's `problems`, the peaks the grouping left out (an
// index out of range) plus the groups whose status is not ok.
at::Tensor count_problems(int64_t num_peaks, const PeakOrder& grouped, const at::Tensor& status) {
  int64_t num_problems = num_peaks - static_cast<int64_t>(grouped.order.size());
  const int32_t* group_status = status.const_data_ptr<int32_t>();
  for (int64_t g = 0; g < status.numel(); ++g) num_problems += group_status[g] != core::kOk;
  auto problems = at::empty({}, status.options().dtype(at::kLong));
  *problems.mutable_data_ptr<int64_t>() = num_problems;
  return problems;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_peaks_from_maps_cpu(
    const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
    const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t n_channels) {
  check_classify_args(class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels);
  if (cuda_path_enabled()) {
    return cuda_path::classify_peaks_from_maps(HostKernels{}, class_maps, peak_points, peak_vals, peak_sample_inds,
                                               peak_channel_inds, n_channels);
  }
  const int64_t n_samples = class_maps.size(0), num_peaks = peak_points.size(0);
  auto class_inds = at::empty({num_peaks}, class_maps.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, class_maps.options().dtype(at::kInt));
  std::vector<int64_t> groups;
  const PeakOrder grouped =
      group_peaks(peak_sample_inds, peak_channel_inds, num_peaks, n_samples, n_channels, groups, class_inds);
  // Each peak's group is not needed past the sort: freed first, so that the
  // rows' classes take its place rather than add to the call's peak memory.
  std::vector<int64_t>().swap(groups);
  const int64_t num_grouped = static_cast<int64_t>(grouped.order.size());
  auto probs = at::empty({num_grouped, class_maps.size(1)}, class_maps.options());
  auto row_classes = at::empty({num_grouped}, class_inds.options());
  int64_t* const class_of_row = row_classes.mutable_data_ptr<int64_t>();
  std::fill(class_of_row, class_of_row + num_grouped, core::kUnmatched);
  InstanceOutputs outputs(class_maps, peak_points, peak_vals, n_channels);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "classify_peaks_cpu", [&] {
    sample_grouped<scalar_t>(class_maps, peak_points, grouped, n_channels, probs);
    match_groups(probs, grouped, /*row_index=*/nullptr, row_classes, status);
    scatter_grouped(outputs.scatter<scalar_t>(peak_points, peak_vals, probs, n_channels), grouped, class_of_row,
                    n_channels, class_inds);
  });
  const auto problems = count_problems(num_peaks, grouped, status);
  return {outputs.points, outputs.point_vals, outputs.class_probs, class_inds, status, problems};
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CPU, m) {
  m.impl("sample_class_maps", &idmatch::ops::sample_class_maps_cpu);
  m.impl("match_peaks_to_classes", &idmatch::ops::match_peaks_to_classes_cpu);
  m.impl("classify_peaks_from_maps", &idmatch::ops::classify_peaks_from_maps_cpu);
}

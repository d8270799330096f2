// CPU kernels of the identity ops. Grouping is a stable counting sort by
// (sample, channel); matching runs the shared ragged solver over the groups;
// sampling and scattering run the shared per-peak steps (core/identity.h).
#include <algorithm>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../identity_common.h"
#include "ragged_lsa_cpu.h"

namespace idmatch {
namespace ops {
namespace {

// Values read per parallel chunk when sampling (a peak reads n_classes values
// a plane apart, a few nanoseconds each). As for the solver (see
// ragged_lsa_kernel.cpp), only calls of half a millisecond or more go
// parallel.
constexpr int64_t kValuesPerChunk = 131072;

at::Tensor sample_into(const at::Tensor& class_maps, const at::Tensor& peak_points,
                       const at::Tensor& peak_sample_inds) {
  const int64_t num_peaks = peak_points.size(0);
  auto probs = at::empty({num_peaks, class_maps.size(1)}, class_maps.options());
  const auto x = strided_scalars(peak_points, "peak_points", 0);
  const auto y = strided_scalars(peak_points, "peak_points", 1);
  const auto samples = strided_scalars(peak_sample_inds, "peak_sample_inds");
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "sample_class_maps_cpu", [&] {
    const auto maps = class_maps_view<scalar_t>(class_maps);
    scalar_t* out = probs.mutable_data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, kValuesPerChunk / std::max<int64_t>(1, maps.classes));
    at::parallel_for(0, num_peaks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) core::sample_peak(maps, x, y, samples, p, out);
    });
  });
  return probs;
}

// Groups peaks by (sample, channel) with a stable counting sort, so rows of a
// group keep ascending peak order, then matches every group. groups[p] gets
// the peak's group (or its PeakCode); class_inds is written as
// match_peaks_to_classes returns it.
void group_and_match(const at::Tensor& probs, const at::Tensor& peak_sample_inds,
                     const at::Tensor& peak_channel_inds, int64_t n_samples, int64_t n_channels,
                     std::vector<int64_t>& groups, at::Tensor& class_inds, at::Tensor& status) {
  const int64_t num_peaks = probs.size(0);
  const int64_t num_groups = n_samples * n_channels;
  const auto samples = strided_scalars(peak_sample_inds, "peak_sample_inds");
  const auto channels = strided_scalars(peak_channel_inds, "peak_channel_inds");
  std::vector<int64_t> offsets(num_groups + 1, 0);
  int64_t* offset = offsets.data();
  int64_t* classes = class_inds.mutable_data_ptr<int64_t>();
  groups.resize(num_peaks);
  for (int64_t p = 0; p < num_peaks; ++p) {
    const int64_t group = core::peak_group(samples, channels, p, n_samples, n_channels);
    groups[p] = group;
    classes[p] = group >= 0 ? core::kUnmatched : group;
    if (group >= 0) ++offset[group + 1];
  }
  for (int64_t g = 0; g < num_groups; ++g) offset[g + 1] += offset[g];
  std::vector<int64_t> cursor(offset, offset + num_groups);
  std::vector<int64_t> order(num_peaks);
  for (int64_t p = 0; p < num_peaks; ++p) {
    if (groups[p] >= 0) order[cursor[groups[p]]++] = p;
  }
  ragged_lsa_cpu_launch(probs, offset, num_groups, order.data(), /*maximize=*/true, /*keep_best=*/true, class_inds,
                        status);
}

at::Tensor sample_class_maps_cpu(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                 const at::Tensor& peak_sample_inds) {
  check_class_maps_and_points(class_maps, peak_points, peak_sample_inds);
  return sample_into(class_maps, peak_points, peak_sample_inds);
}

std::tuple<at::Tensor, at::Tensor> match_peaks_to_classes_cpu(const at::Tensor& peak_class_probs,
                                                              const at::Tensor& peak_sample_inds,
                                                              const at::Tensor& peak_channel_inds, int64_t n_samples,
                                                              int64_t n_channels) {
  check_match_args(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels);
  auto class_inds = at::empty({peak_class_probs.size(0)}, peak_class_probs.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, peak_class_probs.options().dtype(at::kInt));
  std::vector<int64_t> groups;
  group_and_match(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, groups, class_inds,
                  status);
  return {class_inds, status};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_peaks_from_maps_cpu(
    const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
    const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t n_channels) {
  check_classify_args(class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels);
  const int64_t n_samples = class_maps.size(0), num_peaks = peak_points.size(0);
  const auto probs = sample_into(class_maps, peak_points, peak_sample_inds);
  auto class_inds = at::empty({num_peaks}, class_maps.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, class_maps.options().dtype(at::kInt));
  std::vector<int64_t> groups;
  group_and_match(probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, groups, class_inds, status);

  InstanceOutputs outputs(class_maps, peak_points, peak_vals, n_channels);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "classify_peaks_cpu", [&] {
    const auto scatter = outputs.scatter<scalar_t>(peak_points, peak_vals, probs, n_channels);
    const int64_t* classes = class_inds.const_data_ptr<int64_t>();
    for (int64_t p = 0; p < num_peaks; ++p) scatter(p, groups[p], classes[p]);
  });
  int64_t num_problems = 0;
  for (int64_t p = 0; p < num_peaks; ++p) num_problems += groups[p] < 0;
  const int32_t* group_status = status.const_data_ptr<int32_t>();
  for (int64_t g = 0; g < status.numel(); ++g) num_problems += group_status[g] != core::kOk;
  auto problems = at::empty({}, class_maps.options().dtype(at::kLong));
  *problems.mutable_data_ptr<int64_t>() = num_problems;
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

// The ATen glue of the CUDA kernels' path through every op, written once for
// two sets of kernels: the CUDA kernels (cuda/cuda_kernels.h) and their
// serial imitation on the CPU (cpu/cuda_path_kernels.h), which the CPU
// kernels run under IDMATCH_CPU_CUDA_PATH=1 so that the tests check, on a
// machine without a GPU, the core calls the CUDA kernels make: the same
// per-element functions with the same arguments and template choices (no
// dense copy, one workspace shared by the batch, a row index and the kRowMax
// filter for groups of every size), the same grouping and the same refusal of
// a batch with bad offsets. See docs/design.md, "Verified only on a GPU", for
// what the imitation cannot reach.
//
// A Kernels type has the methods, each over all its work items:
//   sample_class_maps(maps, x, y, sample_inds, num_peaks, probs)
//       core::sample_peak for each peak;
//   peak_sort_keys(sample_inds, channel_inds, num_peaks, n_samples,
//                  n_channels, sort_keys, class_inds)
//       core::peak_sort_key for each peak;
//   instance_scatter(scatter, sort_keys, class_inds, num_peaks, num_groups)
//       core::InstanceScatter::sorted_peak for each peak;
//   count_problems(class_inds, num_peaks, status, num_groups, problems)
//       *problems = how many items core::counts_as_problem counts;
//   ragged_lsa(params, doubles, ints, offsets_bad)
//       *offsets_bad = whether any pair of offsets is bad (null: the
//       offsets are valid, unchecked), then each problem solved in its slot.
// The caller checks the arguments and, on a GPU, holds the device guard.
#pragma once

#include <tuple>

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/sort.h>

#include "identity_common.h"
#include "ragged_lsa_params.h"

namespace idmatch {
namespace ops {
namespace cuda_path {

// Solves a ragged batch whose offsets (S + 1,) int64 and row_index live on
// the kernels' device; col_for_row is pre-filled, as for run_ragged_lsa_cpu.
// Offsets from the caller are checked on the device (a batch with a bad
// pair is refused); offsets_built_here are valid by construction and skip
// the check's two launches.
template <class Kernels>
void ragged_lsa(const Kernels& kernels, const at::Tensor& cost, const at::Tensor& offsets, const int64_t* row_index,
                bool maximize, core::MatchFilter match_filter, bool offsets_built_here, at::Tensor& col_for_row,
                at::Tensor& status) {
  const int64_t num_rows = cost.size(0), num_cols = cost.size(1), num_problems = offsets.size(0) - 1;
  const int64_t units = core::workspace_units(num_rows, num_problems, num_cols);
  const auto options = cost.options();
  auto doubles = at::empty({core::kDoublesPerUnit * units}, options.dtype(at::kDouble));
  auto ints = at::empty({core::kIntsPerUnit * units}, options.dtype(at::kInt));
  auto offsets_bad = at::empty({offsets_built_here ? 0 : 1}, options.dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cost.scalar_type(), "ragged_lsa_cuda_path", [&] {
    const auto p = ragged_lsa_params<scalar_t>(cost, offsets.const_data_ptr<int64_t>(), num_problems, row_index,
                                               maximize, match_filter, col_for_row, status);
    kernels.ragged_lsa(p, doubles.mutable_data_ptr<double>(), ints.mutable_data_ptr<int32_t>(),
                       offsets_built_here ? nullptr : offsets_bad.mutable_data_ptr<int32_t>());
  });
}

template <class Kernels>
std::tuple<at::Tensor, at::Tensor> ragged_linear_sum_assignment(const Kernels& kernels, const at::Tensor& cost,
                                                                const at::Tensor& offsets, bool maximize) {
  auto col_for_row = at::full({cost.size(0)}, -1, cost.options().dtype(at::kLong));
  auto status = at::empty({offsets.size(0) - 1}, cost.options().dtype(at::kInt));
  ragged_lsa(kernels, cost, offsets.contiguous(), nullptr, maximize, core::MatchFilter::kAll,
             /*offsets_built_here=*/false, col_for_row, status);
  return {col_for_row, status};
}

template <class Kernels>
at::Tensor sample_class_maps(const Kernels& kernels, const at::Tensor& class_maps, const at::Tensor& peak_points,
                             const at::Tensor& peak_sample_inds) {
  const int64_t num_peaks = peak_points.size(0);
  auto probs = at::empty({num_peaks, class_maps.size(1)}, class_maps.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, class_maps.scalar_type(), "sample_class_maps_cuda_path", [&] {
        kernels.sample_class_maps(class_maps_view<scalar_t>(class_maps), strided_scalars(peak_points, "peak_points", 0),
                                  strided_scalars(peak_points, "peak_points", 1),
                                  strided_scalars(peak_sample_inds, "peak_sample_inds"), num_peaks,
                                  probs.mutable_data_ptr<scalar_t>());
      });
  return probs;
}

// Groups and matches the peaks, writing class_inds and status as
// match_peaks_to_classes returns them. Grouping is a stable sort of the peaks
// by (sample, channel) and a search for each group's first peak, both
// sync-free ATen ops. Returns each peak's sort key (core::peak_sort_key).
template <class Kernels>
at::Tensor group_and_match(const Kernels& kernels, const at::Tensor& probs, const at::Tensor& peak_sample_inds,
                           const at::Tensor& peak_channel_inds, int64_t n_samples, int64_t n_channels,
                           at::Tensor& class_inds, at::Tensor& status) {
  const int64_t num_peaks = probs.size(0), num_groups = n_samples * n_channels;
  const auto index_options = probs.options().dtype(at::kLong);
  auto sort_keys = at::empty({num_peaks}, index_options);
  kernels.peak_sort_keys(strided_scalars(peak_sample_inds, "peak_sample_inds"),
                         strided_scalars(peak_channel_inds, "peak_channel_inds"), num_peaks, n_samples, n_channels,
                         sort_keys.mutable_data_ptr<int64_t>(), class_inds.mutable_data_ptr<int64_t>());
  // Stable: rows of a group keep ascending peak order, as the reference's.
  const auto sorted = at::sort(sort_keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto offsets = at::searchsorted(std::get<0>(sorted), at::arange(num_groups + 1, index_options));
  const auto& order = std::get<1>(sorted);
  // Searched in sorted keys, the offsets ascend from 0 to at most num_peaks.
  ragged_lsa(kernels, probs, offsets, order.const_data_ptr<int64_t>(), /*maximize=*/true, core::MatchFilter::kRowMax,
             /*offsets_built_here=*/true, class_inds, status);
  return sort_keys;
}

template <class Kernels>
std::tuple<at::Tensor, at::Tensor> match_peaks_to_classes(const Kernels& kernels, const at::Tensor& peak_class_probs,
                                                          const at::Tensor& peak_sample_inds,
                                                          const at::Tensor& peak_channel_inds, int64_t n_samples,
                                                          int64_t n_channels) {
  auto class_inds = at::empty({peak_class_probs.size(0)}, peak_class_probs.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, peak_class_probs.options().dtype(at::kInt));
  group_and_match(kernels, peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, class_inds,
                  status);
  return {class_inds, status};
}

template <class Kernels>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_peaks_from_maps(
    const Kernels& kernels, const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
    const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t n_channels) {
  const int64_t n_samples = class_maps.size(0), num_peaks = peak_points.size(0);
  const at::Tensor probs = sample_class_maps(kernels, class_maps, peak_points, peak_sample_inds);
  auto class_inds = at::empty({num_peaks}, class_maps.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, class_maps.options().dtype(at::kInt));
  const at::Tensor sort_keys =
      group_and_match(kernels, probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, class_inds, status);

  InstanceOutputs outputs(class_maps, peak_points, peak_vals, n_channels);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "classify_peaks_cuda_path", [&] {
    kernels.instance_scatter(outputs.scatter<scalar_t>(peak_points, peak_vals, probs, n_channels),
                             sort_keys.const_data_ptr<int64_t>(), class_inds.const_data_ptr<int64_t>(), num_peaks,
                             n_samples * n_channels);
  });
  // Counted on the device, without a sync: the reader decides when to look.
  auto problems = at::empty({}, class_maps.options().dtype(at::kLong));
  kernels.count_problems(class_inds.const_data_ptr<int64_t>(), num_peaks, status.const_data_ptr<int32_t>(),
                         n_samples * n_channels, problems.mutable_data_ptr<int64_t>());
  return {outputs.points, outputs.point_vals, outputs.class_probs, class_inds, status, problems};
}

}  // namespace cuda_path
}  // namespace ops
}  // namespace idmatch

// ATen glue of the CUDA identity ops: checks, allocations, device guard and
// stream. Grouping is a stable sort of the peaks by (sample, channel) and a
// search for each group's first peak; both are sync-free ATen ops.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/lt.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/sum.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../identity_common.h"
#include "identity_kernels.h"
#include "ragged_lsa_cuda.h"

namespace idmatch {
namespace ops {
namespace {

cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

at::Tensor sample_into(const at::Tensor& class_maps, const at::Tensor& peak_points,
                       const at::Tensor& peak_sample_inds) {
  const int64_t num_peaks = peak_points.size(0);
  auto probs = at::empty({num_peaks, class_maps.size(1)}, class_maps.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "sample_class_maps_cuda", [&] {
    C10_CUDA_CHECK(launch_sample_class_maps(
        class_maps_view<scalar_t>(class_maps), strided_scalars(peak_points, "peak_points", 0),
        strided_scalars(peak_points, "peak_points", 1), strided_scalars(peak_sample_inds, "peak_sample_inds"),
        num_peaks, probs.mutable_data_ptr<scalar_t>(), current_stream(class_maps)));
  });
  return probs;
}

// Groups and matches the peaks, writing class_inds and status as
// match_peaks_to_classes returns them. Returns each peak's sort key (its
// group, or n_samples * n_channels when it was ignored).
at::Tensor group_and_match(const at::Tensor& probs, const at::Tensor& peak_sample_inds,
                           const at::Tensor& peak_channel_inds, int64_t n_samples, int64_t n_channels,
                           at::Tensor& class_inds, at::Tensor& status) {
  const int64_t num_peaks = probs.size(0), num_groups = n_samples * n_channels;
  const auto index_options = probs.options().dtype(at::kLong);
  auto sort_keys = at::empty({num_peaks}, index_options);
  C10_CUDA_CHECK(launch_peak_groups(strided_scalars(peak_sample_inds, "peak_sample_inds"),
                                    strided_scalars(peak_channel_inds, "peak_channel_inds"), num_peaks, n_samples,
                                    n_channels, sort_keys.mutable_data_ptr<int64_t>(),
                                    class_inds.mutable_data_ptr<int64_t>(), current_stream(probs)));
  // Stable: rows of a group keep ascending peak order, as the reference's.
  const auto sorted = at::sort(sort_keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto offsets = at::searchsorted(std::get<0>(sorted), at::arange(num_groups + 1, index_options));
  const auto& order = std::get<1>(sorted);
  run_ragged_lsa_cuda(probs, offsets, order.const_data_ptr<int64_t>(), /*maximize=*/true, core::MatchFilter::kRowMax,
                      class_inds, status);
  return sort_keys;
}

at::Tensor sample_class_maps_cuda(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                  const at::Tensor& peak_sample_inds) {
  check_class_maps_and_points(class_maps, peak_points, peak_sample_inds);
  const c10::cuda::CUDAGuard device_guard(class_maps.device());
  return sample_into(class_maps, peak_points, peak_sample_inds);
}

std::tuple<at::Tensor, at::Tensor> match_peaks_to_classes_cuda(const at::Tensor& peak_class_probs,
                                                               const at::Tensor& peak_sample_inds,
                                                               const at::Tensor& peak_channel_inds, int64_t n_samples,
                                                               int64_t n_channels) {
  check_match_args(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels);
  const c10::cuda::CUDAGuard device_guard(peak_class_probs.device());
  auto class_inds = at::empty({peak_class_probs.size(0)}, peak_class_probs.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, peak_class_probs.options().dtype(at::kInt));
  group_and_match(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, class_inds, status);
  return {class_inds, status};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_peaks_from_maps_cuda(
    const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
    const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t n_channels) {
  check_classify_args(class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels);
  const c10::cuda::CUDAGuard device_guard(class_maps.device());
  const int64_t n_samples = class_maps.size(0), num_peaks = peak_points.size(0);
  const auto probs = sample_into(class_maps, peak_points, peak_sample_inds);
  auto class_inds = at::empty({num_peaks}, class_maps.options().dtype(at::kLong));
  auto status = at::empty({n_samples, n_channels}, class_maps.options().dtype(at::kInt));
  const auto sort_keys =
      group_and_match(probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels, class_inds, status);

  InstanceOutputs outputs(class_maps, peak_points, peak_vals, n_channels);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, class_maps.scalar_type(), "classify_peaks_cuda", [&] {
    C10_CUDA_CHECK(launch_instance_scatter(outputs.scatter<scalar_t>(peak_points, peak_vals, probs, n_channels),
                                           sort_keys.const_data_ptr<int64_t>(), class_inds.const_data_ptr<int64_t>(),
                                           num_peaks, n_samples * n_channels, current_stream(class_maps)));
  });
  // Counted on the device, without a sync: the reader decides when to look.
  auto problems =
      class_inds.lt(static_cast<int64_t>(core::kUnmatched)).sum().add(status.ne(static_cast<int64_t>(core::kOk)).sum());
  return {outputs.points, outputs.point_vals, outputs.class_probs, class_inds, status, problems};
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) {
  m.impl("sample_class_maps", &idmatch::ops::sample_class_maps_cuda);
  m.impl("match_peaks_to_classes", &idmatch::ops::match_peaks_to_classes_cuda);
  m.impl("classify_peaks_from_maps", &idmatch::ops::classify_peaks_from_maps_cuda);
}

// The CUDA identity ops: checks and device guard; the glue is the CUDA
// path's (../cuda_path.h), the kernels take plain pointers
// (identity_kernels.cu, ragged_lsa_kernel.cu).
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../cuda_path.h"
#include "../identity_common.h"
#include "cuda_kernels.h"

namespace idmatch {
namespace ops {
namespace {

at::Tensor sample_class_maps_cuda(const at::Tensor& class_maps, const at::Tensor& peak_points,
                                  const at::Tensor& peak_sample_inds) {
  check_class_maps_and_points(class_maps, peak_points, peak_sample_inds);
  const c10::cuda::CUDAGuard device_guard(class_maps.device());
  return cuda_path::sample_class_maps(CudaKernels{}, class_maps, peak_points, peak_sample_inds);
}

std::tuple<at::Tensor, at::Tensor> match_peaks_to_classes_cuda(const at::Tensor& peak_class_probs,
                                                               const at::Tensor& peak_sample_inds,
                                                               const at::Tensor& peak_channel_inds, int64_t n_samples,
                                                               int64_t n_channels) {
  check_match_args(peak_class_probs, peak_sample_inds, peak_channel_inds, n_samples, n_channels);
  const c10::cuda::CUDAGuard device_guard(peak_class_probs.device());
  return cuda_path::match_peaks_to_classes(CudaKernels{}, peak_class_probs, peak_sample_inds, peak_channel_inds,
                                           n_samples, n_channels);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> classify_peaks_from_maps_cuda(
    const at::Tensor& class_maps, const at::Tensor& peak_points, const at::Tensor& peak_vals,
    const at::Tensor& peak_sample_inds, const at::Tensor& peak_channel_inds, int64_t n_channels) {
  check_classify_args(class_maps, peak_points, peak_vals, peak_sample_inds, peak_channel_inds, n_channels);
  const c10::cuda::CUDAGuard device_guard(class_maps.device());
  return cuda_path::classify_peaks_from_maps(CudaKernels{}, class_maps, peak_points, peak_vals, peak_sample_inds,
                                             peak_channel_inds, n_channels);
}

}  // namespace
}  // namespace ops
}  // namespace idmatch

TORCH_LIBRARY_IMPL(idmatch, CUDA, m) {
  m.impl("sample_class_maps", &idmatch::ops::sample_class_maps_cuda);
  m.impl("match_peaks_to_classes", &idmatch::ops::match_peaks_to_classes_cuda);
  m.impl("classify_peaks_from_maps", &idmatch::ops::classify_peaks_from_maps_cuda);
}

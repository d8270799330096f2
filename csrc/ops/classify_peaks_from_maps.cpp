// Schema of the fused identity op: sample_class_maps, then
// match_peaks_to_classes, then a scatter into per-instance arrays. Kernels:
// cpu/identity_kernels.cpp, cuda/identity_cuda.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(idmatch, m) {
  // Returns points (S, C, n_channels, 2) in peak_points' dtype, point_vals
  // (S, C, n_channels) in peak_vals' dtype, class_probs (S, C, n_channels) in
  // class_maps' dtype, all NaN where no peak was kept, class_inds (P,) and
  // status (S, n_channels) as match_peaks_to_classes, and problems, a 0-dim
  // int64: the number of peaks ignored for an out-of-range index plus the
  // number of groups whose status is not ok. The Python API reads that one
  // number instead of reducing class_inds and status on every call.
  m.def(
      "classify_peaks_from_maps(Tensor class_maps, Tensor peak_points, Tensor peak_vals, Tensor peak_sample_inds, "
      "Tensor peak_channel_inds, int n_channels) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

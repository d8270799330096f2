// Schema of the padded peak-to-class op, for an exported bottom-up
// multi-class model's fixed-shape outputs. Kernels: cpu/padded_kernels.cpp,
// cuda/padded_cuda.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(idmatch, m) {
  // peaks (B, N, K, 2), peak_vals (B, N, K) and class_probs (B, N, K, C)
  // floating; peak_mask (B, N, K) bool. Group (b, n) matches its valid slots
  // (peak_mask true, in increasing slot order; other slots are ignored
  // whatever their values) to the C classes maximizing probability, as scipy
  // solves -probs, and keeps a match only when its probability equals the
  // slot's largest. A kept slot k matched to class c lands at [b, c, n] of
  // points (B, C, N, 2) in peaks' dtype, point_vals (B, C, N) in peak_vals'
  // dtype and class_vectors (B, C, N, C) in class_probs' dtype (its whole
  // probability vector); NaN elsewhere. status (B, N) int32 per group
  // (core::Status; a group that is not ok keeps NaN outputs). Output shapes
  // depend on input shapes only; the op never syncs.
  m.def(
      "classify_padded_peaks(Tensor peaks, Tensor peak_vals, Tensor peak_mask, Tensor class_probs) "
      "-> (Tensor, Tensor, Tensor, Tensor)");
}

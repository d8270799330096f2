// Schema of the padded instance-to-class op, for an exported top-down
// multi-class model's fixed-shape outputs. Kernels: cpu/padded_kernels.cpp,
// cuda/padded_cuda.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(idmatch, m) {
  // class_probs (B, I, C) floating; instance_valid (B, I) bool. Sample b
  // matches its valid instances (in increasing instance order; the others are
  // ignored whatever their values) to the C classes maximizing probability,
  // as scipy solves -probs; every match is kept. Returns class_inds (B, I)
  // int64, the class of each instance (-1: invalid or left without a class),
  // instance_inds (B, C) int64, the instance of each class (-1: none), and
  // status (B,) int32 per sample (core::Status; a sample that is not ok keeps
  // -1 everywhere). Output shapes depend on input shapes only; the op never
  // syncs.
  m.def("match_padded_instances(Tensor class_probs, Tensor instance_valid) -> (Tensor, Tensor, Tensor)");
}

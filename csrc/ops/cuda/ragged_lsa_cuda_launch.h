// The CUDA ragged LSA launcher on tensors, shared by the ragged op and the
// identity ops. The contract of ragged_lsa_cpu_launch (cpu/ragged_lsa_cpu.h),
// except that offsets is a device tensor (S + 1,) int64 and row_index device
// memory; the caller holds the device guard.
#pragma once

#include <ATen/core/Tensor.h>

namespace idmatch {
namespace ops {

void ragged_lsa_cuda_launch(const at::Tensor& cost, const at::Tensor& offsets, const int64_t* row_index, bool maximize,
                            bool keep_best, at::Tensor& col_for_row, at::Tensor& status);

}  // namespace ops
}  // namespace idmatch

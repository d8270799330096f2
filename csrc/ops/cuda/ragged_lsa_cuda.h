// The CUDA ragged LSA on tensors, shared by the ragged op and the identity
// ops: run_ragged_lsa_cuda allocates the workspace and calls the kernel
// launcher (launch_ragged_lsa_kernel, ragged_lsa_kernel.h). The contract of
// run_ragged_lsa_cpu (cpu/ragged_lsa_cpu.h), except that offsets is a device
// tensor (S + 1,) int64 and row_index device memory; the caller holds the
// device guard.
#pragma once

#include <ATen/core/Tensor.h>

#include "../../core/ragged_lsa.h"

namespace idmatch {
namespace ops {

void run_ragged_lsa_cuda(const at::Tensor& cost, const at::Tensor& offsets, const int64_t* row_index, bool maximize,
                         core::MatchFilter match_filter, at::Tensor& col_for_row, at::Tensor& status);

}  // namespace ops
}  // namespace idmatch

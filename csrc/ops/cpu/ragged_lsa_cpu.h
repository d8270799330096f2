// The CPU ragged LSA on tensors, shared by the ragged op and the identity ops.
#pragma once

#include <ATen/core/Tensor.h>

#include "../../core/ragged_lsa.h"

namespace idmatch {
namespace ops {

// Solves every problem of a ragged batch in parallel over problems.
// cost (P, M) floating, any strides; offsets: num_problems + 1 int64 (host
// memory, so the identity kernels pass a vector and skip a tensor); row_index
// null, or offsets[num_problems] int64 cost rows (see core/ragged_lsa.h).
// col_for_row (P,) int64 must be contiguous and pre-filled (-1, or the
// identity ops' per-peak codes): only assigned rows are written. status
// (num_problems,) int32 contiguous.
void run_ragged_lsa_cpu(const at::Tensor& cost, const int64_t* offsets, int64_t num_problems, const int64_t* row_index,
                        bool maximize, core::MatchFilter match_filter, at::Tensor& col_for_row, at::Tensor& status);

}  // namespace ops
}  // namespace idmatch

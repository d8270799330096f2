// A ragged batch's tensors as the plain-pointer core sees them
// (core::RaggedLsaParams), for the CPU and CUDA runners alike.
#pragma once

#include <ATen/core/Tensor.h>

#include "../core/ragged_lsa.h"

namespace idmatch {
namespace ops {

// cost (P, M) of element type T, any strides; offsets (num_problems + 1
// int64) and row_index (null, or offsets[num_problems] int64) in the memory
// of the kernel that reads them; col_for_row (P,) int64 and status
// (num_problems,) int32 contiguous.
template <typename T>
core::RaggedLsaParams<T> ragged_lsa_params(const at::Tensor& cost, const int64_t* offsets, int64_t num_problems,
                                           const int64_t* row_index, bool maximize, core::MatchFilter match_filter,
                                           at::Tensor& col_for_row, at::Tensor& status) {
  return {cost.const_data_ptr<T>(),
          cost.stride(0),
          cost.stride(1),
          cost.size(0),
          cost.size(1),
          offsets,
          num_problems,
          row_index,
          maximize,
          match_filter,
          col_for_row.mutable_data_ptr<int64_t>(),
          status.mutable_data_ptr<int32_t>()};
}

}  // namespace ops
}  // namespace idmatch

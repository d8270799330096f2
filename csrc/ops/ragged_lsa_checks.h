// Shape-level argument checks of the ragged LSA op, shared by its kernels.
// They look at metadata only (never at values), so they cost no host sync.
#pragma once

#include <ATen/core/Tensor.h>

namespace idmatch {
namespace ops {

// The floating dtypes the kernels are instantiated for. at::isFloatingType
// also admits the float8 and float4 types, which no kernel reads.
inline bool is_kernel_floating(at::ScalarType dtype) {
  return dtype == at::kDouble || dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16;
}
constexpr const char* kKernelFloatingNames = "float64, float32, float16 or bfloat16";

inline void check_ragged_lsa_args(const at::Tensor& cost, const at::Tensor& offsets) {
  TORCH_CHECK_VALUE(cost.dim() == 2, "cost must be a 2-D tensor (rows, cols), got ", cost.dim(), "-D");
  TORCH_CHECK_TYPE(is_kernel_floating(cost.scalar_type()), "cost must have a floating dtype (", kKernelFloatingNames,
                   "), got ", cost.scalar_type());
  TORCH_CHECK_VALUE(offsets.dim() == 1 && offsets.size(0) >= 1,
                    "offsets must be a 1-D tensor of length num_problems + 1, got shape ", offsets.sizes());
  TORCH_CHECK_TYPE(offsets.scalar_type() == at::kLong, "offsets must be int64, got ", offsets.scalar_type());
  TORCH_CHECK_VALUE(cost.device() == offsets.device(), "offsets must be on the device of cost (", cost.device(),
                    "), got ", offsets.device());
  // Workspace: (rows + problems * cols) slots must fit in int64 with room.
  const int64_t rows = cost.size(0), cols = cost.size(1), problems = offsets.size(0) - 1;
  // An empty cost may have any column count, up to INT64_MAX, where cols + 1
  // would overflow; past 2**60 the quotient is 0 anyway.
  constexpr int64_t kSlots = int64_t{1} << 60;
  const int64_t budget = cols >= kSlots ? 0 : kSlots / (cols + 1);
  TORCH_CHECK_VALUE(cols == 0 || problems <= budget - rows, "cost and offsets describe too large a batch: ", problems,
                    " problems of ", cols, " columns");
}

}  // namespace ops
}  // namespace idmatch

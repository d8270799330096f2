// Launch geometry of the kernels: each is a grid-stride loop over its work
// items (problems or peaks), with 64-bit indices, so any count fits a grid of
// at most kMaxBlocks blocks.
#pragma once

#include <cstdint>

namespace idmatch {
namespace ops {

constexpr int64_t kMaxBlocks = 65535;

inline int blocks_for(int64_t work, int threads_per_block) {
  const int64_t blocks = (work + threads_per_block - 1) / threads_per_block;
  return static_cast<int>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline int64_t grid_first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }

__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace ops
}  // namespace idmatch

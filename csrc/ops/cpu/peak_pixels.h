// The peaks' pixels (core::pixel_offset) eight at a time with AVX-512, for
// the CPU kernels' sampling on CPUs that have it: in a scalar loop, the
// per-peak rounding, clamping and NaN tests are a large share of sampling's
// time.
#pragma once

#include <cstdint>

namespace idmatch {
namespace ops {

// Whether pixel_offsets_float32 supports maps of this height and width:
// from 1 to 2^24 pixels, so that the last pixel is exact in float32 (past
// 2^24, float(size - 1) may round up to size, one pixel out of the map).
inline bool pixel_offsets_float32_supports(int64_t height, int64_t width) {
  constexpr int64_t kExactInFloat = int64_t{1} << 24;
  return height >= 1 && width >= 1 && height <= kExactInFloat && width <= kExactInFloat;
}

// out[k] = core::pixel_offset(maps, x, y, peaks[k]) for k in [0, count),
// with float32 coordinates x[p * point_stride] and y[p * point_stride] of
// peak p, and the maps' height, width and row and column strides: the same
// rounding (rint's: in the current rounding mode, half to even by default),
// clamping and -1 for NaN, bit for bit, and no invalid-operation flag for
// NaN (a caller may trap it). Call only when avx512_kernels_enabled()
// (avx512.h) and pixel_offsets_float32_supports().
void pixel_offsets_float32(const float* x, const float* y, int64_t point_stride, const int64_t* peaks, int64_t count,
                           int64_t height, int64_t width, int64_t stride_row, int64_t stride_col, int64_t* out);

}  // namespace ops
}  // namespace idmatch

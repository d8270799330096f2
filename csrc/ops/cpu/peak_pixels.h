// The peaks' pixels (core::pixel_offset) sixteen at a time with AVX-512, for
// the CPU kernels' sampling on CPUs that have it. The per-peak rounding,
// clamping and NaN tests took a scalar loop about 14 cycles a peak, two
// fifths of sampling's time on W3; this takes about 4 (W3's call: 63 us
// instead of 68, builds alternated run by run).
#pragma once

#include <cstdint>

namespace idmatch {
namespace ops {

// Whether pixel_offsets_float32 takes maps of this height and width and
// points of this stride (in elements): sizes from 1 to 2^24, whose last
// pixel is exact in float32, and strides whose sixteen lanes' element
// offsets fit in int32.
inline bool pixel_offsets_float32_take(int64_t height, int64_t width, int64_t point_stride) {
  constexpr int64_t kExactInFloat = int64_t{1} << 24;
  return height >= 1 && width >= 1 && height <= kExactInFloat && width <= kExactInFloat && point_stride >= 0 &&
         point_stride < (int64_t{1} << 27);
}

// out[p] = core::pixel_offset(maps, x, y, p) for p in [0, num_peaks), with
// float32 coordinates x[p * point_stride] and y[p * point_stride], and the
// maps' height, width and row and column strides: the same rounding (half
// to even under the current rounding mode, as rint), clamping and -1 for
// NaN, bit for bit. Call only when small_solver_enabled() (which the
// IDMATCH_CPU_SOLVER=portable test run turns off, so that it checks the
// core's pixel_offset) and pixel_offsets_float32_take().
void pixel_offsets_float32(const float* x, const float* y, int64_t point_stride, int64_t num_peaks, int64_t height,
                           int64_t width, int64_t stride_row, int64_t stride_col, int64_t* out);

}  // namespace ops
}  // namespace idmatch

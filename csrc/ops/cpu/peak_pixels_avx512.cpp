// The AVX-512 pixel offsets (see peak_pixels.h). As the small solver's, the
// function carries its own target attribute and runs only after the CPU
// check, so the rest of the library stays built for the baseline x86-64.
#include "peak_pixels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace idmatch {
namespace ops {
namespace {

#define IDMATCH_PIXELS_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))

// The element offsets rows * row_step + cols * col_step of eight lanes, in
// int64 as the core computes them.
IDMATCH_PIXELS_AVX512 __attribute__((always_inline)) inline __m512i element_offsets(__m256i rows, __m256i cols,
                                                                                   __m512i row_step,
                                                                                   __m512i col_step) {
  return _mm512_add_epi64(_mm512_mullo_epi64(_mm512_cvtepi32_epi64(rows), row_step),
                          _mm512_mullo_epi64(_mm512_cvtepi32_epi64(cols), col_step));
}

}  // namespace

IDMATCH_PIXELS_AVX512 void pixel_offsets_float32(
    const float* x, const float* y, int64_t point_stride, int64_t num_peaks, int64_t height, int64_t width,
    int64_t stride_row, int64_t stride_col, int64_t* out) {
  // Lane k reads the coordinates of the chunk's peak k. The points are
  // gathered whatever their stride: deinterleaving contiguous (x, y) pairs
  // with permutes instead would save little next to the rest.
  const __m512i lane_offsets =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int32_t>(point_stride)));
  const __m512 zero = _mm512_setzero_ps();
  const __m512 last_row = _mm512_set1_ps(static_cast<float>(height - 1));
  const __m512 last_col = _mm512_set1_ps(static_cast<float>(width - 1));
  const __m512i row_step = _mm512_set1_epi64(stride_row), col_step = _mm512_set1_epi64(stride_col);
  const __m512i unsampled = _mm512_set1_epi64(-1);
  for (int64_t p = 0; p < num_peaks; p += 16) {
    const int64_t left = num_peaks - p;
    // Lanes past the last peak are neither read nor written.
    const auto lanes = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    const __m512 xs = _mm512_mask_i32gather_ps(zero, lanes, lane_offsets, x + p * point_stride, 4);
    const __m512 ys = _mm512_mask_i32gather_ps(zero, lanes, lane_offsets, y + p * point_stride, 4);
    const __mmask16 nan = _mm512_cmp_ps_mask(xs, ys, _CMP_UNORD_Q);  // either coordinate NaN
    // Rounded as rint is (float32 values round the same in float64), then
    // clamped: max and min give 0 for rounded <= 0 (-0.0 and -inf
    // included) and the last pixel for rounded >= it, so the conversion to
    // int32 is exact. NaN lanes are replaced below.
    const __m512i cols = _mm512_cvttps_epi32(
        _mm512_min_ps(_mm512_max_ps(_mm512_roundscale_ps(xs, _MM_FROUND_CUR_DIRECTION), zero), last_col));
    const __m512i rows = _mm512_cvttps_epi32(
        _mm512_min_ps(_mm512_max_ps(_mm512_roundscale_ps(ys, _MM_FROUND_CUR_DIRECTION), zero), last_row));
    const __m512i low =
        element_offsets(_mm512_castsi512_si256(rows), _mm512_castsi512_si256(cols), row_step, col_step);
    const __m512i high = element_offsets(_mm512_extracti64x4_epi64(rows, 1), _mm512_extracti64x4_epi64(cols, 1),
                                         row_step, col_step);
    const auto low_lanes = static_cast<__mmask8>(lanes), high_lanes = static_cast<__mmask8>(lanes >> 8);
    _mm512_mask_storeu_epi64(out + p, low_lanes, _mm512_mask_mov_epi64(low, static_cast<__mmask8>(nan), unsampled));
    _mm512_mask_storeu_epi64(out + p + 8, high_lanes,
                             _mm512_mask_mov_epi64(high, static_cast<__mmask8>(nan >> 8), unsampled));
  }
}

}  // namespace ops
}  // namespace idmatch

#else

namespace idmatch {
namespace ops {

// Never called: small_solver_enabled() is false on these targets.
void pixel_offsets_float32(const float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t*) {}

}  // namespace ops
}  // namespace idmatch

#endif

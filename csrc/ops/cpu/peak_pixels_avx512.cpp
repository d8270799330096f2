// The AVX-512 pixel offsets (see peak_pixels.h), built and run as avx512.h
// says.
#include "peak_pixels.h"

#include "avx512.h"

#ifdef IDMATCH_HAVE_AVX512_KERNELS
#include <immintrin.h>
#else
#include "../../core/identity.h"
#endif

namespace idmatch {
namespace ops {

#ifdef IDMATCH_HAVE_AVX512_KERNELS

IDMATCH_AVX512_TARGET void pixel_offsets_float32(const float* x, const float* y, int64_t point_stride,
                                                 const int64_t* peaks, int64_t count, int64_t height, int64_t width,
                                                 int64_t stride_row, int64_t stride_col, int64_t* out) {
  const __m512i point_step = _mm512_set1_epi64(point_stride);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 last_row = _mm256_set1_ps(static_cast<float>(height - 1));
  const __m256 last_col = _mm256_set1_ps(static_cast<float>(width - 1));
  const __m512i row_step = _mm512_set1_epi64(stride_row), col_step = _mm512_set1_epi64(stride_col);
  const __m512i unsampled = _mm512_set1_epi64(-1);
  for (int64_t k = 0; k < count; k += 8) {
    const int64_t left = count - k;
    // Lanes past the last peak are neither read nor written.
    const auto lanes = left >= 8 ? static_cast<__mmask8>(0xff) : static_cast<__mmask8>((1u << left) - 1u);
    const __m512i at = _mm512_mullo_epi64(_mm512_maskz_loadu_epi64(lanes, peaks + k), point_step);
    const __m256 xs = _mm512_mask_i64gather_ps(zero, lanes, at, x, 4);
    const __m256 ys = _mm512_mask_i64gather_ps(zero, lanes, at, y, 4);
    const __mmask8 nan = _mm256_cmp_ps_mask(xs, ys, _CMP_UNORD_Q);  // either coordinate NaN (a quiet test)
    // A NaN lane computes with 0 instead, and its result is replaced below:
    // max and min raise the invalid-operation flag on any NaN, which would
    // trap where a caller enabled that exception (the core tests NaN first
    // and raises nothing).
    const __m256 x_or_zero = _mm256_mask_mov_ps(xs, nan, zero), y_or_zero = _mm256_mask_mov_ps(ys, nan, zero);
    // Rounded as rint rounds (float32 values round the same in float64),
    // then clamped: max and min give 0 for rounded <= 0 (-0.0 and -inf
    // included) and the last pixel for rounded >= it, so the conversion to
    // int32 is exact.
    const __m256i cols = _mm256_cvttps_epi32(
        _mm256_min_ps(_mm256_max_ps(_mm256_roundscale_ps(x_or_zero, _MM_FROUND_CUR_DIRECTION), zero), last_col));
    const __m256i rows = _mm256_cvttps_epi32(
        _mm256_min_ps(_mm256_max_ps(_mm256_roundscale_ps(y_or_zero, _MM_FROUND_CUR_DIRECTION), zero), last_row));
    // row * stride_row + col * stride_col in int64, as the core computes it.
    const __m512i offsets = _mm512_add_epi64(_mm512_mullo_epi64(_mm512_cvtepi32_epi64(rows), row_step),
                                             _mm512_mullo_epi64(_mm512_cvtepi32_epi64(cols), col_step));
    _mm512_mask_storeu_epi64(out + k, lanes, _mm512_mask_mov_epi64(offsets, nan, unsampled));
  }
}

#else

// Never called (avx512_kernels_enabled() is false on these targets); the
// core's pixels all the same (only the maps' sizes and strides are read).
void pixel_offsets_float32(const float* x, const float* y, int64_t point_stride, const int64_t* peaks, int64_t count,
                           int64_t height, int64_t width, int64_t stride_row, int64_t stride_col, int64_t* out) {
  const core::ClassMaps<float> maps{nullptr, 0, 0, height, width, 0, 0, stride_row, stride_col};
  const core::TypedScalars<float> xs{x, point_stride}, ys{y, point_stride};
  for (int64_t k = 0; k < count; ++k) out[k] = core::pixel_offset(maps, xs, ys, peaks[k]);
}

#endif

}  // namespace ops
}  // namespace idmatch

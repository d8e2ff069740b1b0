/* What the C convolution kernels (stem_conv.c, packed_conv.c, winograd.c) share with ERICore's
   convEpilogue: the ReLU as Swift's max(v, 0) computes it, 0 >= v ? 0 : v (NaN stays NaN, −0
   becomes +0), and, on AVX2, the lane masks (skinny_gemm.c's too) and the store of a row of up
   to 16 outputs. */
#ifndef LIBERI_EPILOGUE_H
#define LIBERI_EPILOGUE_H

static inline float liberi_relu(float v) { return 0.0f >= v ? 0.0f : v; }

#if defined(__x86_64__)
#include <immintrin.h>

/* The ReLU on eight lanes. */
__attribute__((target("avx2,fma"))) static inline __m256 liberi_relu8(__m256 v) {
    const __m256 zero = _mm256_setzero_ps();
    return _mm256_blendv_ps(v, zero, _mm256_cmp_ps(zero, v, _CMP_GE_OQ));
}

/* Lanes [0, count) of a vector, for the last columns of a block. */
__attribute__((target("avx2,fma"))) static inline __m256i liberi_lanes8(int count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), index);
}

/* y0, y1 to dst[0 ..< width], width ≤ 16: plain stores when whole (masked stores are slow on
   AMD's cores), else masked by m0 = liberi_lanes8(width), m1 = liberi_lanes8(width − 8). */
__attribute__((target("avx2,fma"))) static inline void liberi_store16(float *dst, __m256 y0, __m256 y1, int width,
                                                                       __m256i m0, __m256i m1) {
    if (width == 16) { _mm256_storeu_ps(dst, y0); _mm256_storeu_ps(dst + 8, y1); return; }
    _mm256_maskstore_ps(dst, m0, y0);
    _mm256_maskstore_ps(dst + 8, m1, y1);
}
#endif
#endif

/* A float matrix transposed, 4 × 4 tiles at a time: the MFCC's spectra go from
   one row per frame to one row per bin (MFCC.swift), so that the mel bank and
   the log run across a block's frames. A scalar store per element with a
   stride of the block was a third of the MFCC's time. */
#include "CERISupport.h"
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

void liberi_transpose(const float *src, size_t src_stride, float *dst, size_t dst_stride, int rows, int cols) {
    int r = 0;
#if defined(__SSE__)
    for (; r + 4 <= rows; r += 4) {
        const float *s = src + (size_t)r * src_stride;
        int c = 0;
        for (; c + 4 <= cols; c += 4) {
            __m128 a = _mm_loadu_ps(s + c), b = _mm_loadu_ps(s + src_stride + c);
            __m128 e = _mm_loadu_ps(s + 2 * src_stride + c), f = _mm_loadu_ps(s + 3 * src_stride + c);
            _MM_TRANSPOSE4_PS(a, b, e, f);
            float *d = dst + (size_t)c * dst_stride + r;
            _mm_storeu_ps(d, a);
            _mm_storeu_ps(d + dst_stride, b);
            _mm_storeu_ps(d + 2 * dst_stride, e);
            _mm_storeu_ps(d + 3 * dst_stride, f);
        }
        for (; c < cols; c++)
            for (int i = 0; i < 4; i++) dst[(size_t)c * dst_stride + r + i] = s[(size_t)i * src_stride + c];
    }
#endif
    for (; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * dst_stride + r] = src[(size_t)r * src_stride + c];
}

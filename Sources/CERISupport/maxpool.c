/* The backbone's max-pool (SPEC §5), inference forward; ERICore's MaxPool.swift splits the
   planes over threads. */
#include "CERISupport.h"
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* MaxPool2d(3, stride 2, padding 1) with −∞ padding over planes [first, end) of h × w into
   planes of oh × ow, oh = (h − 1) / 2 + 1: the max of each horizontal window of 3 (stride 2)
   per input row into `rows` (h × ow floats, the caller's scratch), then of 3 such rows.
   Windows are clipped at the borders, which is what −∞ padding amounts to. The stride-2
   horizontal windows four at a time from unaligned loads split into even and odd columns
   (Swift's scalar loop was ~4 % of dbn-small's frames pass). Maxima as max(a, b) = b > a ?
   b : a, NaN-propagating from the left operand like Swift's `max` (they differ only on
   equal zeros of opposite sign). */
static inline float max_float(float a, float b) { return b > a ? b : a; }

void liberi_maxpool3x3s2(const float *restrict x, int first, int end, int h, int w, float *restrict rows,
                         float *restrict y) {
    const int oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
    for (int p = first; p < end; p++) {
        const float *restrict src = x + (ptrdiff_t)p * h * w;
        float *restrict dst = y + (ptrdiff_t)p * oh * ow;
        for (int iy = 0; iy < h; iy++) {
            const float *restrict line = src + (ptrdiff_t)iy * w;
            float *restrict out = rows + (ptrdiff_t)iy * ow;
            out[0] = w > 1 ? max_float(line[0], line[1]) : line[0];   /* columns −1 (padding), 0, 1 */
            int ox = 1;
#if defined(__SSE__)
            /* Outputs ox … ox + 3 read columns 2·ox − 1 … 2·ox + 7; the loads reach 2·ox + 8. */
            for (; 2 * ox + 9 <= w; ox += 4) {
                __m128 a = _mm_loadu_ps(line + 2 * ox - 1), b = _mm_loadu_ps(line + 2 * ox + 3);
                __m128 d = _mm_loadu_ps(line + 2 * ox + 1), e = _mm_loadu_ps(line + 2 * ox + 5);
                __m128 left = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));   /* 2·ox − 1, + 1, + 3, + 5 */
                __m128 mid = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));    /* 2·ox, + 2, + 4, + 6 */
                __m128 right = _mm_shuffle_ps(d, e, _MM_SHUFFLE(2, 0, 2, 0));  /* 2·ox + 1, + 3, + 5, + 7 */
                _mm_storeu_ps(out + ox, _mm_max_ps(right, _mm_max_ps(mid, left)));
            }
#endif
            for (; ox < ow; ox++) {
                const int c = 2 * ox;
                const float m = max_float(line[c - 1], line[c]);
                out[ox] = c + 1 < w ? max_float(m, line[c + 1]) : m;
            }
        }
        for (int oy = 0; oy < oh; oy++) {
            const int c = 2 * oy;
            const float *restrict a = rows + (ptrdiff_t)(c > 0 ? c - 1 : 0) * ow, *restrict b = rows + (ptrdiff_t)c * ow;
            float *restrict out = dst + (ptrdiff_t)oy * ow;
            if (c + 1 < h) {
                const float *restrict d = rows + (ptrdiff_t)(c + 1) * ow;
                for (int i = 0; i < ow; i++) out[i] = max_float(max_float(a[i], b[i]), d[i]);
            } else {
                for (int i = 0; i < ow; i++) out[i] = max_float(a[i], b[i]);
            }
        }
    }
}

/* The k² column blocks of one input plane for a strided (or otherwise not
   "same") convolution: ERICore's im2col (Conv2d.swift) hands this the planes
   its stride-1 "same" path does not take. In Swift the stride-2 row loop ran
   scalar with its destination pointer reloaded every element (it could not
   rule out aliasing): perf put it at 17 % of the dbn-small backbone. Here the
   pointers are `restrict` and the stride-2 loop is a separate, vectorisable one. */
#include "CERISupport.h"
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline int min_int(int a, int b) { return a < b ? a : b; }

/* dst[0 ..< count] = src[0 ..< count] without a call into libc for short rows (perf: the
   face detector's 9- to 22-float rows spent more time entering memmove than copying;
   a plain loop here would be turned back into a memcpy call), memcpy from 64 floats. */
static inline void copy_floats(float *restrict dst, const float *restrict src, int count) {
    if (count >= 64) { memcpy(dst, src, sizeof(float) * (size_t)count); return; }
    int i = 0;
#if defined(__SSE__)
    for (; i + 4 <= count; i += 4) _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
#endif
    for (; i < count; i++) dst[i] = src[i];
}

void liberi_im2col_plane(const float *restrict src, int h, int w, int k, int stride, int pad, int oh, int ow,
                         float *restrict dst, ptrdiff_t block_stride) {
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            float *restrict block = dst + (ptrdiff_t)(ky * k + kx) * block_stride;
            /* output columns whose input column lands inside the image: [lo, hi) (C's division
               truncates toward zero, as Swift's) */
            int lo = min_int(ow, max_int(0, (pad - kx + stride - 1) / stride));
            int hi = max_int(lo, min_int(ow, max_int(0, (w - 1 + pad - kx) / stride + 1)));
            for (int oy = 0; oy < oh; oy++) {
                float *restrict row = block + (ptrdiff_t)oy * ow;
                int iy = oy * stride - pad + ky;
                if (iy < 0 || iy >= h || lo >= hi) {
                    memset(row, 0, sizeof(float) * (size_t)ow);
                    continue;
                }
                for (int ox = 0; ox < lo; ox++) row[ox] = 0;
                for (int ox = hi; ox < ow; ox++) row[ox] = 0;
                const float *restrict line = src + (ptrdiff_t)iy * w - pad + kx;
                if (stride == 1) {
                    copy_floats(row + lo, line + lo, hi - lo);
                } else if (stride == 2) {
                    /* Rows are short (2 to 32 outputs): four at a time from two loads that end at
                       the last value read, line[2·(ox + 3)], never past it. */
                    int ox = lo;
#if defined(__SSE__)
                    for (; ox + 4 <= hi; ox += 4) {
                        __m128 a = _mm_loadu_ps(line + 2 * ox), b = _mm_loadu_ps(line + 2 * ox + 3);
                        _mm_storeu_ps(row + ox, _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0)));
                    }
#endif
                    for (; ox < hi; ox++) row[ox] = line[2 * ox];
                } else {
                    for (int ox = lo; ox < hi; ox++) row[ox] = line[ox * stride];
                }
            }
        }
}

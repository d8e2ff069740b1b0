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

/* The strided planes through a table: `table` holds, for tap t and output j (t·plane + j),
   the offset of its input in the plane zero-padded by `pad` on every side ((h + 2·pad) ×
   (w + 2·pad), rows of w + 2·pad); each plane is copied into `padded` (whose borders the
   caller zeroed) and gathered from there, with no bounds to check and no per-row set-up.
   For maps of 2 to 32 outputs a row, where liberi_im2col_plane's per-row work (bounds,
   zeroed margins, a loop of 1 to 8 steps) cost more than its copying. Planes
   [first, end) of the CNHW input (plane p = channel · images + image). */
void liberi_im2col_planes_table(const float *restrict x, int first, int end, int images, int h, int w, int pad,
                                const int32_t *restrict table, int taps, int plane, float *restrict padded,
                                float *restrict columns, ptrdiff_t row_length) {
    const int pw = w + 2 * pad;
    for (int p = first; p < end; p++) {
        const float *restrict src = x + (ptrdiff_t)p * h * w;
        for (int iy = 0; iy < h; iy++) copy_floats(padded + (ptrdiff_t)(iy + pad) * pw + pad, src + (ptrdiff_t)iy * w, w);
        const int c = p / images, n = p % images;
        float *restrict block = columns + (ptrdiff_t)c * taps * row_length + (ptrdiff_t)n * plane;
        for (int t = 0; t < taps; t++) {
            float *restrict dst = block + (ptrdiff_t)t * row_length;
            const int32_t *restrict index = table + (ptrdiff_t)t * plane;
            for (int j = 0; j < plane; j++) dst[j] = padded[index[j]];
        }
    }
}

/* im2col for the convolutions that ERICore's stride-1 "same" path (Conv2d.swift) does
   not take: the strided ones and the face detector's unpadded ones. In Swift the row
   loop ran scalar with its destination pointer reloaded every element (it could not
   rule out aliasing); a row-by-row C version then spent more on each short row's
   set-up than on copying (13.6 % of dbn-small's frames pass); this one gathers
   through a table of offsets. */
#include "CERISupport.h"
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

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

/* Plane p of x (h × w) into the middle of `padded` ((h + 2·pad) × (w + 2·pad), borders left as they are). */
static inline void pad_plane(const float *restrict x, int p, int h, int w, int pad, float *restrict padded) {
    const int pw = w + 2 * pad;
    const float *restrict src = x + (ptrdiff_t)p * h * w;
    for (int iy = 0; iy < h; iy++) copy_floats(padded + (ptrdiff_t)(iy + pad) * pw + pad, src + (ptrdiff_t)iy * w, w);
}

/* The strided planes through a table: `table` holds, for tap t and output j (t·plane + j),
   the offset of its input in the plane zero-padded by `pad` on every side ((h + 2·pad) ×
   (w + 2·pad), rows of w + 2·pad); each plane is copied into `padded` (whose borders the
   caller zeroed) and gathered from there, with no bounds to check and no per-row set-up.
   Planes [first, end) of the CNHW input (plane p = channel · images + image); tap t's
   outputs go to columns + (channel · taps + t) · row_length + image · plane. */
void liberi_im2col_planes_table(const float *restrict x, int first, int end, int images, int h, int w, int pad,
                                const int32_t *restrict table, int taps, int plane, float *restrict padded,
                                float *restrict columns, ptrdiff_t row_length) {
    for (int p = first; p < end; p++) {
        pad_plane(x, p, h, w, pad, padded);
        const int c = p / images, n = p % images;
        float *restrict block = columns + (ptrdiff_t)c * taps * row_length + (ptrdiff_t)n * plane;
        for (int t = 0; t < taps; t++) {
            float *restrict dst = block + (ptrdiff_t)t * row_length;
            const int32_t *restrict index = table + (ptrdiff_t)t * plane;
            for (int j = 0; j < plane; j++) dst[j] = padded[index[j]];
        }
    }
}

/* The same gather into packed_conv.c's panels of 16 columns: row (c · taps + t) of column
   (n · plane + j) at panels + ((col / 16) · k + row) · 16 + col % 16, k the rows in all. */
void liberi_im2col_panels(const float *restrict x, int first, int end, int images, int h, int w, int pad,
                          const int32_t *restrict table, int taps, int plane, float *restrict padded,
                          float *restrict panels, int k) {
    for (int p = first; p < end; p++) {
        pad_plane(x, p, h, w, pad, padded);
        const int c = p / images, n = p % images;
        /* The plane's columns n·plane + j in runs that end at a panel's end; each run's taps go to
           rows c·taps + t of one panel, lane col % 16 on: consecutive 64-byte rows. */
        for (int j = 0; j < plane;) {
            const int col = n * plane + j, lane = col % 16, run = 16 - lane < plane - j ? 16 - lane : plane - j;
            float *restrict dst = panels + ((size_t)(col / 16) * (size_t)k + (size_t)c * (size_t)taps) * 16 + lane;
            const int32_t *restrict index = table + j;
            for (int t = 0; t < taps; t++, dst += 16, index += plane)
                for (int q = 0; q < run; q++) dst[q] = padded[index[q]];
            j += run;
        }
    }
}

/* The backbone's stem (SPEC §5: conv 3×3, stride 2, padding 1, from the 1 or 3 colour
   channels), with its folded BatchNorm's bias and the ReLU, computed directly from the
   CNHW input rather than as im2col + GEMM. perf on dbn-small's frames pass: the stem was
   its slowest layer per FLOP (1.06 ms for 28 MFLOP, 27 GFLOP/s): with K = C_in · 9 = 27 the
   product is dominated by what surrounds it — writing the 27-row im2col matrix, OpenBLAS
   packing it again and zeroing C (sgemm_beta) before writing it, then the epilogue's pass.

   Here each output row reads its three input rows split into even and odd columns
   (padded row p[i] = x[i − 1]; E[j] = p[2j], O[j] = p[2j + 1]), so that output column ox
   takes tap kx = 0, 1, 2 from E[ox], O[ox], E[ox + 1]: every tap of 16 outputs is two
   unaligned vector loads of a split row. A block of 16 outputs × up to 6 output channels
   stays in registers over all C_in · 9 taps, summed tap by tap in (c, ky, kx) order; the
   bias and the ReLU (0 ≥ v ? 0 : v, NaN passing through, as ERICore's convEpilogue) are
   applied as the block is stored. The same order and blocking in
   the AVX2 + FMA path and in the portable C below it (its scalar twin, for the tests:
   ERICore keeps im2col + GEMM where the AVX2 path does not run). */
#include "CERISupport.h"
#include "epilogue.h"
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#endif

#define BLOCK 16    /* output columns per block: two 8-wide vectors */
#define CHANNELS 6  /* output channels per register block, at most */

size_t liberi_stem_conv_scratch_floats(int channels, int width) {
    int ow = (width - 1) / 2 + 1;
    size_t split = (size_t)(ow + BLOCK) / BLOCK * BLOCK + BLOCK;   /* E or O of one row, with room for a block's over-read */
    return (size_t)channels * 3 * 2 * split;
}

/* The split rows of output row oy: for channel c and tap row ky, E at rows + ((c·3 + ky)·2)·split,
   O right after it, zero where the input row is outside the image or past its columns. */
static void split_rows(const float *x, int channels, int images, int image, int h, int w, int oy, size_t split,
                       float *rows) {
    int ow = (w - 1) / 2 + 1;
    for (int c = 0; c < channels; c++)
        for (int ky = 0; ky < 3; ky++) {
            float *e = rows + ((size_t)(c * 3 + ky) * 2) * split, *o = e + split;
            int iy = 2 * oy - 1 + ky;
            if (iy < 0 || iy >= h) { memset(e, 0, sizeof(float) * 2 * split); continue; }
            const float *row = x + ((size_t)c * (size_t)images + (size_t)image) * (size_t)h * (size_t)w + (size_t)iy * (size_t)w;
            /* p[2j] = x[2j − 1], p[2j + 1] = x[2j], j ≤ ow (p[0] and p[w + 1…] are the padding) */
            int j = 1;
            e[0] = 0;
            o[0] = row[0];
#if defined(__SSE__)
            /* four j at a time from x[2j − 1 … 2j + 6]: the even positions to E, the odd ones to O */
            for (; 2 * j + 6 < w; j += 4) {
                __m128 lo = _mm_loadu_ps(row + 2 * j - 1), hi = _mm_loadu_ps(row + 2 * j + 3);
                _mm_storeu_ps(e + j, _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
                _mm_storeu_ps(o + j, _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
            }
#endif
            for (; j <= ow; j++) {
                int a = 2 * j - 1, b = 2 * j;
                e[j] = a < w ? row[a] : 0;
                o[j] = b < w ? row[b] : 0;
            }
            memset(e + ow + 1, 0, sizeof(float) * (split - (size_t)ow - 1));
            memset(o + ow + 1, 0, sizeof(float) * (split - (size_t)ow - 1));
        }
}

#if defined(__x86_64__)
/* Always inlined into a call per literal `count`, so that the accumulators are registers. */
AVX2 static inline __attribute__((always_inline)) void block_avx2(const float *rows, size_t split, int channels,
                                                                   const float *weight, int o0, int count, int ox, int width,
                                                                   const float *bias, int relu, float *y, size_t plane_stride) {
    __m256 acc0[CHANNELS], acc1[CHANNELS];
    for (int r = 0; r < CHANNELS; r++) { acc0[r] = _mm256_setzero_ps(); acc1[r] = _mm256_setzero_ps(); }
    for (int c = 0; c < channels; c++)
        for (int ky = 0; ky < 3; ky++) {
            const float *e = rows + ((size_t)(c * 3 + ky) * 2) * split + ox, *o = e + split;
            const float *src[3] = {e, o, e + 1};
            for (int kx = 0; kx < 3; kx++) {
                __m256 v0 = _mm256_loadu_ps(src[kx]), v1 = _mm256_loadu_ps(src[kx] + 8);
                const float *wt = weight + (size_t)o0 * (size_t)channels * 9 + (size_t)(c * 9 + ky * 3 + kx);
                for (int r = 0; r < count; r++) {
                    __m256 wr = _mm256_broadcast_ss(wt + (size_t)r * (size_t)channels * 9);
                    acc0[r] = _mm256_fmadd_ps(wr, v0, acc0[r]);
                    acc1[r] = _mm256_fmadd_ps(wr, v1, acc1[r]);
                }
            }
        }
    __m256i m0 = liberi_lanes8(width), m1 = liberi_lanes8(width - 8);
    for (int r = 0; r < count; r++) {
        __m256 b = _mm256_set1_ps(bias[o0 + r]);
        __m256 y0 = _mm256_add_ps(acc0[r], b), y1 = _mm256_add_ps(acc1[r], b);
        if (relu) { y0 = liberi_relu8(y0); y1 = liberi_relu8(y1); }
        liberi_store16(y + (size_t)(o0 + r) * plane_stride + ox, y0, y1, width, m0, m1);
    }
}

AVX2 static void blocks_avx2(const float *rows, size_t split, int channels, const float *weight, int o0, int count,
                             int ox, int width, const float *bias, int relu, float *y, size_t plane_stride) {
    switch (count) {
#define CASE(N) case N: block_avx2(rows, split, channels, weight, o0, N, ox, width, bias, relu, y, plane_stride); break;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
#undef CASE
    default: break;
    }
}
#endif

static void block_portable(const float *rows, size_t split, int channels, const float *weight, int o0, int count,
                           int ox, int width, const float *bias, int relu, float *y, size_t plane_stride) {
    float acc[CHANNELS][BLOCK] = {{0}};
    for (int c = 0; c < channels; c++)
        for (int ky = 0; ky < 3; ky++) {
            const float *e = rows + ((size_t)(c * 3 + ky) * 2) * split + ox, *o = e + split;
            const float *src[3] = {e, o, e + 1};
            for (int kx = 0; kx < 3; kx++)
                for (int r = 0; r < count; r++) {
                    float wr = weight[(size_t)(o0 + r) * (size_t)channels * 9 + (size_t)(c * 9 + ky * 3 + kx)];
                    for (int q = 0; q < BLOCK; q++) acc[r][q] = __builtin_fmaf(wr, src[kx][q], acc[r][q]);
                }
        }
    for (int r = 0; r < count; r++) {
        float *dst = y + (size_t)(o0 + r) * plane_stride + ox;
        for (int q = 0; q < width; q++) {
            float v = acc[r][q] + bias[o0 + r];
            dst[q] = relu ? liberi_relu(v) : v;
        }
    }
}

void liberi_stem_conv(const float *x, int channels, int images, int h, int w, const float *weight, const float *bias,
                      int outputs, int relu, int first, int end, float *scratch, float *y, int simd) {
    int oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
    size_t split = liberi_stem_conv_scratch_floats(channels, w) / ((size_t)channels * 6);
    size_t plane = (size_t)oh * (size_t)ow, plane_stride = (size_t)images * plane;
    /* Even blocks of output channels (32 → 6, 6, 5, 5, 5, 5): each block's 2·count chains
       keep the FMA units busy. */
    int blocks = (outputs + CHANNELS - 1) / CHANNELS;
    for (int unit = first; unit < end; unit++) {
        int image = unit / oh, oy = unit % oh;
        split_rows(x, channels, images, image, h, w, oy, split, scratch);
        float *row = y + (size_t)image * plane + (size_t)oy * (size_t)ow;
        for (int ox = 0; ox < ow; ox += BLOCK) {
            int width = ow - ox < BLOCK ? ow - ox : BLOCK;
            for (int b = 0, o0 = 0; b < blocks; b++) {
                int count = outputs * (b + 1) / blocks - o0;
#if defined(__x86_64__)
                if (simd) { blocks_avx2(scratch, split, channels, weight, o0, count, ox, width, bias, relu, row, plane_stride); o0 += count; continue; }
#else
                (void)simd;
#endif
                block_portable(scratch, split, channels, weight, o0, count, ox, width, bias, relu, row, plane_stride);
                o0 += count;
            }
        }
    }
}

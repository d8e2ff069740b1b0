/* The face detector's convolutions (SPEC §4.1a: MTCNN): valid, stride-1, k × k
   (k = 1…3) on CNHW maps, bias and PReLU fused, computed directly rather than
   as im2col + GEMM. MTCNN's layers are thin (3 → 10 channels, K = 27 for
   P-Net's first layer; a few dozen 24² or 48² crops for R-Net and O-Net),
   shapes where a BLAS GEMM runs far from the FMA peak; here a block of
   16 output positions × up to 6 output channels stays in registers over all
   C_in · k² taps.

   The trick that keeps every tap one unaligned vector load and every store a
   whole vector: maps are "wide". A map's rows keep the row stride W of the
   map they came from, and only the first `w` columns of the first `h` rows of
   each plane are valid. Output position q = y · W + x reads input
   q + ky · W + kx for tap (ky, kx), contiguous whatever the row; the columns
   past the valid ones are computed too and simply never read as valid. Each
   (channel, image) output plane holds the positions up to its last valid one
   rounded up to the block, liberi_direct_conv_plane(); inputs may be read up
   to 15 floats past their last plane, so a map must be followed by
   LIBERI_DIRECT_CONV_SLACK readable floats. Lanes that read garbage (the
   slack, the next plane) only ever land in invalid positions.

   Two paths with the same blocking and the same summation order (tap by
   tap, (c, ky, kx) ascending): AVX2 + FMA on x86-64 CPUs that have them,
   chosen at run time, and portable C (its scalar twin, tested alongside; the
   detector itself runs im2col + sgemm where the AVX2 path is off, see
   MTCNN.swift's gemmConvolution: faster than scalar C). Every output is
   computed the same way whatever split of the work units the caller makes. */
#include "CERISupport.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define BLOCK 16     /* output positions per block: two 8-wide vectors */
#define CHANNELS 6   /* output channels per register block, at most */

/* The output channels in blocks of at most CHANNELS, as even as can be (32 → 6, 6, 5, 5, 5, 5
   rather than five 6s and a 2): a block's 2·b accumulators are its independent FMA chains, and
   fewer than about ten leave the FMA units waiting on their latency. Block `o0` has
   block_width(outputs, o0) channels; the next starts after them. */
static inline int block_width(int outputs, int o0) {
    int blocks = (outputs + CHANNELS - 1) / CHANNELS, narrow = outputs / blocks, wide = outputs % blocks;
    /* the first `wide` blocks have narrow + 1 channels */
    return o0 < wide * (narrow + 1) ? narrow + 1 : narrow;
}

size_t liberi_direct_conv_packed_size(int inputs, int outputs, int k) {
    return (size_t)inputs * k * k * outputs;
}

/* Weights (out, in, k, k) → for each block of b output channels (block_width),
   tap-major: packed[t · b + j] is
   output channel (block start + j)'s weight for tap t = (c, ky, kx). */
void liberi_direct_conv_pack(const float *weight, int inputs, int outputs, int k, float *packed) {
    int taps = inputs * k * k;
    for (int o0 = 0, b; o0 < outputs; o0 += b) {
        b = block_width(outputs, o0);
        for (int t = 0; t < taps; t++)
            for (int j = 0; j < b; j++) *packed++ = weight[(size_t)(o0 + j) * taps + t];
    }
}

int liberi_direct_conv_simd(void) { return liberi_avx2_fma(); }

int liberi_direct_conv_plane(int h, int w, int row_stride, int k) {
    int q = (h - k) * row_stride + (w - k + 1);   /* up to and including the last valid output */
    return (q + BLOCK - 1) / BLOCK * BLOCK;
}

int liberi_direct_conv_units(int images, int h, int w, int row_stride, int k) {
    if (h < k || w < k) return 0;
    return images * (liberi_direct_conv_plane(h, w, row_stride, k) / BLOCK);
}

/* ---- Portable C ---------------------------------------------------------- */

static void units_portable(const float *x, int inputs, int images, int h, int w, int W, int P, int k,
                           const float *packed, int outputs, const float *bias, const float *slopes, int begin, int end,
                           float *y) {
    int Q = liberi_direct_conv_plane(h, w, W, k), per = Q / BLOCK, taps = inputs * k * k;
    size_t channel_stride = (size_t)images * P;
    float acc[CHANNELS][BLOCK];
    for (int u = begin; u < end; u++) {
        int n = u / per, q0 = (u % per) * BLOCK;
        const float *xn = x + (size_t)n * P + q0;
        for (int o0 = 0, b; o0 < outputs; o0 += b) {
            b = block_width(outputs, o0);
            const float *wp = packed + (size_t)o0 * taps;
            for (int j = 0; j < b; j++)
                for (int i = 0; i < BLOCK; i++) acc[j][i] = 0;
            for (int c = 0; c < inputs; c++) {
                const float *xc = xn + (size_t)c * channel_stride;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const float *xp = xc + ky * W + kx;
                        for (int j = 0; j < b; j++) {
                            float s = wp[j];
                            for (int i = 0; i < BLOCK; i++) acc[j][i] += s * xp[i];
                        }
                        wp += b;
                    }
            }
            for (int j = 0; j < b; j++) {
                float beta = bias[o0 + j], a = slopes ? slopes[o0 + j] : 1.0f;
                float *dst = y + ((size_t)(o0 + j) * images + n) * Q + q0;
                for (int i = 0; i < BLOCK; i++) {
                    float v = acc[j][i] + beta;
                    dst[i] = v > 0 ? v : v * a;
                }
            }
        }
    }
}

/* ---- AVX2 + FMA ---------------------------------------------------------- */

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))

/* One block of B channels × 16 positions over all taps, for a fixed kernel side K;
   inlined with constants so that the accumulators live in registers. */
static inline __attribute__((always_inline)) AVX2 void
block_avx2(const float *xn, size_t channel_stride, int inputs, int W, const int K, const float *wp, const int B,
           const float *bias, const float *slopes, float *y, size_t output_channel_stride) {
    __m256 s0[CHANNELS], s1[CHANNELS];
    for (int j = 0; j < B; j++) { s0[j] = _mm256_setzero_ps(); s1[j] = _mm256_setzero_ps(); }
    for (int c = 0; c < inputs; c++) {
        const float *xc = xn + (size_t)c * channel_stride;
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *xp = xc + ky * W + kx;
                __m256 a0 = _mm256_loadu_ps(xp), a1 = _mm256_loadu_ps(xp + 8);
                for (int j = 0; j < B; j++) {
                    __m256 s = _mm256_broadcast_ss(wp + j);
                    s0[j] = _mm256_fmadd_ps(s, a0, s0[j]);
                    s1[j] = _mm256_fmadd_ps(s, a1, s1[j]);
                }
                wp += B;
            }
    }
    __m256 zero = _mm256_setzero_ps();
    for (int j = 0; j < B; j++) {   /* bias, then PReLU: v > 0 ? v : v · a (a NaN takes v · a either way) */
        __m256 beta = _mm256_set1_ps(bias[j]), a = _mm256_set1_ps(slopes ? slopes[j] : 1.0f);
        __m256 v0 = _mm256_add_ps(s0[j], beta), v1 = _mm256_add_ps(s1[j], beta);
        v0 = _mm256_blendv_ps(_mm256_mul_ps(v0, a), v0, _mm256_cmp_ps(v0, zero, _CMP_GT_OQ));
        v1 = _mm256_blendv_ps(_mm256_mul_ps(v1, a), v1, _mm256_cmp_ps(v1, zero, _CMP_GT_OQ));
        _mm256_storeu_ps(y + j * output_channel_stride, v0);
        _mm256_storeu_ps(y + j * output_channel_stride + 8, v1);
    }
}

#define BLOCK_CASE(KK, BB) \
    block_avx2(xn, channel_stride, inputs, W, KK, wp, BB, bias + o0, slopes ? slopes + o0 : NULL, yb, output_channel_stride)
#define BLOCK_CASES(KK)               \
    switch (b) {                      \
    case 6: BLOCK_CASE(KK, 6); break; \
    case 5: BLOCK_CASE(KK, 5); break; \
    case 4: BLOCK_CASE(KK, 4); break; \
    case 3: BLOCK_CASE(KK, 3); break; \
    case 2: BLOCK_CASE(KK, 2); break; \
    default: BLOCK_CASE(KK, 1); break; \
    }

static AVX2 void units_avx2(const float *x, int inputs, int images, int h, int w, int W, int P, int k,
                            const float *packed, int outputs, const float *bias, const float *slopes, int begin, int end,
                            float *y) {
    int Q = liberi_direct_conv_plane(h, w, W, k), per = Q / BLOCK, taps = inputs * k * k;
    size_t channel_stride = (size_t)images * P, output_channel_stride = (size_t)images * Q;
    for (int u = begin; u < end; u++) {
        int n = u / per, q0 = (u % per) * BLOCK;
        const float *xn = x + (size_t)n * P + q0;
        for (int o0 = 0, b; o0 < outputs; o0 += b) {
            b = block_width(outputs, o0);
            const float *wp = packed + (size_t)o0 * taps;
            float *yb = y + (size_t)o0 * output_channel_stride + (size_t)n * Q + q0;
            if (k == 3) { BLOCK_CASES(3) }
            else if (k == 2) { BLOCK_CASES(2) }
            else { BLOCK_CASES(1) }
        }
    }
}
#endif

void liberi_direct_conv(const float *x, int inputs, int images, int h, int w, int row_stride, int plane_stride, int k,
                        const float *packed, int outputs, const float *bias, const float *slopes, int unit_begin,
                        int unit_end, int simd, float *y) {
#if defined(__x86_64__)
    if (simd) {
        units_avx2(x, inputs, images, h, w, row_stride, plane_stride, k, packed, outputs, bias, slopes, unit_begin,
                   unit_end, y);
        return;
    }
#else
    (void)simd;
#endif
    units_portable(x, inputs, images, h, w, row_stride, plane_stride, k, packed, outputs, bias, slopes, unit_begin,
                   unit_end, y);
}

/* ---- Ceil-mode max-pooling ------------------------------------------------ */

static inline float max2(float a, float b) { return b > a ? b : a; }

/* The first of a row's windows done another way (returns how many): none here. */
static inline int no_fast_windows(const float *row, int w, int ow, float *out) {
    (void)row; (void)w; (void)ow; (void)out;
    return 0;
}

/* One plane: each output row's window rows reduced to `row` (their column-wise maximum, a
   whole row at a time), then each window's columns, the first `fast` ones another way;
   K and S constant where inlined. */
static inline __attribute__((always_inline)) void
pool_plane(const float *src, int h, int w, int row_stride, const int K, const int S, int oh, int ow, float *row, float *dst,
           int (*fast)(const float *, int, int, float *)) {
    int inside = w >= K ? (w - K) / S + 1 : 0;   /* windows wholly inside a row; the rest are clipped */
    if (inside > ow) inside = ow;
    for (int oy = 0; oy < oh; oy++) {
        int y0 = oy * S, y1 = y0 + K < h ? y0 + K : h;
        const float *first = src + (size_t)y0 * row_stride;
        for (int c = 0; c < w; c++) row[c] = first[c];
        for (int iy = y0 + 1; iy < y1; iy++) {
            const float *line = src + (size_t)iy * row_stride;
            for (int c = 0; c < w; c++) row[c] = max2(row[c], line[c]);
        }
        float *out = dst + (size_t)oy * ow;
        for (int ox = fast(row, w, ow, out); ox < inside; ox++) {
            float m = row[ox * S];
            for (int c = 1; c < K; c++) m = max2(m, row[ox * S + c]);
            out[ox] = m;
        }
        for (int ox = inside; ox < ow; ox++) {
            float m = row[ox * S];
            for (int c = ox * S + 1; c < w && c < ox * S + K; c++) m = max2(m, row[c]);
            out[ox] = m;
        }
    }
}

/* MaxPool2d(k, s, ceil_mode=True), no padding, planes [plane_begin, plane_end) of
   h × w (rows row_stride apart, planes plane_stride apart: a wide map) into dense
   oh × ow each (the last window of a row or column clipped at the edge). */
/* The planes [begin, end), MTCNN's 3/2 and 2/2 windows with constant sides, and R-Net's two pools
   (22² → 11², 9² → 4²: many small planes) with constant sizes, unrolled. */
#define POOL_PLANES(FAST32)                                                                              \
    for (int p = plane_begin; p < plane_end; p++) {                                                      \
        const float *src = x + (size_t)p * plane_stride;                                                 \
        float *dst = y + (size_t)p * oh * ow;                                                            \
        if (k == 3 && s == 2 && h == 22 && w == 22) pool_plane(src, 22, 22, row_stride, 3, 2, 11, 11, row, dst, FAST32); \
        else if (k == 3 && s == 2 && h == 9 && w == 9) pool_plane(src, 9, 9, row_stride, 3, 2, 4, 4, row, dst, FAST32);   \
        else if (k == 3 && s == 2) pool_plane(src, h, w, row_stride, 3, 2, oh, ow, row, dst, FAST32);    \
        else if (k == 2 && s == 2) pool_plane(src, h, w, row_stride, 2, 2, oh, ow, row, dst, no_fast_windows); \
        else pool_plane(src, h, w, row_stride, k, s, oh, ow, row, dst, no_fast_windows);                 \
    }

static void pool_planes(const float *x, int h, int w, int row_stride, int plane_stride, int k, int s, int oh, int ow,
                        int plane_begin, int plane_end, float *row, float *y) {
    POOL_PLANES(no_fast_windows)
}

#if defined(__x86_64__)
/* 3/2 windows four at a time: out[x] = max2(max2(row[2x], row[2x + 1]), row[2x + 2]), the
   scalar loop's order (vmaxps(b, a) is max2(a, b), NaN included), for all eight lanes of
   a vector, of which the even ones are the four windows. Reads row[0 … 2x + 9] ≤ row[w]. */
__attribute__((target("avx2"))) static inline int fast_windows32_avx2(const float *row, int w, int ow, float *out) {
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    int x = 0;
    for (; x + 4 <= ow && 2 * x + 8 <= w - 1; x += 4) {
        const float *p = row + 2 * x;
        __m256 m = _mm256_max_ps(_mm256_loadu_ps(p + 1), _mm256_loadu_ps(p));
        m = _mm256_max_ps(_mm256_loadu_ps(p + 2), m);
        _mm_storeu_ps(out + x, _mm256_castps256_ps128(_mm256_permutevar8x32_ps(m, even)));
    }
    return x;
}

/* The same loops compiled for AVX2, 3/2 windows four at a time (maxima are exact: the same results). */
__attribute__((target("avx2"))) static void pool_planes_avx2(const float *x, int h, int w, int row_stride, int plane_stride,
                                                              int k, int s, int oh, int ow, int plane_begin, int plane_end,
                                                              float *row, float *y) {
    POOL_PLANES(fast_windows32_avx2)
}
#endif

void liberi_max_pool_ceil(const float *x, int h, int w, int row_stride, int plane_stride, int k, int s, int oh, int ow,
                          int plane_begin, int plane_end, int simd, float *y) {
    float stack[1025];
    float *row = w <= 1024 ? stack : malloc(sizeof(float) * ((size_t)w + 1));   /* the window rows' maximum, and one more */
    if (!row) abort();
    row[w] = 0;   /* read by fast_windows32_avx2 into a lane it drops */
#if defined(__x86_64__)
    if (simd) pool_planes_avx2(x, h, w, row_stride, plane_stride, k, s, oh, ow, plane_begin, plane_end, row, y);
    else
#else
    (void)simd;
#endif
    pool_planes(x, h, w, row_stride, plane_stride, k, s, oh, ow, plane_begin, plane_end, row, y);
    if (row != stack) free(row);
}

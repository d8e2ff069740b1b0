/* C = alpha · A · B + beta · C, row-major, A (m × k) as stored, for products
   with few columns (n ≤ LIBERI_SKINNY_MAX_N): the backbone's late stages on one
   image (the stream: a 4 × 4 map is 4 Winograd tiles or 16 positions) and on
   a small batch. OpenBLAS packs both operands on every call; with the weights
   as A and a handful of columns, packing the weights cost as much as the
   product (perf on the dbn-base stream: sgemm_oncopy 34 % of the time).
   Here A is read once, as stored, six rows at a time against 16 columns of B
   (12 AVX2 accumulators; one broadcast of A per row and step, B's row segment
   loaded once per step), so the weights stream through once per call.
   AVX2 + FMA where liberi_avx2_fma says so: elsewhere, and with
   ERI_PORTABLE_KERNELS=1, ERICore's gemm keeps OpenBLAS. */
#include "CERISupport.h"
#include "epilogue.h"


#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))


/* The k steps for 9 to 16 columns: B's row segment as two vectors (the second read by
   LOAD_B1), one broadcast of A per row, two FMAs. */
#define TWO_VECTORS(ROWS, LOAD_B1)                                                                                   \
    for (int p = 0; p < k; p++) {                                                                                    \
        __m256 b0 = _mm256_loadu_ps(b + p * ldb), b1 = LOAD_B1;                                                      \
        for (int i = 0; i < ROWS; i++) {                                                                             \
            __m256 ai = _mm256_broadcast_ss(a + i * lda + p);                                                        \
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);                                                              \
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);                                                              \
        }                                                                                                            \
    }

/* Rows [0, ROWS) × columns [0, width) of C, width ≤ 16, ROWS ≤ 6: alpha · A · B + beta · C, plus
   the row vector `bias` (its columns [0, width)) when it is not NULL. */
#define BLOCK(ROWS)                                                                                                  \
    AVX2 static void block_##ROWS(const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,            \
                                  ptrdiff_t ldc, int k, int width, float alpha, float beta, const float *bias) {    \
        __m256 acc0[ROWS], acc1[ROWS];                                                                               \
        for (int i = 0; i < ROWS; i++) { acc0[i] = _mm256_setzero_ps(); acc1[i] = _mm256_setzero_ps(); }            \
        if (width == 16) {                                                                                           \
            TWO_VECTORS(ROWS, _mm256_loadu_ps(b + p * ldb + 8))                                                      \
        } else if (width <= 8) {                                                                                     \
            __m256i m0 = liberi_lanes8(width);                                                                               \
            for (int p = 0; p < k; p++) {                                                                            \
                __m256 b0 = _mm256_maskload_ps(b + p * ldb, m0);                                                     \
                for (int i = 0; i < ROWS; i++)                                                                       \
                    acc0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * lda + p), b0, acc0[i]);                    \
            }                                                                                                        \
        } else {                                                                                                     \
            __m256i m1 = liberi_lanes8(width - 8);                                                                           \
            TWO_VECTORS(ROWS, _mm256_maskload_ps(b + p * ldb + 8, m1))                                               \
        }                                                                                                            \
        __m256i m0 = liberi_lanes8(width < 8 ? width : 8), m1 = liberi_lanes8(width - 8);                                           \
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta), bias0 = _mm256_setzero_ps(), bias1 = bias0;    \
        if (bias && width == 16) { bias0 = _mm256_loadu_ps(bias); bias1 = _mm256_loadu_ps(bias + 8); }             \
        else if (bias) { bias0 = _mm256_maskload_ps(bias, m0); if (width > 8) bias1 = _mm256_maskload_ps(bias + 8, m1); } \
        for (int i = 0; i < ROWS; i++) {                                                                             \
            float *ci = c + i * ldc;                                                                                 \
            __m256 y0 = _mm256_mul_ps(va, acc0[i]), y1 = _mm256_mul_ps(va, acc1[i]);                                 \
            if (bias) { y0 = _mm256_add_ps(y0, bias0); y1 = _mm256_add_ps(y1, bias1); }                             \
            if (width == 16) { /* whole vectors: masked loads and stores are slow on AMD's cores */                 \
                if (beta != 0) {                                                                                     \
                    y0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), y0);                                               \
                    y1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), y1);                                           \
                }                                                                                                    \
                _mm256_storeu_ps(ci, y0);                                                                            \
                _mm256_storeu_ps(ci + 8, y1);                                                                        \
                continue;                                                                                            \
            }                                                                                                        \
            if (beta != 0) { /* beta = 0: C is not read (it may hold anything, NaN included) */                    \
                y0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, m0), y0);                                            \
                if (width > 8) y1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, m1), y1);                         \
            }                                                                                                        \
            _mm256_maskstore_ps(ci, m0, y0);                                                                         \
            if (width > 8) _mm256_maskstore_ps(ci + 8, m1, y1);                                                      \
        }                                                                                                            \
    }
BLOCK(1)
BLOCK(2)
BLOCK(3)
BLOCK(4)
BLOCK(5)
BLOCK(6)

AVX2 static void skinny_avx2(int m, int n, int k, float alpha, const float *a, ptrdiff_t lda, const float *b,
                             ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    for (int j = 0; j < n; j += 16) {
        int width = n - j < 16 ? n - j : 16;
        int i = 0;
        for (; i + 6 <= m; i += 6) block_6(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, k, width, alpha, beta, NULL);
        const float *ai = a + i * lda;
        float *ci = c + i * ldc + j;
        switch (m - i) {
        case 5: block_5(ai, lda, b + j, ldb, ci, ldc, k, width, alpha, beta, NULL); break;
        case 4: block_4(ai, lda, b + j, ldb, ci, ldc, k, width, alpha, beta, NULL); break;
        case 3: block_3(ai, lda, b + j, ldb, ci, ldc, k, width, alpha, beta, NULL); break;
        case 2: block_2(ai, lda, b + j, ldb, ci, ldc, k, width, alpha, beta, NULL); break;
        case 1: block_1(ai, lda, b + j, ldb, ci, ldc, k, width, alpha, beta, NULL); break;
        default: break;
        }
    }
}

/* C = A · Wᵀ (+ the row vector bias unless NULL) with W (n × k) packed by liberi_pack_weights:
   panel j holds columns 16j … 16j + 15 of Wᵀ as k rows of 16 floats, so the blocks above read
   it as a compact B (ldb = 16). */
AVX2 static void packed_avx2(int m, int n, int k, const float *a, ptrdiff_t lda, const float *packed, const float *bias,
                             float *c, ptrdiff_t ldc) {
    for (int j = 0; j < n; j += 16) {
        int width = n - j < 16 ? n - j : 16;
        const float *panel = packed + (size_t)j * (size_t)k, *bj = bias ? bias + j : NULL;
        int i = 0;
        for (; i + 6 <= m; i += 6) block_6(a + i * lda, lda, panel, 16, c + i * ldc + j, ldc, k, width, 1, 0, bj);
        const float *ai = a + i * lda;
        float *ci = c + i * ldc + j;
        switch (m - i) {
        case 5: block_5(ai, lda, panel, 16, ci, ldc, k, width, 1, 0, bj); break;
        case 4: block_4(ai, lda, panel, 16, ci, ldc, k, width, 1, 0, bj); break;
        case 3: block_3(ai, lda, panel, 16, ci, ldc, k, width, 1, 0, bj); break;
        case 2: block_2(ai, lda, panel, 16, ci, ldc, k, width, 1, 0, bj); break;
        case 1: block_1(ai, lda, panel, 16, ci, ldc, k, width, 1, 0, bj); break;
        default: break;
        }
    }
}
#endif

size_t liberi_packed_weights_size(int n, int k) { return (size_t)((n + 15) / 16) * 16 * (size_t)k; }

void liberi_pack_weights(const float *w, int n, int k, float *packed) {
    for (int j = 0; j < n; j += 16)
        for (int p = 0; p < k; p++) {
            float *row = packed + (size_t)j * (size_t)k + (size_t)p * 16;
            for (int c = 0; c < 16; c++) row[c] = j + c < n ? w[(size_t)(j + c) * (size_t)k + (size_t)p] : 0;
        }
}

void liberi_packed_gemm(int m, int n, int k, const float *a, ptrdiff_t lda, const float *packed, const float *bias,
                        float *c, ptrdiff_t ldc) {
#if defined(__x86_64__)
    packed_avx2(m, n, k, a, lda, packed, bias, c, ldc);
#else
    /* Callers take this path only where liberi_avx2_fma() says so; a plain loop keeps the contract. */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * packed[(size_t)(j / 16 * 16) * (size_t)k + (size_t)p * 16 + j % 16];
            c[i * ldc + j] = bias ? s + bias[j] : s;
        }
#endif
}

/* Portable C, the same contract (simd = 0; ERICore's gemm keeps OpenBLAS instead). */
static void skinny_portable(int m, int n, int k, float alpha, const float *a, ptrdiff_t lda, const float *b,
                            ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = beta != 0 ? alpha * s + beta * c[i * ldc + j] : alpha * s;
        }
}

void liberi_skinny_gemm(int m, int n, int k, float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                        float beta, float *c, ptrdiff_t ldc, int simd) {
#if defined(__x86_64__)
    if (simd) { skinny_avx2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); return; }
#else
    (void)simd;
#endif
    skinny_portable(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

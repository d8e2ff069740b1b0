/* The backbone's convolutions that neither Winograd nor the stem kernel takes (the strided
   3 × 3 layers and the 1 × 1 stride-2 shortcuts), as a product of weights packed once at
   load and an im2col matrix written straight into the kernel's layout (im2col.c's
   liberi_im2col_panels), with the folded BatchNorm's bias, the shortcut and the ReLU added
   as C is stored.

   perf on dbn-small's frames pass: im2col + OpenBLAS took a fifth of it, of which OpenBLAS's
   copies of both operands (sgemm_itcopy, sgemm_oncopy) and its zeroing of C (sgemm_beta)
   were about a third, and the epilogue then made another pass over C; routing these
   products through the skinny kernel (skinny_gemm.c, operands as stored) gained nothing.
   Measured alone on the strided shapes of dbn-small and dbn-base (one thread, operands
   warm): this product 88–101 GFLOP/s, OpenBLAS's sgemm 73–91, and writing the panels as
   fast as im2col's row-major matrix (each run of a plane's columns within one panel
   written for every tap in turn: consecutive 64-byte rows). In the network: dbn-small's
   frames pass 6 % faster, its stream's real-time factor 4.5 % lower; dbn-base the same
   (its time is elsewhere).

   Layouts: A (m × k, the weights) in blocks of 6 rows, block r holding k groups of rows
   6r … 6r + 5 (zero past m); B (k × n, the im2col matrix) in panels of 16 columns, panel j
   holding k rows of columns 16j … 16j + 15 (what lies past n is computed and not stored).
   A 6 × 16 tile of C is 12 AVX2 accumulators over all k (two loads of B and six broadcasts
   of A, both contiguous, per step), summed in p order: every output is computed the same
   way whatever the tiles a caller asks for, so the result does not depend on the thread
   split. AVX2 + FMA, and its scalar twin (the same sums in the same order, for the tests):
   ERICore keeps im2col + OpenBLAS where liberi_avx2_fma() says no. */
#include "CERISupport.h"
#include "epilogue.h"
#include <math.h>

#define ROWS 6     /* rows of A (output channels) per block */
#define PANEL 16   /* columns of B (output positions) per panel */

size_t liberi_conv_packed_weights_size(int m, int k) { return (size_t)((m + ROWS - 1) / ROWS) * ROWS * (size_t)k; }

void liberi_conv_pack_weights(const float *w, int m, int k, float *packed) {
    for (int r = 0; r < m; r += ROWS)
        for (int p = 0; p < k; p++) {
            float *group = packed + (size_t)r * (size_t)k + (size_t)p * ROWS;
            for (int i = 0; i < ROWS; i++) group[i] = r + i < m ? w[(size_t)(r + i) * (size_t)k + (size_t)p] : 0;
        }
}

size_t liberi_conv_panels_size(int n, int k) { return (size_t)((n + PANEL - 1) / PANEL) * PANEL * (size_t)k; }

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

/* One 6 × 16 tile: rows [0, rows) and columns [0, width) of it stored at y (row stride ldc). */
AVX2 static void tile(const float *a, const float *b, int k, int rows, int width, const float *bias,
                      const float *residual, int relu, float *y, ptrdiff_t ldc) {
    __m256 acc0[ROWS], acc1[ROWS];
    for (int i = 0; i < ROWS; i++) { acc0[i] = _mm256_setzero_ps(); acc1[i] = _mm256_setzero_ps(); }
    for (int p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b + (size_t)p * PANEL), b1 = _mm256_loadu_ps(b + (size_t)p * PANEL + 8);
        for (int i = 0; i < ROWS; i++) {
            __m256 ai = _mm256_broadcast_ss(a + (size_t)p * ROWS + i);
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
        }
    }
    __m256i m0 = liberi_lanes8(width), m1 = liberi_lanes8(width - 8);
    for (int i = 0; i < rows; i++) {
        __m256 bi = _mm256_set1_ps(bias[i]);
        __m256 y0 = _mm256_add_ps(acc0[i], bi), y1 = _mm256_add_ps(acc1[i], bi);
        if (residual) {   /* (product + bias) + shortcut, in convEpilogue's order */
            const float *r = residual + (ptrdiff_t)i * ldc;
            y0 = _mm256_add_ps(y0, width == PANEL ? _mm256_loadu_ps(r) : _mm256_maskload_ps(r, m0));
            y1 = _mm256_add_ps(y1, width == PANEL ? _mm256_loadu_ps(r + 8) : _mm256_maskload_ps(r + 8, m1));
        }
        if (relu) { y0 = liberi_relu8(y0); y1 = liberi_relu8(y1); }
        liberi_store16(y + (ptrdiff_t)i * ldc, y0, y1, width, m0, m1);
    }
}

#endif

/* The scalar twin of `tile`: the same sums in the same order (fmaf is the FMA's single rounding). */
static void tile_scalar(const float *a, const float *b, int k, int rows, int width, const float *bias,
                        const float *residual, int relu, float *y, ptrdiff_t ldc) {
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < width; q++) {
            float acc = 0;
            for (int p = 0; p < k; p++) acc = fmaf(a[(size_t)p * ROWS + i], b[(size_t)p * PANEL + q], acc);
            float v = acc + bias[i];
            if (residual) v += residual[(ptrdiff_t)i * ldc + q];
            if (relu) v = liberi_relu(v);
            y[(ptrdiff_t)i * ldc + q] = v;
        }
}

void liberi_conv_packed(int m, int n, int k, const float *packed, const float *panels, const float *bias,
                        const float *residual, int relu, float *y, int block_first, int block_end, int panel_first,
                        int panel_end, int simd) {
    /* The operand the inner loop re-reads should be the smaller one, so that it stays in cache. */
    const int blocks_inner = (size_t)(block_end - block_first) * ROWS <= (size_t)(panel_end - panel_first) * PANEL;
    const int outer_count = blocks_inner ? panel_end - panel_first : block_end - block_first;
    const int inner_count = blocks_inner ? block_end - block_first : panel_end - panel_first;
#if !defined(__x86_64__)
    (void)simd;
#endif
    for (int u = 0; u < outer_count; u++)
        for (int v = 0; v < inner_count; v++) {
            const int r = block_first + (blocks_inner ? v : u), j = panel_first + (blocks_inner ? u : v);
            const int row = r * ROWS, col = j * PANEL;
            const int rows = m - row < ROWS ? m - row : ROWS, width = n - col < PANEL ? n - col : PANEL;
            const float *a = packed + (size_t)row * (size_t)k, *b = panels + (size_t)j * (size_t)k * PANEL;
            const float *res = residual ? residual + (ptrdiff_t)row * n + col : NULL;
            float *dst = y + (ptrdiff_t)row * n + col;
#if defined(__x86_64__)
            if (simd) { tile(a, b, k, rows, width, bias + row, res, relu, dst, n); continue; }
#endif
            tile_scalar(a, b, k, rows, width, bias + row, res, relu, dst, n);
        }
}

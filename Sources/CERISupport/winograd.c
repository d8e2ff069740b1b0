/* The Winograd transforms' halves that gather or scatter a tile's values
   (ERICore's WinogradTransforms.swift does the rest): the row half of the
   input transform, (Bᵀ d) B, and the whole output transform, Aᵀ M A. On the
   backbone's small maps a tile row holds 1 to 7 tiles, so a loop across one
   row's tiles is too short to vectorise and the Swift loops ran scalar (perf:
   80 % of the F(4×4) input transform, 20 % of the dbn-small backbone). Here
   four tiles at a time (consecutive in the plane's tile order, across tile
   rows) are read as four short rows and transposed 4 × 4, or combined four
   tiles a vector and transposed back to one store per tile and row. Same
   operations in the same order as the Swift loops they replaced (no fused
   multiply-add), so the same floats. */
#include "CERISupport.h"
#include "epilogue.h"
#pragma STDC FP_CONTRACT OFF
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* F(4×4, 3×3): d_k = row_i[4·tx + k], k = 0 … 5. */
#define F4_COMBINE(mul, add, sub, c2, c4, c5, d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) \
    o0 = add(sub(mul(c4, d0), mul(c5, d2)), d4);                                               \
    o1 = sub(add(d3, d4), mul(c4, add(d1, d2)));                                               \
    o2 = add(sub(d4, d3), mul(c4, sub(d1, d2)));                                               \
    o3 = add(sub(d4, d2), mul(c2, sub(d3, d1)));                                               \
    o4 = sub(sub(d4, d2), mul(c2, sub(d3, d1)));                                               \
    o5 = add(sub(mul(c4, d1), mul(c5, d3)), d5);

#define S_MUL(a, b) ((a) * (b))
#define S_ADD(a, b) ((a) + (b))
#define S_SUB(a, b) ((a) - (b))

/* The column half Bᵀ d of F(4×4): e_i[q] = combination i of padded[q + k·pw], k = 0 … 5, for
   q over the padded row 4·ty of every tile row ty (e_i starting span floats after e_{i−1}).
   In Swift these loops ran scalar (the compiler could not rule out e overlapping the padded
   plane); with restrict they vectorise. */
void liberi_winograd4_input_columns(const float *restrict padded, ptrdiff_t pw, ptrdiff_t span, int th,
                                    float *restrict e) {
    for (int ty = 0; ty < th; ty++) {
        const ptrdiff_t first = 4 * ty * pw;
        const float *restrict p0 = padded + first, *restrict p1 = p0 + pw, *restrict p2 = p1 + pw, *restrict p3 = p2 + pw,
                    *restrict p4 = p3 + pw, *restrict p5 = p4 + pw;
        float *restrict e0 = e + first, *restrict e1 = e0 + span, *restrict e2 = e1 + span, *restrict e3 = e2 + span,
              *restrict e4 = e3 + span, *restrict e5 = e4 + span;
        for (ptrdiff_t q = 0; q < pw; q++) {
            F4_COMBINE(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 5.0f, p0[q], p1[q], p2[q], p3[q], p4[q], p5[q], e0[q], e1[q], e2[q],
                       e3[q], e4[q], e5[q])
        }
    }
}

void liberi_winograd4_input_rows(const float *e, ptrdiff_t span, ptrdiff_t pw, int th, int tw, float *v,
                                 ptrdiff_t stride) {
    int tiles = th * tw;
    for (int i = 0; i < 6; i++) {
        const float *row = e + i * span;
        float *o0 = v + 6 * i * stride, *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride, *o4 = o3 + stride,
              *o5 = o4 + stride;
        int t = 0;
#if defined(__SSE__)
        const __m128 c2 = _mm_set1_ps(2), c4 = _mm_set1_ps(4), c5 = _mm_set1_ps(5);
        for (; t + 4 <= tiles; t += 4) {
            const float *s[4];
            for (int u = 0; u < 4; u++) s[u] = row + 4 * ((t + u) / tw) * pw + 4 * ((t + u) % tw);
            __m128 d0 = _mm_loadu_ps(s[0]), d1 = _mm_loadu_ps(s[1]), d2 = _mm_loadu_ps(s[2]), d3 = _mm_loadu_ps(s[3]);
            _MM_TRANSPOSE4_PS(d0, d1, d2, d3);
            /* columns 4 and 5 of each tile: (s[u][4], s[u][5]) pairs, interleaved */
            __m128 p0 = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s[0] + 4));
            __m128 p1 = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s[1] + 4));
            __m128 p2 = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s[2] + 4));
            __m128 p3 = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s[3] + 4));
            __m128 lo = _mm_unpacklo_ps(p0, p1), hi = _mm_unpacklo_ps(p2, p3); /* (4₀ 4₁ 5₀ 5₁), (4₂ 4₃ 5₂ 5₃) */
            __m128 d4 = _mm_movelh_ps(lo, hi), d5 = _mm_movehl_ps(hi, lo);
            __m128 r0, r1, r2, r3, r4, r5;
            F4_COMBINE(_mm_mul_ps, _mm_add_ps, _mm_sub_ps, c2, c4, c5, d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)
            _mm_storeu_ps(o0 + t, r0); _mm_storeu_ps(o1 + t, r1); _mm_storeu_ps(o2 + t, r2);
            _mm_storeu_ps(o3 + t, r3); _mm_storeu_ps(o4 + t, r4); _mm_storeu_ps(o5 + t, r5);
        }
#endif
        for (; t < tiles; t++) {
            const float *s = row + 4 * (t / tw) * pw + 4 * (t % tw);
            float d0 = s[0], d1 = s[1], d2 = s[2], d3 = s[3], d4 = s[4], d5 = s[5];
            F4_COMBINE(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 5.0f, d0, d1, d2, d3, d4, d5, o0[t], o1[t], o2[t], o3[t], o4[t], o5[t])
        }
    }
}

/* The column half Bᵀ d of F(2×2): e0 = p0 − p2, e1 = p1 + p2, e2 = p2 − p1, e3 = p1 − p3 over
   the padded rows 2·ty … 2·ty + 3 of every tile row ty, as liberi_winograd4_input_columns. */
void liberi_winograd2_input_columns(const float *restrict padded, ptrdiff_t pw, ptrdiff_t span, int th,
                                    float *restrict e) {
    for (int ty = 0; ty < th; ty++) {
        const ptrdiff_t first = 2 * ty * pw;
        const float *restrict p0 = padded + first, *restrict p1 = p0 + pw, *restrict p2 = p1 + pw, *restrict p3 = p2 + pw;
        float *restrict e0 = e + first, *restrict e1 = e0 + span, *restrict e2 = e1 + span, *restrict e3 = e2 + span;
        for (ptrdiff_t q = 0; q < pw; q++) { e0[q] = p0[q] - p2[q]; e1[q] = p1[q] + p2[q]; e2[q] = p2[q] - p1[q]; e3[q] = p1[q] - p3[q]; }
    }
}

/* F(2×2, 3×3): d_k = row_i[2·tx + k], k = 0 … 3. */
void liberi_winograd2_input_rows(const float *e, ptrdiff_t span, ptrdiff_t pw, int th, int tw, float *v,
                                 ptrdiff_t stride) {
    int tiles = th * tw;
    for (int i = 0; i < 4; i++) {
        const float *row = e + i * span;
        float *o0 = v + 4 * i * stride, *o1 = o0 + stride, *o2 = o1 + stride, *o3 = o2 + stride;
        int t = 0;
#if defined(__SSE__)
        for (; t + 4 <= tiles; t += 4) {
            const float *s[4];
            for (int u = 0; u < 4; u++) s[u] = row + 2 * ((t + u) / tw) * pw + 2 * ((t + u) % tw);
            __m128 a = _mm_loadu_ps(s[0]), b = _mm_loadu_ps(s[1]), c = _mm_loadu_ps(s[2]), d = _mm_loadu_ps(s[3]);
            _MM_TRANSPOSE4_PS(a, b, c, d);
            _mm_storeu_ps(o0 + t, _mm_sub_ps(a, c));
            _mm_storeu_ps(o1 + t, _mm_add_ps(b, c));
            _mm_storeu_ps(o2 + t, _mm_sub_ps(c, b));
            _mm_storeu_ps(o3 + t, _mm_sub_ps(b, d));
        }
#endif
        for (; t < tiles; t++) {
            const float *s = row + 2 * (t / tw) * pw + 2 * (t % tw);
            float a = s[0], b = s[1], c = s[2], d = s[3];
            o0[t] = a - c; o1[t] = b + c; o2[t] = c - b; o3[t] = b - d;
        }
    }
}

/* The output transforms Y = Aᵀ M A of one plane's tiles, four tiles at a time
   (their M_ξ are consecutive floats), each tile's m × m outputs written to
   `out`, the plane's tile rows as m·th lines of m·tw floats. Same operations
   in the same order as the Swift loops they replace. */

/* F(4×4): along a line of six, a = x1 + x2, b = x1 − x2, c = x3 + x4, d = x3 − x4,
   y = (x0 + a + c, b + 2d, a + 4c, b + 8d + x5). */
#define F4_OUT(mul, add, sub, c2, c4, c8, x0, x1, x2, x3, x4, x5, y0, y1, y2, y3) \
    {                                                                            \
        a_ = add(x1, x2); b_ = sub(x1, x2); c_ = add(x3, x4); d_ = sub(x3, x4);  \
        y0 = add(add(x0, a_), c_);                                               \
        y1 = add(b_, mul(c2, d_));                                               \
        y2 = add(a_, mul(c4, c_));                                               \
        y3 = add(add(b_, mul(c8, d_)), x5);                                      \
    }

void liberi_winograd4_output_plane(const float *m, ptrdiff_t stride, int th, int tw, float *out) {
    int tiles = th * tw, t = 0;
    ptrdiff_t line = 4 * (ptrdiff_t)tw;
#if defined(__SSE__)
    const __m128 c2 = _mm_set1_ps(2), c4 = _mm_set1_ps(4), c8 = _mm_set1_ps(8);
    for (; t + 4 <= tiles; t += 4) {
        __m128 s[4][6], a_, b_, c_, d_;
        for (int j = 0; j < 6; j++) { /* Aᵀ M down column j */
            const float *p = m + j * stride + t;
            __m128 x0 = _mm_loadu_ps(p), x1 = _mm_loadu_ps(p + 6 * stride), x2 = _mm_loadu_ps(p + 12 * stride);
            __m128 x3 = _mm_loadu_ps(p + 18 * stride), x4 = _mm_loadu_ps(p + 24 * stride), x5 = _mm_loadu_ps(p + 30 * stride);
            F4_OUT(_mm_mul_ps, _mm_add_ps, _mm_sub_ps, c2, c4, c8, x0, x1, x2, x3, x4, x5, s[0][j], s[1][j], s[2][j], s[3][j])
        }
        for (int r = 0; r < 4; r++) { /* (Aᵀ M) A along row r, then one 4-float store per tile */
            __m128 y0, y1, y2, y3;
            F4_OUT(_mm_mul_ps, _mm_add_ps, _mm_sub_ps, c2, c4, c8, s[r][0], s[r][1], s[r][2], s[r][3], s[r][4], s[r][5],
                   y0, y1, y2, y3)
            _MM_TRANSPOSE4_PS(y0, y1, y2, y3);
            __m128 y[4] = {y0, y1, y2, y3};
            for (int u = 0; u < 4; u++) {
                int ty = (t + u) / tw, tx = (t + u) % tw;
                _mm_storeu_ps(out + (4 * ty + r) * line + 4 * tx, y[u]);
            }
        }
    }
#endif
    for (; t < tiles; t++) {
        float s[4][6], a_, b_, c_, d_;
        for (int j = 0; j < 6; j++) {
            const float *p = m + j * stride + t;
            F4_OUT(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 8.0f, p[0], p[6 * stride], p[12 * stride], p[18 * stride],
                   p[24 * stride], p[30 * stride], s[0][j], s[1][j], s[2][j], s[3][j])
        }
        int ty = t / tw, tx = t % tw;
        for (int r = 0; r < 4; r++) {
            float *o = out + (4 * ty + r) * line + 4 * tx;
            F4_OUT(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 8.0f, s[r][0], s[r][1], s[r][2], s[r][3], s[r][4], s[r][5], o[0], o[1],
                   o[2], o[3])
        }
    }
}

/* F(2×2): along a line of four, y = (x0 + x1 + x2, x1 − x2 − x3). */
void liberi_winograd2_output_plane(const float *m, ptrdiff_t stride, int th, int tw, float *out) {
    int tiles = th * tw, t = 0;
    ptrdiff_t line = 2 * (ptrdiff_t)tw;
#if defined(__SSE__)
    for (; t + 4 <= tiles; t += 4) {
        __m128 s[2][4];
        for (int j = 0; j < 4; j++) {
            const float *p = m + j * stride + t;
            __m128 x0 = _mm_loadu_ps(p), x1 = _mm_loadu_ps(p + 4 * stride), x2 = _mm_loadu_ps(p + 8 * stride);
            __m128 x3 = _mm_loadu_ps(p + 12 * stride);
            s[0][j] = _mm_add_ps(_mm_add_ps(x0, x1), x2);
            s[1][j] = _mm_sub_ps(_mm_sub_ps(x1, x2), x3);
        }
        for (int r = 0; r < 2; r++) {
            __m128 y0 = _mm_add_ps(_mm_add_ps(s[r][0], s[r][1]), s[r][2]);
            __m128 y1 = _mm_sub_ps(_mm_sub_ps(s[r][1], s[r][2]), s[r][3]);
            __m128 lo = _mm_unpacklo_ps(y0, y1), hi = _mm_unpackhi_ps(y0, y1); /* tiles 0, 1 | 2, 3: (y0, y1) pairs */
            for (int u = 0; u < 4; u++) {
                int ty = (t + u) / tw, tx = (t + u) % tw;
                float *o = out + (2 * ty + r) * line + 2 * tx;
                if (u == 0) _mm_storel_pi((__m64 *)o, lo);
                else if (u == 1) _mm_storeh_pi((__m64 *)o, lo);
                else if (u == 2) _mm_storel_pi((__m64 *)o, hi);
                else _mm_storeh_pi((__m64 *)o, hi);
            }
        }
    }
#endif
    for (; t < tiles; t++) {
        float s[2][4];
        for (int j = 0; j < 4; j++) {
            const float *p = m + j * stride + t;
            s[0][j] = (p[0] + p[4 * stride]) + p[8 * stride];
            s[1][j] = (p[4 * stride] - p[8 * stride]) - p[12 * stride];
        }
        int ty = t / tw, tx = t % tw;
        for (int r = 0; r < 2; r++) {
            float *o = out + (2 * ty + r) * line + 2 * tx;
            o[0] = (s[r][0] + s[r][1]) + s[r][2];
            o[1] = (s[r][1] - s[r][2]) - s[r][3];
        }
    }
}

/* Whole-channel transforms for small maps (liberi_winograd_input_channels,
   liberi_winograd_output_channels). Per-layer timings of dbn-small's 16-frame pass put
   the per-plane transforms above at 0.2–0.4 ms a layer even on 2 × 2 and 4 × 4 maps
   (4096 planes of one tile each): the per-plane set-up (a zero-bordered copy, loops over
   one or two tile rows, a call) cost more than the arithmetic. Here the tiles of every
   image of a channel go through together, TILES at a time: each tile's α × α values are
   gathered into lane t of α² arrays (zero outside the image), and the transform runs
   lane-wise over those arrays, with the same operations in the same order as the
   per-plane path (F4_COMBINE, then the same along the rows; the output likewise), so
   the same floats. */
#define TILES 32

/* D[k][l], k = i·α + j: input pixel (m·ty − 1 + i, m·tx − 1 + j) of tile first + l. */
static void gather_tiles(const float *plane_base, int h, int w, int m, int th, int tw, int first, int count,
                         float *d) {
    int alpha = m + 2;
    for (int l = 0; l < count; l++) {
        int t = first + l, n = t / (th * tw), r = t % (th * tw), ty = r / tw, tx = r % tw;
        const float *plane = plane_base + (size_t)n * (size_t)h * (size_t)w;
        int y0 = m * ty - 1, x0 = m * tx - 1;
        int inside = y0 >= 0 && x0 >= 0 && y0 + alpha <= h && x0 + alpha <= w;
        for (int i = 0; i < alpha; i++) {
            int yy = y0 + i;
            float *dst = d + (size_t)i * (size_t)alpha * TILES + l;
            if (inside) {
                const float *row = plane + (size_t)yy * (size_t)w + x0;
                for (int j = 0; j < alpha; j++) dst[j * TILES] = row[j];
            } else if (yy < 0 || yy >= h) {
                for (int j = 0; j < alpha; j++) dst[j * TILES] = 0;
            } else {
                const float *row = plane + (size_t)yy * (size_t)w;
                for (int j = 0; j < alpha; j++) {
                    int xx = x0 + j;
                    dst[j * TILES] = xx >= 0 && xx < w ? row[xx] : 0;
                }
            }
        }
    }
}

void liberi_winograd_input_channels(int m, const float *x, int first, int end, int images, int h, int w, float *v,
                                    ptrdiff_t slot) {
    int alpha = m + 2, th = (h + m - 1) / m, tw = (w + m - 1) / m, tiles = images * th * tw;
    float d[36 * TILES], e[36 * TILES];
    for (int c = first; c < end; c++) {
        const float *plane_base = x + (size_t)c * (size_t)images * (size_t)h * (size_t)w;
        for (int t0 = 0; t0 < tiles; t0 += TILES) {
            int count = tiles - t0 < TILES ? tiles - t0 : TILES;
            gather_tiles(plane_base, h, w, m, th, tw, t0, count, d);
            float *out = v + (size_t)c * (size_t)tiles + t0;
#define D(i, j) (d + ((i) * alpha + (j)) * TILES)
#define E(i, j) (e + ((i) * alpha + (j)) * TILES)
            if (m == 4) {
                for (int j = 0; j < 6; j++) /* Bᵀ d down column j */
                    for (int l = 0; l < count; l++) {
                        F4_COMBINE(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 5.0f, D(0, j)[l], D(1, j)[l], D(2, j)[l], D(3, j)[l],
                                   D(4, j)[l], D(5, j)[l], E(0, j)[l], E(1, j)[l], E(2, j)[l], E(3, j)[l], E(4, j)[l],
                                   E(5, j)[l])
                    }
                for (int i = 0; i < 6; i++) { /* (Bᵀ d) B along row i */
                    float *o0 = out + (size_t)(6 * i) * (size_t)slot, *o1 = o0 + slot, *o2 = o1 + slot, *o3 = o2 + slot,
                          *o4 = o3 + slot, *o5 = o4 + slot;
                    for (int l = 0; l < count; l++) {
                        F4_COMBINE(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 5.0f, E(i, 0)[l], E(i, 1)[l], E(i, 2)[l], E(i, 3)[l],
                                   E(i, 4)[l], E(i, 5)[l], o0[l], o1[l], o2[l], o3[l], o4[l], o5[l])
                    }
                }
            } else {
                for (int j = 0; j < 4; j++)
                    for (int l = 0; l < count; l++) {
                        float a = D(0, j)[l], b = D(1, j)[l], cc = D(2, j)[l], dd = D(3, j)[l];
                        E(0, j)[l] = a - cc; E(1, j)[l] = b + cc; E(2, j)[l] = cc - b; E(3, j)[l] = b - dd;
                    }
                for (int i = 0; i < 4; i++) {
                    float *o0 = out + (size_t)(4 * i) * (size_t)slot, *o1 = o0 + slot, *o2 = o1 + slot, *o3 = o2 + slot;
                    for (int l = 0; l < count; l++) {
                        float a = E(i, 0)[l], b = E(i, 1)[l], cc = E(i, 2)[l], dd = E(i, 3)[l];
                        o0[l] = a - cc; o1[l] = b + cc; o2[l] = cc - b; o3[l] = b - dd;
                    }
                }
            }
#undef D
#undef E
        }
    }
}

void liberi_winograd_output_channels(int m, const float *products, ptrdiff_t slot, int first, int end, int images, int h,
                                     int w, const float *bias, const float *residual, int relu, float *y) {
    int th = (h + m - 1) / m, tw = (w + m - 1) / m, tiles = images * th * tw;
    float s[4 * 6 * TILES], out[16 * TILES];
    for (int o = first; o < end; o++) {
        float beta = bias[o];
        size_t plane_base = (size_t)o * (size_t)images * (size_t)h * (size_t)w;
        for (int t0 = 0; t0 < tiles; t0 += TILES) {
            int count = tiles - t0 < TILES ? tiles - t0 : TILES;
            const float *p = products + (size_t)o * (size_t)tiles + t0;
#define S(r, j) (s + ((r) * 6 + (j)) * TILES)
#define Y(r, c) (out + ((r) * m + (c)) * TILES)
            if (m == 4) {
                float a_, b_, c_, d_;
                for (int j = 0; j < 6; j++) { /* Aᵀ M down column j */
                    const float *q = p + (size_t)j * (size_t)slot;
                    for (int l = 0; l < count; l++)
                        F4_OUT(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 8.0f, q[l], q[6 * slot + l], q[12 * slot + l],
                               q[18 * slot + l], q[24 * slot + l], q[30 * slot + l], S(0, j)[l], S(1, j)[l], S(2, j)[l],
                               S(3, j)[l])
                }
                for (int r = 0; r < 4; r++)
                    for (int l = 0; l < count; l++)
                        F4_OUT(S_MUL, S_ADD, S_SUB, 2.0f, 4.0f, 8.0f, S(r, 0)[l], S(r, 1)[l], S(r, 2)[l], S(r, 3)[l],
                               S(r, 4)[l], S(r, 5)[l], Y(r, 0)[l], Y(r, 1)[l], Y(r, 2)[l], Y(r, 3)[l])
            } else {
                for (int j = 0; j < 4; j++) {
                    const float *q = p + (size_t)j * (size_t)slot;
                    for (int l = 0; l < count; l++) {
                        S(0, j)[l] = (q[l] + q[4 * slot + l]) + q[8 * slot + l];
                        S(1, j)[l] = (q[4 * slot + l] - q[8 * slot + l]) - q[12 * slot + l];
                    }
                }
                for (int r = 0; r < 2; r++)
                    for (int l = 0; l < count; l++) {
                        Y(r, 0)[l] = (S(r, 0)[l] + S(r, 1)[l]) + S(r, 2)[l];
                        Y(r, 1)[l] = (S(r, 1)[l] - S(r, 2)[l]) - S(r, 3)[l];
                    }
            }
            /* Each tile's m × m outputs, cropped to the map, with the epilogue of ERICore's
               convEpilogue: (value + bias) (+ residual), then max(·, 0) as Swift's max gives it. */
            for (int l = 0; l < count; l++) {
                int t = t0 + l, n = t / (th * tw), rr = t % (th * tw), ty = rr / tw, tx = rr % tw;
                for (int r = 0; r < m && m * ty + r < h; r++) {
                    size_t at = plane_base + (size_t)n * (size_t)h * (size_t)w + (size_t)(m * ty + r) * (size_t)w + (size_t)(m * tx);
                    for (int c = 0; c < m && m * tx + c < w; c++) {
                        float value = Y(r, c)[l] + beta;
                        if (residual) value = value + residual[at + c];
                        if (relu) value = liberi_relu(value);
                        y[at + c] = value;
                    }
                }
            }
#undef S
#undef Y
        }
    }
}

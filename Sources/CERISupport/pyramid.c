/* The face detector's image pyramid (SPEC §4.1a): area resampling, PyTorch's
   F.interpolate(mode="area"), of the same planes to several sizes in one sweep
   down the input, each output bit for bit what ERICore's areaResize gives
   (rows first, each output row the sum of its input rows in row order times
   1 / count; then each output the sum of its columns in order / count). The
   input is read once rather than once per size; the row sums run eight
   columns at a time with AVX2 where the CPU has it (the same additions). */
#include "CERISupport.h"
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static void add_row_avx2(float *out, const float *line, int n) {
    int c = 0;
    for (; c + 8 <= n; c += 8) _mm256_storeu_ps(out + c, _mm256_add_ps(_mm256_loadu_ps(out + c), _mm256_loadu_ps(line + c)));
    for (; c < n; c++) out[c] += line[c];
}
__attribute__((target("avx2"))) static void scale_row_avx2(float *out, float s, int n) {
    int c = 0;
    __m256 v = _mm256_set1_ps(s);
    for (; c + 8 <= n; c += 8) _mm256_storeu_ps(out + c, _mm256_mul_ps(_mm256_loadu_ps(out + c), v));
    for (; c < n; c++) out[c] *= s;
}
#endif

static void add_row(float *out, const float *line, int n) {
    for (int c = 0; c < n; c++) out[c] += line[c];
}
static void scale_row(float *out, float s, int n) {
    for (int c = 0; c < n; c++) out[c] *= s;
}

size_t liberi_area_pyramid_scratch(int w, int levels, const int *heights) {
    size_t rows = 0;
    for (int l = 0; l < levels; l++) rows += (size_t)heights[l];
    return rows * (size_t)w;
}

void liberi_area_pyramid(const float *x, int h, int w, int levels, const int *heights, const int *widths,
                         float *const *outputs, int plane_begin, int plane_end, int simd, float *scratch) {
    void (*add)(float *, const float *, int) = add_row;
    void (*scale)(float *, float, int) = scale_row;
#if defined(__x86_64__)
    if (simd) { add = add_row_avx2; scale = scale_row_avx2; }
#else
    (void)simd;
#endif
    int pending[64];   /* per size: the first output row not yet complete */
    if (levels > 64) abort();
    int widest = 1;
    for (int l = 0; l < levels; l++) widest = widths[l] > widest ? widths[l] : widest;
    int *spans = malloc(sizeof(int) * 2 * (size_t)widest);   /* one size's column spans */
    if (!spans) abort();
    for (int p = plane_begin; p < plane_end; p++) {
        const float *src = x + (size_t)p * h * w;
        for (int l = 0; l < levels; l++) pending[l] = 0;
        for (int r = 0; r < h; r++) {
            const float *line = src + (size_t)r * w;
            float *base = scratch;
            for (int l = 0; l < levels; l++) {
                long oh = heights[l];
                /* the output rows i whose span [a, b) = [⌊i·h/oh⌋, ⌈(i+1)·h/oh⌉) holds r */
                for (long i = pending[l]; i < oh && i * h / oh <= r; i++) {
                    long a = i * h / oh, b = ((i + 1) * h + oh - 1) / oh;
                    float *out = base + i * w;
                    if (r == a) { for (int c = 0; c < w; c++) out[c] = line[c]; }
                    else add(out, line, w);
                    if (r == b - 1) scale(out, 1 / (float)(b - a), w);
                }
                while (pending[l] < oh && ((pending[l] + 1) * (long)h + oh - 1) / oh <= r + 1) pending[l]++;
                base += oh * w;
            }
        }
        /* the columns: spans [⌊j·w/ow⌋, ⌈(j+1)·w/ow⌉) */
        const float *base = scratch;
        for (int l = 0; l < levels; l++) {
            long oh = heights[l], ow = widths[l];
            float *dst = outputs[l] + (size_t)p * oh * ow;
            for (long j = 0; j < ow; j++) {
                spans[2 * j] = (int)(j * w / ow);
                spans[2 * j + 1] = (int)(((j + 1) * w + ow - 1) / ow);
            }
            for (long i = 0; i < oh; i++) {
                const float *row = base + i * w;
                float *out = dst + i * ow;
                for (long j = 0; j < ow; j++) {
                    int a = spans[2 * j], b = spans[2 * j + 1];
                    float sum = row[a];
                    for (int c = a + 1; c < b; c++) sum += row[c];
                    out[j] = sum / (float)(b - a);
                }
            }
            base += oh * w;
        }
    }
    free(spans);
}

#define PLANES_FROM_PACKED                                                      \
    size_t plane = (size_t)w * h;                                               \
    for (int y = 0; y < h; y++) {                                               \
        const unsigned char *row = data + (size_t)y * stride;                   \
        float *R = out + (size_t)y * w, *G = R + plane, *B = G + plane;         \
        for (int x = 0; x < w; x++) {                                           \
            const unsigned char *p = row + x * bpp;                             \
            R[x] = p[r];                                                        \
            G[x] = p[g];                                                        \
            B[x] = p[b];                                                        \
        }                                                                       \
    }

static void planes_from_packed(const unsigned char *data, int w, int h, int stride, int bpp, int r, int g, int b, float *out) {
    PLANES_FROM_PACKED
}

#if defined(__x86_64__)
/* The same loop compiled for AVX2 (the same values: bytes to floats are exact). */
__attribute__((target("avx2"))) static void planes_from_packed_avx2(const unsigned char *data, int w, int h, int stride, int bpp,
                                                                     int r, int g, int b, float *out) {
    PLANES_FROM_PACKED
}
#endif

void liberi_planes_from_packed(const unsigned char *data, int w, int h, int stride, int bpp, int r, int g, int b, int simd,
                               float *out) {
#if defined(__x86_64__)
    if (simd) { planes_from_packed_avx2(data, w, h, stride, bpp, r, g, b, out); return; }
#else
    (void)simd;
#endif
    planes_from_packed(data, w, h, stride, bpp, r, g, b, out);
}

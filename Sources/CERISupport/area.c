/* The face detector's area resampling (SPEC §4.1a): PyTorch's
   F.interpolate(mode="area"), i.e. adaptive average pooling — output (i, j) is
   the mean of input rows ⌊i·h/oh⌋ ..< ⌈(i+1)·h/oh⌉ and columns ⌊j·w/ow⌋ ..<
   ⌈(j+1)·w/ow⌉ — of every level of the image pyramid and of every R-Net and
   O-Net crop, read from one integral image (summed-area table) per frame:
   four reads an output whatever the window, rather than a sum over it for
   each level and each crop.

   Pixels from 8-bit video (every packed format) are whole numbers 0…255: their
   table holds 32-bit unsigned integers, and a window's sum — four entries
   added and subtracted modulo 2^32 — is exact (any window under 2^24
   pixels), exactly the sum PyTorch's kernel accumulates in float (itself
   exact while the sum stays under 2^24, a window of up to 65,793 pixels). The
   mean is then that sum times 1/kh · 1/kw, computed in double and rounded
   once to float: the exact mean correctly rounded (a tie or a near-tie would
   need a window of 65,536 pixels or more), where PyTorch divides twice in
   float (sum / kh / kw); the two differ by at most one float ulp, rarely.
   Other pixels (planes converted from YUV, or reduced to the detector's
   maximum side) get a table of doubles: sums within double rounding of the
   exact ones, closer than PyTorch's own float accumulation. */
#include "CERISupport.h"
#include <stdint.h>
#include <stdlib.h>

/* A table: (h + 1) × (w + 1) entries of three sums each (R, G, B side by side,
   so that a crop's three planes read the same cache lines), row 0 and column 0
   zero, entry (y + 1, x + 1) the sums of pixels [0, y] × [0, x]. */
size_t liberi_integral_size(int h, int w) { return 3 * ((size_t)h + 1) * ((size_t)w + 1); }

/* Each row: first its own running sums (three independent chains), then the
   row above added, a loop the compiler vectorises. */
#define INTEGRAL(T, R, G, B)                                                    \
    size_t W = 3 * ((size_t)w + 1);                                             \
    for (size_t x = 0; x < W; x++) out[x] = 0;                                  \
    for (int y = 0; y < h; y++) {                                               \
        const T *restrict above = out + (size_t)y * W;                          \
        T *restrict row = out + (size_t)(y + 1) * W, sr = 0, sg = 0, sb = 0;    \
        row[0] = row[1] = row[2] = 0;                                           \
        for (size_t x = 0; x < (size_t)w; x++) {                                \
            sr += (R); sg += (G); sb += (B);                                    \
            row[3 * x + 3] = sr;                                                \
            row[3 * x + 4] = sg;                                                \
            row[3 * x + 5] = sb;                                                \
        }                                                                       \
        for (size_t k = 3; k < W; k++) row[k] += above[k];                      \
    }

static inline __attribute__((always_inline)) void
integral_packed(const unsigned char *data, int w, int h, int stride, const int bpp, const int r, const int g, const int b,
                uint32_t *out) {
    INTEGRAL(uint32_t, data[(size_t)y * stride + x * bpp + r], data[(size_t)y * stride + x * bpp + g],
             data[(size_t)y * stride + x * bpp + b])
}

/* The four layouts liberi reads with constant offsets (a loop three times as fast), any other generic. */
void liberi_integral_from_packed(const unsigned char *data, int w, int h, int stride, int bpp, int r, int g, int b,
                                 uint32_t *out) {
    if (bpp == 3 && r == 0 && g == 1 && b == 2) integral_packed(data, w, h, stride, 3, 0, 1, 2, out);
    else if (bpp == 3 && r == 2 && g == 1 && b == 0) integral_packed(data, w, h, stride, 3, 2, 1, 0, out);
    else if (bpp == 4 && r == 0 && g == 1 && b == 2) integral_packed(data, w, h, stride, 4, 0, 1, 2, out);
    else if (bpp == 4 && r == 2 && g == 1 && b == 0) integral_packed(data, w, h, stride, 4, 2, 1, 0, out);
    else integral_packed(data, w, h, stride, bpp, r, g, b, out);
}

void liberi_integral_from_planes(const float *planes, int w, int h, double *out) {
    size_t plane = (size_t)w * h;
    INTEGRAL(double, (double)planes[(size_t)y * w + x], (double)planes[plane + (size_t)y * w + x],
             (double)planes[2 * plane + (size_t)y * w + x])
}

/* Output rows [row_begin, row_end) of the rectangle resampled, the three planes,
   `SUM(top, bottom, c0, c1)` a window's sum (as a double) from a table's rows
   `top` and `bottom` at entry offsets c0, c1. */
#define AREA_FROM_INTEGRAL(T, SUM)                                                                    \
    size_t W = 3 * ((size_t)w + 1);                                                                   \
    int stack_columns[2 * 256];                                                                       \
    double stack_inverse[256];                                                                        \
    int *columns = ow <= 256 ? stack_columns : malloc(sizeof(int) * 2 * (size_t)ow);                  \
    double *inverse = ow <= 256 ? stack_inverse : malloc(sizeof(double) * (size_t)ow);                \
    if (!columns || !inverse) abort();                                                                \
    for (long j = 0; j < ow; j++) {   /* each output column's span (entry offsets), 1 / its width */  \
        long a = j * cw / ow, b = ((j + 1) * (long)cw + ow - 1) / ow;                                 \
        columns[2 * j] = 3 * (x0 + (int)a);                                                           \
        columns[2 * j + 1] = 3 * (x0 + (int)b);                                                       \
        inverse[j] = 1.0 / (double)(b - a);                                                           \
    }                                                                                                 \
    float shift = normalise ? 127.5f : 0, scale = normalise ? 0.0078125f : 1;                         \
    for (long i = row_begin; i < row_end; i++) {                                                      \
        long a = i * ch / oh, b = ((i + 1) * (long)ch + oh - 1) / oh;                                 \
        const T *top = table + (size_t)(y0 + a) * W, *bottom = table + (size_t)(y0 + b) * W;          \
        double rows = 1.0 / (double)(b - a);                                                          \
        float *o = out + (size_t)i * ow;                                                              \
        for (long j = 0; j < ow; j++) {                                                               \
            int c0 = columns[2 * j], c1 = columns[2 * j + 1];                                         \
            double mean = rows * inverse[j];                                                          \
            for (int c = 0; c < 3; c++, c0++, c1++)                                                   \
                o[c * plane_stride + j] = ((float)((SUM) * mean) - shift) * scale;                    \
        }                                                                                             \
    }                                                                                                 \
    if (columns != stack_columns) free(columns);                                                      \
    if (inverse != stack_inverse) free(inverse);

void liberi_area_from_integral(const uint32_t *table, int w, int y0, int x0, int ch, int cw, int oh, int ow, int row_begin,
                               int row_end, int normalise, float *out, size_t plane_stride) {
    AREA_FROM_INTEGRAL(uint32_t, (double)((bottom[c1] - top[c1]) - (bottom[c0] - top[c0])))
}

void liberi_area_from_integral_f64(const double *table, int w, int y0, int x0, int ch, int cw, int oh, int ow, int row_begin,
                                   int row_end, int normalise, float *out, size_t plane_stride) {
    AREA_FROM_INTEGRAL(double, (bottom[c1] - top[c1]) - (bottom[c0] - top[c0]))
}

/* MFCC frames eight at a time, one frame per vector lane (ERIFeatures' MFCCExtractor
   for a power-of-two n_fft). perf on 60 s of audio through the Swift path found the FFT
   (libavutil) at 29 %, and the rest of the frame (window, packed-real split, transpose to
   frame-minor, mel bank, log, DCT) at ~65 %, compiled for baseline x86-64 (SSE, no FMA)
   and spread over one call per frame. Here a group of eight frames is windowed into
   rows, transposed so that vector n holds sample n of the eight frames, and then every
   step — a radix-4 (and one radix-2) decimation-in-frequency FFT of the n/2 packed
   complex points, the split into |X_k|², the banded mel bank, 10·log10, the frame mean
   and the DCT — is the scalar algorithm with each scalar replaced by a vector of eight
   frames: no shuffles, no horizontal sums, and the spectrum comes out frame-minor as the
   mel bank wants it. The lanes never mix, so a frame's values do not depend on which
   lane or group it falls in (the stream's bit-identity rests on that).

   The body is compiled twice: with AVX2 + FMA where liberi_avx2_fma says so, and as
   portable vector C (SSE2 pairs on x86-64, NEON on ARM) otherwise. */
#include "CERISupport.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32), aligned(32)));
typedef double v4d __attribute__((vector_size(32), aligned(32)));
typedef float v4f __attribute__((vector_size(16), aligned(16)));
typedef int32_t v8i __attribute__((vector_size(32), aligned(32)));
typedef uint32_t v8u __attribute__((vector_size(32), aligned(32)));

/* The helpers are always inlined, so the 32-byte vectors never cross a call in the
   portable build (where they would be passed differently than with AVX). */
#pragma clang diagnostic ignored "-Wpsabi"
#define INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))
#endif

struct liberi_mfcc_plan {
    int n_fft, half, hop, win_length, window_offset, n_mels, n_mfcc;
    float *window_full;                   /* n_fft: the window at window_offset, zeros around it */
    int *band_first, *band_count, *band_offset; /* the bands as the kernel reads them: padded with zero weights
                                                   to multiples of 4 bins, shifted down where they would pass the
                                                   last bin (not the caller's band_first / band_count) */
    float *band_weights;                  /* already over the spectrum's factor 4 */
    float *dct;                           /* n_mfcc × n_mels, row 0 zero */
    float *dct_column_sums;               /* n_mfcc */
    double dct_scale0;
    int radix2_first;                     /* log2(half) odd: one radix-2 stage first */
    float *fft_twiddles;                  /* per stage, in order: radix-2 (cos, −sin) per j; radix-4 (c1, s1, c2, s2, c3, s3) per j */
    int *position;                        /* X_k of the packed FFT lands in vector pair position[k] */
    float *split_twiddles;                /* W^k = exp(−2πik/n), k ≤ n/4: cos at [k], −sin at [stride + k] */
};

static int is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

/* Where X_k of a decimation-in-frequency FFT of `length` points ends up, with stages of
   radix 2 (first, if radix2_first) then 4: the first stage puts the outputs k ≡ r (mod
   radix) in the r-th block of length/radix, each block then a DFT of its own. */
static int dif_position(int k, int length, int radix2_first) {
    if (length == 1) return 0;
    int radix = radix2_first ? 2 : 4, sub = length / radix;
    return (k % radix) * sub + dif_position(k / radix, sub, 0);
}

/* A band of `count` bins rounded up to a multiple of four, at most `bins`. */
static int padded_band(int count, int bins) {
    int padded = (count + 3) / 4 * 4;
    return padded < bins ? padded : bins;
}

size_t liberi_mfcc_scratch_floats(const liberi_mfcc_plan *p) {
    /* rows 8 × n_fft, data n_fft vectors (n/2 complex as re, im), power (half + 1), mel,
       out, each vector 8 floats; 8 spare for alignment. */
    return (size_t)8 * p->n_fft + (size_t)8 * p->n_fft + (size_t)8 * (p->half + 1) + (size_t)8 * p->n_mels +
           (size_t)8 * p->n_mfcc + 8;
}

void liberi_mfcc_plan_free(liberi_mfcc_plan *p) {
    if (!p) return;
    free(p->window_full); free(p->band_first); free(p->band_count); free(p->band_offset); free(p->band_weights);
    free(p->dct); free(p->dct_column_sums); free(p->fft_twiddles); free(p->position); free(p->split_twiddles);
    free(p);
}

liberi_mfcc_plan *liberi_mfcc_plan_create(int n_fft, int hop, int win_length, int window_offset, const float *window,
                                          int n_mels, const int *band_first, const int *band_count,
                                          const float *band_weights, int n_mfcc, const float *dct,
                                          const float *dct_column_sums, double dct_scale0) {
    if (!is_power_of_two(n_fft) || n_fft < 16 || n_fft > (1 << 20) || hop < 1 || win_length < 1 ||
        window_offset < 0 || window_offset + win_length > n_fft || n_mels < 1 || n_mfcc < 1 || n_mfcc > n_mels)
        return NULL;
    liberi_mfcc_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    int half = n_fft / 2, bins = half + 1;
    p->n_fft = n_fft; p->half = half; p->hop = hop; p->win_length = win_length; p->window_offset = window_offset;
    p->n_mels = n_mels; p->n_mfcc = n_mfcc; p->dct_scale0 = dct_scale0;
    /* Each band's weights are padded with zeros to a multiple of four bins (where the spectrum
       has them: the band moves down when it would run past the last bin), so that the bank's
       loop has no remainder. */
    int weights = 0;
    for (int i = 0; i < n_mels; i++) {
        if (band_count[i] < 0 || band_first[i] < 0 || band_first[i] + band_count[i] > bins) { liberi_mfcc_plan_free(p); return NULL; }
        weights += padded_band(band_count[i], bins);
    }
    int log2_half = 0;
    while ((1 << log2_half) < half) log2_half++;
    p->radix2_first = log2_half % 2;
    size_t twiddle_floats = 0;
    for (int length = half, first = 1; length > 1; first = 0) {
        if (first && p->radix2_first) { twiddle_floats += (size_t)length; length /= 2; }
        else { twiddle_floats += (size_t)6 * (length / 4); length /= 4; }
    }
    p->window_full = calloc((size_t)n_fft, sizeof(float));
    p->band_first = malloc(sizeof(int) * (size_t)n_mels);
    p->band_count = malloc(sizeof(int) * (size_t)n_mels);
    p->band_offset = malloc(sizeof(int) * (size_t)n_mels);
    p->band_weights = malloc(sizeof(float) * (size_t)(weights + 1));
    p->dct = malloc(sizeof(float) * (size_t)n_mfcc * (size_t)n_mels);
    p->dct_column_sums = malloc(sizeof(float) * (size_t)n_mfcc);
    p->fft_twiddles = malloc(sizeof(float) * (twiddle_floats + 1));
    p->position = malloc(sizeof(int) * (size_t)half);
    p->split_twiddles = malloc(sizeof(float) * (size_t)2 * (size_t)(n_fft / 4 + 1));
    if (!p->window_full || !p->band_first || !p->band_count || !p->band_offset || !p->band_weights || !p->dct ||
        !p->dct_column_sums || !p->fft_twiddles || !p->position || !p->split_twiddles) {
        liberi_mfcc_plan_free(p);
        return NULL;
    }
    memcpy(p->window_full + window_offset, window, sizeof(float) * (size_t)win_length);
    memset(p->band_weights, 0, sizeof(float) * (size_t)weights);
    for (int i = 0, offset = 0, from = 0; i < n_mels; i++) {
        int count = padded_band(band_count[i], bins);
        int first = band_first[i] < bins - count ? band_first[i] : bins - count;
        p->band_first[i] = first;
        p->band_count[i] = count;
        p->band_offset[i] = offset;
        memcpy(p->band_weights + offset + (band_first[i] - first), band_weights + from, sizeof(float) * (size_t)band_count[i]);
        offset += count;
        from += band_count[i];
    }
    memcpy(p->dct, dct, sizeof(float) * (size_t)n_mfcc * (size_t)n_mels);
    memset(p->dct, 0, sizeof(float) * (size_t)n_mels);
    memcpy(p->dct_column_sums, dct_column_sums, sizeof(float) * (size_t)n_mfcc);
    /* Twiddles in float64, rounded once: W_L^m = exp(−2πi·m/L). */
    float *t = p->fft_twiddles;
    for (int length = half, first = 1; length > 1; first = 0) {
        int radix = first && p->radix2_first ? 2 : 4, q = length / radix;
        for (int j = 0; j < q; j++)
            for (int r = 1; r < radix; r++) {
                double angle = 2 * M_PI * (double)((long long)j * r) / (double)length;
                *t++ = (float)cos(angle);
                *t++ = (float)-sin(angle);
            }
        length = q;
    }
    for (int k = 0; k < half; k++) p->position[k] = dif_position(k, half, p->radix2_first);
    int stride = n_fft / 4 + 1;
    for (int k = 0; k <= n_fft / 4; k++) {
        double angle = 2 * M_PI * (double)k / (double)n_fft;
        p->split_twiddles[k] = (float)cos(angle);
        p->split_twiddles[stride + k] = (float)-sin(angle);
    }
    return p;
}

INLINE v8f splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

INLINE v8f load8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }

/* An 8 × 8 transpose: vector c of the result holds element c of r[0], …, r[7]. */
INLINE void transpose8x8(const v8f r[8], v8f t[8]) {
    v8f t0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t2 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t4 = __builtin_shufflevector(r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t6 = __builtin_shufflevector(r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
    v8f s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    v8f s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    t[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
    t[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
    t[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
    t[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
    t[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
    t[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
    t[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
    t[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* dst[c] = (src[0][c], …, src[7][c]) · w[c], c < 8: eight frames' samples → eight vectors
   of one sample each, with the window applied. */
INLINE void transpose8(const float *const src[8], ptrdiff_t at, const float *w, v8f *dst) {
    v8f r[8], window = load8(w);
    for (int l = 0; l < 8; l++) r[l] = load8(src[l] + at) * window;   /* the same products as after the transpose */
    transpose8x8(r, dst);
}

/* 10·log10(max(1e-10, x)) lane by lane: fdlibm's logf, as ERIFeatures' `decibels8`
   (the same operations in the same order). */
INLINE v8f decibels(v8f value) {
    v8i keep = value > splat(1e-10f);            /* false for NaN: 1e-10, as Swift's max gives */
    v8u v = ((v8u)value & (v8u)keep) | ((v8u)splat(1e-10f) & ~(v8u)keep);
    v8i infinite = (v8f)v == splat(INFINITY);
    v8u bits = v + (0x3f800000u - 0x3f3504f3u);
    v8i e = (v8i)(bits >> 23) - 0x7f;
    bits = (bits & 0x007fffffu) + 0x3f3504f3u;
    v8f m = (v8f)bits;
    v8f f = m - 1.0f;
    v8f s = f / (2.0f + f);
    v8f z = s * s, w = z * z;
    v8f t1 = w * (0.40000972152f + w * 0.24279078841f);
    v8f t2 = z * (0.66666662693f + w * 0.28498786688f);
    v8f r = t2 + t1;
    v8f hfsq = 0.5f * f * f;
    v8f logm = f - (hfsq - s * (hfsq + r));
    v8f ef = __builtin_convertvector(e, v8f);
    const float c_hi = 3.0107421875f, c_lo = -4.4223086e-04f, scale = 4.3429448190f;
    v8f db = ef * c_hi + (ef * c_lo + logm * scale);
    return (v8f)(((v8u)db & ~(v8u)infinite) | ((v8u)splat(INFINITY) & (v8u)infinite));
}

/* The butterfly of a radix-4 DIF stage on the complex points p0, p0 + q, p0 + 2q, p0 + 3q
   (a point being a pair of vectors), outputs 1–3 turned by the twiddles w = (c1, s1, c2, s2,
   c3, s3), or not at all when w is NULL (j = 0, where W⁰ = 1: the products would only repeat
   the values, or turn an infinity into NaN). */
INLINE void radix4_butterfly(v8f *p0, int q, const v8f *w) {
    v8f *p1 = p0 + 2 * q, *p2 = p1 + 2 * q, *p3 = p2 + 2 * q;
    v8f a0r = p0[0], a0i = p0[1], a1r = p1[0], a1i = p1[1], a2r = p2[0], a2i = p2[1], a3r = p3[0], a3i = p3[1];
    v8f t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
    v8f t2r = a1r + a3r, t2i = a1i + a3i, dr = a1r - a3r, di = a1i - a3i;
    /* t3 = −i·d */
    v8f y0r = t0r + t2r, y0i = t0i + t2i, y2r = t0r - t2r, y2i = t0i - t2i;
    v8f y1r = t1r + di, y1i = t1i - dr, y3r = t1r - di, y3i = t1i + dr;
    p0[0] = y0r; p0[1] = y0i;
    if (!w) {
        p1[0] = y1r; p1[1] = y1i; p2[0] = y2r; p2[1] = y2i; p3[0] = y3r; p3[1] = y3i;
        return;
    }
    p1[0] = y1r * w[0] - y1i * w[1]; p1[1] = y1r * w[1] + y1i * w[0];
    p2[0] = y2r * w[2] - y2i * w[3]; p2[1] = y2r * w[3] + y2i * w[2];
    p3[0] = y3r * w[4] - y3i * w[5]; p3[1] = y3r * w[5] + y3i * w[4];
}

/* One radix-4 DIF stage over `half` complex vectors (re at x[2i], im at x[2i + 1]) in blocks
   of `length`; tw: (c1, s1, c2, s2, c3, s3) per j < length/4. By twiddle, then by block: each
   twiddle is loaded once a stage. */
INLINE void radix4_stage(v8f *x, int half, int length, const float *tw) {
    int q = length / 4;
    for (int b = 0; b < half; b += length) radix4_butterfly(x + 2 * b, q, NULL);
    for (int j = 1; j < q; j++) {
        const float *t = tw + 6 * j;
        v8f w[6] = {splat(t[0]), splat(t[1]), splat(t[2]), splat(t[3]), splat(t[4]), splat(t[5])};
        for (int b = 0; b < half; b += length) radix4_butterfly(x + 2 * (b + j), q, w);
    }
}

/* Coefficients k … k + rows − 1 (rows ≤ 8, one chain each) of the DCT of the centred mel
   vectors, from their half-sums and differences (see step 6 of the group), plus the mean's share. */
INLINE void dct_rows(const liberi_mfcc_plan *p, const v8f *mel, v8f mean, int k, int rows, v8f *coef) {
    const int m = p->n_mels, h = m / 2;
    const float *d = p->dct + (size_t)k * m;
    v8f c[8];
    for (int r = 0; r < rows; r++) c[r] = splat(0);
    for (int j = 0; j < h; j++) {
        v8f e = mel[j], o = mel[m - 1 - j];
        for (int r = 0; r < rows; r++) c[r] = c[r] + splat(d[r * m + j]) * ((k + r) % 2 ? o : e);
    }
    if (m % 2)
        for (int r = 0; r < rows; r++) c[r] = c[r] + splat(d[r * m + h]) * mel[h];
    for (int r = 0; r < rows; r++) coef[k + r] = c[r] + mean * splat(p->dct_column_sums[k + r]);
}

/* The first stage when log2(half) is odd: radix 2 over the whole transform. */
INLINE void radix2_stage(v8f *x, int half, const float *tw) {
    int q = half / 2;
    for (int j = 0; j < q; j++) {
        v8f *p0 = x + 2 * j, *p1 = p0 + 2 * q;
        v8f ar = p0[0], ai = p0[1], br = p1[0], bi = p1[1];
        v8f dr = ar - br, di = ai - bi;
        v8f c = splat(tw[2 * j]), s = splat(tw[2 * j + 1]);
        p0[0] = ar + br; p0[1] = ai + bi;
        p1[0] = dr * c - di * s; p1[1] = dr * s + di * c;
    }
}

/* Frames first … first + count − 1 (count ≤ 8) into out (count rows of n_mfcc). */
INLINE void mfcc_group(const liberi_mfcc_plan *p, const float *signal, ptrdiff_t signal_start, ptrdiff_t signal_length,
                       long long first, int count, float *out, float *rows, v8f *data, v8f *power, v8f *mel, v8f *coef) {
    const int n = p->n_fft, half = p->half, offset = p->window_offset, win = p->win_length;
    /* 1. Where each lane's samples come from: window point i of lane l at src[l][i]. A frame
       whose window lies inside the signal is read where it is, when the window's span is
       whole vectors (`direct`); the others are copied into their row, zero outside the
       signal (lanes past count: zero frames). Without `direct`, every lane has its row and
       the transpose covers the whole frame, the window being zero outside its span. */
    const int direct = offset % 8 == 0 && win % 8 == 0;
    const float *src[8];
    for (int l = 0; l < 8; l++) {
        long long start = (first + l) * p->hop - n / 2 + offset;   /* signal index of window point 0 */
        long long lo = start > 0 ? start : 0, hi = start + win < signal_length ? start + win : signal_length;
        if (direct && l < count && lo == start && hi == start + win) { src[l] = signal + (start - signal_start); continue; }
        float *row = rows + (size_t)l * n + offset;
        src[l] = row;
        memset(row, 0, sizeof(float) * (size_t)win);
        if (l < count && lo < hi) memcpy(row + (lo - start), signal + (lo - signal_start), sizeof(float) * (size_t)(hi - lo));
    }
    /* 2. Sample-major, windowed: vector s holds sample s of the eight frames; the packed
       complex point j is (x_2j, x_2j+1), so re and im are vectors 2j and 2j + 1 as they lie. */
    if (direct) {
        for (int s = 0; s < offset; s++) data[s] = splat(0);
        for (int s = offset + win; s < n; s++) data[s] = splat(0);
        for (int s = 0; s < win; s += 8) transpose8(src, s, p->window_full + offset + s, data + offset + s);
    } else {
        for (int l = 0; l < 8; l++) src[l] -= offset;   /* rows from frame point 0 */
        for (int s = 0; s < n; s += 8) transpose8(src, s, p->window_full + s, data + s);
    }
    /* 3. The FFT of the n/2 packed points. */
    const float *tw = p->fft_twiddles;
    int length = half;
    if (p->radix2_first) { radix2_stage(data, half, tw); tw += half; length /= 2; }
    for (; length > 1; length /= 4) {
        radix4_stage(data, half, length, tw);
        tw += 6 * (length / 4);
    }
    /* 4. 4·|X_k|², k = 0 … n/2, from Z = FFT(x_2j + i·x_2j+1) (ERIFeatures' packedRealPower). */
    const int *pos = p->position;
    const int stride = n / 4 + 1;
    {
        v8f zr = data[2 * pos[0]], zi = data[2 * pos[0] + 1];
        power[0] = 4.0f * ((zr + zi) * (zr + zi));
        power[half] = 4.0f * ((zr - zi) * (zr - zi));
    }
    for (int k = 1; k <= half / 2; k++) {
        v8f ar = data[2 * pos[k]], ai = data[2 * pos[k] + 1];
        v8f rr = data[2 * pos[half - k]], ri = data[2 * pos[half - k] + 1];
        v8f er = ar + rr, ei = ai - ri;
        v8f or_ = ai + ri, oi = rr - ar;
        v8f wr = splat(p->split_twiddles[k]), wi = splat(p->split_twiddles[stride + k]);
        v8f tr = wr * or_ - wi * oi, ti = wr * oi + wi * or_;
        v8f pr = er + tr, pi = ei + ti, mr = er - tr, mi = ei - ti;
        power[k] = pr * pr + pi * pi;
        power[half - k] = mr * mr + mi * mi;
    }
    /* 5. Mel bank, then decibels and the frames' sums in float64. */
    v4d sum_lo = {0, 0, 0, 0}, sum_hi = {0, 0, 0, 0};
    for (int i = 0; i < p->n_mels; i++) {
        const float *w = p->band_weights + p->band_offset[i];
        const v8f *pw = power + p->band_first[i];
        /* four partial sums: one chain would wait on each add's latency */
        v8f a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
        int j = 0, c = p->band_count[i];
        for (; j + 4 <= c; j += 4) {
            a0 = a0 + splat(w[j]) * pw[j];
            a1 = a1 + splat(w[j + 1]) * pw[j + 1];
            a2 = a2 + splat(w[j + 2]) * pw[j + 2];
            a3 = a3 + splat(w[j + 3]) * pw[j + 3];
        }
        for (; j < c; j++) a0 = a0 + splat(w[j]) * pw[j];
        mel[i] = (a0 + a1) + (a2 + a3);
    }
    /* A loop of its own: without the bands' uneven lengths (and their branches) between them,
       the logarithms of successive bands overlap. */
    for (int i = 0; i < p->n_mels; i++) {
        v8f db = decibels(mel[i]);
        mel[i] = db;
        sum_lo += __builtin_convertvector(__builtin_shufflevector(db, db, 0, 1, 2, 3), v4d);
        sum_hi += __builtin_convertvector(__builtin_shufflevector(db, db, 4, 5, 6, 7), v4d);
    }
    /* 6. DCT of the frame less its mean (see MFCCExtractor.dctFloat): coefficient 0 from the sum. */
    v4d nm = {p->n_mels, p->n_mels, p->n_mels, p->n_mels};
    v4f mean_lo = __builtin_convertvector(sum_lo / nm, v4f), mean_hi = __builtin_convertvector(sum_hi / nm, v4f);
    v8f mean = __builtin_shufflevector(mean_lo, mean_hi, 0, 1, 2, 3, 4, 5, 6, 7);
    /* The DCT-II's rows are even or odd about the middle, D[k, m−1−j] = (−1)^k·D[k, j]: row k
       needs only the half-sums e_j = x_j + x_{m−1−j} (even k) or differences o_j = x_j − x_{m−1−j}
       (odd k) over j < m/2, half the products. They replace the centred mel vectors in place
       (e_j at j, o_j at m−1−j); an odd m's middle term counts for every k. */
    const int m = p->n_mels, h = m / 2;
    for (int i = 0; i < m; i++) mel[i] = mel[i] - mean;
    for (int j = 0; j < h; j++) {
        v8f a = mel[j], b = mel[m - 1 - j];
        mel[j] = a + b;
        mel[m - 1 - j] = a - b;
    }
    /* Eight coefficients at a time (row 0 of the matrix is zero, so coefficient 0 comes along
       and is replaced below): eight independent chains, four even rows and four odd. */
    int k = 0;
    for (; k + 8 <= p->n_mfcc; k += 8) dct_rows(p, mel, mean, k, 8, coef);
    for (; k < p->n_mfcc; k++) dct_rows(p, mel, mean, k, 1, coef);
    v4d s0 = {p->dct_scale0, p->dct_scale0, p->dct_scale0, p->dct_scale0};
    coef[0] = __builtin_shufflevector(__builtin_convertvector(sum_lo * s0, v4f), __builtin_convertvector(sum_hi * s0, v4f),
                                      0, 1, 2, 3, 4, 5, 6, 7);
    /* Frame-major rows out: eight coefficients of the eight frames by one transpose. */
    k = 0;
    if (count == 8)
        for (; k + 8 <= p->n_mfcc; k += 8) {
            v8f t[8];
            transpose8x8(coef + k, t);
            for (int l = 0; l < 8; l++) memcpy(out + (size_t)l * p->n_mfcc + k, &t[l], sizeof t[l]);
        }
    for (int l = 0; l < count; l++)
        for (int kk = k; kk < p->n_mfcc; kk++) out[(size_t)l * p->n_mfcc + kk] = coef[kk][l];
}

#if defined(__x86_64__)
AVX2 static void group_avx2(const liberi_mfcc_plan *p, const float *signal, ptrdiff_t signal_start,
                            ptrdiff_t signal_length, long long first, int count, float *out, float *rows, v8f *data,
                            v8f *power, v8f *mel, v8f *coef) {
    mfcc_group(p, signal, signal_start, signal_length, first, count, out, rows, data, power, mel, coef);
}
#endif

static void group_portable(const liberi_mfcc_plan *p, const float *signal, ptrdiff_t signal_start,
                           ptrdiff_t signal_length, long long first, int count, float *out, float *rows, v8f *data,
                           v8f *power, v8f *mel, v8f *coef) {
    mfcc_group(p, signal, signal_start, signal_length, first, count, out, rows, data, power, mel, coef);
}

/* Asks for the samples the next group's frames read (the part of the signal they lie in) while
   this group computes: read in place, they are the only data a group takes from memory. */
static void prefetch_group(const liberi_mfcc_plan *p, const float *signal, ptrdiff_t signal_start,
                           ptrdiff_t signal_length, long long first, long long count) {
    long long lo = first * p->hop - p->n_fft / 2 + p->window_offset;
    long long hi = (first + count - 1) * p->hop - p->n_fft / 2 + p->window_offset + p->win_length;
    if (lo < 0) lo = 0;
    if (hi > signal_length) hi = signal_length;
    for (long long i = lo; i < hi; i += 16) __builtin_prefetch(signal + (i - signal_start), 0, 3);
}

void liberi_mfcc_frames(const liberi_mfcc_plan *p, const float *signal, ptrdiff_t signal_start, ptrdiff_t signal_length,
                        long long first_frame, long long frame_count, float *out, float *scratch, int simd) {
    float *base = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    float *rows = base;
    v8f *data = (v8f *)(rows + (size_t)8 * p->n_fft);
    v8f *power = data + p->n_fft;
    v8f *mel = power + p->half + 1;
    v8f *coef = mel + p->n_mels;
    memset(rows, 0, sizeof(float) * (size_t)8 * p->n_fft);
    for (long long t = 0; t < frame_count; t += 8) {
        int count = frame_count - t < 8 ? (int)(frame_count - t) : 8;
        float *dst = out + (size_t)t * p->n_mfcc;
        if (t + 8 < frame_count)
            prefetch_group(p, signal, signal_start, signal_length, first_frame + t + 8,
                           frame_count - t - 8 < 8 ? frame_count - t - 8 : 8);
#if defined(__x86_64__)
        if (simd) { group_avx2(p, signal, signal_start, signal_length, first_frame + t, count, dst, rows, data, power, mel, coef); continue; }
#else
        (void)simd;
#endif
        group_portable(p, signal, signal_start, signal_length, first_frame + t, count, dst, rows, data, power, mel, coef);
    }
}

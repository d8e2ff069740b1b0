/* The transformer's element-wise steps, four lanes at a time: the attention's
   row-wise softmax (ERICore's softmaxRows) and the GELU (ERICore's gelu).

   Softmax. perf on dbn-small: with libm's expf per element and the max and
   the sum as one serial chain each, the audio encoder's 251 × 251 softmaxes
   were 13 % of the network. The exp is a polynomial (Cephes' expf:
   Cody–Waite reduction to r in [−ln2/2, ln2/2], a degree-6 polynomial, 2ⁿ by
   the exponent bits; within 2 ulp over the range softmax uses, tested against
   float64 in ERICoreTests).
   Arguments below −87.33 (e^x under FLT_MIN, and
   −∞ for a masked key) give exactly 0; NaN stays NaN. The max, the sum and
   the scaling follow the scalar definition; only the sum's order differs
   (four partial sums).

   GELU, 0.5·x·(1 + erf(x/√2)): erf by Abramowitz & Stegun 7.1.26,
   1 − t·P(t)·e^(−x²) with t = 1/(1 + p|x|) (absolute error ≤ 1.5e-7), the
   approximation PyTorch's own vectorised float erf uses (ATen's
   Vectorized<float>::erf), with the exp above; libm's erff was 7 % of the
   dbn-base audio branch. Both eight lanes at a time with FMA where the CPU has
   AVX2 + FMA (liberi_avx2_fma, asked once). */
#include "CERISupport.h"
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>

static inline __m128 exp_ps(__m128 x) {
    const __m128 lo = _mm_set1_ps(-87.33654f), hi = _mm_set1_ps(88.37626f);
    const __m128 log2e = _mm_set1_ps(1.44269504088896341f), half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
    const __m128 c1 = _mm_set1_ps(0.693359375f), c2 = _mm_set1_ps(-2.12194440e-4f);
    __m128 tiny = _mm_cmplt_ps(x, lo);
    x = _mm_min_ps(hi, _mm_max_ps(lo, x)); /* (constant, x): a NaN x comes through */
    /* n = round(x · log2 e) as floor(x · log2 e + ½) */
    __m128 fx = _mm_add_ps(_mm_mul_ps(x, log2e), half);
    __m128 t = _mm_cvtepi32_ps(_mm_cvttps_epi32(fx));
    fx = _mm_sub_ps(t, _mm_and_ps(_mm_cmpgt_ps(t, fx), one));
    __m128 r = _mm_sub_ps(_mm_sub_ps(x, _mm_mul_ps(fx, c1)), _mm_mul_ps(fx, c2));
    __m128 y = _mm_set1_ps(1.9875691500e-4f);
    y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(1.3981999507e-3f));
    y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(8.3334519073e-3f));
    y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(4.1665795894e-2f));
    y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(1.6666665459e-1f));
    y = _mm_add_ps(_mm_mul_ps(y, r), _mm_set1_ps(5.0000001201e-1f));
    y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(y, _mm_mul_ps(r, r)), r), one);
    __m128i n = _mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(fx), _mm_set1_epi32(127)), 23);
    return _mm_andnot_ps(tiny, _mm_mul_ps(y, _mm_castsi128_ps(n)));
}

static inline float hmax(__m128 v) {
    v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    v = _mm_max_ss(v, _mm_shuffle_ps(v, v, 1));
    return _mm_cvtss_f32(v);
}

static inline float hsum(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
    return _mm_cvtss_f32(v);
}

/* A softmax row's three passes over elements i … n − 1, four lanes then one at a time,
   after a wider kernel's bulk (i = 0: the whole row): the max with m so far, exp(x − m)
   in place with its sum added to s, the scaling. */
static inline float row_max(const float *xr, size_t i, size_t n, float m) {
    __m128 vm = _mm_set1_ps(m);
    for (; i + 4 <= n; i += 4) vm = _mm_max_ps(vm, _mm_loadu_ps(xr + i));
    m = hmax(vm);
    for (; i < n; i++) m = xr[i] > m ? xr[i] : m;
    return m;
}

static inline float row_exp(float *xr, size_t i, size_t n, float m, float s) {
    __m128 mv = _mm_set1_ps(m), vs = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        __m128 e = exp_ps(_mm_sub_ps(_mm_loadu_ps(xr + i), mv));
        _mm_storeu_ps(xr + i, e);
        vs = _mm_add_ps(vs, e);
    }
    s += hsum(vs);
    for (; i < n; i++) {
        float e = _mm_cvtss_f32(exp_ps(_mm_set_ss(xr[i] - m)));
        xr[i] = e;
        s += e;
    }
    return s;
}

static inline void row_scale(float *xr, size_t i, size_t n, float inv) {
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(xr + i, _mm_mul_ps(_mm_loadu_ps(xr + i), _mm_set1_ps(inv)));
    for (; i < n; i++) xr[i] *= inv;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

/* exp_ps eight lanes at a time, the polynomial by FMA. */
AVX2 static inline __m256 exp256(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.37626f);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x)); /* (constant, x): a NaN x comes through */
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x));
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), one);
    __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(n)));
}

/* The rows eight lanes at a time (the audio encoder's 251 × 251 softmaxes were a fifth of
   dbn-small's audio branch with four); the tail through the four-lane exp. */
AVX2 static void softmax_rows_avx2(float *x, size_t rows, size_t n) {
    size_t bulk = n / 8 * 8;
    for (size_t row = 0; row < rows; row++) {
        float *xr = x + row * n;
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (size_t i = 0; i < bulk; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(xr + i));
        float m = row_max(xr, bulk, n, hmax(_mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1))));
        __m256 mv = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
        for (size_t i = 0; i < bulk; i += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(xr + i), mv));
            _mm256_storeu_ps(xr + i, e);
            vs = _mm256_add_ps(vs, e);
        }
        float s = row_exp(xr, bulk, n, m, hsum(_mm_add_ps(_mm256_castps256_ps128(vs), _mm256_extractf128_ps(vs, 1))));
        __m256 inv = _mm256_set1_ps(1 / s);
        for (size_t i = 0; i < bulk; i += 8) _mm256_storeu_ps(xr + i, _mm256_mul_ps(_mm256_loadu_ps(xr + i), inv));
        row_scale(xr, bulk, n, 1 / s);
    }
}
#endif

#if defined(__x86_64__)
/* liberi_avx2_fma(), asked once (every thread finds the same). */
static int use_avx2(void) {
    static int avx2 = -1;
    int use = __atomic_load_n(&avx2, __ATOMIC_RELAXED);
    if (use < 0) __atomic_store_n(&avx2, use = liberi_avx2_fma(), __ATOMIC_RELAXED);
    return use;
}
#endif

void liberi_softmax_rows(float *x, size_t rows, size_t n) {
#if defined(__x86_64__)
    if (use_avx2()) {
        softmax_rows_avx2(x, rows, n);
        return;
    }
#endif
    for (size_t row = 0; row < rows; row++) {
        float *xr = x + row * n;
        float m = row_max(xr, 0, n, -INFINITY);
        row_scale(xr, 0, n, 1 / row_exp(xr, 0, n, m, 0));
    }
}

/* erf by A&S 7.1.26 (as ATen's Vectorized<float>::erf). */
static inline __m128 erf_ps(__m128 x) {
    const __m128 sign_mask = _mm_set1_ps(-0.0f), one = _mm_set1_ps(1.0f);
    __m128 sign = _mm_and_ps(x, sign_mask), ax = _mm_andnot_ps(sign_mask, x);
    __m128 t = _mm_div_ps(one, _mm_add_ps(one, _mm_mul_ps(_mm_set1_ps(0.3275911f), ax)));
    __m128 r = _mm_set1_ps(1.061405429f);
    r = _mm_add_ps(_mm_mul_ps(r, t), _mm_set1_ps(-1.453152027f));
    r = _mm_add_ps(_mm_mul_ps(r, t), _mm_set1_ps(1.421413741f));
    r = _mm_add_ps(_mm_mul_ps(r, t), _mm_set1_ps(-0.284496736f));
    r = _mm_add_ps(_mm_mul_ps(r, t), _mm_set1_ps(0.254829592f));
    r = _mm_mul_ps(r, t);
    __m128 e = exp_ps(_mm_sub_ps(_mm_setzero_ps(), _mm_mul_ps(ax, ax)));
    return _mm_xor_ps(_mm_sub_ps(one, _mm_mul_ps(r, e)), sign);
}

static inline __m128 gelu_ps(__m128 x) {
    const __m128 half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f), inv_sqrt2 = _mm_set1_ps(0.70710678118654752f);
    return _mm_mul_ps(_mm_mul_ps(half, x), _mm_add_ps(one, erf_ps(_mm_mul_ps(x, inv_sqrt2))));
}

#if defined(__x86_64__)
/* gelu_ps eight lanes at a time, the polynomials by FMA. */
AVX2 static inline __m256 gelu256(__m256 x) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 sign = _mm256_and_ps(z, sign_mask), az = _mm256_andnot_ps(sign_mask, z);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, one));
    __m256 r = _mm256_set1_ps(1.061405429f);
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.453152027f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(1.421413741f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-0.284496736f));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(0.254829592f));
    r = _mm256_mul_ps(r, t);
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(az, az)));
    __m256 erf = _mm256_xor_ps(_mm256_fnmadd_ps(r, e, one), sign);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, erf));
}

AVX2 static void gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = _mm_cvtss_f32(gelu_ps(_mm_set_ss(x[i])));
}
#endif

void liberi_gelu(float *x, size_t n) {
#if defined(__x86_64__)
    if (use_avx2()) {
        gelu_avx2(x, n);
        return;
    }
#endif
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, gelu_ps(_mm_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = _mm_cvtss_f32(gelu_ps(_mm_set_ss(x[i])));
}

#else /* portable C: libm's expf and erff */

void liberi_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1 + erff(x[i] * 0.70710678118654752f));
}

void liberi_softmax_rows(float *x, size_t rows, size_t n) {
    for (size_t row = 0; row < rows; row++) {
        float *xr = x + row * n, m = -INFINITY, s = 0;
        for (size_t i = 0; i < n; i++) m = xr[i] > m ? xr[i] : m;
        for (size_t i = 0; i < n; i++) { xr[i] = expf(xr[i] - m); s += xr[i]; }
        for (size_t i = 0; i < n; i++) xr[i] *= 1 / s;
    }
}
#endif

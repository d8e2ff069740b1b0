/* This CPU's FP32 FMA peak, for benchmarks/bench.py (a benchmark, not a test).
 *
 *     cc -O2 -mavx2 -mfma [-mavx512f] -pthread benchmarks/fma_peak.c -o fma_peak
 *     ./fma_peak THREADS [SECONDS]
 *
 * Each of THREADS threads runs a loop of independent vector FMAs (ACC
 * accumulators, enough to cover the FMA latency times the number of FMA
 * ports) for about SECONDS (default 0.25) and the program prints, for each
 * vector width it was compiled for, one line
 *
 *     width=W lanes=L threads=T gflops=G
 *
 * with G = 2 × FMAs × lanes / s over all threads, the best of 5 runs. The
 * accumulators start from values the compiler cannot know and their sum is
 * printed, so no FMA can be left out.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACC 12          /* independent accumulators c0…c11: ≥ latency (4) × ports (2), with room */
#define INNER 1000      /* iterations between clock checks */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float sum256(__m256 v) {
    float out[8], s = 0;
    _mm256_storeu_ps(out, v);
    for (int k = 0; k < 8; k++) s += out[k];
    return s;
}

struct job {
    int width;          /* 256 or 512 */
    double seconds;
    float seed;
    long long fmas;     /* vector FMAs done */
    double elapsed;
    float sink;
};

static void *run256(void *p) {
    struct job *j = p;
    __m256 a = _mm256_set1_ps(1.0f - 1e-7f * j->seed), b = _mm256_set1_ps(1e-7f * j->seed);
    /* Named accumulators, not an array: an array may be kept in memory at -O2. */
    __m256 c0 = _mm256_set1_ps(j->seed + 0);
    __m256 c1 = _mm256_set1_ps(j->seed + 1);
    __m256 c2 = _mm256_set1_ps(j->seed + 2);
    __m256 c3 = _mm256_set1_ps(j->seed + 3);
    __m256 c4 = _mm256_set1_ps(j->seed + 4);
    __m256 c5 = _mm256_set1_ps(j->seed + 5);
    __m256 c6 = _mm256_set1_ps(j->seed + 6);
    __m256 c7 = _mm256_set1_ps(j->seed + 7);
    __m256 c8 = _mm256_set1_ps(j->seed + 8);
    __m256 c9 = _mm256_set1_ps(j->seed + 9);
    __m256 c10 = _mm256_set1_ps(j->seed + 10);
    __m256 c11 = _mm256_set1_ps(j->seed + 11);
    long long n = 0;
    double start = now(), end = start;
    while (end - start < j->seconds) {
        for (int r = 0; r < INNER; r++) {
            c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b); c2 = _mm256_fmadd_ps(c2, a, b); c3 = _mm256_fmadd_ps(c3, a, b); c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b); c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b); c8 = _mm256_fmadd_ps(c8, a, b); c9 = _mm256_fmadd_ps(c9, a, b); c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);
        }
        n += (long long)INNER * ACC;
        end = now();
    }
    j->fmas = n; j->elapsed = end - start;
    j->sink = sum256(c0) + sum256(c1) + sum256(c2) + sum256(c3) + sum256(c4) + sum256(c5) + sum256(c6) + sum256(c7) + sum256(c8) + sum256(c9) + sum256(c10) + sum256(c11);
    return NULL;
}

#ifdef __AVX512F__
static void *run512(void *p) {
    struct job *j = p;
    __m512 a = _mm512_set1_ps(1.0f - 1e-7f * j->seed), b = _mm512_set1_ps(1e-7f * j->seed);
    /* Named accumulators, not an array: an array may be kept in memory at -O2. */
    __m512 c0 = _mm512_set1_ps(j->seed + 0);
    __m512 c1 = _mm512_set1_ps(j->seed + 1);
    __m512 c2 = _mm512_set1_ps(j->seed + 2);
    __m512 c3 = _mm512_set1_ps(j->seed + 3);
    __m512 c4 = _mm512_set1_ps(j->seed + 4);
    __m512 c5 = _mm512_set1_ps(j->seed + 5);
    __m512 c6 = _mm512_set1_ps(j->seed + 6);
    __m512 c7 = _mm512_set1_ps(j->seed + 7);
    __m512 c8 = _mm512_set1_ps(j->seed + 8);
    __m512 c9 = _mm512_set1_ps(j->seed + 9);
    __m512 c10 = _mm512_set1_ps(j->seed + 10);
    __m512 c11 = _mm512_set1_ps(j->seed + 11);
    long long n = 0;
    double start = now(), end = start;
    while (end - start < j->seconds) {
        for (int r = 0; r < INNER; r++) {
            c0 = _mm512_fmadd_ps(c0, a, b); c1 = _mm512_fmadd_ps(c1, a, b); c2 = _mm512_fmadd_ps(c2, a, b); c3 = _mm512_fmadd_ps(c3, a, b); c4 = _mm512_fmadd_ps(c4, a, b); c5 = _mm512_fmadd_ps(c5, a, b); c6 = _mm512_fmadd_ps(c6, a, b); c7 = _mm512_fmadd_ps(c7, a, b); c8 = _mm512_fmadd_ps(c8, a, b); c9 = _mm512_fmadd_ps(c9, a, b); c10 = _mm512_fmadd_ps(c10, a, b); c11 = _mm512_fmadd_ps(c11, a, b);
        }
        n += (long long)INNER * ACC;
        end = now();
    }
    j->fmas = n; j->elapsed = end - start;
    j->sink = _mm512_reduce_add_ps(c0) + _mm512_reduce_add_ps(c1) + _mm512_reduce_add_ps(c2) + _mm512_reduce_add_ps(c3) + _mm512_reduce_add_ps(c4) + _mm512_reduce_add_ps(c5) + _mm512_reduce_add_ps(c6) + _mm512_reduce_add_ps(c7) + _mm512_reduce_add_ps(c8) + _mm512_reduce_add_ps(c9) + _mm512_reduce_add_ps(c10) + _mm512_reduce_add_ps(c11);
    return NULL;
}
#endif

/* One run on `threads` threads: GFLOP/s over all of them (each thread's FMAs over its own time). */
static double measure(int width, int threads, double seconds, float *sink) {
    pthread_t tid[256];
    struct job jobs[256];
    void *(*fn)(void *) = run256;
#ifdef __AVX512F__
    if (width == 512) fn = run512;
#endif
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){.width = width, .seconds = seconds, .seed = (float)(*sink > 1e30f) + 1.0f + t};
        pthread_create(&tid[t], NULL, fn, &jobs[t]);
    }
    double gflops = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        gflops += 2.0 * jobs[t].fmas * (width / 32) / jobs[t].elapsed / 1e9;
        *sink += jobs[t].sink;
    }
    return gflops;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 0.25;
    if (threads < 1 || threads > 256 || !(seconds > 0)) {
        fprintf(stderr, "usage: fma_peak THREADS [SECONDS]\n");
        return 2;
    }
    float sink = 0;
    int widths[2] = {256, 512}, nwidths = 1;
#ifdef __AVX512F__
    nwidths = 2;
#endif
    for (int w = 0; w < nwidths; w++) {
        measure(widths[w], threads, seconds / 2, &sink);  /* warm-up: clocks and licences settle */
        double best = 0;
        for (int r = 0; r < 5; r++) {
            double g = measure(widths[w], threads, seconds, &sink);
            if (g > best) best = g;
        }
        printf("width=%d lanes=%d threads=%d gflops=%.2f\n", widths[w], widths[w] / 32, threads, best);
    }
    fprintf(stderr, "(sink %g)\n", sink);
    return 0;
}

/* host_check.h — what the C host tests test_predict.c and test_stream.c share:
   one `ok - ` / `not ok - ` line per check, a status expectation that prints the
   status and eri_last_error(), the three models they take on the command line,
   and the test tone they feed. C99, for one translation unit each. */
#ifndef HOST_CHECK_H
#define HOST_CHECK_H

#include <eri.h>

#include <math.h>
#include <stdio.h>

static int failures = 0, checks = 0;

/* Records one check; the printf-style arguments name it. */
#define CHECK(cond, ...) do { checks++; if (cond) { printf("ok - "); } else { failures++; printf("not ok - "); } \
    printf(__VA_ARGS__); printf("\n"); } while (0)

/* Checks that `call` returns `want`, showing the status and the error message it left. */
#define EXPECT_STATUS(call, want, what) do { eri_status s_ = (call); CHECK(s_ == (want), "%s -> %s (%d)%s%s", what, \
    eri_status_string(s_), (int)s_, s_ != ERI_OK ? ": " : "", s_ != ERI_OK ? eri_last_error() : ""); } while (0)

/* Opens argv[1…3] = BOTH.eri VIDEO.eri AUDIO.eri (two-branch, video-only, audio-only), each as a
   check. Returns 0, or main's exit status: 2 for wrong arguments, 1 when a model did not open. */
static inline int open_models(int argc, char **argv, eri_model **both, eri_model **video, eri_model **audio) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BOTH.eri VIDEO.eri AUDIO.eri\n", argv[0]);
        return 2;
    }
    EXPECT_STATUS(eri_model_open(argv[1], NULL, both), ERI_OK, "open two-branch model");
    EXPECT_STATUS(eri_model_open(argv[2], NULL, video), ERI_OK, "open video-only model");
    EXPECT_STATUS(eri_model_open(argv[3], NULL, audio), ERI_OK, "open audio-only model");
    return *both && *video && *audio ? 0 : 1;
}

/* n samples of a tone of `hz` at `rate`, amplitude 0.3 × (base + swing · sin(i / period)). */
static inline void fill_tone(float *pcm, int n, int rate, float hz, float base, float swing, float period) {
    for (int i = 0; i < n; i++)
        pcm[i] = 0.3f * sinf(2.0f * 3.14159265f * hz * (float)i / (float)rate) * (base + swing * sinf((float)i / period));
}

/* Prints `name: N passed, M failed`; returns main's exit status. */
static inline int summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks - failures, failures);
    return failures ? 1 : 0;
}

#endif /* HOST_CHECK_H */

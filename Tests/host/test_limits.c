/* test_limits.c — issue 15's reproducers through the C API: inputs and models that once aborted the
   host, took gigabytes or returned NaN with ERI_OK. Each must now end in a clear status and message,
   without a signal, within 10 s and 1.5 GB of peak RSS, and never with a non-finite intensity.

   Usage: test_limits BOTH.eri AUDIO.eri BAD_DIR MEDIA_DIR
   BAD_DIR: make_bad_models.py's output (the config_*, weight_* files and overflow.model);
   MEDIA_DIR: make_hostile_media.py's output (a FIFO is made there too).

   Every case runs in a process of its own (this program again, with --case N) under a 4 GiB
   address-space limit and a 60 s alarm, so that one that still blows up cannot take the machine or
   the run with it; the parent reads the child's peak RSS from wait4() and its wall time.
   C99 + POSIX, run by Tests/host/run.sh. */
#define _GNU_SOURCE
#include "host_check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *both_path, *audio_path, *bad_dir, *media_dir;

static char *join(const char *dir, const char *name) {
    static char buffers[4][4096];
    static int next = 0;
    char *b = buffers[next++ % 4];
    snprintf(b, sizeof buffers[0], "%s/%s", dir, name);
    return b;
}

/* What a case reports to the parent: the status, whether every intensity was finite and in [0, 1]
   (for ERI_OK), an extra number (the Ogg case: RSS growth in KiB) and the message. */
static void report(eri_status s, const float *y, long extra) {
    int finite = 1;
    if (s == ERI_OK && y)
        for (int i = 0; i < ERI_NUM_EMOTIONS; i++) if (!(y[i] >= 0 && y[i] <= 1)) finite = 0;
    printf("%d\t%d\t%ld\t%s\n", (int)s, finite, extra, s == ERI_OK ? "" : eri_last_error());
}

static eri_model *open_or_die(const char *path) {
    eri_model *m = NULL;
    if (eri_model_open(path, NULL, &m) != ERI_OK) {
        printf("%d\t0\t0\tsetup: cannot open %s: %s\n", -1, path, eri_last_error());
        exit(0);
    }
    return m;
}

static void case_open(const char *path) {
    eri_model *m = NULL;
    eri_status s = eri_model_open(path, NULL, &m);
    report(s, NULL, 0);
    eri_model_close(m);
}

static void case_file(const char *model_path, const char *media) {
    eri_model *m = open_or_die(model_path);
    float y[ERI_NUM_EMOTIONS];
    eri_status s = eri_predict_file(m, media, y);
    report(s, y, 0);
    eri_model_close(m);
}

/* n samples per channel at `rate`, every one `value` (or a tone when value is 0). */
static void case_pcm(size_t n, int32_t rate, float value, size_t claimed) {
    eri_model *m = open_or_die(audio_path);
    float *pcm = malloc((n ? n : 1) * sizeof *pcm);
    if (!pcm) { printf("-1\t0\t0\tsetup: out of memory\n"); exit(0); }
    for (size_t i = 0; i < n; i++) pcm[i] = value != 0 ? (i % 2 ? value : -value) : 0.3f * sinf((float)i * 0.07f);
    float y[ERI_NUM_EMOTIONS];
    eri_status s = eri_predict_pcm(m, pcm, claimed ? claimed : n, rate, 1, y);
    report(s, y, 0);
    free(pcm);
    eri_model_close(m);
}

static void gray_frame(eri_image *f, uint8_t *pixels, int side) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < side * side; i++) pixels[i] = (uint8_t)(i * 7);
    f->data = pixels;
    f->width = f->height = side;
    f->format = ERI_PIXEL_GRAY8;
}

static long resident_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) { if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0; fclose(f); }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int32_t on_point(double end, const float *y, void *user) {
    (void)end;
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) if (!(y[i] >= 0 && y[i] <= 1)) *(int *)user = 1;
    return 0;
}

typedef struct {
    const char *name;       /* what the check line says */
    eri_status want;
    const char *needles[2]; /* substrings the message must hold (NULL: none) */
    long max_extra;         /* the largest `extra` allowed (the Ogg case's RSS growth), < 0: not checked */
} limit_case;

static const limit_case cases[] = {
    /* 0 */ {"eri_model_open: config frames 4096", ERI_ERR_FORMAT, {"\"video.frames\" must be an integer in 1…256", "config_frames_4096.eri"}, -1},
    /* 1 */ {"eri_model_open: config image_size 2048", ERI_ERR_FORMAT, {"\"video.image_size\" must be an integer in 8…512", "config_image_2048.eri"}, -1},
    /* 2 */ {"eri_model_open: frames 256 × image 512² (each allowed, the product not)", ERI_ERR_FORMAT, {"values per clip", "config_clip_product.eri"}, -1},
    /* 3 */ {"eri_model_open: video.std 1e-38", ERI_ERR_FORMAT, {"video.std", "at least 0.0001"}, -1},
    /* 4 */ {"eri_model_open: a weight of 3e38", ERI_ERR_FORMAT, {"beyond the ±1000000", "weight_3e38.eri"}, -1},
    /* 5 */ {"eri_predict_file: a 1 Hz WAV of 10,000 samples", ERI_ERR_UNSUPPORTED, {"audio at 1 Hz", "rate_1hz.wav"}, -1},
    /* 6 */ {"eri_predict_file: a 1 Hz FLAC", ERI_ERR_UNSUPPORTED, {"audio at 1 Hz", "rate_1hz.flac"}, -1},
    /* 7 */ {"eri_predict_file: a WAV header claiming 537 MHz", ERI_ERR_UNSUPPORTED, {"537000000 Hz", "rate_537mhz.wav"}, -1},
    /* 8 */ {"eri_predict_pcm: 16,000 samples at 1 Hz", ERI_ERR_INVALID_ARGUMENT, {"sample rate 1 Hz is outside 4000…768000 Hz", NULL}, -1},
    /* 9 */ {"eri_predict_pcm: 2^24 + 1 samples at 4 kHz (over 2^26 once resampled to 16 kHz)", ERI_ERR_INVALID_ARGUMENT, {"longer than one call reads", "69.9 min at 16000 Hz"}, -1},
    /* 10 */ {"eri_predict_pcm: samples of ±2e19", ERI_ERR_INVALID_ARGUMENT, {"outside ±1.5", NULL}, -1},
    /* 11 */ {"eri_predict_file: a float WAV of ±3e38 at 16 kHz", ERI_ERR_DECODE, {"outside ±1.5", "float_3e38.wav"}, -1},
    /* 12 */ {"eri_predict_file: a float WAV of ±3e38 at 44.1 kHz (resampled)", ERI_ERR_DECODE, {"float_3e38_44k.wav", NULL}, -1},
    /* 13 */ {"eri_predict_file: a float WAV holding a NaN", ERI_ERR_DECODE, {"not a number", "float_nan.wav"}, -1},
    /* 14 */ {"eri_predict_file: a 9-channel WAV (the channels are averaged)", ERI_OK, {NULL, NULL}, -1},
    /* 15 */ {"eri_model_open: a FIFO", ERI_ERR_IO, {"is a FIFO, not a regular file", "fifo"}, -1},
    /* 16 */ {"eri_predict_file: a FIFO", ERI_ERR_IO, {"is not a regular file", "fifo"}, -1},
    /* 17 */ {"eri_predict_frames: n_frames 2^63", ERI_ERR_INVALID_ARGUMENT, {"n_frames 9223372036854775808", NULL}, -1},
    /* 18 */ {"eri_predict_pcm: n_samples_per_channel SIZE_MAX", ERI_ERR_INVALID_ARGUMENT, {"18446744073709551615", NULL}, -1},
    /* 19 */ {"eri_stream_push_pcm: n_per_channel 2^63", ERI_ERR_INVALID_ARGUMENT, {"9223372036854775808", NULL}, -1},
    /* 20 */ {"eri_predict_av_ex: n_frames 2^63 + 1", ERI_ERR_INVALID_ARGUMENT, {"9223372036854775809", NULL}, -1},
    /* 21 */ {"eri_model_open(\"\")", ERI_ERR_IO, {"eri_model_open: path is \"\" (an empty string names no file)", NULL}, -1},
    /* 22 */ {"eri_predict_file(\"\")", ERI_ERR_INVALID_ARGUMENT, {"media_path is \"\"", NULL}, -1},
    /* 23 */ {"a model that overflows: eri_predict_frames", ERI_ERR_INTERNAL, {"video branch overflowed", NULL}, -1},
    /* 24 */ {"a model that overflows: eri_predict_file on a 2 s WAV", ERI_ERR_INTERNAL, {"audio branch overflowed", "tone.wav: "}, -1},
    /* 25 */ {"a model that overflows: eri_stream_read", ERI_ERR_INTERNAL, {"audio branch overflowed", NULL}, -1},
    /* 26 */ {"a model that overflows: eri_timeline_file", ERI_ERR_INTERNAL, {"audio branch overflowed", "tone.wav: "}, -1},
    /* 27 */ {"1,000 eri_predict_file calls on a damaged Ogg/Vorbis: RSS grows < 1 MiB after the first 100", ERI_ERR_FORMAT, {"corrupt.ogg", NULL}, 1024},
    /* 28 */ {"eri_model_open: a safetensors header of 16 MiB of JSON zeros (the most liberi parses)", ERI_ERR_FORMAT, {"tensor \"a\" is not an object", "header_16mib.eri"}, -1},
    /* 29 */ {"1,000 eri_predict_file calls on an Ogg/Vorbis damaged after its headers (FFmpeg decodes, then fails): RSS grows < 1 MiB", ERI_ERR_DECODE, {"corrupt_late.ogg", "CRC mismatch"}, 1024},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static void run_case(int k) {
    float y[ERI_NUM_EMOTIONS];
    switch (k) {
    case 0: case_open(join(bad_dir, "config_frames_4096.eri")); break;
    case 1: case_open(join(bad_dir, "config_image_2048.eri")); break;
    case 2: case_open(join(bad_dir, "config_clip_product.eri")); break;
    case 3: case_open(join(bad_dir, "config_std_1e-38.eri")); break;
    case 4: case_open(join(bad_dir, "weight_3e38.eri")); break;
    case 5: case_file(audio_path, join(media_dir, "rate_1hz.wav")); break;
    case 6: case_file(audio_path, join(media_dir, "rate_1hz.flac")); break;
    case 7: case_file(audio_path, join(media_dir, "rate_537mhz.wav")); break;
    case 8: case_pcm(16000, 1, 0, 0); break;
    case 9: case_pcm(((size_t)1 << 24) + 1, 4000, 0, 0); break;
    case 10: case_pcm(16000, 16000, 2e19f, 0); break;
    case 11: case_file(audio_path, join(media_dir, "float_3e38.wav")); break;
    case 12: case_file(audio_path, join(media_dir, "float_3e38_44k.wav")); break;
    case 13: case_file(audio_path, join(media_dir, "float_nan.wav")); break;
    case 14: case_file(audio_path, join(media_dir, "nine_channels.wav")); break;
    case 15: case_open(join(media_dir, "fifo")); break;
    case 16: case_file(audio_path, join(media_dir, "fifo")); break;
    case 17: {
        eri_model *m = open_or_die(both_path);
        uint8_t pixels[64 * 64];
        eri_image f;
        gray_frame(&f, pixels, 64);
        report(eri_predict_frames(m, &f, (size_t)1 << 63, y), y, 0);
        eri_model_close(m);
        break;
    }
    case 18: case_pcm(16000, 16000, 0, SIZE_MAX); break;
    case 19: {
        eri_model *m = open_or_die(audio_path);
        eri_stream *s = NULL;
        float pcm[16] = {0};
        if (eri_stream_open(m, NULL, &s) != ERI_OK) { report(ERI_ERR_INTERNAL, NULL, 0); break; }
        report(eri_stream_push_pcm(s, pcm, (size_t)1 << 63, 16000, 1, 0.0), NULL, 0);
        eri_stream_close(s);
        eri_model_close(m);
        break;
    }
    case 20: {
        eri_model *m = open_or_die(both_path);
        uint8_t pixels[64 * 64];
        eri_image f;
        gray_frame(&f, pixels, 64);
        eri_prediction r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        report(eri_predict_av_ex(m, &f, ((size_t)1 << 63) + 1, NULL, 0, 0, 0, NULL, &r), NULL, 0);
        eri_model_close(m);
        break;
    }
    case 21: {
        eri_model *m = NULL;
        report(eri_model_open("", NULL, &m), NULL, 0);
        break;
    }
    case 22: {
        eri_model *m = open_or_die(audio_path);
        report(eri_predict_file(m, "", y), y, 0);
        eri_model_close(m);
        break;
    }
    case 23: {
        eri_model *m = open_or_die(join(bad_dir, "overflow.model"));
        uint8_t pixels[64 * 64];
        eri_image f[4];
        for (int i = 0; i < 4; i++) gray_frame(&f[i], pixels, 64);
        report(eri_predict_frames(m, f, 4, y), y, 0);
        eri_model_close(m);
        break;
    }
    case 24: case_file(join(bad_dir, "overflow.model"), join(media_dir, "tone.wav")); break;
    case 25: {
        eri_model *m = open_or_die(join(bad_dir, "overflow.model"));
        eri_stream *s = NULL;
        static float pcm[48000];  /* 3 s: past the first window end (W/F = 1.25 s for dbn-tiny) */
        for (int i = 0; i < 48000; i++) pcm[i] = 0.3f * sinf((float)i * 0.07f);
        eri_status st = eri_stream_open(m, NULL, &s);
        if (st == ERI_OK) st = eri_stream_push_pcm(s, pcm, 48000, 16000, 1, 0.0);
        if (st == ERI_OK) st = eri_stream_read(s, y, NULL);
        report(st, y, 0);
        eri_stream_close(s);
        eri_model_close(m);
        break;
    }
    case 26: {
        eri_model *m = open_or_die(join(bad_dir, "overflow.model"));
        int bad = 0;
        eri_status st = eri_timeline_file(m, join(media_dir, "tone.wav"), 0.5, 0.25, on_point, &bad);
        if (st == ERI_OK && bad) { printf("%d\t0\t0\tERI_OK with a non-finite point\n", (int)st); break; }
        report(st, NULL, 0);
        eri_model_close(m);
        break;
    }
    case 27:
    case 29: {
        eri_model *m = open_or_die(audio_path);
        const char *ogg = join(media_dir, k == 27 ? "corrupt.ogg" : "corrupt_late.ogg");
        eri_status st = ERI_OK;
        long after100 = 0;
        for (int i = 0; i < 1000; i++) {
            st = eri_predict_file(m, ogg, y);
            if (i == 99) after100 = resident_kib();
        }
        report(st, y, resident_kib() - after100);
        eri_model_close(m);
        break;
    }
    case 28: case_open(join(media_dir, "header_16mib.eri")); break;
    default: printf("-1\t0\t0\tno case %d\n", k);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int k = -1;
    if (argc == 7 && strcmp(argv[1], "--case") == 0) k = atoi(argv[2]);
    char **args = k >= 0 ? argv + 2 : argv;
    if (!(argc == 5 || k >= 0)) {
        fprintf(stderr, "usage: %s BOTH.eri AUDIO.eri BAD_DIR MEDIA_DIR\n", argv[0]);
        return 2;
    }
    both_path = args[1]; audio_path = args[2]; bad_dir = args[3]; media_dir = args[4];
    if (k >= 0) {
        run_case(k);
        return 0;
    }

    char *fifo = join(media_dir, "fifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) { perror("mkfifo"); return 1; }
    double total = 0;
    for (int c = 0; c < N_CASES; c++) {
        int out[2];
        if (pipe(out) != 0) { perror("pipe"); return 1; }
        double start = now_s();
        pid_t pid = fork();
        if (pid == 0) {
            dup2(out[1], 1);
            close(out[0]);
            struct rlimit limit = {(rlim_t)4 << 30, (rlim_t)4 << 30};
            setrlimit(RLIMIT_AS, &limit);
            alarm(60);
            char number[16];
            snprintf(number, sizeof number, "%d", c);
            char *child[] = {argv[0], "--case", number, argv[1], argv[2], argv[3], argv[4], NULL};
            execv(argv[0], child);
            _exit(127);
        }
        close(out[1]);
        char line[8192] = "";
        size_t used = 0;
        ssize_t got;
        while ((got = read(out[0], line + used, sizeof line - 1 - used)) > 0) used += (size_t)got;
        line[used] = 0;
        close(out[0]);
        int wstatus = 0;
        struct rusage usage;
        memset(&usage, 0, sizeof usage);
        while (wait4(pid, &wstatus, 0, &usage) < 0 && errno == EINTR) {}
        double seconds = now_s() - start;
        total += seconds;
        double peak_mb = (double)usage.ru_maxrss / 1024.0;

        int status = -1, finite = 0;
        long extra = 0;
        char message[8192] = "";
        sscanf(line, "%d\t%d\t%ld\t%8191[^\n]", &status, &finite, &extra, message);
        const limit_case *lc = &cases[c];
        int exited = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
        int matched = status == (int)lc->want;
        for (int i = 0; i < 2; i++) if (lc->needles[i] && !strstr(message, lc->needles[i])) matched = 0;
        if (lc->want == ERI_OK && !finite) matched = 0;
        if (lc->max_extra >= 0 && extra > lc->max_extra) matched = 0;
        char growth[64] = "";
        if (lc->max_extra >= 0) snprintf(growth, sizeof growth, "; RSS grew %ld KiB over the last 900 calls", extra);
        if (status == ERI_OK && !finite) snprintf(message, sizeof message, "(an intensity is not finite or outside [0, 1])");
        CHECK(exited && matched && peak_mb <= 1536 && seconds <= 10,
              "%s -> %s (%d)%s%s [peak RSS %.0f MB, %.2f s%s%s%s]", lc->name,
              status >= 0 ? eri_status_string((eri_status)status) : "no status", status, message[0] ? ": " : "", message, peak_mb, seconds,
              WIFSIGNALED(wstatus) ? ", killed by signal " : "", WIFSIGNALED(wstatus) ? strsignal(WTERMSIG(wstatus)) : "", growth);
    }
    unlink(fifo);
    printf("# %d cases in %.1f s\n", N_CASES, total);
    return summary("test_limits");
}

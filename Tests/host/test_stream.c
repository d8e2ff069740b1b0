/* eri_stream_* from C: a live source replayed into a stream, every read checked
   against eri_predict_av on exactly the frames and samples it reports it used,
   plus timestamps out of order, gaps, a missing modality and every argument
   error. Usage: test_stream BOTH.eri VIDEO.eri AUDIO.eri */
#include <eri.h>

#include "host_check.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { W = 64, H = 48, FPS = 25, RATE = 16000, SECONDS = 6, FRAMES = FPS * SECONDS, SAMPLES = RATE * SECONDS, CHUNK = RATE / 50 };
static uint8_t rgb[FRAMES][H][W * 3];
static float pcm[SAMPLES];

static eri_image image(int i) {
    eri_image im;
    memset(&im, 0, sizeof im);
    im.data = &rgb[i][0][0];
    im.width = W;
    im.height = H;
    im.format = ERI_PIXEL_RGB24;
    return im;
}

static float max_diff(const float *a, const float *b) {
    float m = 0;
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Checks the last read against eri_predict_av over what it used; returns the difference. */
static float check_read(eri_stream *s, const eri_model *model, const float *y) {
    eri_stream_span span;
    memset(&span, 0, sizeof span);
    span.struct_size = sizeof span;
    if (eri_stream_last_span(s, &span) != ERI_OK) return 1e9f;
    eri_image frames[64];
    if (span.n_frames > 64) return 1e9f;
    for (int j = 0; j < span.n_frames; j++) {
        int i = (int)lround(span.frame_timestamps_s[j] * FPS);
        if (i < 0 || i >= FRAMES || fabs(i / (double)FPS - span.frame_timestamps_s[j]) > 1e-9) return 1e9f;
        frames[j] = image(i);
    }
    size_t n = 0;
    float *audio = malloc(sizeof(float) * (span.n_audio_samples + 1));
    eri_status st = eri_stream_copy_audio(s, audio, span.n_audio_samples, &n);
    float out[ERI_NUM_EMOTIONS], d = 1e9f;
    if (st == ERI_OK && n == span.n_audio_samples &&
        eri_predict_av(model, span.n_frames ? frames : NULL, (size_t)span.n_frames, n ? audio : NULL, n,
                       span.audio_sample_rate, 1, out) == ERI_OK)
        d = max_diff(out, y);
    free(audio);
    return d;
}

int main(int argc, char **argv) {
    /* The live source: FRAMES frames at FPS and SECONDS of mono PCM at RATE. */
    for (int n = 0; n < FRAMES; n++) for (int y = 0; y < H; y++) for (int x = 0; x < W * 3; x++)
        rgb[n][y][x] = (uint8_t)((x * 5 + y * 3 + n * 7 + (x * y * (n % 5)) % 17) & 0xFF);
    fill_tone(pcm, SAMPLES, RATE, 200.0f, 0.5f, 0.5f, 3000.0f);

    eri_model *both = NULL, *video = NULL, *audio = NULL;
    int opened = open_models(argc, argv, &both, &video, &audio);
    if (opened != 0) return opened;

    eri_stream_options opts;
    EXPECT_STATUS(eri_stream_options_init(&opts), ERI_OK, "eri_stream_options_init");
    opts.window_s = 2.0;
    eri_stream *s = NULL;
    EXPECT_STATUS(eri_stream_open(both, &opts, &s), ERI_OK, "open a 2 s stream");
    if (!s) return 1;
    float y[ERI_NUM_EMOTIONS];
    double end = -1;
    EXPECT_STATUS(eri_stream_read(s, y, &end), ERI_ERR_MISSING_MODALITY, "read before any push");

    /* Replay: frames and 20 ms audio chunks in time order, a read every 0.5 s. */
    int f = 0, a = 0, reads = 0, pushes_ok = 1;
    float worst = 0;
    double next_read = 0.5;
    while (f < FRAMES || a < SAMPLES) {
        double tf = f < FRAMES ? f / (double)FPS : 1e9, ta = a < SAMPLES ? a / (double)RATE : 1e9;
        if (tf <= ta) {
            eri_image im = image(f);
            pushes_ok &= eri_stream_push_frame(s, &im, tf) == ERI_OK;
            f++;
        } else {
            pushes_ok &= eri_stream_push_pcm(s, pcm + a, CHUNK, RATE, 1, ta) == ERI_OK;
            a += CHUNK;
        }
        double now = fmin(f < FRAMES ? f / (double)FPS : 1e9, a < SAMPLES ? a / (double)RATE : 1e9);
        if (now >= next_read) {
            next_read += 0.5;
            if (eri_stream_read(s, y, &end) != ERI_OK) { pushes_ok = 0; continue; }
            reads++;
            worst = fmaxf(worst, check_read(s, both, y));
        }
    }
    CHECK(pushes_ok, "%d frames and %d PCM chunks pushed, every read succeeded", FRAMES, SAMPLES / CHUNK);
    CHECK(reads >= 11 && worst <= 1e-5f, "%d reads each equal eri_predict_av on the frames and samples they used (max diff %.2g)", reads, worst);
    CHECK(fabs(end - 5.75) < 1e-9 || fabs(end - 6.0) < 1e-9, "the last window ends on the W/F grid (%.4f s)", end);

    eri_stream_span span;
    memset(&span, 0, sizeof span);
    span.struct_size = sizeof span;
    EXPECT_STATUS(eri_stream_last_span(s, &span), ERI_OK, "eri_stream_last_span");
    CHECK(span.n_frames == 8 && fabs(span.window_end_s - span.window_start_s - 2.0) < 1e-9 && span.n_audio_samples > 0
          && span.audio_sample_rate == RATE, "span: 8 frames, a 2 s window, %llu audio samples", (unsigned long long)span.n_audio_samples);

    /* Hostile input: each refused with a code, the stream unchanged. */
    eri_image im = image(0);
    float before[ERI_NUM_EMOTIONS];
    eri_stream_read(s, before, NULL);
    EXPECT_STATUS(eri_stream_push_frame(s, &im, 1.0), ERI_ERR_INVALID_ARGUMENT, "a frame older than the last one");
    EXPECT_STATUS(eri_stream_push_frame(s, &im, NAN), ERI_ERR_INVALID_ARGUMENT, "a NaN frame timestamp");
    EXPECT_STATUS(eri_stream_push_frame(s, NULL, 7.0), ERI_ERR_INVALID_ARGUMENT, "a NULL frame");
    im.width = 0;
    EXPECT_STATUS(eri_stream_push_frame(s, &im, 7.0), ERI_ERR_INVALID_ARGUMENT, "a frame of width 0");
    EXPECT_STATUS(eri_stream_push_pcm(s, pcm, CHUNK, RATE, 1, 2.0), ERI_ERR_INVALID_ARGUMENT, "PCM before the previous chunk's end");
    EXPECT_STATUS(eri_stream_push_pcm(s, NULL, CHUNK, RATE, 1, 6.0), ERI_ERR_INVALID_ARGUMENT, "NULL samples");
    EXPECT_STATUS(eri_stream_push_pcm(s, pcm, CHUNK, 0, 1, 6.0), ERI_ERR_INVALID_ARGUMENT, "sample rate 0");
    EXPECT_STATUS(eri_stream_push_pcm(s, pcm, CHUNK, RATE, 9, 6.0), ERI_ERR_INVALID_ARGUMENT, "9 channels");
    float nan_pcm[4] = {0, NAN, 0, 0};
    EXPECT_STATUS(eri_stream_push_pcm(s, nan_pcm, 4, RATE, 1, 6.0), ERI_ERR_INVALID_ARGUMENT, "a NaN sample");
    EXPECT_STATUS(eri_stream_read(NULL, y, NULL), ERI_ERR_INVALID_ARGUMENT, "read on NULL");
    EXPECT_STATUS(eri_stream_read(s, NULL, NULL), ERI_ERR_INVALID_ARGUMENT, "read into NULL");
    eri_stream_read(s, y, NULL);
    CHECK(memcmp(y, before, sizeof y) == 0, "refused input changed nothing");
    span.struct_size = 4;
    EXPECT_STATUS(eri_stream_last_span(s, &span), ERI_ERR_INVALID_ARGUMENT, "span struct_size too small");
    size_t needed = 0;
    EXPECT_STATUS(eri_stream_copy_audio(s, NULL, 0, &needed), ERI_ERR_INVALID_ARGUMENT, "copy_audio with no room");
    CHECK(needed > 0, "copy_audio says how many samples it needs (%zu)", needed);
    EXPECT_STATUS(eri_stream_copy_audio(s, NULL, 0, NULL), ERI_ERR_INVALID_ARGUMENT, "copy_audio without out_count");

    /* A camera gap of 1.2 s, then 0.6 s of audio silence: reads still equal predict_av. */
    double t0 = 6.0;
    for (int k = 0; k < 3 * FPS; k++) {
        double t = t0 + k / (double)FPS;
        if (t >= 6.4 && t < 7.6) continue;
        im = image(k);
        eri_stream_push_frame(s, &im, t);
    }
    eri_stream_push_pcm(s, pcm, RATE, RATE, 1, 6.0);
    eri_stream_push_pcm(s, pcm, RATE / 2, RATE, 1, 7.6);
    EXPECT_STATUS(eri_stream_read(s, y, &end), ERI_OK, "read after a camera gap and an audio gap");
    CHECK(end > 8.5, "window end moved on (%.3f s)", end);

    /* A model without audio refuses PCM; a model without video refuses frames. */
    eri_stream *sv = NULL, *sa = NULL;
    EXPECT_STATUS(eri_stream_open(video, NULL, &sv), ERI_OK, "open a stream on the video-only model (default window)");
    EXPECT_STATUS(eri_stream_push_pcm(sv, pcm, CHUNK, RATE, 1, 0.0), ERI_ERR_MISSING_MODALITY, "PCM into a video-only model");
    EXPECT_STATUS(eri_stream_open(audio, NULL, &sa), ERI_OK, "open a stream on the audio-only model");
    im = image(0);
    EXPECT_STATUS(eri_stream_push_frame(sa, &im, 0.0), ERI_ERR_MISSING_MODALITY, "a frame into an audio-only model");
    EXPECT_STATUS(eri_stream_push_pcm(sa, pcm, SAMPLES, RATE, 1, 0.0), ERI_OK, "6 s of PCM into the audio-only stream");
    EXPECT_STATUS(eri_stream_read(sa, y, &end), ERI_OK, "audio-only read");
    CHECK(check_read(sa, audio, y) <= 1e-5f, "the audio-only read equals eri_predict_pcm on its samples");

    /* Bad options and NULLs. */
    eri_stream *bad = (eri_stream *)&opts;
    opts.window_s = -3;
    EXPECT_STATUS(eri_stream_open(both, &opts, &bad), ERI_ERR_INVALID_ARGUMENT, "a negative window");
    CHECK(bad == NULL, "a failed open sets *out to NULL");
    opts.window_s = NAN;
    EXPECT_STATUS(eri_stream_open(both, &opts, &bad), ERI_ERR_INVALID_ARGUMENT, "a NaN window");
    eri_stream_options_init(&opts);
    opts.struct_size = 3;
    EXPECT_STATUS(eri_stream_open(both, &opts, &bad), ERI_ERR_INVALID_ARGUMENT, "options without struct_size");
    /* A caller built against 0.1's header: its options end before `faces`. On the heap, exactly that
       large, so that make sanitize-host (ASan) sees any read past it (0.2.0 read the whole struct). */
    {
        size_t v1 = offsetof(eri_stream_options, faces);
        unsigned char *old = malloc(v1); /* bytes: a member access through it would be UB (UBSan says so) */
        eri_stream_options_init(&opts);
        opts.struct_size = (uint32_t)v1;
        opts.window_s = 2.0;
        memcpy(old, &opts, v1);
        eri_stream *s1 = NULL;
        EXPECT_STATUS(eri_stream_open(both, (const eri_stream_options *)(void *)old, &s1), ERI_OK,
                      "options of 0.1's size (no faces, redetect_every)");
        eri_stream_close(s1);
        free(old);
    }
    EXPECT_STATUS(eri_stream_open(NULL, NULL, &bad), ERI_ERR_INVALID_ARGUMENT, "a NULL model");
    EXPECT_STATUS(eri_stream_open(both, NULL, NULL), ERI_ERR_INVALID_ARGUMENT, "a NULL out");
    EXPECT_STATUS(eri_stream_options_init(NULL), ERI_ERR_INVALID_ARGUMENT, "options_init(NULL)");

    /* The stream keeps its model alive; reset forgets everything. */
    eri_model_close(both);
    eri_stream_push_pcm(s, pcm, CHUNK, RATE, 1, 8.1);
    EXPECT_STATUS(eri_stream_read(s, y, NULL), ERI_OK, "read after the model was closed");
    eri_stream_reset(s);
    EXPECT_STATUS(eri_stream_read(s, y, NULL), ERI_ERR_MISSING_MODALITY, "read after reset");
    eri_stream_reset(NULL);
    eri_stream_close(s);
    eri_stream_close(sv);
    eri_stream_close(sa);
    eri_stream_close(NULL);
    eri_model_close(video);
    eri_model_close(audio);
    return summary("stream");
}

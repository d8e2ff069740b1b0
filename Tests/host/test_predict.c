/* eri_predict_frames / _pcm / _av from C: results, consistency between the
   entry points, every argument error, and 4 threads × 25 calls on one model
   bit-identical to serial. Usage: test_predict BOTH.eri VIDEO.eri AUDIO.eri */
#include <eri.h>

#include "host_check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 10, W = 90, H = 70, RATE = 16000, SAMPLES = 24000 };
static uint8_t rgb[N][H][W * 3];
static float pcm[SAMPLES];

static eri_image image(const uint8_t *data, int format, int stride) {
    eri_image im;
    memset(&im, 0, sizeof im);
    im.data = data;
    im.width = W;
    im.height = H;
    im.stride = stride;
    im.format = format;
    im.has_box = 1;
    im.box_x = 20.5f; im.box_y = -4.0f; im.box_w = 41.0f; im.box_h = 52.0f;
    return im;
}

static int valid(const float *y) {
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) if (!(y[i] >= 0.0f && y[i] <= 1.0f)) return 0;
    return 1;
}

static int same(const float *a, const float *b) { return memcmp(a, b, sizeof(float) * ERI_NUM_EMOTIONS) == 0; }

static int close_to(const float *a, const float *b, float tol) {
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) if (fabsf(a[i] - b[i]) > tol) return 0;
    return 1;
}

struct job { const eri_model *model; const eri_image *frames; float results[25][ERI_NUM_EMOTIONS]; eri_status status; };

static void *worker(void *arg) {
    struct job *j = arg;
    for (int k = 0; k < 25; k++) {
        eri_status s = eri_predict_av(j->model, j->frames, N, pcm, SAMPLES, RATE, 1, j->results[k]);
        if (s != ERI_OK) j->status = s;
    }
    return NULL;
}

int main(int argc, char **argv) {
    eri_model *both = NULL, *video = NULL, *audio = NULL;
    int opened = open_models(argc, argv, &both, &video, &audio);
    if (opened != 0) return opened;
    for (int n = 0; n < N; n++) for (int y = 0; y < H; y++) for (int x = 0; x < W * 3; x++)
        rgb[n][y][x] = (uint8_t)((x * 7 + y * 3 + n * 11 + (x * y) % 13) & 0xFF);
    fill_tone(pcm, SAMPLES, RATE, 220.0f, 0.6f, 0.4f, 900.0f);

    eri_image frames[N], padded[N], bgr[N];
    static uint8_t wide[N][H][W * 3 + 13], swapped[N][H][W * 3];
    for (int n = 0; n < N; n++) {
        frames[n] = image(&rgb[n][0][0], ERI_PIXEL_RGB24, 0);
        for (int y = 0; y < H; y++) {
            memcpy(wide[n][y], rgb[n][y], W * 3);
            for (int x = 0; x < W; x++) {
                swapped[n][y][3 * x] = rgb[n][y][3 * x + 2];
                swapped[n][y][3 * x + 1] = rgb[n][y][3 * x + 1];
                swapped[n][y][3 * x + 2] = rgb[n][y][3 * x];
            }
        }
        padded[n] = image(&wide[n][0][0], ERI_PIXEL_RGB24, W * 3 + 13);
        bgr[n] = image(&swapped[n][0][0], ERI_PIXEL_BGR24, 0);
    }

    float yf[7], yav_f[7], yp[7], yav_p[7], yav[7], ypad[7], ybgr[7], y44[7], yst[7];
    EXPECT_STATUS(eri_predict_frames(both, frames, N, yf), ERI_OK, "predict_frames");
    CHECK(valid(yf), "frames: 7 values in [0, 1] (%.4f %.4f …)", yf[0], yf[1]);
    EXPECT_STATUS(eri_predict_av(both, frames, N, NULL, 0, 0, 0, yav_f), ERI_OK, "predict_av, frames only");
    CHECK(same(yf, yav_f), "predict_av(frames only) equals predict_frames");
    EXPECT_STATUS(eri_predict_pcm(both, pcm, SAMPLES, RATE, 1, yp), ERI_OK, "predict_pcm");
    CHECK(valid(yp), "pcm: 7 values in [0, 1]");
    EXPECT_STATUS(eri_predict_av(both, NULL, 0, pcm, SAMPLES, RATE, 1, yav_p), ERI_OK, "predict_av, pcm only");
    CHECK(same(yp, yav_p), "predict_av(pcm only) equals predict_pcm");
    EXPECT_STATUS(eri_predict_av(both, frames, N, pcm, SAMPLES, RATE, 1, yav), ERI_OK, "predict_av, both");
    CHECK(valid(yav) && !same(yav, yf) && !same(yav, yp), "both modalities differ from either alone");
    EXPECT_STATUS(eri_predict_frames(both, padded, N, ypad), ERI_OK, "predict_frames with stride > width·3");
    CHECK(same(ypad, yf), "row padding does not change the result");
    EXPECT_STATUS(eri_predict_frames(both, bgr, N, ybgr), ERI_OK, "predict_frames BGR24");
    CHECK(close_to(ybgr, yf, 1e-6f), "BGR24 of swapped channels equals RGB24");
    {
        /* Stereo at 44.1 kHz: resampled and averaged; identical channels give the mono result of the resampled signal. */
        enum { S44 = 66150 };
        static float mono44[S44], stereo44[2 * S44];
        for (int i = 0; i < S44; i++) {
            mono44[i] = 0.3f * sinf(2.0f * 3.14159265f * 220.0f * (float)i / 44100.0f);
            stereo44[2 * i] = stereo44[2 * i + 1] = mono44[i];
        }
        EXPECT_STATUS(eri_predict_pcm(audio, mono44, S44, 44100, 1, y44), ERI_OK, "predict_pcm at 44.1 kHz (resampled)");
        EXPECT_STATUS(eri_predict_pcm(audio, stereo44, S44, 44100, 2, yst), ERI_OK, "predict_pcm stereo 44.1 kHz");
        CHECK(close_to(y44, yst, 1e-6f), "stereo of two equal channels equals mono");
    }
    EXPECT_STATUS(eri_predict_frames(video, frames, 1, yf), ERI_OK, "one frame (repeated to F frames)");

    /* Wrong modality. */
    EXPECT_STATUS(eri_predict_frames(audio, frames, N, yf), ERI_ERR_MISSING_MODALITY, "frames to an audio-only model");
    EXPECT_STATUS(eri_predict_pcm(video, pcm, SAMPLES, RATE, 1, yf), ERI_ERR_MISSING_MODALITY, "pcm to a video-only model");
    EXPECT_STATUS(eri_predict_av(both, NULL, 0, NULL, 0, RATE, 1, yf), ERI_ERR_MISSING_MODALITY, "predict_av with no input");

    /* Argument errors: none may crash. */
    EXPECT_STATUS(eri_predict_frames(NULL, frames, N, yf), ERI_ERR_INVALID_ARGUMENT, "NULL model");
    EXPECT_STATUS(eri_predict_frames(both, frames, N, NULL), ERI_ERR_INVALID_ARGUMENT, "NULL out");
    EXPECT_STATUS(eri_predict_frames(both, NULL, N, yf), ERI_ERR_INVALID_ARGUMENT, "NULL frames");
    EXPECT_STATUS(eri_predict_frames(both, frames, 0, yf), ERI_ERR_INVALID_ARGUMENT, "zero frames");
    {
        eri_image bad[1];
        bad[0] = frames[0]; bad[0].data = NULL;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "frame data NULL");
        bad[0] = frames[0]; bad[0].width = 0;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "width 0");
        bad[0] = frames[0]; bad[0].height = -3;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "negative height");
        bad[0] = frames[0]; bad[0].stride = W * 3 - 1;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "stride < width·3");
        bad[0] = frames[0]; bad[0].format = 9;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "unknown pixel format");
        bad[0] = frames[0]; bad[0].box_w = 0;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "box of width 0");
        bad[0] = frames[0]; bad[0].box_x = NAN;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "NaN box");
        bad[0] = frames[0]; bad[0].width = 2147483647; bad[0].height = 2147483647; bad[0].stride = 0;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "width × height that overflows");
        bad[0] = frames[0]; bad[0].stride = -1;
        EXPECT_STATUS(eri_predict_frames(both, bad, 1, yf), ERI_ERR_INVALID_ARGUMENT, "negative stride");
    }
    {
        float nan_pcm[100], inf_pcm[100];
        for (int i = 0; i < 100; i++) nan_pcm[i] = inf_pcm[i] = 0.1f;
        nan_pcm[57] = NAN;
        inf_pcm[3] = INFINITY;
        EXPECT_STATUS(eri_predict_pcm(audio, nan_pcm, 100, RATE, 1, yf), ERI_ERR_INVALID_ARGUMENT, "NaN sample");
        EXPECT_STATUS(eri_predict_pcm(audio, inf_pcm, 100, RATE, 1, yf), ERI_ERR_INVALID_ARGUMENT, "Inf sample");
    }
    EXPECT_STATUS(eri_predict_pcm(audio, NULL, 10, RATE, 1, yf), ERI_ERR_INVALID_ARGUMENT, "NULL samples");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 0, RATE, 1, yf), ERI_ERR_INVALID_ARGUMENT, "zero samples");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 100, RATE, 0, yf), ERI_ERR_INVALID_ARGUMENT, "0 channels");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 100, RATE, 9, yf), ERI_ERR_INVALID_ARGUMENT, "9 channels");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 100, 0, 1, yf), ERI_ERR_INVALID_ARGUMENT, "sample rate 0");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 100, -8000, 1, yf), ERI_ERR_INVALID_ARGUMENT, "negative sample rate");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, 100, 1000000000, 1, yf), ERI_ERR_INVALID_ARGUMENT, "absurd sample rate");
    EXPECT_STATUS(eri_predict_pcm(audio, pcm, (size_t)-1, RATE, 8, yf), ERI_ERR_INVALID_ARGUMENT, "sample count that overflows");

    /* Threads: one model, 4 threads × 25 predictions, bit-identical to serial. */
    {
        float serial[7];
        EXPECT_STATUS(eri_predict_av(both, frames, N, pcm, SAMPLES, RATE, 1, serial), ERI_OK, "serial reference");
        static struct job jobs[4];
        pthread_t threads[4];
        for (int t = 0; t < 4; t++) {
            jobs[t].model = both; jobs[t].frames = frames; jobs[t].status = ERI_OK;
            pthread_create(&threads[t], NULL, worker, &jobs[t]);
        }
        int identical = 1, statuses = 1;
        for (int t = 0; t < 4; t++) {
            pthread_join(threads[t], NULL);
            if (jobs[t].status != ERI_OK) statuses = 0;
            for (int k = 0; k < 25; k++) if (!same(jobs[t].results[k], serial)) identical = 0;
        }
        CHECK(statuses, "4 threads × 25 predictions succeed");
        CHECK(identical, "every threaded result is bit-identical to the serial one");
    }

    eri_model_close(both);
    eri_model_close(video);
    eri_model_close(audio);
    return summary("predict");
}

/* test_records.c — the honest record of a prediction (eri_predict_file_ex / eri_predict_av_ex),
   progress and cancelling, timelines, YUV frames, and the inputs liberi refuses rather than
   misreading. Usage: test_records BOTH.eri VIDEO.eri AUDIO.eri CLIP.mp4 (the clip: 2 s, 25 fps,
   160×120, with a sound track). C99, run by Tests/host/run.sh. */
#include "host_check.h"

#include <stdlib.h>
#include <string.h>

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

/* Progress: records the fractions; cancels once `stop_at` is reached (stop_at > 1: never). */
typedef struct { int calls; double last; int decreasing; double stop_at; } progress_log;
static int32_t on_progress(double fraction, void *user) {
    progress_log *p = user;
    if (fraction < p->last) p->decreasing = 1;
    p->last = fraction;
    p->calls++;
    return fraction >= p->stop_at;
}

typedef struct { int points; double last_end; int out_of_order; int bad_values; int stop_after; } timeline_log;
static int32_t on_point(double window_end_s, const float *y, void *user) {
    timeline_log *t = user;
    if (t->points > 0 && !(window_end_s > t->last_end)) t->out_of_order = 1;
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) if (!(y[i] >= 0 && y[i] <= 1)) t->bad_values = 1;
    t->last_end = window_end_s;
    t->points++;
    return t->stop_after > 0 && t->points >= t->stop_after;
}

int main(int argc, char **argv) {
    eri_model *both = NULL, *video = NULL, *audio = NULL;
    if (argc != 5) {
        fprintf(stderr, "usage: %s BOTH.eri VIDEO.eri AUDIO.eri CLIP.mp4\n", argv[0]);
        return 2;
    }
    int rc = open_models(4, argv, &both, &video, &audio);
    if (rc) return rc;
    const char *clip = argv[4];

    /* ---- the record of a file */
    eri_prediction r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    EXPECT_STATUS(eri_predict_file_ex(both, clip, NULL, &r), ERI_OK, "eri_predict_file_ex on the clip");
    CHECK(r.struct_size == sizeof r && r.n_frames_used == 8 && r.n_frames_given == 50, "frames: 8 of the 50 used (%d of %d)",
          (int)r.n_frames_used, (int)r.n_frames_given);
    CHECK(r.video_start_s > 0.0 && r.video_start_s < 0.2 && r.video_end_s > 1.7 && r.video_end_s < 2.0,
          "the frames span the clip (%.3f … %.3f s)", r.video_start_s, r.video_end_s);
    CHECK(r.audio_used == 1 && r.audio_start_s == 0 && r.audio_end_s > 1.9 && r.audio_end_s < 2.1 && r.duration_s > 1.9 && r.duration_s < 2.1,
          "audio used over 0 … %.3f s of a %.3f s file", r.audio_end_s, r.duration_s);
    /* The clip is drawn, not filmed: with a detector installed it has no face, without one the stage says so. */
    CHECK((r.warnings & ~(ERI_WARN_NO_FACE | ERI_WARN_NO_DETECTOR)) == ERI_WARN_RANDOM_WEIGHTS &&
              contains(r.warning_text, "random initialisation") && r.n_windows == 1 && r.face_coverage == 0,
          "random weights and the face stage's word are the warnings: \"%s\"", r.warning_text ? r.warning_text : "(NULL)");
    {
        eri_predict_options none;
        eri_predict_options_init(&none);
        none.faces = ERI_FACES_NONE;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &none, &r), ERI_OK, "eri_predict_file_ex with ERI_FACES_NONE");
        CHECK(r.warnings == ERI_WARN_RANDOM_WEIGHTS && r.face_coverage == 0,
              "without a face search the only warning is random weights: \"%s\"", r.warning_text ? r.warning_text : "(NULL)");
    }
    {
        float plain[ERI_NUM_EMOTIONS];
        EXPECT_STATUS(eri_predict_file(both, clip, plain), ERI_OK, "eri_predict_file on the clip");
        CHECK(memcmp(plain, r.intensities, sizeof plain) == 0, "eri_predict_file gives the record's intensities");
    }
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    EXPECT_STATUS(eri_predict_file_ex(video, clip, NULL, &r), ERI_OK, "eri_predict_file_ex, video-only model");
    CHECK(r.audio_used == 0 && (r.warnings & ~(ERI_WARN_NO_FACE | ERI_WARN_NO_DETECTOR)) == ERI_WARN_RANDOM_WEIGHTS, "a video-only model uses no audio and does not miss it");
    memset(&r, 0, sizeof r);
    EXPECT_STATUS(eri_predict_file_ex(both, clip, NULL, &r), ERI_ERR_INVALID_ARGUMENT, "an eri_prediction with struct_size 0");

    /* ---- options: progress, cancelling, windows */
    {
        eri_predict_options options;
        progress_log log = {0, 0, 0, 2.0};
        EXPECT_STATUS(eri_predict_options_init(&options), ERI_OK, "eri_predict_options_init");
        options.progress = on_progress;
        options.progress_user_data = &log;
        r.struct_size = sizeof r;
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &options, &r), ERI_OK, "eri_predict_file_ex with a progress callback");
        CHECK(log.calls >= 4 && log.last == 1.0 && !log.decreasing, "progress: %d calls, non-decreasing, ending at 1", log.calls);
        log = (progress_log){0, 0, 0, 0.3};
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &options, &r), ERI_ERR_CANCELLED, "a callback returning non-zero cancels");
        CHECK(log.calls >= 1 && log.last < 0.6, "cancelled soon after asking (at %.2f, %d calls)", log.last, log.calls);
        EXPECT_STATUS(eri_predict_file(both, clip, r.intensities), ERI_OK, "the model works after a cancelled call");
        CHECK(eri_last_error()[0] == 0, "a successful call clears eri_last_error()");

        eri_predict_options_init(&options);
        options.long_input = ERI_LONG_INPUT_WINDOWS;
        options.window_s = 0.5;
        r.struct_size = sizeof r;
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &options, &r), ERI_OK, "ERI_LONG_INPUT_WINDOWS of 0.5 s");
        CHECK(r.n_windows == 4 && r.window_s == 0.5 && r.n_frames_used == 32, "4 windows of 0.5 s, 8 frames each (%d, %g, %d)",
              (int)r.n_windows, r.window_s, (int)r.n_frames_used);
        options.window_s = -1;
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &options, &r), ERI_ERR_INVALID_ARGUMENT, "a negative window");
        options.long_input = 7;
        EXPECT_STATUS(eri_predict_file_ex(both, clip, &options, &r), ERI_ERR_INVALID_ARGUMENT, "an unknown long_input");
    }

    /* ---- frames and PCM in memory */
    {
        enum { W = 64, H = 48, N = 10, RATE = 16000 };
        static uint8_t rgb[N][H * W * 3];
        static uint8_t nv12[N][W * H * 3 / 2];
        static float pcm[RATE];
        eri_image frames[N], yuv[N];
        for (int n = 0; n < N; n++) {
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    uint8_t *p = &rgb[n][(y * W + x) * 3];
                    p[0] = (uint8_t)(x * 4); p[1] = (uint8_t)(y * 5); p[2] = (uint8_t)(n * 20);
                }
            /* a mid-grey NV12 frame whose luma varies: R = G = B after conversion */
            for (int i = 0; i < W * H; i++) nv12[n][i] = (uint8_t)(16 + (i % W) * 3);
            memset(nv12[n] + W * H, 128, W * H / 2);
            memset(&frames[n], 0, sizeof frames[n]);
            frames[n].data = rgb[n]; frames[n].width = W; frames[n].height = H; frames[n].format = ERI_PIXEL_RGB24;
            memset(&yuv[n], 0, sizeof yuv[n]);
            yuv[n].data = nv12[n]; yuv[n].width = W; yuv[n].height = H; yuv[n].format = ERI_PIXEL_NV12;
        }
        fill_tone(pcm, RATE, RATE, 220.0f, 0.6f, 0.4f, 900.0f);
        r.struct_size = sizeof r;
        EXPECT_STATUS(eri_predict_av_ex(both, frames, N, pcm, RATE, RATE, 1, NULL, &r), ERI_OK, "eri_predict_av_ex");
        CHECK(r.n_frames_given == N && r.n_frames_used == 8 && r.audio_used && r.duration_s == 1.0 && r.video_end_s == 0,
              "frames in memory: %d given, %d used, no time span; audio 1 s", (int)r.n_frames_given, (int)r.n_frames_used);
        EXPECT_STATUS(eri_predict_av_ex(both, frames, N, NULL, 0, 0, 0, NULL, &r), ERI_OK, "eri_predict_av_ex without audio");
        CHECK((r.warnings & ERI_WARN_NO_AUDIO) && contains(r.warning_text, "no audio"), "no audio is a warning: \"%s\"", r.warning_text);

        float y[ERI_NUM_EMOTIONS];
        EXPECT_STATUS(eri_predict_frames(video, yuv, N, y), ERI_OK, "eri_predict_frames on NV12 frames");
        yuv[3].chroma_stride = W / 2 - 2;
        EXPECT_STATUS(eri_predict_frames(video, yuv, N, y), ERI_ERR_INVALID_ARGUMENT, "an NV12 chroma stride below a row");
        yuv[3].chroma_stride = 0;
        yuv[3].width = W - 1;
        yuv[3].format = ERI_PIXEL_YUYV;
        EXPECT_STATUS(eri_predict_frames(video, yuv, N, y), ERI_ERR_INVALID_ARGUMENT, "a YUYV frame of odd width");

        /* refused rather than misread */
        frames[2].has_box = 1;
        frames[2].box_x = 500; frames[2].box_y = 10; frames[2].box_w = 40; frames[2].box_h = 40;
        EXPECT_STATUS(eri_predict_frames(video, frames, N, y), ERI_ERR_INVALID_ARGUMENT, "a face box wholly outside the image");
        CHECK(contains(eri_last_error(), "outside"), "the message says the box is outside: %s", eri_last_error());
        frames[2].box_x = 50; /* overlapping the right edge: allowed */
        EXPECT_STATUS(eri_predict_frames(video, frames, N, y), ERI_OK, "a face box cut by the image's edge");
        pcm[100] = 4.0f;
        EXPECT_STATUS(eri_predict_pcm(audio, pcm, RATE, RATE, 1, y), ERI_ERR_INVALID_ARGUMENT, "a sample of 4.0");
        CHECK(contains(eri_last_error(), "[-1, 1]"), "the message names the range: %s", eri_last_error());
        pcm[100] = 1.2f;
        EXPECT_STATUS(eri_predict_pcm(audio, pcm, RATE, RATE, 1, y), ERI_OK, "a sample of 1.2 (overshoot) is tolerated");
        EXPECT_STATUS(eri_predict_pcm(audio, pcm, 96, RATE, 1, y), ERI_ERR_INVALID_ARGUMENT, "6 ms of audio");
        CHECK(contains(eri_last_error(), "analysis window"), "the message names the analysis window: %s", eri_last_error());
        EXPECT_STATUS(eri_predict_pcm(audio, pcm, 400, RATE, 1, y), ERI_OK, "25 ms of audio, one analysis window");
    }

    /* ---- timelines */
    {
        timeline_log t = {0, 0, 0, 0, 0};
        EXPECT_STATUS(eri_timeline_file(both, clip, 1.0, 0.25, on_point, &t), ERI_OK, "eri_timeline_file, 1 s windows every 0.25 s");
        CHECK(t.points >= 7 && !t.out_of_order && !t.bad_values && t.last_end > 1.7,
              "%d points, increasing, up to %.3f s, values in [0, 1]", t.points, t.last_end);
        t = (timeline_log){0, 0, 0, 0, 3};
        EXPECT_STATUS(eri_timeline_file(both, clip, 1.0, 0.25, on_point, &t), ERI_ERR_CANCELLED, "a timeline callback can stop it");
        CHECK(t.points == 3, "stopped after 3 points (%d)", t.points);
        EXPECT_STATUS(eri_timeline_file(both, clip, 1.0, 0, on_point, &t), ERI_ERR_INVALID_ARGUMENT, "a hop of 0");
        EXPECT_STATUS(eri_timeline_file(both, clip, 1.0, 0.25, NULL, NULL), ERI_ERR_INVALID_ARGUMENT, "no callback");
    }

    eri_model_close(both);
    eri_model_close(video);
    eri_model_close(audio);
    return summary("records");
}

/* Replays a media file as a live camera + microphone into an eri_stream and
   prints an estimate every 0.5 s of media time.

     stream MODEL.eri MEDIA [--fast]

   The ffmpeg command-line tool decodes the file into two pipes, as a capture
   pipeline would deliver it: 320x240 RGB24 frames at 25 fps and 16 kHz mono
   float PCM in 20 ms chunks. Frames and chunks are pushed in timestamp order,
   paced at the real rate unless --fast. Build: cc stream.c $(pkg-config --cflags --libs eri) */
#define _POSIX_C_SOURCE 200809L
#include <eri.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { W = 320, H = 240, FPS = 25, RATE = 16000, CHUNK = RATE / 50 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static FILE *decode(const char *media, const char *output_args) {
    char command[4096];
    snprintf(command, sizeof command, "ffmpeg -nostdin -v error -i '%s' %s - 2>/dev/null", media, output_args);
    return popen(command, "r");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.eri MEDIA [--fast]\n", argv[0]);
        return 2;
    }
    int fast = argc > 3 && strcmp(argv[3], "--fast") == 0;
    if (strchr(argv[2], '\'')) { fprintf(stderr, "stream: a quote in the path is not supported here\n"); return 2; }

    eri_model *model = NULL;
    eri_stream *stream = NULL;
    if (eri_model_open(argv[1], NULL, &model) != ERI_OK || eri_stream_open(model, NULL, &stream) != ERI_OK) {
        fprintf(stderr, "stream: %s\n", eri_last_error());
        eri_model_close(model);
        return 1;
    }
    eri_model_details info;
    info.struct_size = sizeof info;
    eri_model_get_info(model, &info);
    FILE *video = info.has_video ? decode(argv[2], "-an -vf scale=320:240,fps=25 -f rawvideo -pix_fmt rgb24") : NULL;
    FILE *audio = info.has_audio ? decode(argv[2], "-vn -ac 1 -ar 16000 -f f32le") : NULL;
    static unsigned char frame[H][W * 3];
    static float chunk[CHUNK];
    long frames = 0, samples = 0;
    int video_done = video == NULL, audio_done = audio == NULL;
    double next_read = 0.5, start = now_s();
    float y[ERI_NUM_EMOTIONS];

    printf("t_end_s");
    for (int e = 0; e < ERI_NUM_EMOTIONS; e++) printf("\t%s", eri_emotion_name(e));
    printf("\n");
    while (!video_done || !audio_done) {
        double tf = video_done ? 1e300 : (double)frames / FPS, ta = audio_done ? 1e300 : (double)samples / RATE;
        double t = tf < ta ? tf : ta;
        while (next_read <= t) {  /* the host reads on its own schedule */
            double end;
            if (eri_stream_read(stream, y, &end) == ERI_OK) {
                printf("%.2f", end);
                for (int e = 0; e < ERI_NUM_EMOTIONS; e++) printf("\t%.4f", y[e]);
                printf("\n");
                fflush(stdout);
            }
            next_read += 0.5;
        }
        if (!fast) {  /* wait until this input would exist on a live source */
            double wait = t - (now_s() - start);
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        eri_status status = ERI_OK;
        if (tf <= ta) {
            if (fread(frame, sizeof frame, 1, video) != 1) { video_done = 1; continue; }
            eri_image image;
            memset(&image, 0, sizeof image);
            image.data = &frame[0][0];
            image.width = W;
            image.height = H;
            image.format = ERI_PIXEL_RGB24;  /* no face box: the centred square */
            status = eri_stream_push_frame(stream, &image, tf);
            frames++;
        } else {
            size_t n = fread(chunk, sizeof(float), CHUNK, audio);
            if (n == 0) { audio_done = 1; continue; }
            status = eri_stream_push_pcm(stream, chunk, n, RATE, 1, ta);
            samples += (long)n;
        }
        if (status != ERI_OK) fprintf(stderr, "stream: %s\n", eri_last_error());
    }
    if (video) pclose(video);
    if (audio) pclose(audio);
    fprintf(stderr, "stream: %ld frames, %.2f s of audio\n", frames, (double)samples / RATE);
    eri_stream_close(stream);
    eri_model_close(model);
    return frames + samples > 0 ? 0 : 1;
}

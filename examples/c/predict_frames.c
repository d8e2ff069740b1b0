/* Predicts from raw RGB frames in memory with a face box, plus audio samples:
   what a host with its own camera pipeline and face detector does.
   Build: cc predict_frames.c $(pkg-config --cflags --libs eri) -lm -o predict_frames
   Run:   ./predict_frames model.eri */
#include <eri.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N_FRAMES = 40, WIDTH = 320, HEIGHT = 240, RATE = 48000, SECONDS = 2 };

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.eri\n", argv[0]);
        return 2;
    }
    eri_model *model = NULL;
    if (eri_model_open(argv[1], NULL, &model) != ERI_OK) {
        fprintf(stderr, "liberi: %s\n", eri_last_error());
        return 1;
    }
    /* Stand-ins for camera frames: a bright disc (the "face") drifting over a dark background. */
    uint8_t *pixels = malloc((size_t)N_FRAMES * HEIGHT * WIDTH * 3);
    eri_image frames[N_FRAMES];
    for (int n = 0; n < N_FRAMES; n++) {
        uint8_t *frame = pixels + (size_t)n * HEIGHT * WIDTH * 3;
        int cx = 120 + n, cy = 110;
        for (int y = 0; y < HEIGHT; y++)
            for (int x = 0; x < WIDTH; x++) {
                int inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < 60 * 60;
                uint8_t *p = frame + ((size_t)y * WIDTH + x) * 3;
                p[0] = inside ? 220 : 30;
                p[1] = inside ? 170 : 30;
                p[2] = inside ? 150 : 40;
            }
        frames[n].data = frame;
        frames[n].width = WIDTH;
        frames[n].height = HEIGHT;
        frames[n].stride = 0; /* tightly packed rows */
        frames[n].format = ERI_PIXEL_RGB24;
        frames[n].has_box = 1; /* what a face detector would report */
        frames[n].box_x = (float)(cx - 70);
        frames[n].box_y = (float)(cy - 80);
        frames[n].box_w = 140.0f;
        frames[n].box_h = 160.0f;
    }
    /* Stand-in for the microphone: a 220 Hz tone, stereo, 48 kHz (liberi resamples). */
    float *samples = malloc(sizeof(float) * RATE * SECONDS * 2);
    for (int i = 0; i < RATE * SECONDS; i++) {
        float v = 0.3f * sinf(2.0f * 3.14159265f * 220.0f * (float)i / RATE);
        samples[2 * i] = v;
        samples[2 * i + 1] = 0.5f * v;
    }
    float out[ERI_NUM_EMOTIONS];
    eri_status status = eri_predict_av(model, frames, N_FRAMES, samples, RATE * SECONDS, RATE, 2, out);
    free(pixels);
    free(samples);
    if (status != ERI_OK) {
        fprintf(stderr, "liberi: %s\n", eri_last_error());
        eri_model_close(model);
        return 1;
    }
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) printf("%-14s %.3f\n", eri_emotion_name(i), out[i]);
    eri_model_close(model);
    return 0;
}

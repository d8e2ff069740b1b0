/* Predicts the emotion intensities of a media file.
   Build: cc predict_file.c $(pkg-config --cflags --libs eri) -o predict_file
   Run:   ./predict_file model.eri clip.mp4 */
#include <eri.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.eri MEDIA\n", argv[0]);
        return 2;
    }
    eri_model *model = NULL;
    if (eri_model_open(argv[1], NULL, &model) != ERI_OK) {
        fprintf(stderr, "liberi: %s\n", eri_last_error());
        return 1;
    }
    float out[ERI_NUM_EMOTIONS];
    eri_status status = eri_predict_file(model, argv[2], out);
    if (status != ERI_OK) {
        fprintf(stderr, "liberi: %s (%s)\n", eri_last_error(), eri_status_string(status));
        eri_model_close(model);
        return 1;
    }
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++) printf("%-14s %.3f\n", eri_emotion_name(i), out[i]);
    eri_model_close(model);
    return 0;
}

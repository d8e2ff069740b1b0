/* The usage example at the top of eri.h, as a host program built the way the
   header says: cc main.c $(pkg-config --cflags --libs eri). run.sh runs it
   without LD_LIBRARY_PATH, so it finds liberi.so through the rpath alone. */
#include <eri.h>
#include <stdio.h>

int main(int argc, char **argv) {
    eri_model *model = NULL;
    eri_model_details info;
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.eri\n", argv[0]);
        return 2;
    }
    if (eri_model_open(argv[1], NULL, &model) != ERI_OK) {
        fprintf(stderr, "liberi: %s\n", eri_last_error());
        return 1;
    }
    info.struct_size = sizeof info;
    if (eri_model_get_info(model, &info) != ERI_OK) {
        fprintf(stderr, "liberi: %s\n", eri_last_error());
        eri_model_close(model);
        return 1;
    }
    printf("liberi %s: %s, %llu parameters\n", eri_version(), info.preset, (unsigned long long)info.n_parameters);
    eri_model_close(model);
    return 0;
}

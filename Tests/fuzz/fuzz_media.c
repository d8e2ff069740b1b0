/* libFuzzer harness (b): media files. The input's first byte picks the call and its options, the
 * rest is the file (mp4, mkv, webm, wav, flac, ogg seeds: Tests/fuzz/make_seeds.py), read from a
 * file in memory by eri_predict_file_ex or eri_timeline_file with the micro model. FFmpeg and
 * libsndfile are not instrumented; liberi's reading of what they return is. */
#include "fuzz_common.h"

static int32_t on_point(double t, const float *v, void *user) {
    int *points = user;
    if (!isfinite(t)) fuzz_fail("eri_timeline_file: a window end that is not finite", "");
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++)
        if (!(v[i] >= 0.0f && v[i] <= 1.0f)) fuzz_fail("eri_timeline_file: an intensity outside [0, 1]", "");
    return ++*points >= 32; /* enough: stop (ERI_ERR_CANCELLED) */
}

static int32_t on_progress(double f, void *user) {
    double *last = user;
    if (!(f >= 0.0 && f <= 1.0) || f < *last) fuzz_fail("a progress fraction outside [0, 1] or decreasing", "");
    *last = f;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    eri_model *m = fuzz_model();
    uint8_t how = data[0];
    const char *path = fuzz_file(data + 1, size - 1);
    if ((how & 3) == 3) {
        int points = 0;
        double hop = (how >> 2) % 4 == 0 ? 0.0 : 0.05 * ((how >> 2) % 16);
        eri_status st = eri_timeline_file(m, path, (how & 0x80) ? 0.5 : 0.0, hop, on_point, &points);
        check_status(st, "eri_timeline_file");
        return 0;
    }
    eri_predict_options o;
    eri_predict_options_init(&o);
    double last = 0.0;
    o.progress = (how & 4) ? on_progress : NULL;
    o.progress_user_data = &last;
    o.long_input = (how & 8) ? ERI_LONG_INPUT_WINDOWS : ERI_LONG_INPUT_WHOLE;
    o.window_s = (how & 16) ? 0.1 : 0.0;
    o.faces = ERI_FACES_NONE;
    eri_prediction p;
    p.struct_size = sizeof p;
    eri_status st = eri_predict_file_ex(m, path, &o, &p);
    check_out(st, p.intensities, "eri_predict_file_ex");
    if (st == ERI_OK && (p.warning_text == NULL || p.n_windows < 1 || !isfinite(p.duration_s)))
        fuzz_fail("eri_predict_file_ex: a record without warning text, windows or a finite duration", "");
    if (st == ERI_ERR_INVALID_ARGUMENT) fuzz_fail("eri_predict_file_ex: ERI_ERR_INVALID_ARGUMENT for a file's content", eri_last_error());
    return 0;
}

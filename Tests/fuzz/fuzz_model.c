/* libFuzzer harness (a): the model parser. The input is a whole .eri file (safetensors header,
 * JSON metadata, eri.config, tensors); eri_model_open reads it from a file in memory. A model that
 * opens is described and predicts once from a small frame and 0.1 s of audio, so that a config the
 * parser let through meets the network: no crash, no allocation beyond the Limits, no NaN. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    eri_model_options o;
    eri_model_options_init(&o);
    o.n_threads = 1;
    eri_model *m = (eri_model *)0x1;
    eri_status st = eri_model_open(path, &o, &m);
    check_status(st, "eri_model_open");
    if (st != ERI_OK) {
        if (m != NULL) fuzz_fail("*out_model not NULL after a failed open", eri_last_error());
        if (st != ERI_ERR_FORMAT && st != ERI_ERR_UNSUPPORTED && st != ERI_ERR_OUT_OF_MEMORY)
            fuzz_fail("eri_model_open: a status eri.h does not list for a file's content", eri_last_error());
        return 0;
    }
    eri_model_details info;
    info.struct_size = sizeof info;
    check_status(eri_model_get_info(m, &info), "eri_model_get_info");
    if (!info.preset || !info.config_json || (!info.has_video && !info.has_audio))
        fuzz_fail("eri_model_get_info: a model without a preset, config or branch", "");
    float out[ERI_NUM_EMOTIONS];
    if (info.has_video) {
        uint8_t px[12 * 10 * 3];
        for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
        eri_image im[3] = {{0}};
        for (int i = 0; i < 3; i++) {
            im[i].data = px; im[i].width = 12; im[i].height = 10; im[i].format = ERI_PIXEL_RGB24;
        }
        check_out(eri_predict_frames(m, im, 3, out), out, "eri_predict_frames");
    }
    if (info.has_audio) {
        float pcm[1600];
        for (int i = 0; i < 1600; i++) pcm[i] = 0.5f * sinf((float)i * 0.31f);
        check_out(eri_predict_pcm(m, pcm, 1600, 16000, 1, out), out, "eri_predict_pcm");
    }
    eri_model_close(m);
    return 0;
}

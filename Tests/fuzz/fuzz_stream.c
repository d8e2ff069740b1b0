/* libFuzzer harness (c): the stream API. The input is a sequence of calls on one stream over the
 * micro model: pushes of frames (any size, format, stride, box) and of PCM (any rate, channels,
 * length) at timestamps that mostly advance but may go back, repeat, jump or be NaN/Inf, reads,
 * spans, audio copies and resets, starting from options the input picks. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_reader r = {data, size};
    eri_model *m = fuzz_model();
    eri_stream_options o;
    eri_stream_options_init(&o);
    uint8_t k = rd_u8(&r);
    if (k & 1) o.window_s = (k & 2) ? rd_time(&r, 0.01) : 0.1 + 0.1 * (rd_u8(&r) % 40);
    if (k & 4) o.max_frame_gap_s = rd_time(&r, 0.01);
    o.faces = ERI_FACES_NONE;
    if (k & 8) o.redetect_every = rd_i32_special(&r, -5, 20000);
    int null_opts = 0;
    void *opts = fuzz_struct(&r, &o, sizeof o, &null_opts);
    eri_stream *s = (eri_stream *)0x1;
    eri_status st = eri_stream_open(m, opts, &s);
    free(opts);
    check_status(st, "eri_stream_open");
    if (st != ERI_OK) {
        if (s != NULL) fuzz_fail("*out not NULL after a failed eri_stream_open", "");
        return 0;
    }
    double t_frame = 0.0, t_pcm = 0.0;
    float out[ERI_NUM_EMOTIONS];
    for (int op = 0; op < 48 && r.n > 0; op++) {
        switch (rd_u8(&r) % 8) {
        case 0: case 1: { /* a frame, mostly 40 ms after the last */
            fuzz_image fi;
            fuzz_image_make(&r, &fi);
            uint8_t t = rd_u8(&r);
            double ts = t < 200 ? (t_frame += 0.001 * (1 + t)) : rd_time(&r, 0.01);
            check_status(eri_stream_push_frame(s, &fi.img, ts), "eri_stream_push_frame");
            fuzz_image_free(&fi);
            break;
        }
        case 2: case 3: { /* PCM at a rate and channel count the input picks */
            static const int32_t rates[] = {8000, 16000, 44100, 48000, 4000, 768000, 11025, 22050};
            uint8_t a = rd_u8(&r);
            int32_t rate = a < 224 ? rates[a % 8] : rd_i32_special(&r, 1, 1000000);
            int32_t ch = rd_u8(&r) < 240 ? 1 + rd_u8(&r) % 2 : rd_i32_special(&r, -1, 10);
            size_t n = (size_t)(rd_u8(&r) | (rd_u8(&r) & 7) << 8); /* up to 2047 per channel */
            size_t total = n * (size_t)(ch > 0 && ch <= 10 ? ch : 1);
            float *pcm = malloc((total ? total : 1) * sizeof *pcm);
            uint8_t shape = rd_u8(&r);
            for (size_t i = 0; i < total; i++) pcm[i] = 0.3f * sinf((float)i * (0.01f + shape * 0.001f));
            if (total && shape > 250) pcm[shape % total] = shape == 255 ? NAN : 1.6f;
            uint8_t t = rd_u8(&r);
            double ts = t < 200 ? t_pcm : rd_time(&r, 0.01);
            eri_status ps = eri_stream_push_pcm(s, rd_u8(&r) < 4 ? NULL : pcm, n, rate, ch, ts);
            check_status(ps, "eri_stream_push_pcm");
            if (ps == ERI_OK && rate > 0) t_pcm = ts + (double)n / rate;
            free(pcm);
            break;
        }
        case 4: case 5: {
            double end = 0;
            check_out(eri_stream_read(s, out, (rd_u8(&r) & 1) ? &end : NULL), out, "eri_stream_read");
            break;
        }
        case 6: {
            eri_stream_span span;
            span.struct_size = sizeof span;
            eri_status ss = eri_stream_last_span(s, &span);
            check_status(ss, "eri_stream_last_span");
            if (ss == ERI_OK) {
                volatile double sum = 0;
                for (int i = 0; i < span.n_frames; i++) sum += span.frame_timestamps_s[i];
                size_t cap = rd_u8(&r) < 128 ? (size_t)span.n_audio_samples : rd_u8(&r);
                float *buf = malloc((cap ? cap : 1) * sizeof *buf);
                size_t count = 0;
                eri_status cs = eri_stream_copy_audio(s, buf, cap, &count);
                check_status(cs, "eri_stream_copy_audio");
                if (cs == ERI_OK && count > cap) fuzz_fail("eri_stream_copy_audio: more than capacity", "");
                free(buf);
            }
            break;
        }
        default:
            if (rd_u8(&r) < 32) {
                eri_stream_reset(s);
                t_frame = t_pcm = 0.0;
            }
            break;
        }
    }
    eri_stream_close(s);
    return 0;
}

/* libFuzzer harness (d): the C API's arguments. The input is a sequence of calls with the
 * arguments it picks: frames of any size, stride, pixel format and box (or NULL), PCM of any
 * length, rate and channel count (or NULL), option and result structs of any struct_size
 * (allocated to exactly that size, so a read or write past it is caught), NULL outputs, paths that
 * are NULL, empty, missing, a directory or the model, the face detector, and the pure lookups. */
#include "fuzz_common.h"

static float *make_pcm(fuzz_reader *r, size_t *n, int32_t *rate, int32_t *ch) {
    static const int32_t rates[] = {16000, 8000, 44100, 48000, 4000, 768000, 3999, 768001};
    uint8_t a = rd_u8(r);
    *rate = a < 224 ? rates[a % 8] : rd_i32_special(r, -5, 1000000);
    *ch = rd_u8(r) < 224 ? 1 + rd_u8(r) % 3 : rd_i32_special(r, -1, 300);
    *n = (size_t)(rd_u8(r) | (rd_u8(r) & 15) << 8); /* up to 4095 per channel */
    size_t total = *n * (size_t)(*ch > 0 && *ch <= 300 ? *ch : 1);
    float *pcm = malloc((total ? total : 1) * sizeof *pcm);
    uint8_t shape = rd_u8(r);
    for (size_t i = 0; i < total; i++) pcm[i] = 0.4f * sinf((float)i * (0.02f + shape * 0.001f));
    if (total && shape >= 248) {
        static const float bad[] = {NAN, INFINITY, -INFINITY, 1.51f, -2e19f, 3e38f, 1.5f, -1.5f};
        pcm[(size_t)rd_u8(r) % total] = bad[shape - 248];
    }
    return pcm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static eri_detector *detector = NULL;
    static int detector_tried = 0;
    fuzz_reader r = {data, size};
    eri_model *m = fuzz_model();
    if (!detector_tried) {
        detector_tried = 1;
        if (getenv("ERI_FUZZ_FACE_MODEL")) {
            eri_detector_options d;
            eri_detector_options_init(&d);
            d.weights_path = getenv("ERI_FUZZ_FACE_MODEL");
            if (eri_detector_open(&d, &detector) != ERI_OK) { fprintf(stderr, "%s\n", eri_last_error()); exit(2); }
        }
    }
    eri_set_log_callback(rd_u8(&r) & 1 ? fuzz_log : NULL, NULL);
    float out[ERI_NUM_EMOTIONS];
    for (int op = 0; op < 8 && r.n > 0; op++) {
        switch (rd_u8(&r) % 10) {
        case 0: { /* frames */
            fuzz_image fi[3];
            eri_image imgs[3];
            size_t n = rd_u8(&r) % 4;
            for (size_t i = 0; i < 3; i++) { fuzz_image_make(&r, &fi[i]); imgs[i] = fi[i].img; }
            size_t count = rd_u8(&r) < 8 ? (size_t)rd_u64(&r) : n; /* any size_t with no frames behind it */
            const eri_image *frames = count <= 3 && rd_u8(&r) >= 8 ? imgs : NULL;
            check_out(eri_predict_frames(m, frames, count, out), out, "eri_predict_frames");
            for (size_t i = 0; i < 3; i++) fuzz_image_free(&fi[i]);
            break;
        }
        case 1: { /* PCM */
            size_t n; int32_t rate, ch;
            float *pcm = make_pcm(&r, &n, &rate, &ch);
            int null = rd_u8(&r) < 8;
            check_out(eri_predict_pcm(m, null ? NULL : pcm, null && (rd_u8(&r) & 1) ? SIZE_MAX : n, rate, ch, out), out,
                      "eri_predict_pcm");
            free(pcm);
            break;
        }
        case 2: case 3: { /* both, with options and a record of any struct_size */
            fuzz_image fi[2];
            eri_image imgs[2];
            for (int i = 0; i < 2; i++) { fuzz_image_make(&r, &fi[i]); imgs[i] = fi[i].img; }
            size_t nf = rd_u8(&r) % 3;
            size_t n; int32_t rate, ch;
            float *pcm = make_pcm(&r, &n, &rate, &ch);
            if (rd_u8(&r) < 64) n = 0;
            eri_predict_options o;
            eri_predict_options_init(&o);
            o.long_input = rd_i32_special(&r, 0, 1);
            o.window_s = rd_time(&r, 0.01);
            o.faces = rd_i32_special(&r, 0, 2);
            if (o.faces != ERI_FACES_NONE && !detector) o.faces = ERI_FACES_NONE;
            int null_opts;
            void *opts = fuzz_struct(&r, &o, sizeof o, &null_opts);
            eri_prediction full;
            memset(&full, 0, sizeof full);
            full.struct_size = sizeof full;
            int null_out;
            eri_prediction *rec = fuzz_struct(&r, &full, sizeof full, &null_out);
            eri_status st = eri_predict_av_ex(m, nf ? imgs : NULL, nf, n ? pcm : NULL, n, rate, ch, opts, rec);
            check_status(st, "eri_predict_av_ex");
            if (st == ERI_OK && rec && rec->struct_size >= sizeof full) check_out(st, rec->intensities, "eri_predict_av_ex");
            free(opts);
            free(rec);
            free(pcm);
            for (int i = 0; i < 2; i++) fuzz_image_free(&fi[i]);
            break;
        }
        case 4: { /* open: paths and options */
            static const char *paths[] = {NULL, "", "/nonexistent/model.eri", "/", "/dev/null", "/proc/self/status"};
            uint8_t p = rd_u8(&r);
            const char *path = p < 192 ? paths[p % 6] : getenv("ERI_FUZZ_MODEL");
            eri_model_options o;
            eri_model_options_init(&o);
            /* 1, or out of 0…1024 (refused): OpenBLAS threads are process-wide, the fuzzer stays single-threaded */
            uint8_t t = rd_u8(&r);
            o.n_threads = t < 200 ? 1 : t < 228 ? -1 - t : 1025 + t;
            o.face_model = rd_u8(&r) < 32 ? "/nonexistent/face.safetensors" : NULL;
            int null_opts;
            void *opts = fuzz_struct(&r, &o, sizeof o, &null_opts);
            eri_model *mm = (eri_model *)0x1;
            eri_status st = eri_model_open(path, opts, rd_u8(&r) < 8 ? NULL : &mm);
            check_status(st, "eri_model_open");
            if (st == ERI_OK) eri_model_close(mm);
            free(opts);
            break;
        }
        case 5: { /* info with any struct_size */
            eri_model_details full;
            memset(&full, 0, sizeof full);
            full.struct_size = sizeof full;
            int null_out;
            void *info = fuzz_struct(&r, &full, sizeof full, &null_out);
            check_status(eri_model_get_info(rd_u8(&r) < 8 ? NULL : m, info), "eri_model_get_info");
            free(info);
            break;
        }
        case 6: { /* faces */
            fuzz_image fi;
            fuzz_image_make(&r, &fi);
            size_t cap = rd_u8(&r) % 4, found = 0;
            eri_face *faces = cap ? malloc(cap * sizeof *faces) : NULL;
            eri_status st = eri_detect_faces(rd_u8(&r) < 16 ? NULL : detector, &fi.img, faces, cap, rd_u8(&r) < 8 ? NULL : &found);
            check_status(st, "eri_detect_faces");
            free(faces);
            fuzz_image_free(&fi);
            break;
        }
        case 7: { /* detector options of any struct_size and range */
            eri_detector_options d;
            eri_detector_options_init(&d);
            d.weights_path = rd_u8(&r) < 128 ? "/nonexistent/face.safetensors" : getenv("ERI_FUZZ_MODEL");
            d.min_face = (float)rd_time(&r, 1.0);
            d.thresholds[rd_u8(&r) % 3] = (float)rd_time(&r, 0.01);
            d.scale_factor = rd_time(&r, 0.01);
            d.max_side = rd_i32_special(&r, -1, 5000);
            int null_opts;
            void *opts = fuzz_struct(&r, &d, sizeof d, &null_opts);
            eri_detector *det = (eri_detector *)0x1;
            eri_status st = eri_detector_open(opts, &det);
            check_status(st, "eri_detector_open");
            if (st == ERI_OK) eri_detector_close(det);
            free(opts);
            break;
        }
        case 8: { /* the pure lookups and the option initialisers */
            int32_t i = rd_i32_special(&r, -3, 12);
            if (!eri_status_string((eri_status)i)) fuzz_fail("eri_status_string returned NULL", "");
            const char *name = eri_emotion_name(i);
            if ((i >= 0 && i < ERI_NUM_EMOTIONS) != (name != NULL)) fuzz_fail("eri_emotion_name", "");
            check_status(eri_model_options_init(NULL), "eri_model_options_init");
            check_status(eri_predict_options_init(NULL), "eri_predict_options_init");
            check_status(eri_stream_options_init(NULL), "eri_stream_options_init");
            check_status(eri_detector_options_init(NULL), "eri_detector_options_init");
            break;
        }
        default: { /* a stream on the model with options of any struct_size, one push and read */
            eri_stream_options o;
            eri_stream_options_init(&o);
            o.window_s = rd_time(&r, 0.01);
            o.max_frame_gap_s = rd_time(&r, 0.01);
            o.redetect_every = rd_i32_special(&r, -1, 10001);
            o.faces = ERI_FACES_NONE;
            int null_opts;
            void *opts = fuzz_struct(&r, &o, sizeof o, &null_opts);
            eri_stream *s = NULL;
            eri_status st = eri_stream_open(rd_u8(&r) < 8 ? NULL : m, opts, &s);
            check_status(st, "eri_stream_open");
            free(opts);
            if (st == ERI_OK) {
                fuzz_image fi;
                fuzz_image_make(&r, &fi);
                check_status(eri_stream_push_frame(s, &fi.img, 0.05), "eri_stream_push_frame");
                fuzz_image_free(&fi);
                check_out(eri_stream_read(s, out, NULL), out, "eri_stream_read");
                eri_stream_close(s);
            }
            break;
        }
        }
    }
    eri_set_log_callback(NULL, NULL);
    return 0;
}

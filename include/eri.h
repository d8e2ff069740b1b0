/*
 * eri.h — liberi, Emotional Reaction Intensity estimation from face video and audio.
 *
 * liberi estimates how strongly a person feels seven emotions (Adoration,
 * Amusement, Anxiety, Disgust, Empathic-Pain, Fear, Surprise; each in [0, 1])
 * from a clip of their face and/or voice, with the dual-branch network of
 * Yu et al. (CVPRW 2023). Link with: cc app.c $(pkg-config --cflags --libs eri)
 *
 * Usage:
 *
 *     eri_model *model = NULL;
 *     if (eri_model_open("model.eri", NULL, &model) != ERI_OK) {
 *         fprintf(stderr, "liberi: %s\n", eri_last_error());
 *         return 1;
 *     }
 *     eri_model_details info;
 *     info.struct_size = sizeof info;
 *     eri_model_get_info(model, &info);
 *     printf("%s, %llu parameters\n", info.preset, (unsigned long long)info.n_parameters);
 *
 *     eri_prediction result;
 *     result.struct_size = sizeof result;
 *     if (eri_predict_file_ex(model, "clip.mp4", NULL, &result) == ERI_OK) {
 *         printf("Amusement %.2f from %d frames over %.1f-%.1f s%s%s\n", result.intensities[1],
 *                result.n_frames_used, result.video_start_s, result.video_end_s,
 *                result.warnings ? "; warnings: " : "", result.warning_text);
 *     }
 *     eri_model_close(model);
 *
 * Errors: every fallible call returns an eri_status (ERI_OK = 0). The detail is
 * in eri_last_error(), a thread-local string valid until the next liberi call on
 * the same thread ("" after a call that succeeded; the pure lookups eri_version,
 * eri_version_number, eri_status_string and eri_emotion_name leave it as it is, so
 * that they may be called in the same expression). liberi never aborts the host
 * and never prints; install a log callback with eri_set_log_callback() to see
 * its messages (failures arrive at ERI_LOG_ERROR, doubtful results at ERI_LOG_WARNING).
 * A result is never NaN: an intensity that is not finite (a model whose weights
 * overflow float32 on an input) is ERI_ERR_INTERNAL with a message, never ERI_OK.
 *
 * Limits: models and inputs are checked against these before anything derived from
 * them is allocated (what they cost in memory and time grows with these values).
 *   A model (eri_model_open, ERI_ERR_FORMAT beyond them): frames F <= 256, image size
 *   S <= 512, F x channels x S^2 <= 2^25 values per clip, a backbone activation map of
 *   <= 2^23 values per frame, <= 1024 spatial attention tokens, audio max_steps <= 4096,
 *   n_mfcc <= 2 x hop_length, <= 2^26 parameters, <= 2^38 multiply-adds per clip (dbn-base:
 *   1.7e10), normalisation std >= 1e-4 (video.std, audio.norm.std), |video.mean| <= 1000,
 *   every tensor value finite and within +-1e6, BatchNorm variances >= 0.
 *   A call (ERI_ERR_INVALID_ARGUMENT for memory input, ERI_ERR_UNSUPPORTED for a file):
 *   audio at 4 kHz ... 768 kHz and at most 2^26 samples once resampled to the model's rate
 *   (69.9 minutes at the presets' 16 kHz; a file's header is believed first, so a file
 *   claiming more is refused before it is decoded), n_frames <= 2^20, a stream's frame
 *   <= 256 MiB, a stream's window W x the model's rate <= 2^26 samples.
 *   Windows (ERI_LONG_INPUT_WINDOWS) hold k x F x channels x S^2 <= 2^26 values: an input
 *   that would need more windows (dbn-base: 55) gets fewer, longer ones (window_s says so).
 * Memory: within the limits above a call takes at most 1 GiB besides its model. Measured
 * (peak RSS beyond an open dbn-base): a 10 s 640x480 clip with face search 190 MB; 55 windows
 * of a 10-minute video 440 MB; 69.9 minutes of 48 kHz stereo audio 270 MB, as 55 windows
 * 520 MB; a model at the limits (F 32, S 432) over 3 windows 560 MB. A model takes about
 * 4 x its float32 weights (dbn-base: 270 MB). Time grows with the input's length and the
 * model's multiply-adds, never faster: the sequences attention reads are capped.
 *
 * Structs: option and result structs start with uint32_t struct_size. Fill options
 * with their *_options_init function before changing fields; set struct_size =
 * sizeof(...) in a result struct before the call. A library newer than the header
 * accepts the older, smaller structs; NULL options mean the defaults.
 *
 * Threads: an eri_model is immutable once opened; any number of threads may use
 * one model at the same time. All functions are thread-safe unless noted.
 *
 * Ownership: the caller owns every input and output buffer. Everything liberi
 * allocates has a paired close function that accepts NULL.
 */
#ifndef ERI_H
#define ERI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ERI_VERSION_MAJOR 0
#define ERI_VERSION_MINOR 2
#define ERI_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, as eri_version_number() returns it. */
#define ERI_VERSION_NUMBER (ERI_VERSION_MAJOR * 10000 + ERI_VERSION_MINOR * 100 + ERI_VERSION_PATCH)

/* The number of emotions; outputs are always in the order of eri_emotion_name(0…6). */
#define ERI_NUM_EMOTIONS 7

typedef enum eri_status {
    ERI_OK = 0,
    ERI_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a size out of range (see Limits), NaN samples, … */
    ERI_ERR_IO = 2,               /* a file is missing, unreadable, a directory, a FIFO or device, … */
    ERI_ERR_FORMAT = 3,           /* a file is malformed: truncated, bad header, wrong tensors, a model beyond the Limits, … */
    ERI_ERR_UNSUPPORTED = 4,      /* valid but not supported here: a newer format version, a dtype, an audio
                                     rate or length beyond the Limits, … */
    ERI_ERR_MISSING_MODALITY = 5, /* the model lacks the branch the input needs, or no input at all */
    ERI_ERR_DECODE = 6,           /* media could not be decoded, or decoded to samples that are not PCM (NaN, |x| > 1.5) */
    ERI_ERR_OUT_OF_MEMORY = 7,
    ERI_ERR_CANCELLED = 8,        /* a progress callback asked to stop */
    ERI_ERR_INTERNAL = 9          /* a result that is not finite (a model whose weights overflow on this input),
                                     or a bug in liberi: please report it with eri_last_error() */
} eri_status;

/* Pixel layouts of eri_image; every format is 8 bits per sample. The YUV formats are read as
   BT.601 limited-range video (FFmpeg's default for untagged YUV), each pixel converted to RGB. */
typedef enum eri_pixel_format {
    ERI_PIXEL_RGB24 = 0,
    ERI_PIXEL_BGR24 = 1,
    ERI_PIXEL_RGBA32 = 2, /* alpha is ignored */
    ERI_PIXEL_BGRA32 = 3, /* alpha is ignored */
    ERI_PIXEL_GRAY8 = 4,  /* e.g. a near-infrared in-cabin camera; copied to R = G = B */
    ERI_PIXEL_NV12 = 5,   /* a Y plane, then a plane of interleaved U, V at half width and height */
    ERI_PIXEL_I420 = 6,   /* Y, U and V planes; U and V at half width and height */
    ERI_PIXEL_YUYV = 7    /* packed 4:2:2: Y0 U Y1 V per pair of pixels (even width) */
} eri_pixel_format;

/* One video frame (a face crop or a full frame) in the caller's memory.
   With a face box, a box model sees the square of side max(box_w, box_h) centred on the box
   (rounded to whole pixels), resized bilinearly to its input size; the parts of the square outside
   the image are black. A box may reach past the image's edges but not lie wholly outside it.
   Without one, liberi searches the frame for the face (see Faces below: ERI_FACES_AUTO with a
   detector installed); with no search, or no face found in the clip, the model sees the centred
   square of side min(width, height). */
typedef struct eri_image {
    const uint8_t *data; /* top-left pixel (planar formats: of the Y plane) */
    int32_t width;       /* pixels, >= 1 (even for YUYV) */
    int32_t height;      /* pixels, >= 1 */
    int32_t stride;      /* bytes from one row of data to the next; 0 means width * bytes per pixel
                            (3 RGB24/BGR24, 4 RGBA32/BGRA32, 1 GRAY8 and the Y plane of NV12/I420, 2 YUYV) */
    int32_t format;      /* an eri_pixel_format */
    int32_t has_box;     /* non-zero: use the face box below (no search); zero: liberi finds the face or takes the centred square */
    float box_x, box_y;  /* the face box's top-left corner, in pixels */
    float box_w, box_h;  /* the face box's size, in pixels, > 0 */
    const uint8_t *chroma;   /* NV12: the UV plane; I420: the U plane; NULL: it follows the previous plane */
    const uint8_t *chroma_v; /* I420: the V plane; NULL: it follows the U plane */
    int32_t chroma_stride;   /* bytes from one row of the chroma plane(s) to the next; 0 means stride for
                                NV12, (stride + 1) / 2 for I420 */
} eri_image;

/* Options for eri_model_open. Fill with eri_model_options_init before changing fields. */
typedef struct eri_model_options {
    uint32_t struct_size; /* sizeof(eri_model_options), set by eri_model_options_init */
    int32_t n_threads;    /* compute threads, 0…1024; 0 = all cores. OpenBLAS threads are process-wide: the last model opened with n_threads > 0 sets them */
    const char *face_model; /* the face detector's weights for predictions that search faces; NULL: $ERI_FACE_MODEL,
                               else face-mtcnn.safetensors next to liberi.so or in its ../share/eri (make install) */
} eri_model_options;

/* ---- Faces ---------------------------------------------------------------------------------
 *
 * The model was trained on faces, so a frame's face must be found before the model sees it.
 * A host that passes a box (eri_image.has_box) keeps full control. Otherwise liberi finds the face
 * itself with MTCNN (P-Net/R-Net/O-Net, weights converted from facenet-pytorch 2.6.0, MIT; installed
 * by `make install` as PREFIX/share/eri/face-mtcnn.safetensors, nothing is downloaded at run time):
 * every frame the model samples is searched, one subject is tracked (the clip's most confident face
 * first, then in each frame the face that continues it best, so a second person passing by does not
 * take over), and a frame without a detection takes the face of the nearest frame that has one. A
 * model records how its training faces were prepared: the square crop around the box (a box model),
 * or the five landmarks aligned onto a template (an aligned model); inference prepares them alike.
 * A clip with no face at all falls back to the centred square and says so (eri_prediction.warnings,
 * face_coverage 0).
 */
enum {
    ERI_FACES_AUTO = 0,   /* host boxes where given; the rest searched if a detector is installed, else the centred square */
    ERI_FACES_DETECT = 1, /* as AUTO, but a missing detector is ERI_ERR_UNSUPPORTED */
    ERI_FACES_NONE = 2    /* no search: host boxes where given, else the centred square (an aligned model refuses) */
};

/* One face found in an image. */
typedef struct eri_face {
    float x, y, w, h;     /* the box: top-left corner and size, pixels of the image */
    float score;          /* the detector's probability, 0…1 */
    float landmarks[10];  /* x, y of five points in MTCNN's order: the eye on the image's left (the smaller x in a
                             frontal face), the other eye, the nose tip, the mouth corner on the image's left, the other */
} eri_face;

/* Options of eri_detector_open. Fill with eri_detector_options_init before changing fields. */
typedef struct eri_detector_options {
    uint32_t struct_size;
    const char *weights_path; /* NULL: as eri_model_options.face_model */
    float min_face;           /* smallest face searched for, pixels, 4…100000 (default 20); in an image reduced to
                                 max_side, pixels of the reduced copy */
    float thresholds[3];      /* P-Net, R-Net, O-Net probability thresholds (default 0.6, 0.7, 0.7) */
    double scale_factor;      /* image pyramid step, 0.1…0.95 (default 0.709) */
    int32_t max_side;         /* larger images are first reduced to this side (default 1920): time and memory bounded */
} eri_detector_options;

typedef struct eri_detector eri_detector;

/* What a model is: fill with eri_model_get_info() after setting struct_size = sizeof(eri_model_details).
   (The struct's tag is eri_model_info, the name of the older call eri_model_info(); eri_model_details
   is the same type under a name that C and C++ can both use as is.) */
struct eri_model_info {
    uint32_t struct_size;
    int32_t has_video;       /* 1 if the model has a video branch */
    int32_t has_audio;       /* 1 if the model has an audio branch */
    int32_t n_frames;        /* frames per clip the video branch samples (0 without video) */
    int32_t image_size;      /* side of the square face image (0 without video) */
    int32_t n_channels;      /* 3 (rgb) or 1 (gray) (0 without video) */
    int32_t sample_rate;     /* Hz the audio branch works at (0 without audio) */
    uint64_t n_parameters;   /* trainable parameters */
    const char *preset;      /* "dbn-base", "dbn-small", "dbn-tiny" (or "-video"/"-audio" variants) or "custom" */
    const char *config_json; /* the model's configuration (the .eri file's eri.config) as JSON text */
    const char *provenance;  /* what produced the weights, or NULL */
    const char *metrics;     /* evaluation results as JSON text, or NULL */
    int32_t random_weights;  /* 1 if the weights are an untrained random initialisation (eri init) */
    double clip_seconds;     /* median length of the clips it was trained on, 0 if unknown */
};                          /* the strings live until eri_model_close */
typedef struct eri_model_info eri_model_details;

typedef struct eri_model eri_model;

/* Log levels for eri_set_log_callback. */
enum { ERI_LOG_ERROR = 0, ERI_LOG_WARNING = 1, ERI_LOG_INFO = 2, ERI_LOG_DEBUG = 3 };
typedef void (*eri_log_callback)(int32_t level, const char *message, void *user_data);

/* Progress of a long call: fraction_done in [0, 1], non-decreasing. Return 0 to go on, non-zero
   to stop: the call then returns ERI_ERR_CANCELLED soon after (within one decoded frame or one
   network pass). Called on the thread that made the call. */
typedef int32_t (*eri_progress_callback)(double fraction_done, void *user_data);

/* How a prediction treats an input much longer than the clips the model was trained on. */
enum {
    ERI_LONG_INPUT_WHOLE = 0,  /* one estimate over the whole input: F frames spread over all of it (default) */
    ERI_LONG_INPUT_WINDOWS = 1 /* the mean of the estimates of consecutive windows of window_s seconds */
};

/* Options of eri_predict_file_ex / eri_predict_av_ex. Fill with eri_predict_options_init. */
typedef struct eri_predict_options {
    uint32_t struct_size;           /* sizeof(eri_predict_options), set by eri_predict_options_init */
    eri_progress_callback progress; /* NULL: no progress reports, no cancelling */
    void *progress_user_data;
    int32_t long_input;             /* ERI_LONG_INPUT_WHOLE or ERI_LONG_INPUT_WINDOWS */
    double window_s;                /* ERI_LONG_INPUT_WINDOWS: window length; 0 = the model's training
                                       clip length, else 10 s. At most 2^26 / (F x channels x S^2) windows
                                       (dbn-base: 55): a longer input gets that many longer ones */
    int32_t faces;                  /* ERI_FACES_AUTO (default), _DETECT or _NONE */
} eri_predict_options;

/* Why an estimate deserves less trust; several may be set (eri_prediction.warnings). */
enum {
    ERI_WARN_RANDOM_WEIGHTS = 1, /* the model's weights are a random initialisation: the numbers mean nothing */
    ERI_WARN_NO_VIDEO = 2,       /* a model with a video branch got no video (its part is zeroed) */
    ERI_WARN_NO_AUDIO = 4,       /* a model with an audio branch got no audio (its part is zeroed) */
    ERI_WARN_LONG_INPUT = 8,     /* the input is much longer than the model's training clips: one estimate
                                    spreads F frames over all of it (see ERI_LONG_INPUT_WINDOWS) */
    ERI_WARN_NO_FACE = 16,       /* no face was found in any frame used: the model saw the centred square */
    ERI_WARN_FEW_FACES = 32,     /* fewer than half of the frames used had a face of their own */
    ERI_WARN_NO_DETECTOR = 64    /* no face detector is installed: frames without a box were read as the centred square */
};

/* One estimate and what it was made from. Set struct_size = sizeof(eri_prediction) before the call. */
typedef struct eri_prediction {
    uint32_t struct_size;
    float intensities[ERI_NUM_EMOTIONS]; /* in [0, 1], in the order of eri_emotion_name */
    int32_t n_frames_given;   /* frames in the input (a file: the frames decoded or estimated), 0 without video */
    int32_t n_frames_used;    /* frames the video branch read (F per window), 0 when video was not used */
    double video_start_s;     /* time of the first and last frame used (a file: its timestamps; frames */
    double video_end_s;       /*  given in memory: their index / 25 fps is unknown, so 0 and 0) */
    int32_t audio_used;       /* 1 if the audio branch read audio */
    double audio_start_s;     /* the span of audio used, seconds from the input's start */
    double audio_end_s;
    double duration_s;        /* the input's length in seconds (the longer track), 0 if unknown */
    int32_t n_windows;        /* 1, or the windows averaged (ERI_LONG_INPUT_WINDOWS) */
    double window_s;          /* the window length used (longer than asked when the windows were capped,
                                 see eri_predict_options.window_s), 0 for ERI_LONG_INPUT_WHOLE */
    float face_coverage;      /* the share of the frames used with a face of their own (detected or a host box);
                                 -1 when no video was used */
    uint32_t warnings;        /* ERI_WARN_* bits */
    const char *warning_text; /* the warnings in words, "" if none; valid until the next liberi call on
                                 this thread */
} eri_prediction;

/* The library's version as "MAJOR.MINOR.PATCH"; never NULL. */
const char *eri_version(void);
/* The library's ERI_VERSION_NUMBER; compare with the header's to detect a mismatch. */
uint32_t eri_version_number(void);
/* Static English text for a status code; never NULL ("unknown status" for unknown codes). */
const char *eri_status_string(eri_status status);
/* The last error message on this thread ("" if none); valid until the next liberi call on this thread. */
const char *eri_last_error(void);
/* The name of emotion index 0…6 ("Adoration" … "Surprise"); NULL outside that range. */
const char *eri_emotion_name(int32_t index);
/* Routes liberi's log messages to fn (NULL turns logging off, the default): failures at ERI_LOG_ERROR,
   doubtful results (eri_prediction.warnings) at ERI_LOG_WARNING. Not for use while other liberi calls run. */
void eri_set_log_callback(eri_log_callback fn, void *user_data);

/* Fills *options with defaults. Returns ERI_OK or ERI_ERR_INVALID_ARGUMENT (NULL). */
eri_status eri_model_options_init(eri_model_options *options);
/* Opens a .eri model file (options may be NULL). Returns ERI_OK and sets *out_model, or sets
   *out_model = NULL and returns ERI_ERR_INVALID_ARGUMENT (NULL, bad options), ERI_ERR_IO (an empty path,
   missing, unreadable, not a regular file: a directory, FIFO or device is refused without blocking),
   ERI_ERR_FORMAT (malformed, or a config or values beyond the Limits) or ERI_ERR_UNSUPPORTED. */
eri_status eri_model_open(const char *path, const eri_model_options *options, eri_model **out_model);
/* Frees a model; NULL is allowed. No other call may be using the model. */
void eri_model_close(eri_model *model);
/* Describes the model. Returns ERI_OK or ERI_ERR_INVALID_ARGUMENT (NULL, or struct_size too small). */
eri_status eri_model_get_info(const eri_model *model, eri_model_details *out_info);

/* The same as eri_model_get_info, under its first name, which C++ code cannot use beside the
   struct's tag. Deprecated; it keeps working. */
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow" /* the function's name is the struct's tag */
#endif
#if defined(__GNUC__) && !defined(ERI_NO_DEPRECATION)
__attribute__((deprecated("use eri_model_get_info")))
#endif
eri_status eri_model_info(const eri_model *model, struct eri_model_info *out_info);
#if defined(__cplusplus) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* Prediction. Each writes ERI_NUM_EMOTIONS intensities in [0, 1] to out (order of
   eri_emotion_name) and is safe to call from many threads on one model at once.
   Frames: any number >= 1 of images, any size and pixel format; the model samples its
   F frames evenly over them (frame floor((j + 0.5) * n_frames / F) for j = 0 … F - 1).
   At most 2^20 frames per call (n_frames is read as the unsigned size_t it is).
   PCM: interleaved float samples in [-1, 1] (values up to ±1.5 are tolerated; int16 audio
   divided by 32768), 1…8 channels (averaged), any rate from 4 kHz to 768 kHz (resampled to
   the model's rate), at least one analysis window long (25 ms for the presets) and at most
   2^26 samples once resampled (69.9 minutes at 16 kHz; refused before resampling).
   A result that would not be finite is ERI_ERR_INTERNAL (see Errors). */

/* Predicts from frames alone. Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL, n_frames 0 or over 2^20,
   a bad size, stride, format or box), ERI_ERR_MISSING_MODALITY (an audio-only model) or ERI_ERR_INTERNAL. */
eri_status eri_predict_frames(const eri_model *model, const eri_image *frames, size_t n_frames,
                              float out[ERI_NUM_EMOTIONS]);
/* Predicts from audio alone. Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL, no samples, too many,
   NaN/Inf samples or |x| > 1.5, channels or rate out of range), ERI_ERR_MISSING_MODALITY (a video-only
   model) or ERI_ERR_INTERNAL. */
eri_status eri_predict_pcm(const eri_model *model, const float *samples, size_t n_samples_per_channel,
                           int32_t sample_rate, int32_t channels, float out[ERI_NUM_EMOTIONS]);
/* Predicts from frames and audio of the same clip; either may be absent (frames NULL with
   n_frames 0, or samples NULL with n_samples_per_channel 0), not both. A two-branch model given
   one modality predicts with the other zeroed. Returns as eri_predict_frames / eri_predict_pcm. */
eri_status eri_predict_av(const eri_model *model, const eri_image *frames, size_t n_frames,
                          const float *samples, size_t n_samples_per_channel,
                          int32_t sample_rate, int32_t channels, float out[ERI_NUM_EMOTIONS]);

/* Predicts a media file: any container/codec FFmpeg reads (its video and/or audio track), or an
   audio file libsndfile reads (WAV, FLAC, AIFF; Ogg goes through FFmpeg). Only the frames the model
   samples are decoded; the audio track's channels (any number up to 256) are averaged as it is decoded.
   A track the model lacks a branch for is ignored; a branch without a track is zeroed.
   Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL, an empty path), ERI_ERR_IO (missing, unreadable,
   a directory, FIFO or device), ERI_ERR_FORMAT (not media), ERI_ERR_UNSUPPORTED (no decoder; audio
   below 4 kHz or above 768 kHz, or longer than the Limits allow), ERI_ERR_DECODE (corrupt, or samples
   that are NaN, infinite or beyond ±1.5), ERI_ERR_MISSING_MODALITY (no usable track) or
   ERI_ERR_INTERNAL (a result that is not finite); every message but NULL's names the file. */
eri_status eri_predict_file(const eri_model *model, const char *media_path, float out[ERI_NUM_EMOTIONS]);

/* Fills *options with defaults (no progress callback, ERI_LONG_INPUT_WHOLE). Returns ERI_OK or
   ERI_ERR_INVALID_ARGUMENT (NULL). */
eri_status eri_predict_options_init(eri_predict_options *options);
/* eri_predict_file with options (may be NULL) and the whole record: the intensities, what they
   were made from and the warnings. Returns as eri_predict_file, or ERI_ERR_CANCELLED. */
eri_status eri_predict_file_ex(const eri_model *model, const char *media_path, const eri_predict_options *options,
                               eri_prediction *out);
/* Fills *options with defaults. Returns ERI_OK or ERI_ERR_INVALID_ARGUMENT (NULL). */
eri_status eri_detector_options_init(eri_detector_options *options);
/* Loads the face detector (options may be NULL). Returns ERI_OK and sets *out, or ERI_ERR_INVALID_ARGUMENT
   (NULL, options out of range), ERI_ERR_IO (no weights file), ERI_ERR_FORMAT (not MTCNN weights); *out = NULL then.
   A detector is immutable: any number of threads may use it at once. */
eri_status eri_detector_open(const eri_detector_options *options, eri_detector **out);
/* Frees a detector; NULL is allowed. */
void eri_detector_close(eri_detector *detector);
/* Finds the faces of one image (any size and pixel format; the box fields are ignored), strongest first.
   Writes up to capacity faces and sets *n_faces to the number found (which may exceed capacity; faces may
   be NULL when capacity is 0). Returns ERI_OK or ERI_ERR_INVALID_ARGUMENT (NULL, a bad image). */
eri_status eri_detect_faces(const eri_detector *detector, const eri_image *image, eri_face *faces, size_t capacity,
                            size_t *n_faces);

/* eri_predict_av with options (may be NULL) and the whole record. Frames given in memory have no
   timestamps: the video span is left 0 and the duration comes from the audio. Returns as
   eri_predict_av, or ERI_ERR_CANCELLED. */
eri_status eri_predict_av_ex(const eri_model *model, const eri_image *frames, size_t n_frames,
                             const float *samples, size_t n_samples_per_channel, int32_t sample_rate,
                             int32_t channels, const eri_predict_options *options, eri_prediction *out);

/* One point of a timeline: the estimate over the window ending at window_end_s (seconds from the file's
   start). Return 0 to go on, non-zero to stop (the call then returns ERI_ERR_CANCELLED). */
typedef int32_t (*eri_timeline_callback)(double window_end_s, const float *intensities, void *user_data);

/* The estimates of windows of window_s seconds (0: the model's training clip length, else 10 s) ending
   every hop_s seconds along a media file, as a stream replaying it would give them (see Streaming below):
   hop_s is rounded to a whole number of the stream's steps (W/F), at least one, and the points are at
   k * hop for k = 1, 2, …, each window ending exactly there, none twice. fn gets each point in order.
   The audio track is decoded first, whole: the file's audio is held to the Limits of eri_predict_file.
   Returns as eri_predict_file (a point that would not be finite: ERI_ERR_INTERNAL), ERI_ERR_INVALID_ARGUMENT
   (NULL, window or hop out of range) or ERI_ERR_CANCELLED. */
eri_status eri_timeline_file(const eri_model *model, const char *media_path, double window_s, double hop_s,
                             eri_timeline_callback fn, void *user_data);

/* ---- Streaming (driver monitoring) -------------------------------------------------------
 *
 * A stream keeps a sliding window of W seconds over live frames and PCM and answers at any
 * moment. One clock (seconds, any origin, e.g. the camera's) stamps both modalities.
 *
 *     eri_stream *s = NULL;
 *     eri_stream_open(model, NULL, &s);          // W = the model's training clip length, else 10 s
 *     for (;;) {
 *         eri_stream_push_frame(s, &frame, t_frame);        // as frames arrive
 *         eri_stream_push_pcm(s, pcm, n, 48000, 2, t_pcm);  // as audio arrives
 *         if (time_to_report && eri_stream_read(s, out, &t_end) == ERI_OK) { ... }
 *     }
 *     eri_stream_close(s);
 *
 * How a read is made: window ends lie on a grid of W/F seconds (F = the model's
 * frames; W/F = 0.3125 s for dbn-base with W = 10 s). A read covers [t - W, t), t the last grid
 * point at or before the newest timestamp pushed. The window's F sample times are the middles of
 * its F cells, t - W + (j + 0.5)·W/F, and each is represented by the pushed frame nearest to it
 * (within max_frame_gap_s; a sample time without one takes the nearest sample time's frame; no
 * frame at all means no video in this window). Each chosen frame's per-frame network part runs
 * once, when the frame arrives, and is reused by every window holding it; other frames cost a
 * timestamp check. The audio is mixed to mono, resampled to the model's rate as it arrives, and
 * its MFCC frames are computed once; a window uses W·rate samples (or fewer, what has arrived)
 * starting at t - W rounded down to hop × pool samples. A read runs only the temporal layers.
 *
 * Which span a read covered: eri_stream_last_span() gives the window, the timestamps of the F
 * frames used, and the audio span; eri_stream_copy_audio() gives those audio samples (mono, at
 * the model's rate). eri_predict_av() on exactly those frames and samples equals the read
 * (to 1e-5; tested).
 *
 * Timestamps: frame timestamps must increase (else ERI_ERR_INVALID_ARGUMENT and the frame is
 * dropped). A PCM chunk starting within 30 ms of the previous chunk's end continues it; a later
 * start is a gap filled with silence (a gap longer than W + 1 s restarts the audio); an earlier
 * start is ERI_ERR_INVALID_ARGUMENT (dropped). Camera dropouts are handled as above; a modality
 * that never arrives leaves reads to the other one. Memory stays flat however long the stream.
 *
 * A stream belongs to one thread at a time (different streams on one model may run in
 * parallel). It keeps its model alive: closing the model before the stream is allowed.
 */
typedef struct eri_stream eri_stream;

/* Options for eri_stream_open. Fill with eri_stream_options_init before changing fields. */
typedef struct eri_stream_options {
    uint32_t struct_size;   /* sizeof(eri_stream_options), set by eri_stream_options_init */
    double window_s;        /* W in seconds, 0.1…3600 and W x the model's rate <= 2^26 samples; 0 = the model's
                               training clip length, else 10 */
    double max_frame_gap_s; /* how far a frame may be from a sample time, >= 0; < 0 = W / (2F), the default */
    int32_t faces;          /* ERI_FACES_AUTO (default), _DETECT or _NONE; a frame with a box keeps it */
    int32_t redetect_every; /* frames a window uses between two full face detections; in between the last face
                               is refined (R-Net and O-Net only). 1…10000, default 5 */
} eri_stream_options;

/* What the last eri_stream_read used. Set struct_size = sizeof(eri_stream_span) first. */
typedef struct eri_stream_span {
    uint32_t struct_size;
    double window_start_s, window_end_s;  /* [start, end) on the stream's clock */
    int32_t n_frames;                     /* F, or 0 when the window held no frame */
    const double *frame_timestamps_s;     /* n_frames timestamps (sample time order, repeats possible);
                                             valid until the next call on this stream */
    double audio_start_s;                 /* time of the first audio sample used */
    uint64_t audio_first_sample;          /* its index on the stream's audio clock (model rate) */
    uint64_t n_audio_samples;             /* samples used, 0 when the window held no audio */
    int32_t audio_sample_rate;            /* the model's rate (0 without an audio branch) */
    float face_coverage;                  /* the share of the n_frames with a face of their own, -1 without frames */
} eri_stream_span;

/* Fills *options with defaults. Returns ERI_OK or ERI_ERR_INVALID_ARGUMENT (NULL). */
eri_status eri_stream_options_init(eri_stream_options *options);
/* Opens a stream on model (options may be NULL). Returns ERI_OK and sets *out, or
   ERI_ERR_INVALID_ARGUMENT (NULL, bad options) and sets *out = NULL. */
eri_status eri_stream_open(const eri_model *model, const eri_stream_options *options, eri_stream **out);
/* Adds a frame taken at timestamp_s. Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL, a bad image or one
   over 256 MiB, which a stream may have to keep a copy of; a timestamp not after the previous frame's or
   not finite: the frame is dropped), ERI_ERR_MISSING_MODALITY (an audio-only model) or ERI_ERR_INTERNAL. */
eri_status eri_stream_push_frame(eri_stream *s, const eri_image *frame, double timestamp_s);
/* Adds interleaved PCM whose first sample was taken at timestamp_s (n_per_channel may be 0; a chunk
   of any length is taken a piece at a time, so memory stays that of the window). Returns ERI_OK,
   ERI_ERR_INVALID_ARGUMENT (NULL, NaN/Inf samples or |x| > 1.5, rate (4 kHz…768 kHz) or channels out of
   range, a timestamp before the previous chunk's end: the chunk is dropped) or ERI_ERR_MISSING_MODALITY
   (a video-only model). */
eri_status eri_stream_push_pcm(eri_stream *s, const float *samples, size_t n_per_channel,
                               int32_t sample_rate, int32_t channels, double timestamp_s);
/* Estimates the latest window: writes ERI_NUM_EMOTIONS intensities to out and, if
   out_window_end_s is not NULL, the window's end. Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL),
   ERI_ERR_MISSING_MODALITY (nothing pushed yet, or no frame and no audio in the window) or
   ERI_ERR_INTERNAL (an estimate that would not be finite). */
eri_status eri_stream_read(eri_stream *s, float out[ERI_NUM_EMOTIONS], double *out_window_end_s);
/* Describes what the last successful read used. Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL,
   struct_size too small) or ERI_ERR_MISSING_MODALITY (no read yet). */
eri_status eri_stream_last_span(eri_stream *s, eri_stream_span *out_span);
/* Copies the last read's audio (mono, model rate; n_audio_samples of them) to out, which holds
   capacity floats; *out_count gets the number copied. Valid until the next push.
   Returns ERI_OK, ERI_ERR_INVALID_ARGUMENT (NULL, capacity too small: *out_count says how many
   are needed) or ERI_ERR_MISSING_MODALITY (no read yet, or a push dropped those samples). */
eri_status eri_stream_copy_audio(eri_stream *s, float *out, size_t capacity, size_t *out_count);
/* Forgets all input; the stream is as new. NULL is allowed. */
void eri_stream_reset(eri_stream *s);
/* Frees a stream; NULL is allowed. */
void eri_stream_close(eri_stream *s);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ERI_H */

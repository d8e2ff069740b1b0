"""liberi's C API (include/eri.h) as ctypes declarations: the constants, one
ctypes.Structure per C struct, the signature of every function, the loading of
liberi.so and the mapping of an eri_status to `Error`.

Nothing here converts or checks Python values; the public classes in
`liberi/__init__.py` do that. The host tests import this module rather than
declaring the C API again, and Tests/host/test_layout.py compares every struct
in `STRUCTS` with the C compiler's view of the installed header.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# -- constants (eri.h)

NUM_EMOTIONS = 7  # ERI_NUM_EMOTIONS

# eri_status
OK, INVALID_ARGUMENT, IO, FORMAT, UNSUPPORTED, MISSING_MODALITY, DECODE, OUT_OF_MEMORY, CANCELLED, INTERNAL = range(10)

# eri_pixel_format
PIXEL_RGB24, PIXEL_BGR24, PIXEL_RGBA32, PIXEL_BGRA32, PIXEL_GRAY8, PIXEL_NV12, PIXEL_I420, PIXEL_YUYV = range(8)

# eri_predict_options.long_input
LONG_INPUT_WHOLE, LONG_INPUT_WINDOWS = range(2)

# eri_prediction.warnings bits (ERI_WARN_*)
WARN_RANDOM_WEIGHTS, WARN_NO_VIDEO, WARN_NO_AUDIO, WARN_LONG_INPUT = 1, 2, 4, 8

# ERI_LOG_* levels given to an eri_log_callback
LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG = range(4)


# -- structs, field for field as in eri.h

class Image(ctypes.Structure):
    """eri_image. `data` is a plain address: the caller keeps the pixels alive."""
    _fields_ = [("data", ctypes.c_void_p), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("stride", ctypes.c_int32), ("format", ctypes.c_int32), ("has_box", ctypes.c_int32),
                ("box_x", ctypes.c_float), ("box_y", ctypes.c_float), ("box_w", ctypes.c_float), ("box_h", ctypes.c_float),
                ("chroma", ctypes.c_void_p), ("chroma_v", ctypes.c_void_p), ("chroma_stride", ctypes.c_int32)]


class ModelOptions(ctypes.Structure):
    """eri_model_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_threads", ctypes.c_int32)]


class ModelInfo(ctypes.Structure):
    """struct eri_model_info; its strings live until eri_model_close."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("has_video", ctypes.c_int32), ("has_audio", ctypes.c_int32),
                ("n_frames", ctypes.c_int32), ("image_size", ctypes.c_int32), ("n_channels", ctypes.c_int32),
                ("sample_rate", ctypes.c_int32), ("n_parameters", ctypes.c_uint64), ("preset", ctypes.c_char_p),
                ("config_json", ctypes.c_char_p), ("provenance", ctypes.c_char_p), ("metrics", ctypes.c_char_p),
                ("random_weights", ctypes.c_int32), ("clip_seconds", ctypes.c_double)]


class StreamOptions(ctypes.Structure):
    """eri_stream_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_s", ctypes.c_double), ("max_frame_gap_s", ctypes.c_double)]


class StreamSpan(ctypes.Structure):
    """eri_stream_span; frame_timestamps_s is valid until the next call on the stream."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_start_s", ctypes.c_double), ("window_end_s", ctypes.c_double),
                ("n_frames", ctypes.c_int32), ("frame_timestamps_s", ctypes.POINTER(ctypes.c_double)),
                ("audio_start_s", ctypes.c_double), ("audio_first_sample", ctypes.c_uint64),
                ("n_audio_samples", ctypes.c_uint64), ("audio_sample_rate", ctypes.c_int32)]


# eri_progress_callback: int32_t (*)(double fraction_done, void *user_data); non-zero cancels
ProgressCallback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_double, ctypes.c_void_p)


class PredictOptions(ctypes.Structure):
    """eri_predict_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("progress", ProgressCallback), ("progress_user_data", ctypes.c_void_p),
                ("long_input", ctypes.c_int32), ("window_s", ctypes.c_double)]


class Prediction(ctypes.Structure):
    """eri_prediction; warning_text is valid until the next liberi call on the thread."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("intensities", ctypes.c_float * NUM_EMOTIONS),
                ("n_frames_given", ctypes.c_int32), ("n_frames_used", ctypes.c_int32),
                ("video_start_s", ctypes.c_double), ("video_end_s", ctypes.c_double),
                ("audio_used", ctypes.c_int32), ("audio_start_s", ctypes.c_double), ("audio_end_s", ctypes.c_double),
                ("duration_s", ctypes.c_double), ("n_windows", ctypes.c_int32), ("window_s", ctypes.c_double),
                ("warnings", ctypes.c_uint32), ("warning_text", ctypes.c_char_p)]


# Every struct of eri.h by its C tag (`struct <tag>`): the layout test's list.
STRUCTS: dict[str, type[ctypes.Structure]] = {
    "eri_image": Image,
    "eri_model_options": ModelOptions,
    "eri_model_info": ModelInfo,
    "eri_stream_options": StreamOptions,
    "eri_stream_span": StreamSpan,
    "eri_predict_options": PredictOptions,
    "eri_prediction": Prediction,
}

# eri_log_callback: void (*)(int32_t level, const char *message, void *user_data)
LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


# eri_timeline_callback: int32_t (*)(double window_end_s, const float *intensities, void *user_data); non-zero stops
TimelineCallback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_double, ctypes.POINTER(ctypes.c_float), ctypes.c_void_p)


# -- functions

_P = ctypes.POINTER
_status = ctypes.c_int  # eri_status is a C enum: int-sized
_handle = ctypes.c_void_p  # eri_model *, eri_stream *: opaque
_floats = _P(ctypes.c_float)

# name: (restype, argtypes), in the order of eri.h.
FUNCTIONS: dict[str, tuple[object, list[object]]] = {
    "eri_version": (ctypes.c_char_p, []),
    "eri_version_number": (ctypes.c_uint32, []),
    "eri_status_string": (ctypes.c_char_p, [_status]),
    "eri_last_error": (ctypes.c_char_p, []),
    "eri_emotion_name": (ctypes.c_char_p, [ctypes.c_int32]),
    "eri_set_log_callback": (None, [LogCallback, ctypes.c_void_p]),
    "eri_model_options_init": (_status, [_P(ModelOptions)]),
    "eri_model_open": (_status, [ctypes.c_char_p, _P(ModelOptions), _P(_handle)]),
    "eri_model_close": (None, [_handle]),
    "eri_model_get_info": (_status, [_handle, _P(ModelInfo)]),
    "eri_model_info": (_status, [_handle, _P(ModelInfo)]),
    "eri_predict_frames": (_status, [_handle, _P(Image), ctypes.c_size_t, _floats]),
    "eri_predict_pcm": (_status, [_handle, _floats, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32, _floats]),
    "eri_predict_av": (_status, [_handle, _P(Image), ctypes.c_size_t, _floats, ctypes.c_size_t,
                                 ctypes.c_int32, ctypes.c_int32, _floats]),
    "eri_predict_file": (_status, [_handle, ctypes.c_char_p, _floats]),
    "eri_predict_options_init": (_status, [_P(PredictOptions)]),
    "eri_predict_file_ex": (_status, [_handle, ctypes.c_char_p, _P(PredictOptions), _P(Prediction)]),
    "eri_predict_av_ex": (_status, [_handle, _P(Image), ctypes.c_size_t, _floats, ctypes.c_size_t, ctypes.c_int32,
                                    ctypes.c_int32, _P(PredictOptions), _P(Prediction)]),
    "eri_timeline_file": (_status, [_handle, ctypes.c_char_p, ctypes.c_double, ctypes.c_double, TimelineCallback,
                                    ctypes.c_void_p]),
    "eri_stream_options_init": (_status, [_P(StreamOptions)]),
    "eri_stream_open": (_status, [_handle, _P(StreamOptions), _P(_handle)]),
    "eri_stream_push_frame": (_status, [_handle, _P(Image), ctypes.c_double]),
    "eri_stream_push_pcm": (_status, [_handle, _floats, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32, ctypes.c_double]),
    "eri_stream_read": (_status, [_handle, _floats, _P(ctypes.c_double)]),
    "eri_stream_last_span": (_status, [_handle, _P(StreamSpan)]),
    "eri_stream_copy_audio": (_status, [_handle, _floats, ctypes.c_size_t, _P(ctypes.c_size_t)]),
    "eri_stream_reset": (None, [_handle]),
    "eri_stream_close": (None, [_handle]),
}

# Functions a liberi built without them may lack; callers test hasattr(lib, name).
OPTIONAL_FUNCTIONS = frozenset({"eri_predict_file"})


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Sets restype and argtypes of every function in FUNCTIONS on `lib`; returns `lib`."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        if name in OPTIONAL_FUNCTIONS and not hasattr(lib, name):
            continue
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


_lib: ctypes.CDLL | None = None


def load_library(path: str | None = None) -> ctypes.CDLL:
    """Loads liberi.so: `path`, else $ERI_LIBRARY, else next to this package, else the system path.
    Without `path` the library is loaded once and shared."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    candidates = [path, os.environ.get("ERI_LIBRARY"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "liberi.so"),
                  ctypes.util.find_library("eri"), "liberi.so.0", "liberi.so"]
    errors = []
    for candidate in candidates:
        if not candidate:
            continue
        if os.sep in candidate and not os.path.exists(candidate):
            continue
        try:
            lib = ctypes.CDLL(candidate)
            break
        except OSError as e:
            errors.append(f"{candidate}: {e}")
    else:
        raise OSError("liberi.so not found: set ERI_LIBRARY, or `make install` liberi (" + "; ".join(errors) + ")")
    declare(lib)
    if path is None:
        _lib = lib
    return lib


# -- errors

class Error(Exception):
    """A liberi call failed: `status` is the eri_status code, `message` eri_last_error()."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.message = message


Error.__module__ = "liberi"  # users meet it as liberi.Error (tracebacks, pickling)


def check(lib: ctypes.CDLL, status: int) -> None:
    """Raises Error(status, eri_last_error()) unless status is OK."""
    if status != OK:
        raise Error(status, lib.eri_last_error().decode(errors="replace"))

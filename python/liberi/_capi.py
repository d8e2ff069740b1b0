"""liberi's C API (include/eri.h) as ctypes declarations: the constants, one
ctypes.Structure per C struct, the signature of every function, the loading of
liberi.so and the mapping of an eri_status to the package's exceptions.

Nothing here converts or checks Python values; the public classes (liberi.Model,
liberi.Stream, in _model.py and _stream.py, with _inputs.py's conversions) do
that. The host tests import this module rather than declaring the C API again,
and Tests/host/test_layout.py compares every struct in `STRUCTS` and every
function in `FUNCTIONS` with the C compiler's view of the installed header.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Dict, List, Optional, Tuple

from ._errors import LibraryError, error_for
from ._version import PACKAGE_VERSION

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
WARN_NO_FACE, WARN_FEW_FACES, WARN_NO_DETECTOR = 16, 32, 64

# ERI_FACES_*: where faces come from
FACES_AUTO, FACES_DETECT, FACES_NONE = range(3)

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
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_threads", ctypes.c_int32), ("face_model", ctypes.c_char_p)]


class ModelInfo(ctypes.Structure):
    """struct eri_model_info; its strings live until eri_model_close."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("has_video", ctypes.c_int32), ("has_audio", ctypes.c_int32),
                ("n_frames", ctypes.c_int32), ("image_size", ctypes.c_int32), ("n_channels", ctypes.c_int32),
                ("sample_rate", ctypes.c_int32), ("n_parameters", ctypes.c_uint64), ("preset", ctypes.c_char_p),
                ("config_json", ctypes.c_char_p), ("provenance", ctypes.c_char_p), ("metrics", ctypes.c_char_p),
                ("random_weights", ctypes.c_int32), ("clip_seconds", ctypes.c_double)]


class StreamOptions(ctypes.Structure):
    """eri_stream_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_s", ctypes.c_double), ("max_frame_gap_s", ctypes.c_double),
                ("faces", ctypes.c_int32), ("redetect_every", ctypes.c_int32)]


class StreamSpan(ctypes.Structure):
    """eri_stream_span; frame_timestamps_s is valid until the next call on the stream."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_start_s", ctypes.c_double), ("window_end_s", ctypes.c_double),
                ("n_frames", ctypes.c_int32), ("frame_timestamps_s", ctypes.POINTER(ctypes.c_double)),
                ("audio_start_s", ctypes.c_double), ("audio_first_sample", ctypes.c_uint64),
                ("n_audio_samples", ctypes.c_uint64), ("audio_sample_rate", ctypes.c_int32), ("face_coverage", ctypes.c_float)]


# eri_progress_callback: int32_t (*)(double fraction_done, void *user_data); non-zero cancels
ProgressCallback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_double, ctypes.c_void_p)


class PredictOptions(ctypes.Structure):
    """eri_predict_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("progress", ProgressCallback), ("progress_user_data", ctypes.c_void_p),
                ("long_input", ctypes.c_int32), ("window_s", ctypes.c_double), ("faces", ctypes.c_int32)]


class Prediction(ctypes.Structure):
    """eri_prediction; warning_text is valid until the next liberi call on the thread."""
    _fields_ = [("struct_size", ctypes.c_uint32), ("intensities", ctypes.c_float * NUM_EMOTIONS),
                ("n_frames_given", ctypes.c_int32), ("n_frames_used", ctypes.c_int32),
                ("video_start_s", ctypes.c_double), ("video_end_s", ctypes.c_double),
                ("audio_used", ctypes.c_int32), ("audio_start_s", ctypes.c_double), ("audio_end_s", ctypes.c_double),
                ("duration_s", ctypes.c_double), ("n_windows", ctypes.c_int32), ("window_s", ctypes.c_double),
                ("face_coverage", ctypes.c_float), ("warnings", ctypes.c_uint32), ("warning_text", ctypes.c_char_p)]


class Face(ctypes.Structure):
    """eri_face: box, probability, five landmarks (x, y pairs)."""
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("w", ctypes.c_float), ("h", ctypes.c_float),
                ("score", ctypes.c_float), ("landmarks", ctypes.c_float * 10)]


class DetectorOptions(ctypes.Structure):
    """eri_detector_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("weights_path", ctypes.c_char_p), ("min_face", ctypes.c_float),
                ("thresholds", ctypes.c_float * 3), ("scale_factor", ctypes.c_double), ("max_side", ctypes.c_int32)]


# Every struct of eri.h by its C tag (`struct <tag>`): the layout test's list.
STRUCTS: Dict[str, type] = {
    "eri_image": Image,
    "eri_model_options": ModelOptions,
    "eri_model_info": ModelInfo,
    "eri_stream_options": StreamOptions,
    "eri_stream_span": StreamSpan,
    "eri_predict_options": PredictOptions,
    "eri_prediction": Prediction,
    "eri_face": Face,
    "eri_detector_options": DetectorOptions,
}

# eri_log_callback: void (*)(int32_t level, const char *message, void *user_data)
LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


# eri_timeline_callback: int32_t (*)(double window_end_s, const float *intensities, void *user_data);
# non-zero stops the timeline
TimelineCallback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_double, ctypes.POINTER(ctypes.c_float), ctypes.c_void_p)


# -- functions

_P = ctypes.POINTER
_status = ctypes.c_int  # eri_status is a C enum: int-sized
_handle = ctypes.c_void_p  # eri_model *, eri_stream *: opaque
_floats = _P(ctypes.c_float)

# name: (restype, argtypes), in the order of eri.h.
FUNCTIONS: Dict[str, Tuple[object, List[object]]] = {
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
    "eri_detector_options_init": (_status, [_P(DetectorOptions)]),
    "eri_detector_open": (_status, [_P(DetectorOptions), _P(_handle)]),
    "eri_detector_close": (None, [_handle]),
    "eri_detect_faces": (_status, [_handle, _P(Image), _P(Face), ctypes.c_size_t, _P(ctypes.c_size_t)]),
    "eri_predict_file_ex": (_status, [_handle, ctypes.c_char_p, _P(PredictOptions), _P(Prediction)]),
    "eri_predict_av_ex": (_status, [_handle, _P(Image), ctypes.c_size_t, _floats, ctypes.c_size_t, ctypes.c_int32,
                                    ctypes.c_int32, _P(PredictOptions), _P(Prediction)]),
    "eri_stream_options_init": (_status, [_P(StreamOptions)]),
    "eri_stream_open": (_status, [_handle, _P(StreamOptions), _P(_handle)]),
    "eri_stream_push_frame": (_status, [_handle, _P(Image), ctypes.c_double]),
    "eri_stream_push_pcm": (_status, [_handle, _floats, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32, ctypes.c_double]),
    "eri_stream_read": (_status, [_handle, _floats, _P(ctypes.c_double)]),
    "eri_stream_last_span": (_status, [_handle, _P(StreamSpan)]),
    "eri_stream_copy_audio": (_status, [_handle, _floats, ctypes.c_size_t, _P(ctypes.c_size_t)]),
    "eri_stream_reset": (None, [_handle]),
    "eri_stream_close": (None, [_handle]),
    "eri_timeline_file": (_status, [_handle, ctypes.c_char_p, ctypes.c_double, ctypes.c_double, TimelineCallback,
                                    ctypes.c_void_p]),
}

# Functions a liberi.so may lack (newer than its version, or optional); callers test hasattr(lib, name).
OPTIONAL_FUNCTIONS = frozenset({"eri_timeline_file"})

# The oldest library this package works with: its MAJOR.MINOR (newer minors accept our smaller structs).
REQUIRED_MAJOR, REQUIRED_MINOR = (int(part) for part in PACKAGE_VERSION.split(".")[:2])


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Sets restype and argtypes of every function in FUNCTIONS on `lib`; returns `lib`.
    Raises AttributeError naming the first missing function that is not optional."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        if name in OPTIONAL_FUNCTIONS and not hasattr(lib, name):
            continue
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


# -- loading liberi.so

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
LIBRARY_NAME = "liberi.so"


def _common_prefixes() -> List[str]:
    """lib/ folders `make install PREFIX=…` commonly targets that the dynamic loader may not search:
    /usr/local/lib (until ldconfig runs), ~/.local/lib, and this Python's own prefix (a venv, conda)."""
    folders = [os.path.join(sys.prefix, "lib"), "/usr/local/lib", os.path.join(os.path.expanduser("~"), ".local", "lib")]
    return list(dict.fromkeys(folders))


def _open(path: str) -> ctypes.CDLL:
    """dlopen(path) and declare its functions; raises LibraryError saying why it is not a usable liberi."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise LibraryError(f"{path}: cannot load it: {e}") from None
    if not hasattr(lib, "eri_version_number"):
        raise LibraryError(f"{path}: not liberi (it has no eri_version_number)")
    lib.eri_version_number.restype = ctypes.c_uint32
    lib.eri_version.restype = ctypes.c_char_p
    number = lib.eri_version_number()
    version = lib.eri_version().decode(errors="replace")
    if number // 10000 != REQUIRED_MAJOR or number % 10000 // 100 < REQUIRED_MINOR:
        raise LibraryError(f"{path}: liberi {version}, but this package ({PACKAGE_VERSION}) needs "
                           f"{REQUIRED_MAJOR}.{REQUIRED_MINOR} or a newer {REQUIRED_MAJOR}.x")
    try:
        declare(lib)
    except AttributeError as e:
        raise LibraryError(f"{path}: liberi {version} lacks a function this package needs ({e})") from None
    return lib


def _explicit(value: str, source: str) -> str:
    """The file that `value` (from `source`: "ERI_LIBRARY" or "path") names: a file, or a folder holding liberi.so."""
    if not os.path.exists(value):
        raise LibraryError(f"{source}={value}: no such file or folder")
    if os.path.isdir(value):
        for name in (LIBRARY_NAME, LIBRARY_NAME + ".0"):
            candidate = os.path.join(value, name)
            if os.path.isfile(candidate):
                return candidate
        raise LibraryError(f"{source}={value} is a folder without {LIBRARY_NAME} in it")
    return value


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads liberi.so and declares its functions. Looks, in this order, at:

    1. `path` if given, else $ERI_LIBRARY if set: a file, or a folder holding liberi.so. Nothing else is
       tried then; a wrong value raises LibraryError naming it and saying why.
    2. liberi.so next to this package (what the wheel from `make wheel` carries).
    3. the system's library path: ldconfig's cache, LD_LIBRARY_PATH (liberi.so.0, liberi.so).
    4. common install prefixes: <python prefix>/lib, /usr/local/lib, ~/.local/lib (`make install
       PREFIX=$HOME/.local`).

    A library that loads but is not liberi, or is older than this package needs, is skipped (its reason
    kept); if none is usable, LibraryError lists every place looked at and why each failed. Without
    `path`, the library is loaded once and shared.
    """
    global _lib
    if path is None and _lib is not None:
        return _lib
    if path is not None:
        return _open(_explicit(os.fspath(path), "path"))
    if os.environ.get("ERI_LIBRARY"):
        _lib = _open(_explicit(os.environ["ERI_LIBRARY"], "ERI_LIBRARY"))
        return _lib
    reasons: List[str] = []
    for candidate in _candidates():
        if os.sep in candidate and not os.path.exists(candidate):
            reasons.append(f"{candidate}: not there")
            continue
        try:
            _lib = _open(candidate)
            return _lib
        except LibraryError as e:
            reasons.append(e.message)
    raise LibraryError("liberi.so not found. Install the wheel `make wheel` builds (it carries liberi.so), "
                       "or `make install` liberi, or set ERI_LIBRARY to liberi.so or its folder. Looked at: "
                       + "; ".join(reasons))


def _candidates() -> List[str]:
    """Where load_library looks without ERI_LIBRARY, in order (see load_library)."""
    names = [os.path.join(PACKAGE_DIR, LIBRARY_NAME)]
    found = ctypes.util.find_library("eri")  # ldconfig -p (and gcc/ld search paths)
    names += [found] if found else []
    names += [LIBRARY_NAME + ".0", LIBRARY_NAME]  # dlopen by name: LD_LIBRARY_PATH, ld.so.cache, /lib, /usr/lib
    names += [os.path.join(folder, LIBRARY_NAME) for folder in _common_prefixes()]
    return list(dict.fromkeys(names))


_lib: Optional[ctypes.CDLL] = None


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def library_file(lib: ctypes.CDLL) -> str:
    """The file `lib` was loaded from (dladdr of eri_version; the name it was opened by where dladdr is missing)."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        info = _DlInfo()
        if dladdr(ctypes.cast(lib.eri_version, ctypes.c_void_p), ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(os.fsdecode(info.dli_fname))
    except (AttributeError, OSError):
        pass
    return str(lib._name)


# -- errors

def check(lib: ctypes.CDLL, status: int) -> None:
    """Raises the exception for `status` (a subclass of liberi.Error) with eri_last_error() unless status is OK."""
    if status != OK:
        raise error_for(status, lib.eri_last_error().decode(errors="replace"))

"""Python bindings for liberi (ctypes): Emotional Reaction Intensity from face video and audio.

    model = eri.Model("model.eri")
    model.predict(frames=np.uint8 array (N, H, W, 3), pcm=np.float32 array, sample_rate=16000)
    → {"Adoration": 0.41, …, "Surprise": 0.12}
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Model", "Stream", "Error", "EMOTIONS", "version", "load_library"]

NUM_EMOTIONS = 7

# eri_status codes (include/eri.h)
OK, INVALID_ARGUMENT, IO, FORMAT, UNSUPPORTED, MISSING_MODALITY, DECODE, OUT_OF_MEMORY, CANCELLED, INTERNAL = range(10)

# eri_pixel_format
PIXEL_RGB24, PIXEL_BGR24, PIXEL_RGBA32, PIXEL_BGRA32, PIXEL_GRAY8 = range(5)


class Error(Exception):
    """A liberi call failed: `status` is the eri_status code, `message` eri_last_error()."""

    def __init__(self, status, message):
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.message = message


class _Image(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("stride", ctypes.c_int32), ("format", ctypes.c_int32), ("has_box", ctypes.c_int32),
                ("box_x", ctypes.c_float), ("box_y", ctypes.c_float), ("box_w", ctypes.c_float), ("box_h", ctypes.c_float)]


class _ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_threads", ctypes.c_int32)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("has_video", ctypes.c_int32), ("has_audio", ctypes.c_int32),
                ("n_frames", ctypes.c_int32), ("image_size", ctypes.c_int32), ("n_channels", ctypes.c_int32),
                ("sample_rate", ctypes.c_int32), ("n_parameters", ctypes.c_uint64), ("preset", ctypes.c_char_p),
                ("config_json", ctypes.c_char_p), ("provenance", ctypes.c_char_p), ("metrics", ctypes.c_char_p)]


class _StreamOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_s", ctypes.c_double), ("max_frame_gap_s", ctypes.c_double)]


class _StreamSpan(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("window_start_s", ctypes.c_double), ("window_end_s", ctypes.c_double),
                ("n_frames", ctypes.c_int32), ("frame_timestamps_s", ctypes.POINTER(ctypes.c_double)),
                ("audio_start_s", ctypes.c_double), ("audio_first_sample", ctypes.c_uint64),
                ("n_audio_samples", ctypes.c_uint64), ("audio_sample_rate", ctypes.c_int32)]


_lib = None


def load_library(path=None):
    """Loads liberi.so: `path`, else $ERI_LIBRARY, else next to this package, else the system path."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    candidates = [path, os.environ.get("ERI_LIBRARY"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "liberi.so"),
                  ctypes.util.find_library("eri"), "liberi.so.0", "liberi.so"]
    errors = []
    for c in candidates:
        if not c:
            continue
        if os.sep in c and not os.path.exists(c):
            continue
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError as e:
            errors.append(f"{c}: {e}")
    else:
        raise OSError("liberi.so not found: set ERI_LIBRARY, or `make install` liberi (" + "; ".join(errors) + ")")
    status = ctypes.c_int
    P = ctypes.POINTER
    lib.eri_version.restype = ctypes.c_char_p
    lib.eri_last_error.restype = ctypes.c_char_p
    lib.eri_emotion_name.restype = ctypes.c_char_p
    lib.eri_emotion_name.argtypes = [ctypes.c_int32]
    lib.eri_model_options_init.restype = status
    lib.eri_model_options_init.argtypes = [P(_ModelOptions)]
    lib.eri_model_open.restype = status
    lib.eri_model_open.argtypes = [ctypes.c_char_p, P(_ModelOptions), P(ctypes.c_void_p)]
    lib.eri_model_close.argtypes = [ctypes.c_void_p]
    lib.eri_model_close.restype = None
    lib.eri_model_info.restype = status
    lib.eri_model_info.argtypes = [ctypes.c_void_p, P(_ModelInfo)]
    floats = P(ctypes.c_float)
    lib.eri_predict_frames.restype = status
    lib.eri_predict_frames.argtypes = [ctypes.c_void_p, P(_Image), ctypes.c_size_t, floats]
    lib.eri_predict_pcm.restype = status
    lib.eri_predict_pcm.argtypes = [ctypes.c_void_p, floats, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32, floats]
    lib.eri_predict_av.restype = status
    lib.eri_predict_av.argtypes = [ctypes.c_void_p, P(_Image), ctypes.c_size_t, floats, ctypes.c_size_t,
                                   ctypes.c_int32, ctypes.c_int32, floats]
    if hasattr(lib, "eri_predict_file"):
        lib.eri_predict_file.restype = status
        lib.eri_predict_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, floats]
    lib.eri_stream_options_init.restype = status
    lib.eri_stream_options_init.argtypes = [P(_StreamOptions)]
    lib.eri_stream_open.restype = status
    lib.eri_stream_open.argtypes = [ctypes.c_void_p, P(_StreamOptions), P(ctypes.c_void_p)]
    lib.eri_stream_push_frame.restype = status
    lib.eri_stream_push_frame.argtypes = [ctypes.c_void_p, P(_Image), ctypes.c_double]
    lib.eri_stream_push_pcm.restype = status
    lib.eri_stream_push_pcm.argtypes = [ctypes.c_void_p, floats, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32,
                                        ctypes.c_double]
    lib.eri_stream_read.restype = status
    lib.eri_stream_read.argtypes = [ctypes.c_void_p, floats, P(ctypes.c_double)]
    lib.eri_stream_last_span.restype = status
    lib.eri_stream_last_span.argtypes = [ctypes.c_void_p, P(_StreamSpan)]
    lib.eri_stream_copy_audio.restype = status
    lib.eri_stream_copy_audio.argtypes = [ctypes.c_void_p, floats, ctypes.c_size_t, P(ctypes.c_size_t)]
    lib.eri_stream_reset.restype = None
    lib.eri_stream_reset.argtypes = [ctypes.c_void_p]
    lib.eri_stream_close.restype = None
    lib.eri_stream_close.argtypes = [ctypes.c_void_p]
    if path is None:
        _lib = lib
    return lib


def version():
    return load_library().eri_version().decode()


def _emotions():
    lib = load_library()
    return [lib.eri_emotion_name(i).decode() for i in range(NUM_EMOTIONS)]


EMOTIONS = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")


def _check(lib, status):
    if status != OK:
        raise Error(status, lib.eri_last_error().decode(errors="replace"))


_FORMATS = {3: PIXEL_RGB24, 4: PIXEL_RGBA32, 1: PIXEL_GRAY8}


class _Owned:
    """A liberi handle freed by the C function named `_closer`; usable as a context manager."""
    _closer = None

    def close(self):
        if getattr(self, "_handle", None):
            getattr(self._lib, self._closer)(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Owned):
    """An opened .eri model; safe to share between threads for prediction."""
    _closer = "eri_model_close"

    def __init__(self, path, threads=0):
        self._lib = load_library()
        opts = _ModelOptions()
        _check(self._lib, self._lib.eri_model_options_init(ctypes.byref(opts)))
        opts.n_threads = threads
        handle = ctypes.c_void_p()
        _check(self._lib, self._lib.eri_model_open(os.fsencode(path), ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle


    @property
    def info(self):
        """A dict describing the model (branches, frames, image size, sample rate, parameters, config)."""
        i = _ModelInfo()
        i.struct_size = ctypes.sizeof(_ModelInfo)
        _check(self._lib, self._lib.eri_model_info(self._handle, ctypes.byref(i)))
        dec = lambda s: s.decode() if s is not None else None  # noqa: E731
        return {"preset": dec(i.preset), "has_video": bool(i.has_video), "has_audio": bool(i.has_audio),
                "frames": i.n_frames, "image_size": i.image_size, "channels": i.n_channels,
                "sample_rate": i.sample_rate, "parameters": i.n_parameters, "config": dec(i.config_json),
                "provenance": dec(i.provenance), "metrics": dec(i.metrics)}

    @staticmethod
    def _images(frames, boxes, pixel_format):
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.ndim == 3:  # N × H × W gray
            frames = frames[..., None]
        if frames.ndim != 4:
            raise ValueError("frames must be an (N, H, W, C) uint8 array")
        n, h, w, c = frames.shape
        fmt = pixel_format if pixel_format is not None else _FORMATS.get(c)
        if fmt is None:
            raise ValueError(f"cannot infer the pixel format of {c} channels; pass pixel_format")
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float32)
            if boxes.ndim == 1:
                boxes = np.broadcast_to(boxes, (n, 4))
            if boxes.shape != (n, 4):
                raise ValueError("boxes must be (4,) or (N, 4): x, y, w, h")
        images = (_Image * max(n, 1))()
        base = frames.ctypes.data
        for k in range(n):
            img = images[k]
            img.data = base + k * h * w * c
            img.width, img.height, img.stride, img.format = w, h, w * c, fmt
            if boxes is not None:
                img.has_box = 1
                img.box_x, img.box_y, img.box_w, img.box_h = (float(v) for v in boxes[k])
        return frames, images, n

    def predict(self, frames=None, pcm=None, sample_rate=None, channels=None, boxes=None, pixel_format=None):
        """Predicts one clip: frames (N, H, W, 3|4|1) uint8 and/or pcm float32 ((n,) or (n, channels)).
        Returns {emotion name: intensity in [0, 1]}."""
        out = (ctypes.c_float * NUM_EMOTIONS)()
        images, n_frames, keep = None, 0, None
        if frames is not None:
            keep, images, n_frames = self._images(frames, boxes, pixel_format)
        samples, n_samples, ch = None, 0, 0
        if pcm is not None:
            pcm, ch = _pcm_array(pcm, channels)
            if sample_rate is None:
                raise ValueError("pcm needs sample_rate")
            n_samples = pcm.size // ch
            samples = pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        status = self._lib.eri_predict_av(self._handle, images, n_frames, samples, n_samples,
                                          int(sample_rate or 0), int(ch), out)
        del keep
        _check(self._lib, status)
        return dict(zip(EMOTIONS, (float(v) for v in out)))

    def predict_file(self, path):
        """Predicts a media file (any container/codec FFmpeg reads, or audio libsndfile reads)."""
        if not hasattr(self._lib, "eri_predict_file"):
            raise Error(UNSUPPORTED, "this liberi has no eri_predict_file")
        out = (ctypes.c_float * NUM_EMOTIONS)()
        _check(self._lib, self._lib.eri_predict_file(self._handle, os.fsencode(path), out))
        return dict(zip(EMOTIONS, (float(v) for v in out)))


def _pcm_array(pcm, channels):
    pcm = np.asarray(pcm)
    if pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768.0  # SPEC §4.2: int16 / 32768
    pcm = np.ascontiguousarray(pcm, dtype=np.float32)
    ch = channels or (pcm.shape[1] if pcm.ndim == 2 else 1)
    return pcm, ch


class Stream(_Owned):
    """A sliding window over live frames and audio (eri_stream_*): push as data arrives, read at any time.

        with eri.Stream(model, window=10) as s:
            s.push_frame(rgb_frame, t)               # (H, W, 3|4|1) uint8, timestamp in seconds
            s.push_pcm(chunk, 48000, t_audio)        # float32 (n,) or (n, channels)
            values, window_end = s.read()            # np.float32 (7,), seconds

    A stream belongs to one thread at a time; it keeps its model alive."""
    _closer = "eri_stream_close"

    def __init__(self, model, window=None, max_frame_gap=None):
        self._lib = model._lib
        opts = _StreamOptions()
        _check(self._lib, self._lib.eri_stream_options_init(ctypes.byref(opts)))
        if window is not None:
            opts.window_s = float(window)
        if max_frame_gap is not None:
            opts.max_frame_gap_s = float(max_frame_gap)
        handle = ctypes.c_void_p()
        _check(self._lib, self._lib.eri_stream_open(model._handle, ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle


    def push_frame(self, frame, timestamp, box=None, pixel_format=None):
        """Adds one (H, W, C) uint8 frame taken at `timestamp` seconds; box = (x, y, w, h) of the face or None."""
        frame = np.asarray(frame)
        keep, images, _ = Model._images(frame[None, ...], None if box is None else [box], pixel_format)
        status = self._lib.eri_stream_push_frame(self._handle, images, float(timestamp))
        del keep
        _check(self._lib, status)

    def push_pcm(self, pcm, sample_rate, timestamp, channels=None):
        """Adds PCM (float32 in [-1, 1] or int16; (n,) or (n, channels)) whose first sample is at `timestamp`."""
        pcm, ch = _pcm_array(pcm, channels)
        n = pcm.size // ch
        _check(self._lib, self._lib.eri_stream_push_pcm(self._handle, pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                        n, int(sample_rate), int(ch), float(timestamp)))

    def read(self):
        """The estimate over the latest window: (np.float32 array of 7 intensities, window end in seconds)."""
        out = (ctypes.c_float * NUM_EMOTIONS)()
        end = ctypes.c_double()
        _check(self._lib, self._lib.eri_stream_read(self._handle, out, ctypes.byref(end)))
        return np.array(out, dtype=np.float32), end.value

    def span(self):
        """What the last read used: a dict with the window, the frames' timestamps and the audio span."""
        sp = _StreamSpan()
        sp.struct_size = ctypes.sizeof(_StreamSpan)
        _check(self._lib, self._lib.eri_stream_last_span(self._handle, ctypes.byref(sp)))
        return {"window": (sp.window_start_s, sp.window_end_s),
                "frame_timestamps": [sp.frame_timestamps_s[i] for i in range(sp.n_frames)],
                "audio_start": sp.audio_start_s, "audio_first_sample": sp.audio_first_sample,
                "audio_samples": sp.n_audio_samples, "sample_rate": sp.audio_sample_rate}

    def window_audio(self):
        """The last read's audio: float32 mono at the model's rate (valid until the next push)."""
        needed = ctypes.c_size_t()
        status = self._lib.eri_stream_copy_audio(self._handle, None, 0, ctypes.byref(needed))
        if status not in (OK, INVALID_ARGUMENT):
            _check(self._lib, status)
        buf = np.zeros(needed.value, dtype=np.float32)
        _check(self._lib, self._lib.eri_stream_copy_audio(self._handle, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                          buf.size, ctypes.byref(needed)))
        return buf

    def reset(self):
        """Forgets all input."""
        self._lib.eri_stream_reset(self._handle)

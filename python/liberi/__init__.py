"""Python bindings for liberi (ctypes): Emotional Reaction Intensity from face video and audio.

    model = liberi.Model("model.eri")
    model.predict(frames=np.uint8 array (N, H, W, 3), pcm=np.float32 array, sample_rate=16000)
    → {"Adoration": 0.41, …, "Surprise": 0.12}

The C API itself (ctypes structs and signatures, loading, status codes) is in liberi._capi.
"""
import ctypes
import os
import typing

import numpy as np

if typing.TYPE_CHECKING:
    import numpy.typing as npt

from . import _capi
from ._capi import (CANCELLED, DECODE, FORMAT, INTERNAL, INVALID_ARGUMENT, IO, MISSING_MODALITY, NUM_EMOTIONS, OK,
                    OUT_OF_MEMORY, PIXEL_BGR24, PIXEL_BGRA32, PIXEL_GRAY8, PIXEL_RGB24, PIXEL_RGBA32, UNSUPPORTED, Error,
                    load_library)

__all__ = ["Model", "Stream", "Error", "EMOTIONS", "version", "load_library"]


def version() -> str:
    """liberi.so's version, "MAJOR.MINOR.PATCH"."""
    return load_library().eri_version().decode()


EMOTIONS = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")

# Channels of an (N, H, W, C) array → the eri_pixel_format assumed for it.
_FORMATS = {3: PIXEL_RGB24, 4: PIXEL_RGBA32, 1: PIXEL_GRAY8}


class _Owned:
    """A liberi handle freed by the C function named `_closer`; usable as a context manager."""
    _closer: str = ""
    _lib: ctypes.CDLL
    _handle: typing.Optional[ctypes.c_void_p]

    def close(self) -> None:
        if getattr(self, "_handle", None):
            getattr(self._lib, self._closer)(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Model(_Owned):
    """An opened .eri model; safe to share between threads for prediction."""
    _closer = "eri_model_close"

    def __init__(self, path: typing.Union[str, bytes, os.PathLike], threads: int = 0):
        self._lib = load_library()
        opts = _capi.ModelOptions()
        _capi.check(self._lib, self._lib.eri_model_options_init(ctypes.byref(opts)))
        opts.n_threads = threads
        handle = ctypes.c_void_p()
        _capi.check(self._lib, self._lib.eri_model_open(os.fsencode(path), ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle

    @property
    def info(self) -> dict[str, typing.Any]:
        """A dict describing the model (branches, frames, image size, sample rate, parameters, config)."""
        i = _capi.ModelInfo()
        i.struct_size = ctypes.sizeof(_capi.ModelInfo)
        _capi.check(self._lib, self._lib.eri_model_get_info(self._handle, ctypes.byref(i)))

        def text(s: typing.Optional[bytes]) -> typing.Optional[str]:
            return s.decode() if s is not None else None

        return {"preset": text(i.preset), "has_video": bool(i.has_video), "has_audio": bool(i.has_audio),
                "frames": i.n_frames, "image_size": i.image_size, "channels": i.n_channels,
                "sample_rate": i.sample_rate, "parameters": i.n_parameters, "config": text(i.config_json),
                "provenance": text(i.provenance), "metrics": text(i.metrics)}

    @staticmethod
    def _images(frames: "npt.ArrayLike", boxes: "typing.Optional[npt.ArrayLike]",
                pixel_format: typing.Optional[int]) -> tuple[np.ndarray, ctypes.Array, int]:
        """(the contiguous pixels, which must outlive the call; an eri_image array over them; the frame count)"""
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
        images = (_capi.Image * max(n, 1))()
        base = frames.ctypes.data
        for k in range(n):
            img = images[k]
            img.data = base + k * h * w * c
            img.width, img.height, img.stride, img.format = w, h, w * c, fmt
            if boxes is not None:
                img.has_box = 1
                img.box_x, img.box_y, img.box_w, img.box_h = (float(v) for v in boxes[k])
        return frames, images, n

    def predict(self, frames: "typing.Optional[npt.ArrayLike]" = None, pcm: "typing.Optional[npt.ArrayLike]" = None,
                sample_rate: typing.Optional[int] = None, channels: typing.Optional[int] = None,
                boxes: "typing.Optional[npt.ArrayLike]" = None, pixel_format: typing.Optional[int] = None) -> dict[str, float]:
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
        _capi.check(self._lib, status)
        return dict(zip(EMOTIONS, (float(v) for v in out)))

    def predict_file(self, path: typing.Union[str, bytes, os.PathLike]) -> dict[str, float]:
        """Predicts a media file (any container/codec FFmpeg reads, or audio libsndfile reads)."""
        if not hasattr(self._lib, "eri_predict_file"):
            raise Error(UNSUPPORTED, "this liberi has no eri_predict_file")
        out = (ctypes.c_float * NUM_EMOTIONS)()
        _capi.check(self._lib, self._lib.eri_predict_file(self._handle, os.fsencode(path), out))
        return dict(zip(EMOTIONS, (float(v) for v in out)))


def _pcm_array(pcm: "npt.ArrayLike", channels: typing.Optional[int]) -> tuple[np.ndarray, int]:
    """(contiguous float32 samples, channels) from float32 or int16 PCM of shape (n,) or (n, channels)."""
    pcm = np.asarray(pcm)
    if pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768.0  # SPEC §4.2: int16 / 32768
    pcm = np.ascontiguousarray(pcm, dtype=np.float32)
    ch = channels or (pcm.shape[1] if pcm.ndim == 2 else 1)
    return pcm, ch


class Stream(_Owned):
    """A sliding window over live frames and audio (eri_stream_*): push as data arrives, read at any time.

        with liberi.Stream(model, window=10) as s:
            s.push_frame(rgb_frame, t)               # (H, W, 3|4|1) uint8, timestamp in seconds
            s.push_pcm(chunk, 48000, t_audio)        # float32 (n,) or (n, channels)
            values, window_end = s.read()            # np.float32 (7,), seconds

    A stream belongs to one thread at a time; it keeps its model alive."""
    _closer = "eri_stream_close"

    def __init__(self, model: Model, window: typing.Optional[float] = None, max_frame_gap: typing.Optional[float] = None):
        self._lib = model._lib
        opts = _capi.StreamOptions()
        _capi.check(self._lib, self._lib.eri_stream_options_init(ctypes.byref(opts)))
        if window is not None:
            opts.window_s = float(window)
        if max_frame_gap is not None:
            opts.max_frame_gap_s = float(max_frame_gap)
        handle = ctypes.c_void_p()
        _capi.check(self._lib, self._lib.eri_stream_open(model._handle, ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle

    def push_frame(self, frame: "npt.ArrayLike", timestamp: float, box: typing.Optional[typing.Sequence[float]] = None,
                   pixel_format: typing.Optional[int] = None) -> None:
        """Adds one (H, W, C) uint8 frame taken at `timestamp` seconds; box = (x, y, w, h) of the face or None."""
        frame = np.asarray(frame)
        keep, images, _ = Model._images(frame[None, ...], None if box is None else [box], pixel_format)
        status = self._lib.eri_stream_push_frame(self._handle, images, float(timestamp))
        del keep
        _capi.check(self._lib, status)

    def push_pcm(self, pcm: "npt.ArrayLike", sample_rate: int, timestamp: float, channels: typing.Optional[int] = None) -> None:
        """Adds PCM (float32 in [-1, 1] or int16; (n,) or (n, channels)) whose first sample is at `timestamp`."""
        pcm, ch = _pcm_array(pcm, channels)
        n = pcm.size // ch
        _capi.check(self._lib, self._lib.eri_stream_push_pcm(self._handle, pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                             n, int(sample_rate), int(ch), float(timestamp)))

    def read(self) -> tuple[np.ndarray, float]:
        """The estimate over the latest window: (np.float32 array of 7 intensities, window end in seconds)."""
        out = (ctypes.c_float * NUM_EMOTIONS)()
        end = ctypes.c_double()
        _capi.check(self._lib, self._lib.eri_stream_read(self._handle, out, ctypes.byref(end)))
        return np.array(out, dtype=np.float32), end.value

    def span(self) -> dict[str, typing.Any]:
        """What the last read used: a dict with the window, the frames' timestamps and the audio span."""
        sp = _capi.StreamSpan()
        sp.struct_size = ctypes.sizeof(_capi.StreamSpan)
        _capi.check(self._lib, self._lib.eri_stream_last_span(self._handle, ctypes.byref(sp)))
        return {"window": (sp.window_start_s, sp.window_end_s),
                "frame_timestamps": [sp.frame_timestamps_s[i] for i in range(sp.n_frames)],
                "audio_start": sp.audio_start_s, "audio_first_sample": sp.audio_first_sample,
                "audio_samples": sp.n_audio_samples, "sample_rate": sp.audio_sample_rate}

    def window_audio(self) -> np.ndarray:
        """The last read's audio: float32 mono at the model's rate (valid until the next push)."""
        needed = ctypes.c_size_t()
        status = self._lib.eri_stream_copy_audio(self._handle, None, 0, ctypes.byref(needed))
        if status not in (OK, INVALID_ARGUMENT):
            _capi.check(self._lib, status)
        buf = np.zeros(needed.value, dtype=np.float32)
        _capi.check(self._lib, self._lib.eri_stream_copy_audio(self._handle, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                               buf.size, ctypes.byref(needed)))
        return buf

    def reset(self) -> None:
        """Forgets all input."""
        self._lib.eri_stream_reset(self._handle)

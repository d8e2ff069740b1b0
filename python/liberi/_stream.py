"""liberi.Stream: a sliding window over live frames and audio (eri_stream_*)."""
from __future__ import annotations

import ctypes
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict

import numpy as np

from . import _capi, _inputs
from ._errors import InvalidArgument
from ._model import Faces, Model, PixelFormat, _intensities, _Owned, face_mode


class StreamEstimate(TypedDict):
    """What Stream.read returns: the estimate over the latest window and the window's end (stream clock, s)."""
    intensities: Dict[str, float]
    window_end: float


class StreamSpan(TypedDict):
    """What the last Stream.read used (eri_stream_span).

    window: (start, end) in seconds on the stream's clock.
    frame_timestamps: the timestamps of the F frames used, in sample-time order (repeats possible; empty when
        the window held no frame).
    audio_start: time of the first audio sample used.
    audio_first_sample: its index on the stream's audio clock (the model's rate).
    audio_samples: samples used, 0 when the window held no audio.
    sample_rate: the model's audio rate (0 without an audio branch).
    face_coverage: the share of the frames used that had a face of their own (-1 without frames).
    """
    window: Tuple[float, float]
    frame_timestamps: List[float]
    audio_start: float
    audio_first_sample: int
    audio_samples: int
    sample_rate: int
    face_coverage: float


class Stream(_Owned):
    """A sliding window over live frames and audio: push as data arrives, read at any moment.

        with liberi.Stream(model, window=10) as s:
            s.push_frame(rgb_frame, t)           # one frame, the same conventions as Model.predict
            s.push_pcm(chunk, 48000, t_audio)    # (n,) or (n, channels): float in [-1, 1], int16, int32
            s.read()                             # {"intensities": {...}, "window_end": seconds}

    One clock (seconds, any origin) stamps both modalities. Window ends lie on a grid of W/F seconds; each
    frame's per-frame network part runs once, on arrival, and a read runs only the temporal layers. A read
    equals Model.predict on exactly the frames and audio span() and window_audio() report. Frame timestamps
    must increase; a PCM chunk starting after the previous one's end is a gap filled with silence, an earlier
    one is refused. Memory stays flat however long the stream.

    A stream belongs to one thread at a time (streams on one model may run in parallel). It keeps its model
    alive. Raises InvalidArgument (bad input, timestamps out of order: that input is dropped) and
    MissingModality (a modality the model lacks; a read before anything usable arrived).
    """
    _closer = "eri_stream_close"

    def __init__(self, model: Model, window: Optional[float] = None, max_frame_gap: Optional[float] = None, *,
                 faces: Faces = "auto", redetect_every: int = 5) -> None:
        """Opens a stream on `model`. window: W in seconds, 0.1…3600 (None: the model's training clip length, else
        10 s). max_frame_gap: how far in seconds a frame may be from a sample time (None: W / (2F)).
        faces: "auto", "detect" or "none" as in Model.predict (frames pushed with a box keep it).
        redetect_every: frames used between two full face detections (1…10000); in between the last face is only
        refined, which is cheaper."""
        self._lib = model._lib
        self.model = model
        options = _capi.StreamOptions()
        _capi.check(self._lib, self._lib.eri_stream_options_init(ctypes.byref(options)))
        if window is not None:
            options.window_s = _inputs.seconds(window, "window")
        if max_frame_gap is not None:
            options.max_frame_gap_s = _inputs.seconds(max_frame_gap, "max_frame_gap")
        options.faces = face_mode(faces)
        if isinstance(redetect_every, bool) or not isinstance(redetect_every, int):
            raise InvalidArgument(f"redetect_every must be an int, got {redetect_every!r}")
        options.redetect_every = redetect_every
        handle = ctypes.c_void_p()
        _capi.check(self._lib, self._lib.eri_stream_open(model._live(), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle

    def push_frame(self, frame: Any, timestamp: float, *, box: Optional[Sequence[float]] = None,
                   pixel_format: PixelFormat = "rgb", width: Optional[int] = None,
                   height: Optional[int] = None) -> None:
        """Adds one frame taken at `timestamp` seconds: (H, W, C) / (H, W) / a PIL image (or a stack of one),
        uint8 or floats in [0, 1], as Model.predict reads frames; box = the face's (x, y, w, h) in pixels or
        None; pixel_format, width, height as in Model.predict. Raises InvalidArgument (several frames, a
        timestamp not after the previous frame's: the frame is dropped)."""
        video = _inputs.frames_to_images(frame, pixel_format=pixel_format, boxes=box, width=width, height=height,
                                         what="frame", single=True)
        status = self._lib.eri_stream_push_frame(self._live(), video.images, _inputs.seconds(timestamp, "timestamp"))
        _capi.check(self._lib, status)

    def push_pcm(self, pcm: Any, sample_rate: int, timestamp: float) -> None:
        """Adds audio whose first sample was taken at `timestamp` seconds: (n,) mono or (n, channels), float in
        [-1, 1], int16 or int32, at `sample_rate` Hz (as Model.predict reads PCM). Raises InvalidArgument (a
        timestamp before the previous chunk's end: the chunk is dropped)."""
        audio, n, channels = _inputs.pcm_to_float(pcm)
        status = self._lib.eri_stream_push_pcm(self._live(), audio.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n,
                                               _inputs.sample_rate_value(sample_rate), channels,
                                               _inputs.seconds(timestamp, "timestamp"))
        _capi.check(self._lib, status)

    def read(self) -> StreamEstimate:
        """The estimate over the latest window: {"intensities": {emotion: value}, "window_end": seconds}.
        Raises MissingModality when nothing usable was pushed yet (or the window holds no frame and no audio)."""
        out = (ctypes.c_float * _capi.NUM_EMOTIONS)()
        end = ctypes.c_double()
        _capi.check(self._lib, self._lib.eri_stream_read(self._live(), out, ctypes.byref(end)))
        return {"intensities": _intensities(out), "window_end": float(end.value)}

    def span(self) -> StreamSpan:
        """What the last read used (see liberi.StreamSpan). Raises MissingModality before the first read."""
        sp = _capi.StreamSpan()
        sp.struct_size = ctypes.sizeof(_capi.StreamSpan)
        _capi.check(self._lib, self._lib.eri_stream_last_span(self._live(), ctypes.byref(sp)))
        return {"window": (float(sp.window_start_s), float(sp.window_end_s)),
                "frame_timestamps": [float(sp.frame_timestamps_s[i]) for i in range(sp.n_frames)],
                "audio_start": float(sp.audio_start_s), "audio_first_sample": int(sp.audio_first_sample),
                "audio_samples": int(sp.n_audio_samples), "sample_rate": int(sp.audio_sample_rate),
                "face_coverage": float(sp.face_coverage)}

    def window_audio(self) -> np.ndarray:
        """The last read's audio: float32 mono at the model's rate (span()["audio_samples"] of them). Raises
        MissingModality before the first read or after a push dropped those samples."""
        handle = self._live()
        needed = ctypes.c_size_t()
        status = self._lib.eri_stream_copy_audio(handle, None, 0, ctypes.byref(needed))
        if status not in (_capi.OK, _capi.INVALID_ARGUMENT):
            _capi.check(self._lib, status)
        buffer = np.zeros(needed.value, dtype=np.float32)
        _capi.check(self._lib, self._lib.eri_stream_copy_audio(
            handle, buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), buffer.size, ctypes.byref(needed)))
        return buffer

    def reset(self) -> None:
        """Forgets all input; the stream is as new."""
        self._lib.eri_stream_reset(self._live())

    def __repr__(self) -> str:
        return f"liberi.Stream({self.model!r}{'' if self._handle else ', closed'})"

"""liberi.Model: open a .eri model, predict from files or from frames and PCM in memory, timelines."""
from __future__ import annotations

import ctypes
import json
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional, Tuple, TypedDict, Union

from . import _capi, _inputs
from ._errors import InvalidArgument, ReliabilityWarning, Unsupported

if TYPE_CHECKING:
    import pandas

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: The seven emotions, in the order of every result (eri_emotion_name(0…6)).
EMOTIONS: Tuple[str, ...] = ("Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise")

#: eri_prediction.warnings bits → the names in a result's "warnings" list.
WARNING_NAMES: Dict[int, str] = {_capi.WARN_RANDOM_WEIGHTS: "random_weights", _capi.WARN_NO_VIDEO: "no_video",
                                 _capi.WARN_NO_AUDIO: "no_audio", _capi.WARN_LONG_INPUT: "long_input",
                                 _capi.WARN_NO_FACE: "no_face", _capi.WARN_FEW_FACES: "few_faces",
                                 _capi.WARN_NO_DETECTOR: "no_detector"}

#: faces= values → ERI_FACES_*.
FACE_MODES: Dict[str, int] = {"auto": _capi.FACES_AUTO, "detect": _capi.FACES_DETECT, "none": _capi.FACES_NONE}
Faces = Literal["auto", "detect", "none"]


def face_mode(faces: Any) -> int:
    if faces not in FACE_MODES:
        raise InvalidArgument(f"faces must be 'auto', 'detect' or 'none', got {faces!r}")
    return FACE_MODES[faces]


class Prediction(TypedDict):
    """What Model.predict and Model.predict_file return (eri_prediction, in Python terms).

    intensities:  {emotion: value in [0, 1]} for the seven EMOTIONS, in their order.
    frames_given: frames in the input (a file: decoded or estimated from its frame rate), 0 without video.
    frames_used:  frames the video branch read (the model's F per window), 0 when video was not used.
    video_span:   (first, last) timestamp in seconds of the frames used in a file; None for frames given in
                  memory (they carry no timestamps) or when no video was used.
    audio_used:   whether the audio branch read audio.
    audio_span:   (start, end) in seconds from the input's start of the audio used, or None.
    duration:     the input's length in seconds (the longer track), or None if unknown.
    windows:      1, or how many windows were averaged (long_input="windows").
    window:       the window length in seconds for long_input="windows", else None.
    warnings:     why to trust the estimate less: any of "random_weights" (untrained weights: the numbers mean
                  nothing), "no_video" / "no_audio" (a two-branch model got one modality; the other is zeroed),
                  "long_input" (much longer than the training clips: F frames spread over all of it), "no_face"
                  (no face found in any frame used: the model saw the centred square), "few_faces" (under half of
                  the frames used had a face of their own), "no_detector" (no face detector installed).
    face_coverage: the share of the frames used that had a face of their own (found, or a box given).
    warning_text: the warnings in words, "" if none.
    """
    intensities: Dict[str, float]
    frames_given: int
    frames_used: int
    video_span: Optional[Tuple[float, float]]
    audio_used: bool
    audio_span: Optional[Tuple[float, float]]
    duration: Optional[float]
    windows: int
    window: Optional[float]
    face_coverage: float
    warnings: List[str]
    warning_text: str


class ModelInfo(TypedDict):
    """What Model.info() returns (eri_model_details).

    preset: "dbn-base", "dbn-small", "dbn-tiny" (with "-video"/"-audio" for one branch) or "custom".
    has_video, has_audio: which branches the model has.
    frames: frames per clip the video branch samples (F; 0 without video).
    image_size: side of the square face image in pixels (0 without video).
    channels: 3 (RGB) or 1 (gray) the video branch works in (0 without video); any input format is converted.
    sample_rate: Hz the audio branch works at (0 without audio); any input rate is resampled.
    parameters: trainable parameters.
    random_weights: True for an untrained random initialisation (`eri init`): its estimates mean nothing.
    clip_seconds: median length of the training clips, or None if unknown.
    config: the model's configuration (the .eri file's eri.config) as a dict.
    provenance: what produced the weights, or None.
    metrics: evaluation results (a dict), or None.
    """
    preset: str
    has_video: bool
    has_audio: bool
    frames: int
    image_size: int
    channels: int
    sample_rate: int
    parameters: int
    random_weights: bool
    clip_seconds: Optional[float]
    config: Dict[str, Any]
    provenance: Optional[str]
    metrics: Optional[Dict[str, Any]]


class TimelinePoint(TypedDict):
    """One window of Model.timeline: its end in seconds from the file's start and its estimate."""
    window_end: float
    intensities: Dict[str, float]


LongInput = Literal["whole", "windows"]
PixelFormat = Literal["rgb", "bgr", "nv12", "i420", "yuyv"]
Progress = Callable[[float], Optional[bool]]


class _Owned:
    """A liberi handle freed by the C function named `_closer`; usable as a context manager."""
    _closer = ""
    _lib: ctypes.CDLL
    _handle: Optional[ctypes.c_void_p] = None

    def close(self) -> None:
        """Frees the C object now (also done when the object is garbage-collected or leaves a `with` block)."""
        handle, self._handle = self._handle, None
        if handle:
            getattr(self._lib, self._closer)(handle)

    def _live(self) -> ctypes.c_void_p:
        if not self._handle:
            raise InvalidArgument(f"this {type(self).__name__} is closed")
        return self._handle

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass

    def __reduce__(self) -> Any:
        # The C handle belongs to this process: a copy would free it twice, an unpickled one in another
        # process would point nowhere. Workers (Ray, multiprocessing) open their own.
        raise TypeError(f"a liberi.{type(self).__name__} holds a native handle and cannot be pickled or copied: "
                        f"open it in each worker (e.g. in the __init__ of a Ray Data map_batches class) and pass "
                        f"the .eri path around instead")

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _intensities(values: Any) -> Dict[str, float]:
    return {name: float(values[k]) for k, name in enumerate(EMOTIONS)}


class _ProgressBridge:
    """Calls the user's progress(fraction) from liberi's eri_progress_callback: False (or another false value but
    None) cancels; an exception inside it cancels and is raised again once liberi returns."""

    def __init__(self, progress: Optional[Progress]) -> None:
        if progress is not None and not callable(progress):
            raise InvalidArgument(f"progress must be a callable(fraction) -> bool | None, got {progress!r}")
        self.progress = progress
        self.error: Optional[BaseException] = None
        self.callback = _capi.ProgressCallback(self._call) if progress is not None else None

    def _call(self, fraction: float, user_data: Any) -> int:
        try:
            answer = self.progress(fraction)  # type: ignore[misc]
        except BaseException as e:  # noqa: B902 - carried over the C frames and raised again
            self.error = e
            return 1
        return 0 if answer is None or answer else 1


def _predict_options(lib: ctypes.CDLL, long_input: str, window: Optional[float],
                     bridge: _ProgressBridge, faces: str = "auto") -> _capi.PredictOptions:
    options = _capi.PredictOptions()
    _capi.check(lib, lib.eri_predict_options_init(ctypes.byref(options)))
    options.faces = face_mode(faces)
    if long_input not in ("whole", "windows"):
        raise InvalidArgument(f"long_input must be 'whole' or 'windows', got {long_input!r}")
    options.long_input = _capi.LONG_INPUT_WINDOWS if long_input == "windows" else _capi.LONG_INPUT_WHOLE
    if window is not None:
        if long_input != "windows":
            raise InvalidArgument("window= is the window length of long_input='windows'; pass long_input='windows' too")
        options.window_s = _inputs.seconds(window, "window")
        if not options.window_s > 0:
            raise InvalidArgument(f"window must be > 0 seconds, got {window!r}")
    if bridge.callback is not None:
        options.progress = bridge.callback
    return options


def _prediction(p: _capi.Prediction, in_memory: bool) -> Prediction:
    bits = int(p.warnings)
    names = [name for bit, name in WARNING_NAMES.items() if bits & bit]
    names += [f"unknown_{1 << k}" for k in range(32) if bits & (1 << k) and (1 << k) not in WARNING_NAMES]
    video = p.n_frames_used > 0 and not (in_memory and p.video_start_s == 0 and p.video_end_s == 0)
    return {
        "intensities": _intensities(p.intensities),
        "frames_given": int(p.n_frames_given),
        "frames_used": int(p.n_frames_used),
        "video_span": (float(p.video_start_s), float(p.video_end_s)) if video else None,
        "audio_used": bool(p.audio_used),
        "audio_span": (float(p.audio_start_s), float(p.audio_end_s)) if p.audio_used else None,
        "duration": float(p.duration_s) if p.duration_s > 0 else None,
        "windows": int(p.n_windows),
        "window": float(p.window_s) if p.window_s > 0 else None,
        "face_coverage": float(p.face_coverage),
        "warnings": names,
        "warning_text": (p.warning_text or b"").decode(errors="replace"),
    }


class Model(_Owned):
    """An opened .eri model (liberi's eri_model): estimates seven emotion intensities in [0, 1] from a face
    video and/or a voice.

        model = liberi.Model("model.eri")
        r = model.predict_file("clip.mp4")              # any container/codec FFmpeg reads, or WAV/FLAC/OGG
        r["intensities"]["Amusement"], r["warnings"]
        r = model.predict(frames=rgb_uint8_hwc, pcm=float32_mono, sample_rate=16000)

    Inputs (Model.predict, Stream.push_frame, Stream.push_pcm) follow one convention, numpy-style HWC RGB:
    one frame (H, W, 3|4|1) or (H, W); several as a list or an (N, H, W, C) stack; PIL images; uint8, or floats
    in [0, 1]; pixel_format="bgr" for OpenCV's BGR(A); raw "nv12"/"i420"/"yuyv" bytes with width= and height=.
    PCM (n,) or (n, channels), float in [-1, 1], int16 or int32. Inputs that could be misread (channels first,
    int32 pixels, floats beyond [0, 1], (channels, n) audio, …) raise InvalidArgument saying what to pass.

    Results are dicts (see liberi.Prediction): the intensities and what they were made from, with warnings
    (also issued once per call as a liberi.ReliabilityWarning unless warn=False).

    A model is immutable once open: any number of threads may predict with it at once. Use it as a context
    manager or call close() to free it early. Raises FileError (missing, unreadable), FormatError (not an
    .eri model), Unsupported (a newer format) or InvalidArgument (threads out of range) when opening.
    """
    _closer = "eri_model_close"

    def __init__(self, path: PathLike, threads: int = 0, face_model: Optional[PathLike] = None) -> None:
        """Opens a .eri model file. threads: compute threads, 0 = all cores (OpenBLAS's thread count is
        process-wide: the last model opened with threads > 0 sets it). face_model: the face detector's weights
        (face-mtcnn.safetensors) for predictions that search faces; None: $ERI_FACE_MODEL, else the copy
        installed next to liberi.so (`make models install`)."""
        self._lib = _capi.load_library()
        self.path: str = os.fsdecode(path)
        options = _capi.ModelOptions()
        _capi.check(self._lib, self._lib.eri_model_options_init(ctypes.byref(options)))
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise InvalidArgument(f"threads must be an int (0 = all cores), got {threads!r}")
        options.n_threads = threads
        self._face_model = os.fsencode(face_model) if face_model is not None else None  # kept alive for the call
        options.face_model = self._face_model
        handle = ctypes.c_void_p()
        _capi.check(self._lib, self._lib.eri_model_open(os.fsencode(path), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle

    def __repr__(self) -> str:
        return f"liberi.Model({self.path!r}{'' if self._handle else ', closed'})"

    @property
    def emotions(self) -> Tuple[str, ...]:
        """The seven emotion names, in the order of every result."""
        return EMOTIONS

    def info(self) -> ModelInfo:
        """What the model is: a dict with preset, has_video, has_audio, frames, image_size, channels,
        sample_rate, parameters, random_weights, clip_seconds, config (dict), provenance, metrics (see
        liberi.ModelInfo)."""
        i = _capi.ModelInfo()
        i.struct_size = ctypes.sizeof(_capi.ModelInfo)
        _capi.check(self._lib, self._lib.eri_model_get_info(self._live(), ctypes.byref(i)))

        def text(s: Optional[bytes]) -> Optional[str]:
            return s.decode(errors="replace") if s is not None else None

        metrics = text(i.metrics)
        return {"preset": text(i.preset) or "", "has_video": bool(i.has_video), "has_audio": bool(i.has_audio),
                "frames": int(i.n_frames), "image_size": int(i.image_size), "channels": int(i.n_channels),
                "sample_rate": int(i.sample_rate), "parameters": int(i.n_parameters),
                "random_weights": bool(i.random_weights),
                "clip_seconds": float(i.clip_seconds) if i.clip_seconds > 0 else None,
                "config": json.loads(text(i.config_json) or "{}"), "provenance": text(i.provenance),
                "metrics": json.loads(metrics) if metrics else None}

    def predict(self, frames: Any = None, pcm: Any = None, sample_rate: Optional[int] = None, *,
                boxes: Any = None, pixel_format: PixelFormat = "rgb", width: Optional[int] = None,
                height: Optional[int] = None, long_input: LongInput = "whole", window: Optional[float] = None,
                faces: Faces = "auto", progress: Optional[Progress] = None, warn: bool = True) -> Prediction:
        """Estimates one clip from frames and/or audio in memory (eri_predict_av_ex).

        frames: one frame (H, W, C) / (H, W) / PIL image, a list of frames (sizes may differ), or an
            (N, H, W, C) stack; C = 3 RGB, 4 RGBA, 1 gray; uint8, or floats in [0, 1] (× 255, rounded). The
            model samples its F frames evenly over them.
        pcm: (n,) mono or (n, channels) with 1…8 channels (averaged); float in [-1, 1], int16 (÷ 32768) or
            int32 (÷ 2147483648). Needs sample_rate (Hz, 4000…768000: it is resampled).
        boxes: face boxes (x, y, w, h) in pixels: one (4,) for every frame, or (N, 4) one per frame; frames
            without one are searched for a face (see faces).
        faces: "auto" (default): frames without a box are searched when a face detector is installed, else the
            model sees their centred square (warning "no_detector"); "detect": as auto, but a missing detector
            raises Unsupported; "none": no search (the centred square where no box is given).
        pixel_format: "rgb" (default) or "bgr" (OpenCV; 4 channels: BGRA); or "nv12", "i420", "yuyv" for raw
            YUV frames given as uint8 buffers of that layout, with width= and height= in pixels.
        long_input, window, progress, warn: as in predict_file.

        Returns a liberi.Prediction dict ("intensities", "frames_given", "frames_used", "audio_used",
        "audio_span", "duration", "windows", "window", "warnings", "warning_text"; "video_span" is None:
        frames in memory have no timestamps). Raises InvalidArgument (an input it would misread, a bad size,
        box, rate), MissingModality (frames for an audio-only model, pcm for a video-only one, or neither),
        Cancelled.
        """
        handle = self._live()
        if frames is None and (boxes is not None or width is not None or height is not None):
            raise InvalidArgument("boxes=, width= and height= describe frames, but no frames were given")
        video = _inputs.frames_to_images(frames, pixel_format=pixel_format, boxes=boxes, width=width, height=height) \
            if frames is not None else None
        samples, n_samples, channels, rate = None, 0, 0, 0
        if pcm is not None:
            if sample_rate is None:
                raise InvalidArgument("pcm needs sample_rate (Hz)")
            audio, n_samples, channels = _inputs.pcm_to_float(pcm)
            rate = _inputs.sample_rate_value(sample_rate)
            samples = audio.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        elif sample_rate is not None:
            raise InvalidArgument("sample_rate given without pcm")
        bridge = _ProgressBridge(progress)
        options = _predict_options(self._lib, long_input, window, bridge, faces)
        out = _capi.Prediction()
        out.struct_size = ctypes.sizeof(_capi.Prediction)
        status = self._lib.eri_predict_av_ex(handle, video.images if video else None, video.count if video else 0,
                                             samples, n_samples, rate, channels, ctypes.byref(options),
                                             ctypes.byref(out))
        return self._finish(status, out, bridge, warn, in_memory=True)

    def predict_file(self, path: PathLike, *, long_input: LongInput = "whole", window: Optional[float] = None,
                     faces: Faces = "auto", progress: Optional[Progress] = None, warn: bool = True) -> Prediction:
        """Estimates a media file (eri_predict_file_ex): any container/codec FFmpeg reads (its video and/or audio
        track), or an audio file libsndfile reads (WAV, FLAC, OGG). Only the frames the model samples are decoded.

        long_input: "whole" (default): one estimate with F frames spread over the whole input; "windows": the
            mean of the estimates of consecutive windows of `window` seconds (default: the model's training clip
            length, else 10 s).
        faces: "auto", "detect" or "none", as in predict: the frames used are searched for the subject's face.
        progress: called with the fraction done in [0, 1]; return False to stop (raises liberi.Cancelled).
            An exception inside it stops the call too and is raised again.
        warn: issue a liberi.ReliabilityWarning when the result has warnings (once per call).

        Returns a liberi.Prediction dict. Raises FileError (missing, unreadable, a folder), FormatError (not
        media), DecodeError (corrupt), MissingModality (no track the model can use), Cancelled.
        """
        handle = self._live()
        bridge = _ProgressBridge(progress)
        options = _predict_options(self._lib, long_input, window, bridge, faces)
        out = _capi.Prediction()
        out.struct_size = ctypes.sizeof(_capi.Prediction)
        status = self._lib.eri_predict_file_ex(handle, os.fsencode(path), ctypes.byref(options), ctypes.byref(out))
        return self._finish(status, out, bridge, warn, in_memory=False)

    def _finish(self, status: int, out: _capi.Prediction, bridge: _ProgressBridge, warn: bool,
                in_memory: bool) -> Prediction:
        if bridge.error is not None:
            raise bridge.error
        _capi.check(self._lib, status)
        result = _prediction(out, in_memory)
        if warn and result["warnings"]:
            warnings.warn(ReliabilityWarning(result["warning_text"] or ", ".join(result["warnings"])), stacklevel=3)
        return result

    def timeline(self, path: PathLike, window: Optional[float] = None, hop: float = 0.5) -> List[TimelinePoint]:
        """Estimates windows of `window` seconds (None: the model's training clip length, else 10 s) ending every
        `hop` seconds along a media file, as a Stream replaying it would (eri_timeline_file): hop is rounded to a
        whole number of the stream's steps (window / the model's frames), at least one, and the points lie at
        k·hop for k = 1, 2, … Returns a list of {"window_end": seconds from the file's start, "intensities":
        {emotion: value}}, in order; liberi.to_dataframe turns it into a table.

        Raises Unsupported when the loaded liberi.so has no eri_timeline_file, and what predict_file raises.
        """
        handle = self._live()
        if not hasattr(self._lib, "eri_timeline_file"):
            raise Unsupported(f"this liberi.so ({self._lib.eri_version().decode()}, "
                              f"{_capi.library_file(self._lib)}) has no eri_timeline_file")
        points: List[TimelinePoint] = []
        errors: List[BaseException] = []

        def on_window(window_end: float, values: Any, user_data: Any) -> int:
            try:
                points.append({"window_end": float(window_end), "intensities": _intensities(values)})
            except BaseException as e:  # noqa: B902 - raised again below
                errors.append(e)
                return 1
            return 0

        callback = _capi.TimelineCallback(on_window)
        status = self._lib.eri_timeline_file(handle, os.fsencode(path),
                                             0.0 if window is None else _inputs.seconds(window, "window"),
                                             _inputs.seconds(hop, "hop"), callback, None)
        if errors:
            raise errors[0]
        _capi.check(self._lib, status)
        return points


def to_dataframe(points: Any) -> "pandas.DataFrame":
    """A pandas DataFrame of results that have "intensities": Model.timeline's points (indexed by window_end),
    Stream.read's estimates (likewise), or Model.predict's results (one row each). One column per emotion,
    then the results' other keys. Needs pandas (pip install 'liberi[pandas]'), imported only here."""
    try:
        import pandas
    except ImportError:
        raise ImportError("liberi.to_dataframe needs pandas: pip install 'liberi[pandas]'") from None
    rows = []
    for k, point in enumerate(points):
        if not isinstance(point, dict) or "intensities" not in point:
            raise InvalidArgument(f"points[{k}] is not a liberi result (a dict with 'intensities')")
        row = dict(point["intensities"])
        row.update((key, value) for key, value in point.items() if key != "intensities")
        rows.append(row)
    frame = pandas.DataFrame(rows, columns=list(EMOTIONS) + [key for key in (rows[0] if rows else {})
                                                             if key not in EMOTIONS])
    if rows and all("window_end" in row for row in rows):
        frame = frame.set_index("window_end")
    return frame

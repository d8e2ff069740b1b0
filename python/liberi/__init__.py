"""liberi: Emotional Reaction Intensity from face video and audio (Python bindings of liberi.so, via ctypes).

    import liberi
    model = liberi.Model("model.eri")
    result = model.predict_file("clip.mp4")
    result["intensities"]     # {"Adoration": 0.41, …, "Surprise": 0.12}, each in [0, 1]
    result["warnings"]        # e.g. ["random_weights"]: why to trust it less
    model.predict(frames=frame_hwc_uint8, pcm=pcm_float32, sample_rate=16000)

Inputs follow one convention (numpy-style HWC, RGB): a frame is (H, W, 3) RGB, (H, W, 4) RGBA, (H, W, 1) or
(H, W) gray, or a PIL image; several frames are a list or an (N, H, W, C) stack; pixels are uint8, or floats in
[0, 1]; pixel_format="bgr" reads OpenCV's BGR(A); raw NV12 / I420 / YUYV needs pixel_format= and width=,
height=. PCM is (n,) or (n, channels), float in [-1, 1], int16 or int32. Anything that could be misread (CHW,
int32 pixels, floats beyond [0, 1], (channels, n) audio, …) raises liberi.InvalidArgument saying what to pass.

Frames without a face box are searched for the subject's face (faces="auto"; MTCNN, installed by
`make models install`); liberi.Detector runs that detector on its own.

Names: Model (predict, predict_file, timeline, info), Stream (live input), Detector (faces), to_dataframe, the exceptions
(Error and its subclasses, one per eri_status), ReliabilityWarning, EMOTIONS, version(), library_file(),
__version__. The C API itself (ctypes structs and signatures, the loading of liberi.so) is liberi._capi.

liberi.so is loaded on first use: $ERI_LIBRARY (a file or a folder) if set, else the copy inside this package
(the wheel from `make wheel`), else the system's library path, else /usr/local/lib and ~/.local/lib.
"""
from __future__ import annotations

from typing import List

from . import _capi
from ._errors import (Cancelled, DecodeError, Error, FileError, FormatError, InternalError, InvalidArgument,
                      LibraryError, MissingModality, OutOfMemory, ReliabilityWarning, Status, Unsupported)
from ._faces import Detector, Face
from ._model import EMOTIONS, Model, ModelInfo, Prediction, TimelinePoint, to_dataframe
from ._stream import Stream, StreamEstimate, StreamSpan
from ._version import PACKAGE_VERSION

#: This package's version: the liberi (include/eri.h) version it was made for; see version() for the library's.
__version__: str = PACKAGE_VERSION

__all__ = ["Model", "Stream", "Detector", "Face", "to_dataframe", "EMOTIONS", "version", "library_file", "load_library", "__version__",
           "Prediction", "ModelInfo", "TimelinePoint", "StreamEstimate", "StreamSpan", "Status",
           "Error", "InvalidArgument", "FileError", "LibraryError", "FormatError", "Unsupported", "MissingModality",
           "DecodeError", "OutOfMemory", "Cancelled", "InternalError", "ReliabilityWarning", "export_onnx"]


for _public in (Model, Stream, Detector, Face, to_dataframe, Prediction, ModelInfo, TimelinePoint, StreamEstimate, StreamSpan):
    _public.__module__ = "liberi"  # help(), reprs and tracebacks name liberi.Model, not liberi._model.Model


def load_library() -> object:
    """Loads liberi.so now (it is otherwise loaded on first use) and returns the ctypes library; raises
    LibraryError saying where it looked and why each place failed."""
    return _capi.load_library()


def version() -> str:
    """The loaded liberi.so's version, "MAJOR.MINOR.PATCH" (eri_version()); loads the library."""
    return str(_capi.load_library().eri_version().decode())


def library_file() -> str:
    """The path of the liberi.so in use; loads the library."""
    return _capi.library_file(_capi.load_library())


def export_onnx(eri_path: str, onnx_path: str, opset: int = 17) -> List[str]:
    """Exports the .eri model's network to ONNX (needs the torch extra: pip install liberi[torch]); the
    inputs are liberi's preprocessed frames and MFCC (liberi.torch.onnx documents them). Returns the input names."""
    import importlib
    names = importlib.import_module("liberi.torch.onnx").export_onnx(eri_path, onnx_path, opset=opset)
    return [str(n) for n in names]

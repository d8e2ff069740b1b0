"""liberi.Detector: the face detector (MTCNN) the pipeline uses, on its own (eri_detector_*)."""
from __future__ import annotations

import ctypes
import os
from typing import Any, List, Optional, Sequence, Tuple, TypedDict

from . import _capi, _inputs
from ._errors import InvalidArgument
from ._model import PathLike, PixelFormat, _Owned


class Face(TypedDict):
    """One face eri_detect_faces found.

    box: (x, y, w, h) in pixels of the image (top-left corner and size).
    score: the detector's probability, 0…1.
    landmarks: five (x, y) points: the eye on the image's left, the other eye, the nose tip, the mouth corner on
        the image's left, the other corner (MTCNN's order).
    """
    box: Tuple[float, float, float, float]
    score: float
    landmarks: List[Tuple[float, float]]


class Detector(_Owned):
    """Finds faces in images: MTCNN (P-Net, R-Net, O-Net; facenet-pytorch 2.6.0's weights and cascade), the
    detector Model.predict and Stream use when frames come without boxes.

        with liberi.Detector() as d:
            for face in d.detect(rgb_uint8_hwc):      # strongest first
                face["box"], face["score"], face["landmarks"]

    weights: face-mtcnn.safetensors (None: $ERI_FACE_MODEL, else the copy installed next to liberi.so by
    `make models install`). min_face: the smallest face searched for, in pixels (4…100000). thresholds: the
    three stages' probability thresholds. scale_factor: the image pyramid's step (0.1…0.95). max_side: larger
    images are first reduced to this side (min_face then counts pixels of the reduced copy). A detector may be used by several threads at once. Raises FileError
    or Unsupported (no weights found), FormatError (not MTCNN weights), InvalidArgument (options out of range).
    """
    _closer = "eri_detector_close"

    def __init__(self, weights: Optional[PathLike] = None, *, min_face: float = 20.0,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7), scale_factor: float = 0.709,
                 max_side: int = 1920) -> None:
        self._lib = _capi.load_library()
        options = _capi.DetectorOptions()
        _capi.check(self._lib, self._lib.eri_detector_options_init(ctypes.byref(options)))
        self._weights = os.fsencode(weights) if weights is not None else None
        options.weights_path = self._weights
        options.min_face = _inputs.number(min_face, "min_face")
        if len(thresholds) != 3:
            raise InvalidArgument(f"thresholds must be three probabilities (P-, R-, O-Net), got {thresholds!r}")
        for k, t in enumerate(thresholds):
            options.thresholds[k] = _inputs.number(t, "thresholds")
        options.scale_factor = _inputs.number(scale_factor, "scale_factor")
        if isinstance(max_side, bool) or not isinstance(max_side, int):
            raise InvalidArgument(f"max_side must be an int, got {max_side!r}")
        options.max_side = max_side
        handle = ctypes.c_void_p()
        _capi.check(self._lib, self._lib.eri_detector_open(ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle

    def detect(self, image: Any, *, pixel_format: PixelFormat = "rgb", width: Optional[int] = None,
               height: Optional[int] = None) -> List[Face]:
        """The faces of one image, strongest first: (H, W, C) / (H, W) / a PIL image, uint8 or floats in [0, 1],
        or raw YUV with pixel_format/width/height, as Model.predict reads frames."""
        video = _inputs.frames_to_images(image, pixel_format=pixel_format, width=width, height=height,
                                         what="image", single=True)
        handle = self._live()
        capacity = 16
        while True:
            faces = (_capi.Face * capacity)()
            n = ctypes.c_size_t()
            _capi.check(self._lib, self._lib.eri_detect_faces(handle, video.images, faces, capacity, ctypes.byref(n)))
            if n.value <= capacity:
                break
            capacity = int(n.value)
        return [{"box": (float(f.x), float(f.y), float(f.w), float(f.h)), "score": float(f.score),
                 "landmarks": [(float(f.landmarks[2 * k]), float(f.landmarks[2 * k + 1])) for k in range(5)]}
                for f in faces[:n.value]]

    def __repr__(self) -> str:
        return f"liberi.Detector({'' if self._handle else 'closed'})"

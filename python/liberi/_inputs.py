"""Conversion of Python inputs to what the C API reads, with one convention and no guessing.

Frames (numpy-style HWC, RGB unless pixel_format="bgr"):
    one frame            (H, W, C) or (H, W) array, or a PIL-like image
    several frames       a list/tuple of such frames (sizes may differ), or an (N, H, W, C) array
    C                    3: RGB (BGR with pixel_format="bgr"); 4: RGBA (BGRA); 1 or a 2-D array: gray
    dtype                uint8 as is; floating point in [0, 1], scaled by 255 and rounded; anything else refused
    refused              CHW / NCHW (channels first), any shape that is not one of the above, ints other than
                         uint8, bool, floats outside [0, 1], NaN
    raw YUV              pixel_format="nv12" | "i420" | "yuyv" with width= and height=: per frame a uint8 buffer
                         of the packed layout (see `_yuv_shapes`), a list of them, or a stack of them

PCM: (n,) mono or (n, channels) with 1…8 channels; float in [-1, 1] (up to ±1.5 tolerated), int16 / 32768,
int32 / 2147483648; uint8 (offset binary) and other dtypes refused; (channels, n) refused.

Every refusal raises InvalidArgument with a message that names the input, what it is and what to pass.
"""
from __future__ import annotations

import ctypes
import numbers
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _capi
from ._errors import InvalidArgument

PIXEL_FORMATS = ("rgb", "bgr", "nv12", "i420", "yuyv")
YUV_FORMATS = {"nv12": _capi.PIXEL_NV12, "i420": _capi.PIXEL_I420, "yuyv": _capi.PIXEL_YUYV}
PCM_MAGNITUDE = 1.5  # liberi's InputLimits.sampleMagnitude
MAX_CHANNELS = 8
_INT32_MAX = 2**31 - 1


class Frames:
    """eri_image structs over converted pixels; the pixel arrays in `keep` must outlive the C call."""

    def __init__(self, images: Any, count: int, keep: List[np.ndarray]) -> None:
        self.images = images  # a ctypes array of _capi.Image, or None when count is 0
        self.count = count
        self.keep = keep


def _shape(a: Any) -> str:
    return "(" + ", ".join(str(d) for d in a) + ")" if len(a) != 1 else f"({a[0]},)"


def _is_pil(x: Any) -> bool:
    """PIL.Image.Image and look-alikes: an image mode, a (width, height) size and its bytes."""
    return hasattr(x, "mode") and hasattr(x, "size") and hasattr(x, "tobytes") and not isinstance(x, np.ndarray)


# PIL modes read without conversion: mode → channels of the (H, W, C) array (0: 2-D gray).
_PIL_MODES = {"RGB": 3, "RGBA": 4, "RGBX": 4, "L": 0}


def _pil_array(image: Any, pixel_format: str, what: str) -> np.ndarray:
    mode = str(image.mode)
    if mode not in _PIL_MODES:
        raise InvalidArgument(f"{what}: a PIL image in mode {mode!r} is not read; "
                              f"pass image.convert('RGB') (or 'L' for gray)")
    if pixel_format == "bgr" and mode != "L":
        raise InvalidArgument(f"{what}: a PIL image in mode {mode!r} holds RGB, not BGR; drop pixel_format='bgr'")
    width, height = (int(v) for v in image.size)
    channels = _PIL_MODES[mode]
    if hasattr(image, "__array_interface__"):
        array = np.asarray(image)
    else:
        array = np.frombuffer(image.tobytes(), dtype=np.uint8)
    expected = (height, width, channels) if channels else (height, width)
    if array.dtype != np.uint8 or array.size != int(np.prod(expected)):
        raise InvalidArgument(f"{what}: a PIL image {width}×{height} in mode {mode!r} gave {array.size} values "
                              f"of {array.dtype}, not {_shape(expected)} uint8")
    return array.reshape(expected)


def _as_array(x: Any, what: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    try:
        array = np.asarray(x)
    except Exception as e:  # ragged lists, objects numpy cannot read
        raise InvalidArgument(f"{what}: cannot read a {type(x).__name__} as an array ({e})") from None
    if array.dtype == object:
        raise InvalidArgument(f"{what}: cannot read a {type(x).__name__} as a numeric array (it gives dtype object)")
    return array


def _is_frame_item(x: Any) -> bool:
    """Whether a list item is a frame of its own (an array or image), not a row of nested Python lists."""
    return _is_pil(x) or isinstance(x, np.ndarray) or hasattr(x, "__array_interface__") or hasattr(x, "__array__")


def _pixels_u8(array: np.ndarray, what: str) -> np.ndarray:
    """uint8 pixels from uint8 (as is) or floats in [0, 1] (× 255, rounded); InvalidArgument for anything else."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype.kind == "f":
        if array.size == 0:
            return array.astype(np.uint8)
        finite = np.isfinite(array)
        if not finite.all():
            raise InvalidArgument(f"{what}: float pixels contain NaN or infinity; floats must lie in [0, 1]")
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            hint = (" — values 0…255 stored as floats: pass np.asarray(frames, np.uint8) or frames / 255"
                    if lo >= 0.0 and hi <= 255.0 else "")
            raise InvalidArgument(f"{what}: float pixels must lie in [0, 1] (they are scaled by 255); "
                                  f"these span [{lo:g}, {hi:g}]{hint}")
        return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    if dtype.kind in "iub":
        if dtype.kind == "b":
            raise InvalidArgument(f"{what}: pixels of dtype bool are not read; pass uint8 (0…255, e.g. "
                                  f"mask.astype(np.uint8) * 255) or floats in [0, 1]")
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        fits = 0 <= lo and hi <= 255
        hint = ("these values lie in 0…255, so np.asarray(frames, np.uint8) is exact" if fits else
                f"these span {lo}…{hi}: scale them to 0…255 first (16-bit: (frames >> 8).astype(np.uint8))")
        raise InvalidArgument(f"{what}: pixels of dtype {dtype} are not read (no guessing their range); "
                              f"pass uint8 (0…255) or floats in [0, 1]; {hint}")
    raise InvalidArgument(f"{what}: pixels of dtype {dtype} are not read; pass uint8 (0…255) or floats in [0, 1]")


def _single_frame_shape_error(shape: Tuple[int, ...], what: str) -> InvalidArgument:
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] > 4:
        return InvalidArgument(f"{what}: shape {_shape(shape)} looks like channels-first (C, H, W); liberi reads "
                               f"(H, W, C): pass frame.transpose(1, 2, 0) (or, for {shape[0]} gray frames, "
                               f"an ({shape[0]}, H, W, 1) stack)")
    if len(shape) == 3:
        return InvalidArgument(f"{what}: shape {_shape(shape)} is not a frame: a frame is (H, W, C) with C = 3 (RGB), "
                               f"4 (RGBA) or 1 (gray), or (H, W) gray; several gray frames are (N, H, W, 1)")
    return InvalidArgument(f"{what}: shape {_shape(shape)} is not a frame: pass (H, W, C) with C in 1, 3, 4, or (H, W)")


def _frame_list(frames: Any, pixel_format: str, what: str) -> List[np.ndarray]:
    """Each frame as a uint8 (H, W, C) or (H, W) array (views where possible), from any accepted form."""
    if _is_pil(frames):
        return [_pil_array(frames, pixel_format, what)]
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise InvalidArgument(f"{what}: an empty {type(frames).__name__}; pass at least one frame")
        if all(_is_frame_item(item) for item in frames):
            out = []
            for k, item in enumerate(frames):
                label = f"{what}[{k}]"
                array = _pil_array(item, pixel_format, label) if _is_pil(item) else _as_array(item, label)
                if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
                    pass
                elif array.ndim != 2:
                    if array.ndim == 4:
                        raise InvalidArgument(f"{label}: shape {_shape(array.shape)} is a stack of frames; each item "
                                              f"of a frame list is one (H, W, C) or (H, W) frame")
                    raise _single_frame_shape_error(array.shape, label)
                out.append(_pixels_u8(array, label))
            return out
        frames = _as_array(frames, what)  # nested Python lists: one array
    array = _as_array(frames, what)
    shape = array.shape
    if array.ndim == 2:
        return [_pixels_u8(array, what)]
    if array.ndim == 3:
        if shape[-1] in (1, 3, 4):
            return [_pixels_u8(array, what)]
        raise _single_frame_shape_error(shape, what)
    if array.ndim == 4:
        if shape[-1] in (1, 3, 4):
            if shape[0] == 0:
                raise InvalidArgument(f"{what}: shape {_shape(shape)} holds no frames")
            return list(_pixels_u8(array, what))
        if shape[1] in (1, 3, 4):
            raise InvalidArgument(f"{what}: shape {_shape(shape)} looks like channels-first (N, C, H, W); liberi "
                                  f"reads (N, H, W, C): pass frames.transpose(0, 2, 3, 1)")
        raise InvalidArgument(f"{what}: shape {_shape(shape)} is not a stack of frames: pass (N, H, W, C) with C "
                              f"= 3 (RGB), 4 (RGBA) or 1 (gray)")
    raise InvalidArgument(f"{what}: a {array.ndim}-D array of shape {_shape(shape)} is not frames: pass one frame "
                          f"(H, W, C) or (H, W), a list of frames, or a stack (N, H, W, C)")


def _fill_rgb(image: Any, frame: np.ndarray, pixel_format: str, what: str) -> np.ndarray:
    """Points `image` at `frame` (copied to a contiguous array when its strides cannot be expressed); returns
    the array that must stay alive."""
    height, width = int(frame.shape[0]), int(frame.shape[1])
    channels = 1 if frame.ndim == 2 else int(frame.shape[2])
    if height == 0 or width == 0:
        raise InvalidArgument(f"{what}: an empty frame of shape {_shape(frame.shape)}")
    if frame.ndim == 2:
        frame = frame[:, :, None]
    row, pixel, sample = frame.strides
    if not (sample == 1 and pixel == channels and width * channels <= row <= _INT32_MAX):
        frame = np.ascontiguousarray(frame)  # columns or channels not packed, or rows reversed
        row = frame.strides[0]
    bgr = pixel_format == "bgr"
    image.format = {1: _capi.PIXEL_GRAY8, 3: _capi.PIXEL_BGR24 if bgr else _capi.PIXEL_RGB24,
                    4: _capi.PIXEL_BGRA32 if bgr else _capi.PIXEL_RGBA32}[channels]
    image.data = frame.ctypes.data
    image.width, image.height, image.stride = width, height, row
    return frame


def _yuv_shapes(pixel_format: str, width: int, height: int) -> Tuple[int, List[Tuple[int, ...]]]:
    """(bytes of one packed frame, the array shapes one frame may have). NV12: a Y plane of height rows of
    width bytes, then ⌈height/2⌉ rows of 2⌈width/2⌉ interleaved U, V bytes; I420: the Y plane, then U and V
    planes of ⌈height/2⌉ rows of ⌈width/2⌉ bytes; YUYV: height rows of 2·width bytes. As a 1-D buffer of that
    many bytes, or 2-D with rows of width bytes (NV12/I420, OpenCV's (height·3/2, width) for even sizes) or of
    2·width bytes (YUYV; also (height, width, 2) as OpenCV holds it)."""
    cw, ch = (width + 1) // 2, (height + 1) // 2
    if pixel_format == "yuyv":
        size = 2 * width * height
        return size, [(size,), (height, 2 * width), (height, width, 2)]
    size = width * height + 2 * cw * ch
    shapes: List[Tuple[int, ...]] = [(size,)]
    if size % width == 0:
        shapes.append((size // width, width))
    return size, shapes


def _yuv_list(frames: Any, pixel_format: str, width: int, height: int, what: str) -> List[np.ndarray]:
    size, shapes = _yuv_shapes(pixel_format, width, height)
    expected = " or ".join(_shape(s) for s in shapes)

    def one(x: Any, label: str) -> np.ndarray:
        array = np.frombuffer(x, dtype=np.uint8) if isinstance(x, (bytes, bytearray, memoryview)) else _as_array(x, label)
        if array.dtype != np.uint8:
            raise InvalidArgument(f"{label}: raw {pixel_format} frames are bytes (uint8), not {array.dtype}")
        if array.shape not in shapes:
            raise InvalidArgument(f"{label}: shape {_shape(array.shape)} is not one {width}×{height} {pixel_format} "
                                  f"frame: expected {expected} ({size} bytes)")
        return np.ascontiguousarray(array).reshape(-1)

    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise InvalidArgument(f"{what}: an empty {type(frames).__name__}; pass at least one frame")
        return [one(item, f"{what}[{k}]") for k, item in enumerate(frames)]
    if isinstance(frames, (bytes, bytearray, memoryview)):
        return [one(frames, what)]
    array = _as_array(frames, what)
    if array.shape in shapes:
        return [one(array, what)]
    if array.ndim >= 2 and array.shape[1:] in shapes and array.shape[0] > 0:
        return [one(array[k], f"{what}[{k}]") for k in range(array.shape[0])]
    raise InvalidArgument(f"{what}: shape {_shape(array.shape)} is not one {width}×{height} {pixel_format} frame: "
                          f"expected {expected} ({size} bytes), or a stack or list of them")


def _fill_yuv(image: Any, raw: np.ndarray, pixel_format: str, width: int, height: int) -> None:
    cw, ch = (width + 1) // 2, (height + 1) // 2
    image.format = YUV_FORMATS[pixel_format]
    image.data = raw.ctypes.data
    image.width, image.height = width, height
    if pixel_format == "yuyv":
        image.stride = 2 * width
        return
    image.stride = width
    image.chroma = raw.ctypes.data + width * height
    if pixel_format == "nv12":
        image.chroma_stride = 2 * cw
    else:
        image.chroma_stride = cw
        image.chroma_v = raw.ctypes.data + width * height + cw * ch


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidArgument(f"{name} must be a positive integer (pixels), got {value!r}")
    return int(value)


def check_pixel_format(pixel_format: Any) -> str:
    if pixel_format not in PIXEL_FORMATS:
        raise InvalidArgument(f"pixel_format {pixel_format!r} is not one of " + ", ".join(map(repr, PIXEL_FORMATS)))
    return str(pixel_format)


def frames_to_images(frames: Any, *, pixel_format: str = "rgb", boxes: Any = None, width: Optional[int] = None,
                     height: Optional[int] = None, what: str = "frames", single: bool = False) -> Frames:
    """eri_images for `frames` in any accepted form (see the module's docstring); `single`: exactly one frame."""
    pixel_format = check_pixel_format(pixel_format)
    if pixel_format in YUV_FORMATS:
        if width is None or height is None:
            raise InvalidArgument(f"{what}: raw {pixel_format} frames need width= and height= (pixels)")
        w, h = _size(width, "width"), _size(height, "height")
        if pixel_format == "yuyv" and w % 2:
            raise InvalidArgument(f"{what}: yuyv needs an even width (pixels come in pairs sharing U and V); got {w}")
        arrays = _yuv_list(frames, pixel_format, w, h, what)
    else:
        if width is not None or height is not None:
            raise InvalidArgument(f"{what}: width= and height= are for raw YUV (pixel_format='nv12', 'i420', "
                                  f"'yuyv'); {pixel_format} frames carry their size in their shape")
        arrays = _frame_list(frames, pixel_format, what)
    n = len(arrays)
    if single and n != 1:
        raise InvalidArgument(f"{what}: {n} frames given where one is expected (push them one at a time, each "
                              f"with its timestamp)")
    box_rows = boxes_array(boxes, n, what)
    images = (_capi.Image * n)()
    keep: List[np.ndarray] = []
    for k, array in enumerate(arrays):
        image = images[k]
        if pixel_format in YUV_FORMATS:
            _fill_yuv(image, array, pixel_format, w, h)
            keep.append(array)
        else:
            keep.append(_fill_rgb(image, array, pixel_format, f"{what}[{k}]" if n > 1 else what))
        if box_rows is not None:
            image.has_box = 1
            image.box_x, image.box_y, image.box_w, image.box_h = (float(v) for v in box_rows[k])
    return Frames(images, n, keep)


def boxes_array(boxes: Any, n: int, what: str = "frames") -> Optional[np.ndarray]:
    """(n, 4) float face boxes (x, y, w, h in pixels) from None, one box (4,) for every frame, or (n, 4)."""
    if boxes is None:
        return None
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"boxes: cannot read {type(boxes).__name__} as numbers ({e})") from None
    if array.shape == (4,):
        array = np.broadcast_to(array, (n, 4))
    elif array.shape != (n, 4):
        raise InvalidArgument(f"boxes: shape {_shape(array.shape)} for {n} frame{'s' if n != 1 else ''}: pass one "
                              f"(x, y, w, h) for every frame, shape (4,), or one per frame, shape ({n}, 4)")
    if not np.isfinite(array).all():
        raise InvalidArgument("boxes: NaN or infinite values")
    return array


def pcm_to_float(pcm: Any, what: str = "pcm") -> Tuple[np.ndarray, int, int]:
    """(C-contiguous float32 samples (n, channels), n, channels) from an accepted PCM array."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"{what}: raw bytes have no sample type; pass np.frombuffer(data, np.int16) "
                              f"(or float32/int32) reshaped to (n, channels)")
    array = _as_array(pcm, what)
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 2:
        n, channels = array.shape
        if n <= MAX_CHANNELS < channels:
            raise InvalidArgument(f"{what}: shape {_shape(array.shape)} looks like (channels, samples); liberi "
                                  f"reads (samples, channels): pass pcm.T")
        if channels > MAX_CHANNELS:
            raise InvalidArgument(f"{what}: shape {_shape(array.shape)} has {channels} channels; liberi reads 1…8 "
                                  f"as (samples, channels)")
    else:
        raise InvalidArgument(f"{what}: a {array.ndim}-D array of shape {_shape(array.shape)}; pass (n,) mono or "
                              f"(n, channels)")
    n, channels = array.shape
    if n == 0 or channels == 0:
        raise InvalidArgument(f"{what}: shape {_shape(array.shape)} holds no samples")
    dtype = array.dtype
    if dtype.kind == "f":
        values = np.ascontiguousarray(array, dtype=np.float32)
        bad = ~(np.abs(array) <= PCM_MAGNITUDE)  # NaN too
        if bad.any():
            index = int(np.flatnonzero(bad.reshape(-1))[0])
            value = array.reshape(-1)[index]
            why = (f"outside ±{PCM_MAGNITUDE}: PCM is float in [-1, 1] (int16 samples divided by 32768)"
                   if np.isfinite(value) else "NaN or infinite")
            raise InvalidArgument(f"{what}: sample {index // channels} of channel {index % channels} is {value:g}, {why}")
    elif dtype == np.int16:
        values = np.ascontiguousarray(array, dtype=np.float32) / np.float32(32768.0)
    elif dtype == np.int32:
        values = (array.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif dtype == np.uint8:
        raise InvalidArgument(f"{what}: 8-bit PCM (uint8) is offset binary (128 = silence) and is not guessed; "
                              f"pass (pcm.astype(np.float32) - 128) / 128")
    else:
        raise InvalidArgument(f"{what}: PCM of dtype {dtype} is not read; pass float32/float64 in [-1, 1], int16 "
                              f"(÷ 32768) or int32 (÷ 2147483648)")
    return np.ascontiguousarray(values), n, channels


def sample_rate_value(sample_rate: Any) -> int:
    """The sample rate as an int (an integral number), else InvalidArgument."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real) or \
            not float(sample_rate).is_integer():
        raise InvalidArgument(f"sample_rate must be a whole number of Hz, got {sample_rate!r}")
    return int(float(sample_rate))


def seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a number of seconds, got {value!r}")
    return float(value)


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    return float(value)

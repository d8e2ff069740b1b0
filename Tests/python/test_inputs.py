"""Every input convention of the liberi Python package, as a table: each accepted
form gives exactly (bit for bit) what its canonical form gives (an (N, H, W, C)
uint8 stack, RGB; float32 (n, channels) PCM in [-1, 1]; raw YUV as the C API
reads it), and each refused form raises liberi.InvalidArgument with a message
naming the problem. Never plausible numbers for a wrong reading.

The six silent misreads of the old `eri` package are the cases marked MISREAD
(first committed as tests against that package, where all six failed).

    ERI_CLI=/prefix/bin/eri ERI_LIBRARY=/prefix/lib/liberi.so python -m pytest -q Tests/python/test_inputs.py

Run against the source tree (python/ on sys.path) unless a `liberi` package is
installed (the wheel test in Tests/host/run.sh runs it against the wheel).
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from typing import Any, Callable, List, NamedTuple

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if importlib.util.find_spec("liberi") is None:
    sys.path.insert(0, os.path.join(REPO, "python"))
import liberi  # noqa: E402
from liberi import _capi  # noqa: E402


def eri_cli() -> str:
    cli = os.environ.get("ERI_CLI") or (os.path.join(os.environ["ERI_PREFIX"], "bin", "eri")
                                        if os.environ.get("ERI_PREFIX") else shutil.which("eri"))
    if not cli:
        pytest.skip("no eri tool: set ERI_CLI or ERI_PREFIX")
    return cli


@pytest.fixture(scope="module")
def model(tmp_path_factory: Any) -> liberi.Model:
    """dbn-small: an RGB video branch (so channel order matters) and an audio branch; random weights."""
    path = tmp_path_factory.mktemp("models") / "small.eri"
    subprocess.run([eri_cli(), "init", "--preset", "dbn-small", "--seed", "4", "-o", str(path)], check=True,
                   capture_output=True)
    return liberi.Model(str(path))


RNG = np.random.default_rng(7)
H, W = 40, 56
FRAME = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)             # one (H, W, 3) RGB frame
STACK = RNG.integers(0, 256, (5, H, W, 3), dtype=np.uint8)           # (N, H, W, 3)
BIG = RNG.integers(0, 256, (80, 100, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (H, W), dtype=np.uint8)
SMALL = RNG.integers(0, 256, (24, 30, 3), dtype=np.uint8)            # a second frame size
RATE = 16000
PCM = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
STEREO = np.stack([PCM, (0.5 * RNG.standard_normal(RATE) * 0.2).astype(np.float32)], axis=1)
PCM16 = (PCM * 32767).astype(np.int16)
PCM32 = (PCM.astype(np.float64) * 2147483647).astype(np.int32)
BOX = (8.0, 4.0, 30.0, 28.0)


def video(frames: Any, **kw: Any) -> Callable[[liberi.Model], Any]:
    return lambda m: m.predict(frames=frames, warn=False, **kw)


def audio(pcm: Any, rate: Any = RATE, **kw: Any) -> Callable[[liberi.Model], Any]:
    return lambda m: m.predict(pcm=pcm, sample_rate=rate, warn=False, **kw)


class FakePIL:
    """PIL.Image.Image duck-typed: mode, size (W, H), tobytes() and (optionally) __array_interface__."""

    def __init__(self, array: np.ndarray, mode: str, array_interface: bool = True) -> None:
        self._array = np.ascontiguousarray(array)
        self.mode, self.size = mode, (array.shape[1], array.shape[0])
        if array_interface:
            self.__array_interface__ = {"shape": array.shape, "typestr": "|u1", "version": 3,
                                        "data": self._array.tobytes()}

    def tobytes(self) -> bytes:
        return self._array.tobytes()


def pil(array: np.ndarray, mode: str) -> Any:
    """A real PIL image when Pillow is installed, else None (the case is skipped)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image.fromarray(array, mode)


def torch_tensor(array: np.ndarray) -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch.from_numpy(np.ascontiguousarray(array))


# -- raw YUV, and the C API read directly (its own defaults: chroma planes following the Y plane)

YW, YH = 48, 32  # even sizes: the C API's default chroma strides describe the packed layout
NV12 = RNG.integers(16, 236, (YH * 3 // 2, YW), dtype=np.uint8)       # OpenCV's (H·3/2, W)
I420 = RNG.integers(16, 236, (YH * 3 // 2, YW), dtype=np.uint8)
YUYV = RNG.integers(16, 236, (YH, YW, 2), dtype=np.uint8)             # OpenCV's (H, W, 2)
OW, OH = 47, 31  # odd sizes: packed planes, read through explicit chroma pointers
OCW, OCH = (OW + 1) // 2, (OH + 1) // 2
NV12_ODD = RNG.integers(16, 236, (OW * OH + 2 * OCW * OCH,), dtype=np.uint8)


def c_direct(raw: List[np.ndarray], fmt: int, width: int, height: int, chroma: Any = None) -> Callable[[liberi.Model], Any]:
    """eri_predict_av_ex on eri_images built here, by hand: the reference for raw YUV."""
    def call(m: liberi.Model) -> Any:
        images = (_capi.Image * len(raw))()
        for k, r in enumerate(raw):
            images[k].data, images[k].width, images[k].height, images[k].format = r.ctypes.data, width, height, fmt
            if chroma is not None:
                images[k].chroma, images[k].chroma_v, images[k].chroma_stride = chroma(r)
        out = _capi.Prediction()
        out.struct_size = ctypes.sizeof(out)
        _capi.check(m._lib, m._lib.eri_predict_av_ex(m._handle, images, len(raw), None, 0, 0, 0, None, ctypes.byref(out)))
        return {"intensities": dict(zip(liberi.EMOTIONS, (float(v) for v in out.intensities)))}
    return call


class Accepted(NamedTuple):
    name: str
    given: Callable[[liberi.Model], Any]
    canonical: Callable[[liberi.Model], Any]
    needs: Any = True  # a case whose optional input (PIL, torch) is missing is skipped


ACCEPTED = [
    # frames: shapes and containers
    Accepted("MISREAD one (H, W, 3) uint8 frame = a stack of one", video(FRAME), video(FRAME[None])),
    Accepted("a list of (H, W, 3) frames = the (N, H, W, 3) stack", video(list(STACK)), video(STACK)),
    Accepted("a tuple of frames = the stack", video(tuple(STACK)), video(STACK)),
    Accepted("a list of frames of two sizes, as floats = as uint8", video([FRAME / 255.0, SMALL / 255.0]),
             video([FRAME, SMALL])),
    Accepted("one frame as nested Python lists of floats in [0, 1]", video((FRAME / 255.0).tolist()),
             video(FRAME[None])),
    Accepted("(1, H, W, 3), a stack of one = the frame", video(FRAME[None]), video(FRAME)),
    # PIL and other array providers
    Accepted("MISREAD a PIL-like RGB image (duck-typed, __array_interface__) = one frame",
             video(FakePIL(FRAME, "RGB")), video(FRAME[None])),
    Accepted("a PIL-like RGB image with tobytes() only", video(FakePIL(FRAME, "RGB", False)), video(FRAME[None])),
    Accepted("a PIL-like L image = the (H, W) gray frame", video(FakePIL(GRAY, "L")), video(GRAY[None, :, :, None])),
    Accepted("a PIL-like RGBA image = RGBA", video(FakePIL(np.concatenate([FRAME, ALPHA], 2), "RGBA")),
             video(np.concatenate([FRAME, ALPHA], 2)[None])),
    Accepted("a list of PIL-like images = the stack", video([FakePIL(f, "RGB") for f in STACK]), video(STACK)),
    Accepted("a real PIL RGB image", video(pil(FRAME, "RGB")), video(FRAME[None]), pil(FRAME, "RGB")),
    Accepted("a real PIL L image", video(pil(GRAY, "L")), video(GRAY[None, :, :, None]), pil(GRAY, "L")),
    Accepted("a torch (H, W, 3) uint8 tensor", video(torch_tensor(FRAME)), video(FRAME[None]), torch_tensor(FRAME)),
    # pixel values
    Accepted("MISREAD float64 frames in [0, 1] = uint8 × 255, rounded", video((FRAME / 255.0)[None]),
             video(FRAME[None])),
    Accepted("a float32 stack in [0, 1]", video((STACK / np.float32(255)).astype(np.float32)), video(STACK)),
    Accepted("a float16 frame in [0, 1]", video((FRAME / 255.0).astype(np.float16)), video(FRAME[None])),
    Accepted("floats 0.0 and 1.0 exactly = 0 and 255", video(np.where(FRAME > 127, 1.0, 0.0)),
             video(np.where(FRAME > 127, 255, 0).astype(np.uint8))),
    # channels and pixel formats
    Accepted("BGR with pixel_format='bgr' = the RGB frame", video(np.ascontiguousarray(FRAME[..., ::-1]),
                                                                  pixel_format="bgr"), video(FRAME)),
    Accepted("a reversed-channel view with pixel_format='bgr' (copied)", video(FRAME[..., ::-1], pixel_format="bgr"),
             video(FRAME)),
    Accepted("RGBA: alpha ignored = RGB", video(np.concatenate([FRAME, ALPHA], 2)), video(FRAME)),
    Accepted("BGRA with pixel_format='bgr' = RGB", video(np.concatenate([FRAME[..., ::-1], ALPHA], 2),
                                                         pixel_format="bgr"), video(FRAME)),
    Accepted("gray (H, W) = gray (H, W, 1)", video(GRAY), video(GRAY[:, :, None])),
    Accepted("gray (H, W, 1) = RGB with R = G = B", video(GRAY[:, :, None]), video(np.repeat(GRAY[:, :, None], 3, 2))),
    Accepted("a list of (H, W) gray frames = (N, H, W, 1)", video([GRAY, GRAY[::-1]]),
             video(np.stack([GRAY, GRAY[::-1]])[..., None])),
    Accepted("gray with pixel_format='bgr' = gray", video(GRAY, pixel_format="bgr"), video(GRAY)),
    # memory layout
    Accepted("a cropped view (row stride honoured)", video(BIG[10:50, 20:76]),
             video(np.ascontiguousarray(BIG[10:50, 20:76]))),
    Accepted("a strided view [::2, ::2] (copied)", video(BIG[::2, ::2]), video(np.ascontiguousarray(BIG[::2, ::2]))),
    Accepted("rows reversed [::-1] (copied)", video(FRAME[::-1]), video(np.ascontiguousarray(FRAME[::-1]))),
    Accepted("a Fortran-order stack", video(np.asfortranarray(STACK)), video(STACK)),
    Accepted("a stack view [::2] of frames", video(STACK[::2]), video(np.ascontiguousarray(STACK[::2]))),
    # boxes
    Accepted("one box (4,) = the same box per frame (N, 4)", video(STACK, boxes=BOX), video(STACK, boxes=[BOX] * 5)),
    Accepted("a box as a list = as an array", video(FRAME, boxes=list(BOX)), video(FRAME[None], boxes=np.array([BOX]))),
    # raw YUV, against the C API read by hand
    Accepted("NV12 (H·3/2, W) = the C API's NV12", video(NV12, pixel_format="nv12", width=YW, height=YH),
             c_direct([NV12], _capi.PIXEL_NV12, YW, YH)),
    Accepted("NV12 as bytes", video(NV12.tobytes(), pixel_format="nv12", width=YW, height=YH),
             c_direct([NV12], _capi.PIXEL_NV12, YW, YH)),
    Accepted("NV12 as a 1-D buffer", video(NV12.reshape(-1), pixel_format="nv12", width=YW, height=YH),
             c_direct([NV12], _capi.PIXEL_NV12, YW, YH)),
    Accepted("NV12 stack of two = a list of two", video(np.stack([NV12, NV12[::-1]]), pixel_format="nv12", width=YW,
                                                        height=YH),
             video([NV12, np.ascontiguousarray(NV12[::-1])], pixel_format="nv12", width=YW, height=YH)),
    Accepted("NV12 of odd size 47×31 (packed) = the C API with its chroma plane pointed at",
             video(NV12_ODD, pixel_format="nv12", width=OW, height=OH),
             c_direct([NV12_ODD], _capi.PIXEL_NV12, OW, OH,
                      lambda r: (r.ctypes.data + OW * OH, None, 2 * OCW))),
    Accepted("I420 (H·3/2, W) = the C API's I420", video(I420, pixel_format="i420", width=YW, height=YH),
             c_direct([I420], _capi.PIXEL_I420, YW, YH)),
    Accepted("YUYV (H, W, 2) = the C API's YUYV", video(YUYV, pixel_format="yuyv", width=YW, height=YH),
             c_direct([YUYV], _capi.PIXEL_YUYV, YW, YH)),
    Accepted("YUYV (H, 2W) = (H, W, 2)", video(YUYV.reshape(YH, 2 * YW), pixel_format="yuyv", width=YW, height=YH),
             video(YUYV, pixel_format="yuyv", width=YW, height=YH)),
    # PCM
    Accepted("mono (n,) = (n, 1)", audio(PCM), audio(PCM[:, None])),
    Accepted("float64 PCM = float32", audio(PCM.astype(np.float64)), audio(PCM)),
    Accepted("int16 PCM = float / 32768", audio(PCM16), audio(PCM16.astype(np.float32) / 32768)),
    Accepted("MISREAD int32 PCM = float / 2147483648", audio(PCM32),
             audio((PCM32.astype(np.float64) / 2147483648).astype(np.float32))),
    Accepted("stereo (n, 2) int16 = float (n, 2) / 32768", audio((STEREO * 32767).astype(np.int16)),
             audio((STEREO * 32767).astype(np.int16).astype(np.float32) / 32768)),
    Accepted("a Fortran-order (n, 2)", audio(np.asfortranarray(STEREO)), audio(STEREO)),
    Accepted("a strided view pcm[::2]", audio(PCM[::2], RATE // 2), audio(np.ascontiguousarray(PCM[::2]), RATE // 2)),
    Accepted("a Python list of floats", audio(PCM.tolist()), audio(PCM)),
    Accepted("samples up to ±1.5 tolerated", audio(PCM * 4.9), audio((PCM * 4.9).astype(np.float32))),
    Accepted("sample_rate as a numpy int or a whole float", audio(PCM, np.int64(RATE)), audio(PCM, float(RATE))),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.name for c in ACCEPTED])
def test_accepted(model: liberi.Model, case: Accepted) -> None:
    if case.needs is None:
        pytest.skip("needs an optional package (Pillow, torch)")
    got, want = case.given(model)["intensities"], case.canonical(model)["intensities"]
    assert list(got) == list(liberi.EMOTIONS)
    assert got == want, f"{case.name}: {got} != {want}"


def test_the_model_tells_these_inputs_apart(model: liberi.Model) -> None:
    """The equalities above mean something: this model's outputs change with channel order, scale, crop."""
    results = [video(x)(model)["intensities"] for x in
               (FRAME, FRAME[..., ::-1], np.zeros_like(FRAME), FRAME // 2, FRAME[:, :, :1], BIG[10:50, 20:76])]
    assert all(results[i] != results[j] for i in range(len(results)) for j in range(i))
    assert audio(PCM)(model)["intensities"] != audio(PCM * 0.5)(model)["intensities"]


class Refused(NamedTuple):
    name: str
    call: Callable[[liberi.Model], Any]
    says: List[str]  # substrings of the message


def stream_call(action: Callable[[liberi.Stream], Any]) -> Callable[[liberi.Model], Any]:
    def call(m: liberi.Model) -> Any:
        with liberi.Stream(m, window=2) as s:
            return action(s)
    return call


REFUSED = [
    # frame shapes
    Refused("MISREAD CHW (3, H, W)", video(FRAME.transpose(2, 0, 1)), ["(3, 40, 56)", "channels-first", "transpose"]),
    Refused("CHW (1, H, W)", video(GRAY[None]), ["(1, 40, 56)", "channels-first"]),
    Refused("NCHW (N, 3, H, W)", video(STACK.transpose(0, 3, 1, 2)), ["(5, 3, 40, 56)", "channels-first"]),
    Refused("a torch CHW tensor", video(torch_tensor(FRAME.transpose(2, 0, 1))), ["(3, 40, 56)", "channels-first"]),
    Refused("(N, H, W) without a channel axis", video(np.stack([GRAY] * 6)), ["(6, 40, 56)", "(N, H, W, 1)"]),
    Refused("(H, W, 2)", video(FRAME[..., :2]), ["(40, 56, 2)", "not a frame"]),
    Refused("(N, H, W, 2)", video(STACK[..., :2]), ["(5, 40, 56, 2)", "not a stack"]),
    Refused("a 5-D array", video(STACK[None]), ["(1, 5, 40, 56, 3)", "5-D"]),
    Refused("a 1-D array", video(FRAME.reshape(-1)), ["1-D", "(6720,)"]),
    Refused("an empty list", video([]), ["empty list"]),
    Refused("(0, H, W, 3)", video(STACK[:0]), ["(0, 40, 56, 3)", "no frames"]),
    Refused("an empty (0, W, 3) frame", video(FRAME[:0]), ["empty frame", "(0, 56, 3)"]),
    Refused("a list holding a stack", video([FRAME, STACK]), ["frames[1]", "(5, 40, 56, 3)", "stack"]),
    Refused("a list holding a CHW frame", video([FRAME, FRAME.transpose(2, 0, 1)]), ["frames[1]", "(3, 40, 56)"]),
    Refused("a ragged nested list", video([[1.0, 0.5], [0.2]]), ["cannot read"]),
    # pixel types
    Refused("MISREAD int32 frames (values up to 510: they would wrap)", video(FRAME[None].astype(np.int32) * 2),
            ["int32", "uint8", "0…510"]),
    Refused("int32 frames in 0…255", video(FRAME.astype(np.int32)), ["int32", "np.asarray(frames, np.uint8) is exact"]),
    Refused("int64 nested Python ints", video(FRAME.tolist()), ["int64", "uint8"]),
    Refused("uint16 frames", video(FRAME.astype(np.uint16) * 257), ["uint16", ">> 8"]),
    Refused("int8 frames", video(FRAME.astype(np.int8)), ["int8"]),
    Refused("bool frames", video(FRAME > 127), ["bool", "uint8"]),
    Refused("float frames in 0…255", video(FRAME.astype(np.float32)), ["[0, 1]", "255", "np.asarray(frames, np.uint8)"]),
    Refused("negative float frames", video(FRAME / 255.0 - 0.5), ["[0, 1]", "-0.5"]),
    Refused("NaN in float frames", video(np.where(FRAME > 250, np.nan, FRAME / 255.0)), ["NaN"]),
    Refused("complex frames", video(FRAME.astype(np.complex64)), ["complex64"]),
    Refused("string frames", video(np.array([["a", "b"], ["c", "d"]])), ["<U1"]),
    # PIL
    Refused("a PIL-like image in mode P", video(FakePIL(GRAY, "P")), ["mode 'P'", "convert('RGB')"]),
    Refused("a PIL-like image in mode I;16", video(FakePIL(GRAY, "I;16")), ["mode 'I;16'"]),
    Refused("a PIL RGB image with pixel_format='bgr'", video(FakePIL(FRAME, "RGB"), pixel_format="bgr"),
            ["holds RGB", "pixel_format='bgr'"]),
    # options of frames
    Refused("an unknown pixel_format", video(FRAME, pixel_format="BGR"), ["pixel_format 'BGR'", "'bgr'"]),
    Refused("pixel_format='rgba' (channels come from the shape)", video(FRAME, pixel_format="rgba"), ["'rgba'"]),
    Refused("width= with RGB frames", video(FRAME, width=W, height=H), ["width=", "raw YUV"]),
    Refused("boxes of shape (3,)", video(STACK, boxes=(1, 2, 3)), ["boxes: shape (3,)", "(5, 4)"]),
    Refused("boxes (N + 1, 4)", video(STACK, boxes=[BOX] * 6), ["boxes: shape (6, 4)", "5 frames"]),
    Refused("a NaN box", video(FRAME, boxes=(np.nan, 0, 10, 10)), ["NaN"]),
    Refused("boxes without frames", lambda m: m.predict(pcm=PCM, sample_rate=RATE, boxes=BOX), ["no frames"]),
    Refused("a box of width 0 (liberi's own check)", video(FRAME, boxes=(0, 0, 0, 10)), ["box"]),
    # raw YUV
    Refused("NV12 without width/height", video(NV12, pixel_format="nv12"), ["width= and height="]),
    Refused("NV12 of the wrong size", video(NV12[:-1], pixel_format="nv12", width=YW, height=YH),
            ["(47, 48)", "expected", "2304 bytes"]),
    Refused("NV12 with width and height swapped", video(NV12, pixel_format="nv12", width=YH, height=YW),
            ["(48, 48)", "32×48"]),
    Refused("NV12 as uint16", video(NV12.astype(np.uint16), pixel_format="nv12", width=YW, height=YH),
            ["uint8", "uint16"]),
    Refused("YUYV of odd width", video(np.zeros((4, 6), np.uint8), pixel_format="yuyv", width=3, height=4),
            ["even width"]),
    Refused("a width of 0", video(NV12, pixel_format="i420", width=0, height=YH), ["width must be a positive integer"]),
    Refused("a float width", video(NV12, pixel_format="i420", width=48.0, height=YH), ["width must be a positive integer"]),
    # PCM
    Refused("(channels, n) stereo", audio(STEREO.T), ["(2, 16000)", "(channels, samples)", "pcm.T"]),
    Refused("(1, n) mono", audio(PCM[None]), ["(1, 16000)", "pcm.T"]),
    Refused("(n, 9): more than 8 channels", audio(np.zeros((100, 9), np.float32)), ["9 channels", "1…8"]),
    Refused("3-D PCM", audio(STEREO[None]), ["3-D", "(1, 16000, 2)"]),
    Refused("float PCM beyond ±1.5", audio(PCM * 10), ["outside ±1.5", "int16 samples divided by 32768"]),
    Refused("int16 values stored as floats", audio(PCM16.astype(np.float32)), ["outside ±1.5"]),
    Refused("NaN PCM", audio(np.where(np.arange(RATE) == 7, np.nan, PCM)), ["sample 7 of channel 0", "NaN"]),
    Refused("uint8 PCM (offset binary)", audio((PCM * 127 + 128).astype(np.uint8)), ["offset binary", "- 128) / 128"]),
    Refused("int8 PCM", audio((PCM * 127).astype(np.int8)), ["int8", "int16"]),
    Refused("int64 PCM", audio(PCM32.astype(np.int64)), ["int64", "int32"]),
    Refused("uint16 PCM", audio(PCM16.astype(np.uint16)), ["uint16"]),
    Refused("bool PCM", audio(PCM > 0), ["bool"]),
    Refused("raw bytes PCM", audio(PCM16.tobytes()), ["raw bytes", "np.frombuffer"]),
    Refused("empty PCM", audio(PCM[:0]), ["no samples"]),
    Refused("PCM without sample_rate", lambda m: m.predict(pcm=PCM), ["sample_rate"]),
    Refused("sample_rate 16000.5", audio(PCM, 16000.5), ["whole number"]),
    Refused("sample_rate 0 (liberi's own check)", audio(PCM, 0), ["sample rate 0"]),
    Refused("sample_rate without pcm", lambda m: m.predict(frames=FRAME, sample_rate=RATE), ["without pcm"]),
    # options
    Refused("long_input='all'", video(FRAME, long_input="all"), ["long_input", "'windows'"]),
    Refused("window= with long_input='whole'", video(FRAME, window=2.0), ["window=", "long_input='windows'"]),
    Refused("window <= 0", video(FRAME, long_input="windows", window=0), ["window must be > 0"]),
    Refused("progress not callable", video(FRAME, progress=0.5), ["progress must be a callable"]),
    Refused("threads not an int", lambda m: liberi.Model(m.path, threads=1.5), ["threads must be an int"]),
    # the stream reads frames and PCM the same way
    Refused("Stream.push_frame: CHW", stream_call(lambda s: s.push_frame(FRAME.transpose(2, 0, 1), 0.0)),
            ["frame: shape (3, 40, 56)", "channels-first"]),
    Refused("Stream.push_frame: a stack of 5", stream_call(lambda s: s.push_frame(STACK, 0.0)),
            ["5 frames given where one is expected"]),
    Refused("Stream.push_frame: int32", stream_call(lambda s: s.push_frame(FRAME.astype(np.int32), 0.0)), ["int32"]),
    Refused("Stream.push_frame: floats in 0…255", stream_call(lambda s: s.push_frame(FRAME * 1.0, 0.0)), ["[0, 1]"]),
    Refused("Stream.push_pcm: (channels, n)", stream_call(lambda s: s.push_pcm(STEREO.T, RATE, 0.0)), ["pcm.T"]),
    Refused("Stream.push_pcm: int32 scaled, uint8 refused", stream_call(lambda s: s.push_pcm(PCM16.astype(np.uint8), RATE, 0.0)),
            ["offset binary"]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_refused(model: liberi.Model, case: Refused) -> None:
    if "torch" in case.name and torch_tensor(FRAME) is None:
        pytest.skip("needs torch")
    with pytest.raises(liberi.InvalidArgument) as e:
        case.call(model)
    assert isinstance(e.value, ValueError) and e.value.status == liberi.Status.INVALID_ARGUMENT
    for needle in case.says:
        assert needle in e.value.message, f"{case.name}: {needle!r} not in {e.value.message!r}"


def stream_reads(m: liberi.Model, frame: Any, pcm: Any, **push: Any) -> List[Any]:
    """Reads of a 2 s stream fed the same frame 25 times a second and `pcm` in 40 ms chunks."""
    reads = []
    with liberi.Stream(m, window=1) as s:
        for k in range(50):
            s.push_frame(frame, k / 25, **push)
            s.push_pcm(pcm[k * 640:(k + 1) * 640], RATE, k / 25)
            if k % 10 == 9:
                reads.append(s.read())
    return reads


def test_stream_reads_the_same_conventions(model: liberi.Model) -> None:
    pcm16 = np.tile(PCM16, 2)
    canonical = stream_reads(model, FRAME, pcm16.astype(np.float32) / 32768)
    assert canonical == stream_reads(model, FRAME / 255.0, pcm16)
    assert canonical == stream_reads(model, FakePIL(FRAME, "RGB"), pcm16)
    assert canonical == stream_reads(model, FRAME[None], pcm16.astype(np.float32) / 32768)
    assert canonical == stream_reads(model, np.ascontiguousarray(FRAME[..., ::-1]), pcm16, pixel_format="bgr")


def test_counts() -> None:
    """The table covers every convention: print its size for the record."""
    print(f"{len(ACCEPTED)} accepted forms, {len(REFUSED)} refused forms")
    assert len(ACCEPTED) >= 40 and len(REFUSED) >= 60

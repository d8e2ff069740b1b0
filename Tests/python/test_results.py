"""The liberi package's results, options, errors and metadata: predict dicts from
eri_predict_*_ex (what the estimate was made from, and its warnings), the
ReliabilityWarning, long_input / window / progress / cancel, Model.info(),
Model.timeline and to_dataframe, the exception classes, __version__, py.typed
and the docstrings.

    ERI_CLI=/prefix/bin/eri ERI_LIBRARY=/prefix/lib/liberi.so python -m pytest -q Tests/python/test_results.py
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import pydoc
import re
import shutil
import subprocess
import sys
import threading
import warnings
from typing import Any, List

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if importlib.util.find_spec("liberi") is None:
    sys.path.insert(0, os.path.join(REPO, "python"))
import liberi  # noqa: E402

KEYS = {"intensities", "frames_given", "frames_used", "video_span", "audio_used", "audio_span", "duration", "windows",
        "window", "face_coverage", "warnings", "warning_text"}


def eri_cli() -> str:
    cli = os.environ.get("ERI_CLI") or (os.path.join(os.environ["ERI_PREFIX"], "bin", "eri")
                                        if os.environ.get("ERI_PREFIX") else shutil.which("eri"))
    if not cli:
        pytest.fail("no eri tool: set ERI_CLI or ERI_PREFIX")
    return cli


def ffmpeg(*args: str) -> None:
    if not shutil.which("ffmpeg"):
        pytest.fail("no ffmpeg (make deps)")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> dict[str, str]:
    d = tmp_path_factory.mktemp("results")
    paths = {name: str(d / name) for name in ("tiny.eri", "tiny-video.eri", "clip.mp4", "long.mp4", "silent.mp4",
                                              "broken.mp4")}
    subprocess.run([eri_cli(), "init", "--preset", "dbn-tiny", "--seed", "1", "-o", paths["tiny.eri"]], check=True,
                   capture_output=True)
    subprocess.run([eri_cli(), "init", "--preset", "dbn-tiny", "--video-only", "--seed", "2", "-o",
                    paths["tiny-video.eri"]], check=True, capture_output=True)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2", "-f", "lavfi", "-i",
           "sine=frequency=300:sample_rate=44100:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-shortest", paths["clip.mp4"])
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=30", "-f", "lavfi", "-i",
           "sine=frequency=220:sample_rate=16000:duration=30", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-shortest", paths["long.mp4"])
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           paths["silent.mp4"])
    with open(paths["broken.mp4"], "wb") as fh:
        fh.write(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return paths


@pytest.fixture(scope="module")
def model(files: dict[str, str]) -> liberi.Model:
    return liberi.Model(files["tiny.eri"])


def quiet(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", liberi.ReliabilityWarning)
        return call()


def test_predict_file_result(model: liberi.Model, files: dict[str, str]) -> None:
    r = model.predict_file(files["clip.mp4"], faces="none", warn=False)
    assert set(r) == KEYS
    assert list(r["intensities"]) == list(liberi.EMOTIONS) and all(0 <= v <= 1 for v in r["intensities"].values())
    assert r["frames_used"] == model.info()["frames"] == 8 and r["frames_given"] >= 45
    start, end = r["video_span"]
    assert 0 <= start < end <= 2.0
    assert r["audio_used"] is True and r["audio_span"][0] >= 0 and 1.5 < r["audio_span"][1] <= 2.1
    assert 1.9 < r["duration"] < 2.1 and r["windows"] == 1 and r["window"] is None
    assert r["warnings"] == ["random_weights"] and "random" in r["warning_text"] and r["face_coverage"] == 0


def test_predict_in_memory_result(model: liberi.Model) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)
    r = model.predict(frames=frames, faces="none", warn=False)
    assert set(r) == KEYS and r["frames_given"] == 12 and r["frames_used"] == 8
    assert r["video_span"] is None  # frames in memory have no timestamps
    assert r["audio_used"] is False and r["audio_span"] is None and r["duration"] is None
    assert r["warnings"] == ["random_weights", "no_audio"]
    pcm = (0.2 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    r = model.predict(pcm=pcm, sample_rate=16000, warn=False)
    assert r["frames_used"] == 0 and r["audio_used"] and r["duration"] == pytest.approx(2.0)
    assert r["warnings"] == ["random_weights", "no_video"]


def test_face_warnings(model: liberi.Model, files: dict[str, str]) -> None:
    """The face stage's word in the record: the test pattern has no face; boxes are faces of their own; a model
    whose detector weights are missing says so (faces="auto") or refuses (faces="detect")."""
    liberi.Detector().close()  # the installed detector (make install / the wheel): its absence fails here
    r = model.predict_file(files["clip.mp4"], faces="detect", warn=False)
    assert r["warnings"] == ["random_weights", "no_face"] and r["face_coverage"] == 0, r
    assert "no face found" in r["warning_text"]
    frames = np.random.default_rng(0).integers(0, 256, (8, 48, 64, 3), dtype=np.uint8)
    r = model.predict(frames=frames, boxes=(10, 5, 30, 30), warn=False)
    assert r["face_coverage"] == 1 and r["warnings"] == ["random_weights", "no_audio"], r
    blind = liberi.Model(files["tiny.eri"], face_model="/nonexistent/face-mtcnn.safetensors")
    r = blind.predict_file(files["clip.mp4"], warn=False)
    assert r["warnings"] == ["random_weights", "no_detector"] and "no face detector" in r["warning_text"], r
    assert blind.predict_file(files["clip.mp4"], faces="none", warn=False)["warnings"] == ["random_weights"]
    with pytest.raises(liberi.Unsupported, match="no face detector"):
        blind.predict_file(files["clip.mp4"], faces="detect")
    with pytest.raises(liberi.InvalidArgument, match="faces"):
        model.predict_file(files["clip.mp4"], faces="maybe")


def test_reliability_warning_once_per_call(model: liberi.Model, files: dict[str, str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.predict_file(files["silent.mp4"])
        model.predict_file(files["silent.mp4"])
        model.predict_file(files["silent.mp4"], warn=False)
    assert [w.category for w in caught] == [liberi.ReliabilityWarning] * 2
    assert issubclass(liberi.ReliabilityWarning, UserWarning)
    assert "random initialisation" in str(caught[0].message) and "no audio" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line


def test_long_input_windows(model: liberi.Model, files: dict[str, str]) -> None:
    whole = model.predict_file(files["long.mp4"], warn=False)
    assert whole["windows"] == 1 and whole["frames_used"] == 8 and whole["duration"] == pytest.approx(30, abs=0.2)
    assert whole["video_span"][1] - whole["video_span"][0] > 20  # F frames spread over all of it
    windows = model.predict_file(files["long.mp4"], long_input="windows", warn=False)
    assert windows["windows"] == 3 and windows["window"] == 10 and windows["frames_used"] == 24
    five = model.predict_file(files["long.mp4"], long_input="windows", window=5, warn=False)
    assert five["windows"] == 6 and five["window"] == 5
    assert five["intensities"] != windows["intensities"] != whole["intensities"]


def test_progress_and_cancel(model: liberi.Model, files: dict[str, str]) -> None:
    seen: List[float] = []
    quiet(lambda: model.predict_file(files["long.mp4"], progress=seen.append))  # None: go on
    assert seen and all(0 <= f <= 1 for f in seen) and seen == sorted(seen) and seen[-1] == 1.0
    calls: List[float] = []
    with pytest.raises(liberi.Cancelled) as e:
        model.predict_file(files["long.mp4"], progress=lambda f: calls.append(f) or len(calls) < 2)
    assert e.value.status == liberi.Status.CANCELLED and isinstance(e.value, liberi.Error) and len(calls) == 2

    def broken(fraction: float) -> bool:
        raise ZeroDivisionError("in the callback")
    with pytest.raises(ZeroDivisionError, match="in the callback"):
        model.predict_file(files["long.mp4"], progress=broken)
    frames = np.zeros((40, 32, 32, 3), np.uint8)
    with pytest.raises(liberi.Cancelled):
        model.predict(frames=frames, progress=lambda f: False, warn=False)


def test_info(model: liberi.Model) -> None:
    info = model.info()
    assert set(info) == {"preset", "has_video", "has_audio", "frames", "image_size", "channels", "sample_rate",
                         "parameters", "random_weights", "clip_seconds", "config", "provenance", "metrics"}
    assert info["preset"] == "dbn-tiny" and info["random_weights"] is True and info["clip_seconds"] is None
    assert (info["frames"], info["image_size"], info["channels"], info["sample_rate"]) == (8, 48, 1, 16000)
    assert isinstance(info["config"], dict) and info["config"]["video"]["frames"] == 8 and info["metrics"] is None


def test_timeline_and_dataframe(model: liberi.Model, files: dict[str, str]) -> None:
    if not hasattr(model._lib, "eri_timeline_file"):
        with pytest.raises(liberi.Unsupported, match="eri_timeline_file"):
            model.timeline(files["clip.mp4"])
        pytest.skip("this liberi.so has no eri_timeline_file")
    points = model.timeline(files["long.mp4"], window=4, hop=2)
    ends = [p["window_end"] for p in points]
    assert len(points) >= 13 and ends == sorted(set(ends)) and ends[0] > 0
    assert all(abs(b - a - ends[0]) < 1e-6 for a, b in zip(ends, ends[1:]))  # every hop, rounded to W/F
    assert all(list(p["intensities"]) == list(liberi.EMOTIONS) for p in points)
    assert model.timeline(files["clip.mp4"], window=1, hop=0.5)[0]["window_end"] == pytest.approx(0.5)
    pandas = pytest.importorskip("pandas")
    frame = liberi.to_dataframe(points)
    assert isinstance(frame, pandas.DataFrame) and frame.index.name == "window_end"
    assert list(frame.columns) == list(liberi.EMOTIONS) and len(frame) == len(points)
    assert frame["Fear"].iloc[3] == points[3]["intensities"]["Fear"]
    rows = liberi.to_dataframe([quiet(lambda: model.predict_file(files["clip.mp4"]))] * 2)
    assert list(rows.columns[:7]) == list(liberi.EMOTIONS) and "frames_used" in rows.columns and len(rows) == 2


def test_to_dataframe_without_pandas(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'liberi[pandas]'")):
        liberi.to_dataframe([])


@pytest.mark.parametrize("what,cls,std,status", [
    ("missing", liberi.FileError, OSError, liberi.Status.IO),
    ("folder", liberi.FileError, OSError, liberi.Status.IO),
    ("broken", liberi.FormatError, ValueError, liberi.Status.FORMAT),
])
def test_file_errors(model: liberi.Model, files: dict[str, str], what: str, cls: type, std: type, status: int) -> None:
    path = {"missing": files["clip.mp4"] + ".nope", "folder": os.path.dirname(files["clip.mp4"]),
            "broken": files["broken.mp4"]}[what]
    with pytest.raises(cls) as e:
        quiet(lambda: model.predict_file(path))
    assert isinstance(e.value, std) and isinstance(e.value, liberi.Error) and isinstance(e.value, RuntimeError)
    assert e.value.status == status and path in e.value.message and str(e.value) == e.value.message


def test_missing_modality(files: dict[str, str]) -> None:
    subprocess.run([eri_cli(), "init", "--preset", "dbn-tiny", "--audio-only", "-o", files["tiny.eri"] + ".a.eri"],
                   check=True, capture_output=True)
    audio_only = liberi.Model(files["tiny.eri"] + ".a.eri")
    with pytest.raises(liberi.MissingModality) as e:
        audio_only.predict(frames=np.zeros((2, 16, 16, 3), np.uint8))
    assert isinstance(e.value, ValueError) and e.value.status == liberi.Status.MISSING_MODALITY
    assert "audio-only" in e.value.message


def test_model_errors(files: dict[str, str]) -> None:
    with pytest.raises(liberi.FileError):
        liberi.Model(files["clip.mp4"] + ".nope")
    with pytest.raises(liberi.FormatError):
        liberi.Model(files["clip.mp4"])
    with pytest.raises(liberi.InvalidArgument, match="n_threads"):
        liberi.Model(files["tiny.eri"], threads=-5)
    model = liberi.Model(files["tiny.eri"])
    model.close()
    model.close()
    with pytest.raises(liberi.InvalidArgument, match="closed"):
        model.info()
    with liberi.Model(files["tiny.eri"]) as m:
        assert "tiny.eri" in repr(m)
    assert "closed" in repr(m)


def test_exceptions() -> None:
    expected = {liberi.InvalidArgument: ValueError, liberi.FileError: OSError, liberi.LibraryError: OSError,
                liberi.FormatError: ValueError, liberi.Unsupported: NotImplementedError,
                liberi.MissingModality: ValueError, liberi.DecodeError: ValueError, liberi.OutOfMemory: MemoryError,
                liberi.Cancelled: RuntimeError, liberi.InternalError: RuntimeError}
    for cls, std in expected.items():
        e = cls("what went wrong")
        assert isinstance(e, liberi.Error) and isinstance(e, std) and isinstance(e, RuntimeError)
        copy = pickle.loads(pickle.dumps(e))
        assert type(copy) is cls and copy.message == e.message and copy.status == e.status
        assert cls.__module__ == "liberi" and cls.__doc__
    assert liberi.Error("x", 42).status == 42  # a code this package does not know stays an int
    assert {c.default_status for c in expected if c is not liberi.LibraryError} == set(liberi.Status) - {liberi.Status.OK}


def test_threads_share_a_model(model: liberi.Model) -> None:
    frames = np.random.default_rng(2).integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
    want = model.predict(frames=frames, warn=False)["intensities"]
    got: List[Any] = []
    threads = [threading.Thread(target=lambda: got.append(model.predict(frames=frames, warn=False)["intensities"]))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4


def test_stream_results(model: liberi.Model) -> None:
    frame = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    with liberi.Stream(model, window=1) as s:
        with pytest.raises(liberi.MissingModality):
            s.read()
        for k in range(30):
            s.push_frame(frame, k / 25)
        s.push_pcm(np.zeros(16000, np.int16) + 300, 16000, 0.0)
        r = s.read()
        assert set(r) == {"intensities", "window_end"} and list(r["intensities"]) == list(liberi.EMOTIONS)
        span = s.span()
        assert set(span) == {"window", "frame_timestamps", "audio_start", "audio_first_sample", "audio_samples",
                             "sample_rate", "face_coverage"}
        assert 0 <= span["face_coverage"] <= 1
        assert len(span["frame_timestamps"]) == 8 and len(s.window_audio()) == span["audio_samples"] > 0
        s.reset()
        with pytest.raises(liberi.MissingModality):
            s.read()


def test_version_and_typing() -> None:
    with open(os.path.join(REPO, "include", "eri.h")) as fh:
        parts = dict(re.findall(r"#define ERI_VERSION_(MAJOR|MINOR|PATCH) (\d+)", fh.read()))
    header = f"{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"
    assert liberi.__version__ == header == liberi.version()
    package = os.path.dirname(liberi.__file__)
    assert os.path.exists(os.path.join(package, "py.typed"))
    assert liberi.library_file().startswith("/") and "liberi.so" in liberi.library_file()


def test_docstrings() -> None:
    for name in liberi.__all__:
        if name == "__version__":
            continue
        obj = getattr(liberi, name)
        assert getattr(obj, "__doc__", None), f"liberi.{name} has no docstring"
    for cls in (liberi.Model, liberi.Stream):
        for name, member in vars(cls).items():
            if not name.startswith("_") and callable(member) or isinstance(member, property):
                assert member.__doc__, f"{cls.__name__}.{name} has no docstring"
    text = pydoc.render_doc(liberi.Model, renderer=pydoc.plaintext)
    for needle in ("predict_file", "(H, W, C)", "pixel_format", "boxes", "intensities", "Raises", "InvalidArgument",
                   "MissingModality", "ReliabilityWarning", "progress", "long_input", "timeline", "threads"):
        assert needle in text, f"help(liberi.Model) does not mention {needle}"

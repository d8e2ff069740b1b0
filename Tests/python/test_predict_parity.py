"""End-to-end parity through the C API (the `liberi` ctypes package): raw frames,
face box and PCM in, 7 intensities out, against the PyTorch reference
(reference/make_case.py runs SPEC §4 preprocessing + §5 network in float64).
SPEC: max abs diff ≤ 1e-4 on the outputs."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if importlib.util.find_spec("liberi") is None:
    sys.path.insert(0, os.path.join(REPO, "python"))
import liberi  # noqa: E402

CASES = [
    ("dbn-tiny", "both", 31, []),
    ("dbn-tiny", "video", 32, ["--pixel-format", "bgra"]),
    ("dbn-tiny", "audio", 33, []),
    ("dbn-small", "both", 34, []),
    ("dbn-small", "both", 35, ["--box", "none", "--pixel-format", "gray8"]),
    ("dbn-small", "video", 36, ["--pixel-format", "bgr24"]),
    ("dbn-small", "audio", 37, ["--seconds", "0.05"]),
]
# make_case.py's pixel formats → liberi's pixel_format (the channel count comes from the array's shape)
PIXEL_FORMATS = {"rgb24": "rgb", "bgr24": "bgr", "rgba": "rgb", "bgra": "bgr", "gray8": "rgb"}


def values(result):
    assert list(result["intensities"]) == list(liberi.EMOTIONS)
    return list(result["intensities"].values())


def report(name, got, want):
    diff = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    print(f"  {name:<16} max|diff| {diff:.3g}  first ours/ref: "
          + " ".join(f"{g:.6f}/{w:.6f}" for g, w in zip(got[:3], want[:3])))
    return diff


@pytest.mark.parametrize("preset,mode,seed,extra", CASES, ids=[f"{p}-{m}-{s}" for p, m, s, _ in CASES])
def test_c_api_matches_reference(tmp_path, preset, mode, seed, extra):
    args = [sys.executable, os.path.join(REPO, "reference", "make_case.py"), "--preset", preset,
            "--seed", str(seed), "--no-grads", "--out", str(tmp_path)] + extra
    if mode == "video":
        args.append("--video-only")
    if mode == "audio":
        args.append("--audio-only")
    subprocess.run(args, check=True, capture_output=True)
    case = load_file(str(tmp_path / "case.safetensors"))
    info = json.loads((tmp_path / "case.json").read_text())
    model = liberi.Model(str(tmp_path / "model.eri"))
    frames = box = fmt = None
    if "input.frames_u8" in case:
        frames = case["input.frames_u8"].astype(np.uint8)
        box = case.get("input.box")
        fmt = PIXEL_FORMATS[info["video_input"]["pixel_format"]]
    pcm = case.get("input.pcm")
    rate = int(case["input.sample_rate"][0]) if "input.sample_rate" in case else None
    print(f"{preset} {mode} {extra}:")
    if frames is not None and pcm is not None:
        got = values(model.predict(frames=frames, boxes=box, pixel_format=fmt, pcm=pcm, sample_rate=rate, warn=False))
        assert report("out.av", got, case["out.av"]) <= 1e-4
    if frames is not None:
        got = values(model.predict(frames=frames, boxes=box, pixel_format=fmt, warn=False))
        assert report("out.video_only", got, case["out.video_only"]) <= 1e-4
    if pcm is not None:
        got = values(model.predict(pcm=pcm, sample_rate=rate, warn=False))
        assert report("out.audio_only", got, case["out.audio_only"]) <= 1e-4


def test_wrong_modality_and_bad_input(tmp_path):
    subprocess.run([sys.executable, os.path.join(REPO, "reference", "make_case.py"), "--preset", "dbn-tiny",
                    "--audio-only", "--seed", "1", "--no-grads", "--out", str(tmp_path)], check=True, capture_output=True)
    model = liberi.Model(str(tmp_path / "model.eri"))
    with pytest.raises(liberi.MissingModality) as e:
        model.predict(frames=np.zeros((4, 32, 32, 3), np.uint8))
    assert e.value.status == liberi.Status.MISSING_MODALITY and "audio-only" in e.value.message
    with pytest.raises(liberi.InvalidArgument) as e:
        model.predict(pcm=np.array([0.0, np.nan, 0.0], np.float32), sample_rate=16000)
    assert e.value.status == liberi.Status.INVALID_ARGUMENT and "NaN" in e.value.message
    with pytest.raises(liberi.MissingModality) as e:
        model.predict()
    assert e.value.status == liberi.Status.MISSING_MODALITY

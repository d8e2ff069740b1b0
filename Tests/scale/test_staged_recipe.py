"""`eri train --recipe staged --video-init FILE` (issue 14): the video stage starts from FILE.

With a learning rate of 1e-9 one epoch moves no weight by more than ~1e-8 (Adam's steps are
about lr each), so the video stage's weights equal FILE's where it started from FILE, and are
far from them where it started from random weights (the control). The BatchNorm running
statistics follow the batches whatever the learning rate, so they are left out.
"""

import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import CLI, eri


def learned(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("video.") and "running_" not in k}


def staged(corpus, config_file, out, *extra):
    eri("train", "--data", corpus, "--config", config_file, "--recipe", "staged", "--faces", "none", "--epochs", 1,
        "--video-epochs", 1, "--batch", 8, "--lr", 1e-9, "--threads", 1, "--seed", 2, "--cache", out.parent / "cache",
        "--out", out, *extra)
    return learned(out.parent / (out.stem + ".video.eri"))


def test_video_stage_starts_from_video_init(corpus, config_file, tmp_path):
    start = tmp_path / "start.eri"
    eri("train", "--data", corpus, "--config", config_file, "--modality", "video", "--faces", "none", "--epochs", 1,
        "--batch", 8, "--threads", 1, "--seed", 7, "--cache", tmp_path / "cache", "--out", start)
    want = learned(start)
    assert len(want) > 10
    got = staged(corpus, config_file, tmp_path / "from-start.eri", "--video-init", start)
    assert got.keys() == want.keys()
    assert max(float(np.max(np.abs(got[k] - want[k]))) for k in want) < 1e-6
    scratch = staged(corpus, config_file, tmp_path / "scratch.eri")
    assert max(float(np.max(np.abs(scratch[k] - want[k]))) for k in want) > 1e-2
    # The two-branch stage starts from that video stage, as without --video-init.
    assert (tmp_path / "from-start.eri").exists()


@pytest.mark.parametrize("args, message", [
    (["--video-init", "{start}"], "--video-init is for --recipe staged"),
    (["--recipe", "staged", "--video-init", "{missing}"], "no such file"),
    (["--recipe", "staged", "--video-init", "{start}", "--backbone", "{start}"], "--video-init and --backbone"),
])
def test_video_init_refuses_what_it_cannot_do(corpus, tmp_path, args, message):
    start = tmp_path / "start.eri"
    start.write_bytes(b"")
    args = [a.format(start=start, missing=tmp_path / "missing.eri") for a in args]
    r = subprocess.run([CLI, "train", "--data", corpus, "--out", tmp_path / "m.eri", *args], capture_output=True, text=True)
    assert r.returncode != 0 and message in r.stderr, r.stderr

"""The PyTorch twin (liberi.torch) under torchrun with gloo on CPU: a DDP step equals a one-process step on
the same (union) batch; a short DDP run writes an .eri that liberi loads and predicts with as PyTorch does;
--resume continues exactly."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, small_config

PY = sys.executable
TORCHRUN = [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def train(*args, world=1, **kw):
    cmd = (TORCHRUN if world > 1 else [PY]) + ["-m", "liberi.torch.train", *map(str, args), "--threads", "1"]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def cfg_args(cache, config_file):
    return ["--cache", cache, "--config", config_file]


def test_one_ddp_step_equals_one_process_step_on_the_union_batch(cfg_args, tmp_path):
    # float64 so that summation order (per-rank partial sums) stays far below the tolerance after
    # Adam's first step, which moves every weight by ~lr whatever its gradient's size; dropout 0
    # since nn.Dropout's masks come from each process's own generator (modality dropout is drawn
    # per clip of the global batch and stays on). Batch 5: ranks take 3 and 2 clips.
    common = cfg_args + ["--out", tmp_path / "x.eri", "--batch", 5, "--dtype", "float64", "--dropout", 0,
                         "--modality-dropout", 0.5, "--seed", 4, "--lr", 1e-3]
    train(*common, "--dump-step", tmp_path / "one.st")
    train(*common, "--dump-step", tmp_path / "two.st", world=2)
    one, two = load_file(str(tmp_path / "one.st")), load_file(str(tmp_path / "two.st"))
    assert set(one) == set(two)
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst <= 1e-6, worst
    # The step did something the comparison can see: weights moved from their initialisation, and
    # BatchNorm's running statistics (global over both ranks' clips) moved from 0 / 1.
    from liberi.torch import ERIModel
    torch.manual_seed(4)
    init = ERIModel(small_config()).double().state_dict()
    moved = [float((one[k] - init[k]).abs().max()) for k in init if k.endswith("weight")]
    assert min(moved) > 1e-4
    bn = [k for k in one if k.endswith("running_mean")]
    assert bn and all(float(one[k].abs().max()) > 1e-4 for k in bn)


@pytest.fixture(scope="module")
def trained(cfg_args, tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    out = str(d / "m.eri")
    log = train(*cfg_args, "--out", out, "--epochs", 2, "--batch", 4, "--seed", 1, world=2)
    assert "2 process(es)" in log
    return out


def muxed(corpus, split, clip_id, d):
    """The clip's video and WAV in one file (PCM audio, video stream copied) for liberi's predict_file."""
    out = os.path.join(d, f"{clip_id}.mkv")
    raw = os.path.join(corpus, "raw", split.lower())
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", f"{raw}/mp4/{clip_id}.mp4", "-i", f"{raw}/wav/{clip_id}.wav",
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s16le", out], check=True)
    return out


def test_ddp_run_writes_an_eri_that_liberi_predicts_with_as_pytorch(trained, cache, corpus, tmp_path):
    import liberi
    from liberi.torch import cache as tc, load_model, read_metadata
    meta = read_metadata(trained)
    assert meta["format"] == "eri" and '"processes": 2' in meta["eri.provenance"]
    model = liberi.Model(trained)
    tm, cfg = load_model(trained)
    assert tm.audio.norm.std.min() > 0 and float(tm.audio.norm.mean.abs().max()) > 0   # from the training split
    worst = 0.0
    clips = tc.load_clips(cache, "Val", cfg) + tc.load_clips(cache, "Test", cfg)
    assert len(clips) == 8
    for c in clips:
        p = model.predict_file(muxed(corpus, c.split, c.id, str(tmp_path)), faces="none", warn=False)
        assert p["audio_used"] and p["frames_used"] == cfg["video"]["frames"]
        b = tc.make_batch([c], cfg, False, None)   # liberi's cached inputs, evaluation form (SPEC §4)
        with torch.no_grad():
            y = tm(frames=torch.from_numpy(b["frames"]), mfcc=torch.from_numpy(b["mfcc"])).numpy()[0]
        worst = max(worst, float(np.abs(np.array([p["intensities"][e] for e in liberi.EMOTIONS]) - y).max()))
    assert worst <= 1e-5, worst


def test_resume_continues_exactly(cfg_args, tmp_path):
    common = cfg_args + ["--epochs", 3, "--batch", 4, "--max-steps", 2, "--seed", 2]
    train(*common, "--out", tmp_path / "straight.eri")
    # A 3-epoch run stopped after epoch 1 (as if interrupted), then resumed from its checkpoint.
    train(*common, "--out", tmp_path / "first.eri", "--stop-after", 1)
    shutil.copy(tmp_path / "first.eri.ckpt.pt", tmp_path / "resumed.eri.ckpt.pt")
    train(*common, "--out", tmp_path / "resumed.eri", "--resume", tmp_path / "resumed.eri.ckpt.pt")
    a = torch.load(tmp_path / "straight.eri.ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed.eri.ckpt.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["history"] == b["history"]


def test_onnx_export_on_liberis_inputs_equals_liberi(trained, cache, corpus, tmp_path):
    import onnxruntime as ort

    import liberi
    from liberi.torch import cache as tc, load_model
    out = str(tmp_path / "m.onnx")
    assert liberi.export_onnx(trained, out) == ["frames", "mfcc"]
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frames", "mfcc"]
    model = liberi.Model(trained)
    _, cfg = load_model(trained)
    clips = tc.load_clips(cache, "Val", cfg) + tc.load_clips(cache, "Test", cfg)
    worst, batched = 0.0, []
    for c in clips:
        p = model.predict_file(muxed(corpus, c.split, c.id, str(tmp_path)), faces="none", warn=False)
        b = tc.make_batch([c], cfg, False, None)   # the frames and MFCC liberi prepared (SPEC §4)
        y = session.run(["y"], {"frames": b["frames"], "mfcc": b["mfcc"]})[0][0]
        worst = max(worst, float(np.abs(np.array([p["intensities"][e] for e in liberi.EMOTIONS]) - y).max()))
        batched.append((b, y))
    assert worst <= 1e-5, worst
    # The batch axis is dynamic: clips of one length together give the same rows.
    same = [(b, y) for b, y in batched if b["mfcc"].shape[1] == cfg["audio"]["max_steps"]][:3]
    assert len(same) >= 2
    ys = session.run(["y"], {"frames": np.concatenate([b["frames"] for b, _ in same]),
                             "mfcc": np.concatenate([b["mfcc"] for b, _ in same])})[0]
    np.testing.assert_allclose(ys, np.stack([y for _, y in same]), atol=1e-5, rtol=0)

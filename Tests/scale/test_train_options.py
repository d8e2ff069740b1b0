"""`eri train --zero-init-residual` and `--weight-decay` (issue 14's recipe knobs) do what they say.

--zero-init-residual: every residual block's last BatchNorm scale starts at 0 (torchvision's
zero_init_residual). With a learning rate of 1e-9 one epoch moves no weight by more than ~1e-8,
so the trained model still shows its start: those scales 0, everywhere else the same weights as
without the flag (the random draws do not change), where they are 1.

--weight-decay: AdamW's decoupled decay shrinks the weight matrices and kernels by lr·wd a step.
Two runs from the same seed that differ only in it (0 and 10) take nearly the same Adam steps,
so the kernels' norm is smaller with the decay by about the decay's total (2 % here), far more
than the runs' other differences.
"""

import json
import subprocess

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

from conftest import CLI, eri


def train(corpus, config_file, out, *extra, lr=1e-9, epochs=1):
    eri("train", "--data", corpus, "--config", config_file, "--modality", "video", "--faces", "none", "--epochs", epochs,
        "--batch", 8, "--lr", lr, "--threads", 1, "--seed", 3, "--cache", out.parent / "cache", "--out", out, *extra)
    return load_file(str(out))


def recipe(path):
    with safe_open(str(path), "np") as f:
        return json.loads(f.metadata()["eri.provenance"])["recipe"]


def test_zero_init_residual_starts_blocks_as_shortcuts(corpus, config_file, tmp_path):
    zero = train(corpus, config_file, tmp_path / "zero.eri", "--zero-init-residual")
    plain = train(corpus, config_file, tmp_path / "plain.eri")
    scales = [k for k in zero if k.startswith("video.backbone.") and k.endswith(".bn2.weight")]
    with open(config_file) as f:
        blocks = sum(json.load(f)["video"]["backbone"]["blocks"])
    assert len(scales) == blocks > 0
    for k in scales:
        assert float(np.max(np.abs(zero[k]))) < 1e-6, k
        assert float(np.max(np.abs(plain[k] - 1))) < 1e-6, k
    others = [k for k in zero if k not in scales and "running_" not in k and "num_batches" not in k]
    assert max(float(np.max(np.abs(zero[k] - plain[k]))) for k in others) < 1e-6
    assert "--zero-init-residual" in recipe(tmp_path / "zero.eri")
    assert "--zero-init-residual" not in recipe(tmp_path / "plain.eri")


def test_weight_decay_shrinks_kernels(corpus, config_file, tmp_path):
    none = train(corpus, config_file, tmp_path / "none.eri", "--weight-decay", 0, lr=1e-3, epochs=3)
    strong = train(corpus, config_file, tmp_path / "strong.eri", "--weight-decay", 10, lr=1e-3, epochs=3)
    kernels = [k for k in none if k.startswith("video.") and none[k].ndim > 1]
    assert len(kernels) > 10

    def norm(m):
        return float(np.sqrt(sum(float(np.sum(m[k].astype(np.float64) ** 2)) for k in kernels)))

    ratio = norm(strong) / norm(none)
    assert 0.5 < ratio < 0.99, ratio
    assert "--weight-decay 10.0" in recipe(tmp_path / "strong.eri")


def test_weight_decay_refuses_what_it_cannot_use(corpus, tmp_path):
    for value in ["-1", "11", "nan"]:
        r = subprocess.run([CLI, "train", "--data", corpus, "--out", tmp_path / "m.eri", f"--weight-decay={value}"],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "--weight-decay must be in [0, 10]" in r.stderr, r.stderr


def test_zero_init_residual_says_when_the_backbone_comes_from_a_model(corpus, config_file, tmp_path):
    start = tmp_path / "start.eri"
    train(corpus, config_file, start)
    r = eri("train", "--data", corpus, "--config", config_file, "--modality", "video", "--faces", "none", "--epochs", 1,
            "--batch", 8, "--lr", 1e-9, "--threads", 1, "--seed", 3, "--cache", tmp_path / "cache",
            "--init-from", start, "--zero-init-residual", "--out", tmp_path / "from-start.eri")
    assert "--zero-init-residual: not applied, the video backbone starts from --init-from" in r.stderr, r.stderr
    got = load_file(str(tmp_path / "from-start.eri"))
    scales = [k for k in got if k.startswith("video.backbone.") and k.endswith(".bn2.weight")]
    assert scales and all(float(np.max(np.abs(got[k] - 1))) < 1e-6 for k in scales)

# mypy: ignore-errors
"""The ERI model config of SPEC §3 as plain dicts, plus the three presets."""

import copy
import json

EMOTIONS = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]

# SPEC §3: the `dbn-base` config, verbatim.
_BASE = {
    "emotions": list(EMOTIONS),
    "video": {
        "frames": 32, "image_size": 112, "color": "rgb",
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
        "backbone": {"type": "resnet", "stem_channels": 64,
                     "widths": [64, 128, 256, 512], "blocks": [2, 2, 2, 2]},
        "spatial": {"layers": 1, "heads": 8, "ff": 1024},
        "dim": 256,
        "tcn": {"kernel": 3, "dilations": [1, 2, 4]},
        "temporal": {"layers": 2, "heads": 4, "ff": 512},
    },
    "audio": {
        "sample_rate": 16000,
        "mfcc": {"n_mfcc": 40, "n_fft": 512, "win_length": 400, "hop_length": 160,
                 "n_mels": 64, "fmin": 0.0, "fmax": 8000.0},
        "pool": 4, "max_steps": 512, "dim": 256,
        "tcn": {"kernel": 3, "dilations": [1, 2, 4]},
        "temporal": {"layers": 2, "heads": 4, "ff": 512},
    },
    "head": {"hidden": 256},
    "train": {"dropout": 0.1, "modality_dropout": 0.3, "pcc_weight": 1.0},
}

# Training defaults when the optional `train` section is absent (SPEC §3).
TRAIN_DEFAULTS = copy.deepcopy(_BASE["train"])


def _small():
    cfg = copy.deepcopy(_BASE)
    v = cfg["video"]
    v.update(frames=16, image_size=64, dim=128)
    v["backbone"].update(stem_channels=32, widths=[32, 64, 128, 256], blocks=[1, 1, 1, 1])
    v["spatial"] = {"layers": 1, "heads": 4, "ff": 512}
    v["temporal"] = {"layers": 1, "heads": 4, "ff": 256}
    a = cfg["audio"]
    a["dim"] = 128
    a["temporal"] = {"layers": 1, "heads": 4, "ff": 256}
    cfg["head"]["hidden"] = 128
    return cfg


def _tiny():
    cfg = copy.deepcopy(_BASE)
    v = cfg["video"]
    v.update(frames=8, image_size=48, color="gray", mean=[0.5], std=[0.5], dim=32)
    v["backbone"].update(stem_channels=8, widths=[8, 16, 16, 32], blocks=[1, 1, 1, 1])
    v["spatial"] = {"layers": 1, "heads": 2, "ff": 64}
    v["tcn"] = {"kernel": 3, "dilations": [1, 2]}
    v["temporal"] = {"layers": 1, "heads": 2, "ff": 64}
    a = cfg["audio"]
    a["mfcc"].update(n_mfcc=13, n_mels=26)
    a.update(pool=4, max_steps=64, dim=32)
    a["tcn"] = {"kernel": 3, "dilations": [1, 2]}
    a["temporal"] = {"layers": 1, "heads": 2, "ff": 64}
    cfg["head"]["hidden"] = 32
    return cfg


PRESETS = {"dbn-base": lambda: copy.deepcopy(_BASE), "dbn-small": _small, "dbn-tiny": _tiny}


def preset(name):
    """A fresh copy of a preset config (SPEC §3 table)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]()


def video_only(cfg):
    cfg = copy.deepcopy(cfg)
    cfg["audio"] = None
    return cfg


def audio_only(cfg):
    cfg = copy.deepcopy(cfg)
    cfg["video"] = None
    return cfg


def train_params(cfg):
    """The `train` section with defaults filled in."""
    out = dict(TRAIN_DEFAULTS)
    out.update(cfg.get("train") or {})
    return out


def validate(cfg):
    """Basic checks from SPEC §3 (not a full schema validator)."""
    if cfg.get("video") is None and cfg.get("audio") is None:
        raise ValueError("config has neither a video nor an audio branch")
    if len(cfg["emotions"]) != 7:
        raise ValueError("emotions must list 7 names")
    for branch in ("video", "audio"):
        b = cfg.get(branch)
        if b is None:
            continue
        if b["tcn"]["kernel"] % 2 != 1:
            raise ValueError(f"{branch}.tcn.kernel must be odd")
        if b["dim"] % b["temporal"]["heads"]:
            raise ValueError(f"{branch}.temporal.heads must divide dim")
    v = cfg.get("video")
    if v is not None:
        bb = v["backbone"]
        if bb["type"] != "resnet":
            raise ValueError("video.backbone.type must be 'resnet'")
        if len(bb["widths"]) != len(bb["blocks"]) or not bb["widths"]:
            raise ValueError("widths and blocks must have the same non-zero length")
        if bb["widths"][-1] % v["spatial"]["heads"]:
            raise ValueError("video.spatial.heads must divide widths[-1]")
        n_ch = {"rgb": 3, "gray": 1}[v["color"]]
        if len(v["mean"]) != n_ch or len(v["std"]) != n_ch:
            raise ValueError("video.mean/std must have one entry per channel")
        if v.get("face", "box") not in FACE_PREPARATIONS:
            raise ValueError('video.face must be "box" or "aligned"')
    return cfg


# SPEC §4.1a: `video.face`, optional; a config without it means "box" (every v1 file).
FACE_PREPARATIONS = ("box", "aligned")


def face_preparation(video_cfg):
    """How the model's training faces were prepared: "box" (the key absent) or "aligned"."""
    face = video_cfg.get("face", "box")
    if face not in FACE_PREPARATIONS:
        raise ValueError('video.face must be "box" or "aligned", not %r' % (face,))
    return face


def to_json(cfg):
    return json.dumps(cfg, separators=(",", ":"))


def from_json(text):
    return validate(json.loads(text))

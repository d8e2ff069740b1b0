# mypy: ignore-errors
"""`.eri` files (SPEC §2): safetensors with `format`, `eri.version`, `eri.config` metadata."""

import json

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from .config import from_json, to_json
from .model import ERIModel, eri_state_dict

ERI_VERSION = "1"


def save_model(model, cfg, path, provenance=None, metrics=None, dtype=np.float32):
    """Write the model's tensors (SPEC §6 names, no num_batches_tracked) and metadata."""
    tensors = {name: np.ascontiguousarray(t.detach().cpu().numpy().astype(dtype))
               for name, t in eri_state_dict(model).items()}
    metadata = {"format": "eri", "eri.version": ERI_VERSION, "eri.config": to_json(cfg)}
    if provenance is not None:
        metadata["eri.provenance"] = provenance
    if metrics is not None:
        metadata["eri.metrics"] = metrics if isinstance(metrics, str) else json.dumps(metrics)
    save_file(tensors, str(path), metadata=metadata)


def read_metadata(path):
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_model(path):
    """→ (model in eval mode, float32; cfg). Strict name and shape checks."""
    with safe_open(str(path), framework="pt") as f:  # "pt" so F16/BF16 load too
        meta = f.metadata() or {}
        if meta.get("format") != "eri":
            raise ValueError(f"{path}: not an .eri file (metadata format={meta.get('format')!r})")
        if meta.get("eri.version") != ERI_VERSION:
            raise ValueError(f"{path}: unsupported eri.version {meta.get('eri.version')!r}")
        cfg = from_json(meta["eri.config"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}

    model = ERIModel(cfg)
    expected = eri_state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: tensors do not match the config; missing {missing}, extra {extra}")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(expected[name].shape):
            raise ValueError(f"{path}: {name} has shape {tuple(t.shape)}, "
                             f"the config needs {tuple(expected[name].shape)}")
        if t.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"{path}: {name} has unsupported dtype {t.dtype}")
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=False)
    return model.eval(), cfg

#!/usr/bin/env python3
"""The oracle for pretrained backbones (issue 14): torchvision's own ResNet, random weights.

    python reference/torchvision_resnet.py --arch resnet18 --seed 3 --images 2 --size 112 --out DIR

writes DIR/resnet.pth (the state dict, torch.save), DIR/resnet.safetensors (the same tensors,
num_batches_tracked included), DIR/images.f32 (N × 3 × S × S, raw float32) and DIR/features.f32
(N × C × h × w: layer4's output, before the pooling and fc liberi does not have), DIR/case.json.

The network is torchvision's `models/resnet.py`, read from the pinned torchvision wheel on PyPI
(downloaded once with `pip download --no-deps` into .build/models, its sha256 checked). PyPI's
torchvision is a CUDA build whose compiled part needs libcudart, so the package is not imported:
the file runs inside a stand-in package that gives it the few names it imports (weights enums,
registration and logging helpers), none of which touch the network. Its BatchNorm running
statistics and affine parameters are randomised, so that a wrong mapping of any of them shows.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import types
import zipfile
from enum import Enum

import numpy as np
import torch

WHEEL = "torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "7e80f543b22503d9415e126db5f0ff3917036925e38560ee6b9ae38c571a4002"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wheel_path():
    path = os.environ.get("ERI_TORCHVISION_WHEEL") or os.path.join(ROOT, ".build", "models", WHEEL)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "torchvision==0.28.0",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--only-binary=:all:",
                        "-d", os.path.dirname(path)], check=True)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, not the pinned {WHEEL_SHA256}")
    return path


def torchvision_resnet():
    """torchvision.models.resnet, executed from the wheel's source in a stand-in package."""
    source = zipfile.ZipFile(wheel_path()).read("torchvision/models/resnet.py").decode()

    class WeightsEnum(Enum):
        @classmethod
        def verify(cls, obj):   # only weights=None is used here: nothing is downloaded
            if obj is not None:
                raise ValueError("the oracle builds random weights only")
            return None

    class Weights:
        def __init__(self, url, transforms, meta):
            self.url, self.transforms, self.meta = url, transforms, meta

    def identity_decorator(*args, **kwargs):
        return lambda f: f

    stubs = {
        "torchvision": {},
        "torchvision.models": {},
        "torchvision.transforms": {},
        "torchvision.transforms._presets": {"ImageClassification": object},
        "torchvision.utils": {"_log_api_usage_once": lambda obj: None},
        "torchvision.models._api": {"register_model": identity_decorator, "Weights": Weights, "WeightsEnum": WeightsEnum},
        "torchvision.models._meta": {"_IMAGENET_CATEGORIES": []},
        "torchvision.models._utils": {"_ovewrite_named_param": lambda kwargs, name, value: kwargs.setdefault(name, value),
                                      "handle_legacy_interface": identity_decorator},
    }
    saved = {name: sys.modules.get(name) for name in stubs}
    try:
        for name, members in stubs.items():
            module = types.ModuleType(name)
            module.__dict__.update(members)
            module.__path__ = []
            sys.modules[name] = module
        resnet = types.ModuleType("torchvision.models.resnet")
        resnet.__package__ = "torchvision.models"
        exec(compile(source, f"{WHEEL}/torchvision/models/resnet.py", "exec"), resnet.__dict__)
        return resnet
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    net = getattr(torchvision_resnet(), a.arch)(weights=None).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(7)
        x = torch.randn(a.images, 3, a.size, a.size)
        y = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        y = net.layer4(net.layer3(net.layer2(net.layer1(y))))
    state = net.state_dict()
    torch.save(state, os.path.join(a.out, "resnet.pth"))
    # A small state dict for the reader's own test: a strided view (a transpose of a slice, its
    # storage shared), float16, float64, an integer tensor, a scalar.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    small = {"t": base[1:, ::2].t(), "h": torch.tensor([0.5, -2.0], dtype=torch.float16),
             "d": torch.tensor([[1.25]], dtype=torch.float64), "n": torch.tensor(3), "s": torch.tensor(7.5)}
    torch.save(small, os.path.join(a.out, "small.pth"))
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(a.out, "resnet.safetensors"))
    x.numpy().astype(np.float32).tofile(os.path.join(a.out, "images.f32"))
    y.numpy().astype(np.float32).tofile(os.path.join(a.out, "features.f32"))
    json.dump({"arch": a.arch, "images": list(x.shape), "features": list(y.shape)}, open(os.path.join(a.out, "case.json"), "w"))
    print(json.dumps({"features": list(y.shape)}))


if __name__ == "__main__":
    main()

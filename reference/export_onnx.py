#!/usr/bin/env python3
"""Export an `.eri` model to ONNX for the benchmarks, and check it with ONNX Runtime.

    python reference/export_onnx.py MODEL.eri OUT.onnx [--steps T] [--opset 17]

Inputs (batch 1, no padding): `frames` (1, F, C, S, S) normalised frames and/or
`mfcc` (1, T, n_mfcc) raw pooled MFCC (the model normalises it); output `y` (1, 7).
The time axis of `mfcc` is dynamic. Fails if ONNX Runtime and PyTorch differ by > 1e-4.
"""

import argparse
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref.eri_file import load_model  # noqa: E402


class ExportWrapper(torch.nn.Module):
    """Positional inputs for the exporter; batch 1 without padding, so no masks are traced."""

    def __init__(self, model, has_video, has_audio):
        super().__init__()
        self.model, self.has_video, self.has_audio = model, has_video, has_audio

    def forward(self, *inputs):
        it = iter(inputs)
        frames = next(it) if self.has_video else None
        mfcc = next(it) if self.has_audio else None
        return self.model(frames=frames, mfcc=mfcc)


def export(eri_path, onnx_path, steps=None, opset=17, check=True, seed=0):
    model, cfg = load_model(eri_path)
    v, a = cfg.get("video"), cfg.get("audio")
    gen = torch.Generator().manual_seed(seed)
    names, inputs, dynamic = [], [], {}
    if v is not None:
        ch = {"rgb": 3, "gray": 1}[v["color"]]
        names.append("frames")
        inputs.append(torch.randn(1, v["frames"], ch, v["image_size"], v["image_size"], generator=gen))
    if a is not None:
        T = steps or a["max_steps"]
        names.append("mfcc")
        inputs.append(torch.randn(1, T, a["mfcc"]["n_mfcc"], generator=gen) * 20)
        dynamic["mfcc"] = {1: "steps"}
    wrapper = ExportWrapper(model, v is not None, a is not None).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about the no-padding shortcut
        expected = wrapper(*inputs).numpy()
        torch.onnx.export(wrapper, tuple(inputs), onnx_path, input_names=names, output_names=["y"],
                          dynamic_axes=dynamic or None, opset_version=opset, dynamo=False)
    if not check:
        return None
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(["y"], {n: t.numpy() for n, t in zip(names, inputs)})[0]
    diff = float(np.abs(got - expected).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX Runtime differs from PyTorch by {diff:.3g} (> 1e-4)")
    if a is not None:  # the dynamic time axis must work at another length too
        other = inputs[:-1] + [inputs[-1][:, : max(1, inputs[-1].shape[1] // 2)]]
        with torch.no_grad():
            expected2 = wrapper(*other).numpy()
        got2 = session.run(["y"], {n: t.numpy() for n, t in zip(names, other)})[0]
        diff = max(diff, float(np.abs(got2 - expected2).max()))
        if diff > 1e-4:
            raise RuntimeError(f"ONNX Runtime differs at a shorter length by {diff:.3g} (> 1e-4)")
    return diff


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eri")
    ap.add_argument("onnx")
    ap.add_argument("--steps", type=int, help="MFCC steps of the example input (default max_steps)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args(argv)
    diff = export(args.eri, args.onnx, args.steps, args.opset)
    print(f"wrote {args.onnx}; max |onnxruntime − torch| = {diff:.3g}")


if __name__ == "__main__":
    main()

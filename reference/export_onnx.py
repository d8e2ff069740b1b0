#!/usr/bin/env python3
"""Export an `.eri` model to ONNX for the benchmarks, and check it with ONNX Runtime.

    python reference/export_onnx.py MODEL.eri OUT.onnx [--steps T] [--opset 17]

liberi.torch.onnx's export (liberi.export_onnx) with the batch fixed at 1: inputs `frames`
(1, F, C, S, S) normalised frames and/or `mfcc` (1, T, n_mfcc) raw pooled MFCC (the model
normalises it); output `y` (1, 7). The time axis of `mfcc` is dynamic. Fails if ONNX Runtime and
PyTorch differ by > 1e-4, at the traced length and at half of it.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref.eri_file import load_model  # noqa: E402  (liberi.torch's, which puts python/ on the path)
from liberi.torch.onnx import export_traced  # noqa: E402


def export(eri_path, onnx_path, steps=None, opset=17, check=True, seed=0):
    model, cfg = load_model(eri_path)
    names, inputs, wrapper = export_traced(model, cfg, onnx_path, opset=opset, steps=steps, batch=1, dynamic_batch=False, seed=seed)
    if not check:
        return None
    import onnxruntime as ort
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    diff = 0.0
    lengths = [inputs] + ([inputs[:-1] + [inputs[-1][:, : max(1, inputs[-1].shape[1] // 2)]]] if "mfcc" in names else [])
    for example in lengths:  # the dynamic time axis must work at another length too
        with torch.no_grad():
            expected = wrapper(*example).numpy()
        got = session.run(["y"], {n: t.numpy() for n, t in zip(names, example)})[0]
        diff = max(diff, float(np.abs(got - expected).max()))
        if diff > 1e-4:
            raise RuntimeError(f"ONNX Runtime differs from PyTorch by {diff:.3g} (> 1e-4) at {example[-1].shape[1]} steps")
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

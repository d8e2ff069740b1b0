# mypy: ignore-errors
"""ONNX export of an .eri model: the network only; the preprocessing stays in liberi.

Inputs (batch and, for `mfcc`, time axes dynamic; no padding inside a batch):
  frames (B, F, C, S, S) float32: F frames sampled and face-prepared as SPEC §4.1/§4.1a, normalised
                         ((x − mean)/std per channel; C = 3 RGB or 1 gray; S = video.image_size)
  mfcc   (B, T, n_mfcc)  float32: pooled MFCC of SPEC §4.2 steps 1–4 (T ≤ audio.max_steps), raw:
                         the graph applies `audio.norm.*` itself
Output: y (B, 7) in [0, 1], the emotions in SPEC §1 order. A one-branch model has only its input.
"""

import warnings

import torch

from .eri_file import load_model


class ExportWrapper(torch.nn.Module):
    """Positional inputs for the exporter ("frames" and/or "mfcc", in that order)."""

    def __init__(self, model, has_video, has_audio):
        super().__init__()
        self.model, self.has_video, self.has_audio = model, has_video, has_audio

    def forward(self, *inputs):
        it = iter(inputs)
        frames = next(it) if self.has_video else None
        mfcc = next(it) if self.has_audio else None
        return self.model(frames=frames, mfcc=mfcc)


def example_inputs(cfg, batch=2, steps=None, seed=0):
    """The inputs the graph is traced with: (names, tensors), random, `steps` MFCC steps (default max_steps)."""
    v, a = cfg.get("video"), cfg.get("audio")
    gen = torch.Generator().manual_seed(seed)
    names, inputs = [], []
    if v is not None:
        ch = {"rgb": 3, "gray": 1}[v["color"]]
        names.append("frames")
        inputs.append(torch.randn(batch, v["frames"], ch, v["image_size"], v["image_size"], generator=gen))
    if a is not None:
        names.append("mfcc")
        inputs.append(torch.randn(batch, steps or a["max_steps"], a["mfcc"]["n_mfcc"], generator=gen) * 20)
    return names, inputs


def export_onnx(eri_path, onnx_path, opset=17, steps=None, batch=2, dynamic_batch=True, seed=0):
    """Writes `onnx_path` from the .eri model; returns the input names ("frames" and/or "mfcc").
    `dynamic_batch=False` fixes the batch axis at `batch` (the benchmarks' batch-1 graph)."""
    model, cfg = load_model(eri_path)
    return export_traced(model, cfg, onnx_path, opset, steps, batch, dynamic_batch, seed)[0]


def export_traced(model, cfg, onnx_path, opset=17, steps=None, batch=2, dynamic_batch=True, seed=0):
    """`export_onnx` of a loaded model; returns (names, example inputs, wrapper): what was traced,
    for a caller that checks the graph against PyTorch."""
    names, inputs = example_inputs(cfg, batch, steps, seed)
    dynamic = {name: ({0: "batch"} if dynamic_batch else {}) for name in names}
    if "mfcc" in dynamic:
        dynamic["mfcc"][1] = "steps"
    if dynamic_batch:
        dynamic["y"] = {0: "batch"}
    dynamic = {k: d for k, d in dynamic.items() if d}
    wrapper = ExportWrapper(model, "frames" in names, "mfcc" in names).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about the no-padding shortcut
        torch.onnx.export(wrapper, tuple(inputs), str(onnx_path), input_names=names, output_names=["y"],
                          dynamic_axes=dynamic or None, opset_version=opset, dynamo=False)
    return names, inputs, wrapper

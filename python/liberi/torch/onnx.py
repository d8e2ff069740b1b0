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


class _Wrapper(torch.nn.Module):
    def __init__(self, model, has_video, has_audio):
        super().__init__()
        self.model, self.has_video, self.has_audio = model, has_video, has_audio

    def forward(self, *inputs):
        it = iter(inputs)
        frames = next(it) if self.has_video else None
        mfcc = next(it) if self.has_audio else None
        return self.model(frames=frames, mfcc=mfcc)


def export_onnx(eri_path, onnx_path, opset=17, steps=None):
    """Writes `onnx_path` from the .eri model; returns the input names ("frames" and/or "mfcc")."""
    model, cfg = load_model(eri_path)
    v, a = cfg.get("video"), cfg.get("audio")
    gen = torch.Generator().manual_seed(0)
    names, inputs, dynamic = [], [], {}
    if v is not None:
        ch = {"rgb": 3, "gray": 1}[v["color"]]
        names.append("frames")
        inputs.append(torch.randn(2, v["frames"], ch, v["image_size"], v["image_size"], generator=gen))
        dynamic["frames"] = {0: "batch"}
    if a is not None:
        names.append("mfcc")
        inputs.append(torch.randn(2, steps or a["max_steps"], a["mfcc"]["n_mfcc"], generator=gen) * 20)
        dynamic["mfcc"] = {0: "batch", 1: "steps"}
    dynamic["y"] = {0: "batch"}
    wrapper = _Wrapper(model, v is not None, a is not None).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, tuple(inputs), str(onnx_path), input_names=names, output_names=["y"],
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    return names

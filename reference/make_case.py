#!/usr/bin/env python3
"""Make one parity case for liberi's tests: a random-weight model and the oracle's numbers.

    python reference/make_case.py --preset dbn-tiny --seed 1 --out /tmp/case
    python reference/make_case.py --preset dbn-tiny --video-only --seed 2 --out /tmp/case_v

Writes DIR/model.eri, DIR/case.safetensors (all tensors float32) and DIR/case.json
(shapes and scalars). The oracle runs the model in float64 (weights are the float32
values stored in model.eri), so it is more exact than the float32 code under test.
"""

import argparse
import contextlib
import math
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref import config as C  # noqa: E402
from eri_ref import features  # noqa: E402
from eri_ref import model as model_module  # noqa: E402
from eri_ref.eri_file import save_model  # noqa: E402
from eri_ref.model import build_model, eri_loss, eri_state_dict, randomize_for_testing  # noqa: E402

BYTES_PER_PIXEL = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4, "gray8": 1}


def synthetic_frames(rng, n, height, width):
    """Smooth random RGB24 images with a drifting pattern: (n, H, W, 3) uint8."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    coarse = rng.standard_normal((3, 6, 6))
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        img = np.empty((height, width, 3))
        for c in range(3):
            phase = 0.3 * i + c
            wave = np.sin(xx / (7.0 + 2 * c) + phase) * np.cos(yy / (9.0 - c) - 0.5 * phase)
            blob = np.kron(coarse[c], np.ones((height // 6 + 1, width // 6 + 1)))[:height, :width]
            img[..., c] = 128 + 60 * wave + 30 * blob + 20 * rng.standard_normal((height, width))
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def synthetic_pixels(rgb, pixel_format, rng):
    """The synthetic RGB24 frames laid out in another pixel format (random alpha, which
    SPEC §4.1 ignores; gray8 takes the green channel as its luminance)."""
    if pixel_format == "rgb24":
        return rgb
    if pixel_format == "bgr24":
        return np.ascontiguousarray(rgb[..., ::-1])
    if pixel_format == "gray8":
        return np.ascontiguousarray(rgb[..., 1:2])
    alpha = rng.integers(0, 256, rgb.shape[:3] + (1,), dtype=np.uint8)
    color = rgb if pixel_format == "rgba" else rgb[..., ::-1]
    return np.ascontiguousarray(np.concatenate([color, alpha], axis=-1))


def synthetic_speech(rng, seconds, sr):
    """A speech-like float32 signal: gliding harmonics, syllable-rate AM, formant tilt, noise."""
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 5.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** 0.8 *
                (1.5 if 3 <= k <= 5 else 1.0) for k in range(1, 16))
    envelope = (0.5 * (1 + np.sin(2 * np.pi * 4.1 * t - 1.0))) ** 2
    y = 0.12 * envelope * voice + 0.01 * rng.standard_normal(t.size)
    return np.clip(y, -1, 1).astype(np.float32)


def as_f32(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="dbn-tiny", choices=sorted(C.PRESETS))
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--video-only", action="store_true", help="a model without the audio branch")
    mode.add_argument("--audio-only", action="store_true", help="a model without the video branch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--frames-input", help="raw uint8 frames file (N·H·W·bytes), default: synthetic")
    ap.add_argument("--frames-shape", default="11,70,90", help="N,H,W of the frames (default 11,70,90)")
    ap.add_argument("--pixel-format", default="rgb24", choices=features.PIXEL_FORMATS)
    ap.add_argument("--box", default="54.5,-6.5,41,45",
                    help="face box x,y,w,h (default reaches past the top and right edges); 'none' for none")
    ap.add_argument("--pcm-input", help="raw float32 mono PCM at the model's rate, default: synthetic")
    ap.add_argument("--seconds", type=float, default=2.7, help="length of the synthetic PCM")
    ap.add_argument("--no-grads", action="store_true", help="skip the training-step gradient oracle")
    ap.add_argument("--steps", type=int, default=0,
                    help="also K optimiser steps on the training batch (AdamW, clipping, schedule): the loss trajectory")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the --steps trajectory")
    args = ap.parse_args(argv)

    cfg = C.preset(args.preset)
    if args.video_only:
        cfg = C.video_only(cfg)
    if args.audio_only:
        cfg = C.audio_only(cfg)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    # -- model: PyTorch default init, then perturbed normalisation stats (float32 weights)
    model = randomize_for_testing(build_model(cfg, seed=args.seed), seed=args.seed + 1000).eval()
    save_model(model, cfg, os.path.join(args.out, "model.eri"),
               provenance=f"make_case.py --preset {args.preset} --seed {args.seed} (random weights)")
    oracle = copy.deepcopy(model).double().eval()

    tensors, info = {}, {"preset": args.preset, "seed": args.seed, "config": cfg,
                         "branches": [b for b in ("video", "audio") if cfg[b] is not None]}
    frames_pre = mfcc_pre = None
    n, H, W = (int(v) for v in args.frames_shape.split(","))

    # -- raw inputs and SPEC §4 preprocessing
    if cfg["video"] is not None:
        if args.frames_input:
            raw = np.fromfile(args.frames_input, dtype=np.uint8).reshape(
                n, H, W, BYTES_PER_PIXEL[args.pixel_format])
        else:
            raw = synthetic_pixels(synthetic_frames(rng, n, H, W), args.pixel_format, rng)
        box = None if args.box == "none" else [float(v) for v in args.box.split(",")]
        frames_pre = features.preprocess_video(raw, cfg["video"], args.pixel_format, box)  # (F, C, S, S)
        tensors["input.frames_u8"] = as_f32(raw)
        if box is not None:
            tensors["input.box"] = as_f32(box)
        tensors["pre.frames"] = as_f32(frames_pre)
        left, top, side = features.crop_square(W, H, box)
        info["video_input"] = {"frames_shape": list(raw.shape), "pixel_format": args.pixel_format,
                               "box": box, "crop_left_top_side": [left, top, side],
                               "sample_indices": features.sample_indices(n, cfg["video"]["frames"])}
    if cfg["audio"] is not None:
        sr = cfg["audio"]["sample_rate"]
        pcm = (np.fromfile(args.pcm_input, dtype=np.float32) if args.pcm_input
               else synthetic_speech(rng, args.seconds, sr))
        mfcc_raw, mfcc_pre = features.preprocess_audio(pcm, cfg["audio"], sr)  # (T_a, n), (T, n)
        tensors["input.pcm"] = as_f32(pcm)
        tensors["input.sample_rate"] = as_f32([sr])
        tensors["pre.mfcc_raw"] = as_f32(mfcc_raw)
        tensors["pre.mfcc"] = as_f32(mfcc_pre)
        info["audio_input"] = {"samples": int(pcm.size), "channels": 1, "sample_rate": sr,
                               "mfcc_frames": int(mfcc_raw.shape[0]), "steps": int(mfcc_pre.shape[0])}

    # -- forward passes in float64 (batch of one)
    fr = None if frames_pre is None else torch.from_numpy(frames_pre)[None].double()  # (1, F, C, S, S)
    mf = None if mfcc_pre is None else torch.from_numpy(mfcc_pre)[None].double()      # (1, T, n)
    with torch.no_grad():
        _, inter = oracle(frames=fr, mfcc=mf, return_intermediates=True)
        for k, v in inter.items():
            tensors[k] = as_f32(v)
        if fr is not None and mf is not None:
            tensors["out.av"] = as_f32(oracle(frames=fr, mfcc=mf)[0])
        if fr is not None:
            tensors["out.video_only"] = as_f32(oracle(frames=fr)[0])
        if mf is not None:
            tensors["out.audio_only"] = as_f32(oracle(mfcc=mf)[0])

    # -- one training step's gradients (llm.c style): batch of 2, train mode, no dropout
    if not args.no_grads:
        tensors.update(training_oracle(model, fr, mf, rng, info))
        if args.steps > 0:
            tensors.update(trajectory_oracle(model, tensors, args.steps, args.lr, info))

    save_file(tensors, os.path.join(args.out, "case.safetensors"),
              metadata={"format": "eri-case", "eri.config": C.to_json(cfg)})
    info["tensors"] = {k: list(v.shape) for k, v in tensors.items()}
    with open(os.path.join(args.out, "case.json"), "w") as f:
        json.dump(info, f, indent=1)
    for k in ("out.av", "out.video_only", "out.audio_only"):
        if k in tensors:
            print(k, np.array2string(tensors[k], precision=6))


class DecisionRecorder:
    """Stands in for torch.nn.functional inside eri_ref.model during a forward pass and
    records the network's decisions: every ReLU (input, output) and max-pool call."""

    def __init__(self):
        self.relus, self.pools = [], []

    def __getattr__(self, name):
        return getattr(F, name)

    def relu(self, x):
        y = F.relu(x)
        if y.requires_grad:
            y.retain_grad()
        self.relus.append((x, y))
        return y

    def max_pool2d(self, x, kernel_size, stride, padding):
        y, idx = F.max_pool2d(x, kernel_size, stride=stride, padding=padding, return_indices=True)
        if y.requires_grad:
            y.retain_grad()
        self.pools.append((x, y, idx, kernel_size, stride, padding))
        return y


@contextlib.contextmanager
def recording_decisions():
    rec, saved = DecisionRecorder(), model_module.F
    model_module.F = rec
    try:
        yield rec
    finally:
        model_module.F = saved


# A decision is ambiguous when the float64 value is within this many float32 rounding errors
# (RMS over its layer) of the threshold: float32 implementations take either branch there.
FLIP_SIGMAS = 6.0


def flip_budget(rec64, rec32, named_params):
    """Per parameter element, how far its float64 gradient moves when float32 arithmetic flips
    ambiguous decisions of the float64 forward, summed over them (first order: the forward
    values move by less than the threshold, only the routing of the gradient changes):
    a ReLU input within FLIP_SIGMAS·σ of 0 adds or drops dL/dy there; a max-pool input within
    FLIP_SIGMAS·σ below its window's maximum takes the window's gradient instead. σ: the RMS
    distance of that tensor between the float32 and float64 forward passes. Exact ties among
    max-pool inputs are left out: they arise from identical receptive fields (constant padding
    of the face crop), whose gradients are the same whichever one wins.
    → ({name: budget tensor}, number of ambiguous decisions)."""
    names, params = [n for n, _ in named_params], [p for _, p in named_params]
    budget = {n: torch.zeros_like(p) for n, p in named_params}

    def add(t, g_out):
        grads = torch.autograd.grad(t, params, g_out, retain_graph=True, allow_unused=True)
        for n, g in zip(names, grads):
            if g is not None:
                budget[n] += g.abs()

    count = 0
    for (x, y), (x32, _) in zip(rec64.relus, rec32.relus):
        if y.grad is None:
            continue
        tau = FLIP_SIGMAS * (x32.detach().double() - x.detach()).pow(2).mean().sqrt()
        # (an input that is exactly 0 in both passes is a structural zero, e.g. ReLU(0 + 0) in a
        # TCN block: every implementation decides it alike)
        x32 = x32.detach()
        near = (x.detach().abs() <= tau) & (y.grad != 0) & ~((x.detach() == 0) & (x32 == 0))
        for e in near.nonzero().tolist():
            g_out = torch.zeros_like(x)
            g_out[tuple(e)] = y.grad[tuple(e)]
            add(x, g_out)
            count += 1
    for (x, y, idx, k, s, p), (x32, *_) in zip(rec64.pools, rec32.pools):
        if y.grad is None:
            continue
        tau = FLIP_SIGMAS * (x32.detach().double() - x.detach()).pow(2).mean().sqrt()
        N, C, H, W = x.shape
        xp = F.pad(x.detach(), (p, p, p, p), value=-math.inf)
        windows = xp.unfold(2, k, s).unfold(3, k, s)               # (N, C, oh, ow, k, k)
        top = y.detach()[..., None, None]
        for n, c, oy, ox, ky, kx in ((windows < top) & (windows >= top - tau)).nonzero().tolist():
            g = y.grad[n, c, oy, ox]
            if g == 0:
                continue
            g_out = torch.zeros_like(x)
            flat = g_out.view(N, C, H * W)
            flat[n, c, (oy * s - p + ky) * W + ox * s - p + kx] += g
            flat[n, c, idx[n, c, oy, ox]] -= g
            add(x, g_out)
            count += 1
    return budget, count


def training_copy(model, dtype):
    """A copy of the model in training mode (BatchNorm on batch statistics) and `dtype`,
    with dropout and modality dropout off, so that a step is deterministic."""
    m = copy.deepcopy(model).to(dtype).train()
    for mod in m.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
    m.modality_dropout = 0.0
    return m


def training_oracle(model, fr, mf, rng, info):
    """Batch of 4 (clip 0 = the case input; 1 = mirrored frames, audio cut to 2/3 and padded;
    2 = frames scaled by 0.8, audio cut to 1/3; 3 = frames time-reversed, audio cut to 1 step),
    BatchNorm on batch statistics, dropout and modality dropout off, loss = eri_loss.
    Returns `train.*`, `grad.<param>` and `after.<buffer>` (BN running stats after the step)."""
    m = training_copy(model, torch.float64)
    out = {}
    frames = mfcc = lengths = None
    B = 4
    if fr is not None:
        frames = torch.cat([fr, fr.flip(-1), fr * 0.8, fr.flip(1)], dim=0)  # (4, F, C, S, S)
        frames = frames.float().double()  # the oracle computes on the float32 values the tests feed
        out["train.frames"] = as_f32(frames)
    if mf is not None:
        T = mf.shape[1]
        lens = [T, max(1, (2 * T) // 3), max(1, T // 3), 1]
        clips = []
        for k, L in enumerate(lens):
            c = torch.zeros_like(mf)
            c[:, :L] = mf[:, :L] * (1.0 - 0.1 * k)
            clips.append(c)
        mfcc = torch.cat(clips, dim=0).float().double()               # (4, T, n), padded; float32 values
        lengths = torch.tensor(lens)
        out["train.mfcc"] = as_f32(mfcc)
        out["train.lengths"] = as_f32(lengths)
    target = torch.from_numpy(rng.uniform(0, 1, (B, 7)))              # (B, 7)
    with recording_decisions() as rec64:
        y = m(frames=frames, mfcc=mfcc, audio_lengths=lengths)
    loss = eri_loss(y, target, C.train_params(m.cfg)["pcc_weight"])
    loss.backward(retain_graph=True)  # the graph stays for flip_budget
    out["train.target"], out["train.y"], out["train.loss"] = as_f32(target), as_f32(y), as_f32([loss.item()])
    for name, p in m.named_parameters():
        out[f"grad.{name}"] = as_f32(p.grad)
    # The same step in float32 PyTorch: how far float32 arithmetic alone moves each
    # gradient (ReLU/max-pool decisions at near-ties, batch statistics over few values).
    # The parity test allows liberi (float32) the same distance from the float64 oracle.
    m32 = training_copy(model, torch.float32)
    with recording_decisions() as rec32:
        y32 = m32(frames=None if frames is None else frames.float(), mfcc=None if mfcc is None else mfcc.float(),
                  audio_lengths=lengths)
    eri_loss(y32, target.float(), C.train_params(m32.cfg)["pcc_weight"]).backward()
    for name, p in m32.named_parameters():
        out[f"grad32.{name}"] = as_f32(p.grad)
    # Which gradients hinge on near-tie decisions: float32 code (PyTorch's as well as liberi's)
    # lands on either side of them by chance, moving those gradients by up to flip.<param>.
    budget, ambiguous = flip_budget(rec64, rec32, list(m.named_parameters()))
    for name, b in budget.items():
        out[f"flip.{name}"] = as_f32(b)
    info["ambiguous_decisions"] = ambiguous
    for name, b in eri_state_dict(m).items():
        if "running_" in name:
            out[f"after.{name}"] = as_f32(b)
    info["train"] = {"batch": B, "lengths": None if lengths is None else lengths.tolist(),
                     "loss": loss.item(), "mode": "train, dropout 0, modality_dropout 0"}
    return out


def trajectory_oracle(model, tensors, steps, peak, info, ensemble=8):
    """K steps of the whole training recipe on the training batch: forward and loss
    (BatchNorm on batch statistics, dropout and modality dropout off), backward, global-norm
    clipping to 1, AdamW (β 0.9/0.999, ε 1e-8, weight decay 0.01 on tensors of 2+
    dimensions only) at the learning rate of liberi's schedule (warm-up 2 steps, cosine to
    5 % of the peak over K). In float64: `steps.loss` (the loss before each step) and
    `steps.after.<name>` (every parameter and BatchNorm statistic after K steps).

    How far float32 arithmetic alone drifts from that: the plain float32 run (`steps.loss32`)
    and `ensemble` more whose weights start one ulp away at random (the spread of float32
    implementations: training amplifies rounding, and where a run lands is chance). Per step
    the largest relative loss drift of them all (`steps.drift32`), per tensor the largest
    Σ|w32 − w64| after K steps (`steps.off32.<name>`). The parity test allows liberi a multiple."""
    get = lambda k: torch.from_numpy(tensors[k]).double() if k in tensors else None
    frames, mfcc, target = get("train.frames"), get("train.mfcc"), get("train.target")
    lengths = None if "train.lengths" not in tensors else torch.from_numpy(tensors["train.lengths"]).long()
    warm, floor = 2, 0.05

    def run(dtype, nudge=None):
        m = training_copy(model, dtype)
        if nudge is not None:  # every value one ulp up or down, or kept, at random
            gen = torch.Generator().manual_seed(nudge)
            with torch.no_grad():
                for t in list(m.parameters()) + [b for b in m.buffers() if b.is_floating_point()]:
                    way = torch.randint(-1, 2, t.shape, generator=gen).to(t.dtype)
                    t.copy_(torch.where(way == 0, t, torch.nextafter(t, way * math.inf)))
        cast = lambda t: None if t is None else t.to(dtype)
        params = [p for _, p in m.named_parameters()]
        opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim > 1], "weight_decay": 0.01},
                                 {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}],
                                lr=peak, betas=(0.9, 0.999), eps=1e-8)
        losses = []
        for k in range(steps):
            if k < warm:
                lr = peak * (k + 1) / warm
            else:
                progress = min((k - warm) / max(1, steps - warm), 1.0)
                lr = peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad()
            y = m(frames=cast(frames), mfcc=cast(mfcc), audio_lengths=lengths)
            loss = eri_loss(y, cast(target), C.train_params(m.cfg)["pcc_weight"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
        return m, losses

    m, losses = run(torch.float64)
    after = eri_state_dict(m)
    m32, losses32 = run(torch.float32)
    runs = [(m32, losses32)] + [run(torch.float32, nudge=1000 + i) for i in range(ensemble)]
    drift = [max(abs(l32[k] - losses[k]) / abs(losses[k]) for _, l32 in runs) for k in range(steps)]
    out = {"steps.loss": as_f32(losses), "steps.loss32": as_f32(losses32), "steps.drift32": as_f32(drift)}
    for name, t in after.items():
        out[f"steps.after.{name}"] = as_f32(t)
        out[f"steps.off32.{name}"] = as_f32([max(float((eri_state_dict(r)[name].double() - t).abs().sum()) for r, _ in runs)])
    info["steps"] = {"count": steps, "peak_lr": peak, "warmup": warm, "floor": floor, "losses": losses, "losses32": losses32,
                     "drift32": drift, "ensemble": ensemble}
    return out


if __name__ == "__main__":
    main()

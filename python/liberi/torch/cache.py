# mypy: ignore-errors
"""The PyTorch side of liberi's preprocessed-clip cache (docs/cache.md).

`eri cache build` (or `eri train`) writes the clips decoded, sampled, with their faces
prepared and their MFCC computed; this module reads them back and builds batches exactly
as liberi's trainer does (Sources/ERITrain/Batching.swift): the same frame jitter, flip,
crop/scale, brightness/contrast and audio crop, drawn from the same generator
(`SeededGenerator`, xoshiro256** seeded by splitmix64), so a batch built here with a
seed equals `eri cache batch --seed` with that seed.
"""

import glob
import json
import os

import numpy as np
from safetensors import safe_open

_M64 = (1 << 64) - 1


class SeededGenerator:
    """liberi's SeededGenerator (Sources/ERICore/Random.swift): xoshiro256**, splitmix64 seeding."""

    def __init__(self, seed):
        x = seed & _M64
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & _M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next(self):
        s0, s1, s2, s3 = self.s
        r = (s1 * 5) & _M64
        result = (((r << 7) | (r >> 57)) & _M64) * 9 & _M64
        t = (s1 << 17) & _M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & _M64
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self, low, high):
        """float32 arithmetic, as the Swift `Float` version."""
        unit = np.float32(self.next() >> 40) * np.float32(1.0 / (1 << 24))
        low, high = np.float32(low), np.float32(high)
        return np.float32(low + np.float32(high - low) * unit)


class CachedClip:
    __slots__ = ("id", "split", "training", "labels", "frames", "mfcc", "entry")

    def __init__(self, id, split, training, labels, frames, mfcc, entry):
        self.id, self.split, self.training, self.labels = id, split, training, labels
        self.frames, self.mfcc, self.entry = frames, mfcc, entry


def _same_preprocessing(a, b):
    """The config sections the cache depends on: video and audio."""
    return all(a.get(k) == b.get(k) for k in ("video", "audio"))


def read_index(cache_dir, config=None):
    """The clips of every `index-*.json` in `cache_dir` (the shards of one or more builds),
    restricted to `config`'s preprocessing when given (a dict or JSON text). → list of dicts."""
    if isinstance(config, str):
        config = json.loads(config)
    paths = sorted(glob.glob(os.path.join(cache_dir, "index-*.json")))
    if not paths:
        raise FileNotFoundError(f"{cache_dir}: no index-*.json (run `eri cache build --data DATA`)")
    clips, keys = {}, set()
    for p in paths:
        with open(p) as f:
            index = json.load(f)
        if index.get("format") != "eri-cache-index":
            raise ValueError(f"{p}: not an eri cache index")
        if config is not None and not _same_preprocessing(index["config"], config):
            continue
        keys.add(index["preprocessing"])
        for c in index["clips"]:
            clips[(c["id"], c["training"])] = dict(c, config=index["config"])
    if len(keys) > 1:
        raise ValueError(f"{cache_dir}: indexes of {len(keys)} preprocessings; pass the config to choose one")
    if not clips:
        raise ValueError(f"{cache_dir}: no cached clips for this config")
    return sorted(clips.values(), key=lambda c: c["id"])


def load_clips(cache_dir, split, config=None):
    """The cached clips of a split ("Train", "Val", "Test"), as numpy float32 arrays."""
    out = []
    for c in read_index(cache_dir, config):
        if c["split"] != split:
            continue
        path = os.path.join(cache_dir, c["entry"])
        with safe_open(path, framework="np") as f:
            keys = set(f.keys())
            frames = f.get_tensor("frames") if "frames" in keys else None
            mfcc = f.get_tensor("mfcc") if "mfcc" in keys else None
        out.append(CachedClip(c["id"], c["split"], c["training"], np.asarray(c["labels"], dtype=np.float32),
                              frames, mfcc, c["entry"]))
    return out


def mfcc_statistics(clips, n):
    """`audio.norm.mean` / `audio.norm.std` over the clips' MFCC steps, as liberi's trainer."""
    total, sq, count = np.zeros(n), np.zeros(n), 0.0
    for c in clips:
        if c.mfcc is None:
            continue
        m = c.mfcc.astype(np.float64)
        total += m.sum(axis=0)
        sq += (m * m).sum(axis=0)
        count += m.shape[0]
    if count <= 1:
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    mean = total / count
    std = np.maximum(np.sqrt(sq / count - mean * mean).astype(np.float32), np.float32(1e-3))
    return mean.astype(np.float32), std


_SCALES, _CONTRASTS, _BRIGHTNESSES = (0.9, 1.0), (0.9, 1.1), (-0.05, 0.05)


def _random_augmentation(size, rng):
    flip = rng.next() & 1 == 1
    scale = rng.uniform(*_SCALES)
    side = np.float32(np.float32(size) * scale)
    left = rng.uniform(0, np.float32(size) - side)
    top = rng.uniform(0, np.float32(size) - side)
    contrast = rng.uniform(*_CONTRASTS)
    brightness = rng.uniform(*_BRIGHTNESSES)
    return flip, scale, left, top, contrast, brightness


def _augment(frames, v, a):
    """frames (F, C, S, S) float32, in place: Batcher.augment's bilinear crop/scale, flip,
    contrast and brightness, in float32 with the same operation order."""
    flip, scale, left, top, contrast, brightness = a
    f32 = np.float32
    s = frames.shape[-1]
    idx = np.arange(s)
    sy = f32(top) + (idx.astype(f32) + f32(0.5)) * f32(scale) - f32(0.5)
    xx = (s - 1 - idx) if flip else idx
    sx = f32(left) + (xx.astype(f32) + f32(0.5)) * f32(scale) - f32(0.5)
    y0 = np.clip(np.floor(sy).astype(np.int64), 0, s - 1)
    y1 = np.minimum(s - 1, y0 + 1)
    wy = np.clip(sy - y0.astype(f32), f32(0), f32(1)).astype(f32)[:, None]
    x0 = np.clip(np.floor(sx).astype(np.int64), 0, s - 1)
    x1 = np.minimum(s - 1, x0 + 1)
    wx = np.clip(sx - x0.astype(f32), f32(0), f32(1)).astype(f32)[None, :]
    for ch in range(frames.shape[1]):
        mean, std = f32(v["mean"][ch]), f32(v["std"][ch])
        src = frames[:, ch]                                            # (F, S, S)
        a00, a01 = src[:, y0][:, :, x0], src[:, y0][:, :, x1]
        a10, a11 = src[:, y1][:, :, x0], src[:, y1][:, :, x1]
        value = (a00 * (f32(1) - wx) + a01 * wx) * (f32(1) - wy) + (a10 * (f32(1) - wx) + a11 * wx) * wy
        pixel = (value * std + mean - f32(0.5)) * f32(contrast) + f32(0.5) + f32(brightness)
        frames[:, ch] = (pixel - mean) / std


def make_batch(clips, cfg, training, rng, only=None):
    """liberi's Batcher.batch over `clips` → dict of numpy arrays: frames (B, F, C, S, S),
    mfcc (B, T, n), audio_lengths (B,), targets (B, 7). `only`: a range of clip positions to
    build (the others' random draws are still made, so a rank's slice of a global batch
    equals that slice of the whole batch); rows outside it stay zero."""
    B = len(clips)
    build = range(B) if only is None else only
    out = {}
    v, a = cfg.get("video"), cfg.get("audio")
    if v is not None:
        F, S = v["frames"], v["image_size"]
        C = {"rgb": 3, "gray": 1}[v["color"]]
        frames = np.zeros((B, F, C, S, S), np.float32)
        for i, clip in enumerate(clips):
            if clip.frames is None:
                continue
            stored = clip.frames.shape[0]
            picks = []
            for j in range(F):
                if stored == 2 * F:
                    picks.append(2 * j + (1 if training and rng.next() & 1 == 1 else 0))
                else:
                    picks.append(j * stored // F)
            aug = _random_augmentation(S, rng) if training else None
            if i in build:
                frames[i] = clip.frames[picks]
                if aug is not None:
                    _augment(frames[i], v, aug)
        out["frames"] = frames
    if a is not None:
        n, cap = a["mfcc"]["n_mfcc"], a["max_steps"]
        steps = []
        for clip in clips:
            m = clip.mfcc
            if m is None:
                steps.append(np.zeros((1, n), np.float32))
                continue
            t = m.shape[0]
            if t <= cap:
                steps.append(m)
            elif training:
                start = rng.next() % (t - cap + 1)
                steps.append(m[start:start + cap])
            else:
                k = ((2 * np.arange(cap) + 1) * t) // (2 * cap)
                steps.append(m[k])
        longest = max(s.shape[0] for s in steps)
        mfcc = np.zeros((B, longest, n), np.float32)
        for i in build:
            mfcc[i, :steps[i].shape[0]] = steps[i]
        out["mfcc"] = mfcc
        out["audio_lengths"] = np.array([s.shape[0] for s in steps], np.int64)
    out["targets"] = np.stack([c.labels for c in clips]).astype(np.float32)
    return out

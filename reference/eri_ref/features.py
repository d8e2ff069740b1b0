"""SPEC §4 preprocessing: video frames → (F, C, S, S), PCM → MFCC steps.

Computed in float64 where possible; callers cast to float32 when storing.
"""

import math
import warnings

import librosa
import numpy as np
import torch
import torch.nn.functional as F

PIXEL_FORMATS = ("rgb24", "bgr24", "rgba", "bgra", "gray8")


# ---------------------------------------------------------------- video (SPEC §4.1)

def sample_indices(n_frames, F_out):
    """i_j = floor((j + 0.5)·N/F), j = 0…F−1, in exact integer arithmetic (SPEC §4.1 step 1)."""
    if n_frames < 1:
        raise ValueError("a clip needs at least one frame")
    return [((2 * j + 1) * n_frames) // (2 * F_out) for j in range(F_out)]


def round_half_away(x):
    """round() half away from zero (SPEC §4.1 step 2)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def crop_square(width, height, box=None):
    """(left, top, side) of the crop square in whole pixels (SPEC §4.1 step 2).

    box: (x, y, w, h) with (x, y) the top-left corner, or None for the centred square."""
    if box is not None:
        x, y, w, h = (float(v) for v in box)
        side_f, cx, cy = max(w, h), x + w / 2.0, y + h / 2.0
    else:
        side_f, cx, cy = float(min(width, height)), width / 2.0, height / 2.0
    side = round_half_away(side_f)
    # the corner uses the unrounded side
    left, top = round_half_away(cx - side_f / 2.0), round_half_away(cy - side_f / 2.0)
    if side < 1:
        raise ValueError("face box is smaller than a pixel")
    return left, top, side


def to_channels(frame, pixel_format):
    """(H, W, bytes) uint8 → (H, W, k) float64 channels in R, G, B order (or one gray channel).

    Pure channel selection (alpha dropped, BGR reversed), so it commutes with crop/resize."""
    frame = np.asarray(frame)
    if pixel_format == "gray8":
        return frame.reshape(frame.shape[0], frame.shape[1], 1).astype(np.float64)
    order = {"rgb24": [0, 1, 2], "bgr24": [2, 1, 0], "rgba": [0, 1, 2], "bgra": [2, 1, 0]}
    if pixel_format not in order:
        raise ValueError(f"unknown pixel format {pixel_format!r}")
    return frame[:, :, order[pixel_format]].astype(np.float64)


def crop(channels, left, top, side):
    """Cut the square; pixels outside the image are 0 (SPEC §4.1 step 2). → (side, side, k)"""
    H, W, k = channels.shape
    out = np.zeros((side, side, k), dtype=channels.dtype)
    y0, y1 = max(top, 0), min(top + side, H)
    x0, x1 = max(left, 0), min(left + side, W)
    if y0 < y1 and x0 < x1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = channels[y0:y1, x0:x1]
    return out


def resize(square, S):
    """Bilinear, half-pixel centres, no antialias, on float values (SPEC §4.1 step 3)."""
    if square.shape[0] == S:
        return square  # same size is the identity
    t = torch.from_numpy(np.ascontiguousarray(square.transpose(2, 0, 1)))[None]  # (1, k, side, side)
    r = F.interpolate(t, size=(S, S), mode="bilinear", align_corners=False, antialias=False)
    return r[0].numpy().transpose(1, 2, 0)                                          # (S, S, k)


def to_color_model(pixels, color):
    """(S, S, k) values in 0…255 → (C, S, S) in 0…1 for the model's colour (SPEC §4.1 step 4)."""
    k = pixels.shape[2]
    if color == "rgb":
        rgb = np.repeat(pixels, 3, axis=2) if k == 1 else pixels  # GRAY8 → R = G = B
        return rgb.transpose(2, 0, 1) / 255.0
    if color == "gray":
        if k == 1:
            return pixels.transpose(2, 0, 1) / 255.0
        g = 0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2]
        return g[None] / 255.0
    raise ValueError(f"unknown colour model {color!r}")


def preprocess_frame(frame, video_cfg, pixel_format="rgb24", box=None):
    """One (H, W, bytes) uint8 frame → (C, S, S) float64 (SPEC §4.1 steps 2–5)."""
    channels = to_channels(frame, pixel_format)
    H, W = channels.shape[:2]
    left, top, side = crop_square(W, H, box)
    square = resize(crop(channels, left, top, side), video_cfg["image_size"])
    x = to_color_model(square, video_cfg["color"])                    # (C, S, S)
    mean = np.asarray(video_cfg["mean"], dtype=np.float64)[:, None, None]
    std = np.asarray(video_cfg["std"], dtype=np.float64)[:, None, None]
    return (x - mean) / std


def preprocess_video(frames, video_cfg, pixel_format="rgb24", boxes=None, landmarks=None):
    """frames: (N, H, W, bytes) uint8; boxes: None, one (x, y, w, h) or one per frame;
    landmarks: for a config with video.face "aligned" (SPEC §4.1a), five (x, y) points per frame
    (a frame with None takes the centred square, as a clip without any face does).

    → (F, C, S, S) float64 (SPEC §4.1)."""
    from .config import face_preparation
    from .faces import preprocess_aligned_frame

    frames = np.asarray(frames)
    N = frames.shape[0]
    idx = sample_indices(N, video_cfg["frames"])
    if boxes is not None and np.ndim(boxes) == 1:
        boxes = [boxes] * N
    if face_preparation(video_cfg) == "aligned":
        if landmarks is None:
            raise ValueError('video.face "aligned" needs the five landmarks of each frame')
        return np.stack([preprocess_frame(frames[i], video_cfg, pixel_format) if landmarks[i] is None
                         else preprocess_aligned_frame(frames[i], landmarks[i], video_cfg, pixel_format) for i in idx])
    return np.stack([preprocess_frame(frames[i], video_cfg, pixel_format,
                                      None if boxes is None else boxes[i]) for i in idx])


# ---------------------------------------------------------------- audio (SPEC §4.2)

def to_mono(pcm, channels=1):
    """Interleaved float32 PCM (or int16, scaled by 1/32768) → mono float64 by channel mean."""
    pcm = np.asarray(pcm)
    x = pcm.astype(np.float64) / 32768.0 if pcm.dtype == np.int16 else pcm.astype(np.float64)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x


def mfcc(y, audio_cfg, sample_rate=None):
    """MFCC exactly as librosa 0.11 with the SPEC §4.2 step 2 arguments → (T_a, n_mfcc) float64."""
    sr = audio_cfg["sample_rate"]
    if sample_rate is not None and sample_rate != sr:
        # The reference does not resample; liberi uses libswresample (SPEC §4.2 step 1).
        raise NotImplementedError(f"resampling {sample_rate} Hz → {sr} Hz is not in the reference")
    m = audio_cfg["mfcc"]
    y = np.asarray(y, dtype=np.float64)
    with warnings.catch_warnings():
        # short clips (len < n_fft) are legal here: the centred, zero-padded frames are defined
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")
        S = _melspectrogram(y, sr, m)
    S_db = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)
    M = librosa.feature.mfcc(S=S_db, n_mfcc=m["n_mfcc"], dct_type=2, norm="ortho")
    return M.T                                                         # (T_a, n_mfcc)


def _melspectrogram(y, sr, m):
    return librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=m["n_fft"], hop_length=m["hop_length"], win_length=m["win_length"],
        window="hann", center=True, pad_mode="constant", power=2.0,
        n_mels=m["n_mels"], fmin=m["fmin"], fmax=m["fmax"], htk=False, norm="slaney",
        # librosa's filter bank defaults to float32; float64 makes the oracle the more exact side.
        dtype=np.float64)


def pool_steps(M, pool):
    """Mean of non-overlapping groups of `pool` frames; the last may be shorter (§4.2 step 3)."""
    T_a = M.shape[0]
    return np.stack([M[s:s + pool].mean(axis=0) for s in range(0, T_a, pool)])  # (ceil(T_a/pool), n)


def cap_steps(M, max_steps):
    """Keep steps floor((j + 0.5)·T/max_steps) when T > max_steps (SPEC §4.2 step 4)."""
    T = M.shape[0]
    if T <= max_steps:
        return M
    return M[[((2 * j + 1) * T) // (2 * max_steps) for j in range(max_steps)]]


def preprocess_audio(pcm, audio_cfg, sample_rate=None, channels=1):
    """PCM → (raw MFCC (T_a, n_mfcc), pooled+capped MFCC (T, n_mfcc)), float64, not normalised.

    Normalisation (SPEC §4.2 step 5) happens inside the model (`audio.norm`)."""
    M_raw = mfcc(to_mono(pcm, channels), audio_cfg, sample_rate)
    M = cap_steps(pool_steps(M_raw, audio_cfg["pool"]), audio_cfg["max_steps"])
    return M_raw, M

"""SPEC §4.1a "aligned" face preparation, in numpy (float64), written from the SPEC text.

    five landmarks (frame pixels) --Umeyama similarity--> the 112 px template × S/112
    output pixel (u, v) samples the frame bilinearly at T⁻¹(u + ½, v + ½) − ½, black outside
    then SPEC §4.1 steps 4–5 (colour, normalisation)

Coordinates. A landmark (x, y) and a template point are continuous image coordinates in which
pixel (i, j) covers [i, i + 1) × [j, j + 1), so its centre is (i + ½, j + ½): output pixel (u, v)
is the point (u + ½, v + ½) of the face, T⁻¹ takes it into the frame, and − ½ turns that point
into the fractional pixel index the bilinear taps use (tap (i, j) is pixel i, j's value).
"Black outside the frame": the frame is extended by zeros, so each of the four taps that falls
outside contributes 0 (a face near the edge fades into black over the last half pixel). Nothing
is rounded to 8 bits.
"""

import numpy as np

from .features import to_channels, to_color_model

# SPEC §4.1a: left eye, right eye, nose, left and right mouth corner on a 112 × 112 face.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def alignment_template(size):
    """The five template points scaled to an S × S face (S/112)."""
    return TEMPLATE_112 * (float(size) / 112.0)


def umeyama(src, dst):
    """The least-squares similarity dst ≈ c·R·src + t (Umeyama 1991, "Least-squares estimation of
    transformation parameters between two point patterns", eqs. 40–42), R a rotation (det +1: the
    reflection case takes S = diag(1, −1)). Returns the 2 × 3 matrix [c·R | t] (float64).
    Raises ValueError when the source points coincide."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError("umeyama: two sets of at least 2 corresponding points are needed")
    n = len(src)
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    xs, xd = src - mu_src, dst - mu_dst
    var_src = (xs ** 2).sum() / n                       # σ²_x
    if not var_src > 0:
        raise ValueError("umeyama: the source points coincide")
    cov = xd.T @ xs / n                                 # Σ_xy (2 × 2)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(2)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:        # rank 2 case of eq. 43: no reflection
        S[1, 1] = -1.0
    R = U @ S @ Vt
    c = np.trace(np.diag(D) @ S) / var_src
    t = mu_dst - c * R @ mu_src
    return np.hstack([c * R, t[:, None]])


def face_transform(landmarks, size):
    """SPEC §4.1a: the frame → face similarity for an S × S face (2 × 3)."""
    return umeyama(landmarks, alignment_template(size))


def warp_bilinear(channels, to_face, size):
    """(H, W, k) float64 frame values → (S, S, k): output (u, v) samples the frame bilinearly at
    to_face⁻¹(u + ½, v + ½) − ½, taps outside the frame 0 (see the module's docstring)."""
    H, W, k = channels.shape
    A = np.vstack([np.asarray(to_face, dtype=np.float64), [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(A)
    u, v = np.meshgrid(np.arange(size, dtype=np.float64) + 0.5, np.arange(size, dtype=np.float64) + 0.5)
    x = inv[0, 0] * u + inv[0, 1] * v + inv[0, 2] - 0.5
    y = inv[1, 0] * u + inv[1, 1] * v + inv[1, 2] - 0.5
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]

    def tap(xi, yi):
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        values = channels[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]
        return values * inside[..., None]

    top = tap(x0, y0) * (1 - fx) + tap(x0 + 1, y0) * fx
    bottom = tap(x0, y0 + 1) * (1 - fx) + tap(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def preprocess_aligned_frame(frame, landmarks, video_cfg, pixel_format="rgb24"):
    """One (H, W, bytes) uint8 frame and its five landmarks → (C, S, S) float64 (SPEC §4.1a
    "aligned", then §4.1 steps 4–5)."""
    S = video_cfg["image_size"]
    channels = to_channels(frame, pixel_format)
    face = warp_bilinear(channels, face_transform(landmarks, S), S)
    x = to_color_model(face, video_cfg["color"])
    mean = np.asarray(video_cfg["mean"], dtype=np.float64)[:, None, None]
    std = np.asarray(video_cfg["std"], dtype=np.float64)[:, None, None]
    return (x - mean) / std

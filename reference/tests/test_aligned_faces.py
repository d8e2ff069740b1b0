"""eri_ref/faces.py (SPEC §4.1a "aligned") against known answers and scikit-image, and the
`video.face` config key."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.transform

REF = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REF)
from eri_ref import config as C  # noqa: E402
from eri_ref import features  # noqa: E402
from eri_ref.faces import (TEMPLATE_112, alignment_template, face_transform, preprocess_aligned_frame,  # noqa: E402
                           umeyama, warp_bilinear)


def similarity(scale, angle, tx, ty):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def apply(m, points):
    return points @ m[:, :2].T + m[:, 2]


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = similarity(rng.uniform(0.1, 5), rng.uniform(-np.pi, np.pi), *rng.uniform(-300, 300, 2))
        src = rng.uniform(0, 500, (5, 2))
        np.testing.assert_allclose(umeyama(src, apply(m, src)), m, rtol=0, atol=1e-9)


def test_umeyama_is_scikit_images_least_squares_and_never_reflects():
    rng = np.random.default_rng(1)
    for mirrored in (False, True):
        for _ in range(20):
            src = rng.uniform(0, 200, (5, 2))
            dst = src[:, ::-1].copy() if mirrored else apply(similarity(1.3, 0.4, 5, -7), src)
            dst = dst + rng.normal(0, 3, dst.shape)
            m = umeyama(src, dst)
            if hasattr(skimage.transform.SimilarityTransform, "from_estimate"):   # scikit-image ≥ 0.26
                t = skimage.transform.SimilarityTransform.from_estimate(src, dst)
            else:
                t = skimage.transform.SimilarityTransform()
                assert t.estimate(src, dst)
            np.testing.assert_allclose(m, t.params[:2], rtol=0, atol=1e-9)
            assert np.linalg.det(m[:, :2]) > 0           # a rotation and a scale, no reflection


def test_umeyama_refuses_coincident_points():
    with pytest.raises(ValueError):
        umeyama(np.ones((5, 2)), TEMPLATE_112)


def test_template_scales_with_the_image_size():
    np.testing.assert_array_equal(alignment_template(112), TEMPLATE_112)
    np.testing.assert_allclose(alignment_template(64), TEMPLATE_112 * 64 / 112, rtol=0, atol=1e-12)
    # Landmarks on the template itself: the identity.
    np.testing.assert_allclose(face_transform(TEMPLATE_112, 112), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_identity_and_whole_pixel_shifts_copy_pixels_black_outside():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, (40, 50, 3))
    np.testing.assert_array_equal(warp_bilinear(img, [[1, 0, 0], [0, 1, 0]], 40), img[:, :40])
    # frame → face shifts by (−3, +2): face pixel (u, v) is frame pixel (u + 3, v − 2)
    out = warp_bilinear(img, [[1, 0, -3], [0, 1, 2]], 40)
    np.testing.assert_array_equal(out[2:, :], img[:38, 3:43])
    np.testing.assert_array_equal(out[:2, :], 0)
    # half a pixel: the mean of two neighbours (pixel centres at i + ½ on both sides)
    out = warp_bilinear(img, [[1, 0, -0.5], [0, 1, 0]], 30)
    np.testing.assert_allclose(out, (img[:30, :30] + img[:30, 1:31]) / 2, rtol=0, atol=1e-12)


def test_warp_is_scikit_images_bilinear_warp_with_pixel_centres_at_half():
    """skimage.transform.warp (order 1, constant 0 outside, no clipping) puts pixel centres at
    whole coordinates; the SPEC's (u + ½, v + ½) → T⁻¹ → − ½ is that warp with the inverse map
    composed with the half-pixel shifts."""
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 255, (60, 80, 3))
    m = similarity(0.7, 0.35, -12.5, 20.25)              # frame → face, part of the face outside the frame
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    ours = warp_bilinear(img, m, 48)

    def inverse_map(xy):                                  # (col, row) of the output → (col, row) of the input
        return apply(inv[:2], xy + 0.5) - 0.5

    theirs = skimage.transform.warp(img, inverse_map, output_shape=(48, 48), order=1, mode="constant", cval=0.0,
                                    clip=False, preserve_range=True)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    assert (ours == 0).any() and (ours > 0).any()


def test_aligned_frame_colour_and_normalisation():
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    landmarks = apply(similarity(1 / 1.5, 0.1, 4, 6), TEMPLATE_112)   # a face in the frame
    for name in ("dbn-small", "dbn-tiny"):
        v = C.preset(name)["video"]
        v["face"] = "aligned"
        x = preprocess_aligned_frame(frame, landmarks, v)
        S = v["image_size"]
        face = warp_bilinear(frame.astype(np.float64), face_transform(landmarks, S), S)
        want = features.to_color_model(face, v["color"])
        want = (want - np.asarray(v["mean"])[:, None, None]) / np.asarray(v["std"])[:, None, None]
        assert x.shape == (len(v["mean"]), S, S)
        np.testing.assert_allclose(x, want, rtol=0, atol=1e-12)


def test_config_face_key():
    cfg = C.preset("dbn-tiny")
    assert C.face_preparation(cfg["video"]) == "box"                 # absent: box (every v1 file)
    for face in ("box", "aligned"):
        cfg["video"]["face"] = face
        assert C.face_preparation(C.from_json(C.to_json(cfg))["video"]) == face
    cfg["video"]["face"] = "affine"
    with pytest.raises(ValueError):
        C.from_json(C.to_json(cfg))


def test_preprocess_video_aligns_with_landmarks():
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (3, 60, 60, 3), dtype=np.uint8)
    v = C.preset("dbn-tiny")["video"]
    v["face"] = "aligned"
    marks = [apply(similarity(0.5, 0.05 * i, 10, 8), TEMPLATE_112) for i in range(3)]
    x = features.preprocess_video(frames, v, landmarks=marks)
    idx = features.sample_indices(3, v["frames"])
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(x[j], preprocess_aligned_frame(frames[i], marks[i], v))
    with pytest.raises(ValueError):
        features.preprocess_video(frames, v)


def test_the_oracle_program(tmp_path):
    """aligned_faces.py: three photographs, facenet-pytorch's landmarks, nine faces."""
    subprocess.run([sys.executable, os.path.join(REF, "aligned_faces.py"), "--out", str(tmp_path)], check=True)
    cases = json.load(open(tmp_path / "cases.json"))["cases"]
    assert [c["name"] for c in cases] == ["astronaut", "astronaut_edge", "astronaut_roll"]
    for c in cases:
        img = np.fromfile(tmp_path / c["image"], dtype=np.uint8).reshape(c["height"], c["width"], 3)
        for o in c["outputs"]:
            v = C.preset(o["preset"])["video"]
            x = np.fromfile(tmp_path / o["file"], dtype="<f4").reshape(len(v["mean"]), v["image_size"], v["image_size"])
            v["face"] = "aligned"
            np.testing.assert_allclose(x, preprocess_aligned_frame(img, c["landmarks"], v), rtol=0, atol=1e-6)
    # The edge crop reads outside the frame: black (−1 after normalisation) in its corner.
    edge = np.fromfile(tmp_path / "astronaut_edge.dbn-small.f32", dtype="<f4").reshape(3, 64, 64)
    assert (edge[:, 0, 0] == -1).all()
    # The rolled face: the transform turns it back by about 25° more than the upright one.
    angle = [np.degrees(np.arctan2(m[1][0], m[0][0])) for m in (c["outputs"][0]["transform"] for c in cases)]
    assert abs(angle[2] - angle[0] - 25) < 2

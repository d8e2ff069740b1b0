"""Self-checks of the PyTorch reference oracle (run: .venv/bin/python -m pytest reference/tests -q)."""

import json
import os
import sys

import librosa
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eri_ref import config as C  # noqa: E402
from eri_ref import features  # noqa: E402
from eri_ref.eri_file import load_model, save_model  # noqa: E402
from eri_ref.model import (build_model, eri_loss, eri_state_dict, randomize_for_testing,  # noqa: E402
                           sinusoidal_pe)

torch.set_num_threads(2)

VARIANTS = [(p, m) for p in C.PRESETS for m in ("av", "video", "audio")]


def variant(preset, mode):
    cfg = C.preset(preset)
    return {"av": cfg, "video": C.video_only(cfg), "audio": C.audio_only(cfg)}[mode]


def tiny_model(mode="av", seed=0):
    cfg = variant("dbn-tiny", mode)
    return randomize_for_testing(build_model(cfg, seed), seed + 1).eval(), cfg


def expected_names(cfg):
    """SPEC §6 tensor names with shapes, written from the SPEC text (not from the module tree)."""
    names = {}
    bn = lambda p, c: names.update({f"{p}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")})

    def linear(p, cin, cout):
        names[f"{p}.weight"], names[f"{p}.bias"] = (cout, cin), (cout,)

    def encoder(p, d, enc):
        for l in range(enc["layers"]):
            q = f"{p}.layers.{l}"
            names[f"{q}.ln1.weight"] = names[f"{q}.ln1.bias"] = (d,)
            linear(f"{q}.attn.in_proj", d, 3 * d)
            linear(f"{q}.attn.out_proj", d, d)
            names[f"{q}.ln2.weight"] = names[f"{q}.ln2.bias"] = (d,)
            linear(f"{q}.ff1", d, enc["ff"])
            linear(f"{q}.ff2", enc["ff"], d)
        names[f"{p}.norm.weight"] = names[f"{p}.norm.bias"] = (d,)

    def tcn(p, d, t):
        for k, _ in enumerate(t["dilations"]):
            for conv in ("conv1", "conv2"):
                names[f"{p}.tcn.{k}.{conv}.weight"] = (d, d, t["kernel"])
                names[f"{p}.tcn.{k}.{conv}.bias"] = (d,)

    z = 0
    v = cfg["video"]
    if v is not None:
        bb = v["backbone"]
        ch = 3 if v["color"] == "rgb" else 1
        names["video.backbone.stem.conv.weight"] = (bb["stem_channels"], ch, 3, 3)
        bn("video.backbone.stem.bn", bb["stem_channels"])
        cin = bb["stem_channels"]
        for s, (w, nb) in enumerate(zip(bb["widths"], bb["blocks"])):
            for b in range(nb):
                p = f"video.backbone.stages.{s}.{b}"
                stride = 2 if (b == 0 and s > 0) else 1
                names[f"{p}.conv1.weight"] = (w, cin, 3, 3)
                bn(f"{p}.bn1", w)
                names[f"{p}.conv2.weight"] = (w, w, 3, 3)
                bn(f"{p}.bn2", w)
                if stride != 1 or cin != w:
                    names[f"{p}.down.conv.weight"] = (w, cin, 1, 1)
                    bn(f"{p}.down.bn", w)
                cin = w
        Cw = bb["widths"][-1]
        encoder("video.spatial", Cw, v["spatial"])
        names["video.spatial.score.weight"], names["video.spatial.score.bias"] = (1, Cw), (1,)
        linear("video.proj", Cw, v["dim"])
        tcn("video", v["dim"], v["tcn"])
        encoder("video.temporal", v["dim"], v["temporal"])
        z += v["dim"]
    a = cfg["audio"]
    if a is not None:
        n = a["mfcc"]["n_mfcc"]
        names["audio.norm.mean"] = names["audio.norm.std"] = (n,)
        linear("audio.proj", n, a["dim"])
        tcn("audio", a["dim"], a["tcn"])
        encoder("audio.temporal", a["dim"], a["temporal"])
        z += a["dim"]
    linear("head.fc1", z, cfg["head"]["hidden"])
    linear("head.fc2", cfg["head"]["hidden"], 7)
    return names


# ---------------------------------------------------------------- model structure

@pytest.mark.parametrize("preset,mode", VARIANTS)
def test_state_dict_names_match_spec(preset, mode):
    cfg = variant(preset, mode)
    got = {k: tuple(t.shape) for k, t in eri_state_dict(build_model(cfg)).items()}
    assert got == expected_names(cfg)


def test_output_and_intermediate_shapes():
    model, cfg = tiny_model()
    B, Fr, S, T, n = 2, 8, 48, 19, 13
    frames = torch.randn(B, Fr, 1, S, S)
    mfcc = torch.randn(B, T, n) * 20
    with torch.no_grad():
        y, inter = model(frames=frames, mfcc=mfcc, audio_lengths=torch.tensor([T, 11]),
                         return_intermediates=True)
    assert y.shape == (B, 7) and bool(((y > 0) & (y < 1)).all())
    shapes = {k: tuple(v.shape) for k, v in inter.items()}
    assert shapes["video.backbone_map"] == (B * Fr, 32, 2, 2)       # 48 px → 2×2 grid (SPEC §3)
    assert shapes["video.spatial_alpha"] == (B * Fr, 4)
    assert shapes["video.frame_vectors"] == (B, Fr, 32)
    assert shapes["video.u"] == shapes["audio.u"] == (B, 32)
    assert shapes["z"] == (B, 64) and shapes["y"] == (B, 7)
    assert torch.allclose(inter["video.spatial_alpha"].sum(-1), torch.ones(B * Fr, dtype=torch.float32))


def test_base_grid_is_4x4():
    cfg = C.video_only(C.preset("dbn-base"))
    model = build_model(cfg).eval()
    with torch.no_grad():
        fmap = model.video.backbone(torch.randn(1, 3, 112, 112))
    assert fmap.shape == (1, 512, 4, 4)


def test_modality_errors_and_zero_fill():
    model, _ = tiny_model()
    frames, mfcc = torch.randn(1, 8, 1, 48, 48), torch.randn(1, 10, 13)
    with pytest.raises(ValueError):
        model()
    with torch.no_grad():
        _, inter = model(frames=frames, return_intermediates=True)
    assert bool((inter["z"][:, 32:] == 0).all())                     # audio absent → zeros (SPEC §5)
    with pytest.raises(ValueError, match="no audio branch"):
        tiny_model("video")[0](mfcc=mfcc)
    with pytest.raises(ValueError, match="no video branch"):
        tiny_model("audio")[0](frames=frames)


def test_padded_audio_batch_equals_clip_by_clip():
    model, _ = tiny_model("av", seed=3)
    lengths = [23, 14, 5, 1]
    T = max(lengths)
    g = torch.Generator().manual_seed(0)
    clips = [torch.randn(L, 13, generator=g, dtype=torch.float64) * 30 for L in lengths]
    frames = torch.randn(len(lengths), 8, 1, 48, 48, generator=g, dtype=torch.float64)
    batch = torch.randn(len(lengths), T, 13, generator=g, dtype=torch.float64) * 50  # garbage padding
    for i, c in enumerate(clips):
        batch[i, : len(c)] = c
    model = model.double()
    with torch.no_grad():
        y_batch = model(frames=frames, mfcc=batch, audio_lengths=torch.tensor(lengths))
        y_audio = model(mfcc=batch, audio_lengths=torch.tensor(lengths))
        for i, c in enumerate(clips):
            assert (model(frames=frames[i:i + 1], mfcc=c[None]) - y_batch[i]).abs().max() <= 1e-5
            assert (model(mfcc=c[None]) - y_audio[i]).abs().max() <= 1e-5
    # float32 as well
    model = model.float()
    with torch.no_grad():
        y32 = model(mfcc=batch.float(), audio_lengths=torch.tensor(lengths))
        for i, c in enumerate(clips):
            assert (model(mfcc=c[None].float()) - y32[i]).abs().max() <= 1e-5


def test_training_mode_modality_dropout():
    cfg = C.preset("dbn-tiny")
    cfg["train"].update(dropout=0.0, modality_dropout=1.0)
    model = build_model(cfg, 0).train()
    torch.manual_seed(0)
    _, inter = model(frames=torch.randn(8, 8, 1, 48, 48), mfcc=torch.randn(8, 10, 13),
                     return_intermediates=True)
    z = inter["z"]
    v_zero, a_zero = (z[:, :32] == 0).all(1), (z[:, 32:] == 0).all(1)
    assert bool((v_zero ^ a_zero).all())                             # exactly one branch per sample
    assert 0 < int(v_zero.sum()) < 8


def test_positional_encoding_formula():
    pe = sinusoidal_pe(7, 6, torch.float64)
    for n in range(7):
        for i in range(3):
            w = n / 10000 ** (2 * i / 6)
            assert pe[n, 2 * i].item() == pytest.approx(np.sin(w), abs=1e-12)
            assert pe[n, 2 * i + 1].item() == pytest.approx(np.cos(w), abs=1e-12)


# ---------------------------------------------------------------- loss

def test_loss_matches_numpy():
    rng = np.random.default_rng(0)
    y, t = rng.uniform(0, 1, (6, 7)), rng.uniform(0, 1, (6, 7))
    t[:, 3] = 0.25                                                   # zero-variance column → r = 0
    r = []
    for k in range(7):
        if np.std(t[:, k]) == 0 or np.std(y[:, k]) == 0:
            r.append(0.0)
        else:
            r.append(np.corrcoef(y[:, k], t[:, k])[0, 1])
    expected = np.mean((y - t) ** 2) + 0.7 * (1 - np.mean(r))
    yt = torch.tensor(y, requires_grad=True)
    loss = eri_loss(yt, torch.tensor(t), 0.7)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    loss.backward()
    assert bool(torch.isfinite(yt.grad).all())


# ---------------------------------------------------------------- video preprocessing

def test_sample_indices():
    assert features.sample_indices(11, 8) == [0, 2, 3, 4, 6, 7, 8, 10]
    assert features.sample_indices(3, 8) == [0, 0, 0, 1, 1, 2, 2, 2]  # N < F repeats
    assert features.sample_indices(1, 4) == [0, 0, 0, 0]


def test_crop_rounding_and_black_outside():
    assert features.round_half_away(2.5) == 3 and features.round_half_away(-2.5) == -3
    assert features.crop_square(90, 70, (54.5, -6.5, 41, 45)) == (53, -7, 45)
    assert features.crop_square(90, 70, None) == (10, 0, 70)
    assert features.crop_square(91, 70, None) == (11, 0, 70)        # 10.5 rounds away from zero
    img = np.arange(4 * 5 * 1, dtype=np.float64).reshape(4, 5, 1) + 1
    sq = features.crop(img, 3, -1, 3)
    assert sq[0].sum() == 0 and sq[:, 2].sum() == 0                 # outside → 0
    assert sq[1, 0, 0] == img[0, 3, 0] and sq[2, 1, 0] == img[1, 4, 0]


def _resize_by_spec(square, S):
    """SPEC §4.1 step 3 formula, written out directly."""
    n = square.shape[0]
    out = np.zeros((S, S) + square.shape[2:])
    coords = []
    for d in range(S):
        src = max((d + 0.5) * n / S - 0.5, 0.0)
        i0 = int(np.floor(src))
        coords.append((i0, min(i0 + 1, n - 1), src - i0))
    for oy, (y0, y1, fy) in enumerate(coords):
        for ox, (x0, x1, fx) in enumerate(coords):
            top = square[y0, x0] * (1 - fx) + square[y0, x1] * fx
            bottom = square[y1, x0] * (1 - fx) + square[y1, x1] * fx
            out[oy, ox] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("side,S", [(45, 48), (70, 48), (9, 4), (5, 5)])
def test_resize_matches_spec_formula(side, S):
    sq = np.random.default_rng(side).uniform(0, 255, (side, side, 3))
    np.testing.assert_allclose(features.resize(sq, S), _resize_by_spec(sq, S), atol=1e-9)


def test_pixel_formats_and_colour():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (2, 20, 24, 1), dtype=np.uint8)
    vcfg = dict(C.preset("dbn-small")["video"], frames=2, image_size=16)
    ref = features.preprocess_video(rgb, vcfg, "rgb24")
    assert ref.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(features.preprocess_video(rgb[..., ::-1], vcfg, "bgr24"), ref)
    np.testing.assert_allclose(features.preprocess_video(np.concatenate([rgb, alpha], 3), vcfg, "rgba"), ref)
    np.testing.assert_allclose(
        features.preprocess_video(np.concatenate([rgb[..., ::-1], alpha], 3), vcfg, "bgra"), ref)
    gray_cfg = C.preset("dbn-tiny")["video"] | {"frames": 2, "image_size": 20}
    box = (2, 0, 20, 20)                                             # 20×20 → 20: no resize
    g = features.preprocess_video(rgb, gray_cfg, "rgb24", box)
    px = rgb[0, 0:20, 2:22].astype(np.float64)
    expected = ((0.299 * px[..., 0] + 0.587 * px[..., 1] + 0.114 * px[..., 2]) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(g[0, 0], expected, atol=1e-12)
    g8 = rgb[..., :1]                                                # GRAY8 → R = G = B for rgb
    out = features.preprocess_video(g8, vcfg, "gray8")
    np.testing.assert_allclose(out[:, 0], out[:, 1])
    np.testing.assert_allclose(out[:, 0], out[:, 2])


# ---------------------------------------------------------------- audio preprocessing

@pytest.mark.parametrize("n", [1, 159, 160, 161, 1000, 16000, 43210])
def test_mfcc_frame_count(n):
    a = C.preset("dbn-tiny")["audio"]
    y = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    M = features.mfcc(y, a, 16000)
    assert M.shape == (1 + n // 160, 13)


def test_mfcc_agrees_with_plain_librosa_call():
    a = C.preset("dbn-base")["audio"]
    y = np.random.default_rng(0).uniform(-0.5, 0.5, 8000).astype(np.float32)
    # librosa's own defaults (float32 filter bank, float32 signal)
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, win_length=400,
                                       window="hann", center=True, pad_mode="constant", power=2.0,
                                       n_mels=64, fmin=0.0, fmax=8000.0, htk=False, norm="slaney")
    S = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)
    plain = librosa.feature.mfcc(S=S, n_mfcc=40, dct_type=2, norm="ortho")
    np.testing.assert_allclose(features.mfcc(y, a, 16000), plain.T, atol=1e-3)


def test_mfcc_stereo_int16_and_rate_check():
    a = C.preset("dbn-tiny")["audio"]
    rng = np.random.default_rng(2)
    s16 = rng.integers(-20000, 20000, (3200, 2)).astype(np.int16)
    mono = s16.astype(np.float64).mean(1) / 32768
    M_raw, _ = features.preprocess_audio(s16.reshape(-1), a, 16000, channels=2)
    np.testing.assert_allclose(M_raw, features.mfcc(mono, a), atol=1e-9)
    with pytest.raises(NotImplementedError):
        features.mfcc(mono, a, 44100)


def test_pool_and_cap():
    M = np.arange(10, dtype=np.float64)[:, None] * np.ones((1, 2))
    P = features.pool_steps(M, 4)
    np.testing.assert_allclose(P[:, 0], [1.5, 5.5, 8.5])            # last group shorter
    C5 = features.cap_steps(np.arange(10.0)[:, None], 4)
    np.testing.assert_allclose(C5[:, 0], [1, 3, 6, 8])              # floor((j+0.5)·10/4)
    assert features.cap_steps(P, 3) is P


# ---------------------------------------------------------------- .eri files

def test_save_load_round_trip(tmp_path):
    model, cfg = tiny_model("av", seed=5)
    path = tmp_path / "m.eri"
    save_model(model, cfg, path, provenance="test", metrics={"mean_r": 0.1})
    loaded, cfg2 = load_model(path)
    assert cfg2 == cfg
    a, b = eri_state_dict(model), eri_state_dict(loaded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert header["__metadata__"]["format"] == "eri" and header["__metadata__"]["eri.version"] == "1"
    assert not any("num_batches_tracked" in k for k in header)
    frames, mfcc = torch.randn(1, 8, 1, 48, 48), torch.randn(1, 12, 13) * 20
    with torch.no_grad():
        assert torch.equal(model(frames=frames, mfcc=mfcc), loaded(frames=frames, mfcc=mfcc))


def test_load_rejects_mismatches(tmp_path):
    from safetensors.numpy import save_file
    model, cfg = tiny_model("audio")
    tensors = {k: v.numpy() for k, v in eri_state_dict(model).items()}
    meta = {"format": "eri", "eri.version": "1", "eri.config": C.to_json(cfg)}

    def write(ts, md=meta):
        p = tmp_path / "bad.eri"
        save_file(ts, str(p), metadata=md)
        return p

    with pytest.raises(ValueError, match="extra"):
        load_model(write(tensors | {"audio.extra": np.zeros(1, np.float32)}))
    with pytest.raises(ValueError, match="missing"):
        load_model(write({k: v for k, v in tensors.items() if k != "head.fc2.bias"}))
    with pytest.raises(ValueError, match="shape"):
        load_model(write(tensors | {"head.fc2.bias": np.zeros(8, np.float32)}))
    with pytest.raises(ValueError, match="eri.version"):
        load_model(write(tensors, meta | {"eri.version": "2"}))
    half = load_model(write({k: v.astype(np.float16) for k, v in tensors.items()}))[0]  # F16 loads
    assert eri_state_dict(half)["head.fc2.bias"].dtype == torch.float32


# ---------------------------------------------------------------- scripts

def test_make_case_and_onnx_export(tmp_path):
    import make_case
    from export_onnx import export
    make_case.main(["--preset", "dbn-tiny", "--seed", "7", "--out", str(tmp_path)])
    from safetensors.numpy import load_file
    case = load_file(str(tmp_path / "case.safetensors"))
    info = json.load(open(tmp_path / "case.json"))
    assert {k: list(v.shape) for k, v in case.items()} == info["tensors"]
    for k in ("out.av", "out.video_only", "out.audio_only", "pre.frames", "pre.mfcc", "video.u",
              "grad.head.fc1.weight", "after.video.backbone.stem.bn.running_var"):
        assert k in case
    # the float32 model file reproduces the float64 oracle closely
    model, _ = load_model(tmp_path / "model.eri")
    with torch.no_grad():
        y = model(frames=torch.from_numpy(case["pre.frames"])[None],
                  mfcc=torch.from_numpy(case["pre.mfcc"])[None])[0].numpy()
    assert np.abs(y - case["out.av"]).max() < 1e-5
    assert export(str(tmp_path / "model.eri"), str(tmp_path / "model.onnx")) <= 1e-4

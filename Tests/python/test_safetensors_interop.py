"""SPEC §2 interoperability: liberi's .eri files open in the Python `safetensors`
package and the PyTorch reference oracle, and files they write open in liberi.

Run by Tests/host/run.sh with ERI_CLI (the installed `eri` tool) and ERI_PREFIX:

    ERI_CLI=/prefix/bin/eri python -m pytest -q Tests/python
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

safetensors = pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference"

CONFIG_KEYS = {"emotions", "video", "audio", "head", "train"}
VIDEO_KEYS = {"frames", "image_size", "color", "mean", "std", "backbone", "spatial", "dim", "tcn", "temporal"}
AUDIO_KEYS = {"sample_rate", "mfcc", "pool", "max_steps", "dim", "tcn", "temporal"}
MFCC_KEYS = {"n_mfcc", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax"}
EMOTIONS = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]


def eri_cli():
    cli = os.environ.get("ERI_CLI")
    if cli and not os.access(cli, os.X_OK):
        pytest.fail(f"ERI_CLI={cli} is not an executable")
    if not cli and os.environ.get("ERI_PREFIX"):
        cli = os.path.join(os.environ["ERI_PREFIX"], "bin", "eri")
    if not cli:
        cli = shutil.which("eri")
    if not cli or not os.path.exists(cli):
        pytest.skip("no eri tool: set ERI_CLI or ERI_PREFIX")
    return cli


def eri(*args, check=True):
    result = subprocess.run([eri_cli(), *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"eri {' '.join(map(str, args))} failed ({result.returncode}): {result.stderr}")
    return result


def eri_init(path, preset="dbn-tiny", branch=None, seed=0):
    args = ["init", "--preset", preset, "--seed", seed, "-o", path]
    if branch == "video":
        args.append("--video-only")
    elif branch == "audio":
        args.append("--audio-only")
    eri(*args)
    return path


def listed_tensors(path):
    """{name: (shape, dtype)} from `eri info --tensors`."""
    out = {}
    for line in eri("info", path, "--tensors").stdout.splitlines():
        m = re.fullmatch(r"  (\S+)  \[([0-9, ]*)\]  (\w+)", line)
        if m:
            shape = tuple(int(d) for d in m.group(2).split(",") if d.strip())
            out[m.group(1)] = (shape, m.group(3))
    return out


def tensor_values(path, name):
    """(shape, float32 values, the printed lines) from `eri info --tensor NAME`."""
    lines = eri("info", path, "--tensor", name).stdout.splitlines()
    m = re.fullmatch(r"# (\S+) \[([0-9, ]*)\]", lines[0])
    assert m and m.group(1) == name, lines[0]
    shape = tuple(int(d) for d in m.group(2).split(",") if d.strip())
    return shape, np.array([np.float32(v) for v in lines[1:]], dtype=np.float32), lines[1:]


def info_field(path, field):
    for line in eri("info", path).stdout.splitlines():
        if line.startswith(field + ":"):
            return line[len(field) + 1:].strip()
    raise AssertionError(f"eri info {path} has no {field!r} line")


def assert_same_float32(actual, expected, what):
    expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(-1)
    assert actual.shape == expected.shape, f"{what}: {actual.shape} values, expected {expected.shape}"
    # Bit-exact: the text must read back to the very same float32 (−0 included).
    bad = np.nonzero(actual.view(np.uint32) != expected.view(np.uint32))[0]
    assert bad.size == 0, f"{what}: {bad.size} values differ, first at {bad[0]}: {actual[bad[0]]!r} vs {expected[bad[0]]!r}"


def significant_digits(text):
    """Significant digits of a decimal number's text: "0.0125" → 3, "1.0" → 1, "1e-05" → 1."""
    mantissa = re.sub(r"[^0-9]", "", text.lower().split("e")[0])
    return max(1, len(mantissa.strip("0")))


def sample_names(names, shapes, k=6):
    """A few tensors: the largest, the smallest, a constant one, and some in between."""
    by_size = sorted(names, key=lambda n: (int(np.prod(shapes[n])), n))
    picks = {by_size[0], by_size[-1]}
    picks.update([n for n in names if n.endswith(".running_var")][:1])
    step = max(1, len(by_size) // k)
    picks.update(by_size[::step])
    return sorted(picks)


# ---------------------------------------------------------------- (a) liberi → Python


@pytest.fixture(scope="module")
def liberi_model(tmp_path_factory):
    return eri_init(tmp_path_factory.mktemp("a") / "m.eri", seed=5)


def test_liberi_file_opens_in_safetensors(liberi_model):
    listed = listed_tensors(liberi_model)
    assert len(listed) > 50
    with safe_open(str(liberi_model), framework="numpy") as f:
        meta = f.metadata()
        assert meta["format"] == "eri"
        assert meta["eri.version"] == "1"
        cfg = json.loads(meta["eri.config"])
        assert meta["eri.provenance"] == "random initialisation (seed 5)"
        assert set(f.keys()) == set(listed)
        for name in f.keys():
            t = f.get_tensor(name)
            assert t.dtype == np.float32, name
            assert tuple(t.shape) == listed[name][0], name
            assert listed[name][1] == "F32"
    assert set(cfg) <= CONFIG_KEYS and CONFIG_KEYS - {"train"} <= set(cfg)
    assert cfg["emotions"] == EMOTIONS
    assert set(cfg["video"]) == VIDEO_KEYS
    assert set(cfg["audio"]) == AUDIO_KEYS
    assert set(cfg["audio"]["mfcc"]) == MFCC_KEYS
    assert cfg["video"]["frames"] == 8 and cfg["video"]["image_size"] == 48 and cfg["video"]["color"] == "gray"
    assert cfg["audio"]["mfcc"]["n_mfcc"] == 13 and cfg["head"]["hidden"] == 32


def test_liberi_file_has_safetensors_layout(liberi_model):
    """The container rules the Rust `safetensors` crate enforces: header 8-aligned, data packed."""
    raw = Path(liberi_model).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0, "header not padded to a multiple of 8"
    header = json.loads(raw[8:8 + n])
    spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), "gaps between tensors"


def test_liberi_values_match_eri_info(liberi_model):
    with safe_open(str(liberi_model), framework="numpy") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
        for name in sample_names(list(f.keys()), shapes):
            shape, values, lines = tensor_values(liberi_model, name)
            expected = f.get_tensor(name)
            assert shape == expected.shape, name
            assert_same_float32(values, expected, name)
            # Shortest round-trip text: no more significant digits than numpy's shortest repr.
            for text, v in zip(lines[:50], expected.reshape(-1)[:50]):
                shortest = np.format_float_scientific(v, unique=True, trim="-")
                assert significant_digits(text) <= significant_digits(shortest), (name, text, shortest)


# ---------------------------------------------------------------- (b) Python → liberi


def random_like(shapes, seed):
    rng = np.random.default_rng(seed)
    values = {n: (0.2 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes.items()}
    # What training can give: variances are not negative and a normalisation std stays away from
    # zero (liberi refuses a model file with either).
    for n in values:
        if n.endswith(".running_var") or n == "audio.norm.std":
            values[n] = np.abs(values[n]) + np.float32(0.05)
    return values


@pytest.fixture(scope="module")
def template(liberi_model):
    with safe_open(str(liberi_model), framework="numpy") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        meta = dict(f.metadata())
    meta["eri.provenance"] = "written by Tests/python/test_safetensors_interop.py"
    meta["eri.metrics"] = json.dumps({"val_mean_pcc": 0.125, "split": "none"})
    return shapes, meta


@pytest.mark.parametrize("variant", ["f32", "f16", "mixed"])
def test_python_file_opens_in_liberi(tmp_path, template, variant):
    shapes, meta = template
    values = random_like(shapes, seed={"f32": 1, "f16": 2, "mixed": 3}[variant])
    path = tmp_path / f"{variant}.eri"
    names = sorted(shapes)
    if variant == "f32":
        stored = values
        save_file(stored, str(path), metadata=meta)
        expected = stored
        dtypes = {n: "F32" for n in names}
    elif variant == "f16":
        stored = {n: v.astype(np.float16) for n, v in values.items()}
        save_file(stored, str(path), metadata=meta)
        expected = {n: v.astype(np.float32) for n, v in stored.items()}
        dtypes = {n: "F16" for n in names}
    else:
        torch = pytest.importorskip("torch")
        from safetensors.torch import save_file as torch_save_file
        kinds = [torch.float32, torch.float16, torch.bfloat16]
        stored = {n: torch.from_numpy(values[n]).to(kinds[i % 3]).contiguous() for i, n in enumerate(names)}
        torch_save_file(stored, str(path), metadata=meta)
        expected = {n: t.to(torch.float32).numpy() for n, t in stored.items()}
        dtypes = {n: {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[stored[n].dtype] for n in names}

    listed = listed_tensors(path)
    assert {n: s for n, (s, _) in listed.items()} == shapes
    assert {n: d for n, (_, d) in listed.items()} == dtypes
    assert info_field(path, "preset") == "dbn-tiny"
    assert info_field(path, "provenance") == meta["eri.provenance"]
    assert info_field(path, "metrics") == meta["eri.metrics"]
    picks = sample_names(names, shapes)
    if variant == "mixed":  # one tensor of each dtype at least
        picks += [names[0], names[1], names[2]]
    for name in sorted(set(picks)):
        shape, got, _ = tensor_values(path, name)
        assert shape == shapes[name], name
        assert_same_float32(got, expected[name], f"{variant} {name} ({dtypes[name]})")


def test_python_file_with_extra_metadata_and_no_optional_keys(tmp_path, template):
    """Unknown metadata keys are ignored; without eri.provenance / eri.metrics, info says (none)."""
    shapes, meta = template
    meta = {k: v for k, v in meta.items() if k in ("format", "eri.version", "eri.config")}
    meta["producer"] = "numpy"
    path = tmp_path / "plain.eri"
    save_file(random_like(shapes, seed=9), str(path), metadata=meta)
    assert info_field(path, "provenance") == "(none)"
    assert info_field(path, "metrics") == "(none)"


def test_python_file_without_eri_metadata_is_rejected(tmp_path, template):
    shapes, _ = template
    path = tmp_path / "nometa.eri"
    save_file(random_like(shapes, seed=10), str(path), metadata={"format": "pt"})
    r = eri("info", path, check=False)
    assert r.returncode != 0 and "not an .eri model" in r.stderr and str(path) in r.stderr


# ---------------------------------------------------------------- (c) the PyTorch reference oracle


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("torch")
    if not (REFERENCE / "eri_ref").is_dir():
        pytest.skip("no reference/ oracle")
    sys.path.insert(0, str(REFERENCE))
    from eri_ref import config as C
    from eri_ref.eri_file import load_model
    from eri_ref.model import build_model, eri_state_dict
    return C, load_model, build_model, eri_state_dict


@pytest.mark.parametrize("preset", ["dbn-tiny", "dbn-small"])
@pytest.mark.parametrize("branch", [None, "video", "audio"])
def test_reference_loads_liberi_model(tmp_path, reference, preset, branch):
    C, load_model, build_model, eri_state_dict = reference
    path = eri_init(tmp_path / "m.eri", preset=preset, branch=branch, seed=7)
    model, cfg = load_model(path)  # strict: every name and shape of the module tree
    expected_cfg = C.preset(preset)
    if branch == "video":
        expected_cfg = C.video_only(expected_cfg)
    elif branch == "audio":
        expected_cfg = C.audio_only(expected_cfg)
    assert cfg == expected_cfg
    tree = {k: tuple(v.shape) for k, v in eri_state_dict(build_model(cfg)).items()}
    with safe_open(str(path), framework="numpy") as f:
        file_shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        loaded = eri_state_dict(model)
        for name in sample_names(list(file_shapes), file_shapes):
            assert np.array_equal(loaded[name].detach().numpy(), f.get_tensor(name)), name
    assert file_shapes == tree
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert info_field(path, "parameters").split()[0] == str(n_params)


@pytest.mark.parametrize("branch", [None, "video"])
def test_liberi_opens_reference_model(tmp_path, reference, branch):
    out = tmp_path / "case"
    args = [sys.executable, str(REFERENCE / "make_case.py"), "--preset", "dbn-tiny", "--seed", "3",
            "--out", str(out), "--no-grads"]
    if branch == "video":
        args.append("--video-only")
    subprocess.run(args, check=True, capture_output=True, text=True, cwd=REPO)
    path = out / "model.eri"
    assert info_field(path, "preset") == ("dbn-tiny" if branch is None else "dbn-tiny-video")
    assert info_field(path, "provenance").startswith("make_case.py --preset dbn-tiny --seed 3")
    with safe_open(str(path), framework="numpy") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        assert {n: s for n, (s, _) in listed_tensors(path).items()} == shapes
        for name in sample_names(list(shapes), shapes):
            _, got, _ = tensor_values(path, name)
            assert_same_float32(got, f.get_tensor(name), name)

"""scripts/convert_mtcnn.py: the safetensors file it writes holds exactly the tensors that
torch.load reads from facenet-pytorch 2.6.0's pnet/rnet/onet.pt, and it refuses what it
should (a wheel with another checksum, pickles naming anything but a float32 state dict).

The wheel comes from `make models` (.build/models/), or ERI_MTCNN_WHEEL."""

import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERTER = os.path.join(REPO, "scripts", "convert_mtcnn.py")
sys.path.insert(0, os.path.join(REPO, "scripts"))
import convert_mtcnn as cm  # noqa: E402

WHEEL = os.environ.get("ERI_MTCNN_WHEEL") or os.path.join(REPO, ".build", "models", cm.WHEEL_NAME)

# The 50 tensors, written out from facenet_pytorch/models/mtcnn.py's layer definitions.
SHAPES = {
    "pnet.conv1.weight": (10, 3, 3, 3), "pnet.conv1.bias": (10,), "pnet.prelu1.weight": (10,),
    "pnet.conv2.weight": (16, 10, 3, 3), "pnet.conv2.bias": (16,), "pnet.prelu2.weight": (16,),
    "pnet.conv3.weight": (32, 16, 3, 3), "pnet.conv3.bias": (32,), "pnet.prelu3.weight": (32,),
    "pnet.conv4_1.weight": (2, 32, 1, 1), "pnet.conv4_1.bias": (2,),
    "pnet.conv4_2.weight": (4, 32, 1, 1), "pnet.conv4_2.bias": (4,),
    "rnet.conv1.weight": (28, 3, 3, 3), "rnet.conv1.bias": (28,), "rnet.prelu1.weight": (28,),
    "rnet.conv2.weight": (48, 28, 3, 3), "rnet.conv2.bias": (48,), "rnet.prelu2.weight": (48,),
    "rnet.conv3.weight": (64, 48, 2, 2), "rnet.conv3.bias": (64,), "rnet.prelu3.weight": (64,),
    "rnet.dense4.weight": (128, 576), "rnet.dense4.bias": (128,), "rnet.prelu4.weight": (128,),
    "rnet.dense5_1.weight": (2, 128), "rnet.dense5_1.bias": (2,),
    "rnet.dense5_2.weight": (4, 128), "rnet.dense5_2.bias": (4,),
    "onet.conv1.weight": (32, 3, 3, 3), "onet.conv1.bias": (32,), "onet.prelu1.weight": (32,),
    "onet.conv2.weight": (64, 32, 3, 3), "onet.conv2.bias": (64,), "onet.prelu2.weight": (64,),
    "onet.conv3.weight": (64, 64, 3, 3), "onet.conv3.bias": (64,), "onet.prelu3.weight": (64,),
    "onet.conv4.weight": (128, 64, 2, 2), "onet.conv4.bias": (128,), "onet.prelu4.weight": (128,),
    "onet.dense5.weight": (256, 1152), "onet.dense5.bias": (256,), "onet.prelu5.weight": (256,),
    "onet.dense6_1.weight": (2, 256), "onet.dense6_1.bias": (2,),
    "onet.dense6_2.weight": (4, 256), "onet.dense6_2.bias": (4,),
    "onet.dense6_3.weight": (10, 256), "onet.dense6_3.bias": (10,),
}


@pytest.fixture(scope="module")
def wheel():
    if not os.path.exists(WHEEL):
        pytest.fail("%s is missing: run `make models` (or set ERI_MTCNN_WHEEL)" % WHEEL)
    return WHEEL


@pytest.fixture(scope="module")
def converted(wheel, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mtcnn") / "face-mtcnn.safetensors")
    r = subprocess.run([sys.executable, CONVERTER, wheel, out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "50 tensors" in r.stdout
    return out


def torch_state_dicts(wheel):
    """What facenet-pytorch itself loads: torch.load of the three .pt files in the wheel."""
    with zipfile.ZipFile(wheel) as z:
        return {net: torch.load(io.BytesIO(z.read("facenet_pytorch/data/%s.pt" % net)), weights_only=True)
                for net in cm.NETS}


def test_every_tensor_equals_torch_load(wheel, converted):
    tensors = load_file(converted)
    expected = {}
    for net, state in torch_state_dicts(wheel).items():
        for name, t in state.items():
            expected["%s.%s" % (net, name)] = t
    assert set(tensors) == set(expected) == set(SHAPES)
    for name, t in expected.items():
        got = tensors[name]
        assert got.dtype == np.float32 and t.dtype == torch.float32, name
        assert got.shape == tuple(t.shape) == SHAPES[name], name
        # bit for bit (the .pt tensors are mostly transposed views: strides matter)
        assert np.array_equal(got.view(np.int32), t.contiguous().numpy().view(np.int32)), name


def test_header_and_metadata(wheel, converted):
    with open(converted, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8: 8 + n])
    assert (8 + n) % 8 == 0
    meta = header.pop("__metadata__")
    spans = sorted((v["data_offsets"], k) for k, v in header.items())
    assert spans[0][0][0] == 0 and spans[-1][0][1] == len(blob) - 8 - n
    assert all(a[0][1] == b[0][0] for a, b in zip(spans, spans[1:]))
    assert all(v["dtype"] == "F32" for v in header.values())
    with zipfile.ZipFile(wheel) as z:
        licence = z.read("facenet_pytorch-2.6.0.dist-info/LICENSE.md").decode()
    with safe_open(converted, "np") as f:
        assert f.metadata() == meta
    assert meta == {
        "format": "eri-face",
        "eri.face.model": "mtcnn",
        "eri.face.provenance": "facenet-pytorch 2.6.0 (PyPI, sha256 "
                               "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca), "
                               "facenet_pytorch/data/{pnet,rnet,onet}.pt, converted by scripts/convert_mtcnn.py",
        "eri.face.licence": licence,
    }
    assert licence.startswith("MIT License") and "Copyright (c) 2019 Timothy Esler" in licence


def test_same_bytes_as_make_models(converted):
    """The converter is deterministic: `make models`' file (when there) is the same."""
    built = os.path.join(REPO, ".build", "models", "face-mtcnn.safetensors")
    if not os.path.exists(built):
        pytest.skip("no .build/models/face-mtcnn.safetensors")
    with open(built, "rb") as a, open(converted, "rb") as b:
        assert a.read() == b.read()


def test_refuses_a_wheel_with_one_flipped_byte(wheel, tmp_path):
    bad = tmp_path / cm.WHEEL_NAME
    shutil.copy(wheel, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.safetensors"
    r = subprocess.run([sys.executable, CONVERTER, str(bad), str(out)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "sha256" in r.stderr and cm.WHEEL_SHA256 in r.stderr, r.stderr
    assert not out.exists() and not (tmp_path / "out.safetensors.tmp").exists()


def test_usage_and_missing_file(tmp_path):
    r = subprocess.run([sys.executable, CONVERTER], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([sys.executable, CONVERTER, str(tmp_path / "nothing.whl"), str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "nothing.whl" in r.stderr


# -- the reader on its own: both torch.save formats, views, refusals

def saved(obj, legacy):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_matches_torch_on_strided_tensors(legacy):
    g = torch.Generator().manual_seed(3)
    base = torch.randn(40, generator=g)
    state = {
        "plain": torch.randn(3, 4, generator=g),
        "transposed": torch.randn(5, 6, generator=g).t(),
        "offset_view": base[7:19].view(3, 4),  # shares a storage with the next one
        "strided": base[::3],
        "permuted": torch.randn(2, 3, 4, 5, generator=g).permute(3, 1, 0, 2),
        "scalar_like": torch.randn(1, generator=g),
    }
    got = cm.load_state_dict(saved(state, legacy), "test")
    assert list(got) == list(state)
    for name, t in state.items():
        shape, data = got[name]
        assert shape == tuple(t.shape), name
        assert data == t.contiguous().numpy().astype("<f4").tobytes(), name


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ("touch %s" % self.path,))


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_refuses_code_in_the_pickle(tmp_path, legacy):
    marker = tmp_path / "ran"
    if legacy:
        raw = (pickle.dumps(cm.LEGACY_MAGIC) + pickle.dumps(cm.LEGACY_PROTOCOL)
               + pickle.dumps({"little_endian": True}) + pickle.dumps({"w": _Evil(marker)}) + pickle.dumps([]))
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps({"w": _Evil(marker)}))
        raw = buf.getvalue()
    with pytest.raises(cm.Refused, match="refused"):
        cm.load_state_dict(raw, "evil")
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_refuses_other_dtypes_and_objects(legacy):
    with pytest.raises(cm.Refused, match="LongStorage|torch._utils|refused"):
        cm.load_state_dict(saved({"i": torch.arange(3)}, legacy), "ints")
    with pytest.raises(cm.Refused):
        cm.load_state_dict(saved({"p": torch.nn.Parameter(torch.ones(2))}, legacy), "parameter")
    with pytest.raises(cm.Refused):
        cm.load_state_dict(saved(torch.nn.Linear(2, 2), legacy), "module")


def test_checks_names_shapes_and_values():
    good = {name[5:]: (shape, b"\0" * (4 * int(np.prod(shape)))) for name, shape in SHAPES.items()
            if name.startswith("pnet.")}
    cm.check_net("pnet", good)
    missing = dict(good)
    del missing["conv1.bias"]
    with pytest.raises(cm.Refused, match="missing"):
        cm.check_net("pnet", missing)
    wrong = dict(good, **{"conv1.bias": ((11,), b"\0" * 44)})
    with pytest.raises(cm.Refused, match="shape"):
        cm.check_net("pnet", wrong)
    nan = dict(good, **{"conv1.bias": ((10,), struct.pack("<10f", *([0.0] * 9 + [float("nan")])))})
    with pytest.raises(cm.Refused, match="NaN"):
        cm.check_net("pnet", nan)

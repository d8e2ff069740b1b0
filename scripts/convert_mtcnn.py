#!/usr/bin/env python3
"""MTCNN weights for liberi's face detector: facenet-pytorch 2.6.0's P-Net, R-Net and
O-Net state dicts -> one safetensors file (SPEC §4.1a).

    python3 scripts/convert_mtcnn.py facenet_pytorch-2.6.0-py3-none-any.whl face-mtcnn.safetensors

Standard library only: `make models` runs it on a bare machine before any venv exists,
and it downloads nothing (the Makefile fetches the wheel with pip). It

- refuses any wheel whose sha256 is not the pinned one (the PyPI file of
  facenet-pytorch 2.6.0);
- reads facenet_pytorch/data/{pnet,rnet,onet}.pt out of the wheel (a zip) with a
  restricted unpickler: the legacy torch.save format these files use (magic number,
  protocol, system info, the pickled state dict, the storage keys, then each storage's
  raw bytes) and, for completeness, the zip format of torch.save since 1.6. The only
  globals it lets a pickle name are collections.OrderedDict,
  torch._utils._rebuild_tensor_v2 and torch.FloatStorage; anything else (code, modules,
  other tensor types) is refused before it can run;
- checks every tensor's name and shape against the three networks of
  facenet_pytorch/models/mtcnn.py, and that every value is finite;
- writes F32 little-endian safetensors, tensors named `pnet.<name>`, `rnet.<name>`,
  `onet.<name>` exactly as the state dicts name them, data in the header's (sorted) key
  order, `__metadata__` = format / eri.face.model / eri.face.provenance / eri.face.licence
  (the MIT licence from the wheel's dist-info, with its copyright line).

Exit status 0 on success, 1 on any refusal (message on stderr).
"""

import collections
import hashlib
import io
import itertools
import json
import math
import os
import pickle
import struct
import sys
import zipfile

WHEEL_NAME = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
WHEEL_SIZE = 1881930
LICENCE_MEMBER = "facenet_pytorch-2.6.0.dist-info/LICENSE.md"
NETS = ("pnet", "rnet", "onet")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The state dicts of facenet_pytorch/models/mtcnn.py (PNet, RNet, ONet), name -> shape.
# (conv: out × in × kh × kw; Linear: out × in; PReLU: one slope per channel.)
def _conv(name, cout, cin, k):
    return [(name + ".weight", (cout, cin, k, k)), (name + ".bias", (cout,))]


def _dense(name, out, inp):
    return [(name + ".weight", (out, inp)), (name + ".bias", (out,))]


def _prelu(name, n):
    return [(name + ".weight", (n,))]


EXPECTED = {
    "pnet": dict(_conv("conv1", 10, 3, 3) + _prelu("prelu1", 10) + _conv("conv2", 16, 10, 3) + _prelu("prelu2", 16)
                 + _conv("conv3", 32, 16, 3) + _prelu("prelu3", 32) + _conv("conv4_1", 2, 32, 1) + _conv("conv4_2", 4, 32, 1)),
    "rnet": dict(_conv("conv1", 28, 3, 3) + _prelu("prelu1", 28) + _conv("conv2", 48, 28, 3) + _prelu("prelu2", 48)
                 + _conv("conv3", 64, 48, 2) + _prelu("prelu3", 64) + _dense("dense4", 128, 576) + _prelu("prelu4", 128)
                 + _dense("dense5_1", 2, 128) + _dense("dense5_2", 4, 128)),
    "onet": dict(_conv("conv1", 32, 3, 3) + _prelu("prelu1", 32) + _conv("conv2", 64, 32, 3) + _prelu("prelu2", 64)
                 + _conv("conv3", 64, 64, 3) + _prelu("prelu3", 64) + _conv("conv4", 128, 64, 2) + _prelu("prelu4", 128)
                 + _dense("dense5", 256, 1152) + _prelu("prelu5", 256) + _dense("dense6_1", 2, 256)
                 + _dense("dense6_2", 4, 256) + _dense("dense6_3", 10, 256)),
}


class Refused(Exception):
    """The input is not what this converter accepts; the message says why."""


# -- a restricted reader of torch.save files holding a state dict of float32 tensors

class FloatStorage:
    """Stands for torch.FloatStorage: only ever a marker passed to persistent_load."""
    element_size = 4


class Storage:
    """A storage's bytes (little-endian float32), filled in once the file has been read."""

    def __init__(self, key, numel):
        self.key = key
        self.numel = numel
        self.data = None  # bytes, numel * 4 long
        self.view_of = None  # (root Storage, element offset) for a legacy storage view


class Tensor:
    """What _rebuild_tensor_v2 records; resolved to contiguous bytes after loading."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def contiguous_bytes(self):
        storage, offset = self.storage, self.offset
        if storage.view_of is not None:
            storage, base = storage.view_of
            offset += base
        data = storage.data
        if data is None:
            raise Refused("storage %s has no data" % storage.key)
        numel = math.prod(self.shape)
        if numel == 0:
            return b""
        last = offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if offset < 0 or any(s < 0 for s in self.stride) or last >= storage.numel:
            raise Refused("tensor of shape %s, stride %s, offset %d lies outside its storage of %d elements"
                          % (list(self.shape), list(self.stride), offset, storage.numel))
        contiguous, step = [], 1
        for n in reversed(self.shape):
            contiguous.insert(0, step)
            step *= n
        if all(n == 1 or s == c for n, s, c in zip(self.shape, self.stride, contiguous)):
            return bytes(data[4 * offset: 4 * (offset + numel)])
        out = bytearray()
        for index in itertools.product(*(range(n) for n in self.shape)):
            e = offset + sum(i * s for i, s in zip(index, self.stride))
            out += data[4 * e: 4 * e + 4]
        return bytes(out)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    if not isinstance(storage, Storage):
        raise Refused("_rebuild_tensor_v2 of something that is not a storage")
    for v in (storage_offset, *size, *stride):
        if not isinstance(v, int):
            raise Refused("_rebuild_tensor_v2 with a non-integer offset, size or stride")
    if len(size) != len(stride):
        raise Refused("_rebuild_tensor_v2: size and stride differ in length")
    return Tensor(storage, storage_offset, size, stride)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch", "FloatStorage"): FloatStorage,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict and nothing else; storages come from `storage_for`."""

    def __init__(self, file, storage_for):
        super().__init__(file)
        self._storage_for = storage_for

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise Refused("the pickle names %s.%s, which a float32 state dict never needs: refused"
                          % (module, name)) from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise Refused("persistent id %r is not a storage: refused" % (pid[:1] if isinstance(pid, tuple) else pid,))
        if pid[1] is not FloatStorage:
            raise Refused("storage type %r is not torch.FloatStorage" % (pid[1],))
        return self._storage_for(pid)


def _plain_load(f):
    """One of the small pickles of the legacy header: only plain data, no globals at all."""

    class Plain(pickle.Unpickler):
        def find_class(self, module, name):
            raise Refused("the legacy header names %s.%s: refused" % (module, name))

        def persistent_load(self, pid):
            raise Refused("the legacy header has a persistent id: refused")

    return Plain(f).load()


def _load_legacy(raw, what):
    f = io.BytesIO(raw)
    if _plain_load(f) != LEGACY_MAGIC:
        raise Refused("%s: not a torch.save file (bad magic number)" % what)
    protocol = _plain_load(f)
    if protocol != LEGACY_PROTOCOL:
        raise Refused("%s: torch.save protocol %r, expected %d" % (what, protocol, LEGACY_PROTOCOL))
    sys_info = _plain_load(f)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise Refused("%s: not written on a little-endian machine (%r)" % (what, sys_info))
    storages = {}

    def storage_for(pid):
        if len(pid) != 6:
            raise Refused("%s: legacy storage id of %d fields, expected 6" % (what, len(pid)))
        _, _, key, _location, numel, view = pid
        if key not in storages:
            storages[key] = Storage(key, numel)
        root = storages[key]
        if view is None:
            return root
        view_key, offset, view_numel = view
        if view_key not in storages:
            storages[view_key] = Storage(view_key, view_numel)
            storages[view_key].view_of = (root, offset)
        return storages[view_key]

    state = RestrictedUnpickler(f, storage_for).load()
    keys = _plain_load(f)
    if not isinstance(keys, list):
        raise Refused("%s: the storage key list is missing" % what)
    for key in keys:
        storage = storages.get(key)
        if storage is None or storage.view_of is not None:
            raise Refused("%s: storage key %r was never referenced" % (what, key))
        head = f.read(8)
        if len(head) != 8:
            raise Refused("%s: truncated before storage %s" % (what, key))
        (numel,) = struct.unpack("<q", head)
        if numel != storage.numel:
            raise Refused("%s: storage %s holds %d elements, its id says %d" % (what, key, numel, storage.numel))
        storage.data = f.read(4 * numel)
        if len(storage.data) != 4 * numel:
            raise Refused("%s: truncated inside storage %s" % (what, key))
    if f.read(1):
        raise Refused("%s: bytes after the last storage" % what)
    return state


def _load_zip(raw, what):
    z = zipfile.ZipFile(io.BytesIO(raw))
    pickles = [n for n in z.namelist() if n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise Refused("%s: a torch zip file needs exactly one data.pkl" % what)
    prefix = pickles[0][: -len("data.pkl")]
    if prefix + "byteorder" in z.namelist() and z.read(prefix + "byteorder").strip() != b"little":
        raise Refused("%s: not little-endian" % what)
    storages = {}

    def storage_for(pid):
        if len(pid) != 5:
            raise Refused("%s: zip storage id of %d fields, expected 5" % (what, len(pid)))
        _, _, key, _location, numel = pid
        if key not in storages:
            storage = Storage(key, numel)
            try:
                storage.data = z.read(prefix + "data/" + str(key))
            except KeyError:
                raise Refused("%s: storage %s missing from the archive" % (what, key)) from None
            if len(storage.data) != 4 * numel:
                raise Refused("%s: storage %s has %d bytes, expected %d" % (what, key, len(storage.data), 4 * numel))
            storages[key] = storage
        return storages[key]

    return RestrictedUnpickler(io.BytesIO(z.read(pickles[0])), storage_for).load()


def load_state_dict(raw, what="state dict"):
    """name -> (shape tuple, little-endian float32 bytes) of a torch.save'd state dict."""
    try:
        state = (_load_zip if raw[:4] == b"PK\x03\x04" else _load_legacy)(raw, what)
    except Refused:
        raise
    except Exception as e:  # malformed pickles: say what, never a traceback
        raise Refused("%s: unreadable (%s: %s)" % (what, type(e).__name__, e)) from None
    if not isinstance(state, dict):
        raise Refused("%s: the pickle is a %s, not a state dict" % (what, type(state).__name__))
    out = {}
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, Tensor):
            raise Refused("%s: entry %r is not a named tensor" % (what, name))
        out[name] = (tensor.shape, tensor.contiguous_bytes())
    return out


# -- safetensors

def safetensors_bytes(tensors, metadata):
    """tensors: name -> (shape, float32 little-endian bytes); data in sorted name order."""
    header = {"__metadata__": metadata}
    offset = 0
    for name in sorted(tensors):
        shape, data = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(len(text) + 8) % 8)  # tensor data starts 8-byte aligned, as the safetensors package writes it
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[n][1] for n in sorted(tensors))


# -- the conversion

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_net(net, tensors):
    expected = EXPECTED[net]
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise Refused("%s.pt: missing %s, unexpected %s" % (net, missing, extra))
    for name, (shape, data) in tensors.items():
        if tuple(shape) != expected[name]:
            raise Refused("%s.pt: %s has shape %s, expected %s" % (net, name, list(shape), list(expected[name])))
        values = struct.unpack("<%df" % (len(data) // 4), data)
        if not all(math.isfinite(v) for v in values):
            raise Refused("%s.pt: %s holds a NaN or an infinity" % (net, name))


def convert(wheel, out):
    digest = sha256_of(wheel)
    if digest != WHEEL_SHA256:
        raise Refused("%s: sha256 %s is not the pinned checksum %s of %s (facenet-pytorch 2.6.0 from PyPI): "
                      "refusing a file that is not that wheel" % (wheel, digest, WHEEL_SHA256, WHEEL_NAME))
    with zipfile.ZipFile(wheel) as z:
        licence = z.read(LICENCE_MEMBER).decode("utf-8")
        tensors = {}
        for net in NETS:
            member = "facenet_pytorch/data/%s.pt" % net
            state = load_state_dict(z.read(member), member)
            check_net(net, state)
            for name, value in state.items():
                tensors["%s.%s" % (net, name)] = value
    if "MIT License" not in licence or "Copyright (c)" not in licence:
        raise Refused("%s in the wheel is not the expected MIT licence" % LICENCE_MEMBER)
    metadata = {
        "format": "eri-face",
        "eri.face.model": "mtcnn",
        "eri.face.provenance": "facenet-pytorch 2.6.0 (PyPI, sha256 %s), facenet_pytorch/data/{pnet,rnet,onet}.pt, "
                               "converted by scripts/convert_mtcnn.py" % WHEEL_SHA256,
        "eri.face.licence": licence,
    }
    blob = safetensors_bytes(tensors, metadata)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, out)
    return tensors


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        print("usage: convert_mtcnn.py %s OUT.safetensors" % WHEEL_NAME, file=sys.stderr)
        return 2
    try:
        tensors = convert(argv[1], argv[2])
    except Refused as e:
        print("convert_mtcnn.py: %s" % e, file=sys.stderr)
        return 1
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        print("convert_mtcnn.py: %s" % e, file=sys.stderr)
        return 1
    count = sum(math.prod(shape) for shape, _ in tensors.values())
    print("%s: %d tensors, %d float32 values (P-Net, R-Net, O-Net of facenet-pytorch 2.6.0)" % (argv[2], len(tensors), count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Crafts one malformed model file per SPEC §2 rejection case, for the host tests.

    python Tests/host/make_bad_models.py VALID.eri DIR

VALID.eri is a good model written by `eri init --preset dbn-tiny` (both branches).
Writes DIR/<case>.eri and DIR/manifest.txt with one line per case:

    filename<TAB>expected eri_status as an integer<TAB>a substring of the message

The hosts (test_c, test_cpp, test_ctypes.py) open every file through the C API
and check the status, the substring and that the message names the file.
The cases mirror Tests/ERICoreTests/ModelFileTests.swift.
"""

import json
import os
import struct
import sys

import numpy as np

ERI_ERR_FORMAT = 3
ERI_ERR_UNSUPPORTED = 4


class Valid:
    """The header (an ordered dict) and data bytes of a valid safetensors file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.header = json.loads(raw[8:8 + n].decode("utf-8"))
        self.data = bytearray(raw[8 + n:])
        self.raw = raw

    def copy(self):
        other = Valid.__new__(Valid)
        other.header = json.loads(json.dumps(self.header))
        other.data = bytearray(self.data)
        other.raw = self.raw
        return other

    def bytes(self):
        return craft(json.dumps(self.header, separators=(",", ":")), bytes(self.data))

    def meta(self):
        return self.header["__metadata__"]

    def config(self):
        return json.loads(self.meta()["eri.config"])


def craft(header_text, data=b"", declared_length=None):
    """u64 LE length + header + data, nothing checked (the way an attacker would)."""
    h = header_text.encode("utf-8") if isinstance(header_text, str) else header_text
    n = len(h) if declared_length is None else declared_length
    return struct.pack("<Q", n) + h + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    valid = Valid(argv[1])
    out = argv[2]
    os.makedirs(out, exist_ok=True)
    cases = []  # (filename, status, needle, bytes or None when written separately)

    def add(name, status, needle, content):
        cases.append((name, status, needle))
        with open(os.path.join(out, name), "wb") as f:
            f.write(content)

    # The tensor the offset cases corrupt: head.fc2.weight, 7 × hidden floats.
    w_name = "head.fc2.weight"
    w = valid.header[w_name]
    w_shape = w["shape"]
    w_bytes = w["data_offsets"][1] - w["data_offsets"][0]
    assert w_bytes == 4 * w_shape[0] * w_shape[1], w
    b_name = "head.fc2.bias"
    raw = valid.raw
    size = len(valid.data)

    # -- truncated and empty files
    add("empty.eri", ERI_ERR_FORMAT, "truncated", b"")
    add("three_bytes.eri", ERI_ERR_FORMAT, "truncated", b"\x01\x00\x00")
    add("seven_bytes.eri", ERI_ERR_FORMAT, "truncated", raw[:7])
    add("truncated_data.eri", ERI_ERR_FORMAT, "outside the data section", raw[:-100])
    add("truncated_header.eri", ERI_ERR_FORMAT, "past the end", raw[:40])

    # -- header lengths
    add("header_past_eof.eri", ERI_ERR_FORMAT, "past the end", craft("{}", declared_length=1000))
    add("header_over_100mib.eri", ERI_ERR_FORMAT, "16 MiB", craft("{}", declared_length=200 << 20))
    add("header_over_16mib.eri", ERI_ERR_FORMAT, "16 MiB", craft("{}", declared_length=(16 << 20) + 1))
    add("header_u64_max.eri", ERI_ERR_FORMAT, "16 MiB", craft("{}", declared_length=2 ** 64 - 1))

    # -- header JSON
    add("invalid_json.eri", ERI_ERR_FORMAT, "not valid JSON", craft('{"a":'))
    add("nul_header.eri", ERI_ERR_FORMAT, "not valid JSON", craft("\0\0"))
    add("invalid_utf8_header.eri", ERI_ERR_FORMAT, "not valid JSON", craft(b'{"\xff\xfe":1}'))
    add("header_array.eri", ERI_ERR_FORMAT, "not an object", craft("[1,2]"))
    add("header_string.eri", ERI_ERR_FORMAT, "not an object", craft('"eri"'))

    # -- offsets
    m = valid.copy()
    m.header[w_name] = entry("F32", w_shape, size - 100, size - 100 + w_bytes + 400)
    add("offsets_outside.eri", ERI_ERR_FORMAT, "outside the data section", m.bytes())
    m.header[w_name] = entry("F32", w_shape, 900, 100)
    add("offsets_reversed.eri", ERI_ERR_FORMAT, "outside the data section", m.bytes())
    m.header[w_name] = entry("F32", w_shape, -8, w_bytes - 8)
    add("offsets_negative.eri", ERI_ERR_FORMAT, "invalid data_offsets", m.bytes())
    m.header[w_name] = {"dtype": "F32", "shape": w_shape, "data_offsets": [0]}
    add("offsets_one_number.eri", ERI_ERR_FORMAT, "invalid data_offsets", m.bytes())
    m.header[w_name] = entry("F32", w_shape, 0, w_bytes)  # on top of the first tensor
    add("offsets_overlap.eri", ERI_ERR_FORMAT, "overlap", m.bytes())
    m.header[w_name] = entry("F32", w_shape, 0, w_bytes - 96)
    add("offsets_size_mismatch.eri", ERI_ERR_FORMAT, f"needs {w_bytes}", m.bytes())
    m.header[w_name] = entry("F32", [10 ** 12, 10 ** 12], 0, 8)
    add("shape_absurd.eri", ERI_ERR_FORMAT, "absurdly large", m.bytes())
    m.header[w_name] = {"dtype": "F32", "shape": w_shape, "data_offsets": w["data_offsets"], "crc": 1}
    add("tensor_unknown_field.eri", ERI_ERR_FORMAT, "unknown field", m.bytes())

    # -- tensors against the config
    m = valid.copy()
    del m.header[b_name]
    add("missing_tensor.eri", ERI_ERR_FORMAT, f'missing tensor "{b_name}"', m.bytes())
    m = valid.copy()
    m.header["head.fc3.bias"] = dict(valid.header[b_name])  # the same bytes twice
    add("duplicate_bytes.eri", ERI_ERR_FORMAT, "overlap", m.bytes())
    m = valid.copy()
    m.data += bytes(28)
    m.header["head.fc3.bias"] = entry("F32", [7], size, size + 28)
    add("extra_tensor.eri", ERI_ERR_FORMAT, 'unexpected tensor "head.fc3.bias"', m.bytes())
    m = valid.copy()
    m.header[w_name] = entry("F32", [w_shape[1], w_shape[0]], *w["data_offsets"])
    add("wrong_shape.eri", ERI_ERR_FORMAT,
        f"has shape [{w_shape[1]}, {w_shape[0]}]; the config requires [{w_shape[0]}, {w_shape[1]}]", m.bytes())

    # -- dtypes and versions (unsupported, not malformed)
    m = valid.copy()
    m.header[b_name] = entry("I32", [7], *valid.header[b_name]["data_offsets"])
    add("dtype_i32.eri", ERI_ERR_UNSUPPORTED, "dtype I32", m.bytes())
    m.header[b_name] = entry("Q4_K", [7], *valid.header[b_name]["data_offsets"])
    add("dtype_q4k.eri", ERI_ERR_UNSUPPORTED, "dtype Q4_K", m.bytes())
    m = valid.copy()
    m.meta()["eri.version"] = "2"
    add("version_2.eri", ERI_ERR_UNSUPPORTED, 'eri.version "2" is not supported', m.bytes())
    del m.meta()["eri.version"]
    add("version_missing.eri", ERI_ERR_FORMAT, "eri.version", m.bytes())

    # -- metadata and config
    m = valid.copy()
    del m.meta()["format"]
    add("format_missing.eri", ERI_ERR_FORMAT, 'no "format" key', m.bytes())
    m.meta()["format"] = "pt"
    add("format_pt.eri", ERI_ERR_FORMAT, "not an .eri model", m.bytes())
    m = valid.copy()
    cfg = m.config()
    cfg["audio"]["pooling"] = 4
    m.meta()["eri.config"] = json.dumps(cfg, separators=(",", ":"))
    add("config_unknown_key.eri", ERI_ERR_FORMAT, 'unknown key "audio.pooling"', m.bytes())
    m.meta()["eri.config"] = "{not json"
    add("config_invalid_json.eri", ERI_ERR_FORMAT, "config", m.bytes())
    cfg = valid.config()
    cfg["video"]["tcn"]["kernel"] = 4
    m.meta()["eri.config"] = json.dumps(cfg, separators=(",", ":"))
    add("config_even_kernel.eri", ERI_ERR_FORMAT, "must be odd", m.bytes())
    del m.meta()["eri.config"]
    add("config_missing.eri", ERI_ERR_FORMAT, "eri.config", m.bytes())
    m = valid.copy()
    m.header["__metadata__"] = {"format": 1}
    add("metadata_not_string.eri", ERI_ERR_FORMAT, "not a string", m.bytes())

    # -- non-finite weights
    begin = valid.header[b_name]["data_offsets"][0]
    for label, value in (("nan", np.nan), ("inf", np.inf)):
        m = valid.copy()
        m.data[begin + 4:begin + 8] = np.float32(value).tobytes()
        add(f"{label}_weight.eri", ERI_ERR_FORMAT, "non-finite value at index 1", m.bytes())

    # -- limits (issue 15): configs whose values pass one by one but cost too much, values that overflow
    def with_config(change):
        m = valid.copy()
        cfg = m.config()
        change(cfg)
        m.meta()["eri.config"] = json.dumps(cfg, separators=(",", ":"))
        return m.bytes()
    add("config_frames_4096.eri", ERI_ERR_FORMAT, '"video.frames" must be an integer in 1…256',
        with_config(lambda c: c["video"].update(frames=4096)))
    add("config_image_2048.eri", ERI_ERR_FORMAT, '"video.image_size" must be an integer in 8…512',
        with_config(lambda c: c["video"].update(image_size=2048)))
    add("config_clip_product.eri", ERI_ERR_FORMAT, "values per clip",
        with_config(lambda c: c["video"].update(frames=256, image_size=512)))
    add("config_std_1e-38.eri", ERI_ERR_FORMAT, "video.std",
        with_config(lambda c: c["video"].update(std=[1e-38] * len(c["video"]["std"]))))
    add("config_max_steps_100000.eri", ERI_ERR_FORMAT, '"audio.max_steps" must be an integer in 1…4096',
        with_config(lambda c: c["audio"].update(max_steps=100000)))
    add("config_spatial_tokens.eri", ERI_ERR_FORMAT, "tokens",
        with_config(lambda c: (c["video"].update(image_size=512, frames=4),
                               c["video"]["backbone"].update(widths=[8], blocks=[1]))))
    m = valid.copy()
    m.data[begin + 4:begin + 8] = np.float32(3e38).tobytes()
    add("weight_3e38.eri", ERI_ERR_FORMAT, "beyond the ±1000000 liberi accepts in a model at index 1", m.bytes())
    var_name = next(n for n in valid.header if n.endswith(".running_var"))
    m = valid.copy()
    vb = valid.header[var_name]["data_offsets"][0]
    m.data[vb:vb + 4] = np.float32(-1).tobytes()
    add("negative_variance.eri", ERI_ERR_FORMAT, f'"{var_name}" holds a negative variance', m.bytes())
    m = valid.copy()
    sb = valid.header["audio.norm.std"]["data_offsets"][0]
    m.data[sb:sb + 4] = np.float32(1e-30).tobytes()
    add("audio_norm_std_tiny.eri", ERI_ERR_FORMAT, "a normalisation std must be at least", m.bytes())

    # A model that opens (every value within the limits) but overflows float32 on any input: every
    # matrix and kernel of both branches at ±1e6 and audio.norm.std at its floor, 1e-4 (the audio
    # branch's layer norms would otherwise turn huge finite values back into small ones). Not a
    # rejection case (not in the manifest): predictions with it must fail with ERI_ERR_INTERNAL,
    # never return NaN or an intensity saturated by ±inf.
    m = valid.copy()
    for name, e in valid.header.items():
        if name == "__metadata__" or name.startswith("head."):
            continue
        b0, b1 = e["data_offsets"]
        w = np.frombuffer(bytes(valid.data[b0:b1]), dtype=np.float32)
        if name == "audio.norm.std":
            m.data[b0:b1] = np.full_like(w, 1e-4).tobytes()
        elif len(e["shape"]) >= 2:
            m.data[b0:b1] = np.where(w < 0, np.float32(-1e6), np.float32(1e6)).astype(np.float32).tobytes()
    with open(os.path.join(out, "overflow.model"), "wb") as f:
        f.write(m.bytes())

    # -- a well-formed safetensors file that is not a model (written by the Python package)
    from safetensors.numpy import save_file
    for name, metadata, needle in (("python_not_eri.eri", {"format": "pt", "source": "numpy"}, "not an .eri model"),
                                   ("python_no_metadata.eri", None, 'no "format" key')):
        save_file({"weight": np.arange(6, dtype=np.float32).reshape(2, 3)}, os.path.join(out, name), metadata=metadata)
        cases.append((name, ERI_ERR_FORMAT, needle))

    with open(os.path.join(out, "manifest.txt"), "w") as f:
        for name, status, needle in cases:
            assert "\t" not in needle and "\n" not in needle
            f.write(f"{name}\t{status}\t{needle}\n")
    print(f"make_bad_models: {len(cases)} files in {out}")


if __name__ == "__main__":
    main(sys.argv)

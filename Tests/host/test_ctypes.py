#!/usr/bin/env python3
"""Host test of liberi's C API from Python with ctypes only (no package needed).

    ERI_LIBRARY=/prefix/lib/liberi.so python Tests/host/test_ctypes.py BAD_DIR MODEL.eri...

BAD_DIR holds make_bad_models.py's files and manifest.txt. With ERI_PREFIX set
(and a C compiler), the ctypes struct layout is compared with the C compiler's
offsetof() of the installed header. Prints TAP lines; exits 1 on a failure.
"""

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile

ERI_OK, ERI_ERR_INVALID_ARGUMENT, ERI_ERR_IO, ERI_ERR_FORMAT, ERI_ERR_UNSUPPORTED = 0, 1, 2, 3, 4
EMOTIONS = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]


class ModelOptions(ctypes.Structure):
    """eri_model_options"""
    _fields_ = [("struct_size", ctypes.c_uint32), ("n_threads", ctypes.c_int32)]


class ModelInfo(ctypes.Structure):
    """struct eri_model_info, field for field as in eri.h."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("has_video", ctypes.c_int32),
        ("has_audio", ctypes.c_int32),
        ("n_frames", ctypes.c_int32),
        ("image_size", ctypes.c_int32),
        ("n_channels", ctypes.c_int32),
        ("sample_rate", ctypes.c_int32),
        ("n_parameters", ctypes.c_uint64),
        ("preset", ctypes.c_char_p),
        ("config_json", ctypes.c_char_p),
        ("provenance", ctypes.c_char_p),
        ("metrics", ctypes.c_char_p),
    ]


LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)


def load_library():
    path = os.environ.get("ERI_LIBRARY")
    if not path:
        sys.exit("test_ctypes: set ERI_LIBRARY to the installed liberi.so")
    lib = ctypes.CDLL(path)
    lib.eri_version.restype = ctypes.c_char_p
    lib.eri_version.argtypes = []
    lib.eri_version_number.restype = ctypes.c_uint32
    lib.eri_version_number.argtypes = []
    lib.eri_status_string.restype = ctypes.c_char_p
    lib.eri_status_string.argtypes = [ctypes.c_int]
    lib.eri_last_error.restype = ctypes.c_char_p
    lib.eri_last_error.argtypes = []
    lib.eri_emotion_name.restype = ctypes.c_char_p
    lib.eri_emotion_name.argtypes = [ctypes.c_int32]
    lib.eri_set_log_callback.restype = None
    lib.eri_set_log_callback.argtypes = [LOG_CALLBACK, ctypes.c_void_p]
    lib.eri_model_options_init.restype = ctypes.c_int
    lib.eri_model_options_init.argtypes = [ctypes.POINTER(ModelOptions)]
    lib.eri_model_open.restype = ctypes.c_int
    lib.eri_model_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ModelOptions), ctypes.POINTER(ctypes.c_void_p)]
    lib.eri_model_close.restype = None
    lib.eri_model_close.argtypes = [ctypes.c_void_p]
    lib.eri_model_info.restype = ctypes.c_int
    lib.eri_model_info.argtypes = [ctypes.c_void_p, ctypes.POINTER(ModelInfo)]
    return lib


class TAP:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, name, why=""):
        if ok:
            self.passed += 1
            print(f"ok {self.passed + self.failed} - {name}")
        else:
            self.failed += 1
            print(f"not ok {self.passed + self.failed} - {name}: {why}")
        sys.stdout.flush()
        return ok


def c_layout():
    """{field: offset} and sizeof from the C compiler, or None without ERI_PREFIX / cc."""
    prefix, cc = os.environ.get("ERI_PREFIX"), shutil.which("cc") or shutil.which("gcc")
    if not prefix or not cc:
        return None
    fields = [f for f, _ in ModelInfo._fields_]
    src = "#include <eri.h>\n#include <stddef.h>\n#include <stdio.h>\nint main(void) {\n"
    src += '    printf("sizeof %zu\\n", sizeof(struct eri_model_info));\n'
    src += '    printf("options %zu\\n", sizeof(eri_model_options));\n'
    for f in fields:
        src += f'    printf("{f} %zu\\n", offsetof(struct eri_model_info, {f}));\n'
    src += "    return 0;\n}\n"
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
        with open(c, "w") as fh:
            fh.write(src)
        subprocess.run([cc, "-std=c99", "-I", os.path.join(prefix, "include"), c, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    bad_dir, models = argv[1], argv[2:]
    lib = load_library()
    t = TAP()

    # -- struct layout against the header
    layout = c_layout()
    if layout is None:
        print("# no ERI_PREFIX or C compiler: struct layout not compared with C")
    else:
        mismatches = [f"{f}: ctypes {getattr(ModelInfo, f).offset}, C {layout[f]}"
                      for f, _ in ModelInfo._fields_ if getattr(ModelInfo, f).offset != layout[f]]
        if ctypes.sizeof(ModelInfo) != layout["sizeof"]:
            mismatches.append(f"sizeof: ctypes {ctypes.sizeof(ModelInfo)}, C {layout['sizeof']}")
        if ctypes.sizeof(ModelOptions) != layout["options"]:
            mismatches.append(f"eri_model_options: ctypes {ctypes.sizeof(ModelOptions)}, C {layout['options']}")
        t.check(not mismatches, "ctypes structs match the C header's layout", "; ".join(mismatches))

    # -- version and names
    header_version = None
    if os.environ.get("ERI_PREFIX"):
        with open(os.path.join(os.environ["ERI_PREFIX"], "include", "eri.h")) as fh:
            macros = dict(line.split()[1:3] for line in fh if line.startswith("#define ERI_VERSION_M")
                          or line.startswith("#define ERI_VERSION_P"))
        header_version = f"{macros['ERI_VERSION_MAJOR']}.{macros['ERI_VERSION_MINOR']}.{macros['ERI_VERSION_PATCH']}"
    version = lib.eri_version().decode()
    major, minor, patch = (int(x) for x in version.split("."))
    t.check(lib.eri_version_number() == major * 10000 + minor * 100 + patch and header_version in (None, version),
            "eri_version and eri_version_number agree (and match the header)",
            f"{version}, {lib.eri_version_number()}, header {header_version}")
    names = [lib.eri_emotion_name(i) for i in range(7)]
    t.check([n.decode() if n else None for n in names] == EMOTIONS, "eri_emotion_name(0…6)", repr(names))
    t.check(lib.eri_emotion_name(-1) is None and lib.eri_emotion_name(7) is None, "eri_emotion_name(-1), (7) are NULL")
    t.check(lib.eri_status_string(ERI_ERR_FORMAT) and lib.eri_status_string(12345) == b"unknown status",
            "eri_status_string", repr(lib.eri_status_string(12345)))

    # -- good models
    for path in models:
        handle = ctypes.c_void_p()
        status = lib.eri_model_open(path.encode(), None, ctypes.byref(handle))
        if not t.check(status == ERI_OK and handle.value, f"open {path}", f"status {status}: {lib.eri_last_error()!r}"):
            continue
        try:
            info = ModelInfo()
            status = lib.eri_model_info(handle, ctypes.byref(info))
            t.check(status == ERI_ERR_INVALID_ARGUMENT,
                    "eri_model_info with struct_size 0 is INVALID_ARGUMENT", f"status {status}")
            info.struct_size = ctypes.sizeof(ModelInfo)
            status = lib.eri_model_info(handle, ctypes.byref(info))
            if t.check(status == ERI_OK, f"eri_model_info {path}", f"status {status}: {lib.eri_last_error()!r}"):
                preset = info.preset.decode()
                print(f"# {path}: preset {preset}, video {info.has_video} ({info.n_frames} frames, {info.image_size} px, "
                      f"{info.n_channels} ch), audio {info.has_audio} ({info.sample_rate} Hz), "
                      f"{info.n_parameters} parameters, config {len(info.config_json)} bytes, "
                      f"provenance {info.provenance!r}, metrics {info.metrics!r}")
                video_only, audio_only = preset.endswith("-video"), preset.endswith("-audio")
                tiny = preset.startswith("dbn-tiny")
                ok = (info.has_video == (not audio_only) and info.has_audio == (not video_only)
                      and info.n_parameters > 0 and info.config_json.startswith(b"{")
                      and (not tiny or not info.has_video or (info.n_frames, info.image_size, info.n_channels) == (8, 48, 1))
                      and (not tiny or not info.has_audio or info.sample_rate == 16000)
                      and (info.has_video or (info.n_frames, info.image_size, info.n_channels) == (0, 0, 0))
                      and (info.has_audio or info.sample_rate == 0))
                t.check(ok, f"info fields of {preset}", "see the line above")
        finally:
            lib.eri_model_close(handle)
    lib.eri_model_close(None)

    # -- error paths
    handle = ctypes.c_void_p(1)
    missing = os.path.join(bad_dir, "ctypes-missing.eri")
    status = lib.eri_model_open(missing.encode(), None, ctypes.byref(handle))
    message = lib.eri_last_error().decode()
    t.check(status == ERI_ERR_IO and handle.value is None and missing in message and "no such file" in message,
            "a missing file is ERI_ERR_IO", f"status {status}, handle {handle.value}, message {message!r}")
    manifest = [line.rstrip("\n").split("\t") for line in open(os.path.join(bad_dir, "manifest.txt"))]
    failures = []
    for name, code, needle in manifest:
        path = os.path.join(bad_dir, name)
        handle = ctypes.c_void_p(1)
        status = lib.eri_model_open(path.encode(), None, ctypes.byref(handle))
        message = lib.eri_last_error().decode("utf-8", "replace")
        if status != int(code) or handle.value is not None or needle not in message or path not in message:
            failures.append(f"{name}: status {status} (expected {code}), message {message!r}")
    t.check(not failures and len(manifest) >= 20, f"all {len(manifest)} crafted files are rejected with their status and message",
            "; ".join(failures))
    for name, code in (("wrong_shape.eri", ERI_ERR_FORMAT), ("dtype_i32.eri", ERI_ERR_UNSUPPORTED)):
        path = os.path.join(bad_dir, name)
        handle = ctypes.c_void_p()
        status = lib.eri_model_open(path.encode(), None, ctypes.byref(handle))
        message = lib.eri_last_error().decode()
        t.check(status == code and message.startswith(path), f"{name} is {lib.eri_status_string(code).decode()!r}",
                f"status {status}, message {message!r}")
    options = ModelOptions()
    t.check(lib.eri_model_options_init(ctypes.byref(options)) == ERI_OK and options.struct_size == ctypes.sizeof(options),
            "eri_model_options_init", f"struct_size {options.struct_size}")
    options.n_threads = -5
    handle = ctypes.c_void_p()
    status = lib.eri_model_open(models[0].encode(), ctypes.byref(options), ctypes.byref(handle))
    t.check(status == ERI_ERR_INVALID_ARGUMENT and b"n_threads" in lib.eri_last_error(), "n_threads -5 is INVALID_ARGUMENT",
            f"status {status}, {lib.eri_last_error()!r}")

    # -- log callback from Python
    calls = []
    callback = LOG_CALLBACK(lambda level, message, user: calls.append((level, message.decode(), user)))
    lib.eri_set_log_callback(callback, ctypes.c_void_p(0x1234))
    handle = ctypes.c_void_p()
    ok = lib.eri_model_open(models[0].encode(), None, ctypes.byref(handle)) == ERI_OK
    lib.eri_model_close(handle)
    t.check(ok and not calls, "a successful open logs nothing", repr(calls))
    lib.eri_model_open(missing.encode(), None, ctypes.byref(handle))
    print(f"# a failed open with a callback set logged {calls!r}")
    t.check(all(c[2] == 0x1234 and 0 <= c[0] <= 3 for c in calls), "log callbacks get a level and user_data back", repr(calls))
    n = len(calls)
    lib.eri_set_log_callback(LOG_CALLBACK(), None)  # a NULL function pointer turns logging off
    lib.eri_model_open(missing.encode(), None, ctypes.byref(handle))
    t.check(len(calls) == n, "eri_set_log_callback(NULL) turns logging off", repr(calls[n:]))

    print(f"1..{t.passed + t.failed}\n# test_ctypes: {t.passed} passed, {t.failed} failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Host test of liberi's C API from Python, calling the C functions directly
through the liberi package's C-API module (liberi._capi: its ctypes structs and
signatures; Tests/host/test_layout.py checks them against the header).

    ERI_LIBRARY=/prefix/lib/liberi.so ERI_PREFIX=/prefix PYTHONPATH=python \
        python Tests/host/test_ctypes.py BAD_DIR MODEL.eri...

BAD_DIR holds make_bad_models.py's files and manifest.txt. With ERI_PREFIX set,
the library's version is compared with the installed header's. Prints TAP
lines; exits 1 on a failure.
"""

import ctypes
import os
import sys

from liberi import _capi
from liberi._capi import FORMAT, INVALID_ARGUMENT, IO, OK, UNSUPPORTED, LogCallback, ModelInfo, ModelOptions

EMOTIONS = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]


def load_library():
    path = os.environ.get("ERI_LIBRARY")
    if not path:
        sys.exit("test_ctypes: set ERI_LIBRARY to the installed liberi.so")
    return _capi.load_library(path)


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


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    bad_dir, models = argv[1], argv[2:]
    lib = load_library()
    t = TAP()

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
    t.check(lib.eri_status_string(FORMAT) and lib.eri_status_string(12345) == b"unknown status",
            "eri_status_string", repr(lib.eri_status_string(12345)))

    # -- good models
    for path in models:
        handle = ctypes.c_void_p()
        status = lib.eri_model_open(path.encode(), None, ctypes.byref(handle))
        if not t.check(status == OK and handle.value, f"open {path}", f"status {status}: {lib.eri_last_error()!r}"):
            continue
        try:
            info = ModelInfo()
            status = lib.eri_model_get_info(handle, ctypes.byref(info))
            t.check(status == INVALID_ARGUMENT,
                    "eri_model_get_info with struct_size 0 is INVALID_ARGUMENT", f"status {status}")
            info.struct_size = ctypes.sizeof(ModelInfo)
            status = lib.eri_model_get_info(handle, ctypes.byref(info))
            if t.check(status == OK, f"eri_model_get_info {path}", f"status {status}: {lib.eri_last_error()!r}"):
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
    t.check(status == IO and handle.value is None and missing in message and "no such file" in message,
            "a missing file is IO", f"status {status}, handle {handle.value}, message {message!r}")
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
    for name, code in (("wrong_shape.eri", FORMAT), ("dtype_i32.eri", UNSUPPORTED)):
        path = os.path.join(bad_dir, name)
        handle = ctypes.c_void_p()
        status = lib.eri_model_open(path.encode(), None, ctypes.byref(handle))
        message = lib.eri_last_error().decode()
        t.check(status == code and message.startswith(path), f"{name} is {lib.eri_status_string(code).decode()!r}",
                f"status {status}, message {message!r}")
    options = ModelOptions()
    t.check(lib.eri_model_options_init(ctypes.byref(options)) == OK and options.struct_size == ctypes.sizeof(options),
            "eri_model_options_init", f"struct_size {options.struct_size}")
    options.n_threads = -5
    handle = ctypes.c_void_p()
    status = lib.eri_model_open(models[0].encode(), ctypes.byref(options), ctypes.byref(handle))
    t.check(status == INVALID_ARGUMENT and b"n_threads" in lib.eri_last_error(), "n_threads -5 is INVALID_ARGUMENT",
            f"status {status}, {lib.eri_last_error()!r}")

    # -- log callback from Python
    calls = []
    callback = LogCallback(lambda level, message, user: calls.append((level, message.decode(), user)))
    lib.eri_set_log_callback(callback, ctypes.c_void_p(0x1234))
    handle = ctypes.c_void_p()
    ok = lib.eri_model_open(models[0].encode(), None, ctypes.byref(handle)) == OK
    lib.eri_model_close(handle)
    t.check(ok and not calls, "a successful open logs nothing", repr(calls))
    lib.eri_model_open(missing.encode(), None, ctypes.byref(handle))
    print(f"# a failed open with a callback set logged {calls!r}")
    t.check(all(c[2] == 0x1234 and 0 <= c[0] <= 3 for c in calls), "log callbacks get a level and user_data back", repr(calls))
    n = len(calls)
    lib.eri_set_log_callback(LogCallback(), None)  # a NULL function pointer turns logging off
    lib.eri_model_open(missing.encode(), None, ctypes.byref(handle))
    t.check(len(calls) == n, "eri_set_log_callback(NULL) turns logging off", repr(calls[n:]))

    print(f"1..{t.passed + t.failed}\n# test_ctypes: {t.passed} passed, {t.failed} failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

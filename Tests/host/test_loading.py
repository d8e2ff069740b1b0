#!/usr/bin/env python3
"""Where the liberi package finds liberi.so, and what it says when it cannot: each
case runs a fresh Python (the library is loaded once per process) with a chosen
environment and checks the file it loaded or the LibraryError's message.

    python Tests/host/test_loading.py PREFIX HOME [WHEEL_PYTHON]

PREFIX: a `make install` prefix. HOME: a home folder where `make install
PREFIX=$HOME/.local` ran. WHEEL_PYTHON: a venv's python with the wheel from
`make wheel` installed (checks that its own liberi.so comes first, and that
ERI_LIBRARY overrides it). Without WHEEL_PYTHON the source package (python/)
is used. Prints one `ok - ` / `not ok - ` line per check; exits 1 on a failure.
"""
from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE = os.path.join(REPO, "python")
PROBE = """
import json, liberi
try:
    liberi.load_library()
    print(json.dumps({"file": liberi.library_file(), "version": liberi.version()}))
except liberi.LibraryError as e:
    print(json.dumps({"error": e.message, "oserror": isinstance(e, OSError), "status": int(e.status)}))
"""

failures = 0


def check(ok: bool, name: str, why: str = "") -> None:
    global failures
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": {why}"))
    failures += 0 if ok else 1


def probe(python: str, env: dict[str, str], source: bool = True) -> dict[str, object]:
    """Runs PROBE with exactly `env` (plus PATH); `source`: import the package from python/."""
    import json
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1", **env}
    if source:
        full["PYTHONPATH"] = SOURCE
    out = subprocess.run([python, "-c", PROBE], env=full, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        return {"error": f"exit {out.returncode}: {out.stderr.strip()[-500:]}", "crashed": True}
    return json.loads(out.stdout.strip().splitlines()[-1])


def loads(result: dict[str, object], folder: str) -> bool:
    return "file" in result and os.path.dirname(str(result["file"])) == os.path.realpath(folder)


def refuses(result: dict[str, object], *needles: str) -> bool:
    return "error" in result and not result.get("crashed") and result.get("oserror") is True and \
        all(n in str(result["error"]) for n in needles)


def main() -> int:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    prefix, home = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    wheel_python = sys.argv[3] if len(sys.argv) > 3 else None
    lib_dir = os.path.join(prefix, "lib")
    python = sys.executable
    folder = tempfile.TemporaryDirectory(prefix="liberi-home-")   # removed when main returns
    empty_home = folder.name
    bare = {"HOME": empty_home}

    r = probe(python, {**bare, "ERI_LIBRARY": os.path.join(lib_dir, "liberi.so")})
    check(loads(r, lib_dir), "ERI_LIBRARY=<prefix>/lib/liberi.so (a file) loads it", str(r))
    r = probe(python, {**bare, "ERI_LIBRARY": lib_dir})
    check(loads(r, lib_dir), "ERI_LIBRARY=<prefix>/lib (a folder) loads the liberi.so in it", str(r))
    missing = os.path.join(empty_home, "no", "liberi.so")
    r = probe(python, {**bare, "ERI_LIBRARY": missing})
    check(refuses(r, f"ERI_LIBRARY={missing}", "no such file or folder") and r.get("status") == 2,
          "a wrong ERI_LIBRARY: LibraryError (an OSError, status IO) naming the path and 'no such file or folder'", str(r))
    r = probe(python, {**bare, "ERI_LIBRARY": empty_home})
    check(refuses(r, f"ERI_LIBRARY={empty_home}", "a folder without liberi.so"),
          "ERI_LIBRARY=<a folder without liberi.so>: says so", str(r))
    text = os.path.join(empty_home, "notes.txt")
    with open(text, "w") as fh:
        fh.write("not a library\n")
    r = probe(python, {**bare, "ERI_LIBRARY": text})
    check(refuses(r, text, "cannot load it"), "ERI_LIBRARY=<a text file>: 'cannot load it' and the loader's reason", str(r))
    libm = ctypes.util.find_library("m")
    libm_path = next((os.path.join(d, libm) for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                                                       "/usr/lib64", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
                      if libm and os.path.exists(os.path.join(d, libm))), None)
    if libm_path:
        r = probe(python, {**bare, "ERI_LIBRARY": libm_path})
        check(refuses(r, libm_path, "not liberi"), "ERI_LIBRARY=<libm>: 'not liberi'", str(r))
    # an old liberi: a stub whose eri_version_number says 0.1.0
    stub_c, stub = os.path.join(empty_home, "old.c"), os.path.join(empty_home, "old", "liberi.so")
    os.makedirs(os.path.dirname(stub))
    with open(stub_c, "w") as fh:
        fh.write('unsigned eri_version_number(void) { return 100; }\nconst char *eri_version(void) { return "0.1.0"; }\n')
    built = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", stub_c, "-o", stub], capture_output=True)
    if built.returncode == 0:
        r = probe(python, {**bare, "ERI_LIBRARY": os.path.dirname(stub)})
        check(refuses(r, stub, "liberi 0.1.0", "needs 0.2"), "an old liberi.so (0.1.0): refused, both versions named", str(r))

    r = probe(python, {**bare, "LD_LIBRARY_PATH": lib_dir})
    check(loads(r, lib_dir), "no ERI_LIBRARY, none in the package: found on the system path (LD_LIBRARY_PATH)", str(r))
    r = probe(python, {"HOME": home})
    check(loads(r, os.path.join(home, ".local", "lib")),
          "no ERI_LIBRARY, no LD_LIBRARY_PATH: found in ~/.local/lib (make install PREFIX=$HOME/.local)", str(r))
    system = ctypes.util.find_library("eri") or any(os.path.exists(os.path.join(d, "liberi.so"))
                                                     for d in ("/usr/local/lib", os.path.join(sys.prefix, "lib")))
    if not system:
        r = probe(python, bare)
        check(refuses(r, "liberi.so not found", "make wheel", "ERI_LIBRARY", os.path.join(SOURCE, "liberi", "liberi.so"),
                      os.path.join(empty_home, ".local", "lib", "liberi.so"), "/usr/local/lib/liberi.so"),
              "nowhere: LibraryError listing every place looked at and what to do", str(r))
    else:
        print("# a liberi is installed system-wide here: the 'nowhere' case is skipped")

    if wheel_python:
        package = subprocess.run([wheel_python, "-c", "import liberi, os; print(os.path.dirname(liberi.__file__))"],
                                 capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout.strip()
        r = probe(wheel_python, {**bare, "LD_LIBRARY_PATH": lib_dir}, source=False)
        check(loads(r, package), "the wheel's own liberi.so comes before the system path", str(r))
        r = probe(wheel_python, {**bare, "ERI_LIBRARY": lib_dir}, source=False)
        check(loads(r, lib_dir), "ERI_LIBRARY overrides the wheel's own liberi.so", str(r))
    print(f"test_loading: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds the liberi wheel with liberi.so inside it (a platform wheel, py3-none-linux_<arch>).

Where liberi.so comes from, first found:
  $LIBERI_SO                      a path (`make wheel` sets it to .build/release/liberi.so)
  liberi/liberi.so                a copy placed in the package by hand
  ../.build/release/liberi.so     a repository checkout after `make`
Without one the build stops and says so, unless LIBERI_NO_LIBRARY=1: then a pure-Python wheel
(py3-none-any) that uses a liberi.so installed elsewhere (`make install`, ERI_LIBRARY).
The face detector's weights go next to liberi.so (where liberi looks for them): $LIBERI_FACE_MODEL,
liberi/face-mtcnn.safetensors, or ../.build/models/face-mtcnn.safetensors (`make models`).

Build output (build/, *.egg-info) goes to a temporary folder, never into this source tree.
The wheel's liberi.so links the system's OpenBLAS, FFmpeg and libsndfile (Debian: libopenblas0,
libavformat, libavcodec, libswscale, libswresample, libavutil, libsndfile1); a wheel cannot carry
them, so it is linux_<arch>, not manylinux.
"""
import atexit
import os
import shutil
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def library_source():
    """The liberi.so to put in the wheel, or None (LIBERI_NO_LIBRARY=1)."""
    if os.environ.get("LIBERI_NO_LIBRARY") == "1":
        return None
    candidates = [os.environ.get("LIBERI_SO"), os.path.join(HERE, "liberi", "liberi.so"),
                  os.path.join(HERE, "..", ".build", "release", "liberi.so")]
    for candidate in filter(None, candidates):
        if os.path.isfile(candidate):
            return os.path.realpath(candidate)
    if os.environ.get("LIBERI_SO"):
        sys.exit(f"liberi wheel: LIBERI_SO={os.environ['LIBERI_SO']} is not a file")
    sys.exit("liberi wheel: no liberi.so to put in it. From a checkout: `make && make wheel`. Or set LIBERI_SO to a "
             "built liberi.so, or LIBERI_NO_LIBRARY=1 for a pure-Python wheel that uses an installed liberi.")


LIBRARY = library_source()


def face_model_source():
    """The face detector's weights to put next to liberi.so (liberi finds them there), or None."""
    if LIBRARY is None:
        return None
    candidates = [os.environ.get("LIBERI_FACE_MODEL"), os.path.join(HERE, "liberi", "face-mtcnn.safetensors"),
                  os.path.join(HERE, "..", ".build", "models", "face-mtcnn.safetensors")]
    for candidate in filter(None, candidates):
        if os.path.isfile(candidate):
            return os.path.realpath(candidate)
    if os.environ.get("LIBERI_FACE_MODEL"):
        sys.exit(f"liberi wheel: LIBERI_FACE_MODEL={os.environ['LIBERI_FACE_MODEL']} is not a file")
    print("liberi wheel: no face-mtcnn.safetensors (`make models`): the wheel's liberi will not find faces by itself",
          file=sys.stderr)
    return None


FACE_MODEL = face_model_source()


class BuildPy(build_py):
    """Copies liberi.so and the face detector's weights into the built package (not into the source tree)."""

    def run(self):
        super().run()
        if LIBRARY:
            target = os.path.join(self.build_lib, "liberi", "liberi.so")
            shutil.copyfile(LIBRARY, target)
            os.chmod(target, 0o755)
        if FACE_MODEL:
            target = os.path.join(self.build_lib, "liberi", "face-mtcnn.safetensors")
            shutil.copyfile(FACE_MODEL, target)
            os.chmod(target, 0o644)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        extra = (["liberi.so"] if LIBRARY else []) + (["face-mtcnn.safetensors"] if FACE_MODEL else [])
        return outputs + [os.path.join(self.build_lib, "liberi", name) for name in extra]


class BinaryDistribution(Distribution):
    """A distribution with a binary inside: its files go to the platform's site-packages (platlib), at the wheel's root."""

    def has_ext_modules(self):
        return LIBRARY is not None


class BdistWheel(bdist_wheel):
    """py3-none-linux_<arch> with the library (any Python 3: ctypes, no extension module), else py3-none-any."""

    def get_tag(self):
        python, abi, platform = super().get_tag()
        return ("py3", "none", platform) if LIBRARY else (python, abi, platform)


# build/ and *.egg-info in a temporary folder, removed at exit
scratch = tempfile.mkdtemp(prefix="liberi-build-")
atexit.register(shutil.rmtree, scratch, True)
setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel},
      options={"build": {"build_base": os.path.join(scratch, "build")},
               "egg_info": {"egg_base": scratch}})

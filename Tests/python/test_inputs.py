"""Silent misreads of the Python package's inputs: each case gives either
exactly what the canonical input (an (N, H, W, 3) uint8 RGB stack, float32 PCM
in [-1, 1]) gives, or an error naming the problem. Never plausible numbers
for a wrong reading.

    ERI_CLI=/prefix/bin/eri ERI_LIBRARY=/prefix/lib/liberi.so python -m pytest -q Tests/python
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))
import liberi  # noqa: E402


def eri_cli():
    cli = os.environ.get("ERI_CLI") or (os.path.join(os.environ["ERI_PREFIX"], "bin", "eri")
                                        if os.environ.get("ERI_PREFIX") else shutil.which("eri"))
    if not cli:
        pytest.skip("no eri tool: set ERI_CLI or ERI_PREFIX")
    return cli


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """dbn-small: an RGB video branch (so channel order matters) and an audio branch."""
    path = tmp_path_factory.mktemp("models") / "small.eri"
    subprocess.run([eri_cli(), "init", "--preset", "dbn-small", "--seed", "4", "-o", str(path)], check=True,
                   capture_output=True)
    return liberi.Model(str(path))


RNG = np.random.default_rng(7)
FRAME = RNG.integers(0, 256, (40, 56, 3), dtype=np.uint8)          # one (H, W, 3) RGB frame
PCM = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)


def values(result):
    return np.array(list(result.values()), dtype=np.float64)


class FakePIL:
    """What PIL.Image.Image offers, duck-typed: mode, size (W, H), tobytes(), __array_interface__."""

    def __init__(self, rgb):
        self._rgb = np.ascontiguousarray(rgb)
        self.mode, self.size = "RGB", (rgb.shape[1], rgb.shape[0])
        self.__array_interface__ = {"shape": rgb.shape, "typestr": "|u1", "version": 3, "data": self._rgb.tobytes()}

    def tobytes(self):
        return self._rgb.tobytes()


def test_single_hwc_frame_is_one_frame(model):
    assert np.array_equal(values(model.predict(frames=FRAME)), values(model.predict(frames=FRAME[None])))


def test_pil_image_is_one_frame(model):
    assert np.array_equal(values(model.predict(frames=FakePIL(FRAME))), values(model.predict(frames=FRAME[None])))


def test_chw_frame_is_rejected(model):
    with pytest.raises((ValueError, liberi.Error)) as e:
        model.predict(frames=FRAME.transpose(2, 0, 1))
    assert "(3, 40, 56)" in str(e.value)


def test_float_frames_in_0_1_are_scaled(model):
    assert np.array_equal(values(model.predict(frames=(FRAME / 255.0)[None])), values(model.predict(frames=FRAME[None])))


def test_int32_frames_are_rejected(model):
    with pytest.raises((ValueError, liberi.Error)) as e:
        model.predict(frames=FRAME[None].astype(np.int32) * 2)
    assert "int32" in str(e.value)


def test_int32_pcm_is_scaled(model):
    pcm32 = (PCM.astype(np.float64) * 2147483648).astype(np.int32)
    want = values(model.predict(pcm=pcm32 / np.float32(2147483648), sample_rate=16000))
    assert np.allclose(values(model.predict(pcm=pcm32, sample_rate=16000)), want, atol=1e-6)

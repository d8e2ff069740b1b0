"""Shared material for the scale-out tests (issue 17): the eri tool, a synthetic corpus, its cache.

ERI_CLI names the eri tool (default .build/release/eri-cli), ERI_LIBRARY the liberi.so the
Python package loads (default .build/release/liberi.so). The corpus is small on purpose (CI time).
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("ERI_LIBRARY", os.path.join(ROOT, ".build", "release", "liberi.so"))
CLI = os.environ.get("ERI_CLI", os.path.join(ROOT, ".build", "release", "eri-cli"))


def eri(*args, **kw):
    return subprocess.run([CLI, *map(str, args)], check=True, capture_output=True, text=True, **kw)


# dbn-tiny-like two-branch config with max_steps below the corpus's MFCC length, so the
# training batches exercise the random audio crop and evaluation the cap (SPEC §4.2).
def small_config():
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from liberi.torch.config import preset
    cfg = preset("dbn-tiny")
    cfg["audio"]["max_steps"] = 64
    return cfg


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale") / "corpus"
    eri("synth", "--out", d, "--clips", 24, "--seed", 3)
    return str(d)


@pytest.fixture(scope="session")
def config_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "config.json"
    p.write_text(json.dumps(small_config()))
    return str(p)


@pytest.fixture(scope="session")
def cache(corpus, config_file, tmp_path_factory):
    """The corpus's cache for small_config(), built in one process (faces: none, for speed)."""
    d = str(tmp_path_factory.mktemp("cache") / "one")
    eri("cache", "build", "--data", corpus, "--config", config_file, "--cache", d, "--faces", "none", "--threads", 1)
    return d

"""`eri cache build`: shards equal one process; the PyTorch loader reads the cache as `eri train` does."""

import glob
import hashlib
import json
import os
import subprocess

import numpy as np
from safetensors.numpy import load_file

from conftest import CLI, ROOT, eri, small_config

FACE_MODEL = os.environ.get("ERI_FACE_MODEL", os.path.join(ROOT, ".build", "models", "face-mtcnn.safetensors"))


def entries(d):
    return {os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
            for p in glob.glob(os.path.join(d, "*.safetensors"))}


def index_clips(d):
    out = []
    for p in glob.glob(os.path.join(d, "index-*.json")):
        out += json.load(open(p))["clips"]
    return sorted(out, key=lambda c: c["id"])


def test_two_shards_in_two_processes_equal_one(corpus, config_file, tmp_path):
    # The face stage included: the detector searches every cached frame.
    faces = ["--faces", "detect", "--face-model", FACE_MODEL]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    eri("cache", "build", "--data", corpus, "--config", config_file, "--cache", one, "--threads", 1, *faces)
    procs = [subprocess.Popen([CLI, "cache", "build", "--data", corpus, "--config", config_file, "--cache", two,
                               "--shard", f"{k}/2", "--threads", "1", *faces], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k in (1, 2)]
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
    a, b = entries(one), entries(two)
    assert len(a) == 24 and a == b
    assert index_clips(one) == index_clips(two)
    assert len(glob.glob(os.path.join(two, "index-*-1of2.json"))) == 1
    # Every clip is in exactly one shard.
    ids = [c["id"] for p in glob.glob(os.path.join(two, "index-*.json")) for c in json.load(open(p))["clips"]]
    assert len(ids) == len(set(ids)) == 24
    # The entries are the ones `eri train` reads: it finds them all and decodes nothing new.
    assert any(json.load(open(p))["faces"] == "detector" for p in glob.glob(os.path.join(one, "index-*.json")))


def test_bad_shard_is_refused(corpus):
    r = subprocess.run([CLI, "cache", "build", "--data", corpus, "--shard", "3/2"], capture_output=True, text=True)
    assert r.returncode != 0 and "--shard" in r.stderr


def _batch(corpus, config_file, cache, ids, training, seed, tmp_path):
    out = str(tmp_path / f"b{training}{seed}.safetensors")
    eri("cache", "batch", "--data", corpus, "--config", config_file, "--cache", cache, "--faces", "none",
        "--ids", ",".join(ids), *(["--training"] if training else []), "--seed", seed, "-o", out)
    return load_file(out)


def test_pytorch_loader_reads_the_cache_as_eri_train(corpus, config_file, cache, tmp_path):
    from liberi.torch import cache as tc
    cfg = small_config()
    for split, training in (("Train", True), ("Val", False)):
        clips = tc.load_clips(cache, split, cfg)
        assert clips and all(c.training == training for c in clips)
        ids = [c.id for c in clips][:6][::-1]   # not in index order
        by_id = {c.id: c for c in clips}
        for seed in (1, 12345):
            want = _batch(corpus, config_file, cache, ids, training, seed, tmp_path)
            got = tc.make_batch([by_id[i] for i in ids], cfg, training, tc.SeededGenerator(seed))
            assert set(want) == set(got)
            for k in want:
                assert want[k].shape == got[k].shape, k
                np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-6, err_msg=f"{split} {k} seed {seed}")
            if training:   # the random audio crop ran: MFCC longer than max_steps were cropped
                assert max(c.mfcc.shape[0] for c in clips) > cfg["audio"]["max_steps"]
                assert int(want["audio_lengths"].max()) == cfg["audio"]["max_steps"]
    # A slice built alone (a DDP rank's part) equals that slice of the whole batch.
    clips = tc.load_clips(cache, "Train", cfg)[:5]
    whole = tc.make_batch(clips, cfg, True, tc.SeededGenerator(9))
    part = tc.make_batch(clips, cfg, True, tc.SeededGenerator(9), only=range(2, 4))
    np.testing.assert_array_equal(part["frames"][2:4], whole["frames"][2:4])
    assert not part["frames"][:2].any()


def test_eri_train_reads_the_built_entries(corpus, config_file, cache, tmp_path):
    """`eri train` finds every entry `eri cache build` wrote: it writes no new one and rewrites none."""
    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(cache, "*.safetensors"))}
    eri("train", "--data", corpus, "--config", config_file, "--cache", cache, "--faces", "none", "--epochs", 1,
        "--batch", 8, "--threads", 1, "--out", tmp_path / "m.eri")
    after = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(cache, "*.safetensors"))}
    assert after == before

"""examples/python/ray_score.py: Ray Data on a local Ray (2 CPUs) scores synthetic clips to Parquet; every
record equals `eri predict --json` on the same file. Also: a liberi.Model refuses pickling, and inference
releases the GIL.

ERI_RAY_CLIPS (default 200) sets how many clips; the 1- vs 2-worker times are printed and written to
$ERI_RAY_TIMES when set (no assertion on them: CI machines are shared); ERI_RAY_SPEEDUP_MIN asserts a floor.
"""

import copy
import ctypes
import json
import os
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import CLI, ROOT, eri

sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
CLIPS = int(os.environ.get("ERI_RAY_CLIPS", "200"))


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    eri("synth", "--out", d / "corpus", "--clips", CLIPS, "--seed", 11)
    model = str(d / "small.eri")
    eri("init", "--preset", "dbn-small", "--seed", 5, "-o", model)
    # Video and WAV in one file per clip (PCM, video stream copied), so both branches run.
    paths = []
    for split in ("train", "val", "test"):
        raw = d / "corpus" / "raw" / split
        for mp4 in sorted((raw / "mp4").glob("*.mp4")):
            out = d / "media" / f"{mp4.stem}.mkv"
            out.parent.mkdir(exist_ok=True)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", mp4, "-i", raw / "wav" / f"{mp4.stem}.wav",
                            "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "pcm_s16le", out], check=True)
            paths.append(str(out))
    broken = d / "media" / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return model, sorted(paths), str(broken), d


def cli_records(model, paths):
    # Faces searched (MTCNN, the weights of ERI_FACE_MODEL), as a real scoring job does: most of the work.
    r = subprocess.run([CLI, "predict", "-m", model, "--json", "--faces", "detect", "--threads", "1", *paths],
                       capture_output=True, text=True)
    return {j["file"]: j for j in map(json.loads, r.stdout.splitlines())}


def test_ray_records_equal_eri_predict_json(material):
    import ray
    import pyarrow.parquet as pq
    from ray_score import EMOTIONS, score
    model, paths, broken, d = material
    want = cli_records(model, paths)
    assert len(want) == len(paths) == CLIPS
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"ERI_LIBRARY": os.environ["ERI_LIBRARY"], "ERI_FACE_MODEL": os.environ["ERI_FACE_MODEL"], "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"), os.path.join(ROOT, "examples", "python")])}})
    try:
        times = {}
        for workers in (1, 2):
            started = time.time()
            rows = score(paths + [broken], model, str(d / f"out{workers}"), workers=workers, faces="detect")
            times[workers] = time.time() - started
            table = pq.read_table(str(d / f"out{workers}")).to_pylist()
            assert len(table) == len(rows) == CLIPS + 1
            by_file = {r["file"]: r for r in table}
            for path in paths:
                got, exp = by_file[path], want[path]
                assert got["error"] is None
                for k, v in exp.items():
                    if k == "warning_text":   # the CLI lists the messages, the C record joins them with "; "
                        assert got[k] == "; ".join(v), (got[k], v)
                    elif k in EMOTIONS:       # the same float32 (the CLI prints the shortest text that reads back)
                        assert np.float32(got[k]) == np.float32(v), (path, k, got[k], v)
                    elif isinstance(v, float):
                        assert abs(got[k] - v) <= 1e-9 * max(1.0, abs(v)), (path, k, got[k], v)
                    else:
                        assert got[k] == v, (path, k, got[k], v)
            assert by_file[broken]["error"] and by_file[broken]["Adoration"] is None   # reported, the rest went on
    finally:
        ray.shutdown()
    speedup = times[1] / times[2]
    line = f"ray_score: {CLIPS} clips, 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s, speedup {speedup:.2f}x"
    print(line)
    if os.environ.get("ERI_RAY_TIMES"):
        with open(os.environ["ERI_RAY_TIMES"], "a") as f:
            f.write(line + "\n")
    if os.environ.get("ERI_RAY_SPEEDUP_MIN"):
        assert speedup >= float(os.environ["ERI_RAY_SPEEDUP_MIN"]), line


def test_model_refuses_pickling_and_copying(material):
    import liberi
    m = liberi.Model(material[0])
    for attempt in (lambda: pickle.dumps(m), lambda: copy.copy(m), lambda: copy.deepcopy(m)):
        with pytest.raises(TypeError, match="cannot be pickled"):
            attempt()
    m.predict_file(material[1][0], faces="none", warn=False)   # still usable


def test_inference_releases_the_gil(material):
    import liberi
    from liberi import _capi
    lib = _capi.load_library()
    # ctypes releases the GIL around a foreign call unless the function is a PyDLL one (FUNCFLAG_PYTHONAPI).
    assert type(lib) is ctypes.CDLL
    assert lib.eri_predict_file_ex._flags_ & ctypes._FUNCFLAG_PYTHONAPI == 0
    # And in behaviour: while one thread predicts, another keeps running Python code.
    m = liberi.Model(material[0], threads=1)
    paths = material[1][:6]

    def spin(seconds):
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            n += 1
        return n

    alone = spin(0.5) / 0.5
    done = threading.Event()

    def work():
        for p in paths:
            m.predict_file(p, faces="none", warn=False)
        done.set()

    t = threading.Thread(target=work)
    started = time.perf_counter()
    t.start()
    n = 0
    while not done.is_set():
        n += 1
    elapsed = time.perf_counter() - started
    t.join()
    ratio = (n / elapsed) / alone
    print(f"Python loop speed while predicting in another thread: {ratio:.2f} of its speed alone")
    assert ratio > 0.2, ratio   # with the GIL held for each ~call, it would be near 0

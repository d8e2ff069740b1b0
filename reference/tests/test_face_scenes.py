"""reference/face_scenes.py: the material it writes, its truth, and that facenet-pytorch's
MTCNN (reference/mtcnn_oracle.py, min_face_size 20) finds every composited face in it."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

REF = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REF)
import face_scenes  # noqa: E402
import mtcnn_oracle  # noqa: E402

EVERY = 20  # decoded video frames for the oracle: 0, 20, …, 180


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    r = subprocess.run([sys.executable, os.path.join(REF, "face_scenes.py"), str(out), "--video-frames", str(EVERY)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(out)


@pytest.fixture(scope="module")
def truth(material):
    with open(os.path.join(material, "truth.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def video(material):
    with open(os.path.join(material, "video.json")) as f:
        return json.load(f)


def iou(a, b):
    """Boxes as [x, y, w, h]."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def xywh(face):
    x1, y1, x2, y2 = face["box"]
    return [x1, y1, x2 - x1, y2 - y1]


def test_files_and_truth(material, truth):
    files = [r["file"] for r in truth["images"]]
    assert files[:2] == ["astronaut.png", "camera.png"]
    assert sorted(files[2:62]) == sorted("scenes/face%02d_s%d.png" % (i, s) for i in range(20) for s in (40, 80, 140))
    assert files[62] == "group.png" and len(files) == 63
    for r in truth["images"]:
        with Image.open(os.path.join(material, r["file"])) as im:
            assert im.mode == "RGB" and im.size == (r["width"], r["height"])
        if r["faces"] is None:
            assert r["file"] in ("astronaut.png", "camera.png")
            continue
        for face in r["faces"]:
            x, y, w, h = face["box"]
            assert 0 <= x and 0 <= y and x + w <= r["width"] and y + h <= r["height"], (r["file"], face)
        if r["file"].startswith("scenes/"):
            (face,) = r["faces"]
            size = int(r["file"].split("_s")[1][:-4])
            assert face["box"][2:] == [size, size]
    group = truth["images"][62]["faces"]
    assert len(group) >= 5
    assert all(iou(a["box"], b["box"]) == 0 for i, a in enumerate(group) for b in group[i + 1:])


def test_video(material, video):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                            "stream=codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt", "-of", "json",
                            os.path.join(material, "video.mp4")], capture_output=True, text=True, check=True)
    (s,) = json.loads(probe.stdout)["streams"]
    assert (s["codec_name"], s["width"], s["height"], s["r_frame_rate"], s["pix_fmt"]) == ("h264", 640, 480, "25/1", "yuv420p")
    assert int(s["nb_read_frames"]) == 200 == video["frames"] == len(video["truth"])
    t = video["truth"]
    assert [f["frame"] for f in t] == list(range(200))
    assert t[-1]["time"] == pytest.approx(199 / 25)
    scales = [f["scale"] for f in t]
    rolls = [f["roll_deg"] for f in t]
    gains = [f["brightness"] for f in t]
    assert min(scales) == pytest.approx(0.6, abs=0.01) and max(scales) == pytest.approx(1.4, abs=0.01)
    assert min(rolls) == pytest.approx(-20, abs=0.1) and max(rolls) == pytest.approx(20, abs=0.1)
    assert min(gains) < 0.65 and max(gains) > 1.25
    xs = [f["x"] + f["w"] / 2 for f in t]
    assert max(xs) - min(xs) > 250  # moves across the frame
    for f in t:
        assert f["w"] == pytest.approx(87 * f["scale"], abs=0.01) and f["h"] == pytest.approx(110 * f["scale"], abs=0.01)
        assert 0 <= f["x"] and f["x"] + f["w"] <= 640 and 0 <= f["y"] and f["y"] + f["h"] <= 480
    # the passer-by: absent, enters, crosses, leaves, absent
    seen = [f["passer_by"] is not None for f in t]
    first, last = seen.index(True), len(seen) - 1 - seen[::-1].index(True)
    assert 0 < first < last < 199 and all(seen[first: last + 1])
    assert t[first]["passer_by"][0] > 540 and t[last]["passer_by"][0] < 0
    assert t[first]["passer_by_visible"] < 1 and max(f["passer_by_visible"] or 0 for f in t) == 1


def test_the_oracle_finds_every_composited_face(material, truth):
    paths = [os.path.join(material, r["file"]) for r in truth["images"]]
    result = mtcnn_oracle.detect_all(paths, min_face_size=20)
    for r, got in zip(truth["images"], result["images"]):
        if r["faces"] is None:  # the photographs: one face each
            assert len(got["faces"]) == 1, r["file"]
            continue
        dets = [xywh(f) for f in got["faces"]]
        assert len(dets) == len(r["faces"]), (r["file"], dets)
        for face in r["faces"]:
            assert max(iou(face["box"], d) for d in dets) >= 0.45, (r["file"], face, dets)


def test_the_oracle_follows_the_main_face(material, video):
    folder = os.path.join(material, "video_frames")
    names = sorted(os.listdir(folder))
    assert names == ["frame_%03d.png" % k for k in range(0, 200, EVERY)]
    result = mtcnn_oracle.detect_all([os.path.join(folder, n) for n in names])
    for name, got in zip(names, result["images"]):
        f = video["truth"][int(name[6:9])]
        main = [f["x"], f["y"], f["w"], f["h"]]
        assert max((iou(main, xywh(d)) for d in got["faces"]), default=0) >= 0.8, (name, main, got["faces"])
        if f["passer_by_visible"] == 1:
            assert max(iou(f["passer_by"], xywh(d)) for d in got["faces"]) >= 0.5, (name, f, got["faces"])


def test_same_seed_same_stills(material, tmp_path):
    """Deterministic: the stills of a second run are byte for byte the same."""
    face_scenes.generate(str(tmp_path), seed=0, with_video=False)
    for name in ("truth.json", "group.png", "scenes/face07_s80.png"):
        with open(os.path.join(material, name), "rb") as a, open(os.path.join(tmp_path, name), "rb") as b:
            assert a.read() == b.read(), name

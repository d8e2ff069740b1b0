"""reference/mtcnn_oracle.py and its stand-in torchvision (reference/torchvision_standin).

The stand-in's nms / batched_nms are checked against a brute-force reading of torchvision's
definition (greedy by decreasing score, IoU with areas (x2 − x1)·(y2 − y1), suppress IoU >
threshold, per index); the oracle against facenet-pytorch's known answer on astronaut.png."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

REF = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REF)
import mtcnn_oracle  # noqa: E402  (puts the stand-in first on sys.path)
import torchvision  # noqa: E402
from torchvision.ops import batched_nms, nms  # noqa: E402
from torchvision.ops import boxes as tvboxes  # noqa: E402
from torchvision.transforms import functional as F  # noqa: E402


def test_the_standin_is_imported():
    assert torchvision.STANDIN is True
    assert os.path.dirname(torchvision.__file__).startswith(os.path.join(REF, "torchvision_standin"))
    import facenet_pytorch.models.utils.detect_face as fdf

    assert fdf.batched_nms is tvboxes.batched_nms


# -- nms against brute force

def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def brute_nms(boxes, scores, threshold):
    """Visit boxes by decreasing score; keep one unless it overlaps a kept one by IoU > threshold."""
    b = boxes.double().tolist()
    kept = []
    for i in sorted(range(len(b)), key=lambda i: -float(scores[i])):
        if all(iou(b[i], b[k]) <= threshold for k in kept):
            kept.append(i)
    return kept


def brute_batched(boxes, scores, idxs, threshold):
    kept = []
    for c in sorted(set(idxs.tolist())):
        members = [i for i in range(len(idxs)) if idxs[i] == c]
        kept += [members[k] for k in brute_nms(boxes[members], scores[members], threshold)]
    return sorted(kept, key=lambda i: -float(scores[i]))


def random_boxes(rng, n, integer):
    """MTCNN-like boxes: clusters of overlapping boxes around a few centres."""
    centres = rng.uniform(0, 300, (max(1, n // 12), 2))
    c = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 6, (n, 2))
    size = rng.uniform(12, 80, n)
    aspect = rng.uniform(0.8, 1.25, n)
    b = np.stack([c[:, 0] - size / 2, c[:, 1] - size * aspect / 2, c[:, 0] + size / 2, c[:, 1] + size * aspect / 2], 1)
    if integer:
        b = np.floor(b)
    scores = rng.permutation(n).astype(np.float64) / n * 0.4 + 0.6  # distinct
    return torch.tensor(b, dtype=torch.float32), torch.tensor(scores, dtype=torch.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_is_greedy_iou_suppression(seed, threshold):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 150, integer=seed % 2 == 0)
    keep = nms(boxes, scores, threshold)
    assert keep.dtype == torch.int64
    assert keep.tolist() == brute_nms(boxes, scores, threshold)


def test_nms_areas_have_no_plus_one_and_suppress_only_above_the_threshold():
    # IoU exactly 0.5 with areas (x2 − x1)·(y2 − y1): both stay; with +1 areas it would be 0.6
    boxes = torch.tensor([[0, 0, 4, 1], [0, 0, 2, 1]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]
    # touching boxes do not overlap; an empty input gives an empty int64 tensor
    assert nms(torch.tensor([[0, 0, 1, 1], [1, 0, 2, 1.0]]), torch.tensor([0.5, 0.6]), 0.0).tolist() == [1, 0]
    empty = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.dtype == torch.int64 and empty.numel() == 0


@pytest.mark.parametrize("n", [300, 1400])  # the offset trick below 1000 boxes, the per-index loop above
def test_batched_nms_keeps_indices_apart(n):
    rng = np.random.default_rng(n)
    boxes, scores = random_boxes(rng, n, integer=True)
    idxs = torch.tensor(rng.integers(0, 3, n))
    got = batched_nms(boxes, scores, idxs, 0.5)
    assert got.tolist() == brute_batched(boxes, scores, idxs, 0.5)
    # the two paths agree
    assert tvboxes._batched_nms_coordinate_trick(boxes, scores, idxs, 0.5).tolist() == got.tolist()
    assert tvboxes._batched_nms_vanilla(boxes, scores, idxs, 0.5).tolist() == got.tolist()


def test_to_tensor():
    from PIL import Image

    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    t = F.to_tensor(a)
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    assert torch.equal(t, torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    f = a.astype(np.float32)
    assert torch.equal(F.to_tensor(f), torch.from_numpy(f).permute(2, 0, 1))
    assert torch.equal(F.to_tensor(Image.fromarray(a)), t)
    with pytest.raises(TypeError):
        F.to_tensor([1, 2])


# -- the oracle

@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("oracle")
    png = str(folder / "astronaut.png")
    Image.fromarray(data.astronaut()).save(png)
    npy = str(folder / "camera.npy")
    np.save(npy, np.repeat(data.camera()[:, :, None], 3, axis=2))
    return png, npy


def test_oracle_finds_the_astronaut(astronaut):
    png, npy = astronaut
    result = mtcnn_oracle.detect_all([png, npy], want_stages=True)
    assert result["settings"] == {"min_face_size": 20, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709,
                                  "order": "largest box area first"}
    assert result["versions"]["facenet_pytorch"] == "2.6.0"
    a, c = result["images"]
    assert (a["file"], a["height"], a["width"]) == (png, 512, 512)
    assert len(a["faces"]) == 1 and len(c["faces"]) == 1
    face = a["faces"][0]
    # facenet-pytorch 2.6.0 on astronaut.png: [181.05, 62.16, 267.75, 172.05], p > 0.9999
    assert np.allclose(face["box"], [181.05, 62.16, 267.75, 172.05], atol=0.5)
    assert face["prob"] > 0.9999
    lm = np.array(face["landmarks"])
    assert lm.shape == (5, 2)
    x1, y1, x2, y2 = face["box"]
    assert ((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2)).all()
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left eye / mouth corner on the image's left
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above the nose above the mouth


def test_oracle_stages_add_up(astronaut):
    png, _ = astronaut
    img = mtcnn_oracle.load_image(png)
    (entry,) = mtcnn_oracle.detect_all([png], want_stages=True)["images"]
    s = entry["stages"]
    # the pyramid: scales 12/20 · 0.709^k while min(h, w) · scale >= 12
    scales, m, minl = [], 12 / 20, 512 * 12 / 20
    while minl >= 12:
        scales.append(m)
        m, minl = m * 0.709, minl * 0.709
    assert [x["scale"] for x in s["pnet"]["scales"]] == pytest.approx(scales)
    assert [(x["height"], x["width"]) for x in s["pnet"]["scales"]] == [(int(512 * k + 1),) * 2 for k in scales]
    assert all(x["after_nms"] <= x["candidates"] for x in s["pnet"]["scales"])
    n = len(s["pnet"]["boxes"])
    assert 0 < n <= sum(x["after_nms"] for x in s["pnet"]["scales"])
    assert len(s["pnet"]["scores"]) == len(s["pnet"]["reg"]) == len(s["pnet"]["refined"]) == n
    assert min(s["pnet"]["scores"]) >= 0.6
    assert all(abs((b[2] - b[0]) - (b[3] - b[1])) < 1e-3 for b in s["pnet"]["refined"])  # squared
    assert s["rnet"]["passed"] <= n and len(s["rnet"]["boxes"]) == len(s["rnet"]["refined"]) <= s["rnet"]["passed"]
    assert min(s["rnet"]["scores"]) > 0.7
    assert s["onet"]["passed"] <= len(s["rnet"]["refined"]) and min(s["onet"]["scores"]) > 0.7
    kept = [s["onet"]["boxes"][i] + [s["onet"]["scores"][i]] for i in s["onet"]["kept"]]
    final = [f["box"] + [f["prob"]] for f in entry["faces"]]
    assert sorted(kept) == sorted(final)
    # and the stages do not change the answer
    plain = mtcnn_oracle.detect_all([png])["images"][0]
    assert plain["faces"] == entry["faces"] and "stages" not in plain
    assert img.shape == (512, 512, 3)


def test_oracle_command_line(astronaut, tmp_path):
    png, npy = astronaut
    out = tmp_path / "o.json"
    r = subprocess.run([sys.executable, os.path.join(REF, "mtcnn_oracle.py"), png, npy, "--out", str(out),
                        "--min-face-size", "40"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["settings"]["min_face_size"] == 40
    assert [len(i["faces"]) for i in d["images"]] == [1, 1]
    bad = tmp_path / "grey.npy"
    np.save(bad, np.zeros((8, 8), np.uint8))
    r = subprocess.run([sys.executable, os.path.join(REF, "mtcnn_oracle.py"), str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "H×W×3 uint8" in r.stderr


def test_oracle_without_faces(tmp_path):
    blank = str(tmp_path / "blank.npy")
    np.save(blank, np.full((120, 160, 3), 128, np.uint8))
    small = str(tmp_path / "small.npy")  # shorter side under min_face_size: no pyramid level
    np.save(small, np.zeros((19, 40, 3), np.uint8))
    a, b = mtcnn_oracle.detect_all([blank, small], want_stages=True)["images"]
    assert a["faces"] == [] and "too_small" not in a and len(a["stages"]["pnet"]["scales"]) == 6
    assert a["stages"]["rnet"]["passed"] == 0 and a["stages"]["onet"]["kept"] == []
    assert b["faces"] == [] and b["too_small"] is True and b["stages"]["pnet"]["scales"] == []

#!/usr/bin/env python3
"""facenet-pytorch's own MTCNN on images: the oracle for liberi's face detector (SPEC §4.1a).

    python reference/mtcnn_oracle.py IMAGE_OR_FOLDER... [--out result.json] [--min-face-size 20]
                                     [--stages] [--threads 1]

Images: PNG (any mode, converted to RGB) or .npy (H×W×3 uint8, RGB); a folder stands for
its *.png and *.npy files in name order. For each image it runs

    facenet_pytorch.MTCNN(min_face_size=M, thresholds=[0.6, 0.7, 0.7], factor=0.709,
                          keep_all=True, device="cpu").detect(img, landmarks=True)

on the uint8 array and writes JSON (stdout unless --out):

    {"oracle": "facenet-pytorch 2.6.0 MTCNN",
     "settings": {"min_face_size": 20, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709,
                  "order": "largest box area first"},
     "versions": {"facenet_pytorch": "2.6.0", "torch": "...", "numpy": "...",
                  "torchvision": "0.0+eri.standin"},
     "images": [{"file": "path as given", "height": H, "width": W,
                 "faces": [{"box": [x1, y1, x2, y2], "prob": p,
                            "landmarks": [[x, y] × 5]}],      # left eye, right eye, nose,
                 "stages": {...}}]}                             # left, right mouth corner

An image whose shorter side is under min_face_size has no pyramid level (facenet-pytorch
itself raises there): it gets "faces": [] and "too_small": true.

Numbers are the float32 results written as the shortest decimal that reads back to the
same double (so exactly the float32). Boxes and landmarks are in image pixels, as
facenet-pytorch returns them (x2, y2 are not clipped to the image). "faces" is in
facenet-pytorch's order for select_largest=True: largest (x2 − x1)·(y2 − y1) first.

--stages adds, per image, what each network passed on (for debugging a port); boxes are
[x1, y1, x2, y2], scores the face probability of the net that judged them:

    "stages": {
      "pnet": {"scales": [{"scale": s, "height": h, "width": w,   # the resampled image
                            "candidates": n,                      # prob >= 0.6
                            "after_nms": k}],                     # IoU 0.5 per scale
               "boxes": [...], "scores": [...], "reg": [[dx1, dy1, dx2, dy2], ...],
                                                   # after the cross-scale NMS (IoU 0.7)
               "refined": [...]},                  # + regression, squared (rerec): R-Net's input
      "rnet": {"passed": n,                        # score > 0.7
               "boxes": [...], "scores": [...],    # R-Net's input boxes that passed and
                                                   # survived NMS (IoU 0.7), R-Net's scores
               "refined": [...]},                  # + regression, squared: O-Net's input
      "onet": {"passed": n,                        # score > 0.7
               "boxes": [...], "scores": [...],    # + regression, before the 'Min' NMS
               "kept": [i, ...]}}                  # indices into onet.boxes that survive it
                                                   # ("faces" are these, largest first)

facenet-pytorch is imported with the stand-in torchvision of reference/torchvision_standin
(PyPI's torchvision is a CUDA build); this program alone puts it first on sys.path.
Torch runs on --threads threads (1 by default: the numbers do not depend on the machine).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torchvision_standin"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402  (the stand-in)

if getattr(torchvision, "STANDIN", False) is not True:
    raise ImportError("mtcnn_oracle.py: imported a torchvision that is not reference/torchvision_standin")

import facenet_pytorch  # noqa: E402
from facenet_pytorch.models.utils import detect_face as fdf  # noqa: E402

THRESHOLDS = [0.6, 0.7, 0.7]
FACTOR = 0.709


def load_image(path):
    """H×W×3 uint8 RGB from a PNG (or anything PIL reads) or a .npy file."""
    if path.endswith(".npy"):
        img = np.load(path, allow_pickle=False)
    else:
        from PIL import Image

        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("%s: expected an H×W×3 uint8 RGB image, got %s %s" % (path, img.dtype, img.shape))
    return np.ascontiguousarray(img)


def expand(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith((".png", ".npy")))
        else:
            out.append(p)
    return out


def floats(t):
    """A tensor or array -> nested lists of Python floats (exact for float32)."""
    return np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64).tolist()


class Recorder:
    """Wraps the module-level helpers of facenet_pytorch.models.utils.detect_face and logs
    their calls, so that the stages can be read off one ordinary run of detect_face."""

    NAMES = ("imresample", "generateBoundingBox", "batched_nms", "rerec", "bbreg", "batched_nms_numpy")

    def __init__(self):
        self.log = []
        self.saved = {}

    def __enter__(self):
        for name in self.NAMES:
            self.saved[name] = getattr(fdf, name)
            setattr(fdf, name, self._wrap(name, self.saved[name]))
        return self

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(fdf, name, original)

    def _wrap(self, name, original):
        def wrapper(*args):
            result = original(*args)
            # rerec and bbreg change their argument in place and return it: keep a copy
            self.log.append((name, args, result.clone() if name in ("rerec", "bbreg") else result))
            return result

        return wrapper

    def stages(self):
        """The calls of one detect_face run on one image, in order:
        P-Net: per scale imresample, generateBoundingBox, batched_nms(0.5); batched_nms(0.7)
        across scales; rerec. R-Net (when P-Net kept boxes): imresample per box,
        batched_nms(0.7), bbreg, rerec. O-Net (when R-Net kept boxes): imresample per box,
        bbreg, batched_nms_numpy('Min')."""
        log = list(self.log)

        def take(name):
            entry = log.pop(0)
            assert entry[0] == name, "expected %s, got %s" % (name, entry[0])
            return entry[1], entry[2]

        def skip_crops():
            while log and log[0][0] == "imresample":
                log.pop(0)

        scales, nine, offset, picks = [], [], 0, []
        while len(log) > 1 and log[0][0] == "imresample" and log[1][0] == "generateBoundingBox":
            (_img, size), _ = take("imresample")
            (_reg, _probs, scale, _t), (boxes, _inds) = take("generateBoundingBox")
            _, pick = take("batched_nms")
            scales.append({"scale": float(scale), "height": int(size[0]), "width": int(size[1]),
                           "candidates": int(boxes.shape[0]), "after_nms": int(pick.numel())})
            nine.append(boxes)
            picks.append(pick + offset)
            offset += boxes.shape[0]
        candidates = torch.cat(nine, 0)[torch.cat(picks, 0)]  # [x1, y1, x2, y2, score, 4 × reg]
        _, pick = take("batched_nms")
        candidates = candidates[pick]
        _, refined = take("rerec")
        pnet = {"scales": scales, "boxes": floats(candidates[:, :4]), "scores": floats(candidates[:, 4]),
                "reg": floats(candidates[:, 5:9]), "refined": floats(refined[:, :4])}
        rnet = {"passed": 0, "boxes": [], "scores": [], "refined": []}
        onet = {"passed": 0, "boxes": [], "scores": [], "kept": []}
        skip_crops()
        if log and log[0][0] == "batched_nms":
            (boxes, scores, _inds, _t), pick = take("batched_nms")
            take("bbreg")
            _, refined = take("rerec")
            rnet = {"passed": int(boxes.shape[0]), "boxes": floats(boxes[pick]), "scores": floats(scores[pick]),
                    "refined": floats(refined[:, :4])}
            skip_crops()
            if log and log[0][0] == "bbreg":
                _, boxes = take("bbreg")
                _, kept = take("batched_nms_numpy")
                onet = {"passed": int(boxes.shape[0]), "boxes": floats(boxes[:, :4]), "scores": floats(boxes[:, 4]),
                        "kept": [int(i) for i in kept]}
        assert not log, "unexpected calls: %s" % [entry[0] for entry in log]
        return {"pnet": pnet, "rnet": rnet, "onet": onet}


def run(mtcnn, img, want_stages):
    """detect() on one image; with want_stages also what each network passed on."""
    if not want_stages:
        return mtcnn.detect(img, landmarks=True) + (None,)
    with Recorder() as rec:
        boxes, probs, points = mtcnn.detect(img, landmarks=True)
    return boxes, probs, points, rec.stages()


def detect_all(paths, min_face_size=20, want_stages=False, threads=1):
    torch.set_num_threads(threads)
    mtcnn = facenet_pytorch.MTCNN(min_face_size=min_face_size, thresholds=THRESHOLDS, factor=FACTOR,
                                  keep_all=True, device="cpu")
    result = {
        "oracle": "facenet-pytorch %s MTCNN" % facenet_pytorch_version(),
        "settings": {"min_face_size": min_face_size, "thresholds": THRESHOLDS, "factor": FACTOR,
                     "order": "largest box area first"},
        "versions": {"facenet_pytorch": facenet_pytorch_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "torchvision": torchvision.__version__},
        "images": [],
    }
    for path in paths:
        img = load_image(path)
        if min(img.shape[:2]) * 12.0 / min_face_size < 12:
            # no pyramid level at all: facenet-pytorch's torch.cat of no scales raises; no faces
            entry = {"file": path, "height": int(img.shape[0]), "width": int(img.shape[1]), "faces": [],
                     "too_small": True}
            if want_stages:
                entry["stages"] = {"pnet": {"scales": [], "boxes": [], "scores": [], "reg": [], "refined": []},
                                   "rnet": {"passed": 0, "boxes": [], "scores": [], "refined": []},
                                   "onet": {"passed": 0, "boxes": [], "scores": [], "kept": []}}
            result["images"].append(entry)
            continue
        boxes, probs, points, stages = run(mtcnn, img, want_stages)
        faces = []
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float32)
            probs = np.asarray(probs, dtype=np.float32)
            points = np.asarray(points, dtype=np.float32)
            for b, p, lm in zip(boxes, probs, points):
                faces.append({"box": floats(b), "prob": float(p), "landmarks": floats(lm)})
        entry = {"file": path, "height": int(img.shape[0]), "width": int(img.shape[1]), "faces": faces}
        if stages is not None:
            entry["stages"] = stages
        result["images"].append(entry)
    return result


def facenet_pytorch_version():
    try:
        from importlib.metadata import version

        return version("facenet-pytorch")
    except Exception:  # pragma: no cover
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+", help="PNG or .npy files, or folders of them")
    ap.add_argument("--out", help="JSON file (default: stdout)")
    ap.add_argument("--min-face-size", type=int, default=20)
    ap.add_argument("--stages", action="store_true", help="add each network's candidates")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    paths = expand(args.images)
    if not paths:
        ap.error("no images")
    result = detect_all(paths, args.min_face_size, args.stages, args.threads)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        n = sum(len(i["faces"]) for i in result["images"])
        print("%s: %d faces in %d images" % (args.out, n, len(paths)), file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

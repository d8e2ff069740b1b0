#!/usr/bin/env python3
"""The oracle for liberi's aligned faces (SPEC §4.1a "aligned"): real photographs, landmarks
from facenet-pytorch's own MTCNN (mtcnn_oracle.py), and the S × S faces eri_ref/faces.py makes
of them (numpy, float64, written from the SPEC text).

    python reference/aligned_faces.py --out DIR [--image PNG]...

Images: scikit-image's astronaut (512 × 512), a 256 × 256 crop of it that cuts the face at the
top-left edge (the warp reads outside the frame: black), and the astronaut rolled by 25° in a
320 × 240 frame; then any --image. For each image, the most probable face's landmarks (left eye,
right eye, nose, left and right mouth corner, exactly facenet-pytorch's float32 numbers), the
frame → face similarity and the prepared face for the dbn-base (112 px rgb), dbn-small (64 px
rgb) and dbn-tiny (48 px gray) video configs with video.face "aligned". Writes into DIR:

  NAME.rgb            the image, H × W × 3 uint8 RGB, rows top first, no padding
  NAME.PRESET.f32     its prepared face, C × S × S float32 little-endian (normalised, SPEC §4.1 step 5)
  cases.json          {"oracle": "reference/aligned_faces.py", "template_112": [[x, y] × 5],
                       "cases": [{"name", "image": "NAME.rgb", "width", "height", "box": [x1, y1, x2, y2],
                                  "prob", "landmarks": [[x, y] × 5],
                                  "outputs": [{"preset", "image_size", "color", "file",
                                               "transform": [[a, −b, tx], [b, a, ty]]}]}]}
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import mtcnn_oracle  # noqa: E402  (facenet-pytorch with the stand-in torchvision)
from eri_ref.config import preset  # noqa: E402
from eri_ref.faces import TEMPLATE_112, face_transform, preprocess_aligned_frame  # noqa: E402

PRESETS = ("dbn-base", "dbn-small", "dbn-tiny")


def builtin_images():
    """(name, H × W × 3 uint8) of the three photographs described above."""
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut())
    edge = np.ascontiguousarray(astronaut[75:331, 195:451])      # the face cut by the top-left edges
    rolled = Image.fromarray(astronaut).rotate(25, resample=Image.BICUBIC, center=(224, 120)).crop((96, 0, 416, 240))
    return [("astronaut", astronaut), ("astronaut_edge", edge), ("astronaut_roll", np.ascontiguousarray(np.asarray(rolled)))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--image", action="append", default=[], help="another PNG (its name without .png names its files)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    images = builtin_images() + [(os.path.splitext(os.path.basename(p))[0], mtcnn_oracle.load_image(p)) for p in args.image]
    pngs = []
    for name, img in images:
        pngs.append(os.path.join(args.out, name + ".png"))
        Image.fromarray(img).save(pngs[-1])
    detections = mtcnn_oracle.detect_all(pngs)
    cases = []
    for (name, img), found in zip(images, detections["images"]):
        if not found["faces"]:
            raise SystemExit("%s: facenet-pytorch's MTCNN finds no face" % name)
        face = max(found["faces"], key=lambda f: f["prob"])
        landmarks = np.asarray(face["landmarks"], dtype=np.float64)      # the float32 values, exactly
        img.tofile(os.path.join(args.out, name + ".rgb"))
        outputs = []
        for p in PRESETS:
            video = preset(p)["video"]
            video["face"] = "aligned"
            x = preprocess_aligned_frame(img, landmarks, video).astype(np.float32)
            file = "%s.%s.f32" % (name, p)
            x.astype("<f4").tofile(os.path.join(args.out, file))
            outputs.append({"preset": p, "image_size": video["image_size"], "color": video["color"], "file": file,
                            "transform": face_transform(landmarks, video["image_size"]).tolist()})
        cases.append({"name": name, "image": name + ".rgb", "width": int(img.shape[1]), "height": int(img.shape[0]),
                      "box": face["box"], "prob": face["prob"], "landmarks": landmarks.tolist(), "outputs": outputs})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"oracle": "reference/aligned_faces.py", "template_112": TEMPLATE_112.tolist(), "cases": cases}, f, indent=1)
    print("%s: %d images × %d presets" % (args.out, len(cases), len(PRESETS)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

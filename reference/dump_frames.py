#!/usr/bin/env python3
"""Frame preprocessing oracle for liberi's frame parity tests (SPEC §4.1 steps 2–5).

    python reference/dump_frames.py MANIFEST.json

MANIFEST is a list of cases: {"input": raw bytes, "width", "height", "stride" (bytes per row),
"format": rgb24|bgr24|rgba32|bgra32|gray8, "box": [x, y, w, h] or null, "video": {"image_size",
"color", "mean", "std"}, "output": path}. Each image is read with its stride, handed to
eri_ref/features.py's preprocess_frame, and the (C, S, S) result written as
little-endian float32. A case the reference rejects writes OUTPUT.error instead.
"""

import json
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref import features  # noqa: E402

# liberi's names (include/eri.h) → the reference's names and bytes per pixel.
FORMATS = {"rgb24": ("rgb24", 3), "bgr24": ("bgr24", 3), "rgba32": ("rgba", 4),
           "bgra32": ("bgra", 4), "gray8": ("gray8", 1)}


def main():
    for case in json.load(open(sys.argv[1])):
        try:
            name, bpp = FORMATS[case["format"]]
            width, height, stride = case["width"], case["height"], case["stride"]
            raw = np.fromfile(case["input"], dtype=np.uint8)
            rows = raw[:stride * height].reshape(height, stride)[:, :width * bpp]   # drop row padding
            frame = rows.reshape(height, width) if bpp == 1 else rows.reshape(height, width, bpp)
            box = tuple(case["box"]) if case["box"] is not None else None
            out = features.preprocess_frame(frame, case["video"], name, box)        # (C, S, S) float64
            out.astype("<f4").tofile(case["output"])
        except Exception:
            with open(case["output"] + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    main()

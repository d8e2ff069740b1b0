#!/usr/bin/env python3
"""Dump librosa 0.11 MFCC (SPEC §4.2) of a raw PCM file, for liberi's MFCC parity tests.

    python reference/dump_mfcc.py --input sig.f32 --out /tmp/mfcc --preset dbn-tiny
    python reference/dump_mfcc.py --input sig.s16 --dtype s16 --channels 2 --out /tmp/mfcc \
        --n-mfcc 40 --n-mels 64 --pool 4 --max-steps 512
    python reference/dump_mfcc.py --batch MANIFEST.json

Input: raw little-endian float32 (or int16 with --dtype s16) interleaved PCM at the model
rate (no resampling in the reference). Writes OUT.f32 (T_a × n_mfcc, row-major float32),
OUT.pooled.f32 (T × n_mfcc after pool + cap, not normalised) and OUT.json (shapes, params).
--batch: MANIFEST is a JSON list of such argument lists, all run in this one process (librosa's
import costs seconds); a case where librosa raises writes OUT.error instead.
"""

import argparse
import json
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref import config as C  # noqa: E402
from eri_ref import features  # noqa: E402

MFCC_KEYS = ("n_mfcc", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True, help="output prefix (OUT.f32, OUT.pooled.f32, OUT.json)")
    ap.add_argument("--dtype", default="f32", choices=["f32", "s16"])
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--preset", default="dbn-base", help="source of defaults (its audio section)")
    ap.add_argument("--sample-rate", type=int)
    for key in MFCC_KEYS:
        ap.add_argument("--" + key.replace("_", "-"), type=float if key.startswith("f") else int)
    ap.add_argument("--pool", type=int)
    ap.add_argument("--max-steps", type=int)
    args = ap.parse_args(argv)

    audio = C.preset(args.preset)["audio"]
    if args.sample_rate:
        audio["sample_rate"] = args.sample_rate
    for key in MFCC_KEYS:
        if getattr(args, key) is not None:
            audio["mfcc"][key] = getattr(args, key)
    for key in ("pool", "max_steps"):
        if getattr(args, key) is not None:
            audio[key] = getattr(args, key)

    pcm = np.fromfile(args.input, dtype="<f4" if args.dtype == "f32" else "<i2")
    if args.dtype == "s16":
        pcm = pcm.astype(np.int16)
    M_raw, M = features.preprocess_audio(pcm, audio, audio["sample_rate"], args.channels)
    M_raw.astype("<f4").tofile(args.out + ".f32")
    M.astype("<f4").tofile(args.out + ".pooled.f32")
    with open(args.out + ".json", "w") as f:
        json.dump({"shape": list(M_raw.shape), "pooled_shape": list(M.shape),
                   "samples_per_channel": int(pcm.size // args.channels), "channels": args.channels,
                   "audio": audio}, f, indent=1)
    print(f"MFCC {M_raw.shape} → pooled {M.shape}: {args.out}.f32, {args.out}.pooled.f32")


def batch(manifest):
    for argv in json.load(open(manifest)):
        out = argv[argv.index("--out") + 1]
        try:
            main(argv)
        except Exception:
            with open(out + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--batch"]:
        batch(sys.argv[2])
    else:
        main()

"""Predicts a media file and raw frames + audio with the `eri` Python package.

    pip install ./python            # the ctypes wrapper; liberi itself from `make install`
    python examples/python/predict.py model.eri clip.mp4
"""
import sys

import numpy as np

import liberi


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL.eri MEDIA")
    model = liberi.Model(sys.argv[1])
    info = model.info
    print(f"model: {info['preset']} (video {info['has_video']}, audio {info['has_audio']}), liberi {liberi.version()}")
    for name, value in model.predict_file(sys.argv[2]).items():
        print(f"  {name:<14} {value:.3f}")
    # Raw inputs from memory: frames (N, H, W, 3) uint8 with a face box, PCM float32 mono at 44.1 kHz.
    frames = np.random.default_rng(0).integers(0, 256, (20, 120, 160, 3), dtype=np.uint8) if info["has_video"] else None
    pcm = (0.2 * np.sin(2 * np.pi * 330 * np.arange(44100 * 2) / 44100)).astype(np.float32) if info["has_audio"] else None
    result = model.predict(frames=frames, boxes=(30, 10, 100, 100) if frames is not None else None,
                           pcm=pcm, sample_rate=44100 if pcm is not None else None)
    print("raw frames and audio:", {k: round(v, 3) for k, v in result.items()})
    try:
        model.predict_file("/nonexistent.mp4")
    except liberi.Error as e:
        print(f"expected error, status {e.status}: {e.message}")


if __name__ == "__main__":
    main()

"""Predicts a media file, then raw frames + audio from memory, with the `liberi` Python package.

    make && make wheel && pip install dist/liberi-*.whl
    python examples/python/predict.py model.eri clip.mp4
"""
import sys

import numpy as np

import liberi


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL.eri MEDIA")
    model = liberi.Model(sys.argv[1])
    info = model.info()
    print(f"model: {info['preset']} (video {info['has_video']}, audio {info['has_audio']}), "
          f"liberi {liberi.version()} at {liberi.library_file()}")
    # warn=False: this example prints the warnings itself (an untrained model always has one)
    result = model.predict_file(sys.argv[2], warn=False)
    for name, value in result["intensities"].items():
        print(f"  {name:<14} {value:.3f}")
    span = result["video_span"]
    print(f"  from {result['frames_used']} of {result['frames_given']} frames"
          + (f" over {span[0]:.2f}-{span[1]:.2f} s" if span else "")
          + (", with audio" if result["audio_used"] else "")
          + (f"; warnings: {', '.join(result['warnings'])}" if result["warnings"] else ""))
    # Raw inputs from memory: 20 frames (N, H, W, 3) uint8 RGB with one face box (x, y, w, h) for all,
    # and 2 s of float32 mono PCM at 44.1 kHz.
    frames = np.random.default_rng(0).integers(0, 256, (20, 120, 160, 3), dtype=np.uint8) if info["has_video"] else None
    pcm = (0.2 * np.sin(2 * np.pi * 330 * np.arange(44100 * 2) / 44100)).astype(np.float32) if info["has_audio"] else None
    result = model.predict(frames=frames, boxes=(30, 10, 100, 100) if frames is not None else None,
                           pcm=pcm, sample_rate=44100 if pcm is not None else None, warn=False)
    print("raw frames and audio:", {k: round(v, 3) for k, v in result["intensities"].items()})
    try:
        model.predict_file("/nonexistent.mp4")
    except liberi.FileError as e:  # also an OSError
        print(f"expected error, status {e.status.name}: {e.message}")
    try:
        model.predict(frames=np.zeros((3, 120, 160), np.uint8))  # channels first: refused, not misread
    except liberi.InvalidArgument as e:  # also a ValueError
        print(f"expected error: {e}")


if __name__ == "__main__":
    main()

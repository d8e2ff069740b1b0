#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora and the model they predict with.

    python Tests/fuzz/make_seeds.py OUT

OUT/micro.eri       a two-branch model as small as a config may be (2 frames of
                    16 px, 4-wide layers, 8 kHz audio), random weights from the
                    PyTorch reference (reference/eri_ref): the model the media,
                    stream and API harnesses predict with, fast enough for a
                    million runs
OUT/model/          seeds of fuzz_model: micro.eri, its video-only and
                    audio-only halves, and (when given VALID.eri and the host
                    tests' generators) the crafted bad models of issue 15
OUT/media/          seeds of fuzz_media: tiny mp4 (H.264 + AAC), mkv (MJPEG +
                    FLAC), webm (VP8 + Opus), wav, flac, ogg (Vorbis) and
                    issue 15's hostile media (Tests/host/make_hostile_media.py)

The stream and API harnesses decode their calls from raw bytes; their corpora
start empty. Every file is written by a script or by ffmpeg, none is checked in.
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "reference"))

from eri_ref import config as C  # noqa: E402
from eri_ref.eri_file import save_model  # noqa: E402
from eri_ref.model import build_model  # noqa: E402


def micro_config():
    cfg = C.preset("dbn-tiny")
    v = cfg["video"]
    v.update(frames=2, image_size=16, color="gray", mean=[0.5], std=[0.5], dim=4)
    v["backbone"].update(stem_channels=2, widths=[2, 2, 2, 4], blocks=[1, 1, 1, 1])
    v["spatial"] = {"layers": 1, "heads": 1, "ff": 4}
    v["tcn"] = {"kernel": 3, "dilations": [1]}
    v["temporal"] = {"layers": 1, "heads": 1, "ff": 4}
    a = cfg["audio"]
    a["sample_rate"] = 8000
    a["mfcc"] = {"n_mfcc": 4, "n_fft": 128, "win_length": 100, "hop_length": 40,
                 "n_mels": 8, "fmin": 0.0, "fmax": 4000.0}
    a.update(pool=2, max_steps=16, dim=4)
    a["tcn"] = {"kernel": 3, "dilations": [1]}
    a["temporal"] = {"layers": 1, "heads": 1, "ff": 4}
    cfg["head"]["hidden"] = 4
    return C.validate(cfg)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10:duration=0.4"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=0.4"]


def media(out):
    ffmpeg(*VIDEO, *AUDIO, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "16k", os.path.join(out, "av.mp4"))
    ffmpeg(*VIDEO, *AUDIO, "-c:v", "mjpeg", "-q:v", "20", "-c:a", "flac", os.path.join(out, "av.mkv"))
    ffmpeg(*VIDEO, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.4",
           "-c:v", "libvpx", "-b:v", "20k", "-c:a", "libopus", "-b:a", "8k", os.path.join(out, "av.webm"))
    ffmpeg(*VIDEO, "-c:v", "mpeg4", "-q:v", "20", os.path.join(out, "video.mp4"))
    ffmpeg(*AUDIO, "-c:a", "pcm_s16le", os.path.join(out, "audio.wav"))
    ffmpeg(*AUDIO, "-ac", "2", "-c:a", "pcm_f32le", os.path.join(out, "stereo-f32.wav"))
    ffmpeg(*AUDIO, "-c:a", "flac", os.path.join(out, "audio.flac"))
    ffmpeg(*AUDIO, "-c:a", "libvorbis", "-q:a", "0", os.path.join(out, "audio.ogg"))
    subprocess.run([sys.executable, os.path.join(REPO, "Tests", "host", "make_hostile_media.py"), out],
                   check=True, stdout=subprocess.DEVNULL)
    for name in os.listdir(out):  # the fuzzer truncates to -max_len anyway; keep the corpus small
        path = os.path.join(out, name)
        if os.path.getsize(path) > 256 * 1024 or not os.path.isfile(path):
            os.remove(path) if os.path.isfile(path) else shutil.rmtree(path)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    out = argv[1]
    for d in ("model", "media"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    cfg = micro_config()
    micro = os.path.join(out, "micro.eri")
    save_model(build_model(cfg, seed=1), cfg, micro, provenance="Tests/fuzz/make_seeds.py")
    shutil.copy(micro, os.path.join(out, "model", "micro.eri"))
    save_model(build_model(C.video_only(cfg), seed=2), C.video_only(cfg), os.path.join(out, "model", "micro-video.eri"))
    save_model(build_model(C.audio_only(cfg), seed=3), C.audio_only(cfg), os.path.join(out, "model", "micro-audio.eri"))
    subprocess.run([sys.executable, os.path.join(REPO, "Tests", "host", "make_bad_models.py"), micro,
                    os.path.join(out, "model")], check=True, stdout=subprocess.DEVNULL)
    os.remove(os.path.join(out, "model", "manifest.txt")) if os.path.exists(os.path.join(out, "model", "manifest.txt")) else None
    media(os.path.join(out, "media"))
    print(f"{out}: micro.eri, {len(os.listdir(os.path.join(out, 'model')))} model seeds, "
          f"{len(os.listdir(os.path.join(out, 'media')))} media seeds")


if __name__ == "__main__":
    main(sys.argv)

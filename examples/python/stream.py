"""Replays a media file as a live camera + microphone into an liberi.Stream and
prints an estimate every 0.5 s of media time (the Python twin of examples/c/stream.c).

    python examples/python/stream.py model.eri clip.mp4 [--fast]

The ffmpeg command-line tool decodes the file into two pipes: 320x240 RGB24
frames at 25 fps and 16 kHz mono float32 PCM in 20 ms chunks, pushed in
timestamp order, paced at the real rate unless --fast.
"""
import subprocess
import sys
import time

import numpy as np

import liberi

W, H, FPS, RATE, CHUNK = 320, 240, 25, 16000, 320


def decode(media, args):
    return subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", media, *args, "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def main():
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL.eri MEDIA [--fast]")
    fast = "--fast" in sys.argv[3:]
    model = liberi.Model(sys.argv[1])
    info = model.info()
    video = decode(sys.argv[2], ["-an", "-vf", f"scale={W}:{H},fps={FPS}", "-f", "rawvideo", "-pix_fmt", "rgb24"]) \
        if info["has_video"] else None
    audio = decode(sys.argv[2], ["-vn", "-ac", "1", "-ar", str(RATE), "-f", "f32le"]) if info["has_audio"] else None
    frames = samples = 0
    next_read, start = 0.5, time.monotonic()
    print("\t".join(["t_end_s", *liberi.EMOTIONS]))
    with liberi.Stream(model) as stream:
        while video or audio:
            tf = frames / FPS if video else float("inf")
            ta = samples / RATE if audio else float("inf")
            t = min(tf, ta)
            while next_read <= t:  # the host reads on its own schedule
                try:
                    estimate = stream.read()
                    print("\t".join([f"{estimate['window_end']:.2f}",
                                     *(f"{v:.4f}" for v in estimate["intensities"].values())]), flush=True)
                except liberi.MissingModality:  # nothing in the window yet
                    pass
                next_read += 0.5
            if not fast:
                time.sleep(max(0.0, t - (time.monotonic() - start)))
            if tf <= ta:
                raw = video.stdout.read(W * H * 3)
                if len(raw) < W * H * 3:
                    video = None
                    continue
                stream.push_frame(np.frombuffer(raw, np.uint8).reshape(H, W, 3), tf)
                frames += 1
            else:
                raw = audio.stdout.read(CHUNK * 4)
                if not raw:
                    audio = None
                    continue
                stream.push_pcm(np.frombuffer(raw, np.float32), RATE, ta)
                samples += len(raw) // 4
    print(f"stream.py: {frames} frames, {samples / RATE:.2f} s of audio", file=sys.stderr)


if __name__ == "__main__":
    main()

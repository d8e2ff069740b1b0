#!/usr/bin/env python3
"""Writes the media files of issue 15's reproducers, for test_limits.c.

    python Tests/host/make_hostile_media.py DIR

Every file is small; what makes it hostile is what its header claims or what
its samples hold. The WAVs are written byte by byte here; the FLAC and the Ogg
come from ffmpeg (libvorbis for the Ogg, whose bytes are then damaged). One
model file is here too: a header of 16 MiB of JSON, the most liberi parses.
"""

import math
import os
import struct
import subprocess
import sys


def wav(path, rate, channels, samples, fmt="s16", declared_rate=None):
    """A RIFF/WAVE file; `samples` interleaved (ints for s16, floats for f32)."""
    if fmt == "s16":
        data = struct.pack(f"<{len(samples)}h", *samples)
        tag, bits = 1, 16
    else:
        data = struct.pack(f"<{len(samples)}f", *samples)
        tag, bits = 3, 32
    rate_field = declared_rate if declared_rate is not None else rate
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, rate_field, rate_field * block & 0xFFFFFFFF, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    tone = lambda n, rate, scale=12000: [int(scale * math.sin(2 * math.pi * 300 * i / rate)) for i in range(n)]

    # 1 Hz, 10,000 samples (20 KB): resampled to 16 kHz it would be 160 million samples.
    wav(os.path.join(out, "rate_1hz.wav"), 1, 1, [int(8000 * math.sin(0.3 * i)) for i in range(10000)])
    # The same samples as FLAC at 1 Hz (ffmpeg writes the rate as it is).
    ffmpeg("-i", os.path.join(out, "rate_1hz.wav"), "-c:a", "flac", os.path.join(out, "rate_1hz.flac"))
    # 845 bytes whose header claims 537 MHz.
    wav(os.path.join(out, "rate_537mhz.wav"), 16000, 1, tone(400, 16000), declared_rate=537_000_000)
    # Float WAVs with ±3e38, at the model's rate and at 44.1 kHz (resampled), and one with NaN.
    wav(os.path.join(out, "float_3e38.wav"), 16000, 1, [3e38 if i % 2 else -3e38 for i in range(16000)], fmt="f32")
    wav(os.path.join(out, "float_3e38_44k.wav"), 44100, 1, [3e38 if i % 2 else -3e38 for i in range(44100)], fmt="f32")
    wav(os.path.join(out, "float_nan.wav"), 16000, 1, [float("nan") if i == 8000 else 0.1 for i in range(16000)], fmt="f32")
    # A plain tone, 2 s of 16-bit mono at 16 kHz (for a model that overflows on anything).
    wav(os.path.join(out, "tone.wav"), 16000, 1, tone(32000, 16000))
    # Nine channels of a tone, 1 s at 16 kHz: averaged like any other channel count.
    mono = tone(16000, 16000)
    wav(os.path.join(out, "nine_channels.wav"), 16000, 9, [v for v in mono for _ in range(9)])
    # Ogg/Vorbis, then damaged: bytes flipped through its second half (libsndfile's Vorbis reader leaked on it).
    good = os.path.join(out, "good.ogg")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=1", "-c:a", "libvorbis", good)
    data = bytearray(open(good, "rb").read())
    for i in range(len(data) // 2, len(data), 97):
        data[i] ^= 0x5A
    with open(os.path.join(out, "corrupt.ogg"), "wb") as f:
        f.write(data)
    # A 10 s Ogg/Vorbis damaged only after its headers: FFmpeg opens it and fails while decoding.
    late = os.path.join(out, "long.ogg")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=10", "-c:a", "libvorbis", late)
    data = bytearray(open(late, "rb").read())
    for i in range(len(data) // 2, len(data), 101):
        data[i] ^= 0xFF
    with open(os.path.join(out, "corrupt_late.ogg"), "wb") as f:
        f.write(data)
    # A model file whose header is 16 MiB of JSON zeros, just under the limit: parsing it must stay cheap.
    body = b'{"a":[' + b"0," * ((16 << 20) // 2 - 8) + b"0]}"
    with open(os.path.join(out, "header_16mib.eri"), "wb") as f:
        f.write(struct.pack("<Q", len(body)) + body)
    print(f"make_hostile_media: files in {out}")


if __name__ == "__main__":
    main(sys.argv)

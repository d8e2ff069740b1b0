"""The Python liberi.Stream against the installed liberi: every read equals
Model.predict on exactly the frames and audio the read reports it used (the
structs behind it are checked against the header by test_layout.py).

    ERI_LIBRARY=.../liberi.so PYTHONPATH=python python test_stream.py TINY.eri
"""
import sys

import numpy as np

import liberi

failures = 0


def check(ok, name, why=""):
    global failures
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": {why}"))
    failures += 0 if ok else 1


def main():
    model = liberi.Model(sys.argv[1])
    rng = np.random.default_rng(3)
    fps, rate = 25, 16000
    frames = rng.integers(0, 256, (6 * fps, 60, 80, 3), dtype=np.uint8)
    t = np.arange(6 * rate) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(t))).astype(np.float32)
    worst, reads = 0.0, 0
    with liberi.Stream(model, window=2) as s:
        try:
            s.read()
            check(False, "read before any push raises")
        except liberi.MissingModality as e:
            check(e.status == liberi.Status.MISSING_MODALITY, "read before any push raises MissingModality", e.message)
        f = a = 0
        next_read = 0.5
        while f < len(frames) or a < len(pcm):
            tf, ta = (f / fps if f < len(frames) else 1e9), (a / rate if a < len(pcm) else 1e9)
            if tf <= ta:
                s.push_frame(frames[f], tf)
                f += 1
            else:
                s.push_pcm(pcm[a:a + 320], rate, ta)
                a += 320
            if min(tf, ta) >= next_read:
                next_read += 0.5
                estimate = s.read()
                values, end = np.array(list(estimate["intensities"].values()), np.float32), estimate["window_end"]
                span = s.span()
                used = [frames[round(ts * fps)] for ts in span["frame_timestamps"]]
                audio = s.window_audio()
                if len(audio) != span["audio_samples"] or audio.tolist() != pcm[span["audio_first_sample"]:][:len(audio)].tolist():
                    check(False, f"window audio at {end} s is the source's samples")
                ref = model.predict(frames=np.stack(used) if used else None, pcm=audio if len(audio) else None,
                                    sample_rate=span["sample_rate"] if len(audio) else None, warn=False)
                ref_values = np.array(list(ref["intensities"].values()), dtype=np.float32)
                worst = max(worst, float(np.max(np.abs(ref_values - values))))
                reads += 1
        check(reads >= 11 and worst <= 1e-5, f"{reads} reads equal Model.predict on the frames and audio they used (max diff {worst:.2g})")
        check(abs(span["window"][1] - span["window"][0] - 2) < 1e-9 and len(span["frame_timestamps"]) == 8,
              "span: a 2 s window of 8 frames")
        try:
            s.push_frame(frames[0], 1.0)
            check(False, "an old frame timestamp raises")
        except liberi.InvalidArgument as e:
            check("not after" in e.message, "an old frame timestamp raises InvalidArgument", e.message)
        s.reset()
        try:
            s.read()
            check(False, "read after reset raises")
        except liberi.MissingModality:
            check(True, "read after reset raises MissingModality")
    print(f"stream.py: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

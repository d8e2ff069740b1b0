"""Scores a folder (or a list) of media files with Ray Data and liberi, to Parquet: one row per file with the
record of `eri predict --json` (the 7 intensities, what was used, warnings) and an `error` column.

    pip install dist/liberi-*.whl "ray[data]" pyarrow        # or: pip install liberi[ray]
    python examples/python/ray_score.py --model model.eri --folder clips/ --out scores [--workers 4]
    python examples/python/ray_score.py --model model.eri --list files.txt --out scores
    python examples/python/ray_score.py ... --address auto   # on a running Ray cluster (every node needs
                                                             # liberi and the files at the same paths)

Each worker is an instance of `Scorer` (map_batches with a class): it opens the model once, in its own
process, and keeps it; what travels between processes is the .eri path, never a liberi.Model (which
refuses to be pickled). liberi.so is called through ctypes, which releases the GIL during inference.
Each worker runs liberi with `--threads-per-worker` compute threads (default 1: parallelism comes from
the workers).
"""

import argparse
import os
import sys
import time

MEDIA = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".wav", ".flac", ".ogg", ".mp3", ".m4a")
EMOTIONS = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]


def schema():
    """The Parquet schema: one explicit type per column (a block whose rows are all null would otherwise
    get a null column that the other blocks' strings or floats cannot be cast to)."""
    import pyarrow as pa
    f64, i64 = pa.float64(), pa.int64()
    return pa.schema([("file", pa.string())] + [(e, pa.float32()) for e in EMOTIONS] + [
        ("frames_given", i64), ("frames_used", i64), ("video_start_s", f64), ("video_end_s", f64),
        ("audio_used", pa.bool_()), ("audio_start_s", f64), ("audio_end_s", f64), ("duration_s", f64),
        ("windows", i64), ("window_s", f64), ("face_coverage", f64), ("warnings", pa.list_(pa.string())),
        ("warning_text", pa.string()), ("error", pa.string())])


def record(path, p):
    """liberi's Prediction → the fields of `eri predict --json` (same names and values)."""
    row = {"file": path}
    row.update({e: float(p["intensities"][e]) for e in EMOTIONS})
    vs, au = p["video_span"], p["audio_span"]
    row.update(frames_given=p["frames_given"], frames_used=p["frames_used"],
               video_start_s=vs[0] if vs else None, video_end_s=vs[1] if vs else None,
               audio_used=bool(p["audio_used"]), audio_start_s=au[0] if au else None, audio_end_s=au[1] if au else None,
               duration_s=p["duration"], windows=p["windows"], window_s=p["window"],
               face_coverage=p["face_coverage"], warnings=list(p["warnings"]), warning_text=p["warning_text"], error=None)
    return row


def empty_record(path, error):
    row = {"file": path, **{e: None for e in EMOTIONS}}
    row.update(frames_given=None, frames_used=None, video_start_s=None, video_end_s=None, audio_used=None,
               audio_start_s=None, audio_end_s=None, duration_s=None, windows=None, window_s=None,
               face_coverage=None, warnings=[], warning_text="", error=error)
    return row


class Scorer:
    """One per Ray worker: opens the model once, then scores batches of paths."""

    def __init__(self, model, faces="auto", threads=1, face_model=None):
        import liberi
        self.liberi = liberi
        self.model = liberi.Model(model, threads=threads, face_model=face_model)
        self.faces = faces

    def __call__(self, batch):
        rows = []
        for path in batch["path"]:
            path = str(path)
            try:
                rows.append(record(path, self.model.predict_file(path, faces=self.faces, warn=False)))
            except self.liberi.Error as e:   # a damaged file: a row saying why, the rest go on
                rows.append(empty_record(path, f"{type(e).__name__}: {e}"))
        import pyarrow as pa
        return pa.Table.from_pylist(rows, schema=schema())


def media_files(folder):
    out = []
    for root, _, names in os.walk(folder):
        out += [os.path.join(root, n) for n in names if n.lower().endswith(MEDIA)]
    return sorted(out)


def score(paths, model, out, workers=2, faces="auto", threads=1, batch_size=4, face_model=None, address=None):
    """Scores `paths` on `workers` Ray workers into the Parquet folder `out`; returns the rows (a list of dicts)
    in input order. Starts a local Ray with `workers` CPUs unless Ray is running or `address` is given."""
    import ray
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    model = os.path.abspath(model)
    # A few blocks per worker (each split into batches of `batch_size` by map_batches) balance the workers.
    blocks = max(1, min(len(paths) // batch_size, 4 * workers))
    ds = ray.data.from_items([{"path": os.path.abspath(p)} for p in paths], override_num_blocks=blocks)
    scored = ds.map_batches(Scorer, fn_constructor_kwargs={"model": model, "faces": faces, "threads": threads,
                                                           "face_model": face_model},
                            batch_size=batch_size, concurrency=workers, num_cpus=1, batch_format="numpy")
    # The records are small (a few hundred bytes a file), so they come back to this process and are written
    # here, in input order, as one Parquet file: a Ray write stage would start its own worker processes, a
    # fixed cost of seconds. For millions of files, `scored.write_parquet(out)` writes from the workers.
    rows = scored.take_all()
    order = {os.path.abspath(p): i for i, p in enumerate(paths)}
    rows = sorted(rows, key=lambda r: order[r["file"]])
    import pyarrow as pa
    import pyarrow.parquet as pq
    os.makedirs(out, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema()), os.path.join(out, "part-00000.parquet"))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", help="score every media file under this folder")
    src.add_argument("--list", help="a text file with one media path a line")
    ap.add_argument("--out", required=True, help="the output folder: OUT/part-00000.parquet, one row per file in input order")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--faces", choices=["auto", "detect", "none"], default="auto")
    ap.add_argument("--face-model")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--address", help="a Ray cluster's address (default: a local Ray with --workers CPUs)")
    args = ap.parse_args(argv)
    if args.folder:
        paths = media_files(args.folder)
    else:
        with open(args.list) as f:
            paths = [line.strip() for line in f if line.strip()]
    if not paths:
        sys.exit("no media files to score")
    started = time.time()
    rows = score(paths, args.model, args.out, args.workers, args.faces, args.threads_per_worker, args.batch_size,
                 args.face_model, args.address)
    failed = sum(1 for r in rows if r["error"])
    print(f"scored {len(rows) - failed} files ({failed} failed) on {args.workers} workers in "
          f"{time.time() - started:.1f} s → {args.out}")


if __name__ == "__main__":
    main()

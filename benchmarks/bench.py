#!/usr/bin/env python3
"""liberi against ONNX Runtime, PyTorch and librosa on the same inputs (a benchmark, not a test).

    make bench        # builds eri-bench (release), then:
    .venv/bin/python benchmarks/bench.py --liberi-bench .build/release/eri-bench [--presets dbn-small] [--reps 7]

For dbn-small and dbn-base (random weights, SPEC §3 shapes) it times, at 1 and 2
threads, the whole network (frames + 10 s of audio), the video branch (frames
only), the audio branch (audio only) and the ResNet backbone, then liberi's MFCC
against librosa on 10 s and 60 s of audio, and the OpenBLAS sgemm ceiling
(512³) through ERICore's `gemm`, and one training step (batch 8: zero the gradients,
forward, loss, backward) in liberi and PyTorch on dbn-small; end to end from raw frames + PCM
(`Model.predict(frames:audio:)` against the reference's Python preprocessing + ORT); the FP32 FMA peak
(fma_peak.c) and the backbone's share of it; ModelStream on a synthetic live source (dbn-base, one thread:
real-time factor, read latency, push costs) and its RSS over an hour of media (dbn-small; fails on
growth ≥ 1 MB); MTCNN face detection on a 640×480 photograph (minimum face 40 px, 1 and 2 threads) against
facenet-pytorch's own MTCNN on the same pixels, and the stream's real-time factor with detection on.
Every contender runs in its own process with
its model loaded (so peak RSS is per contender); the driver interleaves them
one run at a time, sleeping after each run so that a spinning thread pool does
not steal the next contender's cores, and reports the median of the timed runs.
When OpenBLAS picked kernels below what the CPU can run (Debian's 0.3.21 falls
back to Prescott on recent Xeons), liberi's network rows are repeated with
OPENBLAS_CORETYPE set. The outputs must agree to 1e-4 (SPEC: the 7 outputs),
1e-3 (MFCC) and the training losses to 1e-4 relative, or the exit status is 1. Prints one table per preset and writes
them to benchmarks/latest.md.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REFERENCE = os.path.join(ROOT, "reference")

PRESETS = ("dbn-small", "dbn-base")
AUDIO_SECONDS = 10        # the network's audio input: 10 s → 1001 MFCC frames → 251 steps (pool 4)
MFCC_SECONDS = (10, 60)
# The MFCC rows time single calls of 1–6 ms after the settle, whose spread from one call to the
# next (±10 % at 10 s) is wider than the differences they are read for: they take this many times
# the reps (still a few seconds a row).
MFCC_REPS_FACTOR = 3
# The same for the network and end-to-end rows of presets under SHORT_GFLOP a clip (dbn-small: calls of 10–20 ms,
# whose medians of 7 moved by up to 25 % from one run to the next on this host, more than the
# differences between builds that interleaved A/B runs of 40 showed).
SHORT_GFLOP = 2.0
GEMM_SIZE = 512
NETWORK_TOLERANCE = 1e-4  # SPEC preamble: max abs diff on the 7 outputs
MFCC_TOLERANCE = 1e-3     # SPEC preamble: max abs diff on MFCC values
TRAIN_BATCH = 8           # the training-step rows: one step on a batch of 8 clips
TRAIN_PRESETS = ("dbn-small",)
TRAIN_LOSS_TOLERANCE = 1e-4  # relative difference of the two training losses
RAW_SIZE = (240, 320)     # the end-to-end rows: raw RGB24 frames, H × W
RAW_BOX = (90, 40, 140, 150)  # their face box (x, y, w, h): a 150-pixel square, downscaled to S
STREAM_PRESET = "dbn-base"    # the streaming rows (one thread)
STREAM_SMALL_PRESET = "dbn-small"  # and one row of the small model's stream
HOUR_PRESET = "dbn-small"     # the memory-over-an-hour row
MEMORY_GROWTH_LIMIT = 1_000_000  # bytes of RSS growth after the warm-up that fail the run (1 MB)
FACE_SIZE = (480, 640)    # the detection rows: H × W, scikit-image's astronaut (512² photograph) on a grey field
FACE_MIN = 40             # minimum face size searched for (px)
FACE_TOLERANCE = 1.0      # px: liberi's boxes against facenet-pytorch's
DEFAULT_FACE_MODEL = os.path.join(ROOT, ".build", "models", "face-mtcnn.safetensors")


# ---------------------------------------------------------------- inputs and models (subprocess)

def prepare(out):
    """Random-weight models, their ONNX exports and the shared preprocessed inputs, under `out`.

    Runs in its own process (`--prepare`), so the driver never loads torch."""
    sys.path.insert(0, REFERENCE)
    import torch
    from eri_ref import config as C
    from eri_ref import features
    from eri_ref.eri_file import load_model, save_model
    from eri_ref.model import build_model, randomize_for_testing
    from liberi.torch.onnx import ExportWrapper
    from make_case import synthetic_frames, synthetic_speech

    os.makedirs(out, exist_ok=True)
    # The detection rows' photograph: the astronaut's 512² photograph (a real face) on a grey 640×480 field.
    from skimage import data as skdata
    photo = np.full(FACE_SIZE + (3,), 90, dtype=np.uint8)
    photo[:, 64:576] = skdata.astronaut()[16:496]
    photo.tofile(os.path.join(out, "face.rgb"))
    rng = np.random.default_rng(2024)
    sr = C.preset("dbn-base")["audio"]["sample_rate"]
    for seconds in MFCC_SECONDS:
        pcm = synthetic_speech(rng, seconds, sr)                               # (seconds·sr,) float32
        pcm.tofile(os.path.join(out, f"pcm{seconds}.f32"))
        # The float64 librosa oracle (SPEC §4.2 step 2), for the agreement check only.
        oracle = features.mfcc(pcm, C.preset("dbn-base")["audio"]).astype(np.float32)  # (T_a, n_mfcc)
        oracle.tofile(os.path.join(out, f"mfcc_oracle{seconds}.f32"))
        json.dump({"shape": list(oracle.shape)}, open(os.path.join(out, f"mfcc_oracle{seconds}.json"), "w"))

    for seed, name in enumerate(PRESETS, start=11):
        d = os.path.join(out, name)
        os.makedirs(d)
        cfg = C.preset(name)
        v, a = cfg["video"], cfg["audio"]
        model = randomize_for_testing(build_model(cfg, seed=seed), seed=seed + 1000).eval()
        eri = os.path.join(d, "model.eri")
        save_model(model, cfg, eri, provenance=f"benchmarks/bench.py {name} seed {seed} (random weights)")
        model, cfg = load_model(eri)  # exactly the float32 weights liberi reads
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))

        # Frames: a synthetic 4:3 clip with 25 % more frames than F, through SPEC §4.1.
        raw = synthetic_frames(rng, v["frames"] + v["frames"] // 4, 120, 160)
        frames = features.preprocess_video(raw, v).astype(np.float32)           # (F, C, S, S)
        frames.tofile(os.path.join(d, "frames.f32"))
        # Audio: the pooled (not normalised) MFCC of 10 s of speech-like PCM (SPEC §4.2 steps 1–4).
        pcm = np.fromfile(os.path.join(out, f"pcm{AUDIO_SECONDS}.f32"), dtype=np.float32)
        _, mfcc = features.preprocess_audio(pcm, a)
        mfcc = mfcc.astype(np.float32)                                           # (T, n_mfcc)
        mfcc.tofile(os.path.join(d, "mfcc.f32"))
        # The end-to-end rows: F raw RGB24 frames of 320 × 240 (own generator: the inputs above stay as they were).
        raw = synthetic_frames(np.random.default_rng(500 + seed), v["frames"], *RAW_SIZE)   # (F, H, W, 3) uint8
        raw.tofile(os.path.join(d, "raw_frames.u8"))
        json.dump({"frames": list(frames.shape), "mfcc": list(mfcc.shape), "raw": list(raw.shape), "box": list(RAW_BOX)},
                  open(os.path.join(d, "inputs.json"), "w"))

        fr = torch.from_numpy(frames)[None]                                      # (1, F, C, S, S)
        mf = torch.from_numpy(mfcc)[None]                                        # (1, T, n_mfcc)
        graphs = {
            "both": (ExportWrapper(model, True, True), (fr, mf), ["frames", "mfcc"]),
            "frames": (ExportWrapper(model, True, False), (fr,), ["frames"]),
            "audio": (ExportWrapper(model, False, True), (mf,), ["mfcc"]),
            "backbone": (model.video.backbone, (fr[0],), ["frames"]),             # (F, C, S, S) → (F, C', h, w)
        }
        for which, (module, inputs, names) in graphs.items():
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # exporter and tracer chatter (see export_onnx.py)
                torch.onnx.export(module.eval(), inputs, os.path.join(d, f"{which}.onnx"), input_names=names,
                                  output_names=["y"], opset_version=17, dynamo=False)
        print(f"prepared {name}: frames {tuple(frames.shape)}, mfcc {tuple(mfcc.shape)}", flush=True)


# ---------------------------------------------------------------- FLOP counts (SPEC §5 shapes)

def conv_flops(cin, cout, k, stride, pad, side):
    """(dense, real-tap) FLOPs of one conv on one side×side image, and the output side.

    dense = 2·C_out·C_in·k²·H_out·W_out; real taps leave out the taps that land on padding."""
    out = (side + 2 * pad - k) // stride + 1
    valid = sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - pad + t < side)  # per axis
    return 2 * cout * cin * k * k * out * out, 2 * cout * cin * valid * valid, out


def backbone_flops(v):
    """Per-image (dense, real-tap) FLOPs of the ResNet backbone (SPEC §5 video step 1), and the map side."""
    b = v["backbone"]
    ch = {"rgb": 3, "gray": 1}[v["color"]]
    dense, real, side = conv_flops(ch, b["stem_channels"], 3, 2, 1, v["image_size"])
    side = (side - 1) // 2 + 1  # max pool 3, stride 2, pad 1
    cin = b["stem_channels"]
    for s, (width, blocks) in enumerate(zip(b["widths"], b["blocks"])):
        for i in range(blocks):
            stride = 2 if (i == 0 and s > 0) else 1
            d1, r1, out = conv_flops(cin, width, 3, stride, 1, side)
            d2, r2, _ = conv_flops(width, width, 3, 1, 1, out)
            dense, real = dense + d1 + d2, real + r1 + r2
            if stride != 1 or cin != width:
                d3, r3, _ = conv_flops(cin, width, 1, stride, 0, side)
                dense, real = dense + d3, real + r3
            cin, side = width, out
    return dense, real, side


def encoder_flops(n, d, e):
    """One sequence of n steps through an Encoder(d): projections, QKᵀ and αV, feed-forward."""
    per_layer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * e["ff"]
    return e["layers"] * per_layer


def tcn_flops(n, d, tcn):
    return len(tcn["dilations"]) * 2 * (2 * n * d * d * tcn["kernel"])


def network_flops(cfg, steps):
    """Multiply-add FLOPs (×2) of one clip; element-wise work (norms, softmax, GELU) is left out."""
    v, a = cfg["video"], cfg["audio"]
    F, C = v["frames"], v["backbone"]["widths"][-1]
    bb_dense, bb_real, side = backbone_flops(v)
    n_tokens = side * side                                                     # SPEC §5 video step 2
    video_rest = F * (encoder_flops(n_tokens, C, v["spatial"]) + 2 * n_tokens * C) \
        + 2 * F * C * v["dim"] + tcn_flops(F, v["dim"], v["tcn"]) + encoder_flops(F, v["dim"], v["temporal"])
    audio = 2 * steps * a["mfcc"]["n_mfcc"] * a["dim"] + tcn_flops(steps, a["dim"], a["tcn"]) \
        + encoder_flops(steps, a["dim"], a["temporal"])
    head = 2 * (v["dim"] + a["dim"]) * cfg["head"]["hidden"] + 2 * cfg["head"]["hidden"] * 7
    return {"backbone": F * bb_dense, "backbone_real": F * bb_real,
            "frames": F * bb_dense + video_rest + head, "audio": audio + head,
            "both": F * bb_dense + video_rest + audio + head}


# ---------------------------------------------------------------- contenders, one process each

class Process:
    """A worker speaking one request line → one reply line over pipes."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env, bufsize=1)

    def request(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"{self.name} exited (exit status {self.proc.wait()}) on: {line}")
        return reply.rstrip("\n")

    def close(self):
        try:
            self.request("quit")
        except (RuntimeError, BrokenPipeError):
            pass
        self.proc.wait(timeout=30)


class Liberi(Process):
    """eri-bench: `ok key=value …` replies."""

    def call(self, line):
        reply = self.request(line)
        if not reply.startswith("ok"):
            raise RuntimeError(f"eri-bench: {line}: {reply}")
        return dict(w.split("=", 1) for w in reply.split()[1:])

    def run(self, which):
        r = self.call(f"predict {which}")
        return float(r["ms"]), np.array([float(x) for x in r["y"].split(",")], dtype=np.float32)


class PythonWorker(Process):
    """bench.py --worker KIND: JSON replies."""

    def call(self, **request):
        reply = json.loads(self.request(json.dumps(request)))
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {request}: {reply['error']}")
        return reply

    def close(self):
        try:
            self.request(json.dumps({"cmd": "quit"}))
        except (RuntimeError, BrokenPipeError):
            pass
        self.proc.wait(timeout=30)

    def run(self, which):
        r = self.call(cmd="run", which=which)
        return r["ms"], np.array(r["y"], dtype=np.float32)


def worker_main(kind, data):
    """The loop of one Python contender process (`--worker torch|ort|librosa|e2e|facenet`)."""
    handlers = {"torch": TorchWorker, "ort": ORTWorker, "librosa": LibrosaWorker, "e2e": EndToEndWorker,
                "facenet": FacenetWorker}[kind](data)
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            print("{}", flush=True)
            break
        try:
            if request["cmd"] == "rss":
                reply = {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
            else:
                reply = getattr(handlers, request.pop("cmd"))(**request)
        except Exception as e:  # noqa: BLE001 — reported to the driver, which stops
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


def load_inputs(d):
    shapes = json.load(open(os.path.join(d, "inputs.json")))
    frames = np.fromfile(os.path.join(d, "frames.f32"), dtype=np.float32).reshape(shapes["frames"])
    mfcc = np.fromfile(os.path.join(d, "mfcc.f32"), dtype=np.float32).reshape(shapes["mfcc"])
    return frames[None], mfcc[None]  # (1, F, C, S, S), (1, T, n_mfcc)


def training_batch(frames, mfcc):
    """The training-step batch, exactly as eri-bench's `trainingBatch` builds it: clip i is the bench clip
    with its frames rotated by i frames and its MFCC by i·⌊T/8⌋ steps (towards the start). Exact copies,
    so both sides get the same batch, yet the clips differ (the PCC term needs variance across the batch).
    → frames (8, F, C, S, S), mfcc (8, T, n_mfcc), targets (8, 7) with t[i, e] = (0.1·(i+1) + 0.05·e) mod 1."""
    import math
    b, steps = TRAIN_BATCH, mfcc.shape[1]
    fr = np.stack([np.roll(frames[0], -i, axis=0) for i in range(b)])
    mf = np.stack([np.roll(mfcc[0], -(i * (steps // b)), axis=0) for i in range(b)])
    targets = np.array([[math.fmod(0.1 * (i + 1) + 0.05 * e, 1.0) for e in range(7)] for i in range(b)], dtype=np.float32)
    return np.ascontiguousarray(fr), np.ascontiguousarray(mf), targets


class TorchWorker:
    """PyTorch eager on the reference model: inference mode, and (`train_step`) one training step."""

    def __init__(self, data):
        sys.path.insert(0, REFERENCE)
        import torch
        from eri_ref.eri_file import load_model
        self.torch, self.load_model, self.data = torch, load_model, data

    def load(self, preset):
        self.dir = d = os.path.join(self.data, preset)
        self.model, _ = self.load_model(os.path.join(d, "model.eri"))
        frames, mfcc = load_inputs(d)
        self.frames, self.mfcc = self.torch.from_numpy(frames), self.torch.from_numpy(mfcc)
        self.__dict__.pop("trainer", None)
        return {}

    def threads(self, n):
        self.torch.set_num_threads(n)
        return {"threads": self.torch.get_num_threads()}

    def train_step(self):
        """One timed training step: zero_grad, forward in train mode, eri_loss, backward (float32).

        A second copy of the model (train mode updates BatchNorm's running statistics), every
        nn.Dropout at p = 0 and modality dropout 0, so it computes what liberi's step computes."""
        torch = self.torch
        if not hasattr(self, "trainer"):
            from eri_ref.config import train_params
            from eri_ref.model import eri_loss
            model, cfg = self.load_model(os.path.join(self.dir, "model.eri"))
            model.train()
            for m in model.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = 0.0
            model.modality_dropout = 0.0
            frames, mfcc, targets = training_batch(self.frames.numpy(), self.mfcc.numpy())
            batch = tuple(torch.from_numpy(x) for x in (frames, mfcc, targets))
            self.trainer = (model, batch, eri_loss, float(train_params(cfg)["pcc_weight"]))
        model, (frames, mfcc, targets), eri_loss, pcc_weight = self.trainer
        start = time.perf_counter()
        model.zero_grad()
        loss = eri_loss(model(frames=frames, mfcc=mfcc), targets, pcc_weight)
        loss.backward()
        ms = (time.perf_counter() - start) * 1e3
        return {"ms": ms, "loss": loss.item()}

    def run(self, which, dump=None):
        m, torch = self.model, self.torch
        with torch.inference_mode():
            start = time.perf_counter()
            if which == "both":
                y = m(frames=self.frames, mfcc=self.mfcc)
            elif which == "frames":
                y = m(frames=self.frames)
            elif which == "audio":
                y = m(mfcc=self.mfcc)
            else:
                y = m.video.backbone(self.frames[0])                             # (F, C', h, w)
            ms = (time.perf_counter() - start) * 1e3
        return {"ms": ms, "y": y.flatten()[:7].tolist()} | ({"full": y.flatten().tolist()} if dump else {})


class ORTWorker:
    """ONNX Runtime, CPU provider: intra-op n threads, inter-op 1, sequential, all graph optimisations."""

    def __init__(self, data):
        import onnxruntime as ort
        self.ort, self.data, self.n, self.sessions = ort, data, 1, {}

    def load(self, preset):
        self.dir = os.path.join(self.data, preset)
        self.frames, self.mfcc = load_inputs(self.dir)
        self.sessions = {}
        return {}

    def threads(self, n):
        if n != self.n:
            self.sessions = {}  # the thread count is fixed per session
        self.n = n
        return {"threads": n}

    def session(self, which):
        if which not in self.sessions:
            o = self.ort.SessionOptions()
            o.intra_op_num_threads = self.n
            o.inter_op_num_threads = 1
            o.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
            o.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.sessions[which] = self.ort.InferenceSession(
                os.path.join(self.dir, f"{which}.onnx"), o, providers=["CPUExecutionProvider"])
        return self.sessions[which]

    def run(self, which, dump=None):
        s = self.session(which)
        feeds = {"both": {"frames": self.frames, "mfcc": self.mfcc}, "frames": {"frames": self.frames},
                 "audio": {"mfcc": self.mfcc}, "backbone": {"frames": self.frames[0]}}[which]
        start = time.perf_counter()
        y = s.run(["y"], feeds)[0]
        ms = (time.perf_counter() - start) * 1e3
        return {"ms": ms, "y": y.flatten()[:7].tolist()} | ({"full": y.flatten().tolist()} if dump else {})


class EndToEndWorker(ORTWorker):
    """The Python pipeline of one clip: the reference's preprocessing (eri_ref.features: frames through
    its F.interpolate path, MFCC through librosa, float64 as it computes) then ONNX Runtime on the
    whole network. n threads: torch.set_num_threads(n), every BLAS/OpenMP pool limited to n
    (threadpoolctl), ORT intra-op n."""

    def __init__(self, data):
        super().__init__(data)
        sys.path.insert(0, REFERENCE)
        import torch
        from eri_ref import features
        from threadpoolctl import threadpool_limits
        self.torch, self.features, self.threadpool_limits = torch, features, threadpool_limits

    def load(self, preset):
        super().load(preset)
        shapes = json.load(open(os.path.join(self.dir, "inputs.json")))
        self.raw = np.fromfile(os.path.join(self.dir, "raw_frames.u8"), dtype=np.uint8).reshape(shapes["raw"])
        self.box = shapes["box"]
        self.pcm = np.fromfile(os.path.join(self.data, f"pcm{AUDIO_SECONDS}.f32"), dtype=np.float32)
        self.cfg = json.load(open(os.path.join(self.dir, "config.json")))
        return {}

    def threads(self, n):
        self.limits = self.threadpool_limits(limits=n)
        self.torch.set_num_threads(n)
        return super().threads(n)

    def e2e(self):
        f, v, a = self.features, self.cfg["video"], self.cfg["audio"]
        t0 = time.perf_counter()
        frames = f.preprocess_video(self.raw, v, boxes=self.box).astype(np.float32)[None]   # (1, F, C, S, S)
        t1 = time.perf_counter()
        _, mfcc = f.preprocess_audio(self.pcm, a)
        mfcc = mfcc.astype(np.float32)[None]                                             # (1, T, n_mfcc)
        t2 = time.perf_counter()
        y = self.session("both").run(["y"], {"frames": frames, "mfcc": mfcc})[0]
        t3 = time.perf_counter()
        return {"video_ms": (t1 - t0) * 1e3, "audio_ms": (t2 - t1) * 1e3, "net_ms": (t3 - t2) * 1e3,
                "ms": (t3 - t0) * 1e3, "y": y.flatten()[:7].tolist()}


class LibrosaWorker:
    """librosa 0.11 with the SPEC §4.2 step 2 arguments, on float32 PCM (librosa's usual use)."""

    def __init__(self, data):
        import librosa
        self.librosa, self.data = librosa, data

    def mfcc(self, seconds, config, dump=None):
        librosa, m = self.librosa, config["mfcc"]
        y = np.fromfile(os.path.join(self.data, f"pcm{seconds}.f32"), dtype=np.float32)
        start = time.perf_counter()
        S = librosa.feature.melspectrogram(
            y=y, sr=config["sample_rate"], n_fft=m["n_fft"], hop_length=m["hop_length"],
            win_length=m["win_length"], window="hann", center=True, pad_mode="constant", power=2.0,
            n_mels=m["n_mels"], fmin=m["fmin"], fmax=m["fmax"], htk=False, norm="slaney")
        M = librosa.feature.mfcc(S=librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None),
                                 n_mfcc=m["n_mfcc"], dct_type=2, norm="ortho").T   # (T_a, n_mfcc)
        ms = (time.perf_counter() - start) * 1e3
        if dump:
            np.ascontiguousarray(M, dtype=np.float32).tofile(dump)
        return {"ms": ms, "shape": list(M.shape)}


class FacenetWorker:
    """facenet-pytorch 2.6.0's MTCNN (the weights liberi converts) on CPU, `torch.set_num_threads(n)`; imported
    with reference/torchvision_standin (PyPI's torchvision is a CUDA build)."""

    def __init__(self, data):
        sys.path.insert(0, os.path.join(REFERENCE, "torchvision_standin"))
        import torch
        from facenet_pytorch import MTCNN
        self.torch = torch
        self.mtcnn = MTCNN(min_face_size=FACE_MIN, thresholds=[0.6, 0.7, 0.7], factor=0.709, keep_all=True,
                           device="cpu")
        self.image = np.fromfile(os.path.join(data, "face.rgb"), dtype=np.uint8).reshape(FACE_SIZE + (3,))

    def threads(self, n):
        self.torch.set_num_threads(n)
        return {"threads": self.torch.get_num_threads()}

    def detect(self):
        start = time.perf_counter()
        with self.torch.inference_mode():
            boxes, probs = self.mtcnn.detect(self.image)
        ms = (time.perf_counter() - start) * 1e3
        faces = [] if boxes is None else [list(map(float, b)) + [float(p)] for b, p in zip(boxes, probs)]
        return {"ms": ms, "faces": faces}


# ---------------------------------------------------------------- timing

def interleaved(contenders, warmup, reps, settle):
    """Medians over `reps` rounds; each round runs every contender once, rotating who goes first.

    contenders: {name: callable() → (ms, output)}. Returns ({name: [ms…]}, {name: last output})."""
    names = list(contenders)
    times = {n: [] for n in names}
    outputs = {}
    for n in names:
        for _ in range(warmup):
            outputs[n] = contenders[n]()[1]
        time.sleep(settle)
    for r in range(reps):
        for n in names[r % len(names):] + names[:r % len(names)]:
            ms, outputs[n] = contenders[n]()
            times[n].append(ms)
            time.sleep(settle)
    return times, outputs


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


class Row:
    """One table row: median ms per contender, FLOPs of the work, max |diff| per contender.

    `reference`: other contenders' ms from another row, for the ratio columns only;
    `ceiling`: the sgemm ceiling that applies to liberi in this row (default: the run's)."""

    def __init__(self, label, times, flops, threads, diffs, note="", outputs=None, reference=None, ceiling=None,
                 real_flops=None):
        self.label, self.flops, self.threads, self.diffs, self.note = label, flops, threads, diffs, note
        self.real_flops = real_flops  # the backbone's FLOPs on taps that touch real pixels
        self.ms = {n: (statistics.median(t) if t else None) for n, t in times.items()}
        self.outputs, self.reference, self.ceiling = outputs or {}, reference or {}, ceiling


# ---------------------------------------------------------------- the run

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--liberi-bench", help="the eri-bench executable (swift build -c release --product eri-bench)")
    ap.add_argument("--baseline-bench", metavar="PATH",
                    help="a second eri-bench (e.g. built from an earlier commit), timed interleaved with liberi in the "
                         "network, branch, backbone, end-to-end, training, MFCC and streaming rows; the tables gain "
                         "'baseline ms' and 'liberi÷baseline' columns")
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=7, help="timed runs per contender and row (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per contender and row (default %(default)s)")
    ap.add_argument("--settle", type=float, default=0.15,
                    help="seconds of sleep after each run, so thread pools go idle (default %(default)s)")
    ap.add_argument("--train-presets", default=",".join(TRAIN_PRESETS),
                    help="presets that get the training-step rows (default: %(default)s; '' for none)")
    ap.add_argument("--markdown", default=os.path.join(HERE, "latest.md"), help="where to write the tables")
    ap.add_argument("--openblas-coretype", metavar="NAME",
                    help="run liberi with OPENBLAS_CORETYPE=NAME (default: OpenBLAS's own choice, as users get it)")
    ap.add_argument("--keep", help="keep models and inputs in this folder (default: a temporary one)")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end rows (raw frames + PCM → outputs)")
    ap.add_argument("--no-fma", action="store_true", help="skip the FMA peak (benchmarks/fma_peak.c)")
    ap.add_argument("--stream-seconds", type=float, default=120,
                    help=f"media seconds per streaming run ({STREAM_PRESET}, 1 thread) after the warm-up; 0 skips "
                         "(default %(default)s)")
    ap.add_argument("--stream-reps", type=int, default=3, help="streaming runs; medians (default %(default)s)")
    ap.add_argument("--stream-warmup", type=float, default=15,
                    help="media seconds streamed before the timing starts (default %(default)s)")
    ap.add_argument("--stream-read-every", type=float, default=0.5,
                    help="the host reads every this many media seconds (default %(default)s)")
    ap.add_argument("--hour-seconds", type=float, default=3600,
                    help=f"media seconds of the memory row ({HOUR_PRESET}); 0 skips (default %(default)s)")
    ap.add_argument("--hour-warmup", type=float, default=300,
                    help="RSS growth is counted from this media second (default %(default)s)")
    ap.add_argument("--hour-every", type=float, default=60, help="RSS sample every this many media seconds "
                    "(default %(default)s)")
    ap.add_argument("--face-model", default=DEFAULT_FACE_MODEL,
                    help="MTCNN weights for the detection rows and the stream with detection (default: %(default)s, "
                         "from `make models`)")
    ap.add_argument("--worker", choices=["torch", "ort", "librosa", "e2e", "facenet"], help=argparse.SUPPRESS)
    ap.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.prepare:
        return prepare(args.prepare)
    if args.worker:
        return worker_main(args.worker, args.data)
    if not args.liberi_bench or not os.access(args.liberi_bench, os.X_OK):
        ap.error("--liberi-bench must name the eri-bench executable (make bench builds it)")
    if args.reps < 1:
        ap.error("--reps must be ≥ 1")

    started = time.time()
    command = " ".join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT) else sys.executable,
                        os.path.relpath(__file__, ROOT)] + (argv if argv is not None else sys.argv[1:]))
    data = args.keep or tempfile.mkdtemp(prefix="eri-bench-")
    if args.keep and os.path.isdir(data):
        shutil.rmtree(data)
    os.makedirs(data, exist_ok=True)
    try:
        ok = run(args, data, command, started)
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return 0 if ok else 1


def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_busy(seconds=0.5):
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), while this benchmark's processes idle."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return None
    return 1 - (i1 - i0) / max(1, t1 - t0)


class CPUAccount:
    """CPU time that processes other than this benchmark's used while it ran: the system's busy time
    (/proc/stat) less this process's and its waited-for children's (os.times)."""

    def __init__(self):
        self.start = self.sample()

    @staticmethod
    def sample():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            busy = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return None
        return busy, sum(os.times()[:4]), time.time()

    def others_fraction(self):
        end = self.sample()
        if self.start is None or end is None:
            return None
        busy, own, wall = (b - a for a, b in zip(self.start, end))
        return max(0.0, busy - own) / max(1e-9, wall * len(os.sched_getaffinity(0)))


def blas_report(args, env):
    """OpenBLAS's kernels and the 512³ sgemm ceiling (best of 15) at 1 and 2 threads, through ERICore's `gemm`.

    Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not know recent Xeons and falls back to its
    Prescott (SSE3) kernels; then the ceiling is also measured with the kernel set that the CPU
    flags allow (OPENBLAS_CORETYPE), so the table shows what that setting would give."""
    def measure(environment):
        liberi = Liberi("eri-bench", [args.liberi_bench], env=environment)
        core = liberi.call("blas")["core"]
        ceiling = {}
        for n in (1, 2):
            liberi.call(f"threads {n}")
            for _ in range(3):
                liberi.call(f"gemm {GEMM_SIZE}")
            # A ceiling: the best of 15 (a busy neighbour only ever lowers it).
            ceiling[n] = max(float(liberi.call(f"gemm {GEMM_SIZE}")["gflops"]) for _ in range(15))
            time.sleep(args.settle)
        liberi.close()
        return core, ceiling

    core, ceiling = measure(env)
    flags = cpu_flags()
    suggested = "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else None
    alternative = None
    if not args.openblas_coretype and suggested and core.lower() != suggested.lower():
        alt_core, alt_ceiling = measure(dict(env, OPENBLAS_CORETYPE=suggested))
        alternative = {"name": suggested, "core": alt_core, "ceiling": alt_ceiling}
    line = (f"OpenBLAS kernels: {core}{' (OPENBLAS_CORETYPE=' + args.openblas_coretype + ')' if args.openblas_coretype else ''}; "
            f"sgemm {GEMM_SIZE}³ ceiling (best of 15) {ceiling[1]:.1f} GFLOP/s (1 thread), {ceiling[2]:.1f} GFLOP/s (2 threads)")
    if alternative:
        a = alternative["ceiling"]
        line += (f". With OPENBLAS_CORETYPE={suggested} ({alternative['core']} kernels): {a[1]:.1f} / {a[2]:.1f} "
                 f"GFLOP/s ({a[1] / ceiling[1]:.1f}× at 1 thread)")
    print(line + "\n", flush=True)
    return {"core": core, "ceiling": ceiling, "alternative": alternative, "line": line}


def run(args, data, command, started):
    presets = [p for p in args.presets.split(",") if p]
    for p in presets:
        if p not in PRESETS:
            raise SystemExit(f"unknown preset {p}; choose from {', '.join(PRESETS)}")
    account = CPUAccount()
    busy_before = cpu_busy()
    if busy_before is not None and busy_before > 0.1:
        print(f"warning: {100 * busy_before:.0f} % of the CPUs were busy before the benchmark started; "
              "the timings (2 threads above all) will suffer\n", flush=True)
    t0 = time.time()
    subprocess.run([sys.executable, os.path.abspath(__file__), "--prepare", data], check=True)
    print(f"models, ONNX exports and inputs ready in {time.time() - t0:.0f} s ({data})\n", flush=True)

    liberi_env = dict(os.environ)
    if args.openblas_coretype:
        liberi_env["OPENBLAS_CORETYPE"] = args.openblas_coretype
    blas = blas_report(args, liberi_env)
    ceiling = blas["ceiling"]
    fma = None if args.no_fma else fma_peak(args, data)

    me = [sys.executable, os.path.abspath(__file__), "--data", data, "--worker"]
    # librosa (numpy's BLAS) on one thread, like liberi's MFCC row.
    one_thread = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    mfcc_rows, all_ok = mfcc_benchmark(args, data, me, one_thread, presets[0], liberi_env)

    tables, busy = {}, {"before the start": busy_before}
    for preset in presets:
        busy[f"before {preset}"] = cpu_busy()
        table, ok = bench_preset(args, data, me, preset, liberi_env, blas)
        tables[preset] = table
        all_ok &= ok

    faces = None
    if args.face_model and os.path.exists(args.face_model):
        faces, ok = face_benchmark(args, data, me, liberi_env)
        all_ok &= ok
    else:
        print(f"face detection rows: skipped (no {args.face_model}; `make models` writes it)\n", flush=True)
    stream = stream_benchmark(args, data, liberi_env) if args.stream_seconds > 0 else None
    memory = None
    if args.hour_seconds > 0:
        memory, ok = memory_benchmark(args, data, liberi_env)
        all_ok &= ok

    busy["during the run"] = account.others_fraction()
    text = render(tables, mfcc_rows, blas, busy, args, command, started, fma=fma, stream=stream, memory=memory,
                  faces=faces)
    print(text["console"])
    with open(args.markdown, "w") as f:
        f.write(text["markdown"])
    print(f"\nwrote {os.path.relpath(args.markdown, os.getcwd())}; total {time.time() - started:.0f} s")
    if not all_ok:
        print(f"FAILED: outputs disagree beyond {NETWORK_TOLERANCE:g} (network, end to end), {MFCC_TOLERANCE:g} (MFCC) "
              f"or {TRAIN_LOSS_TOLERANCE:g} relative (training loss), or the stream's RSS grew by "
              f"{MEMORY_GROWTH_LIMIT / 1e6:g} MB or more, or the face boxes differ from facenet-pytorch's by more "
              f"than {FACE_TOLERANCE:g} px")
    return all_ok


def bench_preset(args, data, me, preset, liberi_env, blas):
    """The rows of one preset's table; each contender in its own process, models loaded once."""
    warm, reps, settle, ceiling = args.warmup, args.reps, args.settle, blas["ceiling"]
    d = os.path.join(data, preset)
    cfg = json.load(open(os.path.join(d, "config.json")))
    steps = json.load(open(os.path.join(d, "inputs.json")))["mfcc"][0]
    flops = network_flops(cfg, steps)
    if flops["both"] < SHORT_GFLOP * 1e9:
        reps *= MFCC_REPS_FACTOR
    v = cfg["video"]
    print(f"{preset}: {v['frames']} frames × {v['image_size']}² + {steps} MFCC steps", flush=True)

    def open_liberi(env, binary=None):
        w = Liberi("eri-bench", [binary or args.liberi_bench], env=env)
        for line in (f"load {d}/model.eri", f"frames {d}/frames.f32", f"mfcc {d}/mfcc.f32"):
            w.call(line)
        return w

    liberi = open_liberi(liberi_env)
    liberi_backbone = "unavailable" not in liberi.call("backbone")  # needs Model.backboneTokens (Backbone.swift)
    baseline = open_liberi(liberi_env, args.baseline_bench) if args.baseline_bench else None
    ort = PythonWorker("onnxruntime", me + ["ort"])
    torch_ = PythonWorker("pytorch", me + ["torch"])
    ort.call(cmd="load", preset=preset)
    torch_.call(cmd="load", preset=preset)
    rows, ok = [], True

    def report(r):
        print(f"  {r.label:44} " + "  ".join(
            f"{k} {v:8.1f} ms" if v is not None else f"{k}      n/a" for k, v in r.ms.items())
            + "   max diff " + ", ".join(f"{k} {v:.2g}" for k, v in r.diffs.items()), flush=True)

    def row(label, which, n):
        nonlocal ok
        liberi.call(f"threads {n}")
        if baseline:
            baseline.call(f"threads {n}")
        ort.call(cmd="threads", n=n)
        torch_.call(cmd="threads", n=n)
        contenders = {"ORT": lambda: ort.run(which), "PyTorch": lambda: torch_.run(which)}
        if which != "backbone":
            contenders = {"liberi": lambda: liberi.run(which)} | contenders
        elif liberi_backbone:
            contenders = {"liberi": lambda: (float(liberi.call("backbone")["ms"]), None)} | contenders
        if baseline:
            contenders["baseline"] = ((lambda: baseline.run(which)) if which != "backbone"
                                      else (lambda: (float(baseline.call("backbone")["ms"]), None)))
        times, outs = interleaved(contenders, warm, reps, settle)
        if which == "backbone":
            full = {name: np.array(w.call(cmd="run", which="backbone", dump=True)["full"])
                    for name, w in (("ORT", ort), ("PyTorch", torch_))}               # (F, C, h, w) flat
            diffs = {"ORT": max_diff(full["ORT"], full["PyTorch"])}
            if liberi_backbone:
                shape = tuple(int(x) for x in liberi.call(f"backbone {data}/tokens.f32")["shape"].split("x"))
                tokens = np.fromfile(f"{data}/tokens.f32", dtype=np.float32).reshape(shape)  # (F, h·w, C)
                diffs = {"liberi": max_diff(tokens.transpose(0, 2, 1).flatten(), full["PyTorch"])} | diffs
            else:  # liberi's backbone is internal to ERIModel (see the † note)
                times = {"liberi": []} | times
        else:
            diffs = {name: max_diff(outs[name], outs["PyTorch"]) for name in ("liberi", "ORT")}
        ok &= max(diffs.values()) <= NETWORK_TOLERANCE
        r = Row(label, times, flops[which], n, diffs, outputs=outs,
                real_flops=flops["backbone_real"] if which == "backbone" else None)
        rows.append(r)
        report(r)
        return r

    network = {1: row("network, 1 thread", "both", 1), 2: row("network, 2 threads", "both", 2)}
    rss = {"liberi": int(liberi.call("rss")["maxrss_kib"]), "ORT": ort.call(cmd="rss")["maxrss_kib"],
           "PyTorch": torch_.call(cmd="rss")["maxrss_kib"]}
    row("video branch (frames only), 1 thread", "frames", 1)
    row("video branch (frames only), 2 threads", "frames", 2)
    row("audio branch (audio only), 1 thread", "audio", 1)
    row("backbone alone, 1 thread", "backbone", 1)
    row("backbone alone, 2 threads", "backbone", 2)

    def e2e_row(n, ref):
        """liberi's Model.predict(frames:audio:) from raw inputs, its preprocessing alone, and the Python
        pipeline (reference preprocessing + ORT), interleaved; outputs must agree to 1e-4."""
        nonlocal ok
        liberi.call(f"threads {n}")
        ref.call(cmd="threads", n=n)
        if baseline:
            baseline.call(f"threads {n}")
        parts = {k: [] for k in ("liberi video", "liberi audio", "ref video", "ref audio", "ref net")}

        def run_liberi():
            r = liberi.call("predict-raw")
            return float(r["ms"]), np.array([float(x) for x in r["y"].split(",")], dtype=np.float32)

        def run_liberi_pre():
            r = liberi.call("preprocess-raw")
            parts["liberi video"].append(float(r["video_ms"]))
            parts["liberi audio"].append(float(r["audio_ms"]))
            return float(r["ms"]), None

        def run_ref():
            r = ref.call(cmd="e2e")
            for k in ("video", "audio", "net"):
                parts[f"ref {k}"].append(r[f"{k}_ms"])
            return r["ms"], np.array(r["y"], dtype=np.float32)

        contenders = {"liberi": run_liberi, "liberi preprocessing": run_liberi_pre, "reference": run_ref}
        if baseline:
            contenders["baseline"] = lambda: (float(baseline.call("predict-raw")["ms"]), None)
        times, outs = interleaved(contenders, warm, reps, settle)
        med = {k: statistics.median(t) for k, t in times.items()}
        med |= {k: statistics.median(v[-reps:]) for k, v in parts.items()}  # the timed runs, not the warm-ups
        diff = max_diff(outs["liberi"], outs["reference"])
        ok &= diff <= NETWORK_TOLERANCE
        e2e.append({"threads": n, "ms": med, "diff": diff, "raw": shapes["raw"]})
        print(f"  end to end, {n} thread{'s' if n > 1 else ''}: liberi {med['liberi']:.1f} ms (preprocessing "
              f"{med['liberi preprocessing']:.1f}), ORT {med['ref net']:.1f} + reference preprocessing "
              f"{med['ref video'] + med['ref audio']:.1f} = {med['reference']:.1f} ms → "
              f"{med['liberi'] / med['reference']:.2f}×   max diff {diff:.2g}", flush=True)

    e2e = []
    if not args.no_e2e:
        shapes = json.load(open(os.path.join(d, "inputs.json")))
        n_raw, h, w, _ = shapes["raw"]
        for lib in [liberi] + ([baseline] if baseline else []):
            lib.call(f"raw {d}/raw_frames.u8 {w} {h} {n_raw} " + ",".join(str(x) for x in shapes["box"]))
            lib.call(f"pcm {data}/pcm{AUDIO_SECONDS}.f32")
        ref = PythonWorker("ORT + reference preprocessing", me + ["e2e"])
        ref.call(cmd="load", preset=preset)
        e2e_row(1, ref)
        e2e_row(2, ref)
        ref.close()

    def train_row(n):
        """One training step (batch 8) in liberi and PyTorch; the losses must agree to 1e-4 relative."""
        nonlocal ok
        liberi.call(f"threads {n}")
        torch_.call(cmd="threads", n=n)
        if baseline:
            baseline.call(f"threads {n}")
        losses = {}

        def run_liberi():
            r = liberi.call("train-step")
            return float(r["ms"]), float(r["loss"])

        def run_torch():
            r = torch_.call(cmd="train_step")
            return r["ms"], r["loss"]

        contenders = {"liberi": run_liberi, "PyTorch": run_torch}
        if baseline:
            contenders["baseline"] = lambda: (float(baseline.call("train-step")["ms"]), None)
        times, losses = interleaved(contenders, warm, args.reps, settle)  # training rows: seconds a step, the usual reps
        diffs = {"liberi loss (rel.)": abs(losses["liberi"] - losses["PyTorch"]) / abs(losses["PyTorch"])}
        ok &= diffs["liberi loss (rel.)"] <= TRAIN_LOSS_TOLERANCE
        # FLOPs: the forward's multiply-adds for 8 clips, ×3 for forward + backward (an estimate).
        r = Row(f"training step (batch {TRAIN_BATCH}), {n} thread{'s' if n > 1 else ''}", times,
                3 * TRAIN_BATCH * flops["both"], n, diffs, outputs=losses)
        rows.append(r)
        report(r)
        print(f"    losses: liberi {losses['liberi']:.7g}, PyTorch {losses['PyTorch']:.7g}", flush=True)

    if preset in args.train_presets.split(","):
        train_row(1)
        train_row(2)
        rss["after training"] = {"liberi": int(liberi.call("rss")["maxrss_kib"]),
                                 "PyTorch": torch_.call(cmd="rss")["maxrss_kib"]}
    for w in (liberi, ort, torch_) + ((baseline,) if baseline else ()):
        w.close()

    alt = blas["alternative"]
    if alt:  # liberi alone again, with the kernels the CPU allows; ratios against the rows above
        liberi = open_liberi(dict(liberi_env, OPENBLAS_CORETYPE=alt["name"]))
        for n in (1, 2):
            liberi.call(f"threads {n}")
            times, outs = interleaved({"liberi": lambda: liberi.run("both")}, warm, reps, settle)
            diffs = {"liberi": max_diff(outs["liberi"], network[n].outputs["PyTorch"])}
            ok &= diffs["liberi"] <= NETWORK_TOLERANCE
            r = Row(f"network, {n} thread{'s' if n > 1 else ''}, OPENBLAS_CORETYPE={alt['name']}", times,
                    flops["both"], n, diffs, reference=network[n].ms, ceiling=alt["ceiling"])
            rows.append(r)
            report(r)
        liberi.close()
    print(flush=True)
    return (cfg, steps, flops, rows, rss, e2e), ok


def mfcc_benchmark(args, data, me, one_thread, preset, liberi_env):
    """liberi's MFCC (1 thread) against librosa (one BLAS thread) on each length of MFCC_SECONDS;
    both are checked against the float64 librosa oracle. → (rows, agreement ok)."""
    d = os.path.join(data, preset)
    audio = json.load(open(os.path.join(d, "config.json")))["audio"]
    liberi = Liberi("eri-bench", [args.liberi_bench], env=liberi_env)
    librosa = PythonWorker("librosa", me + ["librosa"], env=one_thread)
    baseline = Liberi("baseline eri-bench", [args.baseline_bench], env=liberi_env) if args.baseline_bench else None
    for lib in [liberi] + ([baseline] if baseline else []):
        lib.call(f"load {d}/model.eri")
        lib.call("threads 1")
    rows, ok = [], True
    for seconds in MFCC_SECONDS:
        for lib in [liberi] + ([baseline] if baseline else []):
            lib.call(f"pcm {data}/pcm{seconds}.f32")
        shape = tuple(json.load(open(os.path.join(data, f"mfcc_oracle{seconds}.json")))["shape"])  # (T_a, n_mfcc)
        oracle = np.fromfile(os.path.join(data, f"mfcc_oracle{seconds}.f32"), dtype=np.float32).reshape(shape)

        def run_liberi():
            return float(liberi.call("mfcc-features")["ms"]), None

        def run_librosa():
            return librosa.call(cmd="mfcc", seconds=seconds, config=audio)["ms"], None

        contenders = {"liberi": run_liberi, "librosa": run_librosa}
        if baseline:
            contenders["baseline"] = lambda: (float(baseline.call("mfcc-features")["ms"]), None)
        times, _ = interleaved(contenders, args.warmup, MFCC_REPS_FACTOR * args.reps, args.settle)
        reply = liberi.call(f"mfcc-features {data}/liberi{seconds}.f32")
        got_shape = tuple(int(x) for x in reply["shape"].split("x"))
        if got_shape != shape:
            raise RuntimeError(f"liberi's MFCC of {seconds} s has shape {got_shape}; librosa's is {shape}")
        librosa.call(cmd="mfcc", seconds=seconds, config=audio, dump=f"{data}/librosa{seconds}.f32")
        diffs = {name: max_diff(np.fromfile(f"{data}/{name}{seconds}.f32", dtype=np.float32).reshape(shape), oracle)
                 for name in ("liberi", "librosa")}
        ok &= diffs["liberi"] <= MFCC_TOLERANCE
        r = Row(f"MFCC {seconds} s, 1 thread", times, None, 1, diffs)
        rows.append(r)
        print(f"  MFCC {seconds:3} s: " + "  ".join(
            f"{k} {v:7.1f} ms" if v is not None else f"{k} n/a" for k, v in r.ms.items())
            + "   max diff vs float64 librosa: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items()), flush=True)
    rss = {"liberi": int(liberi.call("rss")["maxrss_kib"]), "librosa": librosa.call(cmd="rss")["maxrss_kib"]}
    liberi.close()
    librosa.close()
    if baseline:
        baseline.close()
    for r in rows:
        r.rss = rss
    print(flush=True)
    return rows, ok


def fma_peak(args, data):
    """This CPU's FP32 FMA peak at 1 and 2 threads: benchmarks/fma_peak.c built with the system cc
    (-O2 -mavx2 -mfma, plus -mavx512f when the CPU has AVX-512). → {"per_core", 1, 2, "flags", …} or None."""
    flags = cpu_flags()
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc or not {"avx2", "fma"} <= flags:
        print("FMA peak: skipped (needs cc and an x86-64 CPU with AVX2 and FMA)\n", flush=True)
        return None
    cflags = ["-O2", "-mavx2", "-mfma"] + (["-mavx512f"] if "avx512f" in flags else [])
    exe = os.path.join(data, "fma_peak")
    subprocess.run([cc] + cflags + ["-pthread", os.path.join(HERE, "fma_peak.c"), "-o", exe], check=True)
    peak = {"flags": " ".join(cflags), "cc": os.path.basename(cc), "widths": {}}
    for n in (1, 2):
        out = subprocess.run([exe, str(n)], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = dict(kv.split("=") for kv in line.split())
            peak["widths"].setdefault(int(f["width"]), {})[n] = float(f["gflops"])
        peak[n] = max(w[n] for w in peak["widths"].values())
        time.sleep(args.settle)
    best = max(peak["widths"], key=lambda w: peak["widths"][w][1])
    peak["best_width"] = best
    peak["line"] = (f"FP32 FMA peak (benchmarks/fma_peak.c, {peak['cc']} {peak['flags']}, 12 independent FMA chains, "
                    f"best of 5): {peak[1]:.1f} GFLOP/s on 1 core ({best}-bit, {best // 32} lanes"
                    + "".join(f"; {w}-bit {v[1]:.1f}" for w, v in sorted(peak["widths"].items()) if w != best)
                    + f"), {peak[2]:.1f} GFLOP/s on 2 threads")
    print(peak["line"] + "\n", flush=True)
    return peak


def face_boxes_diff(a, b):
    """Largest |coordinate difference| (px) between two lists of [x1, y1, x2, y2, p] faces matched by best IoU;
    inf when the counts differ."""
    if len(a) != len(b):
        return float("inf")

    def iou(p, q):
        w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
        h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
        inter = w * h
        return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)

    worst = 0.0
    for p in a:
        q = max(b, key=lambda q: iou(p, q))
        worst = max(worst, max(abs(x - y) for x, y in zip(p[:4], q[:4])))
    return worst


def face_benchmark(args, data, me, liberi_env):
    """MTCNN on the 640×480 photograph at 1 and 2 threads: liberi (`FaceDetector.detect`) against facenet-pytorch,
    interleaved; the boxes must agree to FACE_TOLERANCE px. → ({"rows", "faces"}, ok)."""
    h, w = FACE_SIZE
    liberi = Liberi("eri-bench", [args.liberi_bench], env=liberi_env)
    liberi.call(f"detector {args.face_model} {FACE_MIN}")
    facenet = PythonWorker("facenet-pytorch", me + ["facenet"])
    rows, ok, found = [], True, {}

    def liberi_faces(r):
        return [] if r["boxes"] == "-" else [[float(x) for x in f.split(",")] for f in r["boxes"].split(";")]

    for n in (1, 2):
        liberi.call(f"threads {n}")
        facenet.call(cmd="threads", n=n)

        def run_liberi():
            r = liberi.call(f"detect {data}/face.rgb {w} {h}")
            return float(r["ms"]), liberi_faces(r)

        def run_facenet():
            r = facenet.call(cmd="detect")
            return r["ms"], r["faces"]

        times, outputs = interleaved({"liberi": run_liberi, "facenet-pytorch": run_facenet},
                                     args.warmup, args.reps, args.settle)
        diff = face_boxes_diff(outputs["liberi"], outputs["facenet-pytorch"])
        ok &= diff <= FACE_TOLERANCE
        found = outputs
        r = Row(f"MTCNN {w}×{h}, min face {FACE_MIN}, {n} thread{'s' if n > 1 else ''}", times, None, n,
                {"liberi": diff})
        rows.append(r)
        print(f"  detection {n} thread{'s' if n > 1 else ''}: liberi {r.ms['liberi']:.1f} ms, facenet-pytorch "
              f"{r.ms['facenet-pytorch']:.1f} ms ({r.ms['liberi'] / r.ms['facenet-pytorch']:.2f}×); "
              f"{len(outputs['liberi'])} face(s), boxes within {diff:.2g} px", flush=True)
    liberi.close()
    facenet.close()
    print(flush=True)
    return {"rows": rows, "faces": found}, ok


def face_cells(faces):
    header = ["face detection", "liberi ms", "facenet-pytorch ms", "liberi ÷ facenet-pytorch", "target", "faces",
              "max box diff"]
    cells = []
    for r in faces["rows"]:
        lib, ref = r.ms["liberi"], r.ms["facenet-pytorch"]
        target = "≤ 10 ms and ≤ 0.33×" if r.threads == 1 else ""
        cells.append([r.label, f"**{lib:.1f}**", f"{ref:.1f}", f"**{lib / ref:.2f}×**", target,
                      str(len(faces["faces"]["liberi"])), f"{r.diffs['liberi']:.2g} px"])
    return header, cells


def stream_benchmark(args, data, liberi_env):
    """ModelStream (STREAM_PRESET, 1 thread) on a synthetic live source, fed as fast as it goes: `stream-reps`
    runs of `stream-seconds` media seconds after `stream-warmup`; medians over the runs (max: the largest).
    With --baseline-bench, the baseline's runs alternate with liberi's and its medians come back as "baseline"."""
    d = os.path.join(data, STREAM_PRESET)
    cfg = json.load(open(os.path.join(d, "config.json")))
    sides = {"liberi": args.liberi_bench} | ({"baseline": args.baseline_bench} if args.baseline_bench else {})
    with_faces = bool(args.face_model) and os.path.exists(args.face_model)

    def worker(name, binary, preset, faces=False):
        w = Liberi(f"{name} eri-bench", [binary], env=liberi_env)
        w.call(f"load {data}/{preset}/model.eri" + (f" {args.face_model}" if faces else ""))
        w.call("threads 1")
        w.call(f"pcm {data}/pcm{AUDIO_SECONDS}.f32")
        return w

    def stream(w):
        return {k: float(v) for k, v in w.call(
            f"stream-bench {args.stream_seconds:g} {args.stream_read_every:g} {args.stream_warmup:g}").items()}

    workers = {name: worker(name, binary, STREAM_PRESET, faces=with_faces and name == "liberi") for name, binary in sides.items()}
    small = worker(STREAM_SMALL_PRESET, args.liberi_bench, STREAM_SMALL_PRESET)
    runs = {name: [] for name in sides}
    for i in range(args.stream_reps):
        for name, w in workers.items():
            r = stream(w)
            runs[name].append(r)
            print(f"  stream {STREAM_PRESET} {name} run {i + 1}: {r['media_s']:.0f} s of media in {r['cpu_s']:.2f} s CPU → RTF "
                  f"{r['rtf']:.4f}; read p50 {r['read_p50_ms']:.1f} / p99 {r['read_p99_ms']:.1f} / max "
                  f"{r['read_max_ms']:.1f} ms; frame push mean {r['frame_mean_ms']:.2f} ms, max {r['frame_max_ms']:.1f} ms",
                  flush=True)
            time.sleep(args.settle)
        if with_faces:
            # The same stream on a photograph without boxes: the stream finds the face itself.
            w = workers["liberi"]
            h, wd = FACE_SIZE
            w.call(f"stream-photo {data}/face.rgb {wd} {h}")
            r = stream(w)
            runs.setdefault("faces", []).append(r)
            print(f"  stream {STREAM_PRESET} with face detection run {i + 1}: RTF {r['rtf']:.4f}; frame push mean "
                  f"{r['frame_mean_ms']:.2f} ms, max {r['frame_max_ms']:.1f} ms; face coverage {r['face_coverage']:.2f}",
                  flush=True)
            time.sleep(args.settle)
        r = stream(small)
        runs.setdefault("small", []).append(r)
        print(f"  stream {STREAM_SMALL_PRESET} run {i + 1}: RTF {r['rtf']:.4f}; read p99 {r['read_p99_ms']:.1f} ms; "
              f"frame push mean {r['frame_mean_ms']:.2f} ms", flush=True)
        time.sleep(args.settle)
    for w in list(workers.values()) + [small]:
        w.close()
    med = {name: {k: (max if k.endswith("max_ms") else statistics.median)(r[k] for r in rs) for k in rs[0]}
           for name, rs in runs.items()}
    print(flush=True)
    return {"preset": STREAM_PRESET, "frames": cfg["video"]["frames"], "image_size": cfg["video"]["image_size"],
            "runs": runs["liberi"], "median": med["liberi"], "baseline": med.get("baseline"), "faces": med.get("faces"),
            "small": med["small"]}


def memory_benchmark(args, data, liberi_env):
    """The current RSS of eri-bench (/proc/self/statm) every `hour-every` media seconds over a stream of
    `hour-seconds` (HOUR_PRESET, 1 thread); fails when it grew by MEMORY_GROWTH_LIMIT or more between
    the warm-up point and the end. → (result, ok)."""
    d = os.path.join(data, HOUR_PRESET)
    liberi = Liberi("eri-bench", [args.liberi_bench], env=liberi_env)
    liberi.call(f"load {d}/model.eri")
    liberi.call("threads 1")
    liberi.call(f"pcm {data}/pcm{AUDIO_SECONDS}.f32")
    r = liberi.call(f"stream-memory {args.hour_seconds:g} {args.hour_every:g} {args.stream_read_every:g}")
    liberi.close()
    samples = [(float(t), int(k)) for t, k in (x.split(":") for x in r["rss"].split(","))]
    warm_at = min(args.hour_warmup, args.hour_seconds / 2)
    warm = next(x for x in samples if x[0] >= warm_at)
    end = samples[-1]
    growth = (end[1] - warm[1]) * 1024
    after = [k for t, k in samples if t >= warm[0]]
    ok = growth < MEMORY_GROWTH_LIMIT
    result = {"preset": HOUR_PRESET, "samples": samples, "start": samples[0], "warm": warm, "end": end,
              "growth": growth, "max_after": max(after), "min_after": min(after), "ok": ok,
              "rtf": float(r["rtf"]), "wall_s": float(r["wall_s"])}
    print(f"  memory, {HOUR_PRESET} stream of {end[0]:.0f} s: RSS {samples[0][1] / 1024:.1f} MiB at 0 s, "
          f"{warm[1] / 1024:.1f} MiB at {warm[0]:.0f} s, {end[1] / 1024:.1f} MiB at {end[0]:.0f} s: growth "
          f"{growth / 1e6:+.3f} MB{'' if ok else '  FAIL (≥ 1 MB)'} (RTF {result['rtf']:.4f}, {result['wall_s']:.0f} s)\n",
          flush=True)
    return result, ok


# ---------------------------------------------------------------- tables

def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.system()} {platform.release()}"


def fmt_ms(v):
    return "n/a" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def fmt_ratio(a, b):
    return "" if a is None or b is None else f"{a / b:.2f}×"


def table_rows(rows, ceiling):
    """→ header, and one list of cells per row."""
    header = ["", "liberi ms", "ORT ms", "PyTorch / librosa ms", "liberi÷ORT", "liberi÷PyTorch",
              "liberi GFLOP/s", "% of sgemm", "max diff"]
    with_baseline = any("baseline" in r.ms for r in rows)
    if with_baseline:
        header[4:4] = ["baseline ms", "liberi÷baseline"]
    out = []
    for r in rows:
        lib = r.ms.get("liberi")
        ort = r.ms.get("ORT", r.reference.get("ORT"))
        pt = r.ms.get("PyTorch", r.ms.get("librosa", r.reference.get("PyTorch")))
        gflops = pct = ""
        if r.flops and lib:
            g = r.flops / (lib * 1e6)
            gflops, pct = f"{g:.1f}", f"{100 * g / (r.ceiling or ceiling)[r.threads]:.0f} %"
            if r.real_flops:
                gflops += f" ({r.real_flops / (lib * 1e6):.1f} real taps)"
        elif r.flops and ort:  # the backbone alone: liberi's is not reachable yet, show the others'
            gflops = f"(ORT {r.flops / (ort * 1e6):.1f}, PT {r.flops / (pt * 1e6):.1f})"
        diff = ", ".join(f"{k} {v:.1e}" for k, v in r.diffs.items())
        lib_cell = fmt_ms(lib) if lib is not None else (r.note or "n/a†")
        if r.reference:  # other contenders' times come from another row
            ort_cell, pt_cell = f"({fmt_ms(ort)})", f"({fmt_ms(pt)})"
        else:
            ort_cell, pt_cell = (fmt_ms(ort) if "ORT" in r.ms else "—"), fmt_ms(pt)
        cells = [r.label, lib_cell, ort_cell, pt_cell, fmt_ratio(lib, ort), fmt_ratio(lib, pt), gflops, pct, diff]
        if with_baseline:
            base = r.ms.get("baseline")
            cells[4:4] = [fmt_ms(base) if base is not None else "", fmt_ratio(lib, base)]
        out.append(cells)
    return header, out


def md_table(header, cells):
    return (["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]
            + ["| " + " | ".join(c) + " |" for c in cells])


def console_table(header, cells):
    widths = [max(len(str(c[i])) for c in [header] + cells) for i in range(len(header))]
    return ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in [header] + cells]


def e2e_cells(e2e):
    """The end-to-end table of one preset."""
    header = ["end to end, one clip", "liberi ms", "liberi preprocessing ms (video + audio)", "ORT network ms",
              "reference preprocessing ms (video + audio)", "ORT + reference ms", "liberi ÷ (ORT + reference)",
              "liberi preprocessing ÷ reference's", "max diff"]
    cells = []
    for e in e2e:
        m, n = e["ms"], e["threads"]
        ref_pre = m["ref video"] + m["ref audio"]
        base = [] if "baseline" not in m else [fmt_ms(m["baseline"]), fmt_ratio(m["liberi"], m["baseline"])]
        cells.append([f"{n} thread{'s' if n > 1 else ''}", fmt_ms(m["liberi"])] + base + [
                      f"{fmt_ms(m['liberi preprocessing'])} ({fmt_ms(m['liberi video'])} + {fmt_ms(m['liberi audio'])})",
                      fmt_ms(m["ref net"]), f"{fmt_ms(ref_pre)} ({fmt_ms(m['ref video'])} + {fmt_ms(m['ref audio'])})",
                      fmt_ms(m["reference"]), f"**{m['liberi'] / m['reference']:.2f}×**",
                      f"{m['liberi preprocessing'] / ref_pre:.2f}×", f"{e['diff']:.1e}"])
    if any("baseline" in e["ms"] for e in e2e):
        header[2:2] = ["baseline ms", "liberi÷baseline"]
    return header, cells


def peak_cells(rows, fma):
    """The backbone rows' real-tap GFLOP/s as a share of the FMA peak at the same thread count."""
    header = ["backbone, real taps", "FMA peak GFLOP/s", "liberi GFLOP/s", "liberi % of peak", "ORT GFLOP/s",
              "ORT % of peak"]
    cells = []
    for r in rows:
        if not r.label.startswith("backbone alone") or not r.real_flops:
            continue
        peak = fma[r.threads]
        cell = []
        for name in ("liberi", "ORT"):
            ms = r.ms.get(name)
            g = r.real_flops / (ms * 1e6) if ms else None
            cell += ["n/a", ""] if g is None else [f"{g:.1f}", f"{100 * g / peak:.0f} %"]
        cells.append([f"{r.threads} thread{'s' if r.threads > 1 else ''}", f"{peak:.1f}"] + cell)
    return header, cells


def stream_cells(stream, args):
    m = stream["median"]
    per_s = lambda k: f"{1e3 * m[k] / m['media_s']:.1f}"  # noqa: E731 — ms of CPU per media second
    header = ["streaming, 1 thread", "value", "target"]
    cells = [
        ["real-time factor: process CPU (user + sys) ÷ media seconds", f"**{m['rtf']:.4f}**", "≤ 0.05"],
        ["read latency p50 / p99 / max", f"{m['read_p50_ms']:.1f} / {m['read_p99_ms']:.1f} / {m['read_max_ms']:.1f} ms", ""],
        ["frame push (pushFrame) mean / p50 / p99 / max",
         f"{m['frame_mean_ms']:.2f} / {m['frame_p50_ms']:.2f} / {m['frame_p99_ms']:.1f} / {m['frame_max_ms']:.1f} ms", ""],
        ["PCM push (pushPCM, 20 ms chunk) mean / p99", f"{m['pcm_mean_ms']:.3f} / {m['pcm_p99_ms']:.3f} ms", ""],
        ["where the time goes, ms per media second: frames / reads / PCM",
         f"{per_s('frame_total_s')} / {per_s('read_total_s')} / {per_s('pcm_total_s')}", "sum ≤ 50"],
    ]
    f = stream.get("faces")
    if f:
        h, w = FACE_SIZE
        cells.append([f"with face detection (a {w - 80}×{h - 80} view panning over a photograph, no boxes: MTCNN every "
                      "5 frames used, R-/O-Net refinement between): real-time factor; frame push mean / max",
                      f"**{f['rtf']:.4f}**; {f['frame_mean_ms']:.2f} / {f['frame_max_ms']:.1f} ms "
                      f"(face coverage {f['face_coverage']:.2f})", "reported"])
    s = stream["small"]
    cells.append([f"{STREAM_SMALL_PRESET} (host boxes): real-time factor; read p99; ms per media second: frames / reads / PCM",
                  f"**{s['rtf']:.4f}**; {s['read_p99_ms']:.1f} ms; {1e3 * s['frame_total_s'] / s['media_s']:.1f} / "
                  f"{1e3 * s['read_total_s'] / s['media_s']:.1f} / {1e3 * s['pcm_total_s'] / s['media_s']:.1f}", "≤ 0.01"])
    b = stream.get("baseline")
    if b:
        cells.append(["baseline: real-time factor (liberi ÷ baseline); read p50 / p99",
                      f"{b['rtf']:.4f} ({m['rtf'] / b['rtf']:.2f}×); {b['read_p50_ms']:.1f} / {b['read_p99_ms']:.1f} ms", ""])
    return header, cells


def memory_cells(memory):
    header = ["memory over a long stream", "RSS MiB"]
    mib = lambda k: f"{k / 1024:.1f}"  # noqa: E731
    cells = [[f"at {t:.0f} s of media", mib(k)] for t, k in (memory["start"], memory["warm"], memory["end"])]
    cells += [[f"largest / smallest from {memory['warm'][0]:.0f} s on", f"{mib(memory['max_after'])} / {mib(memory['min_after'])}"],
              [f"growth from {memory['warm'][0]:.0f} s to {memory['end'][0]:.0f} s (fails at ≥ 1 MB)",
               f"**{memory['growth'] / 1e6:+.3f} MB** ({'ok' if memory['ok'] else 'FAIL'})"]]
    return header, cells


def render(tables, mfcc_rows, blas, busy, args, command, started, fma=None, stream=None, memory=None, faces=None):
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    busy_text = ", ".join(f"{k} {100 * v:.0f} %" for k, v in busy.items() if v is not None)
    head = [
        f"{date} · {machine()}",
        blas["line"] + " (through ERICore `gemm`).",
    ] + ([fma["line"] + "."] if fma else []) + [
        f"Command: `{command}` — median of {args.reps} interleaved runs after {args.warmup} warm-up per row, "
        f"{args.settle:g} s settle after each run (MFCC rows, and the network and end-to-end rows of presets under {SHORT_GFLOP:g} GFLOP a clip: "
        f"{MFCC_REPS_FACTOR * args.reps} runs); random weights; "
        f"batch 1 (training rows: batch {TRAIN_BATCH}).",
        f"Share of the CPUs that other processes used (should be ≈ 0 %): {busy_text}.",
    ]
    legend = (
        "Ratios are liberi's time over the other's (below 1 = liberi faster). ORT: onnxruntime "
        "CPU provider, intra-op n threads, inter-op 1, sequential, all graph optimisations. PyTorch: eager, "
        "`torch.set_num_threads(n)`, `inference_mode` (training rows: autograd). max diff: largest |output − PyTorch| over the 7 "
        "outputs (backbone: over the whole map; MFCC: against librosa in float64; training rows: "
        "|liberi's loss − PyTorch's| / PyTorch's). Times in parentheses "
        "come from the row with the same thread count above.")
    lines_md = ["# liberi benchmark", ""] + [h + "  " for h in head] + ["", legend, ""]
    console = head + [""]
    for preset, (cfg, steps, flops, rows, rss, e2e) in tables.items():
        v = cfg["video"]
        title = (f"{preset}: {v['frames']} frames × {v['image_size']}², {steps} MFCC steps (10 s) · "
                 f"network {flops['both'] / 1e9:.2f} GFLOP, backbone {flops['backbone'] / 1e9:.2f} GFLOP dense "
                 f"({flops['backbone_real'] / 1e9:.2f} on taps touching real pixels)")
        header, cells = table_rows(rows + mfcc_rows, blas["ceiling"])
        rss_line = (f"Peak RSS after the network rows: eri-bench {rss['liberi'] / 1024:.0f} MiB · "
                    f"ORT worker {rss['ORT'] / 1024:.0f} MiB · PyTorch worker {rss['PyTorch'] / 1024:.0f} MiB; "
                    f"MFCC processes: eri-bench {mfcc_rows[0].rss['liberi'] / 1024:.0f} MiB · "
                    f"librosa worker {mfcc_rows[0].rss['librosa'] / 1024:.0f} MiB (Python workers include "
                    "the interpreter and their imports).")
        if "after training" in rss:
            t = rss["after training"]
            rss_line += (f" After the training rows: eri-bench {t['liberi'] / 1024:.0f} MiB · "
                         f"PyTorch worker {t['PyTorch'] / 1024:.0f} MiB.")
        lines_md += [f"## {title}", "", "| " + " | ".join(header) + " |",
                     "|" + "|".join(["---"] + ["--:"] * (len(header) - 2) + ["---"]) + "|"]
        lines_md += ["| " + " | ".join(c) + " |" for c in cells]
        lines_md += ["", rss_line, ""]
        widths = [max(len(str(c[i])) for c in [header] + cells) for i in range(len(header))]
        console += [title, "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
        console += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                    for row in cells]
        console += [rss_line, ""]
        extra = []
        if e2e:
            n_raw, h, w, _ = e2e[0]["raw"]
            extra.append((f"End to end, {preset}: `Model.predict(frames:audio:)` on {n_raw} raw RGB24 frames of "
                          f"{w}×{h} with a face box {tuple(RAW_BOX)} + {AUDIO_SECONDS} s of {cfg['audio']['sample_rate'] // 1000} kHz "
                          "mono float PCM, against the reference's preprocessing (eri_ref.features) + ORT", e2e_cells(e2e)))
        if fma and any(r.label.startswith("backbone alone") and r.real_flops for r in rows):
            extra.append((f"Backbone against the FMA peak, {preset} (real-tap GFLOP/s: "
                          f"{flops['backbone_real'] / 1e9:.2f} GFLOP over the median time)", peak_cells(rows, fma)))
        for sub, (header, cells) in extra:
            lines_md += [f"### {sub}", ""] + md_table(header, cells) + [""]
            console += [sub] + console_table(header, [[c.replace("**", "") for c in row] for row in cells]) + [""]
    if faces:
        h, w = FACE_SIZE
        sub = (f"Face detection: MTCNN on a {w}×{h} RGB24 photograph (scikit-image's astronaut on a grey field), "
               f"minimum face {FACE_MIN} px, thresholds 0.6/0.7/0.7, pyramid step 0.709: liberi's `FaceDetector.detect` "
               "against facenet-pytorch 2.6.0's `MTCNN.detect` (CPU, `torch.set_num_threads(n)`), the same weights")
        header, cells = face_cells(faces)
        lines_md += [f"## {sub}", ""] + md_table(header, cells) + [""]
        console += [sub] + console_table(header, [[c.replace("**", "") for c in row] for row in cells]) + [""]
    if stream:
        m = stream["median"]
        sub = (f"Streaming: ModelStream, {stream['preset']} ({stream['frames']} frames × {stream['image_size']}², "
               f"window 10 s), 1 thread — a synthetic 25 fps 320×240 RGB24 + 16 kHz mono source in 20 ms chunks, "
               f"fed as fast as it goes, a read every {args.stream_read_every:g} s of media; {m['media_s']:.0f} s of media "
               f"after {args.stream_warmup:g} s of warm-up, median of {len(stream['runs'])} run{'s' if len(stream['runs']) > 1 else ''}")
        header, cells = stream_cells(stream, args)
        lines_md += [f"## {sub}", ""] + md_table(header, cells) + [""]
        console += [sub] + console_table(header, [[c.replace("**", "") for c in row] for row in cells]) + [""]
    if memory:
        sub = (f"Memory over a {memory['end'][0] / 60:.0f}-minute stream: ModelStream, {memory['preset']} (not dbn-base, "
               f"to keep `make bench` short), 1 thread, the source above, current RSS of the process every "
               f"{args.hour_every:g} s of media")
        header, cells = memory_cells(memory)
        lines_md += [f"## {sub}", ""] + md_table(header, cells) + [""]
        console += [sub] + console_table(header, [[c.replace("**", "") for c in row] for row in cells]) + [""]
    notes = [
        "† liberi's backbone (`ResNetBackbone`) is internal to ERIModel; until a public hook exists, the "
        "video-branch row bounds it from above (backbone ≤ video branch), and the backbone row shows "
        "ORT's and PyTorch's GFLOP/s instead.",
    ] if any(r.ms.get("liberi") is None and r.flops for t in tables.values() for r in t[3]) else []
    notes += [
        "GFLOP/s: multiply-adds ×2 of every conv (2·C_out·C_in·k²·H_out·W_out per image), linear layer and "
        "attention product, over liberi's median time; element-wise work is left out. MFCC rows: the "
        "third column is librosa (float32 PCM, the SPEC §4.2 arguments, one BLAS thread); the MFCC "
        "config is the same in both presets.",
        f"Training rows: one step of {TRAIN_BATCH} clips (the bench clip, clip i rotated by i frames and "
        f"i·⌊T/{TRAIN_BATCH}⌋ MFCC steps), timed from zeroing the gradients through the backward pass: liberi's "
        "`Parameters.zeroGradients` + `TrainingNetwork.step`, PyTorch's `zero_grad` + train-mode forward + "
        "`eri_loss` (pcc_weight from the config, 1) + `backward`, float32, dropout and modality dropout 0 on both "
        "sides; no optimiser update. Their GFLOP/s count 3× the forward's multiply-adds (forward + backward, an "
        "estimate).",
    ]
    if any(t[5] for t in tables.values()):
        notes.append(
            "End-to-end rows: liberi's time is one `Model.predict(frames:audio:)` from the raw frames and PCM (SPEC §4 "
            "preprocessing, then the network); its preprocessing alone is `preprocessClip` + `AudioPreprocessor.features`, "
            "timed in separate calls. The other side is one Python call: `eri_ref.features.preprocess_video` (crop, "
            "F.interpolate, colour, normalisation, float64 as the reference computes), `preprocess_audio` (librosa MFCC, "
            "pooling), then ORT on the whole network; ORT + reference = their sum. n threads there: torch and every "
            "BLAS/OpenMP pool (threadpoolctl) limited to n, ORT intra-op n. max diff: |liberi − ORT| on the 7 outputs.")
    if fma:
        notes.append("Backbone against the FMA peak: the backbone rows' FLOPs on taps touching real pixels over each "
                     "side's median time, as a share of the FMA peak measured with the same number of threads.")
    if stream:
        notes.append(
            "Streaming: one eri-bench process feeds `ModelStream` frames (`pushFrame`, views into a panning texture "
            "with a drifting face box, so making a frame costs nothing) and 20 ms PCM chunks (`pushPCM`) in timestamp "
            "order, and calls `read()` every 0.5 s of media time. Real-time factor: the process's user + system CPU "
            "time (getrusage) over the timed media seconds; latencies are the wall time of each call. The `pushFrame` "
            "that settles a sample time computes that frame's vector (backbone, spatial attention, projection), so "
            "its cost is in the p99/max; most pushes only check the timestamp or keep the pixels.")
    if memory:
        notes.append(
            f"Memory: the same source and reads; RSS is /proc/self/statm's resident pages (current, not the peak). "
            f"The run fails (exit status 1) when it grows by {MEMORY_GROWTH_LIMIT / 1e6:g} MB or more between "
            f"{memory['warm'][0]:.0f} s and the end.")
    notes += [
        f"Total wall time {time.time() - started:.0f} s.",
    ]
    lines_md += notes + [""]
    console += [legend, ""] + notes
    return {"markdown": "\n".join(lines_md), "console": "\n".join(console)}


if __name__ == "__main__":
    sys.exit(main())

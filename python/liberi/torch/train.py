# mypy: ignore-errors
"""liberi's training recipe in PyTorch, on liberi's preprocessed-clip cache; runs under torchrun.

    eri cache build --data DATA                                   # liberi preprocesses, once
    python -m liberi.torch.train --cache DATA/.eri-cache --out model.eri [--preset dbn-small] [--epochs 12]
    torchrun --nproc_per_node 2 -m liberi.torch.train --cache ... --out model.eri     # gloo on CPU
    torchrun --nnodes 2 --nproc_per_node 8 ... -m liberi.torch.train --device cuda ...  # NCCL on GPUs

The recipe of `eri train` (docs/training.md): AdamW (β 0.9/0.999, ε 1e-8, decoupled weight decay on
tensors of two or more dimensions), linear warm-up over half an epoch then cosine to 5 % of the peak,
global gradient-norm clipping, the SPEC §5 loss (MSE + pcc_weight·(1 − mean Pearson r across the
batch)), dropout and modality dropout, `audio.norm.*` from the training split's MFCC, batches and
augmentations as liberi's (liberi.torch.cache). The batch is global: `--batch B` clips per step
whatever the number of processes; each process takes a contiguous slice, BatchNorm statistics and the
loss (whose Pearson term spans the batch) are computed over the whole batch, so a DDP step equals a
one-process step on the same batch. Every step's draws (augmentation, modality dropout, dropout)
come from (seed, epoch, step, rank), so `--resume OUT.ckpt.pt` continues exactly.
"""

import argparse
import json
import math
import os
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist

from . import cache as cache_mod
from . import model as model_mod
from .config import audio_only, from_json, preset, to_json, video_only
from .eri_file import load_model, save_model
from .model import ERIModel, eri_loss


def _mix(*parts):
    """A 64-bit seed from several integers (splitmix64 steps)."""
    x = 0x243F6A8885A308D3
    for p in parts:
        x = cache_mod.SeededGenerator((x ^ (p & ((1 << 64) - 1))) & ((1 << 64) - 1)).next()
    return x


class _GatherRows(torch.autograd.Function):
    """All ranks' (b_r, 7) rows → (Σ b_r, 7) on every rank; the backward sums the gradients over
    ranks (each rank's loss is the same global loss) and returns this rank's rows."""

    @staticmethod
    def forward(ctx, y, sizes, rank, group):
        ctx.sizes, ctx.rank, ctx.group = sizes, rank, group
        longest = max(sizes)
        padded = torch.zeros((longest,) + tuple(y.shape[1:]), dtype=y.dtype, device=y.device)
        padded[: y.shape[0]] = y
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded, group=group)
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, g):
        g = g.contiguous().clone()
        dist.all_reduce(g, group=ctx.group)
        start = sum(ctx.sizes[: ctx.rank])
        return g[start: start + ctx.sizes[ctx.rank]], None, None, None


def lr_at(step, peak, warmup, total, floor=0.05):
    """liberi's LearningRateSchedule.rate(at:) (float32 there; double here)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return peak * (floor + (1 - floor) * cosine)


def pearson(pred, labels):
    """Per emotion, as liberi's pearsonPerEmotion (zero variance → 0)."""
    out = []
    for e in range(pred.shape[1]):
        a, b = pred[:, e].astype(np.float64), labels[:, e].astype(np.float64)
        a, b = a - a.mean(), b - b.mean()
        d = (a * a).sum() * (b * b).sum()
        out.append(float((a * b).sum() / math.sqrt(d)) if d > 0 else 0.0)
    return out


def slice_of(n, world, rank):
    """Rank's contiguous part of n items (np.array_split sizes)."""
    sizes = [len(p) for p in np.array_split(np.arange(n), world)]
    start = sum(sizes[:rank])
    return sizes, range(start, start + sizes[rank])


def _to(batch, device, dtype):
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
    for k in ("frames", "mfcc", "targets"):
        if k in t:
            t[k] = t[k].to(device=device, dtype=dtype)
    if "audio_lengths" in t:
        t["audio_lengths"] = t["audio_lengths"].to(device)
    return t


class Trainer:
    def __init__(self, args):
        self.args = a = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if a.device == "cuda":
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device(a.device)
        self.group = None
        if self.world > 1:
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
            self.group = dist.new_group(backend="nccl" if self.device.type == "cuda" else "gloo")
            model_mod.COLLECTIVE_GROUP = self.group
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[a.dtype]
        if a.threads:
            torch.set_num_threads(a.threads)

    def log(self, text):
        if self.rank == 0:
            print(text, flush=True)

    def config(self):
        a = self.args
        if a.init:
            _, cfg = load_model(a.init)
        elif a.config:
            with open(a.config) as f:
                cfg = from_json(f.read())
        else:
            cfg = preset(a.preset)
        if a.modality == "audio":
            cfg = audio_only(cfg)
        if a.modality == "video":
            cfg = video_only(cfg)
        if a.modality_dropout is not None:
            cfg.setdefault("train", {})["modality_dropout"] = a.modality_dropout
        if a.dropout is not None:
            cfg.setdefault("train", {})["dropout"] = a.dropout
        return cfg

    def run(self):
        a = self.args
        cfg = self.config()
        train = cache_mod.load_clips(a.cache, "Train", cfg)
        val = cache_mod.load_clips(a.cache, "Val", cfg)
        if not train:
            raise SystemExit(f"{a.cache}: no cached Train clips for this config (eri cache build)")
        self.log(f"clips: {len(train)} train, {len(val)} val; {self.world} process(es), device {self.device}, {a.dtype}")

        torch.manual_seed(a.seed)
        if a.init:
            model, _ = load_model(a.init)
            fresh = ERIModel(cfg)
            fresh.load_state_dict(model.state_dict())
            model = fresh
        else:
            model = ERIModel(cfg)
            if cfg.get("audio") is not None:
                mean, std = cache_mod.mfcc_statistics(train, cfg["audio"]["mfcc"]["n_mfcc"])
                model.audio.norm.mean.copy_(torch.from_numpy(mean))
                model.audio.norm.std.copy_(torch.from_numpy(std))
        model = model.to(device=self.device, dtype=self.dtype).train()
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        other = [p for n, p in model.named_parameters() if p.ndim <= 1]
        optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                       {"params": other, "weight_decay": 0.0}],
                                      lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
        steps_per_epoch = (len(train) + a.batch - 1) // a.batch
        if a.max_steps:
            steps_per_epoch = min(steps_per_epoch, a.max_steps)
        warmup, total = max(1, steps_per_epoch // 2), steps_per_epoch * a.epochs
        start_epoch, best, history = 0, -math.inf, []
        if a.resume:
            ck = torch.load(a.resume, map_location=self.device, weights_only=False)
            if ck.get("config") != to_json(cfg):
                raise SystemExit(f"{a.resume}: not a checkpoint of this config")
            model.load_state_dict(ck["model"])
            optimiser.load_state_dict(ck["optimiser"])
            start_epoch, best, history = ck["epoch"], ck["best_mean_pcc"], ck["history"]
        net = model
        if self.world > 1:
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*")
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None, broadcast_buffers=False)
        pcc_weight = cfg.get("train", {}).get("pcc_weight", 1.0)
        md = model.modality_dropout if (model.video is not None and model.audio is not None) else 0.0

        for epoch in range(start_epoch, a.epochs):
            rng = cache_mod.SeededGenerator((a.seed * 0x9E3779B9 + epoch + 1) & ((1 << 64) - 1))
            order = list(range(len(train)))
            for i in range(len(order) - 1, 0, -1):
                j = rng.next() % (i + 1)
                order[i], order[j] = order[j], order[i]
            started, loss_sum = time.time(), 0.0
            done = 0
            for s in range(steps_per_epoch):
                clips = order[s * a.batch:(s + 1) * a.batch]
                if len(clips) < self.world:
                    # A last batch with fewer clips than processes is skipped (its step still counts
                    # in the schedule, which stays that of one process).
                    continue
                done += 1
                loss_sum += self.step(net, model, optimiser, [train[i] for i in clips],
                                      cfg, epoch, s, md, pcc_weight,
                                      lr_at(epoch * steps_per_epoch + s, a.lr, warmup, total))
                if a.dump_step:
                    self.dump(model, a.dump_step)
                    return
            record = {"epoch": epoch + 1, "loss": loss_sum / max(done, 1)}
            if val:
                record["val"] = pearson(*self.predict(model, val, cfg))
            history.append(record)
            mean = sum(record.get("val", [0.0])) / 7
            self.log(f"epoch {epoch + 1}/{a.epochs}: train loss {record['loss']:.4f}, val mean PCC {mean:.4f}, "
                     f"{time.time() - started:.1f} s")
            if self.rank == 0:
                if mean > best or not os.path.exists(a.out):
                    best = max(best, mean)
                    provenance = {"trainer": "liberi.torch.train", "cache": a.cache, "train_clips": len(train),
                                  "val_clips": len(val), "epoch": epoch + 1, "seed": a.seed, "processes": self.world,
                                  "device": str(self.device.type), "recipe": a.recipe}
                    metrics = {"split": "val", "mean_pcc": mean,
                               **{f"pcc.{n}": r for n, r in zip(cfg["emotions"], record.get("val", [0.0] * 7))}}
                    save_model(model, cfg, a.out, provenance=json.dumps(provenance), metrics=metrics)
                ck = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch + 1,
                      "best_mean_pcc": best, "history": history, "config": to_json(cfg)}
                tmp = a.out + ".ckpt.pt.tmp"
                torch.save(ck, tmp)
                os.replace(tmp, a.out + ".ckpt.pt")
            if self.world > 1:
                dist.barrier()
            if a.stop_after and epoch + 1 >= a.stop_after:
                break
        if self.world > 1:
            dist.destroy_process_group()

    def step(self, net, model, optimiser, clips, cfg, epoch, s, md, pcc_weight, lr):
        a = self.args
        sizes, mine = slice_of(len(clips), self.world, self.rank)
        rng = cache_mod.SeededGenerator(_mix(a.seed, epoch, s))
        batch = cache_mod.make_batch(clips, cfg, True, rng, only=mine)
        keep = np.ones((len(clips), 2), np.float32)            # modality dropout, per clip of the global batch
        if md > 0:
            for i in range(len(clips)):
                if rng.uniform(0, 1) < md:
                    keep[i, 0 if rng.uniform(0, 1) < 0.5 else 1] = 0
        torch.manual_seed(_mix(a.seed, epoch, s, self.rank + 1))   # dropout
        t = _to(batch, self.device, self.dtype)
        sl = slice(mine.start, mine.stop)
        y = net(frames=t["frames"][sl] if "frames" in t else None, mfcc=t["mfcc"][sl] if "mfcc" in t else None,
                audio_lengths=t["audio_lengths"][sl] if "mfcc" in t else None,
                keep=torch.from_numpy(keep[sl]).to(self.device))
        if self.world > 1:
            y = _GatherRows.apply(y, sizes, self.rank, self.group)
        loss = eri_loss(y, t["targets"], pcc_weight)
        optimiser.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
        for g in optimiser.param_groups:
            g["lr"] = lr
        optimiser.step()
        return float(loss.detach())

    @torch.no_grad()
    def predict(self, model, clips, cfg, batch=16):
        model.eval()
        preds = []
        for i in range(0, len(clips), batch):
            t = _to(cache_mod.make_batch(clips[i:i + batch], cfg, False, None), self.device, self.dtype)
            preds.append(model(frames=t.get("frames"), mfcc=t.get("mfcc"), audio_lengths=t.get("audio_lengths")).float().cpu().numpy())
        model.train()
        return np.concatenate(preds), np.stack([c.labels for c in clips])

    def dump(self, model, path):
        """Test hook: the parameters and BatchNorm statistics after the first step (rank 0)."""
        if self.rank == 0:
            from safetensors.torch import save_file
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="the cache folder (eri cache build; default of eri: DATA/.eri-cache)")
    ap.add_argument("--out", required=True, help="the .eri to write (best validation mean PCC); OUT.ckpt.pt after each epoch")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--preset", default="dbn-small")
    src.add_argument("--config", help="config JSON file")
    src.add_argument("--init", help="start from this .eri's weights and config")
    ap.add_argument("--modality", choices=["both", "audio", "video"], default="both")
    ap.add_argument("--modality-dropout", type=float)
    ap.add_argument("--dropout", type=float, help="override the config's train.dropout")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8, help="clips per step over all processes")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per process: LOCAL_RANK)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")
    ap.add_argument("--resume", help="OUT.ckpt.pt of an earlier run with the same config")
    ap.add_argument("--max-steps", type=int, help="at most this many steps per epoch (tests)")
    ap.add_argument("--stop-after", type=int, help="stop after this epoch (the schedule stays that of --epochs)")
    ap.add_argument("--dump-step", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.recipe = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                           if v is not None and k not in ("cache", "out", "dump_step", "resume", "stop_after"))
    if not (0 < args.lr < 1) or args.batch < 1 or args.epochs < 1:
        ap.error("--lr must be in (0, 1), --batch and --epochs at least 1")
    try:
        Trainer(args).run()
    except (OSError, ValueError, KeyError) as e:   # a missing cache or index, a config mismatch, a bad file
        raise SystemExit(f"liberi.torch.train: {e}")


if __name__ == "__main__":
    main()

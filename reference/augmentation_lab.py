"""How fast a video-only dbn-small learns under liberi's frame augmentation, in PyTorch.

The reference model (eri_ref) trained on the clips liberi's trainer cached (run
`eri train --preset dbn-small --modality video --data DIR ...` once first, so that
DIR/.eri-cache holds the decoded frames: 2F per training clip, F per validation clip),
with the trainer's recipe: AdamW (decay on 2+-D tensors), warm-up + cosine, clipping
to 1, batch 8, frame jitter, and the augmentation of ERITrain/Batching.swift with the
ranges given here. Prints training loss and validation mean PCC per epoch; the same
--seed gives the same initialisation and batches, so ranges compare like for like.

    python reference/augmentation_lab.py --data build/ablation/data --epochs 8 --variant swiftaug --smin 0.85 --bri 0.1 --con 0.2
    python reference/augmentation_lab.py --data build/ablation/data --epochs 8 --variant swiftaug --smin 0.9 --bri 0.05 --con 0.1
    python reference/augmentation_lab.py --data build/ablation/data --epochs 8 --variant flip
"""
import sys, glob, json, struct, csv, time, argparse
import numpy as np, torch, torch.nn.functional as F
import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref import model as M, config as C
from safetensors.numpy import load_file
ap = argparse.ArgumentParser()
ap.add_argument('--data', required=True, help='a corpus folder whose .eri-cache liberi filled')
ap.add_argument('--variant', default='swiftaug', choices=['swiftaug', 'flip', 'noaug']); ap.add_argument('--epochs', type=int, default=6)
ap.add_argument('--lr', type=float, default=5e-4); ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--pcc', type=float, default=1.0); ap.add_argument('--smin', type=float, default=0.85); ap.add_argument('--bri', type=float, default=0.1); ap.add_argument('--con', type=float, default=0.2); ap.add_argument('--seed', type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)
D = a.data
labels, split = {}, {}
for r in csv.DictReader(open(D + '/data_info.csv')):
    i = r['File_ID'].strip('[]'); split[i] = r['Split']
    labels[i] = np.array([float(r[k]) for k in ['Adoration','Amusement','Anxiety','Disgust','Empathic-Pain','Fear','Surprise']], np.float32)
train, val = {}, {}
for p in glob.glob(D + '/.eri-cache/*.safetensors'):
    f = open(p, 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
    if 'frames' not in h: continue
    cid = h['__metadata__']['clip']; fr = load_file(p)['frames']
    if fr.shape[0] == 32 and split[cid] == 'Train': train[cid] = (fr, labels[cid])
    if fr.shape[0] == 16 and split[cid] == 'Val': val[cid] = (fr, labels[cid])
train, val = list(train.values()), list(val.values())
print(len(train), 'train', len(val), 'val', flush=True)
cfg = C.video_only(C.preset('dbn-small'))
net = M.ERIModel(cfg)
decay, nodecay = [], []
for n_, p in net.named_parameters(): (nodecay if p.ndim == 1 else decay).append(p)
groups = [{'params': decay, 'weight_decay': 0.01}, {'params': nodecay, 'weight_decay': 0.0}]
opt = torch.optim.AdamW(groups, lr=a.lr)
def loss_fn(y, t):
    mse = F.mse_loss(y, t)
    yc, tc = y - y.mean(0), t - t.mean(0)
    r = (yc * tc).sum(0) / (yc.norm(dim=0) * tc.norm(dim=0) + 1e-8)
    return mse + a.pcc * (1 - r.mean())
def pcc(P, T):
    return np.mean([np.corrcoef(P[:, e], T[:, e])[0, 1] for e in range(7)])
steps = (len(train) + 7) // 8; total = steps * a.epochs; warm = max(1, steps // 2); k = 0
for ep in range(a.epochs):
    net.train(); order = rng.permutation(len(train)); ls = []; t0 = time.time()
    for s in range(steps):
        idx = order[s * 8:(s + 1) * 8]
        fr = np.stack([train[i][0][2 * np.arange(16) + rng.integers(0, 2, 16)] for i in idx])
        if a.variant == 'swiftaug':
            Sz = fr.shape[-1]
            for b in range(len(idx)):
                flip = rng.random() < 0.5; sc = rng.uniform(a.smin, 1.0); side = Sz * sc
                left = rng.uniform(0, Sz - side); top = rng.uniform(0, Sz - side)
                con = rng.uniform(1 - a.con, 1 + a.con); bri = rng.uniform(-a.bri, a.bri)
                yy = top + (np.arange(Sz) + 0.5) * sc - 0.5
                xs = np.arange(Sz); xs = Sz - 1 - xs if flip else xs
                xx = left + (xs + 0.5) * sc - 0.5
                y0 = np.clip(np.floor(yy).astype(int), 0, Sz - 1); y1 = np.minimum(Sz - 1, y0 + 1); wy = np.clip(yy - y0, 0, 1)
                x0 = np.clip(np.floor(xx).astype(int), 0, Sz - 1); x1 = np.minimum(Sz - 1, x0 + 1); wx = np.clip(xx - x0, 0, 1)
                img = fr[b]
                v = (img[..., y0, :][..., x0] * (1 - wx) + img[..., y0, :][..., x1] * wx) * (1 - wy)[:, None] \
                  + (img[..., y1, :][..., x0] * (1 - wx) + img[..., y1, :][..., x1] * wx) * wy[:, None]
                pix = (v * 0.5 + 0.5 - 0.5) * con + 0.5 + bri
                fr[b] = (pix - 0.5) / 0.5
        elif a.variant == 'flip':
            flip = rng.random(len(idx)) < 0.5
            fr[flip] = fr[flip][..., ::-1]
        x = torch.from_numpy(np.ascontiguousarray(fr)); t = torch.from_numpy(np.stack([train[i][1] for i in idx]))
        lr = a.lr * (k + 1) / warm if k < warm else a.lr * 0.5 * (1 + np.cos(np.pi * (k - warm) / max(1, total - warm)))
        for g in opt.param_groups: g['lr'] = lr
        y = net(frames=x); loss = loss_fn(y, t)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0); opt.step(); k += 1
        ls.append(loss.item())
    net.eval(); P = []
    with torch.no_grad():
        for i in range(0, len(val), 16):
            P.append(net(frames=torch.from_numpy(np.stack([v[0] for v in val[i:i + 16]]))).numpy())
    P = np.concatenate(P); T = np.stack([v[1] for v in val])
    print(f'{a.variant} smin {a.smin} bri {a.bri} con {a.con} epoch {ep + 1}: train loss {np.mean(ls):.3f} val PCC {pcc(P, T):.3f} ({time.time() - t0:.0f}s)', flush=True)

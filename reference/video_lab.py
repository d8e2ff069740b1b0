"""Why a video-only dbn-small learns slowly: the PyTorch control for issue 14.

The reference model (eri_ref) trained on the clips liberi's trainer cached (run
`eri train --modality video --data DIR ...` once first, so that DIR/.eri-cache
holds the decoded frames: 2F per training clip, F per validation clip), with
liberi's recipe by default (AdamW with decay on 2+-D tensors, warm-up of half an
epoch + cosine to 5 %, clipping to 1, batch 8, frame jitter, liberi's
augmentation ranges, MSE + PCC loss). Each knob changes one thing of that recipe:

  --lr / --warmup (epochs) / --wd / --pcc (PCC loss weight) / --aug swiftaug|flip|noaug
  --bn train|frozen-after:N   BatchNorm in train mode (batch statistics over B·F frames),
                              or its statistics frozen (eval mode) after epoch N
  --zero-gamma                the last BatchNorm of each residual block starts at γ = 0
  --lr-backbone / --lr-temporal / --lr-head   multipliers of the peak rate per group
                              (backbone = video.backbone.*, head = head.*, temporal = the rest)

Prints per epoch: training loss, validation mean PCC with running BatchNorm statistics
(eval mode, what a saved model does) and with batch statistics (train mode, no dropout):
a large gap between the two says the running statistics are the problem.

    python reference/video_lab.py --data build/learn/c7 --epochs 12
    python reference/video_lab.py --data build/learn/c7 --epochs 12 --lr 2e-3 --lr-backbone 1 --lr-head 0.25
"""
import argparse, csv, glob, json, os, struct, sys, time
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eri_ref import model as M, config as C
from safetensors.numpy import load_file

ap = argparse.ArgumentParser()
ap.add_argument('--data', required=True)
ap.add_argument('--epochs', type=int, default=12); ap.add_argument('--batch', type=int, default=8)
ap.add_argument('--lr', type=float, default=5e-4); ap.add_argument('--warmup', type=float, default=0.5)
ap.add_argument('--wd', type=float, default=0.01); ap.add_argument('--pcc', type=float, default=1.0)
ap.add_argument('--aug', default='swiftaug', choices=['swiftaug', 'flip', 'noaug'])
ap.add_argument('--bn', default='train'); ap.add_argument('--zero-gamma', action='store_true')
ap.add_argument('--lr-backbone', type=float, default=1.0); ap.add_argument('--lr-temporal', type=float, default=1.0)
ap.add_argument('--lr-head', type=float, default=1.0)
ap.add_argument('--threads', type=int, default=1); ap.add_argument('--seed', type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)
EMO = ['Adoration', 'Amusement', 'Anxiety', 'Disgust', 'Empathic-Pain', 'Fear', 'Surprise']
labels, split = {}, {}
for r in csv.DictReader(open(a.data + '/data_info.csv')):
    i = r['File_ID'].strip('[]'); split[i] = r['Split']
    labels[i] = np.array([float(r[k]) for k in EMO], np.float32)
cfg = C.video_only(C.preset('dbn-small')); Fr = cfg['video']['frames']
train, val = {}, {}
for p in glob.glob(a.data + '/.eri-cache/*.safetensors'):
    with open(p, 'rb') as f:
        h = json.loads(f.read(struct.unpack('<Q', f.read(8))[0]))
    if 'frames' not in h: continue
    cid = h['__metadata__']['clip']; fr = load_file(p)['frames']
    if fr.shape[0] == 2 * Fr and split[cid] == 'Train': train[cid] = (fr, labels[cid])
    if fr.shape[0] == Fr and split[cid] == 'Val': val[cid] = (fr, labels[cid])
train, val = [train[k] for k in sorted(train)], [val[k] for k in sorted(val)]
print(len(train), 'train', len(val), 'val', vars(a), flush=True)
net = M.ERIModel(cfg)
if a.zero_gamma:
    for m in net.modules():
        if isinstance(m, M.BasicBlock): torch.nn.init.zeros_(m.bn2.weight)
groups = {}
for n_, p in net.named_parameters():
    g = 'backbone' if n_.startswith('video.backbone.') else 'head' if n_.startswith('head.') else 'temporal'
    groups.setdefault((g, p.ndim > 1), []).append(p)
mult = {'backbone': a.lr_backbone, 'temporal': a.lr_temporal, 'head': a.lr_head}
opt = torch.optim.AdamW([{'params': ps, 'weight_decay': a.wd if decays else 0.0, 'mult': mult[g]}
                         for (g, decays), ps in groups.items()], lr=a.lr)

def loss_fn(y, t):
    yc, tc = y - y.mean(0), t - t.mean(0)
    r = (yc * tc).sum(0) / (yc.norm(dim=0) * tc.norm(dim=0) + 1e-8)
    return F.mse_loss(y, t) + a.pcc * (1 - r.mean())

def pcc(P, T): return float(np.mean([np.corrcoef(P[:, e], T[:, e])[0, 1] for e in range(7)]))

def augment(fr):
    Sz = fr.shape[-1]
    for b in range(len(fr)):
        flip = rng.random() < 0.5
        if a.aug == 'flip':
            if flip: fr[b] = fr[b][..., ::-1]
            continue
        sc = rng.uniform(0.9, 1.0); side = Sz * sc
        left = rng.uniform(0, Sz - side); top = rng.uniform(0, Sz - side)
        con = rng.uniform(0.9, 1.1); bri = rng.uniform(-0.05, 0.05)
        yy = top + (np.arange(Sz) + 0.5) * sc - 0.5
        xs = np.arange(Sz); xs = Sz - 1 - xs if flip else xs
        xx = left + (xs + 0.5) * sc - 0.5
        y0 = np.clip(np.floor(yy).astype(int), 0, Sz - 1); y1 = np.minimum(Sz - 1, y0 + 1); wy = np.clip(yy - y0, 0, 1)
        x0 = np.clip(np.floor(xx).astype(int), 0, Sz - 1); x1 = np.minimum(Sz - 1, x0 + 1); wx = np.clip(xx - x0, 0, 1)
        img = fr[b]
        v = (img[..., y0, :][..., x0] * (1 - wx) + img[..., y0, :][..., x1] * wx) * (1 - wy)[:, None] \
          + (img[..., y1, :][..., x0] * (1 - wx) + img[..., y1, :][..., x1] * wx) * wy[:, None]
        fr[b] = ((v * 0.5 + 0.5 - 0.5) * con + 0.5 + bri - 0.5) / 0.5
    return fr

def set_bn_eval(model, frozen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d): m.train(not frozen)

def predict(batch_stats):
    net.eval()
    if batch_stats: set_bn_eval(net, False)
    out = []
    with torch.no_grad():
        for i in range(0, len(val), 16):
            out.append(net(frames=torch.from_numpy(np.stack([v[0] for v in val[i:i + 16]]))).numpy())
    return np.concatenate(out)

bn_freeze = int(a.bn.split(':')[1]) if a.bn.startswith('frozen-after:') else None
steps = (len(train) + a.batch - 1) // a.batch; total = steps * a.epochs; warm = max(1, int(steps * a.warmup)); k = 0
T = np.stack([v[1] for v in val])
for ep in range(a.epochs):
    net.train()
    if bn_freeze is not None and ep >= bn_freeze: set_bn_eval(net, True)
    order = rng.permutation(len(train)); ls = []; t0 = time.time()
    for s in range(steps):
        idx = order[s * a.batch:(s + 1) * a.batch]
        fr = np.stack([train[i][0][2 * np.arange(Fr) + rng.integers(0, 2, Fr)] for i in idx])
        if a.aug != 'noaug': fr = augment(fr)
        x = torch.from_numpy(np.ascontiguousarray(fr)); t = torch.from_numpy(np.stack([train[i][1] for i in idx]))
        lr = a.lr * (k + 1) / warm if k < warm else a.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1, (k - warm) / max(1, total - warm)))))
        for g in opt.param_groups: g['lr'] = lr * g['mult']
        loss = loss_fn(net(frames=x), t)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0); opt.step(); k += 1
        ls.append(loss.item())
    ev, bt = pcc(predict(False), T), pcc(predict(True), T)
    print(f'epoch {ep + 1}: train loss {np.mean(ls):.3f} val PCC {ev:.3f} (batch-stat BN {bt:.3f}) {time.time() - t0:.0f}s', flush=True)

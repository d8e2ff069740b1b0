#!/usr/bin/env python3
"""Face test material for liberi's detector and tracker (SPEC §4.1a), made from the
photographs that scikit-image ships, with every true box known by construction.

    python reference/face_scenes.py OUT_DIR [--seed 0] [--no-video] [--video-frames K]

Generated, never committed: tests call it with a temporary folder. Deterministic for a
given seed (numpy's PCG64, PIL's resampling, x264 with fixed settings in one thread).
Writes into OUT_DIR:

  astronaut.png          skimage.data.astronaut(), 512×512 RGB (a real photograph)
  camera.png             skimage.data.camera(), 512×512 grey, written as RGB
  scenes/faceNN_sS.png   640×480: lfw_subset face NN (20 of them) as an S×S tile,
                         S = 40, 80, 140, on a textured background: 60 images, one face each
  group.png              640×480: eight faces at once (seven lfw_subset tiles of 56–120 px
                         and the astronaut's head at 0.8×), none overlapping
  truth.json             the true boxes of everything above (schema below)
  video.mp4              the "real-face video": H.264 (yuv420p), 25 fps, 8 s (200 frames),
                         640×480. The astronaut's head moves across the frame, scales
                         0.6–1.4×, rolls ±20°, the whole frame's brightness swings 0.6–1.3×,
                         and a second face (an lfw_subset tile, 96 px) enters from the right
                         at 2.4 s, crosses the lower part of the frame and leaves by 6.2 s
  video.json             the main face's box in every frame (schema below)
  video_frames/frame_NNN.png   with --video-frames K: every K-th frame of video.mp4 as
                         decoded by ffmpeg (what a detector reading the file sees)

The faces. skimage.data.lfw_subset() is 200 grey 25×25 crops: the first 100 are LFW faces
cropped tightly (brows to chin), the last 100 are not faces. The scenes use faces 0–19
(scale scenes) and 20–26 (group) and 30 (passer-by), upscaled with bicubic resampling from
25 px to the tile size (so a 140 px tile is soft), tinted with a skin-like colour (R, G, B
gains 1.0, 0.84, 0.72: grey × gain) and pasted with a 6 % feathered border; a tile's true
box is the whole tile. The astronaut's head is a 210×240 crop of astronaut.png with a
feathered elliptical mask; its true face box is REFERENCE_BOX (facenet-pytorch's
detection on astronaut.png, rounded to whole pixels) carried through the same similarity
transform: centred on the transformed centre of REFERENCE_BOX, its width and height times
the scale (the upright box of the rolled face, not the bounding box of the rotated one).

truth.json:
  {"generator": "reference/face_scenes.py", "seed": 0,
   "images": [{"file": "scenes/face03_s80.png", "width": 640, "height": 480,
               "faces": [{"box": [x, y, w, h], "source": "lfw_subset[3]"}]},   # pixels,
              ...                                  # x, y the top-left corner, floats
              {"file": "astronaut.png", ..., "faces": null}]}   # photographs: not known

video.json:
  {"file": "video.mp4", "fps": 25, "frames": 200, "width": 640, "height": 480,
   "duration_s": 8.0, "seed": 0, "main_source": "astronaut", "reference_box": [...],
   "passer_by_source": "lfw_subset[30]",
   "truth": [{"frame": i, "time": i / 25, "x": ..., "y": ..., "w": ..., "h": ...,   # main face
              "scale": s, "roll_deg": r, "brightness": g,
              "passer_by": [x, y, w, h] or null,       # null while wholly outside the frame;
                                                     # the box may extend past the frame edge
              "passer_by_visible": f or null}]}      # the fraction of its width inside
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 640, 480
FPS = 25
SECONDS = 8
SCALES = (40, 80, 140)
SCENE_FACES = range(20)
GROUP_FACES = range(20, 27)
PASSER_FACE = 30
TINT = np.array([1.0, 0.84, 0.72])
# The astronaut's head sprite: a crop of astronaut.png, the face box inside the photograph
# (facenet-pytorch 2.6.0 MTCNN on astronaut.png: 181.05, 62.16, 267.75, 172.05), and the
# ellipse of the mask, all in astronaut.png's pixels.
HEAD_CROP = (120, 0, 330, 240)
REFERENCE_BOX = (181.0, 62.0, 268.0, 172.0)  # x1, y1, x2, y2
HEAD_ELLIPSE = (224.0, 108.0, 80.0, 104.0)  # centre x, y, semi-axes


def skimage_data():
    from skimage import data

    faces = data.lfw_subset()[:100]  # 25×25 float in [0, 1]; 100..199 are not faces
    # (gravel() is left out: MTCNN finds ~22 px "faces" among its pebbles at min_face_size 20)
    return data.astronaut(), data.camera(), faces, data.brick(), data.grass()


# -- backgrounds

def noise(rng, w, h, cells=(96, 48, 24, 12, 6), falloff=0.6):
    """Multi-octave value noise in about [-1, 1]: random grids upsampled bicubically."""
    out = np.zeros((h, w), np.float64)
    amp, total = 1.0, 0.0
    for c in cells:
        grid = rng.normal(size=(h // c + 3, w // c + 3)).astype(np.float32)
        big = np.asarray(Image.fromarray(grid, "F").resize(((w // c + 3) * c, (h // c + 3) * c), Image.BICUBIC))
        ox, oy = rng.integers(0, c), rng.integers(0, c)
        out += amp * big[oy: oy + h, ox: ox + w]
        total += amp
        amp *= falloff
    return out / total


def background(rng, textures):
    """640×480 RGB uint8: a colour gradient, value noise, a grey texture photograph from
    scikit-image (brick or grass) blended in, and a few soft shapes."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    angle = rng.uniform(0, 2 * math.pi)
    t = ((xx - W / 2) * math.cos(angle) + (yy - H / 2) * math.sin(angle)) / max(W, H) + 0.5
    c0, c1 = rng.uniform(40, 210, 3), rng.uniform(40, 210, 3)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img += 45 * noise(rng, W, H)[..., None] * rng.uniform(0.5, 1.0, 3)
    tex = textures[rng.integers(len(textures))]
    k = rng.uniform(1.0, 2.0)
    tex = np.asarray(Image.fromarray(tex).resize((int(tex.shape[1] * k), int(tex.shape[0] * k)), Image.BICUBIC),
                     np.float64)
    reps = (math.ceil(H / tex.shape[0]) + 1, math.ceil(W / tex.shape[1]) + 1)
    tex = np.tile(tex, reps)
    oy, ox = rng.integers(0, tex.shape[0] - H), rng.integers(0, tex.shape[1] - W)
    tex = tex[oy: oy + H, ox: ox + W]
    img += rng.uniform(0.25, 0.5) * (tex - tex.mean())[..., None]
    base = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.integers(4, 9)):
        x0, y0 = rng.uniform(-100, W), rng.uniform(-100, H)
        x1, y1 = x0 + rng.uniform(40, 260), y0 + rng.uniform(30, 200)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3)) + (int(rng.integers(50, 130)),)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    for _ in range(rng.integers(2, 6)):
        pts = [(rng.uniform(0, W), rng.uniform(0, H)) for _ in range(2)]
        draw.line(pts, fill=tuple(int(v) for v in rng.integers(0, 256, 3)) + (110,), width=int(rng.integers(2, 9)))
    layer = layer.filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB"))


# -- faces

def tile(face, size):
    """An lfw_subset face (25×25 grey float) as a size×size RGB float image and its alpha."""
    grey = Image.fromarray(np.clip(face * 255 + 0.5, 0, 255).astype(np.uint8))
    grey = np.asarray(grey.resize((size, size), Image.BICUBIC), np.float64)
    rgb = np.clip(grey[..., None] * TINT, 0, 255)
    feather = max(2.0, 0.06 * size)
    d = np.arange(size) + 0.5
    edge = np.minimum(d, size - d) / feather
    ramp = np.clip(edge, 0, 1)
    alpha = np.minimum(ramp[:, None], ramp[None, :])
    return rgb, alpha


def paste(canvas, rgb, alpha, x, y):
    """Alpha-blends rgb (h×w×3 float) into canvas (float, H×W×3) at integer (x, y), clipped."""
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - y: y1 - y, x0 - x: x1 - x, None]
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - a) + rgb[y0 - y: y1 - y, x0 - x: x1 - x] * a


class Head:
    """The astronaut's head as a sprite that can be scaled, rolled and placed."""

    def __init__(self, astronaut):
        cx0, cy0, cx1, cy1 = HEAD_CROP
        self.rgb = Image.fromarray(astronaut[cy0:cy1, cx0:cx1])
        yy, xx = np.mgrid[cy0:cy1, cx0:cx1].astype(np.float64) + 0.5
        ex, ey, ax, ay = HEAD_ELLIPSE
        r = np.sqrt(((xx - ex) / ax) ** 2 + ((yy - ey) / ay) ** 2)
        alpha = np.clip((1.0 - r) / 0.12, 0, 1)  # feathered over the outer 12 % of the ellipse
        self.alpha = Image.fromarray((alpha * 255 + 0.5).astype(np.uint8))
        self.origin = (cx0, cy0)
        bx0, by0, bx1, by1 = REFERENCE_BOX
        self.centre = ((bx0 + bx1) / 2 - cx0, (by0 + by1) / 2 - cy0)  # face centre in the crop
        self.size = (bx1 - bx0, by1 - by0)

    def render(self, canvas, cx, cy, scale, roll_deg):
        """Draws the head so that the face centre lands on (cx, cy), scaled, rolled by roll_deg
        (positive: counter-clockwise on screen); returns the true face box [x, y, w, h]."""
        th = math.radians(roll_deg)
        c, s = math.cos(th), math.sin(th)
        # output pixel (u, v) -> crop pixel: p = R(-th) (q - centre_out) / scale + centre_crop,
        # with y down, counter-clockwise on screen: q = centre_out + scale · R(th) (p - centre_crop)
        # where R(th) = [[c, s], [-s, c]] in (x, y-down) coordinates.
        a, b = c / scale, -s / scale
        d, e = s / scale, c / scale
        # PIL's affine map takes continuous coordinates (pixel i covers [i, i + 1)) to
        # continuous coordinates, as the boxes are written: no half-pixel terms
        ucx, ucy = self.centre
        coeffs = (a, b, ucx - (a * cx + b * cy), d, e, ucy - (d * cx + e * cy))
        rgb = np.asarray(self.rgb.transform((W, H), Image.AFFINE, coeffs, Image.BICUBIC), np.float64)
        alpha = np.asarray(self.alpha.transform((W, H), Image.AFFINE, coeffs, Image.BICUBIC), np.float64) / 255
        canvas[:] = canvas * (1 - alpha[..., None]) + rgb * alpha[..., None]
        w, h = self.size[0] * scale, self.size[1] * scale
        return [cx - w / 2, cy - h / 2, w, h]


def r4(values):
    return [round(float(v), 4) for v in values]


# -- the material

def scale_scenes(rng, faces, textures, out, records):
    os.makedirs(os.path.join(out, "scenes"), exist_ok=True)
    for i in SCENE_FACES:
        for size in SCALES:
            canvas = background(rng, textures).astype(np.float64)
            rgb, alpha = tile(faces[i], size)
            x = int(rng.integers(16, W - size - 16))
            y = int(rng.integers(16, H - size - 16))
            paste(canvas, rgb, alpha, x, y)
            name = "scenes/face%02d_s%d.png" % (i, size)
            save(canvas, os.path.join(out, name))
            records.append({"file": name, "width": W, "height": H,
                            "faces": [{"box": [float(x), float(y), float(size), float(size)],
                                       "source": "lfw_subset[%d]" % i}]})


def group_scene(rng, faces, head, textures, out, records):
    canvas = background(rng, textures).astype(np.float64)
    placed = []
    # the astronaut first (the largest), then the tiles where they fit
    scale = 0.8
    hw, hh = 210 * scale, 240 * scale  # the sprite's extent around the face
    hx, hy = 120.0, 250.0
    placed.append((hx - hw / 2, hy - hh / 2, hw, hh))
    box = head.render(canvas, hx, hy, scale, 0.0)
    found = [{"box": r4(box), "source": "astronaut"}]
    for i in GROUP_FACES:
        size = int(rng.integers(56, 121))
        for _ in range(1000):
            x, y = int(rng.integers(8, W - size - 8)), int(rng.integers(8, H - size - 8))
            if all(x + size + 10 < px or px + pw + 10 < x or y + size + 10 < py or py + ph + 10 < y
                   for px, py, pw, ph in placed):
                break
        else:
            raise RuntimeError("group: no room for face %d" % i)
        placed.append((x, y, size, size))
        rgb, alpha = tile(faces[i], size)
        paste(canvas, rgb, alpha, x, y)
        found.append({"box": [float(x), float(y), float(size), float(size)], "source": "lfw_subset[%d]" % i})
    save(canvas, os.path.join(out, "group.png"))
    records.append({"file": "group.png", "width": W, "height": H, "faces": found})


def smooth(t, lo, hi, period, phase=0.0):
    return lo + (hi - lo) * 0.5 * (1 - math.cos(2 * math.pi * t / period + phase))


def video(rng, faces, head, textures, out, seed, every):
    frames = FPS * SECONDS
    back = background(rng, textures).astype(np.float64)
    passer_rgb, passer_alpha = tile(faces[PASSER_FACE], 96)
    p_y = int(rng.integers(330, 360))
    truth = []
    path = os.path.join(out, "video.mp4")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", "%dx%d" % (W, H), "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "medium",
           "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1", "-fflags", "+bitexact",
           "-flags:v", "+bitexact", "-map_metadata", "-1", path]
    enc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        for i in range(frames):
            t = i / FPS
            canvas = back.copy()
            # the passer-by, behind the main face: right to left along the lower band
            passer, visible = None, None
            if 2.4 <= t <= 6.2:
                x = int(round(W + 4 - (t - 2.4) / 3.8 * (W + 104)))
                paste(canvas, passer_rgb, passer_alpha, x, p_y)
                if x < W and x + 96 > 0:
                    passer = [float(x), float(p_y), 96.0, 96.0]
                    visible = round((min(x + 96, W) - max(x, 0)) / 96, 4)
            # the main face: across and back, up and down, growing and shrinking, rolling
            cx = smooth(t, 170, 470, 8.0)
            cy = smooth(t, 150, 250, 4.0, 0.6)
            scale = smooth(t, 0.6, 1.4, 5.3, 0.0)
            roll = 20.0 * math.sin(2 * math.pi * t / 3.1)
            box = head.render(canvas, cx, cy, scale, roll)
            gain = smooth(t, 0.6, 1.3, 6.0, 1.0)
            frame = np.clip(canvas * gain + 0.5, 0, 255).astype(np.uint8)
            enc.stdin.write(frame.tobytes())
            truth.append({"frame": i, "time": round(t, 4), "x": round(box[0], 4), "y": round(box[1], 4),
                          "w": round(box[2], 4), "h": round(box[3], 4), "scale": round(scale, 4),
                          "roll_deg": round(roll, 4), "brightness": round(gain, 4), "passer_by": passer,
                          "passer_by_visible": visible})
    finally:
        enc.stdin.close()
        if enc.wait() != 0:
            raise RuntimeError("ffmpeg failed to encode %s" % path)
    meta = {"file": "video.mp4", "fps": FPS, "frames": frames, "width": W, "height": H,
            "duration_s": float(SECONDS), "seed": seed, "main_source": "astronaut",
            "reference_box": list(REFERENCE_BOX), "passer_by_source": "lfw_subset[%d]" % PASSER_FACE,
            "truth": truth}
    with open(os.path.join(out, "video.json"), "w") as f:
        json.dump(meta, f, indent=1)
    if every:
        folder = os.path.join(out, "video_frames")
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path, "-vf",
                        "select=not(mod(n\\,%d))" % every, "-vsync", "0", "-start_number", "0",
                        os.path.join(folder, "frame_%03d.png")], check=True)
        # ffmpeg numbers the selected frames 0, 1, 2…: name them by their frame index
        for k, name in enumerate(sorted(os.listdir(folder))):
            os.rename(os.path.join(folder, name), os.path.join(folder, "tmp_%03d.png" % (k * every)))
        for name in sorted(os.listdir(folder)):
            os.rename(os.path.join(folder, name), os.path.join(folder, name.replace("tmp_", "frame_")))


def save(canvas, path):
    # compress_level 1: noisy scenes compress poorly, and zlib's effort would be most of the time
    Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8)).save(path, compress_level=1)


def generate(out, seed=0, with_video=True, video_frames=0):
    os.makedirs(out, exist_ok=True)
    astronaut, camera, faces, brick, grass = skimage_data()
    textures = [brick, grass]
    rng = np.random.default_rng(seed)
    head = Head(astronaut)
    records = []
    Image.fromarray(astronaut).save(os.path.join(out, "astronaut.png"))
    Image.fromarray(camera).convert("RGB").save(os.path.join(out, "camera.png"))
    records += [{"file": "astronaut.png", "width": 512, "height": 512, "faces": None},
                {"file": "camera.png", "width": 512, "height": 512, "faces": None}]
    scale_scenes(np.random.default_rng([seed, 1]), faces, textures, out, records)
    group_scene(np.random.default_rng([seed, 2]), faces, head, textures, out, records)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump({"generator": "reference/face_scenes.py", "seed": seed, "images": records}, f, indent=1)
    if with_video:
        video(np.random.default_rng([seed, 3]), faces, head, textures, out, seed, video_frames)
    del rng
    return records


def main(argv=None):
    ap = argparse.ArgumentParser(description="face test material (see the module docstring)")
    ap.add_argument("out", help="folder to write into (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-video", action="store_true", help="stills only")
    ap.add_argument("--video-frames", type=int, default=0, metavar="K",
                    help="also decode every K-th frame of video.mp4 into video_frames/")
    args = ap.parse_args(argv)
    records = generate(args.out, args.seed, not args.no_video, args.video_frames)
    n = sum(len(r["faces"] or []) for r in records)
    print("%s: %d images, %d composited faces%s" % (args.out, len(records), n,
                                                     "" if args.no_video else ", video.mp4 (200 frames)"),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

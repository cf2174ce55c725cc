"""Synthetic damage for TRAINING the learned defect detector (issue 17).

Deliberately unlike the benchmark's generator (benchmarks/damage.py: quadratic Bezier hairlines of
constant width, round specks, polygon blotches, all pushed towards near-white or near-black at one
strength per photo), so that the bench measures generalisation rather than memorised strokes:

- fibres: random walks whose heading drifts (hair-like curls), their width modulated by a sine;
- scratches: polylines of a few straight segments with kinks, sometimes broken into dashes;
- specks: Gaussian-profile spots, round or elongated, each its own size and strength;
- stains: low-frequency noise thresholded into irregular soft-edged patches, mostly faint;
- spots (opt-in, ``spot_rate``): the same noise cut with a hard edge into small opaque patches
  (3-12 px; mould, ink, lifted emulsion), which no other kind resembles.

Every element has its own tone: bright, dark, a colour, or a faint shift of the photo's own value
(low contrast, down to ~0.1 opacity). Edges are antialiased (drawn at 4x and box-filtered) and
sometimes blurred. A share of crops gets no damage at all (negatives), so the detector learns that
clean texture is not damage.

The training target is the damage that shows: opacity above ``ON_ALPHA`` and a visible change.
Pixels of faint rims or invisible damage (e.g. a white fibre on white sky) get weight 0: neither
answer is wrong there.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .blur import gaussian_blur

SUPER = 4  # supersampling factor of the stroke canvas (antialiased edges)
ON_ALPHA = 0.35  # opacity from which a pixel counts as damaged
OFF_ALPHA = 0.06  # below this, undamaged; between the two, ignored in the loss
VISIBLE = 0.03  # smallest change (0-1 scale, largest over channels) that counts as damage


@dataclass
class Damaged:
    image: np.ndarray  # H x W x C float32 in [0, 1]
    target: np.ndarray  # H x W bool: damage that shows
    weight: np.ndarray  # H x W float32: 0 where the answer is ambiguous, else 1
    alpha: np.ndarray  # H x W float32: total opacity of all damage


def _tone(rng: np.random.Generator, channels: int) -> tuple[str, np.ndarray]:
    """How an element changes the photo: towards a fixed value (bright, dark, coloured) or by a
    shift relative to the photo (low contrast)."""
    kind = rng.choice(["bright", "dark", "colour", "shift"], p=[0.35, 0.35, 0.12, 0.18])
    if kind == "bright":
        v = np.full(channels, rng.uniform(0.7, 1.0))
    elif kind == "dark":
        v = np.full(channels, rng.uniform(0.0, 0.3))
    elif kind == "colour":
        v = rng.uniform(0, 1, channels) if channels == 3 else np.full(1, rng.uniform(0, 1))
    else:
        v = np.full(channels, rng.choice([-1, 1]) * rng.uniform(0.08, 0.3))
    return str(kind), v.astype(np.float32)


def _random_walk(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A fibre: steps of ~1.5 px whose heading drifts by a random walk (curls and waves)."""
    n = int(rng.integers(15, 260))
    p = rng.uniform([-0.1 * w, -0.1 * h], [1.1 * w, 1.1 * h])
    heading = rng.uniform(0, 2 * np.pi)
    turn_sd = rng.uniform(0.02, 0.35)
    turns = np.cumsum(rng.normal(0, turn_sd, n)) * rng.uniform(0.2, 1.0)
    angles = heading + np.cumsum(turns * 0.15)
    steps = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return p + np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)])


def _polyline(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A scratch: 2-5 straight segments with kinks, crossing much of the crop."""
    k = int(rng.integers(2, 6))
    p = rng.uniform([0, 0], [w, h])
    angle = rng.uniform(0, 2 * np.pi)
    pts = [p]
    for _ in range(k):
        angle += rng.normal(0, 0.35)
        length = rng.uniform(0.1, 0.6) * max(w, h)
        pts.append(pts[-1] + length * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(pts)


def _densify(pts: np.ndarray, step: float = 2.0) -> np.ndarray:
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        n = max(1, int(np.linalg.norm(b - a) / step))
        out += [a + (b - a) * (i / n) for i in range(1, n + 1)]
    return np.array(out)


def _stroke_alpha(rng: np.random.Generator, pts: np.ndarray, w: int, h: int, width: float,
                  wobble: float, dashed: bool) -> np.ndarray:
    """Opacity of one stroke drawn along ``pts``, its width width x (1 + wobble sin(...))."""
    img = Image.new("L", (w * SUPER, h * SUPER), 0)
    draw = ImageDraw.Draw(img)
    pts = _densify(pts)
    period, phase = rng.uniform(8, 60), rng.uniform(0, 2 * np.pi)
    dash_on, dash_off = rng.uniform(5, 40), rng.uniform(2, 15)
    s = 0.0
    for a, b in itertools.pairwise(pts):
        s += float(np.linalg.norm(b - a))
        if dashed and (s % (dash_on + dash_off)) > dash_on:
            continue
        wd = max(0.3, width * (1 + wobble * np.sin(2 * np.pi * s / period + phase)))
        draw.line([tuple(a * SUPER), tuple(b * SUPER)], fill=255, width=max(1, round(wd * SUPER)))
        r = wd * SUPER / 2  # round joints: no notches at the kinks
        draw.ellipse((b[0] * SUPER - r, b[1] * SUPER - r, b[0] * SUPER + r, b[1] * SUPER + r), fill=255)
    small = img.resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255


def _speck_alpha(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A Gaussian-profile speck, round or elongated, 0.4-2 px standard deviation."""
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx = rng.uniform(0.4, 2.0)
    sy = sx * rng.uniform(0.5, 2.0)
    th = rng.uniform(0, np.pi)
    r = int(np.ceil(3 * max(sx, sy))) + 1
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    a = np.zeros((h, w), np.float32)
    if x0 >= x1 or y0 >= y1:
        return a
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
    v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
    gain = rng.uniform(1.0, 2.5)  # above 1 the profile saturates: a flat-topped speck with soft rims
    a[y0:y1, x0:x1] = np.clip(gain * np.exp(-(u**2 / (2 * sx**2) + v**2 / (2 * sy**2))), 0, 1)
    return a


def _stain_alpha(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """An irregular patch: smoothed noise thresholded in a window of 6-24 px, soft-edged."""
    return _blob_alpha(rng, w, h, int(rng.integers(6, 25)), edge=0.6)


def _spot_alpha(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A small opaque patch: smoothed noise thresholded in a window of 3-12 px, hard-edged."""
    return _blob_alpha(rng, w, h, int(rng.integers(3, 13)), edge=0.1)


def _blob_alpha(rng: np.random.Generator, w: int, h: int, size: int, edge: float) -> np.ndarray:
    """Smoothed noise plus a central bump, thresholded: one irregular patch in a 2 x ``size`` window,
    its rim ramping over ``edge`` (in units of the noise's deviation)."""
    cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
    noise = Image.fromarray((rng.uniform(0, 255, (size * 2, size * 2))).astype(np.uint8))
    blob = np.asarray(noise.filter(ImageFilter.GaussianBlur(size / 5)), dtype=np.float32) / 255
    yy, xx = np.mgrid[0:2 * size, 0:2 * size] - size + 0.5
    fall = np.exp(-(xx**2 + yy**2) / (2 * (size / 2.2) ** 2))  # a patch, not a field of islands
    field = (blob - blob.mean()) / (blob.std() + 1e-6) + 2.5 * fall
    soft = np.clip((field - 1.4) / edge, 0, 1)
    a = np.zeros((h, w), np.float32)
    y0, x0 = cy - size, cx - size
    ys, xs = slice(max(0, y0), min(h, y0 + 2 * size)), slice(max(0, x0), min(w, x0 + 2 * size))
    a[ys, xs] = soft[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    return a


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """``img`` (H x W x C float in [0, 1], C = 1 or 3) saved as an 8-bit JPEG of ``quality`` and
    decoded again, as most scans reach us (the detector's training crops, the bench's film dust)."""
    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8).save(buf, format="JPEG", quality=quality)
    back = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
    return back[:, :, None] if back.ndim == 2 else back


def synth_damage(clean: np.ndarray, rng: np.random.Generator, *, clean_share: float = 0.3,
                 density: float = 1.0, grain_share: float = 0.5, spot_rate: float = 0.0) -> Damaged:
    """Damage a clean H x W x C float32 photo crop (C = 1 or 3). With probability ``clean_share`` the
    crop stays clean (a negative). ``density`` scales the number of elements per area; with
    probability ``grain_share`` grain of 0.5-4/255 is added over the whole crop. ``spot_rate``: spots
    per 10,000 px (x density); at 0 none are drawn and the random stream is that of the recipe
    without them."""
    h, w, c = clean.shape
    out = clean.astype(np.float32).copy()
    total = np.zeros((h, w), np.float32)  # 1 - prod(1 - a): combined opacity
    if rng.random() >= clean_share:
        area = h * w / 10_000 * density
        counts = {"fibre": rng.poisson(1.2 * area), "scratch": rng.poisson(0.8 * area),
                  "speck": rng.poisson(rng.uniform(2, 12) * area), "stain": rng.poisson(0.3 * area)}
        if spot_rate > 0:
            counts["spot"] = rng.poisson(spot_rate * area)
        if sum(counts.values()) == 0:
            counts["speck"] = 1
        for kind, n in counts.items():
            for _ in range(int(n)):
                if kind == "fibre":
                    a = _stroke_alpha(rng, _random_walk(rng, w, h), w, h, rng.uniform(0.5, 2.2),
                                      rng.uniform(0, 0.6), dashed=False)
                elif kind == "scratch":
                    a = _stroke_alpha(rng, _polyline(rng, w, h), w, h, rng.uniform(0.6, 3.0),
                                      rng.uniform(0, 0.4), dashed=rng.random() < 0.3)
                elif kind == "speck":
                    a = _speck_alpha(rng, w, h)
                elif kind == "spot":
                    a = _spot_alpha(rng, w, h)
                else:
                    a = _stain_alpha(rng, w, h)
                if rng.random() < 0.3:
                    a = gaussian_blur(a, rng.uniform(0.3, 0.9))
                opacity = {"stain": (0.2, 0.7), "spot": (0.6, 1.0)}.get(kind, (0.15, 1.0))
                opacity = rng.uniform(*opacity)
                a = (a * opacity).astype(np.float32)
                mode, v = _tone(rng, c)
                target = np.clip(out + v, 0, 1) if mode == "shift" else np.broadcast_to(v, out.shape)
                out = out * (1 - a[:, :, None]) + target * a[:, :, None]
                total = 1 - (1 - total) * (1 - a)
    # What shows is judged before the grain: grain alone crosses VISIBLE on ~16 % of the pixels, and
    # would turn invisible damage there into random positives.
    visible = np.abs(np.clip(out, 0, 1) - clean).max(axis=2) > VISIBLE
    if rng.random() < grain_share:  # sensor / film grain over everything, as a scan of damaged film has
        out = out + rng.normal(0, rng.uniform(0.5, 4) / 255, out.shape).astype(np.float32)
    out = np.clip(out, 0, 1).astype(np.float32)
    target = (total >= ON_ALPHA) & visible
    ambiguous = ((total > OFF_ALPHA) & (total < ON_ALPHA)) | ((total >= ON_ALPHA) & ~visible)
    return Damaged(out, target, np.where(ambiguous, 0.0, 1.0).astype(np.float32), total)

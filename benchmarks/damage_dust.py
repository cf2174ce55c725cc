"""A second held-out damage generator (issue 17): film dust as a scanner sees it, then JPEG.

Unlike benchmarks/damage.py (the main test generator) and core/damage_synth.py (the training one):
dust grains are irregular star-shaped outlines (a polygon of 10-18 vertices whose radii vary by up
to 60 %) 1.5-6 px across, blurred by the scanner's optics (0.4-1.2 px); lint fibres are short
sine-sum curves (two incommensurate frequencies), 1-2 px wide. Dust on a negative prints white,
so most grains are bright, a third dark, at one opacity per grain. The damaged photo is then saved
as a JPEG (quality 70-88), whose blocks and ringing the detector never saw in training.

The truth is each element's outline before the blur (antialiased coverage above one half).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from dpm_desktop.core.blur import gaussian_blur
from dpm_desktop.core.damage_synth import jpeg_round_trip

SUPER = 4


def _grain(rng: np.random.Generator, cx: float, cy: float) -> list[tuple[float, float]]:
    k = int(rng.integers(10, 19))
    r0 = rng.uniform(0.75, 3.0)
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = r0 * (1 + rng.uniform(-0.6, 0.6, k))
    return [((cx + r * np.cos(a)) * SUPER, (cy + r * np.sin(a)) * SUPER) for a, r in zip(angles, radii, strict=True)]


def _fibre(rng: np.random.Generator, cx: float, cy: float) -> list[tuple[float, float]]:
    length = rng.uniform(10, 60)
    t = np.linspace(-0.5, 0.5, 80) * length
    f1, f2 = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3) * 2.3
    y = rng.uniform(1, 6) * np.sin(f1 * t) + rng.uniform(0, 3) * np.sin(f2 * t + rng.uniform(0, 6))
    th = rng.uniform(0, np.pi)
    xs, ys = cx + t * np.cos(th) - y * np.sin(th), cy + t * np.sin(th) + y * np.cos(th)
    return [(x * SUPER, yv * SUPER) for x, yv in zip(xs, ys, strict=True)]


def film_dust(pixels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(damaged H x W x C float32 after a JPEG round trip, H x W bool truth). A grain per 2,500 px,
    a fibre per 25,000 px."""
    h, w = pixels.shape[:2]
    out = pixels.astype(np.float64).copy()
    truth = np.zeros((h, w), bool)
    n_grain, n_fibre = max(10, round(h * w / 2500)), max(2, round(h * w / 25_000))
    for i in range(n_grain + n_fibre):
        img = Image.new("L", (w * SUPER, h * SUPER), 0)
        draw = ImageDraw.Draw(img)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if i < n_grain:
            draw.polygon(_grain(rng, cx, cy), fill=255)
        else:
            draw.line(_fibre(rng, cx, cy), fill=255, width=int(rng.integers(1, 3)) * SUPER, joint="curve")
        cover = np.asarray(img.resize((w, h), Image.Resampling.BOX), dtype=np.float64) / 255
        if not cover.any():
            continue
        truth |= cover > 0.5
        a = np.clip(gaussian_blur(cover, rng.uniform(0.4, 1.2)) * rng.uniform(0.6, 1.0), 0, 1)[:, :, None]
        tone = rng.uniform(0.85, 1.0) if rng.random() < 0.67 else rng.uniform(0.0, 0.15)
        out = out * (1 - a) + tone * a
    return jpeg_round_trip(out, int(rng.integers(70, 89))), truth

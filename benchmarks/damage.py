"""Seeded damage as old prints and scans carry it (issue 17): long thin scratches (1-3 px, bright and
dark), dust specks (1-3 px) and a few blotches. Returns the damaged photo and the true mask."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def damage(pixels: np.ndarray, rng: np.random.Generator, *, scratches: int | None = None,
           specks: int | None = None, blotches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(damaged H x W x C float32, H x W bool mask of the damaged pixels). Counts scale with the area
    unless given: a scratch per 40,000 px, a speck per 1,500 px, a blotch per 150,000 px."""
    h, w = pixels.shape[:2]
    area = h * w
    n_scr = scratches if scratches is not None else max(2, round(area / 40_000))
    n_spk = specks if specks is not None else max(10, round(area / 1_500))
    n_blt = blotches if blotches is not None else max(1, round(area / 150_000))
    value = Image.new("L", (w, h), 128)  # 0 = dark damage, 255 = bright, 128 = none
    cover = Image.new("L", (w, h), 0)
    dv, dc = ImageDraw.Draw(value), ImageDraw.Draw(cover)
    u = np.linspace(0, 1, 80)[:, None]
    for _ in range(n_scr):  # long hairlines, gently curved
        p0 = rng.uniform([0, 0], [w, h])
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 1.0) * max(h, w)
        p3 = p0 + length * np.array([np.cos(angle), np.sin(angle)])
        bend = rng.normal(0, 0.08 * length, size=2)
        p1 = p0 + (p3 - p0) / 2 + bend
        curve = (1 - u) ** 2 * p0 + 2 * (1 - u) * u * p1 + u**2 * p3
        pts = [tuple(p) for p in curve]
        width = int(rng.integers(1, 4))
        tone = 255 if rng.random() < 0.6 else 0
        dv.line(pts, fill=tone, width=width)
        dc.line(pts, fill=255, width=width)
    for _ in range(n_spk):  # dust: small round specks
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.5, 1.5)
        tone = 255 if rng.random() < 0.5 else 0
        dv.ellipse((x - r, y - r, x + r, y + r), fill=tone)
        dc.ellipse((x - r, y - r, x + r, y + r), fill=255)
    for _ in range(n_blt):  # blotches: irregular stains 6-16 px across
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        pts = [(x + r * np.cos(a), y + r * np.sin(a)) for a, r in
               zip(np.linspace(0, 2 * np.pi, 9)[:-1], rng.uniform(3, 8, 8), strict=True)]
        tone = 255 if rng.random() < 0.3 else 0
        dv.polygon(pts, fill=tone)
        dc.polygon(pts, fill=255)
    soft = np.asarray(cover.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32) / 255
    tone = np.asarray(value, dtype=np.float32) / 255
    strength = rng.uniform(0.55, 0.9)
    target = np.where(tone[:, :, None] > 0.5, np.maximum(pixels, 0.92), np.minimum(pixels, 0.08))
    a = (np.clip(soft, 0, 1) * strength)[:, :, None]
    out = pixels * (1 - a) + target * a
    mask = np.asarray(cover) > 127
    return np.clip(out, 0, 1).astype(np.float32), mask

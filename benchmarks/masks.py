"""Seeded inpainting masks (True = pixel to fill): thin scratches, text, 64 x 64 square holes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ("summer", "1987", "grandma", "beach", "Paris", "love", "birthday", "our house", "June", "wedding",
         "the lake", "Tom & Ann", "Christmas", "holiday")


def _canvas(shape: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (shape[1], shape[0]), 0)
    return img, ImageDraw.Draw(img)


def scratches(shape: tuple[int, int], rng: np.random.Generator, *, max_width: int = 4,
              pixels_per_stroke: int = 10_000) -> np.ndarray:
    """Random cubic Bezier strokes 1..``max_width`` px wide and a third to most of the image long;
    about one stroke per ``pixels_per_stroke`` pixels (at least 3)."""
    h, w = shape
    img, draw = _canvas(shape)
    n = max(3, round(h * w / pixels_per_stroke))
    size = min(h, w)
    u = np.linspace(0, 1, 60)[:, None]
    for _ in range(n):
        p0 = rng.uniform([0, 0], [w, h])
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.3, 0.8) * size
        p3 = p0 + length * np.array([np.cos(angle), np.sin(angle)])
        bend = rng.normal(0, 0.25 * length, size=(2, 2))
        p1, p2 = p0 + (p3 - p0) / 3 + bend[0], p0 + 2 * (p3 - p0) / 3 + bend[1]
        curve = (1 - u) ** 3 * p0 + 3 * (1 - u) ** 2 * u * p1 + 3 * (1 - u) * u**2 * p2 + u**3 * p3
        draw.line([tuple(p) for p in curve], fill=255, width=int(rng.integers(1, max_width + 1)), joint="curve")
    return np.asarray(img) > 127


def text(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Words written over the photo in Pillow's built-in font, about h/12 px high with a 1 px outline
    (strokes 3-4 px wide), one line per 50 px of height."""
    h, w = shape
    img, draw = _canvas(shape)
    font = ImageFont.load_default(size=max(14, h // 12))
    lines = max(2, h // 50)
    for i in range(lines):
        words = " ".join(rng.choice(WORDS, size=3))
        y = (i + rng.uniform(0.1, 0.5)) * h / lines
        x = rng.uniform(0.0, 0.3) * w
        draw.text((x, y), words, fill=255, font=font, stroke_width=1, stroke_fill=255)
    return np.asarray(img) > 127


def holes(shape: tuple[int, int], rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Non-overlapping size x size squares, at least 8 px from the border and from each other: one per
    200 x 200 pixels (at least one)."""
    h, w = shape
    n = max(1, (h * w) // 40_000)
    m = np.zeros(shape, bool)
    placed: list[tuple[int, int]] = []
    for _ in range(1000):
        if len(placed) == n:
            break
        y, x = int(rng.integers(8, h - size - 8 + 1)), int(rng.integers(8, w - size - 8 + 1))
        if all(abs(y - py) >= size + 8 or abs(x - px) >= size + 8 for py, px in placed):
            placed.append((y, x))
            m[y:y + size, x:x + size] = True
    return m


MASKS: dict[str, Callable[[tuple[int, int], np.random.Generator], np.ndarray]] = {
    "scratches": scratches, "text": text, "holes": holes,
}

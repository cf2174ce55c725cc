"""Small figures drawn with Pillow (no plotting library needed at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .atomic import atomic_write_bytes


def scatter_png(path: Path, *point_sets: np.ndarray, **kwargs: Any) -> None:
    """Scatter plots of 2-D point sets on shared axes, written atomically as PNG."""
    atomic_write_bytes(Path(path), scatter_png_bytes(*point_sets, **kwargs))


def scatter_png_bytes(*point_sets: np.ndarray, title: str = "", size: int = 480,
                      colours: tuple[tuple[int, int, int], ...] = ((31, 119, 180), (214, 39, 40)),
                      labels: tuple[str, ...] = ()) -> bytes:
    """Scatter plots of 2-D point sets on shared axes, as the bytes of a PNG file."""
    allpts = np.concatenate(point_sets)
    lo, hi = np.percentile(allpts, 0.5, axis=0), np.percentile(allpts, 99.5, axis=0)
    span = float(max(hi - lo)) * 1.15
    centre = (lo + hi) / 2
    panel = size
    img = Image.new("RGB", (panel * len(point_sets), panel + 24), "white")
    draw = ImageDraw.Draw(img)
    for k, pts in enumerate(point_sets):
        xy = (pts - centre) / span + 0.5
        px = np.clip(xy[:, 0] * panel, 0, panel - 1) + k * panel
        py = np.clip((1 - xy[:, 1]) * panel, 0, panel - 1) + 24
        col = colours[k % len(colours)]
        for x, y in zip(px, py, strict=True):
            draw.ellipse((x - 1.2, y - 1.2, x + 1.2, y + 1.2), fill=col)
        draw.rectangle((k * panel, 24, (k + 1) * panel - 1, panel + 23), outline=(160, 160, 160))
        if k < len(labels):
            draw.text((k * panel + 6, 28), labels[k], fill=(0, 0, 0))
    draw.text((6, 6), title, fill=(0, 0, 0))
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()

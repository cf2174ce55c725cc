"""Whole-mask operations on coverage arrays (H x W uint8, 0 = keep, 255 = fill).

Plain numpy on 8-bit masks: invert, grow, shrink, and reading a mask from an image file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpm_desktop.core.imaging import ImageError
from dpm_desktop.core.masks import MaskError, coverage_from_file


def invert(cov: np.ndarray) -> np.ndarray:
    return (255 - cov.astype(np.int16)).astype(np.uint8)


def _running_max(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Max over a centred window of k = 2r + 1 along ``axis`` in O(n) (van Herk / Gil-Werman)."""
    if k <= 1:
        return a
    r = k // 2
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    blocks = -(-(n + 2 * r) // k)
    pad = blocks * k - n - r
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(r, pad)])
    shaped = padded.reshape(*a.shape[:-1], blocks, k)
    fwd = np.maximum.accumulate(shaped, axis=-1).reshape(padded.shape)
    bwd = np.flip(np.maximum.accumulate(np.flip(shaped, -1), axis=-1), -1).reshape(padded.shape)
    # window [i, i + k - 1] of the padded array = max(bwd[i], fwd[i + k - 1])
    out = np.maximum(bwd[..., :n], fwd[..., k - 1:k - 1 + n])
    return np.moveaxis(out, -1, axis)


def grow(cov: np.ndarray, radius: int) -> np.ndarray:
    """Dilate by ``radius`` pixels (a square then a diamond of half the radius: close to an octagon,
    so grown corners do not look boxy)."""
    if radius <= 0:
        return cov.copy()
    k = 2 * int(radius * 0.7) + 1
    out = _running_max(_running_max(cov, k, 0), k, 1)
    for _ in range(radius - int(radius * 0.7)):  # diamond part: cross-shaped steps
        step = out.copy()
        np.maximum(step[1:], out[:-1], out=step[1:])
        np.maximum(step[:-1], out[1:], out=step[:-1])
        np.maximum(step[:, 1:], out[:, :-1], out=step[:, 1:])
        np.maximum(step[:, :-1], out[:, 1:], out=step[:, :-1])
        out = step
    return out


def shrink(cov: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return cov.copy()
    # Beyond the border counts as covered, so a mask that reaches the edge keeps reaching it.
    return invert(grow(invert(cov), radius))


def load_mask_file(path: Path, width: int, height: int) -> np.ndarray:
    """Coverage from an image file: white (or opaque, for images with alpha) = fill."""
    arr = coverage_from_file(Path(path))
    if arr.shape != (height, width):
        raise MaskError(f"{Path(path).name} is {arr.shape[1]}×{arr.shape[0]} pixels but the image is "
                        f"{width}×{height}; a mask must have the same size as the image")
    return np.clip(np.rint(arr * 255), 0, 255).astype(np.uint8)


__all__ = ["ImageError", "MaskError", "grow", "invert", "load_mask_file", "shrink"]

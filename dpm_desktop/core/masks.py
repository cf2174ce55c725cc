"""Inpainting masks: coverage in [0, 1] per pixel (0 keep, 1 fill, soft edges between), as the app's
brush paints them and as mask files hold them (white = fill; alpha, where present, counts).

Every pixel with coverage above zero is filled; the fill is then blended into the photo by the
coverage, so a soft edge fades the fill in and every pixel of coverage 0 stays exactly as it was.
The app, the command line and the Python API share this one rule.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .imaging import load_image


class MaskError(ValueError):
    """A mask that cannot be used with this image; the message says why."""


def coverage_from_file(path: Path) -> np.ndarray:
    """H x W float32 coverage from an image file, its own size."""
    m = load_image(Path(path))
    arr = m.pixels.mean(axis=2)
    if m.alpha is not None:
        arr = np.minimum(arr, m.alpha) if arr.max() > 0 else m.alpha
    return np.clip(arr, 0, 1).astype(np.float32)


def mask_coverage(mask: np.ndarray | str | Path, shape: tuple[int, int]) -> np.ndarray:
    """H x W float32 coverage in [0, 1] from a file or an array (bool; uint8 0-255; float 0-1; an
    H x W x C array is averaged over C). Raises :class:`MaskError` on a size mismatch or bad values."""
    if isinstance(mask, (str, Path)):
        arr, name = coverage_from_file(Path(mask)), str(mask)
    else:
        raw = np.asarray(mask)
        name = "the mask"
        if raw.dtype == np.bool_:
            arr = raw.astype(np.float32)
        elif raw.dtype == np.uint8:
            arr = raw.astype(np.float32) / 255
        elif np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer):
            arr = raw.astype(np.float32)
            if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
                raise MaskError("mask values must lie in [0, 1] (or pass a bool or uint8 array)")
        else:
            raise MaskError(f"unsupported mask type {raw.dtype}: pass bool, uint8 or floats in [0, 1]")
        if arr.ndim == 3:
            arr = arr.mean(axis=2)
    if arr.shape != tuple(shape):
        got = f"{arr.shape[1]}x{arr.shape[0]}" if arr.ndim == 2 else f"of shape {arr.shape}"
        raise MaskError(f"{name} is {got} pixels but the image is {shape[1]}x{shape[0]}; they must match")
    return arr


def feather(original: np.ndarray, restored: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Blend by coverage: the fill where it is 1, a soft transition between, the original where 0."""
    a = coverage.astype(np.float32)[:, :, None]
    out = original + a * (restored - original)
    keep = coverage <= 0
    out[keep] = original[keep]
    return out.astype(np.float32)


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square dilation by r pixels (separable running max via cumulative sums)."""
    if r <= 0:
        return mask.copy()
    m = mask.astype(np.int32)
    for axis in (0, 1):
        c = np.cumsum(np.pad(m, [(r + 1, r) if a == axis else (0, 0) for a in range(2)]), axis=axis)
        m = c[2 * r + 1:] - c[:-2 * r - 1] > 0 if axis == 0 else c[:, 2 * r + 1:] - c[:, :-2 * r - 1] > 0
        m = m.astype(np.int32)
    return m.astype(bool)


def hole_radius(mask: np.ndarray) -> int:
    """The largest distance (square metric, pixels) from a masked pixel to the nearest known one."""
    if not mask.any():
        return 0
    if mask.all():
        return max(mask.shape)
    lo, hi = 0, max(mask.shape)
    while lo < hi:  # smallest r whose dilation of the known pixels covers the mask
        r = (lo + hi) // 2
        if dilate(~mask, r)[mask].all():
            hi = r
        else:
            lo = r + 1
    return lo


def coarse_levels_for(radius: int, target: int = 8, max_levels: int = 3) -> int:
    """Halvings needed so that the hole's radius is at most ``target`` px at the coarsest level."""
    return int(min(max_levels, max(0, math.ceil(math.log2(max(radius, 1) / target)))))

"""The photo's grain in a fill (issue 16). The photo models were trained on clean photos, so they fill
a hole in a noisy photo with clean content: a smooth patch in a grainy photo, a seam anyone sees. The
fill is given the grain its surroundings have: Gaussian noise of variance sigma_known^2 - sigma_fill^2,
each measured by the same robust estimator (Donoho & Johnstone's median of the finest Haar diagonal
coefficients) on the 2 x 2 blocks that lie wholly in the known pixels or wholly in the hole. On a clean
photo both are small and alike, and grain under 3/255 (invisible) is not added."""

from __future__ import annotations

import numpy as np

MIN_BLOCKS = 64  # fewer 2 x 2 blocks than this (a 1-px scratch): no estimate, no grain added
# Grain below 3/255 is not visible in an 8-bit photo but costs error: clean benchmark photos asked for
# 1.4-2.2/255 (texture reads as a little noise), which cost ~0.1 dB in the hole; a noisy photo asks ~20.
MIN_VISIBLE = 3 / 255


def haar_sigma(plane: np.ndarray, where: np.ndarray | None = None, min_blocks: int = MIN_BLOCKS) -> float | None:
    """Noise std (same units as ``plane``, H x W) from the 2 x 2 blocks wholly inside ``where``
    (everywhere when None); None when fewer than ``min_blocks`` blocks qualify."""
    h, w = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
    p = plane[:h, :w]
    hh = np.abs(p[0::2, 0::2] - p[0::2, 1::2] - p[1::2, 0::2] + p[1::2, 1::2]) * np.float32(0.5)
    if where is not None:
        m = where[:h, :w]
        inside = m[0::2, 0::2] & m[0::2, 1::2] & m[1::2, 0::2] & m[1::2, 1::2]
        hh = hh[inside]
    if hh.size < max(1, min_blocks):
        return None
    return float(np.median(hh)) / 0.6745


def matched_grain(fill: np.ndarray, photo: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Per channel, the std of the noise that gives ``fill`` (H x W x C, the region filled) the grain
    of ``photo``'s known pixels around the hole (0 where it has as much already, or no estimate)."""
    out = np.zeros(fill.shape[2], np.float32)
    for c in range(fill.shape[2]):
        known, inside = haar_sigma(photo[:, :, c], ~hole), haar_sigma(fill[:, :, c], hole)
        if known is not None and inside is not None:
            out[c] = np.sqrt(max(0.0, known * known - inside * inside))
    return out


def add_grain(fill: np.ndarray, photo: np.ndarray, hole: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """``fill`` with the matched grain added in the hole (clipped to [0, 1]), and its std on 0-255."""
    sigma = matched_grain(fill, photo, hole)
    if float(np.median(sigma)) < MIN_VISIBLE:
        return fill, 0.0
    noise = np.random.default_rng(seed).standard_normal(fill.shape).astype(np.float32) * sigma
    out = fill.copy()
    out[hole] = np.clip(fill[hole] + noise[hole], 0, 1)
    return out, float(np.median(sigma) * 255)

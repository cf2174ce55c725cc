"""The one Gaussian blur of the engine's numpy code (the patch fill's seam and layout errors, the
synthetic damage's soft edges, the bench's film dust): separable, edges replicated, numpy only."""

from __future__ import annotations

import numpy as np


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Blur an H x W or H x W x C float array by a Gaussian of ``sigma`` px (truncated at 3 sigma),
    edges replicated; float64 stays float64, anything else comes back float32 (the sums may run in
    float64 on the way). ``sigma`` <= 0: no blur."""
    out_type = np.float64 if a.dtype == np.float64 else np.float32
    if sigma <= 0:
        return a.astype(out_type)
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    k /= k.sum()
    h, w = a.shape[:2]
    p = np.pad(a, [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2), mode="edge")
    p = sum(k[i] * p[i:i + h] for i in range(2 * r + 1))
    out = sum(k[i] * p[:, i:i + w] for i in range(2 * r + 1))
    return out.astype(out_type)

"""Image quality measures, all on [0, 1] images (data_range 1), from scikit-image where it has them."""

from __future__ import annotations

import numpy as np


def psnr(clean: np.ndarray, est: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean, est, data_range=1.0))


def ssim(clean: np.ndarray, est: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(clean, est, data_range=1.0, channel_axis=-1))


def psnr_in_mask(clean: np.ndarray, est: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the masked pixels only (all channels)."""
    diff = (clean[mask].astype(np.float64) - est[mask].astype(np.float64)) ** 2
    mse = float(diff.mean())
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Pearson, Spearman) correlation of two arrays, flattened."""
    from scipy.stats import pearsonr, spearmanr

    x, y = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(pearsonr(x, y)[0]), float(spearmanr(x, y)[0])

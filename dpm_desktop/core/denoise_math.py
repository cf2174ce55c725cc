"""Tensor maths of denoising shared by validation and restoration (no image handling here)."""

from __future__ import annotations

import torch

from .diffusion import GaussianDiffusion


def step_for_sigma(diffusion: GaussianDiffusion, sigma: float) -> int:
    """The step t whose x_t / sqrt(abar_t) has noise std closest to ``sigma`` (model units)."""
    return diffusion.terms().step_for_noise(sigma)


def one_step_denoise(diffusion: GaussianDiffusion, noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    """Posterior-mean estimate E[x_0 | y] for y = x_0 + sigma * noise, in one network call.

    At the step whose abar_t is closest to 1 / (1 + sigma^2), x_t = sqrt(abar_t) * y is distributed
    as q(x_t | x_0) (exactly when the noise levels match); the network's x_0 prediction at t is the
    estimate.
    """
    t_idx = step_for_sigma(diffusion, sigma)
    t = torch.full((noisy.shape[0],), t_idx, device=noisy.device, dtype=torch.long)
    ab = float(diffusion.terms().alphas_bar[t_idx - 1])
    return diffusion.reverse_step(noisy * ab**0.5, t).pred_x0

"""Tensor maths of denoising shared by validation and restoration (no image handling here)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .diffusion import GaussianDiffusion


def step_for_sigma(diffusion: GaussianDiffusion, sigma: float) -> int:
    """The step t whose x_t / sqrt(abar_t) has noise std closest to ``sigma`` (model units)."""
    return diffusion.terms().step_for_noise(sigma)


def one_step_denoise(diffusion: GaussianDiffusion, noisy: torch.Tensor, sigma: float, *, first_step: int = 1,
                     predict_x0: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Posterior-mean estimate E[x_0 | y] for y = x_0 + sigma * noise, in one network call.

    At the step whose abar_t is closest to 1 / (1 + sigma^2), x_t = sqrt(abar_t) * y is distributed
    as q(x_t | x_0) (exactly when the noise levels match); the network's x_0 prediction at t is the
    estimate. ``first_step``: the lowest step to read y at (bound-trained models never fit t = 1,
    see ``Checkpoint.first_trained_step``). ``predict_x0`` (x_t, t) -> x_0: the network's prediction
    by default; restoration passes a tiled one, clamped to the data's range.
    """
    t_idx = max(step_for_sigma(diffusion, sigma), first_step)
    t = torch.full((noisy.shape[0],), t_idx, device=noisy.device, dtype=torch.long)
    ab = float(diffusion.terms().alphas_bar[t_idx - 1])
    predict = predict_x0 or (lambda x, s: diffusion.reverse_step(x, s).pred_x0)
    return predict(noisy * math.sqrt(ab), t)

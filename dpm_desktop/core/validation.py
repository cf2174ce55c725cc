"""What the trainer measures on its validation batch: the bound K and the one-step denoising at
sigma 25/255 that gives both the validation PSNR and the wizard's preview."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .bits_units import UNIT_KEY, bits_unit
from .denoise_math import one_step_denoise
from .diffusion import GaussianDiffusion

VAL_SIGMA = 25  # on the 0-255 scale
Autocast = Callable[[], contextlib.AbstractContextManager]


def measure_data_std(dataset: Any, n: int = 512) -> float:
    x = dataset.fixed_patches(n, seed=4242) if hasattr(dataset, "fixed_patches") else dataset.sample(n)
    return float(x.std())


@torch.no_grad()
def denoise_at_sigma25(diffusion: GaussianDiffusion, x: torch.Tensor, data: dict[str, Any],
                       generator: torch.Generator, autocast: Autocast = contextlib.nullcontext,
                       chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, denoised float32): ``x`` (model units) plus Gaussian noise of std 25/255 drawn from
    ``generator``, and its one-step posterior-mean estimate (in chunks of ``chunk`` items if given)."""
    sigma = VAL_SIGMA / 255 * data["scale"]
    noisy = x + sigma * torch.randn(x.shape, generator=generator).to(x.device)
    with autocast():
        parts = noisy.split(chunk) if chunk else (noisy,)
        den = torch.cat([one_step_denoise(diffusion, part, sigma) for part in parts])
    return noisy, den.float()


def psnr(denoised: torch.Tensor, clean: torch.Tensor, data: dict[str, Any]) -> float:
    """PSNR in dB on the 0-1 scale, the estimate clamped to the data's range."""
    lo, hi = sorted(((0 - data["offset"]) * data["scale"], (1 - data["offset"]) * data["scale"]))
    mse = ((denoised.clamp(lo, hi) - clean) ** 2).mean() / data["scale"] ** 2
    return float(10 * torch.log10(1 / mse))


@torch.no_grad()
def validate(diffusion: GaussianDiffusion, val: torch.Tensor, data: dict[str, Any], device: torch.device,
             autocast: Autocast) -> dict[str, Any]:
    """K in bits per pixel, all channels together (per point for 2-D points), on unit-variance data
    (unbiased: one log-stratified pass over t per patch), with ``bits_unit``; and, for images,
    one-step denoising PSNR at sigma 25/255."""
    was_training = diffusion.training
    diffusion.eval()
    gen = torch.Generator().manual_seed(1234)
    x = val.to(device)
    # The bound in float32 even when training runs in bf16: its small-t terms hinge on reverse-step
    # variances near bf16's resolution (bf16 moved photo-rgb's K by about 0.01 bits/px).
    k = diffusion.bound(dequantize(x, data, gen), stratified=True, generator=gen).float().cpu()
    k = per_pixel_bits(k, data["data_std"], int(data["channels"]))
    out: dict[str, Any] = {"bits_per_px": float(k.mean()), "bits_stderr": float(k.std() / math.sqrt(len(k))),
                           UNIT_KEY: bits_unit(data["kind"])}
    if data["kind"] == "image":
        _, den = denoise_at_sigma25(diffusion, x, data, gen, autocast)
        out["psnr25"] = psnr(den, x, data)
    diffusion.train(was_training)
    return out


@torch.no_grad()
def preview_grid(diffusion: GaussianDiffusion, val: torch.Tensor, data: dict[str, Any],
                 autocast: Autocast) -> np.ndarray:
    """noisy | denoised | clean for up to four validation patches, one row each, as an HxWxC array in 0-1."""
    x = val[:4]
    noisy, den = denoise_at_sigma25(diffusion, x, data, torch.Generator().manual_seed(99), autocast)
    rows = [torch.cat([n, dd, c], dim=2) for n, dd, c in zip(noisy, den, x, strict=True)]
    grid = torch.cat(rows, dim=1)
    return (grid.cpu() / data["scale"] + data["offset"]).clamp(0, 1).permute(1, 2, 0).numpy()


def dequantize(x: torch.Tensor, data: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Uniform noise of one 8-bit level (levels are 1/255 apart on the 0-1 scale), so that a density
    on 8-bit photos is a proper density. The trainer's validation and ``dpm eval`` both use it."""
    if not data.get("dequantize"):
        return x
    u = torch.rand(x.shape, generator=gen).to(x.device) - 0.5
    return x + u * data["scale"] / 255


def per_pixel_bits(k_per_value: torch.Tensor, data_std: float, dims: int) -> torch.Tensor:
    """The bound, which the diffusion gives in bits per value of unit-variance data, in bits per pixel
    (``dims`` values: the channels, or 2 for a point) of the data at its own scale."""
    return (k_per_value + math.log2(data_std)) * dims

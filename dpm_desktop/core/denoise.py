"""Denoising (sigma on the 0-255 scale):

  mean    one network call: the posterior mean E[x_0 | y] at the step whose noise matches sigma.
  sample  the reverse chain from that step down to 0, N times; the mean of the samples is the
          estimate and their spread the uncertainty map.
  paper   as ``sample``, with every reverse step multiplied by the Gaussian likelihood of the noisy
          photo (Sohl-Dickstein et al. 2015, section 2.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint
from .clipping import effective_sigma
from .denoise_math import one_step_denoise
from .device import pick_device
from .diffusion import Chain, ReverseStep
from .grain import haar_sigma
from .imaging import LoadedImage
from .metadata import software_note
from .model_cache import get_model
from .modes import DENOISE_MODES
from .progress import NULL_REPORTER, Reporter
from .restore_io import (
    RestoreError,
    RestoreResult,
    as_image,
    autocast_on,
    check_tile,
    default_tile,
    fit_channels,
    model_params,
    per_channel,
    previewer,
    to_array,
    to_tensor,
)
from .sampling import Condition, run_chain
from .schedule import spaced_timesteps
from .tiling import TiledNet


def estimate_sigma(image: np.ndarray | LoadedImage) -> float:
    """Gaussian noise std on the 0-255 scale, from the finest Haar diagonal wavelet coefficients
    (Donoho & Johnstone: sigma = median(|HH|) / 0.6745), the median over channels. Robust on photos
    whose own texture is smooth at the pixel scale; it over-estimates on heavily textured images
    without noise (see the benchmark for its accuracy)."""
    px = image.pixels if isinstance(image, LoadedImage) else np.asarray(image, dtype=np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.shape[0] < 4 or px.shape[1] < 4:
        raise RestoreError("the image is too small to estimate its noise")
    # float32, one channel at a time: bounded memory on 24 MP photos
    sig = [haar_sigma(px[:, :, c], min_blocks=1) or 0.0 for c in range(px.shape[2])]
    return float(np.median(sig) * 255)


class LikelihoodCondition(Condition):
    """The paper's denoiser: each reverse step p(x_{t-1} | x_t) = N(m, v) is multiplied by a Gaussian
    in x_{t-1} centred on the noisy photo brought to that step, sqrt(abar) y, with variance
    abar sigma^2 + (1 - abar); the product (per pixel) is what the chain samples."""

    def __init__(self, y: torch.Tensor, sigma: float) -> None:
        self.y, self.sigma2 = y, sigma * sigma

    def combine(self, step: ReverseStep, state: int, chain: Chain) -> ReverseStep:
        if step.tril is not None:  # restoration models are diagonal; a channel covariance would need C x C algebra
            raise ValueError("the paper's denoiser needs a model with a diagonal reverse covariance")
        ab = chain.alpha_bar(state - 1) if state > 0 else 1.0
        var_r = ab * self.sigma2 + (1 - ab)
        var_p = torch.exp(step.logvar)
        var = 1 / (1 / var_p + 1 / var_r)
        mean = var * (step.mean / var_p + math.sqrt(ab) * self.y / var_r)
        return ReverseStep(mean, torch.log(var), step.pred_x0, step.frac)


def resolve_sigma(image: np.ndarray | LoadedImage, sigma: float | str, mode: str = "mean",
                  clip_correction: bool = True) -> tuple[float, bool, list[str]]:
    """The noise std (0-255 scale) the model runs with, whether the clip correction was applied, and
    notes: "auto" is estimated from the photo; a given sigma is clip-corrected (see :func:`denoise`)."""
    notes = []
    estimated = sigma == "auto"
    if estimated:
        sigma_v = estimate_sigma(image)
        notes.append(f"noise level estimated at sigma = {sigma_v:.1f} / 255")
    else:
        try:
            sigma_v = float(sigma)
        except (TypeError, ValueError):
            raise RestoreError(f"sigma must be a number (0-255 scale) or 'auto', got {sigma!r}") from None
    if not 0 < sigma_v <= 150:
        raise RestoreError(f"sigma must lie in (0, 150] on the 0-255 scale, got {sigma_v:g}")
    clip_correction = clip_correction and not estimated and mode != "paper"
    if clip_correction:
        pixels = image.pixels if isinstance(image, LoadedImage) else np.asarray(image, dtype=np.float32)
        given, sigma_v = sigma_v, effective_sigma(pixels, sigma_v)
        if sigma_v < 0.99 * given:
            notes.append(f"sigma {given:g} / 255 acts as {sigma_v:.1f} after clipping at black and white")
    return sigma_v, clip_correction, notes


def denoise(image: np.ndarray | str | Path | LoadedImage, *, sigma: float | str = "auto", mode: str = "mean",
            samples: int = 1, steps: int | None = None, seed: int = 0, model: str | Path | Checkpoint | None = None,
            device: str | torch.device = "auto", tile: int | None = None, overlap: int = 32,
            ensemble: int = 1, clip_correction: bool = True, reporter: Reporter = NULL_REPORTER,
            preview_every: int = 0) -> RestoreResult:
    """Remove Gaussian noise of std ``sigma`` (0-255 scale, or "auto" to estimate it).
    ``clip_correction`` (a given sigma; mean and sample modes): the sigma is that of the noise
    before the photo was clipped to black and white, and the model gets the smaller effective sigma
    (see :mod:`.clipping`). An estimated sigma is measured on the clipped photo and is used as it
    is. The paper mode multiplies in each pixel's likelihood, where one photo-wide sigma would
    overstate the trust in mid-tone pixels (measured 0.2-0.4 dB worse with it), so it keeps sigma.
    ``ensemble`` (mean mode): average the estimate over that many flips/rotations of the photo
    (1, 2, 4 or 8; costs as many network calls).
    With ``preview_every`` > 0 (chain modes), every that many steps ``Progress.preview`` holds the
    current estimate of the clean image (see :func:`_previewer`)."""
    if mode not in DENOISE_MODES:
        raise RestoreError(f"unknown denoising mode {mode!r}; choose one of {', '.join(DENOISE_MODES)}")
    if samples < 1 or (steps is not None and steps < 1):
        raise RestoreError("samples and steps must be at least 1")
    if ensemble not in (1, 2, 4, 8):
        raise RestoreError(f"ensemble must be 1, 2, 4 or 8, got {ensemble}")
    check_tile(tile)
    img = as_image(image)
    notes = list(img.notes)
    sigma_v, clip_correction, sigma_notes = resolve_sigma(img, sigma, mode, clip_correction)
    notes += sigma_notes
    dev = pick_device(device)
    ckpt = get_model(model, channels=img.channels, device=dev)
    px, back = fit_channels(img.pixels, ckpt, notes)
    sig_m = sigma_v / 255 * abs(ckpt.meta["data"]["scale"])
    diffusion = ckpt.diffusion
    # A low sigma (under ~4.8/255 for the paper's schedule) maps to t = 1, untrained in bound-trained models.
    t_star = max(diffusion.terms().step_for_noise(sig_m), ckpt.first_trained_step)
    steps = steps or {"mean": 1, "sample": 20, "paper": 20}[mode]
    if mode != "mean":
        ran = len(spaced_timesteps(diffusion.T, steps, t_max=t_star))
        if ran < steps:
            notes.append(f"{steps} steps asked for; the chain from this noise level has {ran}, which ran")
            steps = ran
    tile = tile or default_tile(dev)
    planes = [px[:, :, c:c + 1] for c in range(3)] if per_channel(ckpt, px) else [px]
    outs, uncs = [], []
    gen = torch.Generator().manual_seed(seed)
    n_jobs = len(planes) * (ensemble if mode == "mean" else samples)
    job = 0
    for plane in planes:
        y = to_tensor(plane, ckpt, dev)
        ab = float(diffusion.terms().alphas_bar[t_star - 1])
        # Mean mode tiles the x_0 prediction itself (3 channels) rather than the network's output:
        # the full-size buffers are then the photo's size, which bounds memory on 24 MP photos.
        predict_x0 = TiledNet(lambda x, t: diffusion.reverse_step(x, t).pred_x0.float().clamp(*ckpt.data_range),
                              tile=tile, overlap=overlap, check=reporter.check)
        with torch.inference_mode(), autocast_on(dev):
            if mode == "mean":
                est = torch.zeros_like(y)
                for k in range(ensemble):  # D4 symmetries: the estimate is mapped back and averaged
                    x0 = one_step_denoise(diffusion, _d4(y, k), sig_m, first_step=ckpt.first_trained_step,
                                          predict_x0=predict_x0)
                    est += _d4_inverse(x0, k)
                    job += 1
                    reporter.step(job, n_jobs)
                outs.append(to_array(est / ensemble, ckpt))
                continue
            # Both start at t* from y itself, which is distributed as q(x_t* | x_0). Starting the paper's
            # chain from pure noise at T instead (the likelihood alone bringing y in) measured 2.9 dB
            # worse at sigma 25 (astronaut crop, 4 samples, 20 vs 50 steps).
            net = TiledNet(diffusion.net, tile=tile, overlap=overlap, check=reporter.check)
            chain = Chain(diffusion, spaced_timesteps(diffusion.T, steps, t_max=t_star), net=net)
            draws = []
            for _ in range(samples):
                x = y * math.sqrt(ab)
                cond = LikelihoodCondition(y, sig_m) if mode == "paper" else None
                sub = reporter.sub(job * len(chain), n_jobs * len(chain))
                x = run_chain(chain, x, condition=cond, generator=gen, clip=ckpt.data_range, reporter=sub,
                              preview=previewer(ckpt, back), preview_every=preview_every)
                draws.append(to_array(x, ckpt))
                job += 1
            stack = np.stack(draws)
            outs.append(stack.mean(0))
            uncs.append(stack.std(0).mean(axis=2) if samples > 1 else None)
    out = np.concatenate(outs, axis=2) if len(outs) > 1 else outs[0]
    unc = None
    if uncs and all(u is not None for u in uncs):
        unc = np.mean(np.stack(uncs), axis=0).astype(np.float32)
    params = {"task": "denoise", "sigma": sigma_v, "sigma_requested": sigma, "clip_correction": clip_correction,
              "mode": mode, "samples": samples, "ensemble": ensemble,
              "steps": steps if mode != "mean" else 1, "seed": seed, "start_step": t_star,
              **model_params(ckpt), "tile": tile, "overlap": overlap}
    info = {**img.info, "software": software_note(f"denoise, {mode}, sigma {sigma_v:.1f}")}
    return RestoreResult(back(out).astype(np.float32), img.alpha, unc, [], params, notes, img.bit_depth, info)


_D4 = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))


def _d4(x: torch.Tensor, k: int) -> torch.Tensor:
    turns, mirror = _D4[k]
    x = torch.rot90(x, turns, dims=(-2, -1))
    return x.flip(-1) if mirror else x


def _d4_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    turns, mirror = _D4[k]
    return torch.rot90(x.flip(-1) if mirror else x, -turns, dims=(-2, -1))

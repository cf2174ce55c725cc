"""Denoise and inpaint whole photos: the functions the CLI, the GUI and the Python API call.

Images are float32 arrays H x W x C in [0, 1] (C = 1 or 3; see :mod:`imaging`), or paths. Every
call returns a :class:`RestoreResult` whose ``params`` reproduce it exactly (with the model's
sha256), and reports progress / honours cancellation through a :class:`Reporter`.

Denoising (sigma on the 0-255 scale):
  mean    one network call: the posterior mean E[x_0 | y] at the step whose noise matches sigma.
  sample  the reverse chain from that step down to 0, N times; the mean of the samples is the
          estimate and their spread the uncertainty map.
  paper   as ``sample``, with every reverse step multiplied by the Gaussian likelihood of the noisy
          photo (Sohl-Dickstein et al. 2015, section 2.5).
Inpainting: the reverse chain with the known pixels clamped at every step, either to their noised
values (RePaint, with optional resampling) or to the clean values (the paper's delta). Only the
region around the mask is computed and every unmasked pixel is returned exactly as it was.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import Checkpoint, load_checkpoint
from .clipping import effective_sigma
from .device import autocast_for, pick_device
from .diffusion import Chain, GaussianDiffusion, ReverseStep
from .imaging import LoadedImage, load_image, to_gray
from .masks import MaskError, coarse_levels_for, dilate, feather, hole_radius, mask_coverage
from .progress import NULL_REPORTER, Reporter
from .registry import resolve_model
from .sampling import Condition, repaint_states, run_chain
from .schedule import spaced_timesteps
from .tiling import MAX_TILE, MIN_TILE, TiledNet

DENOISE_MODES = ("mean", "sample", "paper")
CLAMP_MODES = ("x0", "repaint", "paper")


class RestoreError(Exception):
    """Bad arguments to a restoration (mask size, sigma, mode...); the message says what."""


@dataclass
class RestoreResult:
    pixels: np.ndarray  # H x W x C float32 in [0, 1]
    alpha: np.ndarray | None = None
    uncertainty: np.ndarray | None = None  # H x W, posterior std on the 0-1 scale
    candidates: list[np.ndarray] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bit_depth: int = 8
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Models: loaded once per (path, device) and kept, since loading costs more than a small job.

_cache: dict[tuple[str, str], Checkpoint] = {}
_cache_lock = threading.Lock()


def get_model(model: str | Path | Checkpoint | None, *, channels: int | None = None,
              device: torch.device | str = "cpu") -> Checkpoint:
    if isinstance(model, Checkpoint):
        return model
    path = resolve_model(model, channels=channels)
    key = (str(Path(path).resolve()), str(device))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = load_checkpoint(path, device=device)
        return _cache[key]


def clear_model_cache() -> None:
    with _cache_lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------
FLOAT_TOLERANCE = 1 / 255  # float pixels may stray this far outside [0, 1] (rounding); they are clipped


def _as_image(image: np.ndarray | str | Path | LoadedImage) -> LoadedImage:
    """A LoadedImage from a path or an array. Arrays are H x W or H x W x C (C = 1, 3 or 4 with
    alpha) of uint8 (0-255), uint16 (0-65535) or floats in [0, 1]; anything else is refused, since
    guessing a scale (is 200.0 a bright 8-bit pixel or an overflow?) would silently ruin the result."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, (str, Path)):
        return load_image(Path(image))
    if image is None:
        raise RestoreError("no image given")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise RestoreError(f"expected an H x W x C image with C in 1, 3, 4; got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise RestoreError(f"the image is empty ({arr.shape[1]} x {arr.shape[0]} pixels)")
    bit_depth = 16 if arr.dtype == np.uint16 else 8  # so that saving the result keeps 16-bit input 16-bit
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise RestoreError("the image holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -FLOAT_TOLERANCE or hi > 1 + FLOAT_TOLERANCE:
            hint = " (8-bit values? divide by 255, or pass a uint8 array)" if hi <= 255 + FLOAT_TOLERANCE else ""
            raise RestoreError(f"float pixels must lie in [0, 1]; this image's lie in [{lo:g}, {hi:g}]{hint}")
    else:
        raise RestoreError(f"unsupported pixel type {arr.dtype}: pass uint8 (0-255), uint16 (0-65535) "
                           "or floats in [0, 1]")
    alpha = None
    if arr.shape[2] == 4:
        arr, alpha = arr[:, :, :3], arr[:, :, 3]
    return LoadedImage(np.ascontiguousarray(np.clip(arr, 0, 1)), alpha, bit_depth)


def _check_tile(tile: int | None) -> None:
    if tile is not None and not (MIN_TILE <= tile <= MAX_TILE):
        raise RestoreError(f"tile must lie in {MIN_TILE}..{MAX_TILE} pixels, got {tile}")


Converter = Callable[[np.ndarray], np.ndarray]


def _fit_channels(px: np.ndarray, ckpt: Checkpoint, notes: list[str]) -> tuple[np.ndarray, Converter]:
    """Adapt the image's channels to the model's; returns the model input and the way back."""
    c_img, c_model = px.shape[2], ckpt.channels
    if c_img == c_model:
        return px, lambda y: y
    if c_img == 1 and c_model == 3:
        notes.append("grayscale image restored with a colour model: gray copied to R, G, B and the result "
                     "converted back to gray")
        return np.repeat(px, 3, axis=2), to_gray
    if c_img == 3 and c_model == 1:
        notes.append("colour image restored with a grayscale model: each of R, G, B restored on its own")
        return px, lambda y: y
    raise RestoreError(f"the model has {c_model} channels; images with {c_img} channels are not supported")


def _per_channel(ckpt: Checkpoint, px: np.ndarray) -> bool:
    return ckpt.channels == 1 and px.shape[2] == 3


def _to_tensor(px: np.ndarray, ckpt: Checkpoint, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(px.transpose(2, 0, 1)))[None]
    return ckpt.to_model_space(t).to(device)


def _to_array(y: torch.Tensor, ckpt: Checkpoint) -> np.ndarray:
    return ckpt.from_model_space(y.float().cpu())[0].clamp(0, 1).permute(1, 2, 0).numpy()


@contextlib.contextmanager
def tiled(diffusion: GaussianDiffusion, tile: int, overlap: int, active: torch.Tensor | None = None,
          check: Callable[[], None] | None = None) -> Iterator[None]:
    """Run every network call of ``diffusion`` through :class:`TiledNet` inside the block."""
    net = diffusion.net
    diffusion.net = TiledNet(net, tile=tile, overlap=overlap, active=active, check=check)
    try:
        yield
    finally:
        diffusion.net = net


def default_tile(device: torch.device) -> int:
    return 512 if device.type == "cuda" else 256


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    return autocast_for(device, "auto")()


# ----------------------------------------------------------------------------------------------
# Noise estimation


def estimate_sigma(image: np.ndarray | LoadedImage) -> float:
    """Gaussian noise std on the 0-255 scale, from the finest Haar diagonal wavelet coefficients
    (Donoho & Johnstone: sigma = median(|HH|) / 0.6745), the median over channels. Robust on photos
    whose own texture is smooth at the pixel scale; it over-estimates on heavily textured images
    without noise (see the benchmark for its accuracy)."""
    px = image.pixels if isinstance(image, LoadedImage) else np.asarray(image, dtype=np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    h, w = (px.shape[0] // 2) * 2, (px.shape[1] // 2) * 2
    if h < 4 or w < 4:
        raise RestoreError("the image is too small to estimate its noise")
    sig = []
    for c in range(px.shape[2]):  # float32, one channel at a time: bounded memory on 24 MP photos
        p = px[:h, :w, c]
        hh = np.abs(p[0::2, 0::2] - p[0::2, 1::2] - p[1::2, 0::2] + p[1::2, 1::2]) * np.float32(0.5)
        sig.append(float(np.median(hh)) / 0.6745)
    return float(np.median(sig) * 255)


# ----------------------------------------------------------------------------------------------
# Denoising


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
    _check_tile(tile)
    img = _as_image(image)
    notes = list(img.notes)
    sigma_v, clip_correction, sigma_notes = resolve_sigma(img, sigma, mode, clip_correction)
    notes += sigma_notes
    dev = pick_device(device)
    ckpt = get_model(model, channels=img.channels, device=dev)
    px, back = _fit_channels(img.pixels, ckpt, notes)
    sig_m = sigma_v / 255 * abs(ckpt.meta["data"]["scale"])
    diffusion = ckpt.diffusion
    t_star = diffusion.terms().step_for_noise(sig_m)
    steps = steps or {"mean": 1, "sample": 20, "paper": 20}[mode]
    if mode != "mean":
        ran = len(spaced_timesteps(diffusion.T, steps, t_max=t_star))
        if ran < steps:
            notes.append(f"{steps} steps asked for; the chain from this noise level has {ran}, which ran")
            steps = ran
    tile = tile or default_tile(dev)
    planes = [px[:, :, c:c + 1] for c in range(3)] if _per_channel(ckpt, px) else [px]
    outs, uncs = [], []
    gen = torch.Generator().manual_seed(seed)
    n_jobs = len(planes) * (ensemble if mode == "mean" else samples)
    job = 0
    for plane in planes:
        y = _to_tensor(plane, ckpt, dev)
        ab = float(diffusion.terms().alphas_bar[t_star - 1])
        # Mean mode tiles the x_0 prediction itself (3 channels) rather than the network's output:
        # the full-size buffers are then the photo's size, which bounds memory on 24 MP photos.
        predict_x0 = TiledNet(lambda x, t: diffusion.reverse_step(x, t).pred_x0.float().clamp(*ckpt.data_range),
                              tile=tile, overlap=overlap, check=reporter.check)
        chain_tiling = contextlib.nullcontext() if mode == "mean" else tiled(diffusion, tile, overlap,
                                                                               check=reporter.check)
        with torch.inference_mode(), chain_tiling, _autocast(dev):
            if mode == "mean":
                t = torch.full((1,), t_star, device=dev, dtype=torch.long)
                est = torch.zeros_like(y)
                for k in range(ensemble):  # D4 symmetries: the estimate is mapped back and averaged
                    est += _d4_inverse(predict_x0(_d4(y * math.sqrt(ab), k), t), k)
                    job += 1
                    reporter.step(job, n_jobs)
                outs.append(_to_array(est / ensemble, ckpt))
                continue
            # Both start at t* from y itself, which is distributed as q(x_t* | x_0). Starting the paper's
            # chain from pure noise at T instead (the likelihood alone bringing y in) measured 2.9 dB
            # worse at sigma 25 (astronaut crop, 4 samples, 20 vs 50 steps).
            chain = Chain(diffusion, spaced_timesteps(diffusion.T, steps, t_max=t_star))
            draws = []
            for _ in range(samples):
                x = y * math.sqrt(ab)
                cond = LikelihoodCondition(y, sig_m) if mode == "paper" else None
                sub = reporter.sub(job * len(chain), n_jobs * len(chain))
                x = run_chain(chain, x, condition=cond, generator=gen, clip=ckpt.data_range, reporter=sub,
                              preview=_previewer(ckpt, back), preview_every=preview_every)
                draws.append(_to_array(x, ckpt))
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
              **_model_params(ckpt), "tile": tile, "overlap": overlap}
    return RestoreResult(back(out).astype(np.float32), img.alpha, unc, [], params, notes, img.bit_depth, img.info)


def _previewer(ckpt: Checkpoint,
               back: Callable[[np.ndarray], np.ndarray]) -> Callable[[torch.Tensor], np.ndarray]:
    """run_chain's preview hook: the predicted x_0 as an H x W x C float32 array in [0, 1] (for
    inpainting, of the region being computed; per-channel restoration previews one channel)."""
    return lambda x0: back(_to_array(x0, ckpt))


# The 8 flips/rotations as (quarter turns, mirror): identity and mirror first, then the half turn.
_D4 = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))


def _d4(x: torch.Tensor, k: int) -> torch.Tensor:
    turns, mirror = _D4[k]
    x = torch.rot90(x, turns, dims=(-2, -1))
    return x.flip(-1) if mirror else x


def _d4_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    turns, mirror = _D4[k]
    return torch.rot90(x.flip(-1) if mirror else x, -turns, dims=(-2, -1))


def _model_params(ckpt: Checkpoint) -> dict[str, Any]:
    return {"model": ckpt.name, "model_sha256": ckpt.meta["sha256"], "model_path": str(ckpt.folder.resolve()),
            "device": str(ckpt.diffusion.base_betas.device)}


# ----------------------------------------------------------------------------------------------
# Inpainting


class ClampCondition(Condition):
    """Known pixels held to the photo at every reverse step, in one of three ways:

    ``x0``       the known pixels are put into the predicted x_0 before the step's mean is formed
                 (DDNM, Wang et al. 2023), so the next state is a posterior draw that agrees with
                 both the current state and the photo;
    ``repaint``  after the step, the known pixels are replaced by a fresh draw of q(x_s | x_0)
                 (Lugmayr et al. 2022);
    ``paper``    after the step, the known pixels are set to x_0 itself: the paper's delta function
                 on the known pixels (Sohl-Dickstein et al. 2015).
    The last state is always exactly the photo on the known pixels."""

    def __init__(self, known: torch.Tensor, keep: torch.Tensor, clamp: str) -> None:
        self.known, self.keep, self.clamp = known, keep, clamp

    def project_x0(self, x0: torch.Tensor, state: int, chain: Chain) -> torch.Tensor:
        return torch.where(self.keep, self.known, x0) if self.clamp == "x0" else x0

    def after(self, x: torch.Tensor, state: int, chain: Chain, noise: Callable[[], torch.Tensor]) -> torch.Tensor:
        if state == 0 or self.clamp == "paper":
            target = self.known
        elif self.clamp == "repaint":
            ab = chain.alpha_bar(state - 1)
            target = math.sqrt(ab) * self.known + math.sqrt(1 - ab) * noise()
        else:
            return x
        return torch.where(self.keep, target, x)


@dataclass
class _Level:
    factor: int
    known: torch.Tensor  # 1 x C x h x w, model space
    keep: torch.Tensor  # 1 x C x h x w bool: True where the pixel is known
    active: torch.Tensor  # h x w bool: where the network must run
    chain: Chain
    states: list[int]

    @property
    def calls(self) -> int:
        return sum(1 for a, b in zip(self.states, self.states[1:], strict=False) if b < a)


def _levels(plane: np.ndarray, mask: np.ndarray, n_levels: int, ckpt: Checkpoint, dev: torch.device, *,
            steps: int, jump: int, resample: int, context: int, refine_noise: float,
            final_noise: float) -> list[_Level]:
    """Coarsest first. The coarsest level runs the whole chain; finer ones start from the upsampled
    fill noised to ``refine_noise`` (model units) and refine it (SDEdit-style), with the known
    pixels clamped throughout."""
    diffusion = ckpt.diffusion
    full = _to_tensor(plane, ckpt, dev)
    m = torch.from_numpy(mask.astype(np.float32))[None, None].to(dev)
    t_min = diffusion.terms().step_for_noise(final_noise) if final_noise > 0 else 1
    out = []
    for level in range(n_levels, -1, -1):
        f = 2**level
        size = (max(1, math.ceil(full.shape[-2] / f)), max(1, math.ceil(full.shape[-1] / f)))
        known = full if f == 1 else torch.nn.functional.interpolate(full, size=size, mode="area")
        m_l = m if f == 1 else torch.nn.functional.interpolate(m, size=size, mode="area")
        hole = m_l[0, 0] > (0.5 if f == 1 else 0.0)  # coarse pixels partly in the hole count as unknown
        keep = (~hole)[None, None].expand_as(known)
        active = torch.from_numpy(dilate(hole.cpu().numpy(), max(4, context // (2 * f)))).to(dev)
        t_end = t_min if level == 0 else 1  # only the finest level may end on the posterior mean
        if level == n_levels:
            chain = Chain(diffusion, spaced_timesteps(diffusion.T, steps, t_min=t_end))
        else:
            t_mid = diffusion.terms().step_for_noise(refine_noise)
            chain = Chain(diffusion, spaced_timesteps(diffusion.T, max(4, steps // 2), t_max=t_mid, t_min=t_end))
        states = repaint_states(len(chain), jump=jump, resample=resample)
        out.append(_Level(f, known, keep, active, chain, states))
    return out


def inpaint(image: np.ndarray | str | Path | LoadedImage, mask: np.ndarray | str | Path, *, steps: int = 50,
            resample: int = 5, jump: int = 5, candidates: int = 1, clamp: str = "repaint", seed: int = 0,
            model: str | Path | Checkpoint | None = None, device: str | torch.device = "auto",
            context: int = 64, coarse_levels: int | None = None, refine_noise: float = 0.4,
            final_noise: float = 0.0, mean: bool = False,
            tile: int | None = None, overlap: int = 32,
            reporter: Reporter = NULL_REPORTER, preview_every: int = 0) -> RestoreResult:
    """Fill the masked pixels; ``candidates`` independent fills are returned (the first is the result).

    ``mean``: the result is the mean of the candidates instead, an estimate of the posterior mean.
    It has the lowest expected error (make bench: +1.2 to +2 dB over one fill on scratches), at the
    cost of texture in large holes, where the candidates disagree.

    Large holes are filled coarse to fine: ``coarse_levels`` halvings (default: enough that the
    hole's radius is at most 8 px at the coarsest level) give the network the context it needs;
    each finer level refines the upsampled fill from noise level ``refine_noise``.
    ``final_noise`` > 0 (model units) ends the chain at the step with that noise level and returns
    the network's posterior mean there: less texture, lower error (best for thin scratches).
    ``preview_every``: as in :func:`denoise`."""
    if clamp not in CLAMP_MODES:
        raise RestoreError(f"unknown clamping {clamp!r}; choose one of {', '.join(CLAMP_MODES)}")
    if steps < 1 or resample < 1 or jump < 1 or candidates < 1:
        raise RestoreError("steps, resample, jump and candidates must be at least 1")
    if mean and candidates < 2:
        raise RestoreError("the mean of candidates needs at least 2 candidates")
    _check_tile(tile)
    if mask is None:
        raise RestoreError("inpainting needs a mask (white or non-zero = fill)")
    img = _as_image(image)
    notes = list(img.notes)
    try:
        cov = mask_coverage(mask, (img.height, img.width))
    except MaskError as e:
        raise RestoreError(str(e)) from None
    m = cov > 0
    soft = int(np.count_nonzero(m & (cov < 1)))
    if soft:
        notes.append(f"the mask has {soft} grey pixels: the fill is blended in by their coverage")
    if not m.any():
        raise RestoreError("the mask is empty: nothing to fill (white mask pixels mark what to fill)")
    dev = pick_device(device)
    ckpt = get_model(model, channels=img.channels, device=dev)
    px, back = _fit_channels(img.pixels, ckpt, notes)
    ran = len(spaced_timesteps(ckpt.diffusion.T, steps))
    if ran < steps:
        notes.append(f"{steps} steps asked for; the model has {ran}, which ran")
        steps = ran
    params = {"task": "inpaint", "steps": steps, "resample": resample, "jump": jump, "candidates": candidates,
              "clamp": clamp, "seed": seed, **_model_params(ckpt), "context": context, "refine_noise": refine_noise,
              "final_noise": final_noise, "mean": mean}
    radius = hole_radius(m)
    n_levels = coarse_levels_for(radius) if coarse_levels is None else max(0, int(coarse_levels))
    params["coarse_levels"] = n_levels
    if n_levels:
        notes.append(f"large hole (radius {radius} px): filled coarse to fine over {n_levels + 1} scales")
    # The region to compute: the mask's bounding box grown by enough context for the coarsest level.
    margin = max(context, 3 * radius)
    ys, xs = np.nonzero(m)
    y0, y1 = max(0, ys.min() - margin), min(img.height, ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(img.width, xs.max() + 1 + margin)
    crop, mcrop = px[y0:y1, x0:x1], m[y0:y1, x0:x1]
    tile = tile or default_tile(dev)
    diffusion = ckpt.diffusion
    gen = torch.Generator().manual_seed(seed)
    planes = [crop[:, :, c:c + 1] for c in range(3)] if _per_channel(ckpt, crop) else [crop]
    fills: list[list[np.ndarray]] = [[] for _ in range(candidates)]
    job, calls_total = 0, 0
    for plane in planes:
        levels = _levels(plane, mcrop, n_levels, ckpt, dev, steps=steps, jump=jump, resample=resample,
                         context=context, refine_noise=refine_noise, final_noise=final_noise)
        calls = sum(lv.calls for lv in levels)
        calls_total = calls
        for k in range(candidates):
            x: torch.Tensor | None = None
            done = 0
            for lv in levels:
                if x is None:
                    x = torch.randn(lv.known.shape, generator=gen).to(dev)
                else:  # upsample the coarser fill, keep the known pixels, noise to the chain's top
                    up = torch.nn.functional.interpolate(x, size=lv.known.shape[-2:], mode="bilinear",
                                                         align_corners=False)
                    guess = torch.where(lv.keep, lv.known, up)
                    ab = lv.chain.alpha_bar(len(lv.chain) - 1)
                    x = math.sqrt(ab) * guess + math.sqrt(1 - ab) * torch.randn(guess.shape, generator=gen).to(dev)
                sub = reporter.sub((job * calls + done), len(planes) * candidates * calls)
                cond = ClampCondition(lv.known, lv.keep, clamp)
                with tiled(diffusion, tile, overlap, lv.active, check=reporter.check), _autocast(dev):
                    x = run_chain(lv.chain, x, states=lv.states, condition=cond, generator=gen, clip=ckpt.data_range,
                                  reporter=sub, preview=_previewer(ckpt, back), preview_every=preview_every)
                done += lv.calls
            fills[k].append(_to_array(x, ckpt))
            job += 1
    results = []
    for parts in fills:
        filled_crop = back(np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0])
        out = img.pixels.copy()
        region = out[y0:y1, x0:x1]
        blended = feather(region, filled_crop, cov[y0:y1, x0:x1])
        region[mcrop] = blended[mcrop]  # only masked pixels change
        results.append(out)
    params["region"] = [int(x0), int(y0), int(x1), int(y1)]
    params["network_calls_per_candidate"] = calls_total * len(planes)
    res = RestoreResult(results[0], img.alpha, None, results, params, notes, img.bit_depth, img.info)
    if mean:
        res.pixels = mean_of_candidates(res, m)
        notes.append(f"the mean of {candidates} candidates")
    return res


def mean_of_candidates(result: RestoreResult, mask: np.ndarray | None = None) -> np.ndarray:
    """The mean of the candidates; with ``mask`` only there (every other pixel stays bit-exact)."""
    mean = np.mean(np.stack(result.candidates), axis=0).astype(np.float32)
    if mask is None:
        return mean
    out = result.candidates[0].copy()
    out[mask] = mean[mask]
    return out

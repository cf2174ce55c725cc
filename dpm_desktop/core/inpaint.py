"""Inpainting: the reverse chain with the known pixels clamped at every step, either to their noised
values (RePaint, with optional resampling) or to the clean values (the paper's delta). Only the
region around the mask is computed and every unmasked pixel is returned exactly as it was."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import seams
from .checkpoint import Checkpoint
from .device import pick_device
from .diffusion import Chain, GaussianDiffusion
from .grain import add_grain
from .imaging import LoadedImage
from .masks import (
    MaskError,
    biharmonic_fill,
    coarse_levels_for,
    dilate,
    feather,
    harmonic_fill,
    hole_radius,
    mask_coverage,
)
from .metadata import software_note
from .model_cache import get_model
from .modes import CLAMP_MODES
from .patch_fill import add_texture
from .progress import NULL_REPORTER, PlacedPreview, Reporter
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
    to_array,
    to_tensor,
)
from .sampling import Condition, network_calls, repaint_states, run_chain
from .schedule import spaced_timesteps
from .spectral_fill import spectral_fill
from .tiling import TiledNet


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


GUESSES = ("biharmonic", "spectral")


@dataclass(frozen=True)
class InpaintSettings:
    """How a fill is computed (see :func:`inpaint`). ``start_noise`` 0: the coarsest scale's chain
    starts from pure noise at T; > 0: from the first guess (``guess``: "biharmonic", the smoothest
    continuation, or "spectral", :func:`spectral_fill`'s sparse Fourier model of the texture around
    the mask) noised to that level (model units), or, ``noise_guess`` False, read as the state at
    that level as it is: its own error stands for the noise, and a one-step chain is then the
    denoiser's posterior mean of the guess (deterministic: further candidates noise it first).
    ``by_scales`` replaces settings by how many coarser scales the hole needs (0: thin masks such as
    scratches and text, where every network call covers the whole masked area, so calls are dear;
    1-2: holes up to about 64 px across; 3: larger ones). ``coarse_mean`` > 1: the coarsest scale
    draws that many fills at once (one batch) and the finer scales refine their mean, an estimate of
    the posterior mean of the hole's layout: one draw of a large hole's layout is often wrong as a
    whole (a dark block where a pale stem crosses), and the mean of a few is wrong less.
    ``carry_draws``: the coarse_mean fills are refined together (one batch) through every scale
    and averaged only at the end: the posterior mean of the whole fill, not only of its layout.
    ``close_seams``: last, each hole deeper than 8 px gets the step where its fill meets the photo
    spread over it and removed (:func:`seams.close_seams`)."""

    steps: int
    resample: int
    jump: int = 5
    start_noise: float = 0.0
    refine_noise: float = 0.4
    refine_steps: int | None = None  # finer scales; default half of ``steps`` (at least 4)
    refine_resample: int | None = None  # finer scales; default ``resample``
    final_noise: float = 0.0
    context: int = 64
    guess: str = "biharmonic"
    noise_guess: bool = True
    coarse_mean: int = 1  # fills drawn together at the coarsest scale; the finer scales refine their mean
    carry_draws: bool = False  # the coarse_mean fills go through the finer scales too, averaged at the end
    texture: bool = False  # the photo's own patches texture the fill where they match it (add_texture)
    close_seams: bool = True  # large holes: the fill meets the photo without a step (core/seams.py)
    by_scales: dict[int, dict[str, float | int | str | bool]] = field(default_factory=dict)

    def chain_length(self, coarsest: bool) -> int:
        return self.steps if coarsest else (self.refine_steps or max(4, self.steps // 2))

    def resampling(self, coarsest: bool) -> int:
        return self.resample if coarsest or self.refine_resample is None else self.refine_resample


# How fast fills each kind of mask (``by_scales``, by the coarser scales the mask needs); every
# measurement behind these choices, with the alternatives that lost, is in docs/inpaint-presets.md.
# - Thin masks (0: scratches, text), where one call covers the whole masked area: the spectral fill
#   read as the state at noise 0.047, one call giving its posterior mean.
# - Holes up to ~64 px (1-2): 4 fills from the spectral fill noised to 0.2 (15 steps x 3 at the
#   coarsest, 4 x 1 at each finer scale), refined together in one batch, their mean returned.
# - Larger holes (3): 8 coarse draws at once from the spectral fill noised to 0.8 (25 steps x 5; a
#   96 px hole is 12 px there, so these calls are cheap), their mean refined by 6 steps x 2 at each
#   finer scale, then textured from the photo's own patches where those fit (:func:`add_texture`).
_THIN = {"steps": 1, "resample": 1, "start_noise": 0.047, "final_noise": 0.047, "guess": "spectral",
         "noise_guess": False}
_SHORT = {"steps": 15, "resample": 3, "start_noise": 0.2, "guess": "spectral", "refine_steps": 4, "refine_resample": 1,
          "coarse_mean": 4, "carry_draws": True}
PRESETS: dict[str, InpaintSettings] = {
    "fast": InpaintSettings(steps=50, resample=5, refine_steps=6, refine_resample=2, context=32,
                            by_scales={0: _THIN, 1: _SHORT, 2: _SHORT,
                                       3: {"steps": 25, "resample": 5, "coarse_mean": 8, "texture": True,
                                          "start_noise": 0.8, "guess": "spectral"}}),
    "best": InpaintSettings(steps=50, resample=5),
}
DEFAULT_PRESET = "fast"


def resolve_settings(preset: str, n_levels: int, **given: float | int | None) -> InpaintSettings:
    """The preset's settings, its settings for this many coarser scales, then ``given`` ones."""
    if preset not in PRESETS:
        raise RestoreError(f"unknown inpainting preset {preset!r}; choose one of {', '.join(PRESETS)}")
    chosen = {k: v for k, v in given.items() if v is not None}
    base = PRESETS[preset]
    if n_levels in base.by_scales:
        base = replace(base, **base.by_scales[n_levels])
    settings = replace(base, **chosen)
    if settings.steps < 1 or settings.resample < 1 or settings.jump < 1 or settings.coarse_mean < 1:
        raise RestoreError("steps, resample, jump and coarse_mean must be at least 1")
    if settings.guess not in GUESSES:
        raise RestoreError(f"unknown first guess {settings.guess!r}; choose one of {', '.join(GUESSES)}")
    return settings


@dataclass
class _Scale:
    """One scale of the coarse-to-fine fill, in the numbers (no tensors): what costs time."""

    factor: int
    hole: np.ndarray  # h x w bool, at this scale: pixels partly in the hole count as unknown
    active: np.ndarray  # h x w bool: where the network must run


def _scales(mask: np.ndarray, n_levels: int, context: int) -> list[_Scale]:
    """Coarsest first."""
    out = []
    for level in range(n_levels, -1, -1):
        f = 2**level
        if f == 1:
            hole = mask
        else:
            h, w = -(-mask.shape[0] // f), -(-mask.shape[1] // f)
            padded = np.zeros((h * f, w * f), bool)
            padded[:mask.shape[0], :mask.shape[1]] = mask
            hole = padded.reshape(h, f, w, f).any(axis=(1, 3))
        out.append(_Scale(f, hole, dilate(hole, max(4, context // (2 * f)))))
    return out


def _region(mask: np.ndarray, radius: int, context: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the mask's bounding box grown by enough context for the coarsest scale."""
    margin = max(context, 3 * radius)
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (max(0, int(ys.min()) - margin), min(h, int(ys.max()) + 1 + margin),
            max(0, int(xs.min()) - margin), min(w, int(xs.max()) + 1 + margin))


@dataclass(frozen=True)
class InpaintCost:
    calls: int  # network calls per candidate
    megapixel_calls: float  # sum over the calls of the pixels each computes, in megapixels
    guess_pixels: int = 0  # hole pixels the spectral first guess models (CPU work, once per fill)
    patch_pixels: int = 0  # hole pixels patch_fill renders (CPU work, once per candidate)


def _timesteps(diffusion: GaussianDiffusion, st: InpaintSettings, coarsest: bool, finest: bool) -> list[int]:
    """One scale's chain: from the start (or refine) noise down to the final noise (finest scale
    only: the others end at t = 1). A chain started low on a short schedule has fewer steps than
    asked for (one per timestep there is)."""
    step_for = diffusion.terms().step_for_noise
    t_end = step_for(st.final_noise) if finest and st.final_noise > 0 else 1
    t_top = (step_for(st.start_noise) if st.start_noise else None) if coarsest else step_for(st.refine_noise)
    return spaced_timesteps(diffusion.T, st.chain_length(coarsest), t_max=t_top, t_min=t_end)


def estimate_cost(mask: np.ndarray, *, preset: str = DEFAULT_PRESET, overlap: int = 32,
                  coarse_levels: int | None = None, diffusion: GaussianDiffusion | None = None,
                  **given: float | int | None) -> InpaintCost:
    """What :func:`inpaint` will compute for this mask (H x W, True or > 0 = fill): the app shows it
    (and the time it implies) before Run. Without the model's ``diffusion`` its schedule is taken to
    be long enough for every chain's steps (the bundled models' 1000 steps are)."""
    m = np.asarray(mask) > 0
    if not m.any():
        return InpaintCost(0, 0.0)
    radius = hole_radius(m)
    n_levels = coarse_levels_for(radius) if coarse_levels is None else max(0, int(coarse_levels))
    st = resolve_settings(preset, n_levels, **given)
    y0, y1, x0, x1 = _region(m, radius, st.context)
    calls, mpix = 0, 0.0
    for sc in _scales(m[y0:y1, x0:x1], n_levels, st.context):
        coarsest = sc.factor == 2**n_levels
        length = (st.chain_length(coarsest) if diffusion is None
                  else len(_timesteps(diffusion, st, coarsest, sc.factor == 1)))
        n = network_calls(repaint_states(length, jump=st.jump, resample=st.resampling(coarsest)))
        rows, cols = np.nonzero(sc.active.any(axis=1))[0], np.nonzero(sc.active.any(axis=0))[0]
        h = min(sc.active.shape[0], rows[-1] - rows[0] + 1 + 2 * overlap)
        w = min(sc.active.shape[1], cols[-1] - cols[0] + 1 + 2 * overlap)
        calls += n  # a batch of coarse_mean fills is one call each step
        mpix += n * h * w * (st.coarse_mean if coarsest or st.carry_draws else 1) / 1e6
    guess_pixels = int(np.count_nonzero(m)) if st.guess == "spectral" and st.start_noise else 0
    patch_pixels = int(np.count_nonzero(m)) if st.texture else 0
    return InpaintCost(int(calls), float(mpix), guess_pixels, patch_pixels)


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
        return network_calls(self.states)


def _levels(plane: np.ndarray, mask: np.ndarray, n_levels: int, ckpt: Checkpoint, dev: torch.device,
            st: InpaintSettings, *, tile: int, overlap: int, check: Callable[[], None]) -> list[_Level]:
    """Coarsest first. The coarsest level runs the whole chain (from noise, or from the noised
    first guess); finer ones start from the upsampled fill noised to ``refine_noise`` (model
    units) and refine it (SDEdit-style), with the known pixels clamped throughout."""
    diffusion = ckpt.diffusion
    full = to_tensor(plane, ckpt, dev)
    out = []
    for sc in _scales(mask, n_levels, st.context):
        f, coarsest = sc.factor, sc.factor == 2**n_levels
        known = full if f == 1 else _block_means(full, f, sc.hole.shape)
        keep = torch.from_numpy(~sc.hole).to(dev)[None, None].expand_as(known)
        active = torch.from_numpy(sc.active).to(dev)
        timesteps = _timesteps(diffusion, st, coarsest, f == 1)
        net = TiledNet(diffusion.net, tile=tile, overlap=overlap, active=active, check=check)
        chain = Chain(diffusion, timesteps, net=net)
        states = repaint_states(len(chain), jump=st.jump, resample=st.resampling(coarsest))
        out.append(_Level(f, known, keep, active, chain, states))
    return out


def _block_means(full: torch.Tensor, f: int, shape: tuple[int, int]) -> torch.Tensor:
    """Means over the f x f blocks that :func:`_scales` marks known or not, the image padded at its
    bottom and right edges to whole blocks. (Area interpolation to ceil(H / f) rows when f does not
    divide H spreads its bins across block boundaries: a "known" coarse pixel then averaged in the
    zeroed hole, and the fill grew from a dark rim: a 48 px hole on make bench's motorcycle photo
    scored 9.2 dB against 23.6 for the biharmonic fill.)"""
    h, w = shape
    padded = torch.nn.functional.pad(full, (0, w * f - full.shape[-1], 0, h * f - full.shape[-2]), mode="replicate")
    return torch.nn.functional.avg_pool2d(padded, f)


def _upsampled(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A coarser level's fill on the next finer level's grid: twice the size, cut to ``shape`` (the
    finer grid covers the same pixels from the same corner, so no resize to an odd size shifts it)."""
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return up[..., :shape[0], :shape[1]]


def _first_guess(lv: _Level, method: str, ckpt: Checkpoint, check: Callable[[], None]) -> torch.Tensor:
    """The level's hole filled from its known pixels without the network (model space): "harmonic"
    (the cheapest, a preview), "biharmonic" or "spectral"."""
    known, hole = to_array(lv.known, ckpt), ~lv.keep[0, 0].cpu().numpy()
    if method == "spectral":
        filled = spectral_fill(known, hole, check)
    else:
        filled = (harmonic_fill if method == "harmonic" else biharmonic_fill)(known, hole)
    return to_tensor(filled, ckpt, lv.known.device)


def _placed_previewer(ckpt: Checkpoint, back: Callable[[np.ndarray], np.ndarray], crop: np.ndarray,
                      hole: np.ndarray, region: tuple[int, int, int, int]) -> Callable[[torch.Tensor], PlacedPreview]:
    """run_chain's preview hook for inpainting: the predicted x_0 of any scale, brought to the region's
    size, in the hole only (the known pixels are the photo's), placed at the region."""
    h, w = crop.shape[:2]

    def show(x0: torch.Tensor) -> PlacedPreview:
        if x0.shape[-2:] != (h, w):
            x0 = torch.nn.functional.interpolate(x0.float(), size=(h, w), mode="bilinear", align_corners=False)
        fill = back(to_array(x0, ckpt))
        if fill.shape[2] != crop.shape[2]:  # one channel of a per-channel fill: shown gray
            fill = np.repeat(fill[:, :, :1], crop.shape[2], axis=2)
        return PlacedPreview(np.where(hole[:, :, None], fill, crop).astype(np.float32), region)

    return show


def _noised(guess: torch.Tensor, lv: _Level, gen: torch.Generator, noise: bool = True) -> torch.Tensor:
    """A guess brought to the top of the level's chain: x = sqrt(ab) guess + sqrt(1 - ab) noise
    (``noise`` False: sqrt(ab) guess, the guess read as a noisy observation at that level)."""
    ab = lv.chain.alpha_bar(len(lv.chain) - 1)
    if not noise:
        return math.sqrt(ab) * guess
    return math.sqrt(ab) * guess + math.sqrt(1 - ab) * torch.randn(guess.shape, generator=gen).to(guess.device)


def inpaint(image: np.ndarray | str | Path | LoadedImage, mask: np.ndarray | str | Path, *,
            preset: str = DEFAULT_PRESET, steps: int | None = None, resample: int | None = None,
            jump: int | None = None, candidates: int = 1, clamp: str = "repaint", seed: int = 0,
            model: str | Path | Checkpoint | None = None, device: str | torch.device = "auto",
            context: int | None = None, coarse_levels: int | None = None, refine_noise: float | None = None,
            final_noise: float | None = None, mean: bool = False, eta: float | None = None,
            start_noise: float | None = None, refine_steps: int | None = None,
            refine_resample: int | None = None, texture: bool | None = None, close_seams: bool | None = None,
            tile: int | None = None, overlap: int = 32, grain: bool = True, reporter: Reporter = NULL_REPORTER,
            preview_every: int = 0) -> RestoreResult:
    """Fill the masked pixels; ``candidates`` independent fills are returned (the first is the result).

    ``preset`` "fast" (the default) or "best" (see :data:`PRESETS`); every other setting given
    here replaces the preset's (:class:`InpaintSettings`). ``mean``: the result is the mean of the
    candidates instead, an estimate of the posterior mean: the lowest expected error (make bench:
    +1.2 to +2 dB over one fill on scratches), at the cost of texture in large holes.

    Large holes are filled coarse to fine: ``coarse_levels`` halvings (default: enough that the
    hole's radius is at most 8 px at the coarsest level) give the network the context it needs;
    each finer level refines the upsampled fill from noise level ``refine_noise``. ``texture``:
    the photo's own patches, matched to the chain's fill, give it their texture where they match it
    well (:func:`add_texture`; the fast preset's large holes, which the chain fills with a smooth
    square). ``close_seams`` (both presets): a hole deeper than 8 px gets the step where its fill
    meets the photo spread over it and removed (:func:`seams.close_seams`). ``final_noise`` > 0
    (model units) ends the chain at the step
    with that noise level and returns the network's posterior mean there: less texture, lower
    error. ``eta``: None for ancestral steps, a number for DDIM steps of that stochasticity.
    ``grain``: give the fill the noise the photo has around the hole (see :mod:`grain`; the photo
    models fill with clean content, a smooth patch in a grainy photo otherwise); not with ``mean``;
    where ``texture`` takes the photo's patches, they bring their own. ``preview_every``: as in
    :func:`denoise`; the previews are :class:`PlacedPreview`s of the region; before any network
    call come the first guess, and, where that is the spectral fill (seconds on heavy text), a
    harmonic fill before it."""
    if clamp not in CLAMP_MODES:
        raise RestoreError(f"unknown clamping {clamp!r}; choose one of {', '.join(CLAMP_MODES)}")
    if candidates < 1:
        raise RestoreError("candidates must be at least 1")
    if mean and candidates < 2:
        raise RestoreError("the mean of candidates needs at least 2 candidates")
    check_tile(tile)
    if mask is None:
        raise RestoreError("inpainting needs a mask (white or non-zero = fill)")
    resolve_settings(preset, 1, steps=steps, resample=resample, jump=jump)  # bad arguments fail before any work
    img = as_image(image)
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
    px, back = fit_channels(img.pixels, ckpt, notes)
    radius = hole_radius(m)
    n_levels = coarse_levels_for(radius) if coarse_levels is None else max(0, int(coarse_levels))
    st = resolve_settings(preset, n_levels, steps=steps, resample=resample, jump=jump, context=context,
                          refine_noise=refine_noise, final_noise=final_noise, start_noise=start_noise,
                          refine_steps=refine_steps, refine_resample=refine_resample, texture=texture,
                          close_seams=close_seams)
    ran = len(spaced_timesteps(ckpt.diffusion.T, st.steps))
    if ran < st.steps:
        notes.append(f"{st.steps} steps asked for; the model has {ran}, which ran")
        st = replace(st, steps=ran)
    if n_levels:
        notes.append(f"large hole (radius {radius} px): filled coarse to fine over {n_levels + 1} scales")
    y0, y1, x0, x1 = _region(m, radius, st.context)
    crop, mcrop = px[y0:y1, x0:x1], m[y0:y1, x0:x1]
    tile = tile or default_tile(dev)
    gen = torch.Generator().manual_seed(seed)
    planes = [crop[:, :, c:c + 1] for c in range(3)] if per_channel(ckpt, crop) else [crop]
    fills: list[list[np.ndarray]] = [[] for _ in range(candidates)]
    show = _placed_previewer(ckpt, back, img.pixels[y0:y1, x0:x1], mcrop, (int(x0), int(y0), int(x1), int(y1)))
    job, calls, guess_s = 0, 0, 0.0
    for plane in planes:
        levels = _levels(plane, mcrop, n_levels, ckpt, dev, st, tile=tile, overlap=overlap, check=reporter.check)
        calls = sum(lv.calls for lv in levels)
        total = len(planes) * candidates * calls
        guess: torch.Tensor | None = None  # deterministic: one per plane, shared by the candidates
        for k in range(candidates):
            x: torch.Tensor | None = None
            done = 0
            for lv in levels:
                shown = x is None and preview_every and k == 0 and len(planes) == 1
                if shown and st.guess == "spectral":  # seconds on heavy text: a harmonic fill on screen first
                    reporter.step(job * calls, total, preview=show(_first_guess(lv, "harmonic", ckpt, reporter.check)))
                if x is None and (st.start_noise or shown) and guess is None:
                    started = time.perf_counter()
                    guess = _first_guess(lv, st.guess, ckpt, reporter.check)
                    guess_s += time.perf_counter() - started
                if shown:  # a complete fill on screen before any network call: the first guess
                    reporter.step(job * calls, total, preview=show(guess))
                if x is None and st.start_noise:  # the first guess, noised to the chain's top (SDEdit)
                    # A guess read as it is gives one fill; candidates after the first are noised to vary.
                    x = _noised(guess.expand(st.coarse_mean, -1, -1, -1), lv, gen, st.noise_guess or k > 0)
                elif x is None:  # coarse_mean fills at once (the batch dimension)
                    x = torch.randn((st.coarse_mean, *lv.known.shape[1:]), generator=gen).to(dev)
                else:  # upsample the coarser fill, keep the known pixels, noise to the chain's top
                    up = _upsampled(x, lv.known.shape[-2:])
                    x = _noised(torch.where(lv.keep, lv.known, up), lv, gen)
                sub = reporter.sub(job * calls + done, total)
                cond = ClampCondition(lv.known, lv.keep, clamp)
                with autocast_on(dev):
                    x = run_chain(lv.chain, x, states=lv.states, condition=cond, generator=gen, clip=ckpt.data_range,
                                  reporter=sub, preview=show, preview_every=preview_every, eta=eta)
                if lv is levels[-1] or not st.carry_draws:
                    x = x.mean(0, keepdim=True)  # the fills' mean (one fill: itself)
                done += lv.calls
            fills[k].append(to_array(x, ckpt))
            job += 1
    results, grains = [], []
    patch_s = 0.0
    for k, parts in enumerate(fills):
        filled_crop = back(np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0])
        if grain and not mean:  # the mean of candidates estimates the clean posterior mean: no grain there
            filled_crop, g = add_grain(filled_crop, img.pixels[y0:y1, x0:x1], mcrop, seed + k)
            grains.append(g)
        if st.texture:  # after the grain: the photo's own patches carry theirs
            started = time.perf_counter()
            filled_crop = add_texture(img.pixels[y0:y1, x0:x1], mcrop, filled_crop, levels=n_levels + 1,
                                      seed=seed + k, check=reporter.check)
            patch_s += time.perf_counter() - started
        if st.close_seams:  # last: no step where a large hole's fill meets the photo (core/seams.py)
            filled_crop = seams.close_seams(img.pixels[y0:y1, x0:x1], filled_crop, mcrop)
        out = img.pixels.copy()
        region = out[y0:y1, x0:x1]
        blended = feather(region, filled_crop, cov[y0:y1, x0:x1])
        region[mcrop] = blended[mcrop]  # only masked pixels change
        results.append(out)
    params = {"task": "inpaint", "preset": preset, "steps": st.steps, "resample": st.resample, "jump": st.jump,
              "candidates": candidates, "clamp": clamp, "seed": seed, **model_params(ckpt), "context": st.context,
              "refine_noise": st.refine_noise, "final_noise": st.final_noise, "start_noise": st.start_noise,
              "refine_steps": st.refine_steps, "refine_resample": st.refine_resample, "eta": eta, "mean": mean,
              "coarse_mean": st.coarse_mean, "carry_draws": st.carry_draws, "texture": st.texture,
              "patch_s": round(patch_s, 3), "close_seams": st.close_seams,
              "coarse_levels": n_levels, "region": [int(x0), int(y0), int(x1), int(y1)],
              "guess": st.guess, "noise_guess": st.noise_guess, "guess_s": round(guess_s, 3),
              "network_calls_per_candidate": calls * len(planes), "grain": grain,
              "grain_sigma": round(grains[0], 2) if grains else 0.0}
    if grains and grains[0] >= 1.0:
        notes.append(f"the photo's grain (sigma {grains[0]:.1f}) added to the fill")
    info = {**img.info, "software": software_note(f"inpaint, {preset}")}
    res = RestoreResult(results[0], img.alpha, None, results, params, notes, img.bit_depth, info)
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

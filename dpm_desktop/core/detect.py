"""Find the damage: scratches, dust and spots proposed as an inpainting mask (issue 17).

Work in progress: measured below its targets (make bench, "detect"); offered in the app as Mask >
Find Defects (gui/model/defects.py), labelled work in progress.

Three detectors share one interface (``detect`` / ``anomaly_map`` / ``mask_from_anomaly``):

- ``method="combined"`` (the default): the learned logit + beta x ln(the likelihood anomaly)
  (combined_score), cut at the detector's own ``calibration_combined`` (gray photos, read by
  photo-gray: ``calibration_combined_gray``; scripts/calibrate_detector.py [--gray]; beta and sigma
  come from it, ``sensitivity`` as for the learned method). The two err on different things (the
  detector on thin natural lines and highlights, the likelihood on texture), so their sum
  separates better than either: the only method within 200 false px / MP on the bench's clean
  photos (12.5 with defects-wide, precision 0.99; 108 with defects-medium), and detect -> inpaint
  better than the likelihood's (30.29 vs 27.86 dB), which masks 22,000 px / MP of an undamaged photo.
- ``method="likelihood"``: the photo model's residual. The photo is read as a noisy
  observation at noise level ``sigma``: one network call (tiled like denoising) gives the posterior
  mean E[x_0 | x_t] at every pixel. What the model cannot explain is the residual
  r = |y - E[x_0 | x_t]| (largest over the colour channels). Texture leaves residuals everywhere
  nearby, a scratch or a speck leaves them alone, so each residual is divided by the mean residual
  around it (a 15 px window): a = r / (local mean of r + 2/255). ``sensitivity`` is the number of
  robust deviations above the median anomaly that count as damage. On 4 benchmark photos: F1 0.48
  at sigma 50 and 6 deviations (1 px tolerance), the plain residual 0.46, a median-filter residual
  0.38, top-hats 0.46; the z-score under the model's own posterior variance (Analytic-DPM) did far
  worse (0.05-0.26): at small t that difference is below the learned variance's resolution. It
  finds the most (recall 0.47) but with as many false alarms.
- ``method="learned"``: a small fully-convolutional net (core/defect_net.py, the bundled
  models/defects-wide; Dec 7-8 models/defects-medium, until Dec 7 models/defects-small) trained
  by core/detector_train.py on synthetic damage (core/damage_synth.py) over crops of the training
  photos. Its anomaly map is the per-pixel probability of damage. ``sensitivity`` means a
  false-alarm rate on clean photos: defect_net.false_alarm_budget(s) = 100 x 2^(6 - s) masked px
  per megapixel (100 at the default 6, 3,200 at 1), as calibrated on clean crops of its held-out
  photos (never the benchmark photos). Alone, its confident false alarms are thin natural lines
  (models/defects-small/README.md).

A grainy photo (estimated noise above GRAIN_MIN = 5/255) is denoised at its estimated noise level
before any of the three examines it (_degrained): grain hid nearly all damage from them.

All three are below the issue's targets (make bench, "detect"): at its default the combined method
finds 44 % of the damage at precision 0.99 (F1 0.60); faint stretches of long scratches and the smallest
specks stay below its cut (a lower sensitivity finds more of them).
Measured and not kept: a hysteresis cut (components of a looser cut that touch the strict one)
scored no better than a single cut at the same false alarms (again on Dec 7 with defects-medium, 24
held-out crops: F1 0.60-0.62 at 145-187 false px / MP for cuts 2-8 below the strict one, a single
cut 0.63 at 146); context blocks that widened the learned detector's field to ~270 px, trained
with clean crops among the damaged ones (models/defects-medium/README.md: its logits on undamaged
photos fell to ~-80, so calibration on clean photos stopped meaning anything; held-out F1 0.65 ->
0.50 within 200 false px / MP; trained on crops that all hold some damage they became defects-wide,
the default since Dec 8); the mean of defects-medium's and defects-wide's logits (+0.014 F1 at most
at matched false alarms on held-out crops); a local
scale robust to the damage's own residuals (clipped at 3x the 16 px block median) scored F1 +0.03 at
matched false alarms but, recalibrated, halved the combined method's F1 at its default (0.15 ->
0.08): it lifts the clean calibration crops' outliers as much as the damage. Long thin components of
a looser cut (at least 16-40 px long, at most 2.5-4 px wide on average) added to the strict cut, on
24 crops of the detector's held-out photos with oracle cuts: within 200 false px / MP F1 0.49 ->
0.53 on the bench generator's damage but 0.44 -> 0.41 on film dust (within 500: 0.53 -> 0.66 and
0.48 -> 0.44). The learned logits averaged over 2, 4 or 8 flips and rotations, same crops: within
0.01 of one pass at every budget (100-1,000 false px / MP), at 2-8x its time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import modes
from .checkpoint import Checkpoint
from .defect_net import (
    COMBINED_KEYS,
    Detector,
    get_detector,
    logits,
    probability_threshold,
    score_threshold,
    sigmoid,
)
from .denoise import denoise, estimate_sigma
from .denoise_math import one_step_denoise, step_for_sigma
from .device import pick_device
from .imaging import LoadedImage
from .masks import components, dilate
from .model_cache import get_model
from .progress import NULL_REPORTER, Reporter
from .restore_io import (
    RestoreError,
    as_image,
    autocast_on,
    check_tile,
    default_tile,
    fit_channels,
    model_params,
    per_channel,
    to_tensor,
)
from .tiling import TiledNet

GRAIN_MIN = 5.0  # 0-255: photos noisier than this (denoise.estimate_sigma) are denoised before detection;
# the benchmark photos and the detector's held-out photos estimate 0-3 (texture reads as a little noise)
DEFAULT_SIGMA = 50.0  # 0-255 scale: the noise level the photo is read at (measured best of 20 / 35 / 50)
DEFAULT_SENSITIVITY = 6.0  # combined, learned: 100 false px / MP on clean photos; likelihood: deviations
METHODS = modes.DETECT_METHODS
DEFAULT_METHOD = METHODS[0]  # "combined": the fewest false alarms at as good a fill (module docstring)
WINDOW = 15  # px: the neighbourhood whose mean residual normalises a pixel's residual


@dataclass
class DetectResult:
    mask: np.ndarray  # H x W bool: proposed damage (shaped for inpainting)
    anomaly: np.ndarray  # H x W float32: the per-pixel anomaly a (see the module docstring)
    threshold: float  # the anomaly value the mask was cut at
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def regions(self) -> int:
        return count_regions(self.mask)


def anomaly_map(image: np.ndarray | str | Path | LoadedImage, *, model: str | Path | Checkpoint | None = None,
                method: str = DEFAULT_METHOD, detector: str | Path | Detector | None = None,
                sigma: float = DEFAULT_SIGMA, device: str | torch.device = "auto", tile: int | None = None,
                overlap: int = 32, degrain: bool = True,
                reporter: Reporter = NULL_REPORTER) -> tuple[np.ndarray, dict[str, Any]]:
    """The per-pixel anomaly (H x W float32) and the parameters that reproduce it (pass them to
    mask_from_anomaly). ``model``, ``tile`` and ``overlap``: the photo model of the combined and
    likelihood methods (and of the denoiser for grainy photos) and its tiling; ``sigma``: the
    likelihood method's noise level (the combined method reads its calibration's); ``detector``:
    the combined and learned methods' folder or name (default defects-wide); ``degrain``: denoise
    a grainy photo first (see _degrained)."""
    if method not in METHODS:
        raise RestoreError(f"unknown detection method {method!r}; use {' or '.join(METHODS)}")
    check_tile(tile)
    img, degrained = as_image(image), {}
    if degrain:
        img, degrained = _degrained(img, model=model, device=device, tile=tile, reporter=reporter)
    if method == "learned":
        z, params = _learned_logits(img, detector, tile, reporter)
        return sigmoid(z), {**params, **degrained}
    if method == "combined":
        a, params = _combined_map(img, model=model, detector=detector, device=device, tile=tile, overlap=overlap,
                                  reporter=reporter)
    else:
        a, params = _likelihood_map(img, model=model, sigma=sigma, device=device, tile=tile, overlap=overlap,
                                    reporter=reporter)
    return a, {**params, **degrained}


def _degrained(img: LoadedImage, *, model: str | Path | Checkpoint | None, device: str | torch.device,
               tile: int | None, reporter: Reporter) -> tuple[LoadedImage, dict[str, Any]]:
    """A grainy photo (film grain, sensor noise: its estimated noise above GRAIN_MIN) denoised at its
    estimated level first, and what was done. The detectors and their calibrations know clean
    photos, and grain hides the damage from them: on the app's sample photo (noise 20/255) with
    benchmarks/damage.py's damage, the combined method's F1 at sensitivity 3 / 1 rose from 0.02 /
    0.14 to 0.40 / 0.67 (precision 0.97 / 0.94), and the undamaged sample stayed within 0.01 % of
    its pixels masked. Damage at full contrast survives the denoiser; the grain does not."""
    if min(img.pixels.shape[:2]) < 4:
        return img, {}
    noise = estimate_sigma(img)
    if noise < GRAIN_MIN:
        return img, {}
    # The estimate, used as it is (what sigma="auto" does, without estimating it again).
    clean = denoise(img, sigma=noise, clip_correction=False, model=model, device=device, tile=tile,
                    reporter=reporter)
    return replace(img, pixels=clean.pixels), {"denoised_first": round(noise, 2)}


def _learned_logits(image: np.ndarray | str | Path | LoadedImage, detector: str | Path | Detector | None,
                    tile: int | None, reporter: Reporter) -> tuple[np.ndarray, dict[str, Any]]:
    """The learned detector's logit of damage per pixel (on the CPU; tiles of 1024 px)."""
    check_tile(tile)
    img = as_image(image)
    det = get_detector(detector)
    z = logits(det.net, img.pixels, tile=tile or 1024, check=reporter.check, step=reporter.step)
    params = {"task": "detect", "method": "learned", "detector": det.name, "detector_sha256": det.meta["sha256"],
              "detector_path": str(det.folder.resolve())}
    return z, params


def combined_score(z: np.ndarray, anomaly: np.ndarray, beta: float) -> np.ndarray:
    """The learned logit plus beta x ln(the likelihood anomaly): a pixel must look like damage to the
    detector and be unexplained by the photo model. The two err on different things (the detector on
    thin natural lines and highlights, the likelihood on texture), so their sum separates better
    than either; the anomaly is floored at 1e-3 (a pixel the model explains exactly)."""
    return (z + beta * np.log(np.maximum(anomaly, 1e-3))).astype(np.float32)


def combined_map(image: np.ndarray | str | Path | LoadedImage, det: Detector, *,
                 model: str | Path | Checkpoint | None, beta: float, sigma: float, device: str | torch.device = "auto",
                 tile: int | None = None, overlap: int = 32,
                 reporter: Reporter = NULL_REPORTER) -> tuple[np.ndarray, dict[str, Any]]:
    """combined_score of the detector's logits and the likelihood anomaly at ``sigma``; used by
    the combined method (with its calibration's beta and sigma) and by its calibration."""
    img = as_image(image)
    z, dparams = _learned_logits(img, det, None, reporter)
    a, lparams = _likelihood_map(img, model=model, sigma=sigma, device=device, tile=tile, overlap=overlap,
                                 reporter=reporter)
    return combined_score(z, a, beta), {**lparams, **dparams, "method": "combined", "beta": beta}


def _combined_map(image: np.ndarray | str | Path | LoadedImage, *, model: str | Path | Checkpoint | None,
                  detector: str | Path | Detector | None, device: str | torch.device, tile: int | None,
                  overlap: int, reporter: Reporter) -> tuple[np.ndarray, dict[str, Any]]:
    det = get_detector(detector)
    img = as_image(image)
    key = det.combined_key(img.channels)
    cal = det.meta.get(key)
    if cal is None:
        raise RestoreError(f"defect detector {det.name} has no calibration for the combined method "
                           "(run scripts/calibrate_detector.py on it)")
    score, params = combined_map(img, det, model=model, beta=float(cal["beta"]), sigma=float(cal["sigma"]),
                                 device=device, tile=tile, overlap=overlap, reporter=reporter)
    return score, {**params, "calibration": key}


def _likelihood_map(image: np.ndarray | str | Path | LoadedImage, *, model: str | Path | Checkpoint | None,
                    sigma: float, device: str | torch.device, tile: int | None, overlap: int,
                    reporter: Reporter) -> tuple[np.ndarray, dict[str, Any]]:
    if not 0 < sigma <= 80:
        raise RestoreError(f"sigma must lie in (0, 80] on the 0-255 scale, got {sigma:g}")
    check_tile(tile)
    img = as_image(image)
    dev = pick_device(device)
    ckpt = get_model(model, channels=img.channels, device=dev)
    notes: list[str] = []
    px, _ = fit_channels(img.pixels, ckpt, notes)
    diffusion = ckpt.diffusion
    scale = abs(ckpt.meta["data"]["scale"])
    sig_m = sigma / 255 * scale
    t_star = max(step_for_sigma(diffusion, sig_m), ckpt.first_trained_step)

    def posterior_mean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return diffusion.reverse_step(x, t).pred_x0.float()

    tiled = TiledNet(posterior_mean, tile=tile or default_tile(dev), overlap=overlap, check=reporter.check)
    planes = [px[:, :, c:c + 1] for c in range(3)] if per_channel(ckpt, px) else [px]
    maps = []
    with torch.inference_mode(), autocast_on(dev):
        for k, plane in enumerate(planes):
            y = to_tensor(plane, ckpt, dev)
            mean = one_step_denoise(diffusion, y, sig_m, first_step=ckpt.first_trained_step, predict_x0=tiled)
            r = ((y - mean).abs().amax(dim=1)[0] / scale).cpu().numpy()
            maps.append(r / (_box_mean(r, WINDOW) + 2 / 255))
            reporter.step(k + 1, len(planes))
    anomaly = np.mean(np.stack(maps), axis=0).astype(np.float32)
    params = {"task": "detect", "method": "likelihood", "sigma": sigma, "step": t_star, **model_params(ckpt),
              "tile": tiled.tile}
    return anomaly, params


def _box_mean(a: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size x size window (edges replicated), by summed-area tables."""
    r = size // 2
    p = np.pad(a.astype(np.float64), r + 1, mode="edge")
    c = p.cumsum(0).cumsum(1)
    s = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return (s[:a.shape[0], :a.shape[1]] / (size * size)).astype(np.float32)


def robust_threshold(anomaly: np.ndarray, sensitivity: float) -> float:
    """median + sensitivity x (1.4826 x MAD): the cut for a map whose bulk is undamaged photo."""
    med = float(np.median(anomaly))
    mad = float(np.median(np.abs(anomaly - med))) * 1.4826
    return med + sensitivity * max(mad, 1e-6)


def shape_mask(raw: np.ndarray, *, margin: int = 1, min_pixels: int = 2) -> np.ndarray:
    """A mask fit for inpainting: components smaller than ``min_pixels`` dropped (lone noisy pixels),
    gaps of a pixel closed, and a ``margin`` so the fill also covers the damage's soft rim."""
    keep = _drop_small(raw, min_pixels)
    closed = ~dilate(~dilate(keep, 1), 1)  # closing: bridges one-pixel gaps along a scratch
    return dilate(closed | keep, margin)


def count_regions(mask: np.ndarray) -> int:
    return components(mask)[1]


def _drop_small(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    if min_pixels <= 1 or not mask.any():
        return mask.copy()
    labels, _ = components(mask)
    sizes = np.bincount(labels.ravel())
    big = sizes >= min_pixels
    big[0] = False
    return big[labels]


def detect(image: np.ndarray | str | Path | LoadedImage, *, model: str | Path | Checkpoint | None = None,
           sensitivity: float = DEFAULT_SENSITIVITY, method: str = DEFAULT_METHOD,
           detector: str | Path | Detector | None = None, sigma: float = DEFAULT_SIGMA, margin: int = 1,
           min_pixels: int = 2, device: str | torch.device = "auto", tile: int | None = None,
           degrain: bool = True, reporter: Reporter = NULL_REPORTER) -> DetectResult:
    """Propose the damaged pixels of a photo as an inpainting mask (see the module docstring).
    ``sensitivity``: lower finds more. With the combined (default) and learned methods it sets the
    false alarms on clean photos, 100 x 2^(6 - s) masked px per megapixel; with the likelihood method
    it is the number of robust deviations above the median anomaly. ``model``: the photo model of the
    combined and likelihood methods; ``sigma``: the likelihood method's (the combined method reads
    its calibration's); ``detector``: the combined and learned methods'."""
    if not 0 < sensitivity <= 1000:
        raise RestoreError(f"sensitivity must lie in (0, 1000], got {sensitivity:g}")
    anomaly, params = anomaly_map(image, model=model, method=method, detector=detector, sigma=sigma, device=device,
                                  tile=tile, degrain=degrain, reporter=reporter)
    return mask_from_anomaly(anomaly, sensitivity, margin=margin, min_pixels=min_pixels, params=params)


def threshold_for(anomaly: np.ndarray, sensitivity: float, params: dict[str, Any] | None = None) -> float:
    """The anomaly value a map is cut at: from the detector's calibration for a learned or combined
    map (its params say which), else the robust threshold."""
    method = (params or {}).get("method")
    if method in ("learned", "combined"):
        det = get_detector(Path(params["detector_path"]) if params and "detector_path" in params else None)
        if method == "learned":
            return probability_threshold(det.calibration, sensitivity)
        cal = _combined_calibration(det, params or {})
        if cal is None:
            raise RestoreError(f"defect detector {det.name} has no calibration for the combined method")
        return score_threshold(cal, sensitivity)
    return robust_threshold(anomaly, sensitivity)


def _combined_calibration(det: Detector, params: dict[str, Any]) -> dict[str, Any] | None:
    """The calibration a combined map was made for (its params name it; maps made before gray
    photos had their own were all colour)."""
    return det.meta.get(params.get("calibration", COMBINED_KEYS[3]))


def _notes(params: dict[str, Any]) -> list[str]:
    """What the user should know about how a map was made: a grainy photo examined denoised, and a
    combined map made with another photo model than the calibration's (its false-alarm rate is then
    not the documented one)."""
    grain = params.get("denoised_first")
    notes = [f"the photo is grainy (noise ~{grain:.0f}/255): it was examined denoised at that level"] if grain else []
    return notes + _calibration_notes(params)


def _calibration_notes(params: dict[str, Any]) -> list[str]:
    if params.get("method") != "combined" or "detector_path" not in params:
        return []
    cal = _combined_calibration(get_detector(Path(params["detector_path"])), params) or {}
    want = cal.get("model_sha256")
    if want and params.get("model_sha256") and params["model_sha256"] != want:
        return [f"the combined detector was calibrated with the photo model {cal.get('model', '?')}; with this "
                "model the false alarms per megapixel may differ from the sensitivity's budget"]
    return []


def map_for_display(result: DetectResult) -> np.ndarray:
    """The anomaly as 0..1 for a picture, whatever the method's units: 0 at the typical (median)
    pixel, 1 at and above the mask's cut (`dpm detect --map`; the app's overlay has the same ends)."""
    lo, hi = float(np.median(result.anomaly)), result.threshold
    return np.clip((result.anomaly - lo) / (hi - lo if hi > lo else 1.0), 0, 1).astype(np.float32)


def mask_from_anomaly(anomaly: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY, *, margin: int = 1,
                      min_pixels: int = 2, params: dict[str, Any] | None = None) -> DetectResult:
    """Threshold an anomaly map again without the network (the app's sensitivity slider); ``params``
    as anomaly_map returned them (without, the map is cut as a likelihood map)."""
    thr = threshold_for(anomaly, sensitivity, params)
    mask = shape_mask(anomaly > thr, margin=margin, min_pixels=min_pixels)
    p = {**(params or {}), "sensitivity": sensitivity, "threshold": thr, "margin": margin, "min_pixels": min_pixels,
         "masked_fraction": float(mask.mean())}
    return DetectResult(mask, anomaly, thr, p, _notes(params or {}))

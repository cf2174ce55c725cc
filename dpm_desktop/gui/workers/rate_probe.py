"""How fast fills run here, before the first one (issue 16: the expected time shows before Run, also
on a machine's first fill). Qt-free; run off the GUI thread."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dpm_desktop.core.blur import gaussian_blur
from dpm_desktop.core.device import pick_device
from dpm_desktop.core.inpaint import InpaintCost, estimate_cost, inpaint
from dpm_desktop.core.model_cache import get_model
from dpm_desktop.core.progress import CancelToken, Reporter
from dpm_desktop.core.spectral_fill import spectral_fill


@dataclass(frozen=True)
class Rates:
    """The speeds behind the expected time (units of core.inpaint.estimate_cost); None: not measured."""

    network: float | None  # seconds per megapixel-call
    guess: float | None  # seconds per hole pixel of the spectral first guess (CPU)
    patch: float | None  # seconds per hole pixel of the patch texture (CPU, per candidate)


def fill_rates(cost: InpaintCost, elapsed_s: float, guess_s: float, patch_s: float, candidates: int) -> Rates:
    """The rates one fill measured: its CPU parts by their own timings, the network by the rest."""
    guess = guess_s / cost.guess_pixels if cost.guess_pixels and guess_s > 0 else None
    patch = patch_s / (cost.patch_pixels * candidates) if cost.patch_pixels and patch_s > 0 else None
    network = None
    if cost.megapixel_calls > 0:
        # A preview's first guess (guess_pixels 0) is not estimated apart: it counts as the network's time.
        apart = (guess_s if cost.guess_pixels else 0.0) + (patch_s if cost.patch_pixels else 0.0)
        network = max(elapsed_s - apart, 0.0) / (cost.megapixel_calls * candidates)
    return Rates(network, guess, patch)


def probe_rates(model: str | None, device: str, channels: int, token: CancelToken | None = None) -> Rates:
    """A fast fill of a 96 px hole in a synthetic 256 px photo (the model loaded into the shared
    cache on the way, so the first real fill starts sooner), and the spectral guess of a 48 px hole:
    about 2 s on 2 cores. Measured as a real fill is (:func:`fill_rates`), so the two agree.
    ``token``: cancelled when a real job starts (the two would share the cores): raises Cancelled."""
    reporter = Reporter(token=token)
    rng = np.random.default_rng(0)
    photo = gaussian_blur(rng.random((256, 256, channels), dtype=np.float32), 2.0)
    small = np.zeros((256, 256), bool)
    small[104:152, 104:152] = True
    start = time.perf_counter()
    spectral_fill(photo, small, check=reporter.check)
    guess = (time.perf_counter() - start) / small.sum()
    large = np.zeros((256, 256), bool)
    large[80:176, 80:176] = True
    get_model(model, channels=channels, device=pick_device(device))  # loaded before the clock starts
    start = time.perf_counter()
    result = inpaint(photo, large, model=model, device=device, reporter=reporter)
    elapsed = time.perf_counter() - start
    measured = fill_rates(estimate_cost(large), elapsed, float(result.params.get("guess_s", 0.0)),
                          float(result.params.get("patch_s", 0.0)), 1)
    return Rates(measured.network, measured.guess or float(guess), measured.patch)

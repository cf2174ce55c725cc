"""Denoise and inpaint whole photos: the functions the CLI, the GUI and the Python API call (this
module gathers them; the work is in :mod:`denoise`, :mod:`inpaint`, :mod:`masks`, :mod:`model_cache`
and :mod:`restore_io`).

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

from .denoise import DENOISE_MODES, LikelihoodCondition, denoise, estimate_sigma, resolve_sigma
from .inpaint import CLAMP_MODES, ClampCondition, inpaint, mean_of_candidates
from .model_cache import clear_model_cache, get_model
from .restore_io import RestoreError, RestoreResult, default_tile

__all__ = ["CLAMP_MODES", "DENOISE_MODES", "ClampCondition", "LikelihoodCondition", "RestoreError", "RestoreResult",
           "clear_model_cache", "default_tile", "denoise", "estimate_sigma", "get_model", "inpaint",
           "mean_of_candidates", "resolve_sigma"]

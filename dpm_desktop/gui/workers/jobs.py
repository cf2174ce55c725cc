"""One restoration job, run in a worker thread: call the engine, feather the result into the
image with the painted mask's soft edge, and prepare what the GUI shows (QImages, uncertainty)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect

from dpm_desktop.core import restore
from dpm_desktop.core.masks import feather
from dpm_desktop.core.progress import Reporter
from dpm_desktop.core.restore import RestoreError, RestoreResult

from ..convert import array_to_qimage, colormap
from ..model.result import PendingResult
from ..model.task import TaskParams

PREVIEWS_PER_RUN = 12
DENOISE_MARGIN = 32  # pixels of context around a masked denoise


@dataclass
class JobInput:
    params: TaskParams
    pixels: np.ndarray  # H x W x C float32 [0, 1]; read only
    coverage: np.ndarray | None = None  # H x W uint8 mask, 255 = fill
    generation: int = 0  # the document generation it was started for


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def run_engine(job: JobInput, reporter: Reporter) -> tuple[RestoreResult, tuple[int, int, int, int],
                                                            list[np.ndarray], np.ndarray | None]:
    """Run the task; returns the engine result, the changed region (x0, y0, x1, y1), the candidates
    cropped to it (feathered by the mask) and the uncertainty map cropped to it, if any."""
    p, px, cov = job.params, job.pixels, job.coverage
    every = max(1, p.chain_steps() // PREVIEWS_PER_RUN) if p.chain_steps() else 0
    h, w = px.shape[:2]
    kwargs = p.engine_kwargs()
    unc = None
    if p.task == "inpaint":
        if cov is None or not cov.any():
            raise RestoreError("paint a mask over the area to fill first (brush, rectangle or lasso)")
        # The engine blends the fill in by the coverage (soft brush edges) itself.
        result = restore.inpaint(px, cov, reporter=reporter, preview_every=every, **kwargs)
        x0, y0, x1, y1 = _bbox(cov > 0)
        sources = [c[y0:y1, x0:x1] for c in (result.candidates or [result.pixels])]
        cov = None
    elif p.mask_only and cov is not None and cov.any():
        # Denoise only around the mask: a margin gives the network context at the crop's edges.
        # The sigma of the whole photo (estimated or clip-corrected there), not of the crop.
        sigma, _, _ = restore.resolve_sigma(px, kwargs["sigma"], kwargs["mode"], kwargs.get("clip_correction", True))
        kwargs.update(sigma=sigma, clip_correction=False)
        x0, y0, x1, y1 = _bbox(cov > 0)
        m = DENOISE_MARGIN
        cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
        result = restore.denoise(px[cy0:cy1, cx0:cx1], reporter=reporter, preview_every=every, **kwargs)
        inner = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
        sources = [result.pixels[inner]]
        unc = None if result.uncertainty is None else result.uncertainty[inner]
    else:
        x0, y0, x1, y1 = 0, 0, w, h
        cov = None
        result = restore.denoise(px, reporter=reporter, preview_every=every, **kwargs)
        sources, unc = [result.pixels], result.uncertainty
    crops = []
    for src in sources:
        crop = src if cov is None else feather(px[y0:y1, x0:x1], src, cov[y0:y1, x0:x1].astype(np.float32) / 255)
        crops.append(np.ascontiguousarray(crop, dtype=np.float32))
    if unc is None and len(crops) > 1:  # inpainting candidates: their spread, and their mean as one more choice
        unc = np.stack(crops).std(axis=0).mean(axis=2)
        crops.append(np.mean(np.stack(crops), axis=0).astype(np.float32))
    return result, (x0, y0, x1, y1), crops, unc


def run_job(job: JobInput, reporter: Reporter) -> PendingResult:
    start = time.monotonic()
    result, (x0, y0, x1, y1), crops, unc = run_engine(job, reporter)
    notes = list(result.notes)
    if job.params.task == "denoise" and job.params.sigma_auto:
        notes = [n for n in notes if "estimated" not in n]  # the panel shows the estimate already
    return PendingResult(
        task=job.params.task, region=QRect(x0, y0, x1 - x0, y1 - y0), crops=crops,
        labels=[f"#{i + 1}" for i in range(len(crops) - 1)] + ["Mean"] if len(crops) > 1 else ["#1"],
        images=[array_to_qimage(c) for c in crops], uncertainty=colormap(unc) if unc is not None else None,
        params=result.params, notes=notes, elapsed_s=time.monotonic() - start)

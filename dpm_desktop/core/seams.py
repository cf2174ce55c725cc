"""A large hole's fill meeting the photo without a step at the hole's edge.

A fill of a large hole can be right inside and still off by a shade, or in the wrong layout near
its edge, where it meets the photo (make bench's object-removal photos: a square's outline on a
cat's fur, a cup's pale rim ending in a straight edge). :func:`close_seams` reads the step on a
thin ring just outside the hole, between the photo and the fill extended outwards, and spreads it
over the hole as the smoothest field that takes those values (the solution of Laplace's equation:
the "membrane" of Poisson image editing, Pérez et al. 2003; Farbman et al., "Coordinates for
instant image cloning", 2009). Added to the fill, it leaves the fill's own structure (its
gradients) as it was and removes the step.

Thin masks (scratches, text, holes up to ~16 px across) are left alone: there a fill's inner ring
is most of the fill, and the correction cost 0.3-0.5 dB on the bench's scratches and text.
"""

from __future__ import annotations

import numpy as np

from .masks import FINE_RADIUS, components, dilate, harmonic_fill

RING = 2  # px: the width of the ring outside the hole where the step is read
MIN_RADIUS = FINE_RADIUS + 1  # px: holes filled coarse to fine (deeper than 8 px) get their seam closed
ITERATIONS = 200  # Jacobi sweeps of the membrane after its coarse-to-fine start


def _extended(fill: np.ndarray, hole: np.ndarray, ring: int) -> tuple[np.ndarray, np.ndarray]:
    """The fill carried ``ring`` px outwards, a pixel at a time (each new pixel the mean of its
    already defined 4-neighbours), and where that defines it (the hole and the grown ring)."""
    defined = hole.copy()
    ext = np.where(hole[:, :, None], fill, 0).astype(np.float32)
    for _ in range(ring):
        p = np.pad(ext, ((1, 1), (1, 1), (0, 0)))
        c = np.pad(defined.astype(np.float32), 1)
        total = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
        count = c[:-2, 1:-1] + c[2:, 1:-1] + c[1:-1, :-2] + c[1:-1, 2:]
        new = ~defined & (count > 0)
        ext[new] = (total / np.maximum(count, 1)[:, :, None])[new]
        defined |= new
    return ext, defined


def close_seams(photo: np.ndarray, fill: np.ndarray, hole: np.ndarray, *, ring: int = RING,
                min_radius: int = MIN_RADIUS) -> np.ndarray:
    """``fill`` (H x W x C in [0, 1], the hole's pixels filled) with the step removed where each hole of at
    least ``min_radius`` px meets ``photo`` (the module docstring). Only the pixels of those holes
    change; each is corrected within its own bounding box, so a large photo costs what its holes do."""
    out = fill.astype(np.float32, copy=True)
    deep = hole & ~dilate(~hole, min_radius - 1)
    if not deep.any():
        return out
    labels, _ = components(hole)
    h, w = hole.shape
    for label in np.unique(labels[deep]):
        ys, xs = np.nonzero(labels == label)
        y0, y1 = max(0, ys.min() - ring - 1), min(h, ys.max() + ring + 2)
        x0, x1 = max(0, xs.min() - ring - 1), min(w, xs.max() + ring + 2)
        this = labels[y0:y1, x0:x1] == label
        ext, grown = _extended(out[y0:y1, x0:x1], this, ring)
        band = grown & ~hole[y0:y1, x0:x1]  # the photo's own pixels only, not another hole's
        if not band.any():  # the hole fills the whole photo: nothing to meet
            continue
        step = np.where(band[:, :, None], photo[y0:y1, x0:x1] - ext, 0).astype(np.float32)
        membrane = harmonic_fill(step, ~band, iterations=ITERATIONS)
        out[y0:y1, x0:x1][this] = np.clip(out[y0:y1, x0:x1][this] + membrane[this], 0, 1)
    return out

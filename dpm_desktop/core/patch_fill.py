"""Exemplar-based completion: a hole rendered with patches of the photo around it (Wexler, Shechtman &
Irani 2007, "Space-time completion of video", with Barnes et al. 2009's PatchMatch as the search:
the method behind content-aware fill and GIMP's Resynthesizer heal).

Coarse to fine over an image pyramid; at each level, expectation-maximisation: every patch that
touches the hole is matched to its nearest patch lying wholly in the known pixels (PatchMatch:
matches propagated from neighbours and improved by random search, all patches at once), then every
hole pixel becomes the weighted mean of what the overlapping matches say it is; at the end, each
hole pixel is copied from its own patch's match, so the texture is not averaged away. The matches
of a level seed the next finer one.

:func:`add_texture` is how :func:`inpaint` uses it for large holes: the diffusion chain's fill
(smooth: its posterior-mean-like layout of the hole) guides the completion, the patches are matched
to the current fill and to that guide, and where the photo's own patches explain the hole well (a
low match error: grass, fabric, a grainy sky) their texture replaces the smooth fill; where they do
not (a cup's rim, a face: a copied patch would put the wrong thing there), the chain's fill stays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .blur import gaussian_blur
from .masks import dilate, harmonic_fill, hole_radius

PATCH = 7  # patch side (odd)
COARSEST_RADIUS = 4  # px: the hole's radius at the coarsest level (without a guide)
MIN_SIDE = 24  # px: no level smaller than this
JUMPS = (8, 4, 2, 1)  # propagation distances of one PatchMatch sweep (jump flooding)
# The guide's weight in the match distance. Held-out crops (data/photos' 5 % split, 96 px holes, 2
# seeds, the chain's coarsest fill as the guide, against the chain's own fill): 0 -0.35 dB, fill
# detail 0.71 of the truth's; 0.1 +0.02 dB, 0.72; 0.3 +0.12 dB, 0.62 (the square visible again in
# grass); 1.0 0.32, as smooth as the chain.
GUIDE_WEIGHT = 0.1
# add_texture: the patches' fill where their error is below the first value, the smooth fill above the
# second, a linear blend between. The error: the fill's patches against their matches after the last
# vote (where copies fit together; high along their seams), smoothed over ~2 px, and the departure of
# the patches' low-pass (~4 px) from the smooth fill's (a coherent copy of the wrong thing: a sky's
# patch of another shade, a cup's rim across the cup), added in quadrature. Measured in inpaint.py's
# notes; the seams alone (0.01-0.03): the same PSNR, a lighter square of sky left where a rocket was.
MATCH_ERROR = (0.02, 0.05)
SEAM_SIGMA, LAYOUT_SIGMA = 2.0, 4.0


class _Level:
    """One pyramid level: the image (hole pixels hold the current fill), where the hole is, which
    patch centres may be copied from (``source``: wholly known) and which must be matched
    (``target``: touching the hole). Patches are gathered from the image padded by r, flattened."""

    def __init__(self, image: np.ndarray, hole: np.ndarray, r: int) -> None:
        self.image, self.hole, self.r = image, hole, r
        h, w = hole.shape
        source = ~dilate(hole, r)
        source[:r], source[h - r:], source[:, :r], source[:, w - r:] = False, False, False, False
        self.source = source
        self.ty, self.tx = np.nonzero(dilate(hole, r))
        self.sources = np.flatnonzero(source)  # flat positions y * w + x
        oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
        self.oy, self.ox = oy.ravel(), ox.ravel()
        self.offsets = (oy * (w + 2 * r) + ox).ravel()  # the patch's pixels, in the padded image
        self.flat = self.padded(image)

    def padded(self, image: np.ndarray) -> np.ndarray:
        r = self.r
        return np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect").reshape(-1, image.shape[2])

    def _centre(self, pos: np.ndarray) -> np.ndarray:
        """Flat positions in the image -> flat positions of the same pixels in the padded one."""
        w, r = self.hole.shape[1], self.r
        return (pos // w + r) * (w + 2 * r) + pos % w + r

    def patches(self, pos: np.ndarray, flat: np.ndarray | None = None) -> np.ndarray:
        """n x (patch pixels * channels): the patches centred at these flat positions."""
        rows = (flat if flat is not None else self.flat)[self._centre(pos)[:, None] + self.offsets]
        return rows.reshape(len(pos), -1)

    def target_positions(self) -> np.ndarray:
        return self.ty * self.hole.shape[1] + self.tx

    def refresh(self) -> None:
        self.flat = self.padded(self.image)


def _pyramid(image: np.ndarray, hole: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Finest first: each level the 2x2 means of the known pixels below it; a coarse pixel is in the
    hole when any pixel below it is (as :func:`inpaint`'s scales, so their grids agree)."""
    levels = [(image, hole)]
    while radius > COARSEST_RADIUS and min(levels[-1][1].shape) // 2 >= MIN_SIDE:
        img, m = levels[-1]
        h, w = m.shape
        ph, pw = h + h % 2, w + w % 2
        img = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        m = np.pad(m, ((0, ph - h), (0, pw - w)), mode="edge")
        known = (~m).astype(np.float32)[..., None]
        s = (img * known).reshape(ph // 2, 2, pw // 2, 2, -1).sum(axis=(1, 3))
        n = known.reshape(ph // 2, 2, pw // 2, 2, 1).sum(axis=(1, 3))
        coarse_hole = m.reshape(ph // 2, 2, pw // 2, 2).any(axis=(1, 3))
        levels.append((np.where(n > 0, s / np.maximum(n, 1), 0).astype(np.float32), coarse_hole))
        radius = (radius + 1) // 2
    return levels


class _Matcher:
    """PatchMatch over one level: ``nnf`` holds, per target patch, the flat position of its match."""

    def __init__(self, lv: _Level, nnf: np.ndarray, rng: np.random.Generator, guide: np.ndarray | None) -> None:
        self.lv, self.rng, self.nnf = lv, rng, nnf
        self.wanted = lv.patches(lv.target_positions())
        if guide is not None:  # match the current fill and the guide at once
            self.wanted = (self.wanted + GUIDE_WEIGHT * guide) / (1 + GUIDE_WEIGHT)
        self.dist = self._distance(np.arange(len(nnf)), nnf)

    def _distance(self, sel: np.ndarray, pos: np.ndarray) -> np.ndarray:
        d = self.wanted[sel] - self.lv.patches(pos)
        return np.einsum("ij,ij->i", d, d)

    def _try(self, cy: np.ndarray, cx: np.ndarray, ok: np.ndarray) -> None:
        h, w = self.lv.hole.shape
        ok = ok & (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        sel = np.nonzero(ok)[0]
        sel = sel[self.lv.source[cy[sel], cx[sel]]]
        if not len(sel):
            return
        pos = cy[sel] * w + cx[sel]
        d = self._distance(sel, pos)
        better = d < self.dist[sel]
        self.nnf[sel[better]], self.dist[sel[better]] = pos[better], d[better]

    def sweep(self) -> None:
        lv = self.lv
        h, w = lv.hole.shape
        for k in JUMPS:  # a neighbour's match, shifted back by the step to it
            for dy, dx in ((k, 0), (-k, 0), (0, k), (0, -k)):
                grid = np.full((h, w), -1, np.int64)
                grid[lv.ty, lv.tx] = self.nnf
                ny, nx = lv.ty + dy, lv.tx + dx
                inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
                nb = np.full(len(ny), -1, np.int64)
                nb[inside] = grid[ny[inside], nx[inside]]
                self._try(nb // w - dy, nb % w - dx, nb >= 0)
        radius = max(h, w)
        while radius >= 1:  # random search around the match, in shrinking windows
            cy = self.nnf // w + self.rng.integers(-radius, radius + 1, len(self.nnf))
            cx = self.nnf % w + self.rng.integers(-radius, radius + 1, len(self.nnf))
            self._try(cy, cx, np.ones(len(cy), bool))
            radius //= 2


def _vote(lv: _Level, nnf: np.ndarray, dist: np.ndarray) -> None:
    """Every hole pixel the weighted mean of what the matched patches over it say (Wexler et al.'s
    weights: similarity exp(-d / 2 sigma^2), sigma^2 the 75th percentile of the distances)."""
    h, w = lv.hole.shape
    sigma2 = max(float(np.percentile(dist, 75)), 1e-8)
    weight = np.exp(-(dist - dist.min()) / (2 * sigma2))
    py, px = lv.ty[:, None] + lv.oy, lv.tx[:, None] + lv.ox  # the pixels each target patch covers
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    at = (py * w + px)[inside]
    wts = np.broadcast_to(weight[:, None], py.shape)[inside]
    said = lv.patches(nnf).reshape(len(nnf), len(lv.oy), -1)[inside]
    total = np.bincount(at, weights=wts, minlength=h * w)
    hole = lv.hole.ravel()
    out = lv.image.reshape(h * w, -1)
    for c in range(out.shape[1]):
        acc = np.bincount(at, weights=wts * said[:, c], minlength=h * w)
        out[hole, c] = acc[hole] / np.maximum(total[hole], 1e-12)
    lv.refresh()


def _copy_centres(lv: _Level, nnf: np.ndarray) -> None:
    """Every hole pixel copied from the centre of its own patch's match: no averaging at the end."""
    w = lv.hole.shape[1]
    inhole = lv.hole[lv.ty, lv.tx]
    src = nnf[inhole]
    lv.image[lv.ty[inhole], lv.tx[inhole]] = lv.image[src // w, src % w]


def _upsampled_nnf(coarse: _Level, nnf: np.ndarray, fine: _Level, rng: np.random.Generator) -> np.ndarray:
    """A coarse level's matches carried to the finer one: a fine patch copies from twice its parent's
    match, offset as it is from twice its parent (so the coarse copy goes on at the finer scale);
    where that is no fine source, a random one."""
    ch, cw = coarse.hole.shape
    grid = np.full((ch, cw), -1, np.int64)
    grid[coarse.ty, coarse.tx] = nnf
    qy, qx = np.minimum(fine.ty // 2, ch - 1), np.minimum(fine.tx // 2, cw - 1)
    parent = grid[qy, qx]
    cy = 2 * (parent // cw) + (fine.ty - 2 * qy)
    cx = 2 * (parent % cw) + (fine.tx - 2 * qx)
    h, w = fine.hole.shape
    ok = (parent >= 0) & (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
    ok[ok] = fine.source[cy[ok], cx[ok]]
    out = fine.sources[rng.integers(0, len(fine.sources), len(fine.ty))]
    out[ok] = cy[ok] * w + cx[ok]
    return out


def patch_fill(pixels: np.ndarray, mask: np.ndarray, *, seed: int = 0, patch: int = PATCH, em_iters: int = 4,
               guide: np.ndarray | None = None, guide_levels: int = 1,
               check: Callable[[], None] | None = None) -> np.ndarray:
    """The masked pixels of ``pixels`` (H x W x C float32) rendered with patches of the known ones;
    returns a copy in which only the masked pixels changed. Seeded by ``seed``.

    ``guide`` (H x W x C): a fill of the hole that decides the layout. The completion then starts at
    the ``guide_levels``-th scale (1: full size, 2: half, ...) from the guide's fill there, and every
    level matches patches to the guide as well as to the current fill. Without a guide it starts
    from a harmonic fill at a scale where the hole is a few pixels across. Where no patch is wholly
    known (a hole that leaves no room), the harmonic fill is returned."""
    return _complete(pixels, mask, seed, patch, em_iters, guide, guide_levels, check)[0]


def add_texture(pixels: np.ndarray, mask: np.ndarray, fill: np.ndarray, *, levels: int, seed: int = 0,
                check: Callable[[], None] | None = None) -> np.ndarray:
    """``fill`` (a smooth fill of the masked pixels of ``pixels``, H x W x C) given the texture of
    the photo's own patches where they explain the hole: :func:`patch_fill` guided by ``fill`` from
    its ``levels``-th scale, taken where its patches fit together and keep ``fill``'s layout,
    ``fill`` elsewhere (:func:`texture_weight`). Only masked pixels differ from ``pixels``."""
    hole = np.asarray(mask, bool)
    textured, seams = _complete(pixels, hole, seed, PATCH, 4, fill, levels, check)
    layout = np.sqrt(((gaussian_blur(textured, LAYOUT_SIGMA) - gaussian_blur(fill, LAYOUT_SIGMA)) ** 2).mean(axis=2))
    weight = texture_weight(seams, layout)[..., None]
    out = pixels.astype(np.float32, copy=True)
    out[hole] = (weight * textured + (1 - weight) * fill)[hole]
    return out


def texture_weight(seams: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """The patches' share of the fill (H x W, 0-1) from their match error (``seams``, H x W, smoothed
    here) and their low-pass departure from the smooth fill (``layout``): 1 where the two together
    are below MATCH_ERROR's first value, 0 above its second, linear between."""
    lo, hi = MATCH_ERROR
    error = np.hypot(gaussian_blur(seams, SEAM_SIGMA), layout)
    return np.clip((hi - error) / (hi - lo), 0, 1)


def _complete(pixels: np.ndarray, mask: np.ndarray, seed: int, patch: int, em_iters: int,
              guide: np.ndarray | None, guide_levels: int,
              check: Callable[[], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`patch_fill`, and the RMS error of each target patch's final match (H x W; 0 elsewhere,
    and a large error where the harmonic fill stands in). A coherent copy scores 0 inside and high
    along its seams, where the overlapping matches disagree."""
    hole = np.asarray(mask, bool)
    out = pixels.astype(np.float32, copy=True)
    error = np.zeros(hole.shape, np.float32)
    if not hole.any():
        return out, error
    r = patch // 2
    pyramid = _pyramid(out, hole, hole_radius(hole))
    guides: list[np.ndarray | None] = [None] * len(pyramid)
    if guide is not None:
        pyramid = pyramid[:max(1, guide_levels)]
        whole = np.where(hole[..., None], guide, out).astype(np.float32)
        guides = [g for g, _ in _pyramid(whole, np.zeros_like(hole), hole_radius(hole))][:len(pyramid)]
    rng = np.random.default_rng(seed)
    coarse: _Level | None = None
    matcher: _Matcher | None = None
    nnf = np.zeros(0, np.int64)
    for depth, ((img, m), g) in enumerate(zip(reversed(pyramid), reversed(guides), strict=True)):
        img = img.copy()
        if coarse is not None:  # the coarser fill, upsampled, as the start
            up = np.repeat(np.repeat(coarse.image, 2, axis=0), 2, axis=1)[:m.shape[0], :m.shape[1]]
            img[m] = up[m]
        elif g is not None:
            img[m] = g[m]
        else:
            img = harmonic_fill(img, m)
        lv = _Level(img, m, r)
        if not len(lv.sources):
            return harmonic_fill(out, hole), np.where(hole, 1e9, 0).astype(np.float32)
        if coarse is None:
            nnf = lv.sources[rng.integers(0, len(lv.sources), len(lv.ty))]
        else:
            nnf = _upsampled_nnf(coarse, nnf, lv, rng)
        wanted_guide = None if g is None else lv.patches(lv.target_positions(), lv.padded(g))
        for _ in range(em_iters * 2 if depth == 0 else em_iters):
            if check is not None:
                check()
            matcher = _Matcher(lv, nnf, rng, wanted_guide)
            matcher.sweep()
            nnf = matcher.nnf
            _vote(lv, nnf, matcher.dist)
        coarse = lv
    assert coarse is not None and matcher is not None
    final = coarse.patches(coarse.target_positions()) - coarse.patches(nnf)  # the fill against its matches
    error[coarse.ty, coarse.tx] = np.sqrt(np.einsum("ij,ij->i", final, final) / final.shape[1])
    _copy_centres(coarse, nnf)
    out[hole] = coarse.image[hole]
    return out, error

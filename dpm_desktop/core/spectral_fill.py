"""Frequency selective extrapolation: thin masks (scratches, text) filled from a sparse Fourier model
of the pixels around them (Seiler & Kaup 2010, in the spectral-constrained quadtree form of Genser
et al. 2018 that OpenCV-contrib's ``xphoto.inpaint`` FSR implements).

Each block holding masked pixels is modelled inside a 32 x 32 window: basis functions are chosen
greedily, one conjugate pair at a time, where the weighted residual's spectrum is largest, the
weight being the known pixels' decaying with distance from the block (``rho`` ** distance). Smooth
blocks are modelled whole at 16 px; textured ones are split to 8 and then 4 px, which follow the
edges and stripes that a smooth (biharmonic) fill flattens. Pixels filled at one block size enter
the windows of the next at half weight.

The order matters. A block in the middle of a brush stroke 12-18 px wide sees only pixels 6-10 px
away; modelled from those alone, such blocks came out as 4 px tiles of noise (the app's twig
removal showed them). As in OpenCV, the blocks are modelled from the outside of the mask in, each
seeing the fill of the neighbours modelled before it: luma in OpenCV's order (fewest neighbours left
to fill first, recounted after every round), chroma ring by ring. OpenCV models one block at a time;
here each round models all its blocks at once, as a batch, none next to another.

Measured on 8 crops of the photos no bundled model trained on (the 5 % split of data/photos, 384
px), with the bench's text and 1-10 px scratches (benchmarks/masks.py) and brush strokes up to 16 px,
hole PSNR text / scratches / brush: 30.54 / 29.32 / 28.08 dB, against 30.22 / 28.96 / 27.83 for
OpenCV's FSR fast and 30.24 / 28.95 / 26.88 when every block of a size was modelled at once, in
less than FSR's time (1.6 s a crop against 2.8). Ring by ring for luma as well: 30.44 / 29.26 / 27.42;
in OpenCV's order throughout (no ``ORDERED_ROUNDS`` cap): 30.66 / 29.27 / 28.13 in 2.2 s.
Two things cost quality there: a 24 px window for the 4 px blocks (-0.3 / -0.5 dB) and at most 60
basis functions (-0.1). Chroma filled biharmonically instead: -0.01 to -0.07 dB, and a grey band
along a leaf's edge where the luma continued it and the chroma did not."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .imaging import YCBCR_601

FFT = 32  # window side: a block and the known pixels around it
ORTHOGONALITY = 0.5  # the share of a chosen coefficient taken per step (orthogonality deficiency)
CONCEALED_WEIGHT = 0.5  # the weight of pixels filled at a larger block size in the next windows
ITER_PER_STD, MIN_ITER, MAX_ITER = 1000, 20, 100  # basis functions per window, from its pixels' spread
CHUNK = 512  # windows modelled together: their spectra stay in the cache (3x faster than 2048)
LATER = 1 << 40  # a block's key once it waits for its neighbours' fill
# At most this many rounds in OpenCV's order per block size, the rest ring by ring: the time of a
# heavy mask. Held-out crops, against no cap (text / scratches / brush): 64 rounds -0.12 / +0.05 / -0.05 dB
# in 27 % less time; 128 rounds -0.09 / +0.01 / -0.02 dB in 11 % less. Without any, 1.5 MP with 10 %
# scratches took 35 s, against 21 s for the fill without the order.
ORDERED_ROUNDS = 64
SMALL = 128  # a batch of fewer windows runs faster in numpy than in torch (2-3x at 4 windows)
BLOCKS_AT_ONCE = 4096  # windows cut out together (16 kB each in float64: 64 MB)


@dataclass(frozen=True)
class Level:
    block: int
    rho: float  # the weight's decay per pixel of distance from the block
    threshold: float  # a window whose known pixels' std is below this is modelled at this size


# OpenCV FSR's constants, in its "fast" profile (4 px smallest block, 100 basis functions).
LUMA = (Level(16, 0.80, 0.014), Level(8, 0.70, 0.030), Level(4, 0.66, math.inf))
CHROMA = (Level(16, 0.80, 0.006), Level(8, 0.70, 0.010), Level(4, 0.66, math.inf))  # smoother planes


def spectral_fill(pixels: np.ndarray, mask: np.ndarray, check: Callable[[], None] = lambda: None) -> np.ndarray:
    """``pixels`` H x W x C float32 in [0, 1], ``mask`` H x W bool (True: fill). Three channels are
    taken as RGB: luma and chroma (Rec. 601 YCbCr) modelled; any other count as planes of luma.
    ``check`` is called between batches (a cancel raises there). Returns a copy with only the
    masked pixels changed."""
    out = pixels.astype(np.float32, copy=True)
    if not mask.any():
        return out
    if mask.all():
        out[:] = 0.5
        return out
    if pixels.shape[2] == 3:
        ycc = pixels.astype(np.float64) @ YCBCR_601.T
        luma = _fill_planes(ycc[None, :, :, 0], mask, check, LUMA, by_neighbours=True)[0]
        chroma = _fill_planes(np.moveaxis(ycc[:, :, 1:], 2, 0), mask, check, CHROMA, by_neighbours=False)
        result = np.concatenate([luma[:, :, None], np.moveaxis(chroma, 0, 2)], axis=2) @ np.linalg.inv(YCBCR_601).T
    else:
        planes = np.moveaxis(pixels.astype(np.float64), 2, 0)
        result = np.moveaxis(_fill_planes(planes, mask, check, LUMA, by_neighbours=True), 0, 2)
    out[mask] = np.clip(result[mask], 0, 1)
    return out


def _fill_planes(planes: np.ndarray, mask: np.ndarray, check: Callable[[], None], levels: tuple[Level, ...],
                 by_neighbours: bool) -> np.ndarray:
    """The quadtree over every plane at once: C x H x W in, the same with the mask filled out
    (``by_neighbours``: see :meth:`_State.model_in_order`)."""
    c, h, w = planes.shape
    border = (FFT - levels[-1].block) // 2
    top = levels[0].block
    hp, wp = -(-h // top) * top, -(-w // top) * top
    img = np.zeros((c, hp + 2 * border, wp + 2 * border), np.float32)
    weight = np.zeros_like(img)
    img[:, border:border + h, border:border + w] = np.where(mask, 0.0, planes)
    weight[:, border:border + h, border:border + w] = ~mask
    unfilled = np.zeros(img.shape, bool)  # masked and not modelled yet (the padding is neither)
    unfilled[:, border:border + h, border:border + w] = mask
    state = _State(img, weight, unfilled, border, check)
    grid = unfilled[0, border:border + hp, border:border + wp]
    by, bx = np.nonzero(grid.reshape(hp // top, top, wp // top, top).any(axis=(1, 3)))
    todo = np.stack([np.repeat(np.arange(c), len(by)), np.tile(by, c), np.tile(bx, c)], 1)  # plane, row, col
    for depth, lv in enumerate(levels):
        smallest = depth == len(levels) - 1
        if smallest:
            now = np.ones(len(todo), bool)
        else:  # smooth blocks are modelled at this size; the rest split in four
            now = np.concatenate([state.known_std(todo[s:s + BLOCKS_AT_ONCE], lv.block) < lv.threshold
                                  for s in range(0, len(todo), BLOCKS_AT_ONCE)])
        state.model_in_order(todo[now], lv, hp // lv.block, wp // lv.block, last=smallest,
                             by_neighbours=by_neighbours)
        if smallest or now.all():
            break
        k, y, x = todo[~now].T
        todo = np.stack([np.repeat(k, 4), (y[:, None] * 2 + [0, 0, 1, 1]).reshape(-1),
                         (x[:, None] * 2 + [0, 1, 0, 1]).reshape(-1)], 1)
        todo = todo[state.holds(todo, levels[depth + 1].block)]
    return img[:, border:border + h, border:border + w].astype(np.float64)


@dataclass
class _State:
    """The planes being filled (padded by ``border``), with the weights and what is left to fill."""

    img: np.ndarray
    weight: np.ndarray
    unfilled: np.ndarray
    border: int
    check: Callable[[], None]

    def holds(self, blocks: np.ndarray, b: int) -> np.ndarray:
        k, y, x = blocks.T
        return self.unfilled[_cells(k, y, x, b, self.border, b)].any(axis=(1, 2))

    def windows(self, blocks: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
        k, y, x = blocks.T
        at = _cells(k, y, x, b, self.border - (FFT - b) // 2, FFT)
        return self.img[at].astype(np.float64), self.weight[at].astype(np.float64)

    def known_std(self, blocks: np.ndarray, b: int) -> np.ndarray:
        f, wt = self.windows(blocks, b)
        return _known_std(f, wt > 0)

    def model_in_order(self, blocks: np.ndarray, lv: Level, rows: int, cols: int, last: bool,
                       by_neighbours: bool) -> None:
        """Model ``blocks`` (plane, row, col at size ``lv.block``) from the outside of the mask in,
        so that a block inside a wide stroke sees its outer neighbours' fill rather than only pixels
        10 px away at a weight of rho ** 10 (modelled all at once, such blocks came out as 4 px
        tiles of noise). ``by_neighbours``: OpenCV FSR's order, first the blocks with the fewest
        neighbours left to fill (the image's edge counting as such), recounted after every round;
        else, cheaper, ring by ring (a block's distance from the nearest block with nothing to
        fill). Each round models its blocks at once, taking none next to another. ``last``:
        whatever is left has to be filled here (with 0.5 where nothing is known near it)."""
        if not len(blocks):
            return
        b, c = lv.block, self.img.shape[0]
        inner = self.unfilled[:, self.border:self.border + rows * b, self.border:self.border + cols * b]
        open_ = np.pad(inner.reshape(c, rows, b, cols, b).any(axis=(2, 4)), ((0, 0), (1, 1), (1, 1)))
        k, y, x = blocks.T
        yy, xx = y + 1, x + 1  # in the framed grid ``open_``
        around = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        edge = np.where((y == 0) | (y == rows - 1), 3, 0) + np.where((x == 0) | (x == cols - 1), 3, 0)
        # a static order: the ring, then the parity class of row and column (never neighbours)
        ringed = _rings(open_)[k, yy, xx] * 4 + (y % 2) * 2 + x % 2
        order = np.where(edge == 6, 5, edge) if by_neighbours else ringed  # OpenCV's penalty for the edge
        rounds = 0
        raster = y * cols + x
        rank = np.full(open_.shape, np.iinfo(np.int64).max)  # the candidates' raster index, else max
        deferred = np.zeros(len(blocks), np.int64)  # rounds in which a block saw no pixel at all
        pending = np.ones(len(blocks), bool)
        while pending.any():
            idx = np.nonzero(pending)[0]
            rounds += 1
            if by_neighbours and rounds > ORDERED_ROUNDS:  # the rest ring by ring: a bound on the time
                by_neighbours, order = False, ringed
            if by_neighbours:
                key = order[idx] + sum(open_[k[idx], yy[idx] + dy, xx[idx] + dx] for dy, dx in around) \
                    + LATER * deferred[idx]
                first = idx[key == key.min()]
                # of those, the ones with none of them next to them earlier in raster order
                rank[k[first], yy[first], xx[first]] = raster[first]
                nearest = np.min([rank[k[first], yy[first] + dy, xx[first] + dx] for dy, dx in around], axis=0)
                rank[k[first], yy[first], xx[first]] = np.iinfo(np.int64).max
                go = first[raster[first] < nearest]
            else:
                key = order[idx] + LATER * deferred[idx]
                go = idx[key == key.min()]
            modelled, fills = self.model_round(blocks, go, lv)
            deferred[go[~modelled]] += 1  # saw nothing yet: once the blocks around it are filled
            if not modelled.any():
                if deferred[idx].min() > 8:  # nothing known anywhere near what is left
                    break
                continue
            go = go[modelled]
            at = _cells(k[go], y[go], x[go], b, self.border, b)
            hole = self.unfilled[at]
            self.img[at] = np.where(hole, fills, self.img[at])
            self.weight[at] = np.where(hole, CONCEALED_WEIGHT, self.weight[at])
            self.unfilled[at] = False
            open_[k[go], yy[go], xx[go]] = False
            pending[go] = False
        if last and pending.any():
            left = _cells(k[pending], y[pending], x[pending], b, self.border, b)
            self.img[left] = np.where(self.unfilled[left], 0.5, self.img[left])
            self.unfilled[left] = False

    def model_round(self, blocks: np.ndarray, go: np.ndarray, lv: Level) -> tuple[np.ndarray, np.ndarray]:
        """The fills of the blocks ``blocks[go]``, all from the state before any of them (their
        windows overlap), with the windows cut a batch at a time (memory: a 24 MP photo). Returns
        which of them saw a pixel, and those blocks' fills."""
        b, pad = lv.block, (FFT - lv.block) // 2
        seen, fills = [], []
        for s in range(0, len(go), BLOCKS_AT_ONCE):
            f, wt = self.windows(blocks[go[s:s + BLOCKS_AT_ONCE]], b)
            std = _known_std(f, wt > 0)
            ok = ~np.isnan(std)
            iters = np.clip(np.round(ITER_PER_STD * std[ok]), MIN_ITER, MAX_ITER).astype(np.int64)
            fills.append(_extrapolate(f[ok], wt[ok], iters, lv.rho, self.check)[:, pad:pad + b, pad:pad + b])
            seen.append(ok)
        return np.concatenate(seen), np.concatenate(fills).astype(np.float32)


def _rings(open_: np.ndarray) -> np.ndarray:
    """Per block of a C x rows x cols grid (True: holds pixels to fill), how many times the open
    blocks must be eroded (3 x 3) for it to close: 1 next to a closed block, 2 inside those..."""
    ring = np.zeros(open_.shape, np.int64)
    rows, cols = open_.shape[1:]
    while open_.any():
        ring += open_
        padded = np.pad(open_, ((0, 0), (1, 1), (1, 1)))
        open_ = np.logical_and.reduce([padded[:, 1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols]
                                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return ring


def _cells(k: np.ndarray, y: np.ndarray, x: np.ndarray, block: int, origin: int, side: int) -> tuple:
    """Index arrays of the side x side squares from (origin + y * block, origin + x * block) of plane k."""
    r = np.arange(side)
    return k[:, None, None], origin + y[:, None, None] * block + r[:, None], origin + x[:, None, None] * block + r


def _known_std(f: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per window, the standard deviation of its known pixels (NaN where none is known)."""
    n = known.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (f * known).sum(axis=(1, 2)) / n
        var = (((f - mean[:, None, None]) ** 2) * known).sum(axis=(1, 2)) / n
    return np.sqrt(var)


def _extrapolate(f: np.ndarray, wt: np.ndarray, iters: np.ndarray, rho: float,
                 check: Callable[[], None]) -> np.ndarray:
    """The sparse Fourier model of each window (B x FFT x FFT in, the model's pixels out)."""
    out = np.empty_like(f)
    order = np.argsort(-iters, kind="stable")  # longest first: the windows still running form a prefix
    for s in range(0, len(order), CHUNK):
        check()
        idx = order[s:s + CHUNK]
        out[idx] = _extrapolate_chunk(f[idx], wt[idx], iters[idx], rho, torch if len(idx) >= SMALL else np)
    return out


def _spectra(f: np.ndarray, wt: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: the weighted residual's half spectrum (flat), the weight's spectrum twice over each
    axis (flat: a shift of it becomes a slice) and its DC term, as complex64 / float32."""
    n = FFT
    u = np.arange(n) + 0.5 - n / 2  # from the window's middle, where the block is
    w = wt * rho ** np.sqrt(u[:, None] ** 2 + u[None, :] ** 2)
    big_w = np.fft.fft2(w).astype(np.complex64)
    res = np.fft.rfft2(f * w).astype(np.complex64).reshape(len(f), -1)
    tiled = np.tile(big_w, (1, 2, 2)).reshape(len(f), -1)
    return res, tiled, np.maximum(big_w[:, 0, 0].real, 1e-12)


_FY = FFT / 2 - np.abs(np.arange(FFT) - FFT / 2)
_FX = FFT / 2 - np.abs(np.arange(FFT // 2 + 1) - FFT / 2)
# low frequencies first (the spectral constraint of Genser et al.), squared: the argmax of |R| w is
# that of |R|^2 w^2, without square roots
_FREQ_WEIGHT2 = ((1 - np.sqrt(_FY[:, None] ** 2 + _FX[None, :] ** 2) * math.sqrt(2) / FFT) ** 2).reshape(-1)
_FREQ_WEIGHT2 = _FREQ_WEIGHT2.astype(np.float32)
_BASE = (np.arange(FFT)[:, None] * (2 * FFT) + np.arange(FFT // 2 + 1)[None, :]).reshape(-1)


def _extrapolate_chunk(f: np.ndarray, wt: np.ndarray, iters: np.ndarray, rho: float,
                       xp: Any = torch) -> np.ndarray:
    """The greedy model of a batch of windows (the spectra kept as the half a real signal needs).
    ``xp``: the array library that runs the loop, torch or numpy; numpy's calls cost less on a few
    windows (the ordered rounds are small), torch's arithmetic less on many."""
    n, half = FFT, FFT // 2 + 1
    arrays = (*_spectra(f, wt, rho), iters, _FREQ_WEIGHT2, _BASE)
    res, tiled, w0, budget, freq_weight2, base = (arrays if xp is np else
                                                  tuple(torch.from_numpy(a) for a in arrays))
    # per row of ``a``, the entries at ``i`` (torch's gather is faster there than indexing)
    take = (lambda a, i: a.gather(1, i)) if xp is torch else (lambda a, i: a[np.arange(len(a))[:, None], i])
    g = xp.zeros((len(f), n * n), dtype=res.dtype)
    used = xp.zeros_like(budget)
    live = len(f)
    while live:
        r = res[:live]
        rows = xp.arange(live)
        sel = ((r.real ** 2 + r.imag ** 2) * freq_weight2).argmax(1)
        sy, sx = sel // half, sel % half
        coef = ORTHOGONALITY * take(r, sel[:, None])[:, 0] / w0[:live] * (used[:live] < budget[:live])
        real_basis = ((2 * sy) % n == 0) & ((2 * sx) % n == 0)  # its own conjugate: a real cosine
        a1 = coef - (coef - coef.conj()) / 2 * real_basis  # the real part alone for a real cosine
        a2 = coef.conj() * ~real_basis
        cy, cx = (-sy) % n, (-sx) % n
        starts = xp.stack([(n - sy) * (2 * n) + (n - sx), (n - cy) * (2 * n) + (n - cx)], 1)
        shifted = take(tiled[:live], (starts[:, :, None] + base).reshape(live, -1)).reshape(live, 2, -1)
        r -= a1[:, None] * shifted[:, 0] + a2[:, None] * shifted[:, 1]
        g[rows, sy * n + sx] += a1  # one entry per row: plain indexing adds correctly
        g[rows, cy * n + cx] += a2
        used[:live] += 2 - real_basis * 1
        while live and used[live - 1] >= budget[live - 1]:
            live -= 1
    model = xp.fft.ifft2(g.reshape(-1, n, n)).real * (n * n)
    return np.asarray(model, dtype=np.float64)

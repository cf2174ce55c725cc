"""Run a network on images of any size: overlapping tiles blended with smooth weights.

:class:`TiledNet` wraps a network so that *every* call the diffusion makes (a one-step estimate or
each step of a stochastic chain) is computed tile by tile and blended before the chain moves on.
The chain's state stays one whole image, so no seam can form between tiles, and peak memory is
bounded by the tile size. Tiles that run out of memory are split in half and retried.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .device import is_oom
from .limits import MAX_TILE, MIN_TILE

__all__ = ["MAX_TILE", "MIN_TILE", "TiledNet", "is_oom", "tile_starts"]

def _window(n: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """1-D blending weights: a raised-cosine ramp over ``overlap`` pixels on inner edges."""
    w = torch.ones(n)
    ramp = min(overlap, n // 2)
    if ramp > 0:
        r = 0.5 - 0.5 * torch.cos(torch.linspace(0, math.pi, ramp + 2)[1:-1])
        if not first:
            w[:ramp] = r
        if not last:
            w[-ramp:] = r.flip(0)
    return w


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - overlap
    n = math.ceil((size - overlap) / stride)
    return [min(i * stride, size - tile) for i in range(n)]


class TiledNet(nn.Module):
    """``fn(x, t)`` (a network, or any per-pixel function of one, such as the predicted x_0) on
    overlapping tiles. ``active`` (H x W bool), when given, limits the work to its bounding box grown
    by ``overlap`` pixels of context and rounded out to the network's stride (``multiple``); outputs
    elsewhere are zero (callers must not use them).

    A tile that runs out of memory is halved and retried, and the smaller size is kept for the rest
    of the job (every later call and chain step), so a long chain meets the error once, not at
    every step (chaiNNer keeps its maximum tile size the same way)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], tile: int = 256, overlap: int = 32,
                 active: torch.Tensor | None = None, min_tile: int = 32,
                 check: Callable[[], None] | None = None, multiple: int | None = None) -> None:
        super().__init__()
        self.fn, self.tile, self.overlap, self.active, self.min_tile = fn, tile, overlap, active, min_tile
        self.cfg = getattr(fn, "cfg", None)
        self.multiple = multiple or int(getattr(fn, "multiple", 1))
        self.check = check  # called before every tile: raises to cancel a long call mid-way
        self.calls = 0  # network evaluations (tiles), for the benchmarks

    def region(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the part of an h x w input that is computed."""
        if self.active is None:
            return 0, h, 0, w
        rows = torch.nonzero(self.active.any(dim=1)).flatten()
        cols = torch.nonzero(self.active.any(dim=0)).flatten()
        if len(rows) == 0:
            raise ValueError("the active region is empty")
        m, k = self.overlap, self.multiple
        y0, y1 = max(0, int(rows[0]) - m), min(h, int(rows[-1]) + 1 + m)
        x0, x1 = max(0, int(cols[0]) - m), min(w, int(cols[-1]) + 1 + m)
        # Round the box out to the stride (within the image), so the network pads as little as possible.
        y0, y1 = _round_out(y0, y1, h, k)
        x0, x1 = _round_out(x0, x1, w, k)
        return y0, y1, x0, x1

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y0, y1, x0, x1 = self.region(h, w)
        skip = None if self.active is None else ~self.active[y0:y1, x0:x1]  # tiles wholly outside: not run
        if (y0, y1, x0, x1) == (0, h, 0, w):
            return self._whole(x, t, skip)
        inner = self._whole(x[..., y0:y1, x0:x1], t, skip)
        out = torch.zeros(x.shape[0], inner.shape[1], h, w, device=x.device, dtype=inner.dtype)
        out[..., y0:y1, x0:x1] = inner
        return out

    def _whole(self, x: torch.Tensor, t: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h <= self.tile and w <= self.tile:
            return self._run(x, t, skip)
        return self._tiled(x, t, self.tile, skip)

    def _run(self, x: torch.Tensor, t: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        try:
            self.calls += 1
            return self.fn(x, t)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
            h, w = x.shape[-2:]
            if not is_oom(e) or max(h, w) <= self.min_tile:
                raise
            if x.is_cuda:
                torch.cuda.empty_cache()
            self.tile = max(self.min_tile, min(self.tile, max(h, w) // 2))  # halve, and remember it
            return self._tiled(x, t, self.tile, skip)

    def _tiled(self, x: torch.Tensor, t: torch.Tensor, tile: int, skip: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        overlap = min(self.overlap, tile // 4)
        out: torch.Tensor | None = None
        weight = torch.zeros(1, 1, h, w, device=x.device)
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        for yi, y0 in enumerate(ys):
            for xi, x0 in enumerate(xs):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                if skip is not None and bool(skip[y0:y1, x0:x1].all()):
                    continue
                if self.tile < tile:  # a tile ran out of memory and the size was halved: start over with it
                    return self._tiled(x, t, self.tile, skip)
                if self.check is not None:
                    self.check()
                piece = self._run(x[..., y0:y1, x0:x1], t, None if skip is None else skip[y0:y1, x0:x1])
                if out is None:
                    out = torch.zeros(x.shape[0], piece.shape[1], h, w, device=x.device, dtype=piece.dtype)
                wy = _window(y1 - y0, overlap, yi == 0, yi == len(ys) - 1).to(x.device)
                wx = _window(x1 - x0, overlap, xi == 0, xi == len(xs) - 1).to(x.device)
                win = (wy[:, None] * wx[None, :])[None, None]
                out[..., y0:y1, x0:x1] += piece * win.to(piece.dtype)
                weight[..., y0:y1, x0:x1] += win
        if out is None:
            raise ValueError("no tile touches the active region")
        return out / weight.clamp(min=1e-8).to(out.dtype)


def _round_out(lo: int, hi: int, size: int, k: int) -> tuple[int, int]:
    """Grow [lo, hi) to a length that is a multiple of k, inside [0, size) where possible."""
    if k <= 1:
        return lo, hi
    need = (-(hi - lo)) % k
    grow_hi = min(need, size - hi)
    hi += grow_hi
    lo = max(0, lo - (need - grow_hi))
    return lo, hi

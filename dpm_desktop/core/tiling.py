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
    overlapping tiles. ``active`` (H x W bool), when given, limits the work to tiles that touch it;
    outputs elsewhere are zero (callers must not use them)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], tile: int = 256, overlap: int = 32,
                 active: torch.Tensor | None = None, min_tile: int = 32,
                 check: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.fn, self.tile, self.overlap, self.active, self.min_tile = fn, tile, overlap, active, min_tile
        self.cfg = getattr(fn, "cfg", None)
        self.check = check  # called before every tile: raises to cancel a long call mid-way

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h <= self.tile and w <= self.tile and self.active is None:
            return self._run(x, t)
        return self._tiled(x, t, self.tile)

    def _run(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        try:
            return self.fn(x, t)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
            h, w = x.shape[-2:]
            if not is_oom(e) or max(h, w) <= self.min_tile:
                raise
            if x.is_cuda:
                torch.cuda.empty_cache()
            return self._tiled(x, t, max(self.min_tile, max(h, w) // 2))  # halve and retry

    def _tiled(self, x: torch.Tensor, t: torch.Tensor, tile: int) -> torch.Tensor:
        h, w = x.shape[-2:]
        overlap = min(self.overlap, tile // 4)
        out: torch.Tensor | None = None
        weight = torch.zeros(1, 1, h, w, device=x.device)
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        for yi, y0 in enumerate(ys):
            for xi, x0 in enumerate(xs):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                if self.active is not None and not bool(self.active[y0:y1, x0:x1].any()):
                    continue
                if self.check is not None:
                    self.check()
                piece = self._run(x[..., y0:y1, x0:x1], t)
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

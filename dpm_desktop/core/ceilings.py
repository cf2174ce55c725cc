"""How high the bound K can go: an interval for the best K of any model on our dead-leaves generator.

The bound and its ceiling. K = E_q log[p(x_1..T) / q(x_1..T | x_0)] - H_q(X_1 | X_0) (the t >= 2 KL
terms and the entropy constants of diffusion.py), and the first term is at most -I(X_0; X_1..T) =
-I(X_0; X_1) (Gibbs' inequality on p(x_1..T) against q(x_1..T); the chain is Markov). So any model's
K <= -I(X_0; X_1) - H(X_1 | X_0) = -h(X_1) = E log q(x_1), with x_1 = a x_0 + sqrt(b_1) eps,
a = sqrt(1 - b_1): the best K is K* = -h(X_1) / N, and with h(X_1 | X_0) = N/2 log(2 pi e b_1)

    K* = -1/2 log2(2 pi e b_1) - I(X_0; X_1) / N                                       (bits/px)

A dead-leaves patch is a segmentation S (which disk each pixel shows) and one grey level v_k per
visible leaf, uniform and independent of S and of each other; in model space v_k is uniform on
[-sqrt 3, sqrt 3] (unit variance). x_0 is a function of (S, V), so I(X_0; X_1) = I(S, V; X_1)
= I(S; X_1) + I(V; X_1 | S). Given S, the leaf's mean of x_1 over its n_k pixels is sufficient for
v_k: m_k = a v_k + sqrt(b_1 / n_k) eps, and the leaves are independent, so exactly

    I(V; X_1 | S) = E_S sum_k i(n_k),   i(n) = h(a v + sqrt(b_1/n) eps) - 1/2 log2(2 pi e b_1/n),

which :func:`leaf_value_bits` integrates numerically (about log2(2 sqrt 3 a) - 1/2 log2(2 pi e b_1/n):
4.7 + 1/2 log2 n bits at b_1 = 1e-3). And 0 <= I(S; X_1) <= H(S). Hence

    upper = -1/2 log2(2 pi e b_1) - E sum_k i(n_k) / N        (an oracle given S still pays for V)
    lower = upper - L(S) / N,   L(S) = E[-log2 Q(S)] >= H(S) for any distribution Q on segmentations

L(S) is the expected code length of a constructive code (:class:`SegmentationCode`): the edge map
(for every pair of 4-neighbours: same leaf or not) in raster order, each bit with a probability
from a table over 9 already-coded neighbouring bits; then, for each 4-connected piece of a leaf in
raster order, "a new leaf" or which earlier, non-adjacent leaf it continues (an occluder can split
a disk), ranked by distance. The tables are fitted on patches apart from those the code length is
measured on, so the measured mean is an unbiased estimate of a true upper bound on H(S).

How tight. The interval's width is exactly L(S) / N; K* lies at lower + (L(S) - I(S; X_1)) / N
= lower + (L(S) - H(S) + H(S | X_1)) / N. With b_1 = 1e-3 the noise (std 0.03) is far below a typical
step between leaves (~1.2), so H(S | X_1) should be small (edges between leaves of nearly equal grey);
then K* sits above the lower end by the code's excess over the true entropy, which we do not know. So
neither end is sharp: the upper end is a true ceiling and the lower end a true floor, up to the Monte
Carlo error of the statistics (their standard errors are in :data:`deadleaves_stats.STATS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .datasets import dead_leaves_segmented

LEAF_WIDTH = 2 * math.sqrt(3.0)  # a grey level uniform on [0, 1], scaled to unit variance
EDGE_CONTEXT_BITS = 9
RANKS = 32  # merge ranks coded by table; farther ones by an escape and a uniform choice


def gaussian_step_bits(b1: float) -> float:
    """-h of the first step's Gaussian, per pixel: -1/2 log2(2 pi e b_1)."""
    return -0.5 * math.log2(2 * math.pi * math.e * b1)


def _uniform_plus_gaussian_entropy(r: float) -> float:
    """h(U + r Z) in bits, U uniform on [-1/2, 1/2], Z a unit Gaussian (numerical; exact to ~1e-6)."""
    if r <= 0:
        return 0.0
    # f(y) = Phi((y + 1/2) / r) - Phi((y - 1/2) / r), even in y; -int f log f over y >= 0, doubled.
    mid = max(0.5 - 12 * r, 0.0)
    y = torch.cat([torch.linspace(0.0, mid, 2001, dtype=torch.float64)[:-1],
                   torch.linspace(mid, 0.5 + 12 * r, 40001, dtype=torch.float64)])
    f = torch.special.ndtr((y + 0.5) / r) - torch.special.ndtr((y - 0.5) / r)
    g = torch.where(f > 0, -f * torch.log2(f.clamp_min(1e-300)), torch.zeros_like(f))
    return float(2 * torch.trapezoid(g, y))


def leaf_value_bits(n: np.ndarray | list[int], b1: float) -> np.ndarray:
    """i(n) = I(v; a v + sqrt(b_1 / n) eps) in bits for leaves of n pixels (v uniform, unit variance)."""
    n = np.asarray(n, dtype=np.float64)
    width = math.sqrt(1 - b1) * LEAF_WIDTH
    out = np.empty_like(n)
    for i, ni in enumerate(n):
        sigma = math.sqrt(b1 / ni)
        # h(aU' + sigma Z) = log2(width) + h(U + (sigma / width) Z), U on [-1/2, 1/2]
        h = math.log2(width) + _uniform_plus_gaussian_entropy(sigma / width)
        out[i] = h - 0.5 * math.log2(2 * math.pi * math.e * sigma**2)
    return out


# ------------------------------------------------------------------------------------------------
# A code for the segmentation: the edge map, then which pieces belong to one leaf.


def edge_maps(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(horizontal-neighbour edges (H, W-1), vertical-neighbour edges (H-1, W)) as 0/1 arrays."""
    return (labels[:, 1:] != labels[:, :-1]).astype(np.int64), (labels[1:] != labels[:-1]).astype(np.int64)


def _edge_contexts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bits and contexts of the edge map coded in raster order of pixels: at pixel (i, j) first
    u = [p differs from the pixel above], then l = [p differs from the pixel to the left], each from
    already-coded neighbouring edges. Returns (u bits, u contexts, l bits, l contexts)."""
    he, ve = edge_maps(labels)
    h, w = labels.shape
    P = 2
    H = np.zeros((h + 2 * P, w + 2 * P), np.int64)  # H[i + P, j + P] = he[i, j]; zeros outside
    V = np.zeros((h + 2 * P, w + 2 * P), np.int64)
    H[P:P + h, P:P + w - 1] = he
    V[P:P + h - 1, P:P + w] = ve
    i, j = np.mgrid[0:h, 0:w]

    def Hs(di: int, dj: int) -> np.ndarray:
        return H[i + P + di, j + P + dj]

    def Vs(di: int, dj: int) -> np.ndarray:
        return V[i + P + di, j + P + dj]

    first_col, first_row = (j == 0).astype(np.int64), (i == 0).astype(np.int64)
    # u = V(i-1, j) at pixels with i >= 1
    u_ctx = [Vs(-1, -1), Hs(-1, -1), Hs(-1, 0), Vs(-2, 0), Vs(-1, -2), Vs(-2, -1), Vs(-2, 1), Hs(0, -2), first_col]
    # l = H(i, j-1) at pixels with j >= 1, after u
    l_ctx = [Vs(-1, 0), Vs(-1, -1), Hs(-1, -1), Hs(0, -2), Hs(-1, -2), Hs(-1, 0), Hs(-2, -1), Vs(-1, -2), first_row]
    weights = 1 << np.arange(EDGE_CONTEXT_BITS)
    uc = sum(b * wt for b, wt in zip(u_ctx, weights, strict=True))
    lc = sum(b * wt for b, wt in zip(l_ctx, weights, strict=True))
    return Vs(-1, 0)[1:, :].ravel(), uc[1:, :].ravel(), Hs(0, -1)[:, 1:].ravel(), lc[:, 1:].ravel()


def _pieces(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected same-leaf pieces, numbered 0.. in raster order of their first pixel (each pixel
    takes the smallest raster index among the same-leaf pixels it connects to, until nothing moves)."""
    h, w = labels.shape
    big = h * w
    idx = np.arange(big).reshape(h, w)
    same_l = np.zeros((h, w), bool)
    same_u = np.zeros((h, w), bool)
    same_l[:, 1:] = labels[:, 1:] == labels[:, :-1]
    same_u[1:] = labels[1:] == labels[:-1]
    same_r = np.zeros((h, w), bool)
    same_d = np.zeros((h, w), bool)
    same_r[:, :-1] = same_l[:, 1:]
    same_d[:-1] = same_u[1:]
    while True:
        new = idx.copy()
        new[:, 1:] = np.minimum(new[:, 1:], np.where(same_l[:, 1:], idx[:, :-1], big))
        new[:, :-1] = np.minimum(new[:, :-1], np.where(same_r[:, :-1], idx[:, 1:], big))
        new[1:] = np.minimum(new[1:], np.where(same_u[1:], idx[:-1], big))
        new[:-1] = np.minimum(new[:-1], np.where(same_d[:-1], idx[1:], big))
        new = new.ravel()[new.ravel()].reshape(h, w)  # pointer jumping: follow the new minimum's own
        if np.array_equal(new, idx):
            break
        idx = new
    roots, inverse = np.unique(idx, return_inverse=True)  # each root is its piece's first pixel
    return inverse.reshape(h, w), len(roots)


def _merge_events(labels: np.ndarray) -> list[tuple[int, int | None, int]]:
    """For each piece after the first, in raster order: (flag context, rank of its leaf among the
    earlier non-adjacent leaves sorted by distance or None if it is a new leaf, number of candidates)."""
    pieces, n = _pieces(labels)
    h, w = labels.shape
    leaves = np.unique(labels, return_inverse=True)[1].reshape(h, w)  # leaves numbered 0..L-1
    flat_p, flat_l = pieces.ravel(), leaves.ravel()
    coords = np.stack(np.mgrid[0:h, 0:w], -1).reshape(-1, 2)
    leaf_of = np.empty(n, np.int64)
    leaf_of[flat_p] = flat_l
    adjacent: list[set[int]] = [set() for _ in range(n)]
    for a, b in ((pieces[:, 1:], pieces[:, :-1]), (pieces[1:], pieces[:-1])):
        diff = a != b
        for x, y in zip(a[diff].tolist(), b[diff].tolist(), strict=True):
            adjacent[x].add(y)
            adjacent[y].add(x)
    events: list[tuple[int, int | None, int]] = []
    first_seen = np.full(leaves.max() + 1, -1)  # the piece in which each leaf first appeared
    first_seen[leaf_of[0]] = 0
    for k in range(1, n):
        mine, before = flat_p == k, flat_p < k
        near = {int(leaf_of[q]) for q in adjacent[k] if q < k}
        d2 = ((coords[before][:, None, :] - coords[mine][None]) ** 2).sum(-1).min(1)
        leaves_b = flat_l[before]
        by_leaf = np.lexsort((d2, leaves_b))
        seen_leaves, at = np.unique(leaves_b[by_leaf], return_index=True)
        best = d2[by_leaf][at]  # each earlier leaf's smallest squared distance to piece k
        keep = np.array([int(c) not in near for c in seen_leaves], bool)
        seen_leaves, best = seen_leaves[keep], best[keep]
        cands = seen_leaves[np.lexsort((first_seen[seen_leaves], best))].tolist()
        dmin = math.sqrt(best.min()) if len(cands) else math.inf
        size = int(mine.sum())
        ctx = (0 if dmin <= 2 else 1 if dmin <= 4 else 2 if dmin <= 8 else 3) * 4 \
            + (0 if size == 1 else 1 if size <= 3 else 2 if size <= 9 else 3)
        leaf = int(leaf_of[k])
        rank = cands.index(leaf) if first_seen[leaf] >= 0 else None  # never adjacent, so a candidate
        events.append((ctx, rank, len(cands)))
        if first_seen[leaf] < 0:
            first_seen[leaf] = k
    return events


@dataclass
class SegmentationCode:
    """Count tables of the segmentation code (add-1/2 estimates); see the module docstring."""

    u_counts: np.ndarray  # (2 ** EDGE_CONTEXT_BITS, 2)
    l_counts: np.ndarray
    flag_counts: np.ndarray  # (16, 2): [new leaf, continues an earlier leaf] per context
    rank_counts: np.ndarray  # (RANKS + 1,): ranks 0..RANKS-1, then the escape

    @classmethod
    def fit(cls, label_maps: list[np.ndarray]) -> SegmentationCode:
        k = 2**EDGE_CONTEXT_BITS
        code = cls(np.zeros((k, 2)), np.zeros((k, 2)), np.zeros((16, 2)), np.zeros(RANKS + 1))
        for labels in label_maps:
            ub, uc, lb, lc = _edge_contexts(labels)
            np.add.at(code.u_counts, (uc, ub), 1)
            np.add.at(code.l_counts, (lc, lb), 1)
            for ctx, rank, _ in _merge_events(labels):
                code.flag_counts[ctx, 0 if rank is None else 1] += 1
                if rank is not None:
                    code.rank_counts[min(rank, RANKS)] += 1
        return code

    def bits(self, labels: np.ndarray) -> tuple[float, float]:
        """(-log2 Q(edge map), -log2 Q(pieces -> leaves | edge map)) for one segmentation."""
        def nll(counts: np.ndarray, ctx: np.ndarray, bit: np.ndarray) -> float:
            p = (counts[ctx, bit] + 0.5) / (counts[ctx].sum(-1) + 1.0)
            return float(-np.log2(p).sum())

        ub, uc, lb, lc = _edge_contexts(labels)
        edges = nll(self.u_counts, uc, ub) + nll(self.l_counts, lc, lb)
        rank_p = (self.rank_counts + 0.5) / (self.rank_counts.sum() + 0.5 * (RANKS + 1))
        merges = 0.0
        for ctx, rank, n_cands in _merge_events(labels):
            if n_cands == 0:
                continue  # no earlier non-adjacent leaf: a new leaf, known without a bit
            flag = self.flag_counts[ctx]
            merges -= math.log2((flag[0 if rank is None else 1] + 0.5) / (flag.sum() + 1.0))
            if rank is not None:
                # ranks beyond the candidates are impossible: renormalise over the n_cands possible
                possible = rank_p[:min(n_cands, RANKS)].sum() + (rank_p[RANKS] if n_cands > RANKS else 0.0)
                if rank < RANKS:
                    merges -= math.log2(rank_p[rank] / possible)
                else:
                    merges -= math.log2(rank_p[RANKS] / possible) - math.log2(n_cands - RANKS)
        return edges, merges

    TABLES = ("u_counts", "l_counts", "flag_counts", "rank_counts")

    def tables(self) -> dict[str, list[Any]]:
        return {k: getattr(self, k).astype(int).tolist() for k in self.TABLES}

    @classmethod
    def from_tables(cls, t: dict[str, list[Any]]) -> SegmentationCode:
        return cls(*(np.asarray(t[k], dtype=np.float64) for k in cls.TABLES))


def segmentations(size: int, n: int, seed: int) -> list[np.ndarray]:
    """n label maps from the real generator (:func:`datasets.dead_leaves_segmented`)."""
    rng = np.random.default_rng(seed)
    return [dead_leaves_segmented(size, rng)[1] for _ in range(n)]


def measure_stats(size: int, n_fit: int, n_eval: int, seed: int = 2024) -> dict[str, Any]:
    """The generator statistics the interval needs, by Monte Carlo: the mean number of visible
    leaves of each size per patch, and the segmentation code's length (fitted on ``n_fit`` patches,
    measured on ``n_eval`` others), with standard errors."""
    code = SegmentationCode.fit(segmentations(size, n_fit, seed))
    evals = segmentations(size, n_eval, seed + 1)
    hist = np.zeros(size * size + 1)
    edge, merge, upper_ref = [], [], []
    table = leaf_value_bits(np.arange(1, size * size + 1), 1e-3)
    for labels in evals:
        counts = np.bincount(np.unique(labels, return_counts=True)[1], minlength=size * size + 1)
        hist += counts
        upper_ref.append(float((counts[1:] * table).sum()))
        e, m = code.bits(labels)
        edge.append(e)
        merge.append(m)
    n = len(evals)

    def se(v: list[float]) -> float:
        return float(np.std(v, ddof=1) / math.sqrt(n))

    px = size * size
    return {"size": size, "seed": seed, "n_fit": n_fit, "n_eval": n,
            "leaf_sizes": {int(k): float(v / n) for k, v in enumerate(hist) if v > 0},
            "edge_bits_per_px": float(np.mean(edge)) / px, "edge_bits_stderr": se(edge) / px,
            "merge_bits_per_px": float(np.mean(merge)) / px, "merge_bits_stderr": se(merge) / px,
            "code_bits_per_px": float(np.mean(np.add(edge, merge))) / px,
            "code_bits_stderr": se(list(np.add(edge, merge))) / px,
            "leaf_value_bits_per_px_at_1e-3": float(np.mean(upper_ref)) / px,
            "leaf_value_bits_stderr_at_1e-3": se(upper_ref) / px,
            "tables": code.tables()}


@dataclass
class CeilingInterval:
    lower_bits: float
    upper_bits: float
    b1: float
    leaf_value_bits: float  # E sum_k i(n_k) / N: what an oracle that knows S still pays
    segmentation_bits: float  # L(S) / N: the code length that separates the two ends
    stats: str  # where the generator statistics come from


@lru_cache(maxsize=8)
def _stats_for(size: int) -> tuple[dict[str, Any], str]:
    from .deadleaves_stats import STATS

    if size in STATS:
        s = STATS[size]
        return s, f"stored Monte Carlo statistics, {s['n_eval']} patches of {size} px (seed {s['seed']})"
    s = measure_stats(size, n_fit=64, n_eval=64)  # an unusual patch size: measured now, more loosely
    return s, f"measured now on 64 patches of {size} px (seed {s['seed']})"


def deadleaves_ceiling(size: int, b1: float, data_std: float = 1.0) -> CeilingInterval:
    """[lower, upper] for the best K any model reaches on our dead-leaves patches of ``size`` px
    with first-step variance ``b1`` (model space; ``data_std`` shifts by log2 data_std as K is)."""
    stats, source = _stats_for(size)
    sizes = np.array(list(stats["leaf_sizes"]), dtype=np.int64)
    counts = np.array(list(stats["leaf_sizes"].values()))
    px = size * size
    values = float((counts * leaf_value_bits(sizes, b1)).sum()) / px
    upper = gaussian_step_bits(b1) - values + math.log2(data_std)
    seg = stats["code_bits_per_px"]
    return CeilingInterval(upper - seg, upper, b1, values, seg, source)

"""Training data that needs no download: the 2-D Swiss roll, dead leaves, and local image folders.

Every dataset yields batches as float32 tensors in the model's space and describes itself
(``describe()``) for the checkpoint metadata, including the transform from pixel values u in
[0, 1] to model space y = (u - offset) * scale.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .imaging import IMAGE_EXTENSIONS, ImageError, check_decodable, image_size, load_image, to_gray

# ----------------------------------------------------------------------------------------------
# Swiss roll


# The paper's Table 1 gives K = 2.35 and K - L_null = 4.50 bits for the Swiss roll, so its L_null
# (an isotropic Gaussian fitted to the data) is -2.15 bits per point: the data had a variance of
# about 2^2.15 / (2 pi e) = 0.26 per dimension. We scale our roll to that variance.
SWISSROLL_VARIANCE = 2 ** (4.50 - 2.35) / (2 * math.pi * math.e)
SWISSROLL_NOISE = 0.1  # Gaussian noise (raw units) around the curve: a thin 2-D density, not a curve


def swissroll_raw(n: int, rng: np.random.Generator, noise: float = SWISSROLL_NOISE) -> np.ndarray:
    """Points of sklearn's Swiss roll (t in 1.5 pi (1 + 2u), (t cos t, t sin t)) plus Gaussian noise."""
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    return pts + noise * rng.standard_normal((n, 2))


def _swissroll_stats() -> tuple[np.ndarray, float]:
    pts = swissroll_raw(400_000, np.random.default_rng(12345))
    mean = pts.mean(axis=0)
    scale = math.sqrt(SWISSROLL_VARIANCE / pts.var(axis=0).mean())
    return mean, scale


class SwissRoll:
    """2-D points shaped (N, 2, 1, 1) so that the image networks serve as per-point MLPs."""

    kind = "points"

    def __init__(self, seed: int = 0) -> None:
        self.mean, self.scale = _swissroll_stats()
        self.rng = np.random.default_rng(seed)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self.mean) * self.scale

    def sample(self, n: int) -> torch.Tensor:
        pts = self.transform(swissroll_raw(n, self.rng))
        return torch.from_numpy(pts.astype(np.float32)).view(n, 2, 1, 1)

    def true_log_density_bits(self, n: int = 4000, seed: int = 7, blur_var: float = 0.0) -> float:
        """E[log2 p(x)] of the scaled roll, by numerical integration over the curve parameter: the best
        any model's K can reach (bits per point). With ``blur_var`` = b_1 it is E[log2 q(x_1)], the
        ceiling of the bound for a chain whose first step adds that much noise."""
        rng = np.random.default_rng(seed)
        x = self.transform(swissroll_raw(n, rng)) + math.sqrt(blur_var) * rng.standard_normal((n, 2))
        grid = 1.5 * np.pi * (1 + 2 * (np.arange(20000) + 0.5) / 20000)
        curve = self.transform(np.stack([grid * np.cos(grid), grid * np.sin(grid)], axis=1))
        s2 = (SWISSROLL_NOISE * self.scale) ** 2 + blur_var
        logp = []
        for chunk in np.array_split(x, max(1, n // 500)):
            d2 = ((chunk[:, None, :] - curve[None]) ** 2).sum(-1)
            m = (-d2 / (2 * s2)).max(axis=1, keepdims=True)
            lse = m[:, 0] + np.log(np.exp(-d2 / (2 * s2) - m).mean(axis=1))
            logp.append(lse - math.log(2 * math.pi * s2))
        return float(np.concatenate(logp).mean() / math.log(2))

    def describe(self) -> dict[str, Any]:
        # data_std = 1: bits are reported in the roll's own space, the paper's scale (see above).
        return {"kind": "points", "channels": 2, "patch_size": 1, "offset": 0.0, "scale": 1.0, "data_std": 1.0,
                "summary": {"source": "swissroll", "noise": SWISSROLL_NOISE, "variance_per_dim": SWISSROLL_VARIANCE}}


# ----------------------------------------------------------------------------------------------
# Dead leaves


def dead_leaves(size: int, rng: np.random.Generator, *, r_min: float = 1.0, r_max: float | None = None,
                max_disks: int = 200_000) -> np.ndarray:
    """One dead-leaves image (float32 HxW in [0, 1]).

    Occluding disks with radius density proportional to r^-3 on [r_min, r_max], uniform centres
    (over the image grown by r_max, so that edges are covered like the interior) and uniform
    intensities, drawn front to back until every pixel is covered.
    """
    return dead_leaves_segmented(size, rng, r_min=r_min, r_max=r_max, max_disks=max_disks)[0]


def dead_leaves_segmented(size: int, rng: np.random.Generator, *, r_min: float = 1.0, r_max: float | None = None,
                          max_disks: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dead_leaves` (the same draws, so the same image) and its segmentation: an int32 HxW
    map of which disk (in drawing order) each pixel shows."""
    r_max = r_max if r_max is not None else size / 2
    img = np.full((size, size), np.nan, dtype=np.float32)
    labels = np.full((size, size), -1, dtype=np.int32)
    covered = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    a, b = r_min**-2, r_max**-2
    drawn = 0
    while not covered.all():
        if drawn >= max_disks:
            raise RuntimeError("dead leaves: image not covered after max_disks disks")
        k = 256
        u = rng.random(k)
        radii = (a - u * (a - b)) ** -0.5
        cx = rng.uniform(-r_max, size + r_max, k)
        cy = rng.uniform(-r_max, size + r_max, k)
        vals = rng.random(k).astype(np.float32)
        for i, (r, x0, y0, v) in enumerate(zip(radii, cx, cy, vals, strict=True)):
            x_lo, x_hi = max(int(x0 - r), 0), min(int(x0 + r) + 1, size)
            y_lo, y_hi = max(int(y0 - r), 0), min(int(y0 + r) + 1, size)
            if x_lo >= x_hi or y_lo >= y_hi:
                continue
            sub = (xx[y_lo:y_hi, x_lo:x_hi] - x0) ** 2 + (yy[y_lo:y_hi, x_lo:x_hi] - y0) ** 2 <= r * r
            new = sub & ~covered[y_lo:y_hi, x_lo:x_hi]
            if new.any():
                img[y_lo:y_hi, x_lo:x_hi][new] = v
                labels[y_lo:y_hi, x_lo:x_hi][new] = drawn + i
                covered[y_lo:y_hi, x_lo:x_hi] |= new
        drawn += k
    return img, labels


DEAD_LEAVES_MEAN, DEAD_LEAVES_STD = 0.5, math.sqrt(1 / 12)  # uniform intensities


class DeadLeaves:
    """Dead-leaves patches scaled to zero mean and unit variance, from a pre-drawn pool."""

    kind = "image"

    def __init__(self, size: int = 64, seed: int = 0, pool: int = 2000) -> None:
        self.size = size
        rng = np.random.default_rng(seed)
        self.pool = np.stack([dead_leaves(size, rng) for _ in range(pool)])
        self.rng = np.random.default_rng(seed + 1)

    def sample(self, n: int, *, replace: bool = True) -> torch.Tensor:
        """n patches of the pool: drawn with replacement for training; without (``replace=False``,
        n at most the pool) for evaluation, where a repeated patch would understate the error."""
        if replace:
            idx = self.rng.integers(0, len(self.pool), n)
        elif n > len(self.pool):
            raise ValueError(f"{n} distinct patches asked of a pool of {len(self.pool)}")
        else:
            idx = self.rng.permutation(len(self.pool))[:n]
        x = self.pool[idx]
        k = self.rng.integers(0, 4)
        x = np.rot90(x, k, axes=(1, 2))
        if self.rng.random() < 0.5:
            x = x[:, :, ::-1]
        y = (x - DEAD_LEAVES_MEAN) / DEAD_LEAVES_STD
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[:, None]

    def describe(self) -> dict[str, Any]:
        return {"kind": "image", "channels": 1, "patch_size": self.size, "offset": DEAD_LEAVES_MEAN,
                "scale": 1 / DEAD_LEAVES_STD, "data_std": 1.0,
                "summary": {"source": "deadleaves", "radius_density": "r^-3", "r_min": 1, "r_max": self.size / 2,
                            "pool": len(self.pool)}}


# ----------------------------------------------------------------------------------------------
# Image folders


class DatasetError(Exception):
    """A training folder that cannot be used; the message says why."""


@dataclass
class FolderScan:
    usable: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    grayscale: int = 0


def scan_folder(folder: Path, min_side: int) -> FolderScan:
    """Find usable images recursively; unreadable, truncated or too-small files are listed with a
    reason. Every candidate is decoded once (JPEGs at 1/8 scale), so a broken file is found here
    rather than in the middle of training."""
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: is not a folder")
    scan = FolderScan()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            scan.skipped.append((path, "not an image file extension"))
            continue
        try:
            w, h = image_size(path)
            if min(w, h) < min_side:
                scan.skipped.append((path, f"too small ({w}x{h}; patches need {min_side} px)"))
                continue
            check_decodable(path)
            with Image.open(path) as im:
                gray = im.mode in ("L", "I;16", "I", "1", "LA", "F")
        except ImageError as e:
            scan.skipped.append((path, str(e).split(": ", 1)[-1]))
            continue
        scan.usable.append(path)
        scan.sizes[str(path)] = (w, h)
        scan.grayscale += int(gray)
    return scan


def split_by_file(paths: list[Path], root: Path, val_percent: float) -> tuple[list[Path], list[Path]]:
    """Deterministic split by a hash of each file's path relative to the folder."""
    if val_percent <= 0 or len(paths) < 2:
        return list(paths), []
    train, val = [], []
    for p in paths:
        h = int(hashlib.sha1(str(p.relative_to(root)).encode()).hexdigest()[:8], 16) % 10000
        (val if h < val_percent * 100 else train).append(p)
    if not val:  # small folders: keep one file apart anyway
        val = [train.pop(len(train) // 2)]
    if not train:
        train = [val.pop()]
    return train, val


class ImageFolder:
    """Random crops at random scales, flips and 90-degree turns from a folder of photos.

    Decoded images are cached up to ``cache_mb`` (least recently used dropped first), so memory
    stays bounded for large folders. Each image is stored with its long side at most ``max_side``:
    downscaling removes sensor noise and JPEG blocks, which a denoiser must not learn as signal.
    """

    kind = "image"

    def __init__(self, paths: list[Path], *, root: Path, patch: int, channels: int, seed: int = 0,
                 min_scale: float = 0.25, max_side: int = 2048, cache_mb: int = 1500, turns: bool = True) -> None:
        if not paths:
            raise DatasetError(f"{root}: no usable images")
        self.paths, self.root, self.patch, self.channels = list(paths), Path(root), patch, channels
        self.min_scale, self.max_side = min_scale, max_side
        self.turns = turns  # 90-degree turns; off for oriented textures (bark grows vertically)
        self.rng = np.random.default_rng(seed)
        self.cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self.cache_bytes, self.cache_limit = 0, cache_mb * 1024 * 1024
        self.failed: list[tuple[Path, str]] = []

    def _image(self, path: Path) -> np.ndarray | None:
        if path in self.cache:
            self.cache.move_to_end(path)
            return self.cache[path]
        try:
            loaded = load_image(path)
        except ImageError as e:
            self.failed.append((path, str(e)))
            self.paths.remove(path)
            if not self.paths:
                raise DatasetError(f"{self.root}: no readable images left (last error: {e})") from None
            return None
        px = loaded.pixels
        px = to_gray(px) if self.channels == 1 else (np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px)
        h, w = px.shape[:2]
        if max(h, w) > self.max_side:
            f = self.max_side / max(h, w)
            px = _resize(px, (max(1, round(w * f)), max(1, round(h * f))))
        arr = (np.clip(px, 0, 1) * 255 + 0.5).astype(np.uint8)
        self.cache[path] = arr
        self.cache_bytes += arr.nbytes
        while self.cache_bytes > self.cache_limit and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.cache_bytes -= old.nbytes
        return arr

    def crop(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """One HxWxC float32 crop in [0, 1]."""
        rng = rng or self.rng
        while True:
            path = self.paths[int(rng.integers(0, len(self.paths)))]
            img = self._image(path)
            if img is not None:
                break
        h, w = img.shape[:2]
        max_scale = 1.0
        min_scale = max(self.min_scale, self.patch / min(h, w))
        scale = math.exp(rng.uniform(math.log(min_scale), math.log(max_scale))) if min_scale < max_scale else 1.0
        side = min(round(self.patch / scale), h, w)
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img[y0:y0 + side, x0:x0 + side].astype(np.float32) / 255.0
        if side != self.patch:
            crop = _resize(crop, (self.patch, self.patch))
        if self.turns:
            crop = np.rot90(crop, int(rng.integers(0, 4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop)

    def sample(self, n: int) -> torch.Tensor:
        batch = np.stack([self.crop() for _ in range(n)])  # B,H,W,C in [0, 1]
        y = (batch - 0.5) * 2.0
        return torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2)))

    def fixed_patches(self, n: int, seed: int) -> torch.Tensor:
        """The same ``n`` patches every time (for validation)."""
        rng = np.random.default_rng(seed)
        batch = np.stack([self.crop(rng) for _ in range(n)])
        return torch.from_numpy(np.ascontiguousarray(((batch - 0.5) * 2.0).transpose(0, 3, 1, 2)))

    def describe(self) -> dict[str, Any]:
        return {"kind": "image", "channels": self.channels, "patch_size": self.patch, "offset": 0.5, "scale": 2.0,
                "data_std": 0.5,  # typical photo pixels have std ~0.25 in [0, 1]; refined by measure_std
                "dequantize": True,
                "summary": {"source": str(self.root), "images": len(self.paths), "min_scale": self.min_scale,
                            "max_side": self.max_side}}


def _resize(px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a float HxWxC array to (width, height)."""
    chans = [Image.fromarray(px[:, :, c], mode="F").resize(size, Image.Resampling.LANCZOS if size[0] < px.shape[1]
                                                           else Image.Resampling.BICUBIC)
             for c in range(px.shape[2])]
    return np.clip(np.stack([np.asarray(c) for c in chans], axis=2), 0, 1).astype(np.float32)

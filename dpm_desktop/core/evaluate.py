"""The bound K on held-out data, in bits per pixel (all channels of a pixel together: three values
for colour) or per 2-D point, as in the paper's Table 1 and its code (CIFAR-10: K = 11.895 bits/px,
L_null = 3 x -2.047)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .ceilings import deadleaves_ceiling
from .checkpoint import Checkpoint
from .datasets import DeadLeaves, ImageFolder, SwissRoll, scan_folder
from .deadleaves_stats import STATS as DEADLEAVES_STATS
from .progress import NULL_REPORTER, Reporter
from .validation import dequantize, per_pixel_bits

PAPER_TABLE1 = {"swissroll": 2.35, "deadleaves": 1.489}
HALF_LOG2_2PI_E = 0.5 * math.log2(2 * math.pi * math.e)


@dataclass
class BoundResult:
    K_bits: float
    K_minus_L_null_bits: float
    stderr_bits: float
    n: int
    L_null_bits: float
    unit: str
    all_terms: bool
    data: str
    paper_K_bits: float | None = None
    data_log_density_bits: float | None = None  # E log p_data, where it is known
    ceiling_bits: float | None = None  # E log q(x_1): the most K can reach with this model's b_1
    # Dead leaves: E log q(x_1) is not known in closed form; [lower, upper] holds it (core/ceilings.py)
    ceiling_interval_bits: list[float] | None = None
    ceiling_b1: float | None = None
    ceiling_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def eval_data(ckpt: Checkpoint, data: str, n: int, seed: int) -> tuple[torch.Tensor, float, str, int]:
    """(x in model space, null variance per dim, unit, dims per item: 2 per point, the channels per pixel)."""
    d = ckpt.meta["data"]
    if data == "swissroll":
        if ckpt.channels != 2:
            raise ValueError("this model is not a 2-D point model; --data swissroll needs one")
        roll = SwissRoll(seed=seed + 10_000)
        return roll.sample(n), roll.describe()["summary"]["variance_per_dim"], "bits/point", 2
    if data == "deadleaves":
        if ckpt.channels != 1:
            raise ValueError("dead leaves are grayscale; this model has 3 channels")
        size = int(d.get("patch_size") or 64)
        x = DeadLeaves(size, seed=seed + 10_000, pool=n).sample(n, replace=False)  # n distinct patches
        return x, 1.0, "bits/px", 1
    folder = Path(data)
    size = int(d.get("patch_size") or 64)
    scan = scan_folder(folder, size)
    if not scan.usable:
        raise ValueError(f"{folder}: no usable images for patches of {size} px")
    ds = ImageFolder(scan.usable, root=folder, patch=size, channels=ckpt.channels, min_scale=1.0)
    return ds.fixed_patches(n, seed), 1.0, "bits/px", ckpt.channels


@torch.no_grad()
def evaluate_bound(ckpt: Checkpoint, data: str, *, n: int = 256, all_terms: bool = False, draws: int = 4,
                   seed: int = 0, batch: int = 64, device: torch.device | str = "cpu",
                   reporter: Reporter = NULL_REPORTER) -> BoundResult:
    """K per item: with ``all_terms`` every t = 2..T is summed; otherwise the mean of ``draws``
    log-stratified passes over t (unbiased, see ``GaussianDiffusion.bound``). The standard error is
    over items."""
    x, null_var, unit, dims = eval_data(ckpt, data, n, seed)
    meta = ckpt.meta["data"]
    diffusion = ckpt.diffusion.to(device)
    gen = torch.Generator().manual_seed(seed)
    per_item = []
    chunks = list(torch.split(x, batch))
    for i, chunk in enumerate(chunks):
        chunk = chunk.to(device)
        if data not in ("swissroll", "deadleaves"):  # synthetic data is continuous
            chunk = dequantize(chunk, meta, gen)
        reps = 1 if all_terms else draws
        passes = [diffusion.bound(chunk, all_terms=all_terms, stratified=not all_terms, generator=gen)
                  for _ in range(reps)]
        k = torch.stack(passes).float().cpu()
        per_item.append(k.mean(0))
        reporter.step(i + 1, len(chunks))
    k_items = per_pixel_bits(torch.cat(per_item), meta["data_std"], dims)
    l_null = -(HALF_LOG2_2PI_E + 0.5 * math.log2(null_var)) * dims
    K = float(k_items.mean())
    stderr = float(k_items.std() / math.sqrt(len(k_items))) if len(k_items) > 1 else float("nan")
    res = BoundResult(K, K - l_null, stderr, len(k_items), l_null, unit, all_terms, data, PAPER_TABLE1.get(data))
    b1 = float(diffusion.betas()[0])
    if data == "swissroll":
        roll = SwissRoll()
        res.data_log_density_bits = roll.true_log_density_bits()
        res.ceiling_bits = roll.true_log_density_bits(blur_var=b1)
    elif data == "deadleaves":
        size = int(x.shape[-1])
        res.ceiling_b1 = b1
        if size in DEADLEAVES_STATS:
            c = deadleaves_ceiling(size, b1, meta["data_std"])
            res.ceiling_interval_bits = [c.lower_bits, c.upper_bits]
            res.ceiling_note = c.stats
        else:
            res.ceiling_note = (f"no stored generator statistics for {size} px patches "
                                f"(scripts/deadleaves_ceiling_stats.py --size {size} adds them)")
    return res

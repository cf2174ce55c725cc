"""Achieved against possible: a training step's FLOPs (PyTorch's FlopCounterMode) and the machine's
own matmul / 3x3-convolution peak, in fp32 and bf16 (issue 12 §1). Shared by the speed part and
scripts/campaign_select.py."""

from __future__ import annotations

import time
from typing import Any


def peak_gflops(threads: int | None = None, repeats: int = 10) -> dict[str, float]:
    """GFLOP/s of a 1024^3 matmul and of a 64-channel 3x3 convolution on 16 x 64 x 64, fp32 and bf16."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    out: dict[str, float] = {}
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    x, w = torch.randn(16, 64, 64, 64), torch.randn(64, 64, 3, 3)
    conv_flops = 2 * 16 * 64 * 64 * 64 * 64 * 9
    for dtype, n in ((torch.float32, repeats), (torch.bfloat16, 1)):  # bf16 may be ~100x slower: once
        aa, bb, xx, ww = a.to(dtype), b.to(dtype), x.to(dtype), w.to(dtype)
        aa @ bb
        t0 = time.perf_counter()
        for _ in range(n):
            aa @ bb
        name = "fp32" if dtype == torch.float32 else "bf16"
        out[f"matmul_{name}"] = n * 2 * 1024**3 / (time.perf_counter() - t0) / 1e9
        torch.nn.functional.conv2d(xx, ww, padding=1)
        t0 = time.perf_counter()
        for _ in range(max(1, n // 2)):
            torch.nn.functional.conv2d(xx, ww, padding=1)
        out[f"conv3x3_{name}"] = max(1, n // 2) * conv_flops / (time.perf_counter() - t0) / 1e9
    return out


def step_flops(trainer: Any) -> int:
    """The FLOPs of one training step (forward and backward) of a set-up Trainer."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        trainer.train_step()
    return int(fc.get_total_flops())

"""How big a preset is and how long 1000 training steps take on a device, measured rather than
guessed: the network the trainer would build, a few real optimisation steps (forward, loss,
backward, AdamW, EMA-free) on random crops of the planned size. Runs in a worker thread; the data
loading of the real run is not included (it overlaps little and costs little next to the network).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

import torch

from dpm_desktop.core.device import autocast_for, pick_device
from dpm_desktop.core.progress import Reporter
from dpm_desktop.core.train import TrainConfig, build_model

WARMUP_STEPS = 1
MIN_STEPS, MAX_STEPS = 2, 20
MIN_SECONDS = 1.5
# Settings that change a step's cost (the rest, like the run's length, do not).
COST_KEYS = ("arch", "preset", "network", "channels", "patch", "batch", "T", "parameterisation", "objective", "amp",
             "schedule", "learn_betas")


def train_config(settings: dict[str, Any]) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in settings.items() if k in fields and k not in ("steps", "minutes", "init_from")}
    return TrainConfig(data="folder", **kw).resolved()


def cost_key(settings: dict[str, Any], device: str) -> str:
    """A short key for the step time of these settings on this device (for the QSettings cache)."""
    relevant = {k: settings.get(k) for k in COST_KEYS}
    digest = hashlib.sha1(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{settings.get('arch')}-{settings.get('preset')}-{settings.get('patch')}-{device}-{digest}"


def device_name(name: str) -> str:
    """The device ``name`` (auto, cpu, cuda, mps) resolves to, with the GPU's model: a new GPU is
    measured anew."""
    device = pick_device(name)
    if device.type == "cuda":
        return "cuda-" + "".join(ch if ch.isalnum() else "-" for ch in torch.cuda.get_device_name(device))
    return device.type


def count_parameters(settings: dict[str, Any]) -> int:
    cfg = train_config(settings)
    model = build_model(cfg, "folder", cfg.channels)
    return sum(p.numel() for p in model.parameters())


def seconds_per_1000_steps(settings: dict[str, Any], reporter: Reporter) -> float:
    """Time a few training steps of these settings on their device; cancellable between steps."""
    cfg = train_config(settings)
    device = pick_device(cfg.device)
    model = build_model(cfg, "folder", cfg.channels).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    autocast = autocast_for(device, cfg.amp)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn((cfg.batch, cfg.channels, cfg.patch, cfg.patch), generator=gen).clamp(-1, 1).to(device)

    def step() -> None:
        t = torch.randint(1, cfg.T + 1, (cfg.batch,), generator=gen).to(device)
        with autocast():
            out = model(x0, t, objective=cfg.objective, t_weight=torch.ones(cfg.batch, device=device))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    try:
        for i in range(WARMUP_STEPS):
            reporter.step(i, WARMUP_STEPS + MIN_STEPS, message="warming up")
            step()
        n, start = 0, time.perf_counter()
        while n < MAX_STEPS and (n < MIN_STEPS or time.perf_counter() - start < MIN_SECONDS):
            reporter.step(WARMUP_STEPS + n, WARMUP_STEPS + max(MIN_STEPS, n + 1), message="timing")
            step()
            n += 1
        return 1000 * (time.perf_counter() - start) / n
    finally:
        if device.type == "cuda":
            model.cpu()  # release the GPU memory of this measurement
            torch.cuda.empty_cache()

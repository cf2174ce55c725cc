"""Models for restoration, loaded once per (path, device) and kept: loading costs more than a small
job. The cached models are shared and never changed by a restoration (tiling wraps the network
per call), so several restorations of one model may run at once."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from .checkpoint import Checkpoint, load_checkpoint
from .registry import resolve_model

_cache: dict[tuple[str, str], Checkpoint] = {}
_cache_lock = threading.Lock()


def get_model(model: str | Path | Checkpoint | None, *, channels: int | None = None,
              device: torch.device | str = "cpu") -> Checkpoint:
    if isinstance(model, Checkpoint):
        return model
    path = resolve_model(model, channels=channels)
    key = (str(Path(path).resolve()), str(device))
    with _cache_lock:
        if key not in _cache:
            ckpt = load_checkpoint(path, device=device)
            if torch.device(device).type == "cpu" and type(ckpt.diffusion.net).__name__ == "UNet":
                # Channels-last convolutions: a 96 px call 84 -> 66 ms, 512 px 3.6 -> 2.7 s (2 threads, AVX2).
                ckpt.diffusion.net.to(memory_format=torch.channels_last)
            _cache[key] = ckpt
        return _cache[key]


def clear_model_cache() -> None:
    with _cache_lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

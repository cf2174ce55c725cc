"""Which device and number format the engine runs on: one place for the trainer, restoration,
the command line and the app.

bf16 autocast is used where it is native (CUDA; CPUs with avx512_bf16 or AMX). On CPUs with only
AVX2, bf16 is emulated and measured about 100x slower than fp32 (scripts/campaign_select.py speed),
so "auto" keeps fp32 there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch


class DeviceError(Exception):
    """A device that was asked for but is not there; the message says what is."""


def pick_device(name: str | torch.device = "auto") -> torch.device:
    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for, but this PyTorch build or machine has no CUDA GPU")
        index = name.partition(":")[2]
        if index:
            n = torch.cuda.device_count()
            if not index.isdigit() or int(index) >= n:
                raise DeviceError(f"{name}: no such GPU (this machine has {n}: cuda:0..cuda:{n - 1})")
        elif name != "cuda":
            raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
        return torch.device(name)
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("MPS was asked for, but it is not available on this machine")
    if name not in ("cpu", "mps"):
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


def cpu_supports_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


def uses_bf16(device: torch.device, amp: str) -> bool:
    if amp == "off":
        return False
    native = device.type == "cuda" or (device.type == "cpu" and cpu_supports_bf16())
    return amp == "bf16" or (amp == "auto" and native)


def autocast_for(device: torch.device, amp: str) -> Callable[[], contextlib.AbstractContextManager]:
    if not uses_bf16(device, amp):
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def is_oom(e: BaseException) -> bool:
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg
                                            or "not enough memory" in msg)

"""What the wizard will train, as ``dpm train`` arguments: one place that turns the pages' choices
(data, preset, architecture, patch, length, device, fine-tuning) into trainer settings, shared by
the child process's command line and the step-time benchmark. No Qt here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The paper architecture trains as the paper did: its own parameterisation and schedule, on the
# bound (float32: bf16 cannot resolve the smallest reverse steps), t drawn by importance.
PAPER_SETTINGS: dict[str, Any] = {"parameterisation": "paper", "schedule": "paper", "learn_betas": True,
                                  "objective": "bound", "amp": "off", "t_sampling": "importance"}

# TrainConfig field -> ``dpm train`` option (booleans become --X / --no-X).
FLAGS = {"data": "--data", "out": "--out", "name": "--name", "arch": "--arch", "preset": "--preset",
         "channels": "--channels", "patch": "--patch", "steps": "--steps", "minutes": "--minutes",
         "batch": "--batch", "lr": "--lr", "warmup": "--warmup", "objective": "--objective",
         "parameterisation": "--parameterisation", "schedule": "--schedule", "T": "--T",
         "step1_beta": "--step1-beta", "learn_betas": "--learn-betas", "t_sampling": "--t-sampling",
         "device": "--device", "amp": "--amp", "val_every": "--val-every", "checkpoint_every": "--checkpoint-every",
         "init_from": "--init-from", "seed": "--seed", "threads": "--threads"}


@dataclass
class TrainPlan:
    data: Path
    name: str
    channels: int = 3
    arch: str = "unet"
    preset: str = "small"
    patch: int = 64
    steps: int | None = 5000
    minutes: float | None = None
    device: str = "auto"
    init_from: Path | None = None  # fine-tune from this model folder
    init_meta: dict[str, Any] | None = None  # its metadata (fixes the network and the diffusion)
    # Not on the pages; tests shorten runs with them.
    batch: int = 16
    val_every: int = 200  # a new validation preview every 200 steps
    checkpoint_every: int = 250
    extra: dict[str, Any] = field(default_factory=dict)  # any other TrainConfig field

    def settings(self) -> dict[str, Any]:
        """TrainConfig fields (without data / out), as the trainer will get them."""
        s: dict[str, Any] = {"name": self.name, "arch": self.arch, "preset": self.preset, "channels": self.channels,
                             "patch": self.patch, "batch": self.batch, "device": self.device,
                             "val_every": self.val_every, "checkpoint_every": self.checkpoint_every}
        if self.minutes is not None:
            s["minutes"] = self.minutes
        else:
            s["steps"] = self.steps
        if self.arch == "paper":
            s.update(PAPER_SETTINGS)
        if self.init_meta is not None:
            s.update(finetune_settings(self.init_meta))
            s["init_from"] = str(self.init_from)
        s.update(self.extra)
        return s

    def args(self, run_dir: Path) -> list[str]:
        """``dpm train`` arguments for a new run in ``run_dir``."""
        return settings_to_args({"data": str(self.data), "out": str(run_dir), **self.settings()})

    @property
    def length_text(self) -> str:
        return f"{self.minutes:g} min" if self.minutes is not None else f"{self.steps:,} steps"


def finetune_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """Settings that rebuild exactly the network and diffusion of a checkpoint (whose weights are
    the starting point): the architecture, every network setting, the channels and the schedule."""
    net, diff = meta["network"], meta["diffusion"]
    network = {k: v for k, v in net["config"].items() if k not in ("channels", "T")}
    s: dict[str, Any] = {"arch": net["arch"], "network": network, "channels": int(meta["data"]["channels"])}
    for key in ("T", "schedule", "step1_beta", "learn_betas", "parameterisation"):
        if key in diff:
            s[key] = diff[key]
    if s.get("parameterisation") == "paper":
        s.update({"objective": "bound", "amp": "off"})
    else:
        s["objective"] = "hybrid"
    return s


def settings_to_args(settings: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in settings.items():
        if value is None:
            continue
        if key == "network":
            for k, v in value.items():
                out += ["--network", f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
            continue
        flag = FLAGS.get(key)
        if flag is None:
            raise ValueError(f"no dpm train option for {key!r}")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        else:
            out += [flag, str(value)]
    return out


def is_finetunable(meta: dict[str, Any]) -> bool:
    """Image models (grey or colour) can be fine-tuned on photos; the Swiss roll's cannot."""
    data = meta.get("data", {})
    return data.get("kind", "image") == "image" and data.get("channels") in (1, 3)

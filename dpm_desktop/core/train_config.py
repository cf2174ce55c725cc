"""A training run's settings (TrainConfig) and the error of a run that cannot start (TrainError).

Every field is JSON: a run folder's ``settings.json`` is ``asdict(TrainConfig)``, and ``--resume``
reads it back. Mode fields take the names in :mod:`.modes`."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import OPEN_LOW, TRAIN_LIMITS
from .modes import T_SAMPLINGS, Amp, Arch, Covariance, LrDecay, NetworkPreset, Objective, Parameterisation, Schedule
from .modes import TimestepSampling as TimestepSamplingName
from .presets import DATA_DEFAULTS


class TrainError(Exception):
    """A training run that cannot start or continue; the message says why."""


@dataclass
class TrainConfig:
    data: str = "swissroll"  # swissroll | deadleaves | a folder of images
    out: str = "runs/run"
    name: str = ""
    arch: Arch | None = None
    preset: NetworkPreset = "small"
    network: dict[str, Any] = field(default_factory=dict)  # overrides on top of the preset
    channels: int = 3
    patch: int | None = None
    steps: int | None = None
    minutes: float | None = None
    batch: int | None = None
    lr: float | None = None
    weight_decay: float = 0.0
    warmup: int = 200
    lr_decay: LrDecay = "cosine"
    lr_min_factor: float = 0.05
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    objective: Objective | None = None
    parameterisation: Parameterisation | None = None
    covariance: Covariance = "diagonal"  # channels: a full C x C per pixel (paper parameterisation)
    # Paper parameterisation: z_sigma / sqrt(T) before the sigmoid (the authors' form). None: yes for a
    # new model; with --init-from, the form of the model it starts from (fine-tuning keeps its function).
    z_sigma_sqrt_T: bool | None = None
    schedule: Schedule | None = None
    T: int | None = None
    step1_beta: float | None = None
    learn_betas: bool | None = None
    t_sampling: TimestepSamplingName | None = None  # see timestep_sampling
    restoration_sigma: tuple[float, float] = (2.0, 80.0)  # noise std range (0-255 scale) for t_sampling
    restoration_share: float = 0.5
    seed: int = 0
    device: str = "auto"
    amp: Amp | None = None
    checkpoint_every: int = 500
    val_every: int = 500
    val_count: int = 64
    val_percent: float = 5.0
    keep_states: int = 2
    min_scale: float = 0.25
    turns: bool = True  # random 90-degree turns of training crops (mirroring is always on)
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights (see fine_tune)
    threads: int | None = None

    def data_kind(self) -> str:
        return self.data if self.data in ("swissroll", "deadleaves") else "folder"

    def resolved(self) -> TrainConfig:
        """Fill every unset field from the data kind's defaults."""
        d = DATA_DEFAULTS[self.data_kind()]
        c = copy.deepcopy(self)
        for key in ("arch", "patch", "batch", "lr", "objective", "parameterisation", "schedule", "T", "step1_beta",
                    "learn_betas", "t_sampling"):
            if getattr(c, key) is None:
                setattr(c, key, d.get(key))
        if c.amp is None:
            c.amp = d.get("amp", "auto")
        if c.z_sigma_sqrt_T is None:
            c.z_sigma_sqrt_T = True  # the Trainer switches to the --init-from model's form if that differs
        if not isinstance(c.z_sigma_sqrt_T, bool):
            raise TrainError(f"z_sigma_sqrt_T must be true or false, got {c.z_sigma_sqrt_T!r}")
        if c.steps is None and c.minutes is None:
            c.steps = d["steps"]
        if c.learn_betas and c.schedule != "paper":
            c.learn_betas = False  # learned betas are defined around the paper schedule only
        if c.arch == "paper" and c.parameterisation == "eps":
            raise TrainError("the paper network outputs (z_mu, z_sigma): use --parameterisation paper with it")
        if c.covariance == "channels" and (c.arch != "paper" or c.parameterisation != "paper"):
            raise TrainError("--covariance channels needs the paper network and parameterisation")
        if c.arch == "unet" and c.parameterisation == "paper" and c.objective == "hybrid":
            raise TrainError("the hybrid objective needs the eps parameterisation")
        if c.t_sampling not in T_SAMPLINGS:
            raise TrainError(f"unknown t sampling {c.t_sampling!r}; use {', '.join(T_SAMPLINGS)}")
        for key, (lo, hi) in TRAIN_LIMITS.items():
            v = getattr(c, key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo < v if key in OPEN_LOW else lo <= v) \
                    or v > hi or v != v:
                bound = f"({lo:g}, {hi:g}]" if key in OPEN_LOW else f"[{lo:g}, {hi:g}]"
                raise TrainError(f"{key} must lie in {bound}, got {v!r}")
        if not c.name:
            c.name = Path(c.out).name
        return c

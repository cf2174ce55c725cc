"""What to run: the task panel's choices as plain data, turned into engine keyword arguments."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dpm_desktop.core import modes

DENOISE_MODES = {  # labels for core.modes.DENOISE_MODES, in its order
    "mean": "Fast — one step (posterior mean)",
    "sample": "Sampled — average of N chains, with uncertainty",
    "paper": "Paper — likelihood-guided chains (2015)",
}
assert tuple(DENOISE_MODES) == modes.DENOISE_MODES
TASKS = ("denoise", "inpaint")
INPAINT_PRESETS = {  # core.modes.INPAINT_PRESETS, and Custom
    "fast": "Fast — seconds (short chains, few network calls)",
    "best": "Best — minutes (the exhaustive RePaint chain: one sharper draw)",
    "custom": "Custom — the steps and resampling below",
}


@dataclass(frozen=True)
class TaskParams:
    task: str = "inpaint"
    model: str | None = None  # a model name from the catalogue; None = the default for the image
    device: str = "auto"
    # denoise
    sigma_auto: bool = True
    sigma: float = 25.0  # 0-255 scale, used when sigma_auto is off
    mode: str = "mean"
    samples: int = 4
    denoise_steps: int = 20
    mask_only: bool = False
    # inpaint
    preset: str = "fast"  # fast | best (core.inpaint.PRESETS) | custom: best with the steps below
    steps: int = 50
    resample: int = 5
    jump: int = 5
    candidates: int = 1
    seed: int = 0

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``core.restore.denoise`` / ``inpaint`` (without image and mask)."""
        common = {"model": self.model, "device": self.device}
        if self.task == "denoise":
            return {**common, "sigma": "auto" if self.sigma_auto else float(self.sigma), "mode": self.mode,
                    "samples": self.samples if self.mode != "mean" else 1,
                    "steps": self.denoise_steps if self.mode != "mean" else None, "seed": self.seed}
        return {**common, **self.inpaint_settings(), "candidates": self.candidates, "seed": self.seed}

    def inpaint_settings(self) -> dict[str, Any]:
        """The preset, and with Custom the chain settings that replace the best preset's."""
        if self.preset == "custom":
            return {"preset": "best", "steps": self.steps, "resample": self.resample, "jump": self.jump}
        return {"preset": self.preset}

    def chain_steps(self) -> int:
        """Roughly how many steps the chain shows, to space the live previews."""
        if self.task == "denoise":
            return 0 if self.mode == "mean" else self.denoise_steps
        if self.preset == "custom":
            return self.steps * self.resample
        from dpm_desktop.core.inpaint import PRESETS

        p = PRESETS[self.preset]
        return p.steps * p.resample

    def summary(self) -> str:
        if self.task == "denoise":
            sigma = "auto σ" if self.sigma_auto else f"σ {self.sigma:g}"
            extra = "" if self.mode == "mean" else f", {self.samples}×{self.denoise_steps} steps"
            return f"Denoise ({self.mode}, {sigma}{extra})"
        cand = f", {self.candidates} candidates" if self.candidates > 1 else ""
        if self.preset != "custom":
            return f"Inpaint ({self.preset}{cand}, seed {self.seed})"
        res = f", resample {self.resample}" if self.resample > 1 else ""
        return f"Inpaint ({self.steps} steps{res}{cand}, seed {self.seed})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskParams:
        """Tolerant of old or hand-edited settings: unknown keys dropped, bad values ignored."""
        out = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            value, default = data[f.name], getattr(out, f.name)
            try:
                if isinstance(default, bool):
                    value = value in (True, "true", "True", 1, "1")
                elif isinstance(default, int):
                    value = int(value)
                elif isinstance(default, float):
                    value = float(value)
                elif value is not None:
                    value = str(value)
            except (TypeError, ValueError):
                continue
            out = replace(out, **{f.name: value})
        if out.task not in TASKS:
            out = replace(out, task="inpaint")
        if out.mode not in DENOISE_MODES:
            out = replace(out, mode="mean")
        if out.preset not in INPAINT_PRESETS:
            out = replace(out, preset="fast")
        return out

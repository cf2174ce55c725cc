"""The observable state of one training run, built from the trainer's JSON-lines events
(``dpm train --progress jsonl``, see :mod:`dpm_desktop.core.train`): progress, the loss and
validation curves, the newest preview and checkpoint, and how the run ended."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ...core.bits_units import PER_PIXEL, UNIT_KEY, converted, run_channels


def parse_event(line: bytes | str) -> dict[str, Any] | None:
    """One stdout line as an event, or None for anything else (a warning, a torn line)."""
    try:
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


@dataclass(frozen=True)
class ValPoint:
    step: int
    bits_per_px: float  # per pixel, all channels (per point for 2-D points)
    stderr: float
    psnr25: float | None


class TrainingRun(QObject):
    """Fed event by event; emits ``changed`` after each, and ``curvesChanged`` / ``previewChanged``
    when there is something new to draw."""

    changed = Signal()
    curvesChanged = Signal()
    previewChanged = Signal(str)  # path of the noisy | denoised | clean PNG

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reset()

    def reset(self) -> None:
        self.run_dir: Path | None = None
        self.step = 0
        self.total: int | None = None
        self.minutes: float | None = None
        self.loss: list[tuple[int, float]] = []
        self.val: list[ValPoint] = []
        self.images_per_s: float | None = None
        self.eta_s: float | None = None
        self.elapsed_s = 0.0
        self.params: int | None = None
        self.device = ""
        self.amp = ""
        self.data: dict[str, Any] = {}
        self.channels: int | None = None  # values per pixel (2 per point): converts older val events
        self.bits_unit = PER_PIXEL
        self.skipped: list[tuple[str, str]] = []
        self.preview: Path | None = None
        self.checkpoint: Path | None = None
        self.checkpoint_step: int | None = None
        self.resumed_from: int | None = None
        self.done: dict[str, Any] | None = None  # the trainer's "done" event
        self.error: str | None = None  # its "error" event

    # feeding -------------------------------------------------------------------------------------
    def feed(self, e: dict[str, Any], *, quiet: bool = False) -> None:
        kind = e.get("event")
        if kind == "start":
            self.total, self.minutes = e.get("total"), e.get("minutes")
            self.params, self.device, self.amp = e.get("params"), str(e.get("device", "")), str(e.get("amp", ""))
            self.data = dict(e.get("data") or {})
            self.skipped = [(str(p), str(r)) for p, r in e.get("skipped", [])]
            if e.get("run_dir"):
                self.run_dir = Path(e["run_dir"])
            self.channels = e.get("channels") or self.channels or (run_channels(self.run_dir) if self.run_dir else None)
            self.step = int(e.get("step", self.step))
        elif kind == "resumed":
            # Steps after the checkpoint were lost with the old process: they are trained again.
            self.step = self.resumed_from = int(e["step"])
            self.loss = [p for p in self.loss if p[0] <= self.step]
            self.val = [v for v in self.val if v.step <= self.step]
            if not quiet:
                self.curvesChanged.emit()
        elif kind == "step":
            self.step = int(e["step"])
            self.total = e.get("total", self.total)
            self.loss.append((self.step, float(e["loss"])))
            self.images_per_s, self.eta_s = e.get("images_per_s"), e.get("eta_s")
            self.elapsed_s = float(e.get("elapsed_s", self.elapsed_s))
            if not quiet:
                self.curvesChanged.emit()
        elif kind == "val":
            # Events written before bits_unit existed hold bits per value: per pixel is channels times that.
            if UNIT_KEY in e:
                self.bits_unit = e[UNIT_KEY]
            e = converted(e, e.get("channels") or self.channels or 1)
            self.val.append(ValPoint(int(e["step"]), float(e["bits_per_px"]), float(e.get("bits_stderr", 0.0)),
                                     e.get("psnr25")))
            if e.get("preview"):
                self.preview = Path(e["preview"])
                if not quiet:
                    self.previewChanged.emit(str(self.preview))
            if not quiet:
                self.curvesChanged.emit()
        elif kind == "checkpoint":
            self.checkpoint, self.checkpoint_step = Path(e["path"]), int(e["step"])
        elif kind == "done":
            self.done = e
            self.step = int(e.get("step", self.step))
            self.elapsed_s = float(e.get("wall_time_s", self.elapsed_s))
            self.eta_s = 0.0
            if e.get("path"):
                self.checkpoint = Path(e["path"])
                self.checkpoint_step = self.step
        elif kind == "error":
            self.error = str(e.get("message", "unknown error"))
        if not quiet:
            self.changed.emit()

    def replay(self, events: list[dict[str, Any]], run_dir: Path | None = None) -> None:
        """Rebuild the curves of an earlier process of this run (before a resume); ``run_dir``'s
        settings give the channel count that converts validation events older than ``bits_unit``."""
        where = run_dir or self.run_dir
        if where is not None:
            self.channels = self.channels or run_channels(where)
        for e in events:
            if e.get("event") in ("start", "resumed", "step", "val", "checkpoint"):
                self.feed(e, quiet=True)
        self.done = self.error = None
        self.changed.emit()
        self.curvesChanged.emit()
        if self.preview is not None and self.preview.is_file():
            self.previewChanged.emit(str(self.preview))

    # reading -------------------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        if self.total:
            return min(1.0, self.step / self.total)
        if self.minutes:
            return min(1.0, self.elapsed_s / (60 * self.minutes))
        return 0.0

    @property
    def last_val(self) -> ValPoint | None:
        return self.val[-1] if self.val else None

    @property
    def stopped_early(self) -> bool:
        return bool(self.done and self.done.get("stopped"))

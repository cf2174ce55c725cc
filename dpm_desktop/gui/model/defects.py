"""Mask ▸ Find defects (issue 17): the engine's damage detector run in the background on the open
photo, its proposal put into the mask as one undoable step. The anomaly map is kept, so a new
sensitivity re-thresholds it at once, without the network. The user reviews the mask with the brush
and the eraser, then inpaints."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from dpm_desktop.core.detect import DEFAULT_SENSITIVITY, anomaly_map, count_regions, mask_from_anomaly

from ..workers.runner import JobRunner
from .document import Document


class DefectFinder(QObject):
    runningChanged = Signal(bool)
    progress = Signal(object)  # StepInfo
    found = Signal(str)  # a one-line summary of the mask proposed
    failed = Signal(str, str)  # message, details
    cancelled = Signal()

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.runner = JobRunner(self)
        self.anomaly: np.ndarray | None = None  # of the photo whose generation is self.generation
        self.generation: int | None = None
        self.sensitivity = DEFAULT_SENSITIVITY
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self.failed)
        self.runner.cancelled.connect(self.cancelled)
        self.runner.progress.connect(self.progress)
        self.runner.runningChanged.connect(self.runningChanged)

    @property
    def is_running(self) -> bool:
        return self.runner.is_running

    @property
    def has_map(self) -> bool:
        """An anomaly map of the photo open now: the sensitivity can be changed without a run."""
        return self.anomaly is not None and self.generation == self.doc.generation

    def start(self, model: str | None, device: str, sensitivity: float) -> bool:
        """Examine the open photo in the background; False when nothing started."""
        if not self.doc.has_image or not self.runner.settle():
            return False
        pixels, generation = self.doc.pixels, self.doc.generation
        self.sensitivity = sensitivity

        def job(reporter: Any) -> tuple[np.ndarray, dict[str, Any]]:
            return anomaly_map(pixels, model=model, device=device, reporter=reporter)

        return self.runner.start(job, context=generation)

    def cancel(self) -> None:
        self.runner.cancel()

    def set_sensitivity(self, sensitivity: float) -> str | None:
        """Re-threshold the kept map (one undoable mask step); None when there is no map of this photo."""
        self.sensitivity = sensitivity
        if not self.has_map:
            return None
        assert self.anomaly is not None
        mask = mask_from_anomaly(self.anomaly, sensitivity).mask
        self.doc.set_coverage(np.where(mask, 255, 0).astype(np.uint8), f"Find defects (sensitivity {sensitivity:g})")
        summary = (f"{count_regions(mask)} possible defects, {100 * float(mask.mean()):.2f} % of the photo, at "
                   f"sensitivity {sensitivity:g}: review the mask, then inpaint")
        self.found.emit(summary)
        return summary

    def _on_finished(self, out: tuple[np.ndarray, dict[str, Any]]) -> None:
        if self.runner.context != self.doc.generation:
            return  # examined a photo that is no longer open
        self.anomaly, self.generation = out[0], self.doc.generation
        self.set_sensitivity(self.sensitivity)

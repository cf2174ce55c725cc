"""Mask ▸ Find defects (issue 17): the engine's damage detector run in the background on the open
photo, its proposal put into the mask as one undoable step. The anomaly map is kept, so a new
sensitivity re-thresholds it without the network; that also runs in the background (a 24 MP map
takes seconds), and a slider dragged through many values ends in one undo step, its last value.
Each run also colours the map for the canvas's anomaly overlay (Mask > Show Anomaly Map),
from the typical pixel (transparent) to the current cut (the brightest colour): what the slider
would add next shows dimmer."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from dpm_desktop.core.detect import DEFAULT_SENSITIVITY, anomaly_map, count_regions, mask_from_anomaly
from dpm_desktop.core.progress import Reporter

from ..convert import colormap
from ..workers.runner import JobRunner
from .document import Document

UNDO_TEXT = "Find defects"


Proposal = tuple[np.ndarray, np.ndarray, dict[str, Any], QImage, int]  # map, mask, params, overlay, regions


def _proposal(anomaly: np.ndarray, sensitivity: float, params: dict[str, Any], reporter: Reporter) -> Proposal:
    """The mask at this sensitivity, the overlay coloured from the typical (median) pixel,
    transparent, to the cut, opaque, and the count of regions: all in the worker (on a 24 MP map
    each takes seconds), cancellable between them."""
    cut = mask_from_anomaly(anomaly, sensitivity, params=params)
    reporter.check()
    overlay = colormap(anomaly, vmax=cut.threshold, vmin=float(np.median(anomaly)))
    reporter.check()
    return anomaly, cut.mask, params, overlay, count_regions(cut.mask)


class DefectFinder(QObject):
    runningChanged = Signal(bool)
    progress = Signal(object)  # StepInfo
    found = Signal(str)  # a one-line summary of the mask proposed
    overlayChanged = Signal()  # a new coloured map (or none: another photo was opened)
    failed = Signal(str, str)  # message, details
    cancelled = Signal()

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.runner = JobRunner(self)
        self.anomaly: np.ndarray | None = None  # of the photo whose generation is self.generation
        self.overlay: QImage | None = None  # the map coloured for the canvas, up to the current cut
        self.params: dict[str, Any] = {}  # how the map was made: the method, whose threshold rule applies
        self.generation: int | None = None
        self.sensitivity = DEFAULT_SENSITIVITY
        self._pending: float | None = None  # a sensitivity asked for while a job ran
        self._own_index: int | None = None  # the undo index right after this finder's last mask step
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self.failed)
        self.runner.cancelled.connect(self.cancelled)
        self.runner.progress.connect(self.progress)
        self.runner.runningChanged.connect(self.runningChanged)
        self.runner.runningChanged.connect(self._take_up_pending)

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
        self.sensitivity, self._own_index = sensitivity, None

        def job(reporter: Any) -> Proposal:
            anomaly, params = anomaly_map(pixels, model=model, device=device, reporter=reporter)
            return _proposal(anomaly, sensitivity, params, reporter)

        return self.runner.start(job, context=(generation, sensitivity))

    def cancel(self) -> None:
        self._pending = None
        self.runner.cancel()

    def set_sensitivity(self, sensitivity: float) -> bool:
        """Re-threshold the kept map in the background; False when there is no map of this photo."""
        self.sensitivity = sensitivity
        if not self.has_map:
            return False
        if not self.runner.settle():
            self._pending = sensitivity  # taken up when the running job ends
            return True
        anomaly, params = self.anomaly, self.params
        assert anomaly is not None
        return self.runner.start(lambda reporter: _proposal(anomaly, sensitivity, params, reporter),
                                 context=(self.generation, sensitivity))

    def forget_if_stale(self) -> None:
        """Drop the map and its overlay once another photo is open (the document's imageChanged)."""
        if self.anomaly is not None and not self.has_map:
            self.anomaly, self.overlay, self.params, self.generation = None, None, {}, None
            self.overlayChanged.emit()

    def _on_finished(self, out: Proposal) -> None:
        generation, sensitivity = self.runner.context
        if generation != self.doc.generation:
            return  # examined a photo that is no longer open
        self.anomaly, self.params, self.generation, self.overlay = out[0], out[2], generation, out[3]
        self.overlayChanged.emit()
        self._apply(out[1], out[4], sensitivity)
        if self._pending == sensitivity:
            self._pending = None

    def _take_up_pending(self, running: bool) -> None:
        """Once a job has ended (its thread too), the sensitivity asked for meanwhile."""
        if not running and self._pending is not None:
            pending, self._pending = self._pending, None
            self.set_sensitivity(pending)

    def _apply(self, mask: np.ndarray, regions: int, sensitivity: float) -> None:
        stack = self.doc.undo_stack
        if self._own_index is not None and stack.index() == self._own_index and stack.canUndo():
            stack.undo()  # a new threshold replaces the last one: one undo step for the slider
        self.doc.set_coverage(np.where(mask, 255, 0).astype(np.uint8), f"{UNDO_TEXT} (sensitivity {sensitivity:g})")
        self._own_index = stack.index()
        grain = self.params.get("denoised_first")
        examined = f" (a grainy photo, noise ~{grain:.0f}/255: examined denoised)" if grain else ""
        self.found.emit(f"{regions} possible defects, {100 * float(mask.mean()):.2f} % of the photo, at "
                        f"sensitivity {sensitivity:g}{examined}: review the mask, then inpaint")

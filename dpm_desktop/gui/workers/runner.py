"""Run one job at a time in a QThread (a QObject worker moved to the thread, as in buzz).

The engine reports through :class:`~dpm_desktop.core.progress.Reporter`; its callback runs in the
worker thread and is turned into queued Qt signals here. Cancel sets the job's token: the engine
raises ``Cancelled`` at its next step or tile, so a run stops within one step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from dpm_desktop.core.progress import Cancelled, CancelToken, PlacedPreview, Progress, Reporter

from ..convert import array_to_qimage
from .errors import describe

PREVIEW_SIDE = 360  # the live preview is shown small; scale it in the worker, not the GUI thread
PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress updates a second reach the GUI


@dataclass(frozen=True)
class StepInfo:
    step: int
    total: int
    elapsed_s: float
    eta_s: float | None
    message: str = ""


PLACED_SIDE = 1024  # a fill previewed in place on the canvas: enough for a screen, cheap to send


def preview_image(arr: Any, side: int = PREVIEW_SIDE) -> QImage | None:
    if isinstance(arr, PlacedPreview):
        arr = arr.pixels
    if not isinstance(arr, np.ndarray) or arr.ndim != 3:
        return None
    img = array_to_qimage(arr)
    if max(img.width(), img.height()) > side:
        img = img.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return img


class Worker(QObject):
    """Runs ``fn(reporter)`` once in its thread and reports the outcome by signals."""

    progress = Signal(object)  # StepInfo
    preview = Signal(QImage)
    placed = Signal(QImage, QRect)  # a preview of the region it will replace (inpainting)
    finished = Signal(object)  # fn's return value
    failed = Signal(str, str)  # message, details
    cancelled = Signal()
    done = Signal()  # after any of the three above

    def __init__(self, fn: Callable[[Reporter], Any], token: CancelToken) -> None:
        super().__init__()
        self.fn, self.token = fn, token
        self._last_emit = 0.0

    def _on_progress(self, p: Progress) -> None:
        now = time.monotonic()
        if p.preview is not None:
            img = preview_image(p.preview)
            if img is not None:
                self.preview.emit(img)
            if isinstance(p.preview, PlacedPreview) and (big := preview_image(p.preview, PLACED_SIDE)) is not None:
                x0, y0, x1, y1 = p.preview.region
                self.placed.emit(big, QRect(x0, y0, x1 - x0, y1 - y0))
        if now - self._last_emit >= PROGRESS_INTERVAL_S or p.step >= p.total:
            self._last_emit = now
            self.progress.emit(StepInfo(p.step, p.total, p.elapsed_s, p.eta_s, p.message))

    @Slot()
    def run(self) -> None:
        try:
            out = self.fn(Reporter(self._on_progress, self.token))
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # a job must never take the application down: it becomes a message
            self.failed.emit(*describe(e))
        else:
            if self.token.cancelled:
                self.cancelled.emit()  # cancelled after the last step: honour the user's intent
            else:
                self.finished.emit(out)
        finally:
            self.done.emit()


class JobRunner(QObject):
    """Owns at most one running job. Signals are re-emitted in the GUI thread."""

    started = Signal()
    progress = Signal(object)
    preview = Signal(QImage)
    placed = Signal(QImage, QRect)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: Worker | None = None
        self._token: CancelToken | None = None
        self.context: Any = None  # what the caller attached to the running job
        self._delivered = False  # the running job has sent its result; its thread is only unwinding
        self._closed = False  # after shutdown() nothing starts any more

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, fn: Callable[[Reporter], Any], context: Any = None) -> bool:
        """Run ``fn`` in a new thread; False (nothing started) after shutdown()."""
        if self._closed:
            return False
        if self.is_running:
            raise RuntimeError("a job is already running")
        self._token = CancelToken()
        self.context = context
        self._delivered = False
        thread, worker = QThread(), Worker(fn, self._token)
        thread.setObjectName("dpm-restore")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Connected first, so the flag is set before the re-emitted signals reach anyone.
        for outcome in (worker.finished, worker.failed, worker.cancelled):
            outcome.connect(self._on_delivered)
        worker.progress.connect(self.progress)
        worker.preview.connect(self.preview)
        worker.placed.connect(self.placed)
        worker.finished.connect(self.finished)
        worker.failed.connect(self.failed)
        worker.cancelled.connect(self.cancelled)
        # Direct: quit must not wait for the GUI thread's event loop (shutdown() blocks it).
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._cleanup)
        self._thread, self._worker = thread, worker
        thread.start()
        self.started.emit()
        self.runningChanged.emit(True)
        return True

    def _on_delivered(self, *_: Any) -> None:
        self._delivered = True

    def settle(self, timeout_ms: int = 5_000) -> bool:
        """True when no job runs. A job that has already delivered its result is waited for, so that
        a slot reacting to that result can start the next job at once."""
        thread = self._thread
        if thread is None:
            return True
        if self._delivered and thread.wait(timeout_ms):
            self._cleanup()
        return self._thread is None

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def _cleanup(self) -> None:
        thread = self._thread
        if thread is None or self.sender() not in (None, thread):
            return
        thread.wait()  # finished was emitted just before the thread's run() returns
        # Plain references (no parents), so Python frees both once the thread has ended.
        self._thread = self._worker = self._token = None
        self.runningChanged.emit(False)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel, wait for the thread to end and drop its pending signals (closing the window).
        True if it ended in time."""
        self._closed = True
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        self.cancel()
        for sig in (worker.progress, worker.preview, worker.placed, worker.finished, worker.failed, worker.cancelled):
            sig.disconnect()
        ended = thread.wait(timeout_ms)
        if ended:
            self._cleanup()
        return ended

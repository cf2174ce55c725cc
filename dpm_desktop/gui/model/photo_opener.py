"""Opening a photo, then estimating its noise, both in the background: a 24-megapixel file takes
seconds to decode and seconds more to estimate. One estimate runs at a time, and the one that
counts is always of the newest photo: a photo opened while an estimate runs gets its own after it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ..workers.loader import OpenedImage, noise_estimate, open_image
from ..workers.runner import JobRunner
from .document import Document
from .settings import AppSettings


class PhotoOpener(QObject):
    started = Signal(Path)  # opening began
    opened = Signal(Path)  # the photo is the document's now
    failed = Signal(Path, str, str)  # path, message, details; the document is as it was
    sigmaChanged = Signal(object)  # float | None: the noise level Denoise "auto" will use

    def __init__(self, doc: Document, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.settings = doc, settings
        self.loader = JobRunner(self)
        self.estimator = JobRunner(self)
        self.sigma_estimate: float | None = None  # of the open photo, once estimated
        self.loader.finished.connect(self._on_loaded)
        self.loader.failed.connect(lambda message, details: self.failed.emit(self.loader.context, message, details))
        self.estimator.finished.connect(self._on_estimate)
        self.estimator.runningChanged.connect(self._on_estimator_running)

    @property
    def is_estimating(self) -> bool:
        return self.estimator.is_running

    def settle(self) -> bool:
        """True when no photo is being opened."""
        return self.loader.settle()

    def open(self, path: Path) -> bool:
        """Start opening ``path``; False when nothing started (one is being opened, or shutting down)."""
        path = Path(path)
        if not self.loader.settle() or not self.loader.start(lambda reporter: open_image(path, reporter),
                                                             context=path):
            return False
        self.started.emit(path)
        return True

    def _on_loaded(self, opened: OpenedImage) -> None:
        self.doc.set_image(opened.path, opened.loaded, opened.image)
        self.settings.last_folder = str(opened.path.parent)
        self.settings.add_recent(opened.path)
        self._set_sigma(None)
        self._estimate()
        self.opened.emit(opened.path)

    def _set_sigma(self, sigma: float | None) -> None:
        self.sigma_estimate = sigma
        self.sigmaChanged.emit(sigma)

    def _estimate(self) -> None:
        if self.estimator.is_running or not self.doc.has_image:
            return  # _on_estimator_running starts the one for the newest photo
        pixels, generation = self.doc.pixels, self.doc.generation
        self.estimator.start(lambda reporter: noise_estimate(pixels, reporter), context=generation)

    def _on_estimate(self, sigma: float | None) -> None:
        if self.estimator.context == self.doc.generation:
            self._set_sigma(sigma)

    def _on_estimator_running(self, running: bool) -> None:
        if not running and self.estimator.context != self.doc.generation:
            QTimer.singleShot(0, self, self._estimate)

    def shutdown(self) -> None:
        for runner in (self.loader, self.estimator):
            runner.shutdown()

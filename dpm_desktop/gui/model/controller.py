"""The application's controller: the open photo, the task to run on it, and everything that runs
in the background, as an observable QObject that the window binds to (krita-ai-diffusion's
``DocumentModel``). It never touches a widget, so it runs, and is tested, without a window.

What goes wrong is the ``error`` signal (title, message, details), never an exception; what the
user should read in passing is the ``status`` signal. Both are sentences for the user."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ..workers.batch import BatchPlan, BatchReport, list_images
from ..workers.errors import describe
from ..workers.jobs import JobInput
from ..workers.runner import JobRunner
from .catalogue import ModelCatalogue
from .defects import DefectFinder
from .document import Document
from .photo_opener import PhotoOpener
from .restore_jobs import RestoreJobs
from .result import PendingResult
from .settings import AppSettings
from .task import TaskParams

EXPECTATION_DELAY_MS = 250  # the cost of a fill is recomputed this long after the last change


@dataclass(frozen=True)
class SaveOptions:
    """How Save writes: Save As's last choice."""

    quality: int = 95
    sidecar: bool = False
    strip_metadata: bool = False


class RestoreController(QObject):
    stateChanged = Signal()  # what can be done now changed: a job started or ended, the task or model
    paramsChanged = Signal()
    status = Signal(str, int)  # a message for the status bar, how long to show it (ms; 0 until replaced)
    error = Signal(str, str, str)  # title, message, details (a traceback, for unexpected errors only)
    opened = Signal(Path)  # a photo is open (and its mask from the command line loaded)
    openFailed = Signal(Path, str)  # path, message; the document is as it was
    maskLoaded = Signal()  # a mask file replaced the mask
    expectationChanged = Signal(object)  # Expectation | None: the cost of the fill Run would start

    def __init__(self, settings: AppSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.doc = Document(self)
        self.catalogue = ModelCatalogue(self)
        self.opener = PhotoOpener(self.doc, self.settings, self)
        self.jobs = RestoreJobs(self.doc, self, self.settings)
        self.defects = DefectFinder(self.doc, self)  # Mask > Find Defects
        self.save_options = SaveOptions()
        self.params = self._with_known_model(self.settings.task)
        self._pending_mask: Path | None = None  # loaded once the photo being opened is there
        self._expect_timer = QTimer(self)
        self._expect_timer.setSingleShot(True)
        self._expect_timer.setInterval(EXPECTATION_DELAY_MS)
        self._expect_timer.timeout.connect(self._update_expectation)
        self._connect()

    def _connect(self) -> None:
        o, j, d = self.opener, self.jobs, self.defects
        o.started.connect(lambda path: self.status.emit(f"Opening {path.name}…", 0))
        o.opened.connect(self._on_opened)
        o.failed.connect(self._on_open_failed)
        j.finished.connect(self._on_finished)
        j.rateMeasured.connect(self._update_expectation)
        j.failed.connect(lambda m, details: self.error.emit(
            "The restoration failed", m + "\n\nThe photo was not changed.", details))
        j.cancelled.connect(lambda: self.status.emit("Cancelled; the photo was not changed", 5000))
        j.dropped.connect(lambda why: self.status.emit(why, 10_000))
        j.batchFinished.connect(lambda report: self.status.emit(batch_summary(report)[0], 10_000))
        j.batchFailed.connect(lambda m, details: self.error.emit(
            "The batch failed", m + "\n\nThe results written before the failure are kept; no original was changed.",
            details))
        j.batchCancelled.connect(lambda: self.status.emit("Batch cancelled; results written so far are kept", 5000))
        d.progress.connect(lambda info: self.status.emit(
            f"Finding defects… {100 * info.step // max(1, info.total)} %", 0))
        d.found.connect(lambda text: self.status.emit(text, 10_000))
        d.cancelled.connect(lambda: self.status.emit("Find Defects cancelled", 5000))
        d.failed.connect(lambda m, details: self.error.emit("Cannot find defects", m, details))
        for changed in (j.runningChanged, j.batchRunningChanged, d.runningChanged, self.catalogue.changed):
            changed.connect(lambda *_: self.stateChanged.emit())
        for changed in (self.doc.imageChanged, self.doc.maskChanged, self.paramsChanged):
            changed.connect(lambda *_: self._expect_timer.start())

    # state -----------------------------------------------------------------------------------
    @property
    def runners(self) -> tuple[JobRunner, ...]:
        """Every background runner (none may be left running when the window closes)."""
        return (self.jobs.runner, self.jobs.batch_runner, self.opener.loader, self.opener.estimator,
                self.defects.runner)

    @property
    def has_model(self) -> bool:
        """The chosen model is installed (nothing can run without one)."""
        return self.catalogue.find(self.params.model) is not None

    @property
    def has_mask(self) -> bool:
        return self.doc.has_image and not self.doc.mask_is_empty()

    def _with_known_model(self, params: TaskParams) -> TaskParams:
        if self.catalogue.find(params.model) is None:
            return replace(params, model=self.catalogue.default_name())
        return params

    def set_params(self, params: TaskParams) -> None:
        """The task to run (the task panel's choices)."""
        if params != self.params:
            self.params = params
            self.paramsChanged.emit()
            self.stateChanged.emit()

    def report(self, title: str, message: str, details: str = "") -> None:
        """Say that something went wrong (the window shows it; nothing was changed)."""
        self.error.emit(title, message, details)

    # opening ---------------------------------------------------------------------------------
    def ready_to_open(self) -> bool:
        """False (and a status message) while the previous photo is still being opened."""
        if self.opener.settle():
            return True
        self.status.emit("Still opening the previous image…", 3000)
        return False

    def open_photo(self, path: Path, mask: Path | None = None) -> bool:
        """Start opening ``path`` in the background, then load ``mask`` onto it if given; False when it
        cannot start. ``opened`` or ``openFailed`` follows; an unreadable file leaves the document as it was."""
        if not self.ready_to_open() or not self.opener.open(Path(path)):
            return False
        self._pending_mask = mask
        return True

    def recent_exists(self, path: str) -> bool:
        """A recent file is still there; if not, it leaves the list and the user is told."""
        if Path(path).is_file():
            return True
        self.settings.remove_recent(path)
        self.report("Cannot open the image", f"{path} no longer exists.")
        return False

    def _on_opened(self, path: Path) -> None:
        self.jobs.cancel()  # a running job's result belongs to the previous photo: it will be dropped
        self.defects.cancel()  # so does a running Find Defects
        note = f" ({'; '.join(self.doc.notes)})" if self.doc.notes else ""
        self.status.emit(f"Opened {path.name}{note}", 5000)
        self.stateChanged.emit()
        if self._pending_mask is not None:
            mask, self._pending_mask = self._pending_mask, None
            self.load_mask(mask)
        self.opened.emit(path)

    def _on_open_failed(self, path: Path, message: str, details: str) -> None:
        self._pending_mask = None
        self.report("Cannot open the image", message, details)
        self.openFailed.emit(path, message)

    # files -----------------------------------------------------------------------------------
    def save(self, path: Path) -> bool:
        """Write the photo to ``path`` with the save options; False (and an error) if it cannot."""
        o = self.save_options
        try:
            notes = self.doc.save(path, quality=o.quality, sidecar=o.sidecar, strip_metadata=o.strip_metadata)
        except Exception as e:
            self.report("Cannot save", describe(e)[0])
            return False
        self.settings.last_folder = str(path.parent)
        self.settings.add_recent(path)
        self.status.emit(f"Saved {path}" + (f" ({'; '.join(notes)})" if notes else ""), 8000)
        return True

    def export_mask(self, path: Path) -> bool:
        if not self.doc.has_image:
            return False
        try:
            self.doc.export_mask(path)
        except Exception as e:
            self.report("Cannot export the mask", describe(e)[0])
            return False
        self.status.emit(f"Mask saved to {path}", 5000)
        return True

    def load_mask(self, path: Path) -> bool:
        """Replace the mask by a mask file (white = fill) of the photo's size."""
        if not self.doc.has_image:
            return False
        try:
            self.doc.load_mask(path)
        except Exception as e:
            self.report("Cannot use this mask", describe(e)[0])
            return False
        self.maskLoaded.emit()
        return True

    def import_model(self, path: Path) -> str | None:
        """Install a checkpoint into the user's models; its name, or None (and an error)."""
        try:
            entry = self.catalogue.import_checkpoint(path)
        except Exception as e:
            self.report("Cannot import this checkpoint", describe(e)[0])
            return None
        self.status.emit(f"Imported model {entry.name} into {entry.folder.parent}", 8000)
        self.stateChanged.emit()
        return entry.name

    # running ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Start the task on the open photo; False (with an error saying why, where there is one)
        when it cannot. The result waits in the document until applied or discarded."""
        if not self.jobs.settle():
            return False
        if not self.doc.has_image:
            self.report("Nothing to restore", "Open a photo first.")
            return False
        if not self.has_model:
            self.report("No model", "No model is installed. Import a checkpoint (File ▸ Import checkpoint…).")
            return False
        params, coverage = self.params, self.doc.coverage()
        if params.task == "inpaint" and not coverage.any():
            self.report("Nothing to fill", "Paint a mask over the area to fill first (brush, rectangle or lasso).")
            return False
        if not self.jobs.start(JobInput(params, self.doc.pixels, coverage, self.doc.generation)):
            return False
        self.status.emit(f"Running {params.summary()}…", 0)
        return True

    def cancel(self) -> bool:
        """Cancel the running restoration (it stops within a step); False when none runs."""
        return self.jobs.cancel()

    def apply_result(self) -> bool:
        if self.doc.result is None:
            return False
        self.doc.apply_result()
        self.status.emit("Result applied (Ctrl+Z to undo)", 5000)
        return True

    def _on_finished(self, result: PendingResult) -> None:
        self._update_expectation()  # the fill measured its rate
        self.status.emit("Result ready: compare, then Apply (Ctrl+Enter) or Discard", 8000)

    def _update_expectation(self) -> None:
        expected = self.jobs.expectation(self.params)
        self.expectationChanged.emit(expected)
        if expected is not None and expected.seconds is None:
            self.jobs.warm_up(self.params)  # its rate arrives by rateMeasured

    # batch -----------------------------------------------------------------------------------
    def can_batch(self) -> bool:
        return self.jobs.settle() and self.has_model

    def batch(self, source: Path, dest: Path, fmt: str = "same", quality: int = 95,
              sidecar: bool = True) -> BatchPlan | None:
        """Apply the task to every photo in ``source``, results into ``dest`` (the mask, if any, for
        photos of its size); the plan started, or None (and an error, where there is one)."""
        if not self.can_batch():
            return None
        inputs = list_images(source) if Path(source).is_dir() else []
        if not inputs:
            self.report("Batch", f"No images in {source}.")
            return None
        plan = BatchPlan(self.params, inputs, Path(dest), fmt, quality,
                         self.doc.coverage() if self.has_mask else None, sidecar)
        return plan if self.jobs.start_batch(plan) else None

    # find defects ----------------------------------------------------------------------------
    def find_defects(self, sensitivity: float) -> bool:
        """Mask > Find Defects, or cancel it while it runs (the same action); True if it started."""
        if self.defects.is_running:
            self.defects.cancel()
            return False
        if not self.doc.has_image or not self.has_model:
            return False
        started = self.defects.start(self.params.model, self.params.device, sensitivity)
        if started:
            self.status.emit("Finding defects…", 0)
        return started

    # closing ---------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Cancel everything and wait for the threads; nothing starts afterwards."""
        self._expect_timer.stop()
        self.jobs.shutdown()
        self.opener.shutdown()
        self.defects.runner.shutdown()


def batch_summary(report: BatchReport) -> list[str]:
    """What a batch did, a line each: the count written, then every file failed or skipped and why."""
    done = len(report.written)
    lines = [f"{done} written to {report.written[0].parent}" if done else "Nothing written."]
    lines += [f"Failed: {p.name}: {why}" for p, why in report.failed]
    lines += [f"Skipped: {p.name}: {why}" for p, why in report.skipped]
    return lines


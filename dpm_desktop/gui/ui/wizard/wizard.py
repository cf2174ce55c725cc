"""The training wizard: from a folder of photos to a registered model, without a terminal.

It owns the run's state (:class:`~dpm_desktop.gui.model.training_run.TrainingRun`) and its child
process (:class:`~dpm_desktop.gui.workers.train_process.TrainProcess`); the pages show and steer
them. Closing the window while training only hides it (the main window's *Train a Model…* shows
it again); Cancel asks, then deletes the run; quitting the app stops the run with a checkpoint,
and it is offered for resuming at the next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from ...model.catalogue import ModelCatalogue
from ...model.run_store import write_status
from ...model.settings import AppSettings
from ...model.train_plan import TrainPlan
from ...model.training_run import TrainingRun
from ...workers.train_process import TrainProcess
from .data_page import DataPage
from .done_page import DonePage
from .model_page import ModelPage
from .training_page import TrainingPage

QUIT_WAIT_MS = 60_000  # how long quitting waits for the trainer's checkpoint before killing it


class TrainWizard(QWizard):
    DATA, MODEL, TRAINING, DONE = range(4)

    modelRegistered = Signal(str)  # the name in the model picker
    openPhotoRequested = Signal(str)  # "Open a photo with this model"
    hiddenWhileTraining = Signal()

    def __init__(self, catalogue: ModelCatalogue, settings: AppSettings, parent: QWidget | None = None, *,
                 resume: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setObjectName("train_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Close")
        self.catalogue, self.settings = catalogue, settings
        self.plan: TrainPlan | None = None
        self.plan_overrides: dict[str, Any] = {}  # TrainPlan fields the pages do not show (tests: batch=4)
        self.run_dir: Path | None = None
        self.resume_dir = resume
        self.closing = False  # the application is quitting: a stopped run is kept for later
        self.run = TrainingRun(self)
        self.process = TrainProcess(self)
        self.process.event.connect(self.run.feed)

        self.data_page, self.model_page = DataPage(), ModelPage()
        self.training_page, self.done_page = TrainingPage(), DonePage()
        for page_id, page in ((self.DATA, self.data_page), (self.MODEL, self.model_page),
                              (self.TRAINING, self.training_page), (self.DONE, self.done_page)):
            self.setPage(page_id, page)
        self.training_page.bind(self)
        self.data_page.resumeRequested.connect(self.resume_run)
        if resume is not None:
            self.setStartId(self.TRAINING)
        # The training page has its own Cancel training beside Pause and Stop and keep; Done has none.
        self.currentIdChanged.connect(lambda page: self.button(QWizard.WizardButton.CancelButton).setVisible(
            page not in (self.TRAINING, self.DONE)))
        self.resize(1040, 760)

    # state ---------------------------------------------------------------------------------------
    @property
    def is_training(self) -> bool:
        """A run is active (running, paused or stopping): quitting must ask."""
        return self.process.is_active

    def resume_run(self, run_dir: Path) -> None:
        """Continue an interrupted run (from the data page's banner)."""
        if self.is_training:
            return
        self.resume_dir = Path(run_dir)
        self.model_page.pause_measuring()
        self.setStartId(self.TRAINING)
        self.restart()

    def confirm(self, title: str, text: str, yes: str) -> bool:
        """A blocking yes / no question (tests replace it)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        yes_button = box.addButton(yes, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Back", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is yes_button

    def confirm_quit(self) -> bool:
        return self.confirm("Training is running",
                            "Quit and keep the run for later? It stops after the current step with a checkpoint; "
                            "the next time you start DPM Desktop you can resume it.", "Stop and quit")

    # closing -------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The application is quitting: stop the run with a checkpoint (it stays resumable) and end
        every background job."""
        self.closing = True
        if self.process.is_running:
            self.process.shutdown(QUIT_WAIT_MS)
        if self.run_dir is not None and self.run_dir.is_dir() and self.process.state in ("paused", "ended") \
                and not (self.process.outcome and self.process.outcome.kind == "cancelled") \
                and self.currentId() != self.DONE:
            write_status(self.run_dir, "interrupted")
        self._shutdown_workers()

    def _shutdown_workers(self) -> None:
        self.data_page.shutdown()
        self.model_page.shutdown()

    def reject(self) -> None:
        """Cancel / Esc: while training, Cancel training (asks); otherwise close."""
        if self.is_training:
            self.training_page.cancel_training()
            return
        self._shutdown_workers()
        super().reject()

    def close_after_cancel(self) -> None:
        self._shutdown_workers()
        super().reject()

    def done(self, result: int) -> None:
        if self.is_training and not self.closing:
            return  # only Cancel training or quitting ends an active run
        self._shutdown_workers()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_training and not self.closing:
            event.ignore()
            self.hide()  # the run goes on; Train a Model… shows this window again
            self.hiddenWhileTraining.emit()
            return
        super().closeEvent(event)

"""Wizard page 1: the folder of photos to learn from, scanned in the background: usable images with
thumbnails, skipped files with their reasons, colour or grayscale. An empty or unusable folder
cannot go forward and says why. Interrupted runs are offered for resuming here too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ...model.run_store import RunSummary, resumable_runs
from ...workers.folder_scan import THUMB_SIDE, ScanReport, scan
from ...workers.runner import JobRunner, StepInfo
from ..widgets import muted

if TYPE_CHECKING:
    from .wizard import TrainWizard

SCAN_DELAY_MS = 350  # typing a path: scan once the typing pauses


class DataPage(QWizardPage):
    resumeRequested = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("1 · Photos to learn from")
        self.setSubTitle("A folder of photos like the ones you want to restore (subfolders count too). "
                         "The model learns what clean photos of this kind look like.")
        self.report: ScanReport | None = None
        self.error = ""  # why the folder cannot be used (shown, and blocks Next)
        self.scanner = JobRunner(self)
        self.scanner.finished.connect(self._on_scanned)
        self.scanner.failed.connect(self._on_scan_failed)
        self.scanner.progress.connect(self._on_progress)
        self.scanner.runningChanged.connect(self._on_running)
        self._timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._timer.timeout.connect(self.start_scan)

        # resumable runs
        self.resume_banner = QLabel()
        self.resume_banner.setObjectName("banner")
        self.resume_banner.setWordWrap(True)
        self.resume_choice = QComboBox()
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("primary")
        self.resume_button.clicked.connect(self._resume_clicked)
        resume_row = QHBoxLayout()
        resume_row.addWidget(self.resume_banner, 1)
        resume_row.addWidget(self.resume_choice)
        resume_row.addWidget(self.resume_button)
        self.resume_box = QWidget()
        self.resume_box.setLayout(resume_row)
        resume_row.setContentsMargins(0, 0, 0, 4)

        # the folder
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder of JPEG, PNG, TIFF or WebP photos")
        self.folder.textChanged.connect(self._on_text)
        browse = QPushButton("Choose folder…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.summary = QLabel("Choose a folder to see what can be used.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        # colour or grayscale
        self.colour = QRadioButton("Colour model")
        self.gray = QRadioButton("Grayscale model")
        self.colour.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.colour)
        group.addButton(self.gray)
        self.kind_note = muted("")
        kind = QHBoxLayout()
        kind.addWidget(self.colour)
        kind.addWidget(self.gray)
        kind.addWidget(self.kind_note, 1)

        # thumbnails and skipped files
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.thumbs.setGridSize(QSize(THUMB_SIDE + 14, THUMB_SIDE + 14))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.skipped = QListWidget()
        self.skipped.setWordWrap(True)
        self.skipped.setStyleSheet("QListWidget::item { padding: 3px 2px; }")
        self.skipped.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.skipped.setResizeMode(QListView.ResizeMode.Adjust)
        self.skipped.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.skipped_label = muted("Skipped files")
        left, right = QWidget(), QWidget()
        lv, rv = QVBoxLayout(left), QVBoxLayout(right)
        lv.setContentsMargins(0, 0, 0, 0)
        rv.setContentsMargins(0, 0, 0, 0)
        self.usable_label = muted("Usable photos")
        lv.addWidget(self.usable_label)
        lv.addWidget(self.thumbs, 1)
        rv.addWidget(self.skipped_label)
        rv.addWidget(self.skipped, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([600, 380])

        lay = QVBoxLayout(self)
        lay.addWidget(self.resume_box)
        lay.addLayout(row)
        lay.addWidget(self.summary)
        lay.addLayout(kind)
        lay.addWidget(split, 1)
        self.refresh_resumable()

    @property
    def wizard_(self) -> TrainWizard:
        return self.wizard()  # type: ignore[return-value]

    # resumable runs ------------------------------------------------------------------------------
    def refresh_resumable(self) -> None:
        runs: list[RunSummary] = resumable_runs()
        self.resume_choice.clear()
        for r in runs:
            self.resume_choice.addItem(r.describe(), str(r.run_dir))
        self.resume_box.setVisible(bool(runs))
        n = len(runs)
        self.resume_banner.setText(f"{'A training run was' if n == 1 else f'{n} training runs were'} interrupted "
                                   "and can continue where it stopped.")
        self.resume_choice.setVisible(n > 0)

    def _resume_clicked(self) -> None:
        folder = self.resume_choice.currentData()
        if folder:
            self.resumeRequested.emit(Path(folder))

    # scanning ------------------------------------------------------------------------------------
    def browse(self) -> None:
        start = self.folder.text() or self.wizard_.settings.last_folder
        chosen = QFileDialog.getExistingDirectory(self, "Photos to learn from", start)
        if chosen:
            self.set_folder(Path(chosen))

    def set_folder(self, folder: Path) -> None:
        self.folder.setText(str(folder))
        self._timer.stop()
        self.start_scan()

    def _on_text(self, _text: str) -> None:
        self.report, self.error = None, ""
        self.completeChanged.emit()
        self._timer.start()

    def start_scan(self) -> None:
        text = self.folder.text().strip()
        if not text:
            self._show_empty("Choose a folder to see what can be used.")
            return
        if self.scanner.is_running:
            self.scanner.cancel()  # _on_running starts the scan of the newest text
            return
        folder = Path(text).expanduser()
        self.summary.setText("Scanning…")
        self.scanner.start(lambda reporter: scan(folder, reporter), context=folder)

    def _on_running(self, running: bool) -> None:
        if not running and not self._is_current():
            QTimer.singleShot(0, self.start_scan)  # the text changed during the scan

    def _on_progress(self, info: StepInfo) -> None:
        self.summary.setText(f"Scanning… {info.message}")

    def _is_current(self) -> bool:
        return self.scanner.context == Path(self.folder.text().strip()).expanduser()

    def _on_scan_failed(self, message: str, _details: str) -> None:
        if self._is_current():
            self._show_empty(message)

    def _show_empty(self, message: str) -> None:
        self.report, self.error = None, message
        self.summary.setText(f"<span style='color:#f3a0a0'>{message}</span>" if message else "")
        self.thumbs.clear()
        self.skipped.clear()
        self.completeChanged.emit()

    def _on_scanned(self, report: ScanReport) -> None:
        if not self._is_current():
            return
        self.report = report
        self.error = report.refusal()
        self.thumbs.clear()
        for path, image in report.thumbnails:
            item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), "")
            item.setToolTip(f"{path.name}  ({' × '.join(map(str, report.sizes.get(str(path), ())))} px)")
            self.thumbs.addItem(item)
        self.skipped.clear()
        for path, why in report.skipped:
            item = QListWidgetItem(f"{path.name} — {why}")
            item.setToolTip(str(path))
            self.skipped.addItem(item)
        n, k = len(report.usable), len(report.skipped)
        self.skipped_label.setText(f"Skipped files ({k})" if k else "Skipped files: none")
        shown = len(report.thumbnails)
        self.usable_label.setText(f"Usable photos ({n}{f', first {shown} shown' if shown < n else ''})")
        if self.error:
            self.summary.setText(f"<span style='color:#f3a0a0'>{self.error}</span>")
        else:
            gray = report.grayscale
            kinds = ("all grayscale" if gray == n else "all colour" if gray == 0
                     else f"{n - gray} colour, {gray} grayscale")
            few = " Fewer than 20 photos: the model will learn little; more is better." if n < 20 else ""
            self.summary.setText(f"<b>{n} usable photo{'s' if n != 1 else ''}</b> ({kinds})"
                                 f"{f', {k} skipped' if k else ''}.{few}")
            (self.gray if report.mostly_gray else self.colour).setChecked(True)
            self.kind_note.setText("Suggested from the photos: " + ("grayscale" if report.mostly_gray else "colour")
                                   + (" (colour photos are converted to grey)" if report.mostly_gray and gray < n
                                      else ""))
        self.completeChanged.emit()

    # wizard hooks --------------------------------------------------------------------------------
    def isComplete(self) -> bool:
        return self.report is not None and not self.error and self._is_current()

    def validatePage(self) -> bool:
        if self.report is not None:
            self.wizard_.settings.last_folder = str(self.report.folder)
        return self.isComplete()

    @property
    def channels(self) -> int:
        return 1 if self.gray.isChecked() else 3

    def shutdown(self) -> None:
        self._timer.stop()
        self.scanner.shutdown()

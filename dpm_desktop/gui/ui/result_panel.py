"""The Result dock: compare before and after, pick a candidate, show uncertainty, apply or discard."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..model.document import Document
from .canvas import Canvas, ViewMode
from .widgets import muted

THUMB = 72


class ResultPanel(QWidget):
    def __init__(self, doc: Document, canvas: Canvas, actions: dict[str, QAction],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc, self.canvas = doc, canvas
        self.summary = muted("Run a task to see its result here.")
        self.mode_buttons: dict[ViewMode, QPushButton] = {}
        modes = QHBoxLayout()
        modes.setSpacing(0)
        group = QButtonGroup(self)
        for mode, label, tip in ((ViewMode.SPLIT, "Split", "Before | after with a divider you can drag (Y)"),
                                 (ViewMode.BEFORE, "Before", "The photo as it is (\\ toggles)"),
                                 (ViewMode.AFTER, "After", "The result (\\ toggles)")):
            b = QPushButton(label)
            b.setCheckable(True)
            b.setToolTip(tip)
            group.addButton(b)
            modes.addWidget(b)
            b.clicked.connect(lambda _=False, m=mode: canvas.set_view_mode(m))
            self.mode_buttons[mode] = b
        self.candidates = QListWidget()
        self.candidates.setViewMode(QListView.ViewMode.IconMode)
        self.candidates.setIconSize(QSize(THUMB, THUMB))
        self.candidates.setFlow(QListView.Flow.LeftToRight)
        self.candidates.setWrapping(False)
        self.candidates.setFixedHeight(THUMB + 30)
        self.candidates.setMovement(QListView.Movement.Static)
        self.candidates.setToolTip("Candidates: click one to compare it; Apply uses the selected one")
        self.uncertainty = QCheckBox("Show uncertainty")
        self.uncertainty.setToolTip("Where the model is unsure: the spread of its samples or candidates")
        self.apply = QPushButton("Apply")
        self.apply.setObjectName("primary")
        self.apply.setToolTip("Make the result the current image (Ctrl+Enter); undo brings it back")
        self.discard = QPushButton("Discard")
        self.discard.setToolTip("Drop the result; the photo stays as it is")
        buttons = QHBoxLayout()
        buttons.addWidget(self.discard, 1)
        buttons.addWidget(self.apply, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.addWidget(self.summary)
        lay.addLayout(modes)
        lay.addWidget(self.candidates)
        lay.addWidget(self.uncertainty)
        lay.addLayout(buttons)
        lay.addStretch(1)

        self.apply.clicked.connect(actions["apply"].trigger)
        self.discard.clicked.connect(actions["discard"].trigger)
        self.candidates.currentRowChanged.connect(self._on_candidate)
        self.uncertainty.toggled.connect(canvas.set_uncertainty_visible)
        canvas.viewModeChanged.connect(self._sync_mode)
        doc.resultChanged.connect(self.refresh)
        self._sync_mode(canvas.view_mode)
        self.refresh()

    def _sync_mode(self, mode: ViewMode) -> None:
        self.mode_buttons[mode].setChecked(True)

    def _on_candidate(self, row: int) -> None:
        if row >= 0:
            self.doc.choose_candidate(row)

    def refresh(self) -> None:
        r = self.doc.result
        has = r is not None
        for w in (*self.mode_buttons.values(), self.apply, self.discard):
            w.setEnabled(has)
        if r is None:
            self.summary.setText("Run a task to see its result here.")
            self.candidates.clear()
            self.candidates.setVisible(False)
            self.uncertainty.setEnabled(False)
            return
        what = "Inpainting" if r.task == "inpaint" else "Denoising"
        size = f"{r.region.width()}×{r.region.height()} px"
        lines = [f"<b>{what}</b> · {size} · {r.elapsed_s:.1f} s"]
        lines += [f"• {n}" for n in r.notes]
        self.summary.setText("<br>".join(lines))
        if self.candidates.count() != len(r.images):
            self.candidates.blockSignals(True)
            self.candidates.clear()
            for i, img in enumerate(r.images):
                thumb = QPixmap.fromImage(img.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))
                label = r.labels[i] if i < len(r.labels) else f"#{i + 1}"
                item = QListWidgetItem(QIcon(thumb), label)
                if label == "Mean":
                    item.setToolTip("The mean of the candidates: the least error on scratches and text, "
                                    "smoother in large holes")
                self.candidates.addItem(item)
            self.candidates.blockSignals(False)
        self.candidates.setVisible(len(r.images) > 1)
        self.candidates.blockSignals(True)
        self.candidates.setCurrentRow(r.chosen)
        self.candidates.blockSignals(False)
        self.uncertainty.setEnabled(r.uncertainty is not None)
        if r.uncertainty is None:
            self.uncertainty.setChecked(False)

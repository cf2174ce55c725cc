"""The Restore dock: what to do (denoise / inpaint and their settings), with which model on which
device, the Run / Cancel buttons, progress with ETA and the live preview of the chain."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTabBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..model.catalogue import ModelCatalogue, device_choices, model_card
from ..model.task import DENOISE_MODES, INPAINT_PRESETS, TaskParams
from ..workers.runner import StepInfo
from .widgets import muted

PREVIEW_HINT = "The chain's current estimate appears here while it runs"
NO_MODEL_TEXT = ("<b>No model installed.</b><br>Import a trained checkpoint with <i>Import checkpoint…</i>, "
                 "or train one: <code>dpm train --data PHOTOS --out runs/mine</code>, then import "
                 "<code>runs/mine</code>.")


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip + " (type, scroll, or use the arrow keys)")
    s.setMaximumWidth(80)
    s.setAlignment(Qt.AlignmentFlag.AlignRight)
    return s


def format_seconds(seconds: float) -> str:
    s = max(1, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min left"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s left"
    return f"{s} s left"


class TaskPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    importRequested = Signal()
    paramsChanged = Signal()

    def __init__(self, catalogue: ModelCatalogue, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalogue = catalogue
        self.tabs = QTabBar()
        self.tabs.addTab("Inpaint")
        self.tabs.addTab("Denoise")
        self.tabs.setExpanding(True)
        self.tabs.setDrawBase(False)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._inpaint_page())
        self.pages.addWidget(self._denoise_page())
        self.tabs.currentChanged.connect(self._on_tab)

        # model and device
        self.model = QComboBox()
        self.model.setToolTip("The diffusion model that restores the photo")
        self.import_button = QToolButton()
        self.import_button.setDefaultAction(actions["import_model"])
        self.import_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.card = QLabel()
        self.card.setObjectName("card")
        self.card.setWordWrap(True)
        self.card.setTextFormat(Qt.TextFormat.RichText)
        self.device = QComboBox()
        for d in device_choices():
            self.device.addItem(d.label, d.key)
            if not d.available:
                self.device.model().item(self.device.count() - 1).setEnabled(False)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.import_button)
        engine = QFormLayout()
        engine.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        engine.addRow("Model", model_row)
        engine.addRow("", self.card)
        engine.addRow("Device", self.device)

        # run
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip("Run the task (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip("Stop the run (Esc); the photo stays as it was")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.eta = muted("")
        self.preview = QLabel()
        self.preview.setObjectName("preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(110)
        self.preview.setText(f"<span style='color:#6b717a'>{PREVIEW_HINT}</span>")
        self.preview.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.addWidget(self.tabs)
        lay.addWidget(self.pages)
        lay.addLayout(engine)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.eta)
        lay.addWidget(self.preview, 1)

        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.model.currentIndexChanged.connect(self._on_model)
        catalogue.changed.connect(self.refresh_models)
        for w in self.findChildren(QSpinBox) + self.findChildren(QDoubleSpinBox):
            w.valueChanged.connect(self.paramsChanged)
        for w in self.findChildren(QComboBox):
            w.currentIndexChanged.connect(self.paramsChanged)
        self.refresh_models()

    # pages -----------------------------------------------------------------------------------
    def _inpaint_page(self) -> QWidget:
        self.preset = QComboBox()
        for key, label in INPAINT_PRESETS.items():
            self.preset.addItem(label, key)
        self.preset.setToolTip("Fast fills an object's hole in seconds on a CPU, the mean of a few draws: the least "
                               "error, a smoother fill. Best runs the exhaustive chain (often minutes): one draw, "
                               "sharper, further from the truth on average (make bench). Custom uses the steps and "
                               "resampling set here")
        self.preset.currentIndexChanged.connect(self._on_preset)
        self.expected = muted("")
        self.expected.setObjectName("expected")
        self.expected.setWordWrap(True)
        self.steps = _spin(1, 1000, 50, "Reverse diffusion steps: more is slower and usually cleaner")
        self.resample = _spin(1, 20, 5, "RePaint resampling: each jump is redone this many times; "
                                        "higher harmonises the seam at a proportional cost")
        self.jump = _spin(1, 50, 5, "How many steps each resampling jump goes back")
        self.candidates = _spin(1, 8, 1, "Independent fills to choose from; with 2 or more their mean is offered "
                                "too (the least error on scratches and text, smoother in large holes)")
        self.seed = _spin(0, 2**31 - 1, 0, "Same seed, same settings: the same result")
        self.seed.setMaximumWidth(110)
        dice = QToolButton()
        dice.setText("New seed")
        dice.setToolTip("Pick a new random seed")
        dice.clicked.connect(self._new_seed)
        grid = QGridLayout()
        grid.setContentsMargins(0, 8, 0, 2)
        grid.setHorizontalSpacing(8)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (label, widget, label2, widget2) in enumerate((
                ("Steps", self.steps, "Candidates", self.candidates),
                ("Resampling", self.resample, "Jump", self.jump))):
            grid.addWidget(QLabel(label), row, 0, right)
            grid.addWidget(widget, row, 1)
            grid.addWidget(QLabel(label2), row, 2, right)
            grid.addWidget(widget2, row, 3)
        grid.addWidget(QLabel("Seed"), 2, 0, right)
        grid.addWidget(self.seed, 2, 1, 1, 2)
        grid.addWidget(dice, 2, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        outer = QVBoxLayout()
        outer.setContentsMargins(0, 0, 0, 0)
        quality = QHBoxLayout()
        quality.addWidget(QLabel("Quality"))
        quality.addWidget(self.preset, 1)
        outer.addLayout(quality)
        outer.addWidget(self.expected)
        outer.addLayout(grid)
        holder = QWidget()
        holder.setLayout(outer)
        self._on_preset()
        return holder

    def _denoise_page(self) -> QWidget:
        page = QWidget()
        self.sigma_auto = QRadioButton("Auto")
        self.sigma_manual = QRadioButton("Manual")
        group = QButtonGroup(page)
        group.addButton(self.sigma_auto)
        group.addButton(self.sigma_manual)
        self.sigma_auto.setChecked(True)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.5, 150)
        self.sigma.setDecimals(1)
        self.sigma.setValue(25)
        self.sigma.setToolTip("Noise standard deviation on the 0-255 scale")
        self.sigma.setMaximumWidth(80)
        self.sigma.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.sigma.setEnabled(False)
        self.sigma_manual.toggled.connect(self.sigma.setEnabled)
        self.sigma_auto.toggled.connect(lambda _: self.paramsChanged.emit())
        self.estimate = muted("")
        self.mode = QComboBox()
        for key, label in DENOISE_MODES.items():
            self.mode.addItem(label, key)
        self.samples = _spin(1, 64, 4, "Chains to average; their spread is the uncertainty map")
        self.denoise_steps = _spin(1, 1000, 20, "Steps of each chain")
        self.mask_only = QCheckBox("Only inside the mask")
        self.mask_only.setToolTip("Denoise just the painted area, blended through its soft edge")
        self.mask_only.toggled.connect(lambda _: self.paramsChanged.emit())
        self.mode.currentIndexChanged.connect(self._on_mode)
        sig = QHBoxLayout()
        sig.addWidget(self.sigma_auto)
        sig.addWidget(self.sigma_manual)
        sig.addWidget(self.sigma)
        sig.addStretch(1)
        chains = QHBoxLayout()
        chains.addWidget(self.samples)
        chains.addWidget(QLabel("chains ×"))
        chains.addWidget(self.denoise_steps)
        chains.addWidget(QLabel("steps"))
        chains.addStretch(1)
        form = QFormLayout(page)
        form.setContentsMargins(0, 6, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Noise σ", sig)
        form.addRow("", self.estimate)
        form.addRow("Method", self.mode)
        form.addRow("Sampling", chains)
        form.addRow("", self.mask_only)
        self._on_mode()
        return page

    def _on_tab(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.paramsChanged.emit()

    def _on_mode(self) -> None:
        chain = self.mode.currentData() != "mean"
        self.samples.setEnabled(chain)
        self.denoise_steps.setEnabled(chain)

    def _new_seed(self) -> None:
        import random

        self.seed.setValue(random.randrange(2**31 - 1))

    # models ----------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for e in self.catalogue.entries:
            self.model.addItem(f"{e.name}  ({'bundled' if e.bundled else 'user'})", e.name)
        want = current if self.catalogue.find(current) else self.catalogue.default_name()
        if want is not None:
            self.model.setCurrentIndex(max(0, self.model.findData(want)))
        self.model.blockSignals(False)
        self._on_model()

    def _on_model(self) -> None:
        entry = self.catalogue.find(self.model.currentData())
        if entry is None:
            self.card.setObjectName("banner")
            self.card.setText(NO_MODEL_TEXT)
        else:
            self.card.setObjectName("card")
            self.card.setText(model_card(entry))
        self.card.style().unpolish(self.card)
        self.card.style().polish(self.card)
        self.model.setEnabled(bool(self.catalogue.entries))
        self.paramsChanged.emit()

    def has_model(self) -> bool:
        return self.catalogue.find(self.model.currentData()) is not None

    # params ----------------------------------------------------------------------------------
    def params(self) -> TaskParams:
        return TaskParams(
            task="inpaint" if self.tabs.currentIndex() == 0 else "denoise",
            model=self.model.currentData(), device=self.device.currentData() or "auto",
            sigma_auto=self.sigma_auto.isChecked(), sigma=self.sigma.value(), mode=self.mode.currentData(),
            samples=self.samples.value(), denoise_steps=self.denoise_steps.value(),
            mask_only=self.mask_only.isChecked(), preset=self.preset.currentData() or "fast",
            steps=self.steps.value(), resample=self.resample.value(),
            jump=self.jump.value(), candidates=self.candidates.value(), seed=self.seed.value())

    def set_params(self, p: TaskParams) -> None:
        self.tabs.setCurrentIndex(0 if p.task == "inpaint" else 1)
        if p.model and self.catalogue.find(p.model):
            self.model.setCurrentIndex(self.model.findData(p.model))
        i = self.device.findData(p.device)
        if i >= 0 and self.device.model().item(i).isEnabled():
            self.device.setCurrentIndex(i)
        (self.sigma_auto if p.sigma_auto else self.sigma_manual).setChecked(True)
        self.sigma.setValue(p.sigma)
        self.mode.setCurrentIndex(max(0, self.mode.findData(p.mode)))
        self.samples.setValue(p.samples)
        self.denoise_steps.setValue(p.denoise_steps)
        self.mask_only.setChecked(p.mask_only)
        self.preset.setCurrentIndex(max(0, self.preset.findData(p.preset)))
        self.steps.setValue(p.steps)
        self.resample.setValue(p.resample)
        self.jump.setValue(p.jump)
        self.candidates.setValue(p.candidates)
        self.seed.setValue(p.seed)

    def _on_preset(self) -> None:
        custom = self.preset.currentData() == "custom"
        for w in (self.steps, self.resample, self.jump):
            w.setEnabled(custom)

    def set_expectation(self, text: str) -> None:
        """What the current mask and quality will cost (network calls, and the time where known)."""
        self.expected.setText(text)

    def set_task(self, task: str) -> None:
        self.tabs.setCurrentIndex(0 if task == "inpaint" else 1)

    def set_sigma_estimate(self, sigma: float | None) -> None:
        self.estimate.setText("" if sigma is None else f"Estimated noise in this photo: σ ≈ {sigma:.1f}")

    # running ---------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.run_button.setText("Running…" if running else "Run")
        for w in (self.pages, self.model, self.device, self.import_button, self.tabs):
            w.setEnabled(not running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first step reports
            self.progress.setFormat("Starting…")
            self.eta.setText("Loading the model…")
            self.preview.setPixmap(QPixmap())
            self.preview.setText("<span style='color:#6b717a'>Waiting for the first preview…</span>")

    def set_run_enabled(self, enabled: bool, why: str = "") -> None:
        self.run_button.setEnabled(enabled)
        self.run_button.setToolTip("Run the task (Ctrl+R)" if enabled else why)

    def show_progress(self, info: StepInfo) -> None:
        total = max(1, info.total)
        self.progress.setRange(0, total)
        self.progress.setValue(min(info.step, total))
        self.progress.setFormat(f"{100 * info.step // total}%  ·  step {info.step} of {total}")
        self.eta.setText(f"{info.message + '  ·  ' if info.message else ''}{format_eta(info.eta_s)}"
                         f"  ·  {info.elapsed_s:.0f} s elapsed")

    def show_preview(self, image: QImage) -> None:
        w = max(64, self.preview.width() - 8)
        h = max(64, self.preview.height() - 8)
        self.preview.setPixmap(QPixmap.fromImage(image).scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio,
                                                               Qt.TransformationMode.SmoothTransformation))

    def show_outcome(self, text: str) -> None:
        if self.preview.pixmap().isNull():
            self.preview.setText(f"<span style='color:#6b717a'>{PREVIEW_HINT}</span>")
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if text.startswith("Done") else 0)
        self.progress.setFormat(text)
        self.eta.setText("")

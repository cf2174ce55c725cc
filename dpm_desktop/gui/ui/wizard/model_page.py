"""Wizard page 2: what to train. Presets with their parameter count and the time per 1000 steps
measured on the chosen device (a few real steps in the background, cached in QSettings), the
architecture, patch size, training length, device, the model's name, and optionally a model to
start from (fine-tuning)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from dpm_desktop.core.registry import ModelEntry

from ...model.catalogue import device_choices
from ...model.run_store import unique_model_name
from ...model.train_plan import TrainPlan, is_finetunable
from ...workers.runner import JobRunner
from ...workers.step_benchmark import cost_key, count_parameters, device_name, seconds_per_1000_steps
from ..widgets import muted

if TYPE_CHECKING:
    from .wizard import TrainWizard

PRESETS = {"tiny": ("Tiny", "a first try; minutes on a CPU"),
           "small": ("Small", "a good default (the bundled models' size)"),
           "base": ("Base", "the best results; a GPU helps")}
ARCHS = {"unet": "UNet — modern (ε-prediction, learned variances): best for restoration",
         "paper": "Paper — the 2015 multi-scale convolutional network, trained on the bound"}
PATCHES = (32, 48, 64, 96, 128)
CACHE_GROUP = "wizard/step_time"
FINETUNE = "finetune"


def format_duration(seconds: float) -> str:
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s" if s < 600 else f"{round(s / 60)} min"
    return f"{s} s"


def format_params(n: int) -> str:
    return f"{n / 1e6:.2f} M parameters" if n >= 1e6 else f"{n / 1e3:.0f} k parameters"


class ModelPage(QWizardPage):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("2 · The model")
        self.setSubTitle("How large a network, for how long, on which device. Times are measured on this "
                         "computer with a few real training steps.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.params_cache: dict[str, int] = {}
        self.bench = JobRunner(self)
        self.bench.finished.connect(self._on_measured)
        self.bench.failed.connect(self._on_measure_failed)
        self.bench.runningChanged.connect(self._on_bench_running)
        self._queue: list[tuple[str, dict[str, Any]]] = []
        self._measuring = False  # only while the page is shown

        # presets
        self.preset_group = QButtonGroup(self)
        self.preset_buttons: dict[str, QRadioButton] = {}
        self.param_labels: dict[str, QLabel] = {}
        self.time_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        for row, (key, (label, what)) in enumerate(PRESETS.items()):
            b = QRadioButton(label)
            self.preset_group.addButton(b)
            self.preset_buttons[key] = b
            self.param_labels[key], self.time_labels[key] = QLabel("…"), QLabel("…")
            grid.addWidget(b, row, 0)
            grid.addWidget(self.param_labels[key], row, 1)
            grid.addWidget(self.time_labels[key], row, 2)
            grid.addWidget(muted(what), row, 3)
        grid.setColumnStretch(3, 1)
        self.preset_buttons["small"].setChecked(True)
        self.arch = QComboBox()
        for key, label in ARCHS.items():
            self.arch.addItem(label, key)
        net = QGroupBox("Network")
        nl = QVBoxLayout(net)
        nl.addLayout(grid)
        arch_row = QFormLayout()
        arch_row.addRow("Architecture", self.arch)
        nl.addLayout(arch_row)

        # fine-tuning
        self.finetune = QCheckBox("Start from an existing model (fine-tune it on these photos)")
        self.finetune_model = QComboBox()
        self.finetune_note = muted("")
        ft = QHBoxLayout()
        ft.addWidget(self.finetune)
        ft.addWidget(self.finetune_model, 1)
        nl.addLayout(ft)
        nl.addWidget(self.finetune_note)

        # training
        self.patch = QComboBox()
        for p in PATCHES:
            self.patch.addItem(f"{p} × {p} px", p)
        self.patch.setCurrentIndex(PATCHES.index(64))
        self.patch_note = muted("")
        patch_row = QHBoxLayout()
        patch_row.addWidget(self.patch)
        patch_row.addWidget(self.patch_note, 1)
        self.by_steps = QRadioButton("Steps")
        self.by_minutes = QRadioButton("Minutes")
        self.by_steps.setChecked(True)
        self.steps = QSpinBox()
        self.steps.setRange(10, 10_000_000)
        self.steps.setSingleStep(1000)
        self.steps.setValue(5000)
        self.steps.setGroupSeparatorShown(True)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.5, 100_000)
        self.minutes.setDecimals(1)
        self.minutes.setValue(60)
        self.minutes.setEnabled(False)
        for w in (self.steps, self.minutes):
            w.setMaximumWidth(110)
            w.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.by_minutes.toggled.connect(self.minutes.setEnabled)
        self.by_steps.toggled.connect(self.steps.setEnabled)
        self.estimate = muted("")
        length = QHBoxLayout()
        length.addWidget(self.by_steps)
        length.addWidget(self.steps)
        length.addSpacing(12)
        length.addWidget(self.by_minutes)
        length.addWidget(self.minutes)
        length.addStretch(1)
        self.device = QComboBox()
        for d in device_choices():
            self.device.addItem(d.label, d.key)
            if not d.available:
                self.device.model().item(self.device.count() - 1).setEnabled(False)
        self.name = QLineEdit()
        self.name.setPlaceholderText("How the model appears in the model picker")
        self.name_note = muted("")
        train = QGroupBox("Training")
        form = QFormLayout(train)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Patch size", patch_row)
        form.addRow("Length", length)
        form.addRow("", self.estimate)
        form.addRow("Device", self.device)
        form.addRow("Name", self.name)
        form.addRow("", self.name_note)

        lay = QVBoxLayout(self)
        lay.addWidget(net)
        lay.addWidget(train)
        lay.addStretch(1)

        self.preset_group.buttonToggled.connect(lambda _b, on: on and self._changed())
        for combo in (self.arch, self.patch, self.device, self.finetune_model):
            combo.currentIndexChanged.connect(self._changed)
        self.finetune.toggled.connect(self._changed)
        self.steps.valueChanged.connect(self._update_estimate)
        self.minutes.valueChanged.connect(self._update_estimate)
        self.by_steps.toggled.connect(self._update_estimate)
        self.name.textChanged.connect(self._on_name)

    @property
    def wizard_(self) -> TrainWizard:
        return self.wizard()  # type: ignore[return-value]

    # choices -------------------------------------------------------------------------------------
    def preset(self) -> str:
        return next(k for k, b in self.preset_buttons.items() if b.isChecked())

    def finetune_entry(self) -> ModelEntry | None:
        if not self.finetune.isChecked():
            return None
        return self.wizard_.catalogue.find(self.finetune_model.currentData())

    def plan(self, preset: str | None = None) -> TrainPlan:
        w = self.wizard_
        data = w.data_page.report.folder if w.data_page.report else Path(w.data_page.folder.text())
        entry = self.finetune_entry()
        plan = TrainPlan(data=data, name=self.name.text().strip() or data.name, channels=w.data_page.channels,
                         arch=self.arch.currentData(), preset=preset or self.preset(), patch=self.patch.currentData(),
                         steps=self.steps.value() if self.by_steps.isChecked() else None,
                         minutes=self.minutes.value() if self.by_minutes.isChecked() else None,
                         device=self.device.currentData() or "auto",
                         init_from=entry.folder if entry else None, init_meta=entry.meta if entry else None)
        return dataclasses.replace(plan, **w.plan_overrides)

    # page hooks ----------------------------------------------------------------------------------
    def initializePage(self) -> None:
        w = self.wizard_
        self.finetune_model.blockSignals(True)
        self.finetune_model.clear()
        for e in w.catalogue.entries:
            if is_finetunable(e.meta):
                kind = "grayscale" if e.channels == 1 else "colour"
                self.finetune_model.addItem(f"{e.name}  ({kind}, {e.meta['network']['arch']})", e.name)
        self.finetune_model.blockSignals(False)
        self.finetune.setEnabled(self.finetune_model.count() > 0)
        if not self.name.text() and w.data_page.report is not None:
            self.name.setText(w.data_page.report.folder.name)
        self._measuring = True
        self._changed()

    def cleanupPage(self) -> None:  # Back to the data page
        self.pause_measuring()

    def validatePage(self) -> bool:
        if not self.isComplete():
            return False
        self.pause_measuring()
        self.wizard_.plan = self.plan()
        return True

    def isComplete(self) -> bool:
        report = self.wizard_.data_page.report
        usable = report.usable_for(self.patch.currentData()) if report else 0
        return bool(self.name.text().strip()) and usable > 0 and (not self.finetune.isChecked()
                                                                 or self.finetune_entry() is not None)

    def pause_measuring(self) -> None:
        self._measuring = False
        self._queue = []
        self.bench.cancel()

    def shutdown(self) -> None:
        self.pause_measuring()
        self.bench.shutdown()

    # reacting ------------------------------------------------------------------------------------
    def _on_name(self, text: str) -> None:
        text = text.strip()
        if not text:
            self.name_note.setText("Give the model a name.")
        else:
            unique = unique_model_name(text)
            self.name_note.setText(f"It will be registered as “{unique}” (a model named “{text}” exists)"
                                   if unique.lower() != text.lower() else "")
        self.completeChanged.emit()

    def _changed(self, *_: object) -> None:
        entry = self.finetune_entry()
        for b in (*self.preset_buttons.values(), self.arch):
            b.setEnabled(entry is None)
        self.finetune_model.setEnabled(self.finetune.isChecked())
        if entry is not None:
            kind = "grayscale" if entry.channels == 1 else "colour"
            data_kind = "grayscale" if self.wizard_.data_page.channels == 1 else "colour"
            arch = entry.meta["network"]["arch"]
            note = f"Training continues from {entry.name}'s weights with its network ({arch}) and its {kind} channels"
            self.finetune_note.setText(note + (f"; your photos are used as {kind}, not {data_kind}."
                                               if kind != data_kind else "."))
        else:
            self.finetune_note.setText("")
        report = self.wizard_.data_page.report
        if report is not None:
            patch = self.patch.currentData()
            usable, n = report.usable_for(patch), len(report.usable)
            self.patch_note.setText(f"Random crops of this size. {'All' if usable == n else usable} of the {n} photos "
                                    "are large enough" + ("." if usable else ": choose a smaller size."))
        self._refresh_measurements()
        self.completeChanged.emit()

    # measurements --------------------------------------------------------------------------------
    def _on_bench_running(self, running: bool) -> None:
        if not running:
            QTimer.singleShot(0, self._measure_next)

    def _targets(self) -> list[tuple[str, dict[str, Any]]]:
        """(row, trainer settings) to measure, the chosen one first."""
        if self.finetune_entry() is not None:
            return [(FINETUNE, self.plan().settings())]
        chosen = self.preset()
        order = [chosen] + [k for k in PRESETS if k != chosen]
        return [(k, self.plan(k).settings()) for k in order]

    def _device_name(self) -> str:
        try:
            return device_name(self.device.currentData() or "auto")
        except Exception:  # an unavailable device: nothing to measure on
            return ""

    def _cached_time(self, settings: dict[str, Any]) -> float | None:
        dev = self._device_name()
        value = self.wizard_.settings.q.value(f"{CACHE_GROUP}/{cost_key(settings, dev)}") if dev else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _params_key(settings: dict[str, Any]) -> str:
        return json.dumps({k: settings.get(k) for k in ("arch", "preset", "network", "channels", "T")},
                          sort_keys=True, default=str)

    def _refresh_measurements(self) -> None:
        """Show what is known, and queue what is not."""
        self._queue = []
        for key, settings in self._targets():
            params = self.params_cache.get(self._params_key(settings))
            seconds = self._cached_time(settings)
            self._show(key, params, seconds)
            if params is None or seconds is None:
                self._queue.append((key, settings))
        self._update_estimate()
        self._measure_next()

    def _measure_next(self) -> None:
        if not self._measuring or self.bench.is_running or not self._queue:
            return
        key, settings = self._queue.pop(0)
        dev = self._device_name()
        if not dev:
            return
        known_params = self.params_cache.get(self._params_key(settings))
        known_time = self._cached_time(settings)

        def job(reporter):
            params = known_params if known_params is not None else count_parameters(settings)
            seconds = known_time if known_time is not None else seconds_per_1000_steps(settings, reporter)
            return key, settings, dev, params, seconds

        if key in self.time_labels and known_time is None:
            self.time_labels[key].setText("measuring…")
        self.bench.start(job)

    def _on_measured(self, result: tuple[str, dict[str, Any], str, int, float]) -> None:
        key, settings, dev, params, seconds = result
        self.params_cache[self._params_key(settings)] = params
        self.wizard_.settings.q.setValue(f"{CACHE_GROUP}/{cost_key(settings, dev)}", float(seconds))
        if dev == self._device_name():
            self._show(key, params, seconds)
            self._update_estimate()

    def _on_measure_failed(self, message: str, _details: str) -> None:
        for label in self.time_labels.values():
            if label.text() == "measuring…":
                label.setText("could not measure")
                label.setToolTip(message)

    def _show(self, key: str, params: int | None, seconds: float | None) -> None:
        dev = self._device_name().split("-")[0].upper() or "?"
        params_text = format_params(params) if params is not None else "…"
        time_text = f"{format_duration(seconds)} / 1000 steps on {dev}" if seconds is not None else "…"
        if key == FINETUNE:
            self.finetune_note.setToolTip(f"{params_text}; {time_text}")
            for k in PRESETS:
                self.param_labels[k].setText("—")
                self.time_labels[k].setText("—")
            return
        self.param_labels[key].setText(params_text)
        self.time_labels[key].setText(time_text)

    def _update_estimate(self, *_: object) -> None:
        if self.wizard() is None:
            return
        targets = self._targets()
        seconds = self._cached_time(targets[0][1])
        dev = self._device_name().split("-")[0].upper()
        if seconds is None:
            self.estimate.setText(f"Measuring the speed on {dev}…" if dev else "")
        elif self.by_steps.isChecked():
            self.estimate.setText(f"About {format_duration(seconds * self.steps.value() / 1000)} on {dev}, "
                                  "plus a little for validation and checkpoints.")
        else:
            steps = int(self.minutes.value() * 60 / seconds * 1000)
            self.estimate.setText(f"About {steps:,} steps in {self.minutes.value():g} min on {dev}. Pausing a run "
                                  "measured in minutes saves it and continues it later, so the pause is not counted.")

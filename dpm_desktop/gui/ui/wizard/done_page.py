"""Wizard page 4: the trained model, registered in the user models folder (its newest checkpoint,
under a name no other model has), with its card, and a button to restore a photo with it."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget, QWizardPage

from dpm_desktop.core import registry
from dpm_desktop.core.bits_units import PER_PIXEL, converted, unit_label
from dpm_desktop.core.registry import ModelEntry

from ...model.run_store import read_status, unique_model_name, write_status
from ...workers.errors import describe
from ..widgets import muted
from .model_page import format_duration

if TYPE_CHECKING:
    from .wizard import TrainWizard


def card_html(entry: ModelEntry, stopped_at: tuple[int, int] | None = None) -> str:
    """What the model learnt from, how long, and how well it measured (from its model.json)."""
    meta: dict[str, Any] = entry.meta
    data, training, metrics = meta.get("data", {}), meta.get("training", {}), meta.get("metrics", {})
    summary = data.get("summary", {}) if isinstance(data.get("summary"), dict) else {}
    settings = training.get("settings", {}) if isinstance(training.get("settings"), dict) else {}
    grey = "#8a93a0"
    rows: list[tuple[str, str]] = []
    images = summary.get("usable") or summary.get("images")
    source = html.escape(str(summary.get("source", "")))
    skipped = summary.get("skipped") or 0
    kind = "grayscale" if entry.channels == 1 else "colour"
    rows.append(("Data", f"{images} {kind} photos from <code>{source}</code>"
                         + (f" ({skipped} files skipped)" if skipped else "")
                         + (f"; {summary['val_files']} held out for validation" if summary.get("val_files") else "")))
    steps = training.get("steps")
    length = f"{steps:,} steps" if isinstance(steps, int) else "?"
    if stopped_at is not None:
        length += f" (stopped early: {stopped_at[0]:,} of {stopped_at[1]:,})" if stopped_at[1] else " (stopped early)"
    wall = training.get("wall_time_s")
    device = str(training.get("device", "")).upper()
    rows.append(("Training", f"{length} in {format_duration(float(wall)) if wall else '?'} on {device or '?'}, "
                             f"{settings.get('patch', data.get('patch_size', '?'))} px patches, "
                             f"batch {settings.get('batch', '?')}"))
    net = meta.get("network", {})
    preset = f" {settings['preset']}" if settings.get("preset") else ""
    init = settings.get("init_from")
    rows.append(("Network", f"{html.escape(str(net.get('arch', '?')))}{preset}, "
                            f"{meta.get('diffusion', {}).get('parameterisation', '?')} parameterisation, "
                            f"T = {meta.get('diffusion', {}).get('T', '?')}"
                            + (f"; fine-tuned from <code>{html.escape(str(init))}</code>" if init else "")))
    if "bits_per_px" in metrics:
        metrics = converted(metrics, int(data.get("channels", 1)))  # older models: bits per value
        m = (f"bound K {metrics['bits_per_px']:.3f} ± {metrics.get('bits_stderr', 0):.3f} "
             f"{unit_label(metrics.get('bits_unit', PER_PIXEL), data.get('channels'))}")
        if "psnr25" in metrics:
            m += f" · one-step denoising PSNR {metrics['psnr25']:.2f} dB at σ 25"
        rows.append(("Validation", m + (f" (at step {metrics['at_step']:,})" if "at_step" in metrics else "")))
    rows.append(("Saved as", f"<code>{html.escape(str(entry.folder))}</code>"))
    body = "".join(f"<tr><td style='color:{grey}; padding:3px 14px 3px 0' valign='top'>{k}</td>"
                   f"<td style='padding:3px 0'>{v}</td></tr>" for k, v in rows)
    return f"<div style='font-size:15px'><b>{html.escape(entry.name)}</b></div><table>{body}</table>"


class DonePage(QWizardPage):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("4 · Your model")
        self.setSubTitle("It is in the model picker now, beside the bundled models.")
        self.entry: ModelEntry | None = None
        self.error = ""
        self.card = QLabel()
        self.card.setObjectName("card")
        self.card.setWordWrap(True)
        self.card.setTextFormat(Qt.TextFormat.RichText)
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open a photo with this model…")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(self._open_photo)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self.register)
        self.retry_button.hide()
        self.note = muted("The training run (all its checkpoints and the progress log) stays in the run folder; "
                          "you can delete it once you are happy with the model.")
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.preview_caption = muted("")
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.retry_button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.card)
        lay.addLayout(row)
        lay.addWidget(self.note)
        lay.addSpacing(8)
        lay.addWidget(self.preview_caption)
        lay.addWidget(self.preview)
        lay.addStretch(1)

    @property
    def wizard_(self) -> TrainWizard:
        return self.wizard()  # type: ignore[return-value]

    def initializePage(self) -> None:
        if self.entry is None:
            self.register()

    def register(self) -> bool:
        """Copy the run's newest checkpoint into the user models folder and refresh the picker."""
        w = self.wizard_
        if w.run_dir is None:
            return False
        status = read_status(w.run_dir)
        name = unique_model_name(str(status.get("name") or (w.plan.name if w.plan else w.run_dir.name)))
        try:
            self.entry = registry.import_model(w.run_dir, name)
        except Exception as e:  # a full disk, a folder we cannot write: say so, keep the run
            self.error = describe(e)[0]
            self.card.setObjectName("banner")
            self.card.setText(f"<b>The model could not be registered.</b><br>{html.escape(self.error)}<br>"
                              f"The trained run is kept in <code>{html.escape(str(w.run_dir))}</code>.")
            self.retry_button.show()
            self.open_button.setEnabled(False)
            self._repolish()
            return False
        self.error = ""
        write_status(w.run_dir, "registered", model=self.entry.name)
        run = w.run
        stopped = (run.step, run.total or 0) if run.stopped_early else None
        self.card.setObjectName("card")
        self.card.setText(card_html(self.entry, stopped))
        self.retry_button.hide()
        self.open_button.setEnabled(True)
        self._repolish()
        self._show_preview()
        w.catalogue.refresh()
        w.modelRegistered.emit(self.entry.name)
        return True

    def _show_preview(self) -> None:
        """The last validation's noisy | denoised | clean patches, pixels enlarged whole."""
        path = self.wizard_.run.preview
        pix = QPixmap(str(path)) if path is not None else QPixmap()
        if pix.isNull():
            return
        scale = max(1, 300 // max(pix.width(), pix.height()))
        self.preview.setPixmap(pix.scaled(pix.width() * scale, pix.height() * scale,
                                          Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        self.preview_caption.setText("Last validation: noisy (σ 25) · denoised in one step · clean")

    def _repolish(self) -> None:
        self.card.style().unpolish(self.card)
        self.card.style().polish(self.card)

    def _open_photo(self) -> None:
        if self.entry is not None:
            self.wizard_.openPhotoRequested.emit(self.entry.name)

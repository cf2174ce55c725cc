"""Wizard page 3: the run, live. Loss and validation curves, the denoising preview on validation
patches, images/s and time left; Pause / Resume, Stop and keep, Cancel. The trainer is a child
process (:class:`~dpm_desktop.gui.workers.train_process.TrainProcess`): if it crashes, the page
says why and offers to resume from the last checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dpm_desktop.core.bits_units import PER_PIXEL, unit_label

from ...model.run_store import new_run_dir, read_events, read_settings, read_status, write_status
from ...workers.train_process import Outcome
from ..task_panel import format_eta
from ..widgets import muted

if TYPE_CHECKING:
    from .curves import CurvePlot
    from .wizard import TrainWizard

PREVIEW_SIDE = 300
LOSS_COLOR, VAL_COLOR = "#4c9bf5", "#f5a54c"
STATE_TEXT = {"starting": "Starting the trainer…", "running": "Training", "pausing": "Pausing: saving a checkpoint…",
              "paused": "Paused", "resuming": "Resuming…", "stopping": "Stopping: saving a checkpoint…",
              "cancelling": "Cancelling…"}


def _val_title(unit: str, channels: int | None) -> str:
    return f"Validation bound K ({unit_label(unit, channels)}; higher is better)"


class TrainingPage(QWizardPage):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("3 · Training")
        self.setSubTitle("The trainer runs as a separate process: the app stays responsive, and Stop always works.")
        self.started = False
        self.resumed_run = False  # continuing a run of an earlier session (or after a crash)
        self._close_after_cancel = False
        self._details = ""
        self.run_name = ""

        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.state = muted("")
        self.state.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head = QHBoxLayout()
        head.addWidget(self.headline, 1)
        head.addWidget(self.state)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.stats = muted("")
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.hide()
        self.details_button = QPushButton("Details…")
        self.details_button.clicked.connect(self._show_details)
        self.restart_button = QPushButton("Resume from the last checkpoint")
        self.restart_button.setObjectName("primary")
        self.restart_button.clicked.connect(self.restart)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.details_button)
        banner_row.addWidget(self.restart_button)
        for w in (self.details_button, self.restart_button):
            w.hide()

        from .curves import CurvePlot  # imports pyqtgraph: here, so that the app starts without it

        self.loss_plot: CurvePlot = CurvePlot("Training loss", LOSS_COLOR,
                                              empty_text="The loss appears after the first steps",
                                              log_y=True, smoothed=True)
        self.val_plot: CurvePlot = CurvePlot(_val_title(PER_PIXEL, None), VAL_COLOR,
                                             empty_text="Measured on held-out photos at every validation",
                                             y_label="bits/px")
        self.preview = QLabel()
        self.preview.setObjectName("preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW_SIDE // 2, 160)
        self.preview.setText("<span style='color:#6b717a'>The denoising preview appears at the first "
                             "validation</span>")
        self.preview.setWordWrap(True)
        self.preview_caption = muted("noisy (σ 25)  ·  denoised  ·  clean")
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.psnr = muted("")
        self.psnr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        prev = QVBoxLayout()
        prev.addWidget(self.preview, 1)
        prev.addWidget(self.preview_caption)
        prev.addWidget(self.psnr)
        plots = QGridLayout()
        plots.addWidget(self.loss_plot, 0, 0)
        plots.addWidget(self.val_plot, 1, 0)
        plots.addLayout(prev, 0, 1, 2, 1)
        plots.setColumnStretch(0, 3)
        plots.setColumnStretch(1, 2)

        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Suspend training; Resume continues exactly where it was")
        self.stop_button = QPushButton("Stop and keep")
        self.stop_button.setToolTip("Stop after the current step, save, and register the model as it is now")
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip("Stop at once and delete this run")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop_and_keep)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.note = muted("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.note, 1)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.progress)
        lay.addWidget(self.stats)
        lay.addLayout(banner_row)
        lay.addLayout(plots, 1)
        lay.addLayout(buttons)

    @property
    def wizard_(self) -> TrainWizard:
        return self.wizard()  # type: ignore[return-value]

    # starting ------------------------------------------------------------------------------------
    def bind(self, wizard: TrainWizard) -> None:
        """Follow the wizard's run and process (once, when the wizard is built)."""
        wizard.run.changed.connect(self._on_run_changed)
        wizard.run.curvesChanged.connect(self._on_curves)
        wizard.run.previewChanged.connect(self._on_preview)
        wizard.process.stateChanged.connect(self._on_state)
        wizard.process.ended.connect(self._on_ended)

    def initializePage(self) -> None:
        w = self.wizard_
        if self.started:
            return
        if w.resume_dir is not None:
            self.resume(w.resume_dir)
        elif w.plan is not None:
            self.start_new()

    def start_new(self) -> None:
        w = self.wizard_
        plan = w.plan
        assert plan is not None
        w.run_dir = new_run_dir(plan.name)
        self.run_name = plan.name
        write_status(w.run_dir, "training", name=plan.name, data=str(plan.data), length=plan.length_text)
        w.run.reset()
        w.run.run_dir, w.run.total, w.run.minutes = w.run_dir, plan.steps, plan.minutes
        self.started, self.resumed_run = True, False
        self._on_curves()
        w.process.start(plan.args(w.run_dir), w.run_dir, pause_by_signal=plan.minutes is None)
        self._on_run_changed()

    def resume(self, run_dir: Path) -> None:
        """Continue an interrupted run (its curves so far are read back from progress.jsonl)."""
        w = self.wizard_
        settings = read_settings(run_dir)
        w.run_dir = Path(run_dir)
        self.run_name = str(read_status(run_dir).get("name") or settings.get("name") or w.run_dir.name)
        w.run.reset()
        w.run.run_dir, w.run.total, w.run.minutes = w.run_dir, settings.get("steps"), settings.get("minutes")
        w.run.replay(read_events(run_dir))
        write_status(w.run_dir, "training")
        self.started, self.resumed_run = True, True
        self._hide_banner()
        w.process.start(["--out", str(run_dir)], run_dir, resume=True,
                        pause_by_signal=settings.get("minutes") is None)
        self._on_run_changed()

    def restart(self) -> None:
        """After a crash: continue from the last checkpoint, or start over if there is none."""
        w = self.wizard_
        if w.run_dir is None:
            return
        if w.run.checkpoint_step is not None:
            self.resume(w.run_dir)
        elif w.plan is not None:
            shutil.rmtree(w.run_dir, ignore_errors=True)
            self._hide_banner()
            self.start_new()

    # controls ------------------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        p = self.wizard_.process
        if p.state == "paused":
            p.resume()
        else:
            p.pause()

    def stop_and_keep(self) -> None:
        self.wizard_.process.stop()

    def cancel_training(self) -> bool:
        """Ask, then kill the trainer and delete the run. True if the user confirmed."""
        w = self.wizard_
        if not w.process.is_active:
            return True
        steps = w.run.checkpoint_step or w.run.step
        lost = f" ({steps:,} steps of training)" if steps else ""
        if not w.confirm("Cancel training?", f"The trainer stops at once and this run is deleted{lost}. To keep what "
                         "it has learnt, use Stop and keep instead.", "Delete the run"):
            return False
        self._close_after_cancel = True
        w.process.cancel()
        return True

    # updates -------------------------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        p = self.wizard_.process
        active = state in ("starting", "running", "resuming", "paused")
        self.pause_button.setEnabled(active and state != "resuming")
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(active or state == "pausing")
        self.cancel_button.setEnabled(p.is_active and state != "cancelling")
        text = STATE_TEXT.get(state, "")
        if state == "paused":
            text = ("Paused: the trainer is suspended" if p.is_running
                    else "Paused: saved; Resume continues from the checkpoint")
        self.state.setText(text)
        self._on_run_changed()

    def _on_run_changed(self) -> None:
        w = self.wizard_
        run, name = w.run, self.run_name
        if run.total:
            where = f"step {run.step:,} of {run.total:,}"
        elif run.minutes:
            where = f"step {run.step:,} · {run.elapsed_s / 60:.1f} of {run.minutes:g} min"
        else:
            where = f"step {run.step:,}"
        self.headline.setText(f"<b>{name}</b> &nbsp;·&nbsp; {where}")
        self.progress.setValue(round(1000 * run.fraction))
        self.progress.setFormat(f"{100 * run.fraction:.0f} %")
        parts = []
        if run.loss:
            parts.append(f"loss {run.loss[-1][1]:.4f}")
        if run.images_per_s:
            parts.append(f"{run.images_per_s:.1f} images/s")
        if w.process.state == "running" and run.step:
            parts.append(format_eta(run.eta_s))
        if run.elapsed_s:
            parts.append(f"{run.elapsed_s / 60:.1f} min trained")
        if run.device:
            parts.append(f"{run.device.upper()}{' · bf16' if run.amp == 'bf16' else ''}")
        if run.params:
            parts.append(f"{run.params / 1e6:.2f} M parameters")
        if run.checkpoint_step is not None:
            parts.append(f"saved at step {run.checkpoint_step:,}")
        self.stats.setText("  ·  ".join(parts) if parts else "Loading the data and building the network…")
        if run.skipped:
            self.note.setText(f"{len(run.skipped)} file(s) skipped by the trainer (too small for the patch size, or "
                              "unreadable)")
        self.val_plot.title_label.setText(_val_title(run.bits_unit, run.channels))  # gray, colour or points
        last = run.last_val
        self.psnr.setText(f"step {last.step:,}: {last.bits_per_px:.3f} ± {last.stderr:.3f} "
                          f"{unit_label(run.bits_unit, run.channels)}"
                          + (f" · PSNR {last.psnr25:.1f} dB" if last.psnr25 is not None else "") if last else "")

    def _on_curves(self) -> None:
        run = self.wizard_.run
        self.loss_plot.set_points([s for s, _ in run.loss], [v for _, v in run.loss])
        self.val_plot.set_points([v.step for v in run.val], [v.bits_per_px for v in run.val],
                                 [v.stderr for v in run.val])
        for plot in (self.loss_plot, self.val_plot):
            plot.set_x_max(run.total)

    def _on_preview(self, path: str) -> None:
        image = QImage(path)
        if image.isNull():
            return
        side = max(120, min(self.preview.width(), self.preview.height()) - 12)
        scale = max(1, side // max(image.width(), image.height()))  # whole multiples keep pixels crisp
        pix = QPixmap.fromImage(image)
        if scale > 1:
            pix = pix.scaled(image.width() * scale, image.height() * scale, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.FastTransformation)
        if max(pix.width(), pix.height()) > side:
            pix = pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pix)

    def _on_ended(self, outcome: Outcome) -> None:
        w = self.wizard_
        self._on_state("ended")
        if outcome.kind == "cancelled":
            if w.run_dir is not None:
                shutil.rmtree(w.run_dir, ignore_errors=True)
            self.state.setText("Cancelled")
            if self._close_after_cancel:
                self._close_after_cancel = False
                w.close_after_cancel()
            return
        if outcome.ok and w.closing:  # the app is quitting: keep the run for the next start
            if w.run_dir is not None and w.run_dir.is_dir():
                write_status(w.run_dir, "interrupted")
            return
        if outcome.ok and w.run.step == 0 and not self.resumed_run:
            if w.run_dir is not None:
                shutil.rmtree(w.run_dir, ignore_errors=True)
            self._show_banner("Stopped before the first training step: there is nothing to keep.")
            self.state.setText("Stopped")
            return
        if outcome.ok:
            write_status(w.run_dir, "stopped" if outcome.kind == "stopped" else "finished")
            self.state.setText("Stopped and kept" if outcome.kind == "stopped" else "Finished")
            self.completeChanged.emit()
            w.next()
            return
        # crashed: the run stays resumable, now and at the next start of the app
        if w.run_dir is not None and w.run_dir.is_dir():
            write_status(w.run_dir, "interrupted", error=outcome.message)
        step = w.run.checkpoint_step
        kept = (f"The checkpoint at step {step:,} is kept: training can continue from there, now or the next time "
                "you start DPM Desktop." if step is not None else "No checkpoint had been saved yet.")
        self.state.setText("Failed")
        self._show_banner(f"<b>{outcome.message}</b><br>{kept}", outcome.details)
        self.restart_button.setText("Resume from the last checkpoint" if step is not None else "Start again")
        self.restart_button.setVisible(step is not None or w.plan is not None)

    def _show_banner(self, html: str, details: str = "") -> None:
        self.banner.setText(html)
        self.banner.show()
        self._details = details
        self.details_button.setVisible(bool(details))

    def _hide_banner(self) -> None:
        for widget in (self.banner, self.details_button, self.restart_button):
            widget.hide()

    def _show_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Training failed", self.banner.text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setDetailedText(self._details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # wizard hooks --------------------------------------------------------------------------------
    def isComplete(self) -> bool:
        o = self.wizard_.process.outcome
        return o is not None and o.ok and self.wizard_.run.step > 0

    @property
    def last_error(self) -> str:
        return self.banner.text() if self.banner.isVisible() else ""

"""The main window: the view of the application. It builds the widgets, binds them to the
controller (``model.controller``) and to the document, and shows the dialogs; the controller does
the work and owns the state."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QToolBar,
    QWidget,
)

from dpm_desktop.core.imaging import IMAGE_EXTENSIONS

from ..model import run_store
from ..model.catalogue import resolved_device_label
from ..model.controller import RestoreController, SaveOptions, batch_summary
from ..model.restore_jobs import Expectation
from ..model.result import PendingResult
from ..model.settings import AppSettings
from ..workers.batch import BatchReport
from ..workers.runner import StepInfo
from .actions import build_actions, shortcut_table
from .canvas import Canvas, Tool, ViewMode
from .dialogs import BatchDialog, SaveDialog
from .mask_panel import MaskPanel
from .result_panel import ResultPanel
from .task_panel import TaskPanel, format_eta, format_seconds
from .wizard import TrainWizard

APP_NAME = "DPM Desktop"
IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ");;All files (*)"
TOOLS = {"tool_brush": Tool.BRUSH, "tool_eraser": Tool.ERASER, "tool_rect": Tool.RECT,
         "tool_lasso": Tool.LASSO, "tool_pan": Tool.PAN}


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.controller = RestoreController(settings, self)
        c = self.controller
        self.settings, self.doc, self.catalogue = c.settings, c.doc, c.catalogue  # what the widgets show
        self._progress_dialog: QProgressDialog | None = None  # of the running batch
        self.training_wizard: TrainWizard | None = None
        self.resume_prompt: QMessageBox | None = None  # "resume the interrupted training?" at start

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.actions_ = build_actions(self)
        self.canvas = Canvas(self.doc, self)
        self.setCentralWidget(self.canvas)
        self.task_panel = TaskPanel(self.catalogue, self.actions_)
        self.mask_panel = MaskPanel(self.canvas, self.actions_, self.settings)
        self.result_panel = ResultPanel(self.doc, self.canvas, self.actions_)
        self._build_docks()
        self._build_menus()
        self._build_toolbars()
        self._build_status()
        self._connect_actions()
        self._bind_controller()
        self._bind_document()
        self.task_panel.set_params(self.settings.task)
        c.set_params(self.task_panel.params())
        self._restore_layout()
        self._update_state()
        QTimer.singleShot(0, self, self.offer_resumable_runs)

    # construction ----------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable |
                         QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_docks(self) -> None:
        self.restore_dock = self._dock("Restore", "restore_dock", self.task_panel)
        self.mask_dock = self._dock("Mask", "mask_dock", self.mask_panel)
        self.result_dock = self._dock("Result", "result_dock", self.result_panel)
        # Masking and judging a result happen at different moments: one tab each saves height.
        self.tabifyDockWidget(self.mask_dock, self.result_dock)
        self.mask_dock.raise_()
        self.resizeDocks([self.restore_dock], [360], Qt.Orientation.Horizontal)

    def _build_menus(self) -> None:
        a, mb = self.actions_, self.menuBar()
        file = mb.addMenu("&File")
        file.addAction(a["open"])
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addMenu(self.recent_menu)
        file.addSeparator()
        for k in ("save", "save_as", "export_mask"):
            file.addAction(a[k])
        file.addSeparator()
        file.addAction(a["batch"])
        file.addAction(a["import_model"])
        self.train_action = QAction("&Train a Model…", self)
        self.train_action.setStatusTip("Train your own model on a folder of photos (the training wizard)")
        self.train_action.triggered.connect(lambda: self.open_training_wizard())
        file.addAction(self.train_action)
        file.addSeparator()
        file.addAction(a["quit"])
        edit = mb.addMenu("&Edit")
        for k in ("undo", "redo", None, "apply", "discard"):
            edit.addSeparator() if k is None else edit.addAction(a[k])
        mask = mb.addMenu("&Mask")
        for k in ("tool_brush", "tool_eraser", "tool_rect", "tool_lasso", "tool_pan", None, "brush_smaller",
                  "brush_bigger", "brush_softer", "brush_harder", None, "mask_clear", "mask_invert", "mask_grow",
                  "mask_shrink", None, "find_defects", "anomaly_map", None, "mask_load", "mask_export", None,
                  "show_mask"):
            mask.addSeparator() if k is None else mask.addAction(a[k])
        view = mb.addMenu("&View")
        for k in ("zoom_in", "zoom_out", "zoom_fit", "zoom_100", None, "view_split", "view_toggle", "uncertainty"):
            view.addSeparator() if k is None else view.addAction(a[k])
        view.addSeparator()
        for dock in (self.restore_dock, self.mask_dock, self.result_dock):
            view.addAction(dock.toggleViewAction())
        run = mb.addMenu("&Run")
        run.addAction(a["run"])
        run.addAction(a["cancel"])
        helpm = mb.addMenu("&Help")
        helpm.addAction(a["shortcuts"])
        helpm.addAction(a["about"])

    def _build_toolbars(self) -> None:
        a = self.actions_
        main = QToolBar("Main", self)
        main.setObjectName("main_toolbar")
        main.setMovable(False)
        for k in ("open", "save", None, "undo", "redo", None, "zoom_fit", "zoom_100", None, "show_mask",
                  "view_split", None, "run", "cancel", None, "batch"):
            main.addSeparator() if k is None else main.addAction(a[k])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, main)
        tools = QToolBar("Tools", self)
        tools.setObjectName("tools_toolbar")
        tools.setMovable(False)
        group = QActionGroup(self)
        for k in TOOLS:
            group.addAction(a[k])
            tools.addAction(a[k])
        a["tool_brush"].setChecked(True)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.size_label, self.zoom_label, self.pos_label = QLabel(), QLabel(), QLabel()
        self.model_label, self.device_label = QLabel(), QLabel()
        for w in (self.pos_label, self.size_label, self.zoom_label, self.model_label, self.device_label):
            sb.addPermanentWidget(w)

    def _connect_actions(self) -> None:
        """The menus' and toolbars' actions, the panels' buttons."""
        a, c = self.actions_, self.controller
        a["open"].triggered.connect(lambda: self.open_dialog())
        a["save"].triggered.connect(self.save)
        a["save_as"].triggered.connect(lambda: self.save_as())
        a["export_mask"].triggered.connect(lambda: self.export_mask())
        a["mask_export"].triggered.connect(lambda: self.export_mask())
        a["mask_load"].triggered.connect(lambda: self.load_mask())
        a["batch"].triggered.connect(lambda: self.batch())
        a["import_model"].triggered.connect(lambda: self.import_model())
        a["quit"].triggered.connect(self.close)
        a["undo"].triggered.connect(self.doc.undo_stack.undo)
        a["redo"].triggered.connect(self.doc.undo_stack.redo)
        for key, tool in TOOLS.items():
            a[key].triggered.connect(lambda _=False, t=tool: self._set_tool(t))
        a["brush_smaller"].triggered.connect(lambda: self.canvas.set_brush_size(round(self.canvas.brush_size / 1.2)))
        a["brush_bigger"].triggered.connect(
            lambda: self.canvas.set_brush_size(max(self.canvas.brush_size + 1, round(self.canvas.brush_size * 1.2))))
        a["brush_softer"].triggered.connect(lambda: self._set_hardness(self.canvas.hardness - 0.1))
        a["brush_harder"].triggered.connect(lambda: self._set_hardness(self.canvas.hardness + 0.1))
        a["mask_clear"].triggered.connect(lambda: self._mask_op(self.doc.clear_mask))
        a["mask_invert"].triggered.connect(lambda: self._mask_op(self.doc.invert_mask))
        a["mask_grow"].triggered.connect(lambda: self._mask_op(self.doc.grow_mask, self.mask_panel.radius.value()))
        a["mask_shrink"].triggered.connect(
            lambda: self._mask_op(self.doc.shrink_mask, self.mask_panel.radius.value()))
        a["find_defects"].triggered.connect(self.find_defects)
        self.mask_panel.sensitivity.valueChanged.connect(self._on_sensitivity)
        a["anomaly_map"].toggled.connect(self.canvas.set_anomaly_visible)
        a["show_mask"].toggled.connect(self.canvas.set_mask_visible)
        self.canvas.maskVisibilityChanged.connect(a["show_mask"].setChecked)
        a["show_mask"].setChecked(self.canvas.show_mask)
        a["zoom_in"].triggered.connect(lambda: self.canvas.zoom_by(1.25))
        a["zoom_out"].triggered.connect(lambda: self.canvas.zoom_by(0.8))
        a["zoom_fit"].triggered.connect(self.canvas.fit)
        a["zoom_100"].triggered.connect(self.canvas.actual_size)
        a["view_split"].triggered.connect(lambda: self.canvas.set_view_mode(ViewMode.SPLIT))
        a["view_toggle"].triggered.connect(self.canvas.toggle_before_after)
        a["uncertainty"].toggled.connect(self.result_panel.uncertainty.setChecked)
        self.result_panel.uncertainty.toggled.connect(a["uncertainty"].setChecked)
        a["run"].triggered.connect(self.run_task)
        a["cancel"].triggered.connect(self.cancel_run)
        a["apply"].triggered.connect(c.apply_result)
        a["discard"].triggered.connect(self.doc.discard_result)
        a["shortcuts"].triggered.connect(self._show_shortcuts)
        a["about"].triggered.connect(self._show_about)
        self.task_panel.runRequested.connect(self.run_task)
        self.task_panel.cancelRequested.connect(self.cancel_run)
        self.task_panel.paramsChanged.connect(lambda: c.set_params(self.task_panel.params()))

    def _bind_controller(self) -> None:
        """The controller's state and events, shown."""
        c, jobs, panel, canvas = self.controller, self.controller.jobs, self.task_panel, self.canvas
        c.stateChanged.connect(self._update_state)
        c.status.connect(self.statusBar().showMessage)
        c.error.connect(self.show_error)
        c.opened.connect(self._on_opened)
        c.openFailed.connect(lambda *_: canvas.set_busy(None))
        c.maskLoaded.connect(lambda: canvas.set_mask_visible(True))
        c.expectationChanged.connect(self._show_expectation)
        c.opener.started.connect(lambda path: canvas.set_busy(f"Opening {path.name}…"))
        c.opener.sigmaChanged.connect(panel.set_sigma_estimate)
        c.defects.runningChanged.connect(self._on_defects_running)
        c.defects.overlayChanged.connect(lambda: canvas.set_anomaly_overlay(c.defects.overlay))
        c.defects.overlayChanged.connect(self._update_state)
        jobs.runningChanged.connect(panel.set_running)
        jobs.progress.connect(panel.show_progress)
        jobs.preview.connect(panel.show_preview)
        jobs.placed.connect(canvas.set_live_preview)
        jobs.ended.connect(canvas.clear_live_preview)
        jobs.finished.connect(self._on_finished)
        for failed in (jobs.failed, jobs.batchFailed):
            failed.connect(lambda *_: panel.show_outcome("Failed"))
        jobs.cancelled.connect(lambda: panel.show_outcome("Cancelled"))
        jobs.batchProgress.connect(self._on_batch_progress)
        jobs.batchRunningChanged.connect(self._on_batch_running)
        jobs.batchFinished.connect(self._on_batch_finished)

    def _bind_document(self) -> None:
        a, stack = self.actions_, self.doc.undo_stack
        self.doc.imageChanged.connect(self._update_state)
        self.doc.imageChanged.connect(self.controller.defects.forget_if_stale)
        self.doc.resultChanged.connect(self._on_result_changed)
        self.doc.pathChanged.connect(self._update_title)
        stack.cleanChanged.connect(self._update_title)
        stack.canUndoChanged.connect(a["undo"].setEnabled)
        stack.canRedoChanged.connect(a["redo"].setEnabled)
        stack.undoTextChanged.connect(lambda text: a["undo"].setText(f"&Undo {text}".strip()))
        stack.redoTextChanged.connect(lambda text: a["redo"].setText(f"&Redo {text}".strip()))
        self.canvas.zoomChanged.connect(lambda zoom: self.zoom_label.setText(f"{zoom * 100:.0f}%"))
        self.canvas.cursorMoved.connect(self._on_cursor)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 900)
        if state is not None:
            self.restoreState(state)

    # state -----------------------------------------------------------------------------------
    def _update_title(self, *_: object) -> None:
        name = self.doc.display_name if self.doc.has_image else ""
        self.setWindowTitle(f"{name}[*] — {APP_NAME}" if name else APP_NAME)
        self.setWindowModified(self.doc.is_modified)

    def _update_state(self, *_: object) -> None:
        a, c, has = self.actions_, self.controller, self.doc.has_image
        running, has_model = c.jobs.busy, c.has_model
        for k in ("save", "save_as", "export_mask", "mask_export", "mask_load", "mask_clear", "mask_invert",
                  "mask_grow", "mask_shrink", "zoom_in", "zoom_out", "zoom_fit", "zoom_100"):
            a[k].setEnabled(has)
        a["run"].setEnabled(has and not running and has_model)
        a["find_defects"].setEnabled(c.defects.is_running or (has and has_model))
        a["anomaly_map"].setEnabled(c.defects.has_map)
        a["cancel"].setEnabled(c.jobs.is_running)
        a["batch"].setEnabled(not running and has_model)
        has_result = self.doc.result is not None
        for k in ("apply", "discard", "view_split", "view_toggle"):
            a[k].setEnabled(has_result)
        a["uncertainty"].setEnabled(has_result and self.doc.result.uncertainty is not None)
        a["undo"].setEnabled(self.doc.undo_stack.canUndo())
        a["redo"].setEnabled(self.doc.undo_stack.canRedo())
        if not has_model:
            self.task_panel.set_run_enabled(False, "No model installed: import a checkpoint first")
        elif not has:
            self.task_panel.set_run_enabled(False, "Open a photo first")
        else:
            self.task_panel.set_run_enabled(not running)
        p = c.params
        self.model_label.setText(f"Model: {p.model or 'none installed'}")
        self.device_label.setText(f"Device: {resolved_device_label(p.device)}")
        if has:
            depth = f"{self.doc.bit_depth}-bit"
            kind = "gray" if self.doc.channels == 1 else "RGB"
            mp = self.doc.width * self.doc.height / 1e6
            self.size_label.setText(f"{self.doc.width} × {self.doc.height} px · {mp:.1f} MP · {kind} {depth}")
            self.zoom_label.setText(f"{self.canvas.zoom * 100:.0f}%")
        else:
            self.size_label.setText("No image")
            self.zoom_label.setText("")
        self._update_title()

    def _on_cursor(self, pos: QPoint | None) -> None:
        self.pos_label.setText("" if pos is None else f"x {pos.x()}  y {pos.y()}")

    def _set_tool(self, tool: Tool) -> None:
        self.canvas.set_tool(tool)
        if tool != Tool.PAN:
            self.mask_dock.raise_()

    def _set_hardness(self, value: float) -> None:
        self.canvas.set_hardness(value)
        self.mask_panel.hardness.setValue(round(self.canvas.hardness * 100))

    def _on_result_changed(self) -> None:
        if self.doc.result is None:
            self.canvas.set_uncertainty_visible(self.result_panel.uncertainty.isChecked())
        self._update_state()

    def _show_expectation(self, expected: Expectation | None) -> None:
        if expected is None:
            inpaint = self.controller.params.task == "inpaint"
            text = "Paint over what to remove: the cost of the fill shows here." if inpaint else ""
        else:
            when = (f", about {format_seconds(expected.seconds)}" if expected.seconds is not None
                    else " (the time shows after a first fill)")
            text = f"≈ {expected.calls} network call{'s' if expected.calls != 1 else ''}{when}"
        self.task_panel.set_expectation(text)

    # messages --------------------------------------------------------------------------------
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A clear, non-blocking message; the document is never touched by a failure."""
        self.statusBar().showMessage(message, 10_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()

    def ask_unsaved(self) -> str:
        """'save', 'discard' or 'cancel' when the document has unsaved changes."""
        if not self.doc.is_modified:
            return "discard"
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          f"{self.doc.display_name} has changes that are not saved.", parent=self)
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard |
                               QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")

    def _may_discard(self) -> bool:
        choice = self.ask_unsaved()
        if choice == "save":
            return self.save()
        return choice == "discard"

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", shortcut_table(self.actions_))

    def _show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<b>{APP_NAME}</b><br>Restore photos with diffusion probabilistic models "
                          "(Sohl-Dickstein et al., 2015). Everything runs on this computer.")

    # files -----------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", self.settings.last_folder, IMAGE_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path, mask: Path | None = None) -> bool:
        """Open an image in the background (and then ``mask`` onto it, as the command line's --mask
        does), after asking about unsaved changes; False if it cannot start. The controller's
        ``opened`` or ``openFailed`` follows."""
        c = self.controller
        if not c.ready_to_open():
            return False
        if self.doc.has_image and not self._may_discard():
            return False
        return c.open_photo(Path(path), mask)

    def _on_opened(self, _path: Path) -> None:
        self.canvas.set_busy(None)
        self.canvas.setFocus()
        self._update_state()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for p in recent:
            act = self.recent_menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.setStatusTip(p)
            act.triggered.connect(lambda _=False, q=p: self._open_recent(q))
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def _open_recent(self, path: str) -> None:
        if self.controller.recent_exists(path):
            self.open_path(Path(path))

    def save(self) -> bool:
        """Save to the file chosen by an earlier Save As; the first save always asks, so the
        original is never overwritten silently."""
        if self.doc.save_path is None:
            return self.save_as()
        return self.controller.save(self.doc.save_path)

    def save_as(self) -> bool:
        if not self.doc.has_image:
            return False
        dialog = SaveDialog(self, self.settings.last_folder, self.doc.path, self.doc.save_path)
        if dialog.exec() != SaveDialog.DialogCode.Accepted:
            return False
        self.controller.save_options = SaveOptions(dialog.quality.value(), dialog.sidecar.isChecked(),
                                                   strip_metadata=not dialog.metadata.isChecked())
        return self.controller.save(dialog.chosen_path())

    def export_mask(self, path: Path | None = None) -> bool:
        if not self.doc.has_image:
            return False
        if path is None:
            base = (self.doc.path.stem if self.doc.path else "image") + "_mask.png"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export mask", str(Path(self.settings.last_folder) / base),
                                                    "PNG image (*.png)")
            if not chosen:
                return False
            path = Path(chosen)
        return self.controller.export_mask(path)

    def load_mask(self, path: Path | None = None) -> bool:
        if not self.doc.has_image:
            return False
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Load a mask (white = fill)", self.settings.last_folder,
                                                    IMAGE_FILTER)
            if not chosen:
                return False
            path = Path(chosen)
        return self.controller.load_mask(path)

    def find_defects(self) -> bool:
        """Mask > Find Defects, or cancel it while it runs (the same action)."""
        return self.controller.find_defects(float(self.mask_panel.sensitivity.value()))

    def _on_sensitivity(self, value: int) -> None:
        if self.controller.defects.set_sensitivity(float(value)):
            self.canvas.set_mask_visible(True)

    def _on_defects_running(self, running: bool) -> None:
        a = self.actions_["find_defects"]
        a.setText("Stop Finding &Defects" if running else "Find &Defects")  # the same action cancels
        if not running and self.controller.defects.has_map:
            self.canvas.set_mask_visible(True)

    def _mask_op(self, op, *args) -> None:
        if self.doc.has_image:
            op(*args)
            self.canvas.set_mask_visible(True)

    def import_model(self, path: Path | None = None) -> bool:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Import a checkpoint", self.settings.last_folder,
                "DPM Desktop checkpoints (*.safetensors model.json);;All files (*)")
            if not chosen:
                return False
            path = Path(chosen)
        name = self.controller.import_model(path)
        if name is None:
            return False
        i = self.task_panel.model.findData(name)
        if i >= 0:
            self.task_panel.model.setCurrentIndex(i)
        return True

    # drag and drop ---------------------------------------------------------------------------
    @staticmethod
    def _dropped_image(event: QDragEnterEvent | QDropEvent) -> Path | None:
        if not event.mimeData().hasUrls():
            return None
        for url in event.mimeData().urls():
            p = Path(url.toLocalFile())
            if url.isLocalFile() and p.suffix.lower() in IMAGE_EXTENSIONS:
                return p
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_image(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            # Open after the drop returns, so the source application is not kept waiting.
            QTimer.singleShot(0, lambda: self.open_path(path))

    # running ---------------------------------------------------------------------------------
    def run_task(self) -> bool:
        return self.controller.run()

    def cancel_run(self) -> None:
        if self.controller.cancel():
            self.task_panel.cancel_button.setEnabled(False)
            self.task_panel.progress.setFormat("Cancelling…")

    def _on_finished(self, result: PendingResult) -> None:
        self.canvas.set_view_mode(ViewMode.SPLIT)
        self.result_dock.show()
        self.result_dock.raise_()
        self.task_panel.show_outcome(f"Done in {result.elapsed_s:.1f} s")

    # batch -----------------------------------------------------------------------------------
    def batch(self) -> bool:
        c = self.controller
        if not c.can_batch():
            return False
        folder = str(self.doc.path.parent) if self.doc.path else self.settings.last_folder
        dialog = BatchDialog(self, folder, c.params, c.has_mask)
        if dialog.exec() != BatchDialog.DialogCode.Accepted:
            return False
        plan = c.batch(Path(dialog.source.text()), Path(dialog.dest.text()), dialog.fmt.currentData(),
                       dialog.quality.value(), dialog.sidecar.isChecked())
        if plan is None:
            return False
        self._progress_dialog = QProgressDialog(f"Restoring {len(plan.inputs)} photos…", "Cancel", 0, 1000, self)
        self._progress_dialog.setWindowTitle("Batch")
        self._progress_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self._progress_dialog.setMinimumDuration(0)
        self._progress_dialog.setMinimumWidth(420)
        self._progress_dialog.setAutoClose(False)
        self._progress_dialog.setAutoReset(False)
        self._progress_dialog.canceled.connect(c.jobs.cancel_batch)
        self._progress_dialog.show()
        return True

    def _on_batch_progress(self, info: StepInfo) -> None:
        d = self._progress_dialog
        if d is not None:
            d.setMaximum(max(1, info.total))
            d.setValue(min(info.step, info.total))
            d.setLabelText(f"{info.message}\n{format_eta(info.eta_s)}")

    def _on_batch_running(self, running: bool) -> None:
        if not running and self._progress_dialog is not None:
            self._progress_dialog.close()
            self._progress_dialog = None

    def _on_batch_finished(self, report: BatchReport) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Batch finished", "\n".join(batch_summary(report)[:20]),
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # training --------------------------------------------------------------------------------
    def open_training_wizard(self, resume: Path | None = None) -> TrainWizard:
        """Show the training wizard (the running one, if a run is active), optionally resuming a run."""
        w = self.training_wizard
        if w is not None and (w.is_training or resume is None):
            w.show()
            w.raise_()
            w.activateWindow()
            return w
        if w is not None:
            w.close()
        w = TrainWizard(self.catalogue, self.settings, self, resume=resume)
        w.modelRegistered.connect(self._on_model_registered)
        w.openPhotoRequested.connect(self._open_with_model)
        w.hiddenWhileTraining.connect(lambda: self.statusBar().showMessage(
            "Training goes on in the background; File ▸ Train a Model… shows it", 10_000))
        w.finished.connect(lambda _result, wiz=w: self._on_wizard_closed(wiz))
        self.training_wizard = w
        w.show()
        return w

    def _on_wizard_closed(self, wizard: TrainWizard) -> None:
        if self.training_wizard is wizard:
            self.training_wizard = None
        wizard.deleteLater()

    def _on_model_registered(self, name: str) -> None:
        self.statusBar().showMessage(f"Model {name} is ready in the model picker", 10_000)
        self._update_state()

    def _open_with_model(self, name: str) -> None:
        i = self.task_panel.model.findData(name)
        if i >= 0:
            self.task_panel.model.setCurrentIndex(i)
        if self.training_wizard is not None:
            self.training_wizard.accept()
        self.open_dialog()

    def offer_resumable_runs(self) -> None:
        """At start: offer to continue a training run that a crash or quitting interrupted."""
        runs = run_store.resumable_runs()
        if not runs or self.training_wizard is not None or self.resume_prompt is not None:
            return
        run = runs[0]
        more = (f"\n\n{len(runs) - 1} more interrupted run(s) are listed in File ▸ Train a Model…"
                if len(runs) > 1 else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Resume training?",
                          f"A training run was interrupted — {run.describe()}.\n"
                          f"It can continue from its last checkpoint.{more}", parent=self)
        resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        delete = box.addButton("Delete the run", QMessageBox.ButtonRole.DestructiveRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button) -> None:
            self.resume_prompt = None
            if button is resume:
                self.open_training_wizard(resume=run.run_dir)
            elif button is delete:
                shutil.rmtree(run.run_dir, ignore_errors=True)

        box.buttonClicked.connect(answered)
        self.resume_prompt = box
        box.open()

    # closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.doc.has_image and self.doc.is_modified and not self._may_discard():
            event.ignore()
            return
        wizard = self.training_wizard
        if wizard is not None:
            if wizard.is_training and not wizard.confirm_quit():
                event.ignore()
                return
            self.statusBar().showMessage("Stopping the training with a checkpoint…")
            wizard.shutdown()  # the run stays resumable
            wizard.close()
        self.statusBar().showMessage("Stopping…")
        self.controller.shutdown()
        self.save_settings()
        # Qt deletes the document (a grandchild) while destroying the window: its signals must not
        # reach half-destroyed widgets.
        self.doc.blockSignals(True)
        self.doc.undo_stack.blockSignals(True)
        event.accept()

    def save_settings(self) -> None:
        self.settings.task = self.controller.params
        self.mask_panel.save(self.settings)
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()

"""Opening files every way, the canvas view, models, settings, batch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from dpm_desktop.core.imaging import load_image
from dpm_desktop.gui.app import create_window
from dpm_desktop.gui.ui.canvas import Tool
from dpm_desktop.gui.ui.dialogs import BatchDialog
from dpm_desktop.gui.ui.task_panel import NO_MODEL_TEXT

from .helpers import drag, make_window, open_and_wait, paint_stroke, wait_idle


def test_open_by_menu_action(window, photo, monkeypatch, qtbot):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(photo), ""))
    with qtbot.waitSignal(window.controller.opened):
        window.actions_["open"].trigger()
    assert window.doc.path == photo and window.doc.width == 128
    assert "128 × 96" in window.size_label.text()
    assert window.windowTitle().startswith("photo.png")


def test_open_by_toolbar_button(window, photo, monkeypatch, qtbot):
    from PySide6.QtWidgets import QToolBar

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(photo), ""))
    bar = window.findChild(QToolBar, "main_toolbar")
    with qtbot.waitSignal(window.controller.opened):
        qtbot.mouseClick(bar.widgetForAction(window.actions_["open"]), Qt.MouseButton.LeftButton)
    assert window.doc.has_image


def test_open_by_drag_and_drop(window, photo, qtbot):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.doc.has_image)
    assert window.doc.path == photo


def test_open_from_command_line_with_mask(gui_env, photo, tmp_path, qtbot, monkeypatch):
    from PIL import Image

    mask = np.zeros((96, 128), np.uint8)
    mask[10:20, 30:50] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    w = create_window([str(photo), "--mask", str(tmp_path / "m.png")])
    qtbot.addWidget(w)
    monkeypatch.setattr(w, "ask_unsaved", lambda: "discard")
    qtbot.waitUntil(lambda: w.doc.has_image and not w.doc.mask_is_empty())
    assert w.doc.path == photo
    assert np.array_equal(w.doc.coverage(), mask)
    w.close()


def test_recent_files(window, photo, tmp_path, qtbot):
    from support import write_photo

    other = write_photo(tmp_path / "second.png", 40, 50)
    open_and_wait(qtbot, window, photo)
    open_and_wait(qtbot, window, other)
    assert window.settings.recent_files()[:2] == [str(other.resolve()), str(photo.resolve())]
    window.recent_menu.aboutToShow.emit()  # as opening the menu does
    first = next(a for a in window.recent_menu.actions() if a.text() == "photo.png")
    with qtbot.waitSignal(window.controller.opened):
        first.trigger()
    assert window.doc.path.name == "photo.png"


def test_zoom_and_pan(opened, qtbot):
    c = opened.canvas
    assert c.fit_mode
    z0 = c.zoom
    center = QPointF(c.width() / 2, c.height() / 2)
    wheel = QWheelEvent(center, c.mapToGlobal(center), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, wheel)
    assert c.zoom == pytest.approx(z0 * 1.25)
    under = c.to_image(center)
    opened.actions_["zoom_100"].trigger()
    assert c.zoom == 1.0
    opened.actions_["zoom_fit"].trigger()
    assert c.zoom == pytest.approx(z0)
    # Middle-button drag pans; so does space-drag; neither paints.
    o = QPointF(c.origin)
    drag(c, [QPoint(300, 300), QPoint(340, 320)], button=Qt.MouseButton.MiddleButton)
    assert c.origin - o == QPointF(40, 20)
    qtbot.keyPress(c, Qt.Key.Key_Space)
    drag(c, [QPoint(300, 300), QPoint(290, 300)])
    qtbot.keyRelease(c, Qt.Key.Key_Space)
    assert c.origin - o == QPointF(30, 20)
    assert not opened.doc.coverage().any()
    del under


def test_brush_keys_and_tools(opened, qtbot):
    w = opened
    w.activateWindow()
    w.canvas.setFocus()
    size = w.canvas.brush_size
    w.actions_["brush_bigger"].trigger()
    assert w.canvas.brush_size > size and w.mask_panel.size.value() == w.canvas.brush_size
    w.actions_["brush_smaller"].trigger()
    w.actions_["brush_softer"].trigger()
    assert w.canvas.hardness == pytest.approx(0.6)
    w.actions_["tool_pan"].trigger()
    assert w.canvas.tool == Tool.PAN
    paint_stroke(w, [(30, 30), (60, 30)])
    assert not w.doc.coverage().any()  # the hand pans
    assert [s.toString() for s in w.actions_["brush_bigger"].shortcuts()] == ["]"]


@pytest.mark.slow
def test_large_image_view_is_smooth(window, tmp_path, qtbot, monkeypatch):
    """A 24-megapixel photo: opening builds a pyramid; a redraw at fit and at 100% is quick."""
    import time

    from PIL import Image

    from dpm_desktop.gui.model import photo_opener

    monkeypatch.setattr(photo_opener, "noise_estimate", lambda *_: None)  # seconds of numpy, not the view

    big = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (90, 120, 150)).save(big, quality=80)
    open_and_wait(qtbot, window, big, timeout=90_000)
    c = window.canvas
    assert len(c._pyramid.levels) >= 4
    for setup in (c.fit, c.actual_size):
        setup()
        c.grab()  # warm up
        t0 = time.perf_counter()
        for _ in range(3):
            c.grab()
        assert (time.perf_counter() - t0) / 3 < 0.25
    paint_stroke(window, [(3000, 2000), (3300, 2100)])
    assert window.doc.undo_stack.count() == 1
    cmd = window.doc.undo_stack.command(0)
    assert cmd.before.width() < 1000  # the undo step stores the touched area, not the whole mask


def test_no_model_installed_explains_and_disables_run(qtbot, app_home, tmp_path, monkeypatch, photo):
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("DPM_DESKTOP_BUNDLED_MODELS", str(empty))
    w = make_window(qtbot, monkeypatch)
    open_and_wait(qtbot, w, photo)
    assert not w.task_panel.run_button.isEnabled() and not w.actions_["run"].isEnabled()
    assert w.task_panel.card.text() == NO_MODEL_TEXT
    assert "none installed" in w.model_label.text()
    w.close()


def test_import_checkpoint(window, tiny_rgb_model, tmp_path, qtbot):
    assert window.import_model(tiny_rgb_model / "model.safetensors")
    name = window.task_panel.model.currentData()
    entry = window.catalogue.find(name)
    assert entry is not None and not entry.bundled
    assert name in window.task_panel.card.text()
    # A pickle is refused without being loaded, with a reason.
    pt = tmp_path / "evil.pt"
    pt.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    n = len(window.catalogue.entries)
    with qtbot.waitSignal(window.controller.error) as error:
        assert not window.import_model(pt)
    assert "pickle" in error.args[1].lower()
    assert len(window.catalogue.entries) == n


def test_settings_persist(qtbot, gui_env, photo, monkeypatch):
    w = make_window(qtbot, monkeypatch)
    w.mask_panel.size.setValue(77)
    w.mask_panel.hardness.setValue(35)
    w.task_panel.set_task("denoise")
    w.task_panel.mode.setCurrentIndex(w.task_panel.mode.findData("paper"))
    w.task_panel.device.setCurrentIndex(w.task_panel.device.findData("cpu"))
    w.restore_dock.hide()
    open_and_wait(qtbot, w, photo)
    w.close()
    assert os.path.isfile(gui_env / "settings.ini")

    w2 = make_window(qtbot, monkeypatch)
    assert w2.canvas.brush_size == 77 and w2.canvas.hardness == pytest.approx(0.35)
    p = w2.task_panel.params()
    assert (p.task, p.mode, p.device, p.model) == ("denoise", "paper", "cpu", "photo-rgb")
    assert w2.settings.last_folder == str(photo.parent)
    assert not w2.restore_dock.isVisible()  # the window layout is restored
    w2.close()


def test_batch_denoise_folder(opened, qtbot, photo_folder, tmp_path, monkeypatch):
    w = opened
    w.task_panel.set_task("denoise")
    w.task_panel.sigma_manual.setChecked(True)
    w.task_panel.sigma.setValue(15)
    before = {p.name: p.read_bytes() for p in photo_folder.iterdir()}
    out = tmp_path / "batch-out"

    def fake_exec(dialog: BatchDialog) -> int:
        dialog.source.setText(str(photo_folder))
        dialog.dest.setText(str(out))
        return BatchDialog.DialogCode.Accepted

    monkeypatch.setattr(BatchDialog, "exec", fake_exec)
    with qtbot.waitSignal(w.controller.jobs.batchFinished, timeout=60_000) as finished:
        w.actions_["batch"].trigger()
        assert w._progress_dialog is not None
    wait_idle(qtbot, w)
    report = finished.args[0]
    assert len(report.written) == len(before) and not report.failed
    assert {p.name for p in photo_folder.iterdir()} == set(before)  # nothing new beside the originals
    assert all(p.read_bytes() == before[p.name] for p in photo_folder.iterdir())
    for written in report.written:
        src = photo_folder / written.name
        assert load_image(written).pixels.shape == load_image(src).pixels.shape
        assert Path(f"{written}.json").is_file()


def test_batch_inpaint_uses_sibling_masks_and_skips_the_rest(opened, qtbot, tmp_path, monkeypatch):
    from PIL import Image
    from support import write_photo

    w = opened
    folder = tmp_path / "in"
    folder.mkdir()
    write_photo(folder / "a.png", 40, 48, seed=1)
    write_photo(folder / "b.png", 40, 48, seed=2)
    m = np.zeros((40, 48), np.uint8)
    m[10:20, 10:20] = 255
    Image.fromarray(m).save(folder / "a_mask.png")
    w.task_panel.set_task("inpaint")
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(3)

    def fake_exec(dialog: BatchDialog) -> int:
        dialog.source.setText(str(folder))
        dialog.dest.setText(str(tmp_path / "out"))
        return BatchDialog.DialogCode.Accepted

    monkeypatch.setattr(BatchDialog, "exec", fake_exec)
    with qtbot.waitSignal(w.controller.jobs.batchFinished, timeout=60_000) as finished:
        w.actions_["batch"].trigger()
    wait_idle(qtbot, w)
    r = finished.args[0]
    assert [p.name for p in r.written] == ["a.png"] and [p.name for p, _ in r.skipped] == ["b.png"]
    a_in, a_out = load_image(folder / "a.png").pixels, load_image(r.written[0]).pixels
    assert np.array_equal(a_in[m == 0], a_out[m == 0])  # unmasked pixels kept exactly


def test_paint_during_compare_shows_mask_again(opened, qtbot):
    w = opened
    paint_stroke(w, [(40, 40), (60, 50)])
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(3)
    with qtbot.waitSignal(w.controller.jobs.finished, timeout=60_000):
        w.actions_["run"].trigger()
    wait_idle(qtbot, w)
    assert not w.canvas.show_mask and not w.actions_["show_mask"].isChecked()
    paint_stroke(w, [(10, 10)])
    assert w.canvas.show_mask and w.actions_["show_mask"].isChecked()


def test_entry_point_main_opens_the_photo_and_exits_cleanly(gui_env, photo, qtbot, monkeypatch):
    """``dpm-desktop PHOTO`` (what ``make run`` starts) builds the window and opens the photo. The
    application's event loop is replaced by one that waits for the photo and closes the window
    (quitting the real QApplication would end the event loop for every later test)."""
    import sys

    from dpm_desktop.gui import app as app_module

    windows = []
    real_create = app_module.create_window

    def create(argv):
        w = real_create(argv)
        monkeypatch.setattr(w, "ask_unsaved", lambda: "discard")
        windows.append(w)
        return w

    def fake_exec(_app) -> int:
        w = windows[0]
        assert w.isVisible()
        qtbot.waitUntil(lambda: w.doc.has_image and not w.controller.opener.is_estimating, timeout=30_000)
        w.close()
        return 0

    monkeypatch.setattr(app_module, "create_window", create)
    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # main() installs its own; restore it after
    assert app_module.main([str(photo)]) == 0
    assert windows[0].doc.path == photo
    assert not any(r.is_running for r in windows[0].controller.runners)


def test_no_display_is_one_clear_line_not_a_qt_abort(tmp_path):
    """On Linux without X or Wayland (and no QT_QPA_PLATFORM), Qt aborts with a page of plugin
    messages and a core dump; the app says why in one line and exits 1 instead."""
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the check is for Linux displays")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DPM_DESKTOP_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "dpm_desktop.gui.app"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("dpm-desktop: error: no display") and proc.stderr.count("\n") == 1
    from dpm_desktop.gui.app import display_problem

    assert display_problem([], {"DISPLAY": ":0"}) is None
    assert display_problem([], {"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display_problem(["-platform", "offscreen"], {}) is None

"""Runs that do not go to plan: cancel mid-way, close the window during a run, errors of every kind.
The document must be untouched and no thread may be left running."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from dpm_desktop.core.registry import user_models_dir
from dpm_desktop.gui.workers import jobs
from dpm_desktop.gui.workers.errors import describe

from .helpers import make_window, open_and_fail, open_and_wait, paint_stroke, wait_idle


def _long_inpaint(w) -> None:
    paint_stroke(w, [(30, 30), (90, 60)])
    w.task_panel.set_task("inpaint")
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(1000)
    w.task_panel.resample.setValue(3)


def test_cancel_stops_within_a_step_and_keeps_the_window_responsive(opened, qtbot):
    w = opened
    original = w.doc.pixels.copy()
    _long_inpaint(w)
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        qtbot.mouseClick(w.task_panel.run_button, Qt.MouseButton.LeftButton)
    assert w.controller.jobs.is_running and w.task_panel.cancel_button.isEnabled()
    # The GUI thread keeps working during the run: zoom, paint, change settings.
    w.canvas.zoom_by(1.5)
    paint_stroke(w, [(10, 80), (20, 85)])
    assert w.doc.coverage()[80, 10] > 0
    with qtbot.waitSignal(w.controller.jobs.cancelled, timeout=10_000):
        t0 = time.monotonic()
        qtbot.mouseClick(w.task_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - t0 < 5
    wait_idle(qtbot, w)
    assert w.doc.result is None and np.array_equal(w.doc.pixels, original)
    assert "Cancelled" in w.task_panel.progress.format()
    assert w.task_panel.run_button.isEnabled()


def test_escape_cancels(opened, qtbot):
    """The keys, not the actions: Ctrl+R runs, Esc cancels (issue 14 item 9)."""
    w = opened
    _long_inpaint(w)
    w.canvas.setFocus()
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        qtbot.keyClick(w.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert w.controller.jobs.is_running
    with qtbot.waitSignal(w.controller.jobs.cancelled, timeout=10_000):
        qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    wait_idle(qtbot, w)
    assert w.doc.result is None


def test_closing_during_a_run_cancels_it_and_exits_cleanly(qtbot, gui_env, photo, monkeypatch):
    w = make_window(qtbot, monkeypatch)
    open_and_wait(qtbot, w, photo)
    _long_inpaint(w)
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        w.actions_["run"].trigger()
    t0 = time.monotonic()
    assert w.close()
    assert time.monotonic() - t0 < 5
    assert not w.controller.jobs.is_running and not w.isVisible()


def test_opening_another_image_drops_the_running_job(opened, qtbot, tmp_path):
    from support import write_photo

    w = opened
    _long_inpaint(w)
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        w.actions_["run"].trigger()
    other = write_photo(tmp_path / "other.png", 64, 80, seed=9)
    open_and_wait(qtbot, w, other)
    wait_idle(qtbot, w)
    assert w.doc.result is None and w.doc.width == 80


def _assert_error_leaves_document(w, qtbot, original, text: str) -> None:
    with qtbot.waitSignal(w.controller.error, timeout=60_000) as error:
        w.actions_["run"].trigger()
    wait_idle(qtbot, w)
    assert error.args[0] == "The restoration failed" and text in error.args[1]
    assert w.doc.result is None and np.array_equal(w.doc.pixels, original)
    assert w.task_panel.progress.format() == "Failed"


def test_corrupt_model_shows_message_and_leaves_document(opened, qtbot, bundled_models):
    w = opened
    bad = user_models_dir() / "broken"
    shutil.copytree(bundled_models / "photo-rgb", bad)
    weights = bad / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-20:] = b"\x00" * 20
    weights.write_bytes(bytes(data))
    w.catalogue.refresh()
    w.task_panel.model.setCurrentIndex(w.task_panel.model.findData("broken"))
    original = w.doc.pixels.copy()
    paint_stroke(w, [(30, 30), (60, 40)])
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(3)
    _assert_error_leaves_document(w, qtbot, original, "This model cannot be used")


def test_out_of_memory_is_a_message(opened, qtbot, monkeypatch):
    w = opened
    original = w.doc.pixels.copy()
    paint_stroke(w, [(30, 30), (60, 40)])

    def boom(*_a, **_k):
        raise MemoryError()

    monkeypatch.setattr(jobs.restore, "inpaint", boom)
    _assert_error_leaves_document(w, qtbot, original, "Not enough memory")


def test_unexpected_engine_error_is_a_message_with_details(opened, qtbot, monkeypatch):
    w = opened
    original = w.doc.pixels.copy()
    w.task_panel.set_task("denoise")

    def boom(*_a, **_k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(jobs.restore, "denoise", boom)
    _assert_error_leaves_document(w, qtbot, original, "Unexpected error (ZeroDivisionError)")


def test_inpaint_without_mask_explains(opened, qtbot):
    w = opened
    with qtbot.waitSignal(w.controller.error) as error:
        assert not w.run_task()
    assert "Paint a mask" in error.args[1]
    assert not w.controller.jobs.is_running


def test_unreadable_image_keeps_current_document(opened, tmp_path, qtbot):
    w = opened
    original, path = w.doc.pixels.copy(), w.doc.path
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    assert "broken.jpg" in open_and_fail(qtbot, w, bad)
    assert w.doc.path == path and np.array_equal(w.doc.pixels, original)
    assert "missing.png" in open_and_fail(qtbot, w, tmp_path / "missing.png") and w.doc.path == path


def test_mask_of_the_wrong_size_is_refused(opened, tmp_path, qtbot):
    from support import write_photo

    w = opened
    paint_stroke(w, [(30, 30)])
    cov = w.doc.coverage()
    wrong = write_photo(tmp_path / "wrong.png", 50, 50)
    with qtbot.waitSignal(w.controller.error) as error:
        assert not w.load_mask(wrong)
    assert "same size" in error.args[1]
    assert np.array_equal(w.doc.coverage(), cov)


def test_describe_errors():
    assert describe(MemoryError())[0].startswith("Not enough memory")
    assert describe(RuntimeError("CUDA out of memory. Tried to allocate"))[0].startswith("Not enough memory")
    try:
        {}["x"]
    except KeyError as e:
        msg, details = describe(e)
    assert "KeyError" in msg and "Traceback" in details


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_unavailable_devices_cannot_be_picked(window, device):
    import torch

    panel = window.task_panel
    i = panel.device.findData(device)
    available = torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()
    assert panel.device.model().item(i).isEnabled() == available


def test_a_result_computed_before_the_photo_changed_is_dropped(opened, qtbot):
    """Run A, run B, apply A while B runs: B was computed from the pixels before A, so offering it
    (and applying it) would silently undo A. It is dropped, and the user is told."""
    w = opened
    paint_stroke(w, [(30, 30), (90, 60)])
    w.task_panel.set_task("inpaint")
    with qtbot.waitSignal(w.controller.jobs.finished, timeout=60_000):
        w.actions_["run"].trigger()
    wait_idle(qtbot, w)
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(200)
    w.task_panel.resample.setValue(1)
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        w.actions_["run"].trigger()
    assert w.controller.jobs.is_running and w.actions_["apply"].isEnabled()
    w.actions_["apply"].trigger()
    applied = w.doc.pixels
    with qtbot.waitSignal(w.controller.jobs.dropped, timeout=120_000):
        pass
    wait_idle(qtbot, w)
    assert w.doc.result is None and w.doc.pixels is applied
    assert "dropped" in w.statusBar().currentMessage()

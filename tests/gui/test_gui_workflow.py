"""The main workflow through the real widgets: open, paint a mask, undo/redo, inpaint, compare,
pick a candidate, apply, save, reopen and compare pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt

from dpm_desktop.core.imaging import load_image
from dpm_desktop.gui.convert import to_u8
from dpm_desktop.gui.ui.canvas import ViewMode
from dpm_desktop.gui.ui.dialogs import SaveDialog

from .helpers import drag, open_and_wait, paint_stroke, view_point, wait_idle


def _run(qtbot, window, timeout: int = 60_000) -> None:
    with qtbot.waitSignal(window.controller.jobs.finished, timeout=timeout):
        qtbot.mouseClick(window.task_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)


def test_paint_mask_with_mouse_then_undo_redo(opened, qtbot):
    w = opened
    assert w.doc.mask_is_empty()
    w.mask_panel.size.setValue(12)
    paint_stroke(w, [(20, 40), (40, 42), (60, 45), (80, 50)])
    cov = w.doc.coverage()
    assert cov[45, 60] == 255 and cov[40, 20] > 0  # along the stroke
    assert cov[5, 5] == 0 and cov[90, 120] == 0  # far from it
    painted = cov.copy()

    w.actions_["undo"].trigger()
    assert not w.doc.coverage().any()
    w.actions_["redo"].trigger()
    assert np.array_equal(w.doc.coverage(), painted)

    # Eraser, then a second stroke: each is its own undo step.
    w.actions_["tool_eraser"].trigger()
    paint_stroke(w, [(60, 45), (61, 45)])
    assert w.doc.coverage()[45, 60] == 0
    assert w.doc.undo_stack.count() == 2
    w.actions_["undo"].trigger()
    assert np.array_equal(w.doc.coverage(), painted)


def test_soft_brush_has_feathered_edge(opened):
    w = opened
    w.mask_panel.size.setValue(30)
    w.mask_panel.hardness.setValue(0)
    paint_stroke(w, [(64, 48)])
    cov = w.doc.coverage()
    assert cov[48, 64] > 200
    edge = cov[48, 64 + 12]
    assert 0 < edge < 200  # a soft transition, not a hard step


def test_rectangle_lasso_and_mask_operations(opened, qtbot):
    w = opened
    w.actions_["tool_rect"].trigger()
    drag(w.canvas, [view_point(w, 10, 10), view_point(w, 30, 20), view_point(w, 40, 30)])
    cov = w.doc.coverage()
    assert cov[20, 25] == 255 and cov[50, 50] == 0
    w.actions_["tool_lasso"].trigger()
    drag(w.canvas, [view_point(w, x, y) for x, y in ((70, 50), (110, 50), (110, 90), (70, 90))])
    assert w.doc.coverage()[70, 90] == 255
    # Alt with the rectangle removes.
    w.actions_["tool_rect"].trigger()
    drag(w.canvas, [view_point(w, 80, 60), view_point(w, 100, 80)], modifiers=Qt.KeyboardModifier.AltModifier)
    assert w.doc.coverage()[70, 90] == 0 and w.doc.coverage()[55, 75] == 255

    before = w.doc.coverage()
    w.mask_panel.radius.setValue(3)
    w.actions_["mask_grow"].trigger()
    grown = w.doc.coverage()
    assert grown.sum() > before.sum() and grown[31, 41] == 255
    w.actions_["mask_shrink"].trigger()
    assert w.doc.coverage().sum() < grown.sum()
    w.actions_["mask_invert"].trigger()
    assert w.doc.coverage()[0, 127] == 255
    w.actions_["mask_clear"].trigger()
    assert not w.doc.coverage().any()
    for _ in range(4):
        w.actions_["undo"].trigger()
    assert np.array_equal(w.doc.coverage(), before)


def test_inpaint_compare_apply_save_reopen(opened, qtbot, tmp_path, monkeypatch):
    w = opened
    original = w.doc.pixels.copy()
    photo_bytes = w.doc.path.read_bytes()
    w.mask_panel.size.setValue(14)
    paint_stroke(w, [(40, 30), (70, 40), (90, 60)])
    mask = w.doc.coverage() > 0
    w.task_panel.set_task("inpaint")
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData("custom"))
    w.task_panel.steps.setValue(6)
    w.task_panel.candidates.setValue(2)

    with qtbot.waitSignal(w.controller.jobs.preview, timeout=60_000):  # the live preview of the chain
        qtbot.mouseClick(w.task_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.doc.result is not None, timeout=60_000)
    wait_idle(qtbot, w)
    r = w.doc.result
    assert r is not None and len(r.crops) == 3  # two candidates and their mean
    assert r.labels == ["#1", "#2", "Mean"]
    assert np.allclose(r.crops[2], (r.crops[0] + r.crops[1]) / 2, atol=1e-6)
    assert not w.task_panel.preview.pixmap().isNull()
    assert np.array_equal(w.doc.pixels, original)  # nothing changes until Apply

    # Compare: split view with a draggable divider, toggle, before/after buttons.
    assert w.canvas.view_mode == ViewMode.SPLIT
    x = round(w.canvas.split * w.canvas.width())
    drag(w.canvas, [QPoint(x, 200), QPoint(x + 100, 200)])
    assert w.canvas.split > 0.55
    w.actions_["view_toggle"].trigger()
    assert w.canvas.view_mode == ViewMode.BEFORE
    qtbot.mouseClick(w.result_panel.mode_buttons[ViewMode.AFTER], Qt.MouseButton.LeftButton)
    assert w.canvas.view_mode == ViewMode.AFTER
    w.canvas.grab()  # draws the result through the pyramid without error

    # Pick the second candidate and apply it.
    assert w.result_panel.candidates.count() == 3
    assert [w.result_panel.candidates.item(i).text() for i in range(3)] == ["#1", "#2", "Mean"]
    w.result_panel.candidates.setCurrentRow(2)
    assert r.chosen == 2 and r.crop is r.crops[2]
    w.result_panel.candidates.setCurrentRow(1)
    assert r.chosen == 1
    qtbot.mouseClick(w.result_panel.apply, Qt.MouseButton.LeftButton)
    assert w.doc.result is None
    changed = np.any(w.doc.pixels != original, axis=2)
    assert changed.any() and not changed[~mask].any()  # only masked pixels changed
    applied = w.doc.pixels.copy()

    w.actions_["undo"].trigger()  # apply is undoable and brings the result back
    assert np.array_equal(w.doc.pixels, original) and w.doc.result is r
    w.actions_["redo"].trigger()
    assert np.array_equal(w.doc.pixels, applied)

    # Save: the first Save asks where (never the original), then writes a PNG.
    out = tmp_path / "restored.png"

    def fake_exec(dialog: SaveDialog) -> int:
        assert dialog.chosen_path() != w.doc.path  # the suggestion is not the original
        dialog.set_path(out)
        return SaveDialog.DialogCode.Accepted

    monkeypatch.setattr(SaveDialog, "exec", fake_exec)
    w.actions_["save"].trigger()
    assert out.is_file() and not w.doc.is_modified
    assert w.doc.path.read_bytes() == photo_bytes  # the original is untouched

    # Reopen the saved file: its pixels are the applied result.
    open_and_wait(qtbot, w, out)
    assert np.array_equal(to_u8(w.doc.pixels), to_u8(applied))
    assert np.array_equal(to_u8(load_image(out).pixels), to_u8(applied))


def test_first_save_cancelled_writes_nothing(opened, monkeypatch, tmp_path):
    w = opened
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(SaveDialog, "exec", lambda self: SaveDialog.DialogCode.Rejected)
    assert w.save() is False
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_save_jpeg_with_quality_and_sidecar(opened, monkeypatch, tmp_path):
    w = opened
    out = tmp_path / "out.jpg"

    def fake_exec(dialog: SaveDialog) -> int:
        dialog.set_path(out)
        assert dialog.format.currentData() == ".jpg" and dialog.quality.isEnabled()
        dialog.quality.setValue(80)
        dialog.sidecar.setChecked(True)
        return SaveDialog.DialogCode.Accepted

    monkeypatch.setattr(SaveDialog, "exec", fake_exec)
    assert w.save_as()
    assert out.is_file() and Path(f"{out}.json").is_file()
    assert load_image(out).format == "JPEG"


def test_export_and_load_mask(opened, tmp_path):
    w = opened
    paint_stroke(w, [(30, 30), (60, 30)])
    cov = w.doc.coverage()
    path = tmp_path / "mask.png"
    assert w.export_mask(path)
    w.actions_["mask_clear"].trigger()
    assert w.load_mask(path)
    assert np.array_equal(w.doc.coverage(), cov)


def test_denoise_sampled_shows_uncertainty(opened, qtbot):
    w = opened
    w.task_panel.set_task("denoise")
    # The noise estimate "auto" would use is shown beside it (computed in the background).
    qtbot.waitUntil(lambda: "σ ≈" in w.task_panel.estimate.text())
    sigma = w.controller.opener.sigma_estimate
    assert sigma is not None and f"{sigma:.1f}" in w.task_panel.estimate.text()
    w.task_panel.sigma_manual.setChecked(True)
    w.task_panel.sigma.setValue(20)
    w.task_panel.mode.setCurrentIndex(w.task_panel.mode.findData("sample"))
    w.task_panel.samples.setValue(2)
    w.task_panel.denoise_steps.setValue(3)
    _run(qtbot, w)
    r = w.doc.result
    assert r is not None and r.task == "denoise" and r.uncertainty is not None
    assert (r.region.width(), r.region.height()) == (128, 96)
    assert w.actions_["uncertainty"].isEnabled()
    w.actions_["uncertainty"].trigger()
    assert w.canvas.show_uncertainty and w.result_panel.uncertainty.isChecked()
    w.canvas.grab()
    w.actions_["discard"].trigger()
    assert w.doc.result is None

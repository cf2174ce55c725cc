"""Inpainting's Fast / Best presets in the app (issue 16): the cost shown before Run, a first
preview that arrives, the result applied with every unmasked pixel kept, and Cancel on Best."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage

from dpm_desktop.gui.model.restore_jobs import RestoreJobs
from dpm_desktop.gui.model.settings import AppSettings

from .helpers import paint_stroke, wait_idle


def qimage_to_array(img: QImage) -> np.ndarray:
    """An RGB QImage as H x W x 3 float in [0, 1]."""
    rgb = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, :3 * w]
    return buf.reshape(h, w, 3).astype(np.float32) / 255


def _choose(w, preset: str) -> None:
    w.task_panel.set_task("inpaint")
    w.task_panel.preset.setCurrentIndex(w.task_panel.preset.findData(preset))


def test_fast_shows_its_cost_previews_and_applies(opened, qtbot):
    w = opened
    original = w.doc.pixels.copy()
    _choose(w, "fast")
    qtbot.waitUntil(lambda: "Paint over what to remove" in w.task_panel.expected.text(), timeout=5_000)
    paint_stroke(w, [(30, 30), (60, 45)])
    mask = w.doc.coverage() > 0
    qtbot.waitUntil(lambda: "network calls" in w.task_panel.expected.text(), timeout=5_000)
    # A first time before any fill: the model loaded and its network timed in the background.
    qtbot.waitUntil(lambda: ", about " in w.task_panel.expected.text(), timeout=30_000)
    assert w.controller.jobs.rates  # the warm-up's measure, replaced by the fill's below
    assert not w.task_panel.steps.isEnabled()  # the preset decides the chain
    placed: list[tuple[QImage, QRect]] = []
    w.controller.jobs.placed.connect(lambda img, rect: placed.append((img.copy(), QRect(rect))))
    with qtbot.waitSignal(w.controller.jobs.preview, timeout=60_000):  # a live preview of the fill
        qtbot.mouseClick(w.task_panel.run_button, Qt.MouseButton.LeftButton)
    # The fill is drawn where it goes while it is refined: the first, before any network call, is the
    # classical first guess; around the hole the preview shows the photo itself.
    qtbot.waitUntil(lambda: w.canvas.live_preview is not None or w.doc.result is not None, timeout=60_000)
    qtbot.waitUntil(lambda: w.doc.result is not None, timeout=60_000)
    wait_idle(qtbot, w)
    assert placed and w.canvas.live_preview is None  # cleared when the result arrives
    img, rect = placed[0]
    ys, xs = np.nonzero(mask)
    assert rect.contains(QRect(xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    shown = qimage_to_array(img)[:, :, :3]
    assert shown.shape[:2] == (rect.height(), rect.width())
    region = original[rect.top():rect.bottom() + 1, rect.left():rect.right() + 1]
    known = ~mask[rect.top():rect.bottom() + 1, rect.left():rect.right() + 1]
    assert np.abs(shown[known] - region[known]).max() <= 1 / 255 + 1e-6
    assert w.doc.result.params["preset"] == "fast"
    qtbot.waitUntil(lambda: ", about " in w.task_panel.expected.text(), timeout=5_000)  # measured by the run
    qtbot.mouseClick(w.result_panel.apply, Qt.MouseButton.LeftButton)
    changed = np.any(w.doc.pixels != original, axis=2)
    assert changed.any() and not changed[~mask].any()

    # The measured speeds are saved: the next session shows a time before its first fill.
    paint_stroke(w, [(90, 30), (110, 40)])
    w.controller.settings.sync()
    settings = AppSettings()  # a new session's settings: the same file (DPM_DESKTOP_HOME)
    expected = RestoreJobs(w.doc, None, settings).expectation(w.controller.params)
    assert expected is not None and expected.seconds is not None and expected.seconds > 0
    assert RestoreJobs(w.doc).expectation(w.controller.params).seconds is None  # without them, none yet
    settings.q.setValue("inpaint/rates", '{"m\\tcpu": -1, "guess": "x", "patch": 1e300}')  # a damaged file
    assert settings.fill_rates == {}
    settings.q.setValue("inpaint/rates", "[1, 2")
    assert settings.fill_rates == {} and RestoreJobs(w.doc, None, settings).rates == {}


def test_best_costs_more_and_cancels_within_a_step(opened, qtbot):
    w = opened
    original = w.doc.pixels.copy()
    _choose(w, "fast")
    paint_stroke(w, [(20, 20), (80, 70)])
    qtbot.waitUntil(lambda: "network calls" in w.task_panel.expected.text(), timeout=5_000)
    fast_calls = int(w.task_panel.expected.text().split()[1])
    _choose(w, "best")
    qtbot.waitUntil(lambda: w.task_panel.expected.text().split()[1:2] != [str(fast_calls)], timeout=5_000)
    assert int(w.task_panel.expected.text().split()[1]) > 3 * fast_calls
    with qtbot.waitSignal(w.controller.jobs.progress, timeout=60_000):
        qtbot.mouseClick(w.task_panel.run_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(w.controller.jobs.cancelled, timeout=10_000):
        qtbot.keyClick(w, Qt.Key.Key_Escape)
    wait_idle(qtbot, w)
    assert w.doc.result is None and np.array_equal(w.doc.pixels, original)

"""Mask > Find Defects in the app (issue 17): a damaged photo and the bundled models (its default
method, the learned detector with the photo model's likelihood, is calibrated for them); the
proposal lands in the mask as one undoable step, the sensitivity slider re-thresholds without a run,
Cancel stops it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import photo_like

from .helpers import open_and_wait


@pytest.fixture()
def real_models(gui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's bundled models (photo-rgb, defects-wide) instead of the tiny one."""
    monkeypatch.setenv("DPM_DESKTOP_BUNDLED_MODELS", str(Path(__file__).resolve().parents[2] / "models"))


def _damaged(path, h: int = 96, w: int = 128):
    px = photo_like(h, w, seed=5)
    px[30, 10:110] = 1.0  # a bright hairline scratch
    px[60:62, 20:100] = 0.0  # a dark one
    for y, x in ((15, 20), (70, 90), (80, 40)):
        px[y:y + 2, x:x + 2] = 1.0  # dust
    Image.fromarray((px * 255).round().astype(np.uint8)).save(path)
    return path


def _find(qtbot, w) -> None:
    with qtbot.waitSignal(w.controller.defects.runningChanged, timeout=60_000, check_params_cb=lambda r: r is False):
        w.actions_["find_defects"].trigger()


def test_find_defects_fills_the_mask_undoably_and_rethresholds(real_models, window, qtbot, tmp_path):
    w = window
    open_and_wait(qtbot, w, _damaged(tmp_path / "scan.png"))
    assert not w.doc.coverage().any()
    _find(qtbot, w)
    first = w.doc.coverage().copy()
    assert first.any() and w.doc.undo_stack.undoText().startswith("Find defects")
    assert "possible defects" in w.statusBar().currentMessage()

    # Lower finds more, from the kept map (no network): dragged through 5, 4, 3 to 2, it ends in one
    # undo step that replaces Find Defects' own.
    for value in (5, 4, 3, 2):
        w.mask_panel.sensitivity.setValue(value)
    qtbot.waitUntil(lambda: "sensitivity 2" in w.doc.undo_stack.undoText(), timeout=30_000)
    qtbot.waitUntil(lambda: not w.controller.defects.is_running, timeout=30_000)
    more = w.doc.coverage()
    assert (more > 0).sum() > (first > 0).sum() and np.all(more[first > 0] > 0)
    assert w.doc.undo_stack.count() == 1

    w.actions_["undo"].trigger()
    assert not w.doc.coverage().any()  # back to before Find Defects


def _overlay_alpha(w) -> np.ndarray:
    img = w.controller.defects.overlay
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * img.height())
    rows = buf.reshape(img.height(), img.bytesPerLine())[:, : 4 * img.width()]
    return rows.reshape(img.height(), img.width(), 4)[..., 3]


def test_anomaly_overlay_shows_the_map_and_goes_with_the_photo(real_models, window, qtbot, tmp_path):
    w = window
    a = w.actions_["anomaly_map"]
    open_and_wait(qtbot, w, _damaged(tmp_path / "scan.png"))
    assert not a.isEnabled() and w.controller.defects.overlay is None
    w.mask_panel.sensitivity.setValue(2)  # before any map: only the value Find Defects will cut at
    _find(qtbot, w)
    assert a.isEnabled()
    alpha = _overlay_alpha(w)
    assert alpha.shape == (96, 128)
    # Brightest (opaque) on the scratch, faded out on clean photo away from the damage.
    assert alpha[30, 40:80].mean() > 200 and np.median(alpha[40:55, 10:110]) < alpha[30, 40:80].mean() / 2
    before = w.canvas.grab().toImage()
    a.setChecked(True)
    assert w.canvas.show_anomaly
    after = w.canvas.grab().toImage()
    assert after != before  # the overlay is painted over the photo

    open_and_wait(qtbot, w, _damaged(tmp_path / "other.png", 80, 100))  # another photo: the map is gone
    assert w.controller.defects.overlay is None and w.canvas.anomaly_overlay is None and not a.isEnabled()


def test_find_defects_cancels_and_leaves_the_mask(real_models, window, qtbot, tmp_path):
    w = window
    open_and_wait(qtbot, w, _damaged(tmp_path / "big.png", 512, 640))
    with qtbot.waitSignal(w.controller.defects.cancelled, timeout=60_000):
        w.actions_["find_defects"].trigger()
        assert w.actions_["find_defects"].text().startswith("Stop")
        w.actions_["find_defects"].trigger()  # the same action cancels
    qtbot.waitUntil(lambda: not w.controller.defects.is_running, timeout=10_000)
    assert not w.doc.coverage().any() and w.doc.undo_stack.count() == 0
    assert w.actions_["find_defects"].text().startswith("Find")


def test_a_grainy_photo_is_examined_denoised_and_the_status_says_so(real_models, window, qtbot):
    """The app's sample carries noise of sigma 20/255: Find Defects denoises it first and says so."""
    w = window
    open_and_wait(qtbot, w, Path(__file__).resolve().parents[2] / "resources" / "sample.jpg")
    _find(qtbot, w)
    assert w.controller.defects.params["denoised_first"] > 10
    assert "grainy photo" in w.statusBar().currentMessage()

"""The training wizard's curve plot (pyqtgraph): what it draws is the data it is given, error bars,
the log-scale toggle, the x axis spanning the run, zoom and pan, Export as image (a real PNG,
written atomically), and that the app starts without importing pyqtgraph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from dpm_desktop.gui.theme import apply_theme
from dpm_desktop.gui.ui.wizard.curves import BACKGROUND, CurvePlot, smooth

from .helpers import drag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def loss_plot(qtbot) -> CurvePlot:
    apply_theme(QApplication.instance())
    plot = CurvePlot("Training loss", "#4c9bf5", empty_text="nothing yet", log_y=True, smoothed=True)
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


@pytest.fixture()
def val_plot(qtbot) -> CurvePlot:
    apply_theme(QApplication.instance())
    plot = CurvePlot("Validation bound K (bits/px)", "#f5a54c", empty_text="no validation yet", y_label="bits/px")
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def fake_loss(n: int) -> tuple[list[int], list[float]]:
    steps = list(range(10, 10 * n + 1, 10))
    return steps, [0.02 + 0.9 * np.exp(-s / 150) for s in steps]


def test_the_plot_shows_the_data_it_is_given(loss_plot):
    assert loss_plot.stack.currentWidget() is loss_plot.empty_label
    loss_plot.set_points([20, 40, 60, 80], [1.0, 0.5, 0.3, float("nan")])  # a diverged step is left out
    assert loss_plot.stack.currentWidget() is loss_plot.plot
    x, y = loss_plot.raw_item.xData, loss_plot.raw_item.yData
    assert x.tolist() == [20, 40, 60] and y.tolist() == [1.0, 0.5, 0.3]
    assert np.allclose(loss_plot.smooth_item.yData, smooth([1.0, 0.5, 0.3]))
    assert loss_plot.raw_item.opts["symbol"] == "o"  # few points: a dot each
    assert loss_plot.value_label.text() == "0.3"

    steps, losses = fake_loss(300)
    loss_plot.set_points(steps, losses)
    assert loss_plot.raw_item.yData.tolist() == losses and loss_plot.raw_item.opts["symbol"] is None
    assert loss_plot.smooth_item.xData.tolist() == steps
    loss_plot.set_points([], [])
    assert loss_plot.stack.currentWidget() is loss_plot.empty_label and loss_plot.value_label.text() == ""


def test_validation_points_have_error_bars(val_plot, qtbot):
    steps, bits, err = [200, 400, 600], [-2.4, -1.6, -1.2], [0.3, 0.2, 0.1]
    val_plot.set_points(steps, bits, err)
    bars = val_plot.error_bars
    assert bars.isVisible()
    assert bars.opts["x"].tolist() == steps and bars.opts["y"].tolist() == bits
    assert bars.opts["top"].tolist() == err == bars.opts["bottom"].tolist()
    box = bars.boundingRect()  # the bars span y - err .. y + err
    assert box.top() == pytest.approx(-2.7) and box.bottom() == pytest.approx(-1.1)
    qtbot.waitUntil(lambda: val_plot.plot.getViewBox().viewRange()[1][0] <= -2.7)  # the auto-range holds them
    assert not val_plot.log_action.isVisible() and not val_plot.log_button.isVisible()  # no log toggle here
    val_plot.set_points(steps, bits)  # no errors given: no bars
    assert not bars.isVisible()


def test_the_log_toggle_changes_the_axis(loss_plot, qtbot):
    steps, losses = fake_loss(100)
    loss_plot.set_points(steps, losses)
    left = loss_plot.plot.getPlotItem().getAxis("left")
    assert loss_plot.log_active and left.logMode and loss_plot.raw_item.opts["logMode"][1]
    qtbot.mouseClick(loss_plot.log_button, Qt.MouseButton.LeftButton)  # the header's "log" button
    assert not loss_plot.log_action.isChecked() and not left.logMode and not loss_plot.raw_item.opts["logMode"][1]
    loss_plot.log_action.trigger()  # the same toggle in the context menu
    assert left.logMode
    # log ticks are only 1, 2, 5 x 10^k (pyqtgraph's 1..9 overlap within a decade)
    ticks = [10 ** v for _, level in left.tickValues(np.log10(0.015), np.log10(1.0), 200) for v in level]
    assert ticks and all(f"{t:.0e}"[0] in "125" for t in ticks)
    # a loss that goes negative (the bound objective) cannot be shown on a log axis
    loss_plot.set_points([10, 20], [0.4, -0.1])
    assert not loss_plot.log_active and not left.logMode and not loss_plot.log_action.isEnabled()
    loss_plot.set_points(steps, losses)
    assert loss_plot.log_active and left.logMode  # the user's choice comes back with positive values


def test_the_x_axis_spans_the_run_and_view_all_restores_it(loss_plot, qtbot):
    steps, losses = fake_loss(40)  # steps 10..400 of a 2,000-step run
    loss_plot.set_points(steps, losses)
    loss_plot.set_x_max(2000)
    vb = loss_plot.plot.getViewBox()
    qtbot.waitUntil(lambda: vb.viewRange()[0][1] >= 2000)
    lo, hi = vb.viewRange()[0]
    assert lo <= 0 and hi < 2200

    # the wheel zooms (pyqtgraph's own mouse handling), and auto-range stops following the data
    view = loss_plot.plot.viewport()
    centre = QPointF(view.width() / 2, view.height() / 2)
    wheel = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, wheel)
    zoomed = vb.viewRange()[0]
    assert zoomed[1] - zoomed[0] < 0.8 * (hi - lo)
    # a drag to the right pans towards the start (the same width, shifted)
    start = centre.toPoint()
    drag(view, [start + QPoint(dx, 0) for dx in range(0, 121, 20)])
    panned = vb.viewRange()[0]
    assert panned[0] < zoomed[0] - 1 and panned[1] - panned[0] == pytest.approx(zoomed[1] - zoomed[0])
    vb.autoRange()  # View All (the context menu's first entry)
    assert vb.viewRange()[0][0] <= 0 and vb.viewRange()[0][1] >= 2000


def test_export_writes_a_real_png_atomically(loss_plot, tmp_path, qtbot, monkeypatch):
    steps, losses = fake_loss(120)
    loss_plot.set_points(steps, losses)
    loss_plot.set_x_max(2000)
    qtbot.wait(50)
    out = loss_plot.export_image(tmp_path / "loss")  # no suffix: .png is added
    assert out == tmp_path / "loss.png"
    with Image.open(out) as im:
        assert im.format == "PNG"
        dpr = loss_plot.devicePixelRatioF()
        assert im.size == (round(loss_plot.width() * dpr), round(loss_plot.height() * dpr))
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert pixels.var() > 0  # not blank
    bg = np.array([int(BACKGROUND[i:i + 2], 16) for i in (1, 3, 5)])
    blue = (pixels[..., 2] > 180) & (pixels[..., 0] < 120)  # the curve's colour is in it
    assert blue.sum() > 100 and np.abs(pixels - bg).sum(axis=2).min() == 0
    assert loss_plot.log_button.isVisible()  # hidden only while rendering
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]  # no temporary file left behind

    # the context menu: our entries replace pyqtgraph's "Export..." dialog
    menu = loss_plot.plot.scene().contextMenu
    assert [a.text() for a in menu] == ["Log scale", "Export as image…"]
    chosen = tmp_path / "chosen.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(chosen), "")))
    loss_plot.export_action.trigger()
    assert chosen.is_file() and Image.open(chosen).size == Image.open(out).size

    with pytest.raises(OSError, match="missing"):
        loss_plot.export_image(tmp_path / "missing" / "x.png")  # a clear error naming the target


def test_the_app_starts_without_pyqtgraph():
    """pyqtgraph (~0.4 s to import) loads with the wizard's training page, not with the main window."""
    code = ("import sys; import dpm_desktop.gui.app, dpm_desktop.gui.ui.main_window; "
            "print('pyqtgraph' in sys.modules)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=120, check=True)
    assert result.stdout.strip() == "False"


def test_the_wizard_page_feeds_the_plots(app_home, qtbot):
    from dpm_desktop.gui.model.catalogue import ModelCatalogue
    from dpm_desktop.gui.model.settings import AppSettings
    from dpm_desktop.gui.ui.wizard import TrainWizard

    wiz = TrainWizard(ModelCatalogue(), AppSettings())
    qtbot.addWidget(wiz)
    page, run = wiz.training_page, wiz.run
    run.total = 1000
    for s in range(10, 210, 10):
        run.feed({"event": "step", "step": s, "loss": 1.0 / s})
    run.feed({"event": "val", "step": 200, "bits_per_px": -1.5, "bits_stderr": 0.2})
    assert page.loss_plot.raw_item.xData.tolist() == list(range(10, 210, 10))
    assert page.loss_plot.raw_item.yData.tolist() == pytest.approx([1.0 / s for s in range(10, 210, 10)])
    assert page.val_plot.error_bars.opts["top"].tolist() == [0.2]
    assert page.loss_plot.span.hi == 1000
    wiz.reject()

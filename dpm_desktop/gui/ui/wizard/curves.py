"""The wizard's training curves, drawn by pyqtgraph on the app's dark theme: the training loss per
step and the validation bound per validation, with error bars.

pyqtgraph gives the interaction: drag to pan, the wheel to zoom (right-drag zooms one axis), and
its context menu (View All, per-axis ranges). Added to that menu: "Log scale" (also the header's
"log" button, on plots that offer it) and "Export as image…", which writes a PNG atomically.

This module imports pyqtgraph (0.35 to 0.5 s of CPU on the project's machine): it is imported when
the wizard is built, never at the app's start (see ``training_page.TrainingPage``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, QStandardPaths, Qt
from PySide6.QtGui import QAction, QColor, QFont, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dpm_desktop.core.atomic import atomic_path

BACKGROUND, GRID, AXIS_TEXT, TITLE, BORDER = "#1b1d21", "#2c3036", "#8a93a0", "#c9ced6", "#353940"
MAX_MARKED_POINTS = 40  # fewer points than this get a dot each


def smooth(values: Sequence[float], weight: float = 0.6) -> list[float]:
    """Exponential smoothing (as TensorBoard's), debiased at the start."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out.append(acc / (1 - weight ** (i + 1)))
    return out


def latest_text(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


class _XSpan(pg.GraphicsObject):
    """Draws nothing; its x bounds (0 to the run's length) enter pyqtgraph's auto-range and View
    All, so a live curve grows across the plot instead of always filling it."""

    def __init__(self) -> None:
        super().__init__()
        self.hi = 1.0

    def set_hi(self, hi: float) -> None:
        self.hi = hi
        self.informViewBoundsChanged()

    def dataBounds(self, axis: int, frac: float = 1.0, orthoRange: object = None) -> tuple[float, float] | None:
        return (0.0, self.hi) if axis == 0 else None

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(self, *_args: object) -> None:
        pass


class _Axis(pg.AxisItem):
    """pyqtgraph's axis with one level of ticks (so one grid), and on a log scale only the round
    values 1, 2 and 5 x 10^k: pyqtgraph labels every 1..9 x 10^k, which overlap within a decade."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.setStyle(maxTickLevel=0)

    def logTickValues(self, minVal: float, maxVal: float, size: float,
                      stdTicks: list) -> list:
        values = sorted({round(float(v), 9) for _, level in super().logTickValues(minVal, maxVal, size, stdTicks)
                         for v in level})
        round_values = [v for v in values if _mantissa(v) in (1, 2, 5)]
        if len(round_values) > 7:
            round_values = [v for v in round_values if _mantissa(v) == 1]
        return [(None, round_values if len(round_values) >= 2 else values)]


def _mantissa(log_value: float) -> int | None:
    """The leading digit of 10^log_value when it is a whole 1..9 x 10^k, else None."""
    m = 10 ** (log_value - math.floor(log_value))
    return round(m) if abs(m - round(m)) < 1e-6 else None


class CurvePlot(QFrame):
    """A titled curve with the latest value in the header. ``log_y`` offers a log-scale toggle for
    the y axis, on at first; it applies only while every value is positive. ``err`` draws error
    bars (on a linear axis); ``smoothed`` draws an exponentially smoothed curve over a faint raw one."""

    def __init__(self, title: str, color: str, *, empty_text: str = "", log_y: bool = False,
                 smoothed: bool = False, x_label: str = "step", y_label: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.color, self.smoothed = title, QColor(color), smoothed
        self.log_y = log_y
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.err: list[float] | None = None
        self.setObjectName("curvePlot")
        self.setStyleSheet(f"QFrame#curvePlot {{ background: {BACKGROUND}; border: 1px solid {BORDER}; "
                           "border-radius: 5px; }")
        self.setMinimumSize(220, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))

        self.title_label = QLabel(title)
        self.value_label = QLabel()
        for label, fg in ((self.title_label, TITLE), (self.value_label, color)):
            label.setFont(small)
            label.setStyleSheet(f"color: {fg}; background: transparent;")
        self.log_action = QAction("Log scale", self, checkable=True, checked=log_y)
        self.log_action.setToolTip("Logarithmic y axis")
        self.log_action.toggled.connect(self._apply_log)
        self.export_action = QAction("Export as image…", self)
        self.export_action.triggered.connect(self.ask_export)
        self.log_button = QToolButton()
        self.log_button.setDefaultAction(self.log_action)
        self.log_button.setText("log")
        self.log_button.setFont(small)
        self.log_button.setStyleSheet(f"QToolButton {{ color: {AXIS_TEXT}; padding: 0 4px; }}")
        self.log_button.setVisible(log_y)
        keep_place = self.log_button.sizePolicy()
        keep_place.setRetainSizeWhenHidden(log_y)  # hidden for an export, without moving the header
        self.log_button.setSizePolicy(keep_place)
        head = QHBoxLayout()
        head.setContentsMargins(4, 0, 2, 0)
        head.setSpacing(6)
        head.addWidget(self.title_label, 1)
        head.addWidget(self.log_button)  # before the value: an export leaves its place blank, not the corner's
        head.addWidget(self.value_label)

        self.empty_label = QLabel(empty_text)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setFont(small)
        self.empty_label.setStyleSheet(f"color: {AXIS_TEXT}; background: transparent;")
        self.plot = pg.PlotWidget(background=BACKGROUND,  # no OpenGL: pyqtgraph's default
                                  axisItems={"left": _Axis("left"), "bottom": _Axis("bottom")})
        self.plot.setToolTip("Drag to pan, scroll to zoom; right-click for View All, log scale and export")
        self._style_plot(small, x_label, y_label)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.plot)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(0)
        lay.addLayout(head)
        lay.addLayout(self.stack, 1)

        faint = QColor(self.color)
        faint.setAlphaF(0.35 if smoothed else 1.0)
        self.raw_item = self.plot.plot(pen=pg.mkPen(faint, width=1.2), antialias=True)
        self.smooth_item = self.plot.plot(pen=pg.mkPen(self.color, width=2.0), antialias=True)
        self.error_bars = pg.ErrorBarItem(beam=0, pen=pg.mkPen(self.color.darker(140), width=1))
        self.plot.addItem(self.error_bars)
        self.span = _XSpan()
        self.plot.addItem(self.span)

    def sizeHint(self) -> QSize:
        return QSize(360, 220)  # the same empty or not: plots sharing a column keep their heights

    def _style_plot(self, font: QFont, x_label: str, y_label: str) -> None:
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False, enableViewBoxMenu=True)  # pyqtgraph's "Plot Options" would bypass ours
        item.showGrid(x=True, y=True, alpha=1.0)
        label_style = {"color": AXIS_TEXT, "font-size": f"{font.pointSizeF():g}pt"}
        for name, text in (("bottom", x_label), ("left", y_label)):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(GRID))  # the axis line and the grid lines
            axis.setTextPen(pg.mkPen(AXIS_TEXT))
            axis.setTickFont(font)
            axis.enableAutoSIPrefix(False)  # "1000", not "1 (x1e+03)"
            axis.setZValue(-1)  # the grid behind the curves (pyqtgraph draws axes over the view)
            if text:
                axis.setLabel(text, **label_style)
        item.getAxis("left").setWidth(42)
        # The scene's menu entries end every context menu: ours replace pyqtgraph's "Export..." dialog.
        self.plot.scene().contextMenu = [self.log_action, self.export_action]
        self.log_action.setVisible(self.log_y)

    # data ----------------------------------------------------------------------------------------
    def set_points(self, xs: Sequence[float], ys: Sequence[float], err: Sequence[float] | None = None) -> None:
        keep = [i for i, y in enumerate(ys) if math.isfinite(y)]
        self.xs, self.ys = [float(xs[i]) for i in keep], [float(ys[i]) for i in keep]
        self.err = [float(err[i]) for i in keep] if err is not None else None
        self.stack.setCurrentWidget(self.plot if self.ys else self.empty_label)
        self.value_label.setText(latest_text(self.ys[-1]) if self.ys else "")
        x, y = np.asarray(self.xs), np.asarray(self.ys)
        marks = {"symbol": "o", "symbolSize": 5, "symbolPen": None, "symbolBrush": self.color} \
            if 0 < len(y) <= MAX_MARKED_POINTS else {"symbol": None}
        self.raw_item.setData(x, y, **marks)
        if self.smoothed and len(y) > 2:
            self.smooth_item.setData(x, np.asarray(smooth(self.ys)))
        else:
            self.smooth_item.setData([], [])
        self._apply_log()

    def set_x_max(self, x_max: float | None) -> None:
        """The run's length: the x axis spans 0 to it (or to the last point, if later)."""
        self.span.set_hi(max(float(x_max or 0), max(self.xs, default=0.0), 1.0))

    def _log_possible(self) -> bool:
        return bool(self.ys) and min(self.ys) > 0

    @property
    def log_active(self) -> bool:
        return self.log_y and self.log_action.isChecked() and self._log_possible()

    def _apply_log(self, *_args: object) -> None:
        log = self.log_active
        self.log_action.setEnabled(not self.ys or self._log_possible())
        self.log_action.setToolTip("Logarithmic y axis" if self.log_action.isEnabled()
                                   else "A log scale needs positive values")
        self.plot.getPlotItem().setLogMode(y=log)
        # pyqtgraph's error bars do not follow a log axis (they are not a PlotDataItem). Without
        # bars the item is hidden (x, y None): an empty one would pull y = 0 into the auto-range.
        if self.err and not log:
            e = np.asarray(self.err)
            self.error_bars.setData(x=np.asarray(self.xs), y=np.asarray(self.ys), top=e, bottom=e)
        else:
            self.error_bars.setData(x=None, y=None, top=None, bottom=None)

    # export --------------------------------------------------------------------------------------
    def render_image(self) -> QPixmap:
        """The plot as shown (title, latest value, curves), without the header's button."""
        shown = self.log_button.isVisible()
        self.log_button.setVisible(False)
        try:
            return self.grab()  # at the screen's pixel density
        finally:
            self.log_button.setVisible(shown)

    def export_image(self, path: Path) -> Path:
        """Write the plot as a PNG at ``path`` (with .png added unless it ends so), atomically. Returns
        the path written."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        image = self.render_image().toImage()
        with atomic_path(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError("the PNG encoder failed")
        return path

    def ask_export(self) -> Path | None:
        pictures = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation) or "")
        folder = pictures if str(pictures) != "." and pictures.is_dir() else Path.home()
        name = self.title.split("(")[0].strip() or "curve"
        chosen, _ = QFileDialog.getSaveFileName(self, "Export as image", str(folder / f"{name}.png"),
                                                "PNG image (*.png)")
        if not chosen:
            return None
        try:
            return self.export_image(Path(chosen))
        except OSError as e:
            QMessageBox.warning(self, "Cannot export the plot", f"Cannot write {chosen}: {e.strerror or e}")
            return None

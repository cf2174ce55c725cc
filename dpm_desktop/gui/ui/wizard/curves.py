"""A small line plot drawn with QPainter (no plotting dependency): the training loss per step and
the validation bound per validation, with error bars, on the app's dark theme."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

BACKGROUND, GRID, AXIS_TEXT, TITLE = "#1b1d21", "#2c3036", "#8a93a0", "#c9ced6"


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def format_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k".replace(".0k", "k")
    if abs(v) >= 10:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def smooth(values: Sequence[float], weight: float = 0.6) -> list[float]:
    """Exponential smoothing (as TensorBoard's), debiased at the start."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out.append(acc / (1 - weight ** (i + 1)))
    return out


class CurvePlot(QWidget):
    def __init__(self, title: str, color: str, *, empty_text: str = "", log_y: bool = False,
                 smoothed: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.color, self.empty_text = title, QColor(color), empty_text
        self.log_y, self.smoothed = log_y, smoothed
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.err: list[float] | None = None
        self.x_max: float | None = None  # the run's length, so the curve grows across the plot
        self.setMinimumSize(220, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_points(self, xs: Sequence[float], ys: Sequence[float], err: Sequence[float] | None = None) -> None:
        keep = [i for i, y in enumerate(ys) if math.isfinite(y)]
        self.xs, self.ys = [float(xs[i]) for i in keep], [float(ys[i]) for i in keep]
        self.err = [float(err[i]) for i in keep] if err is not None else None
        self.update()

    def set_x_max(self, x_max: float | None) -> None:
        self.x_max = x_max
        self.update()

    # geometry ------------------------------------------------------------------------------------
    def _log(self) -> bool:
        return self.log_y and bool(self.ys) and min(self.ys) > 0

    def _y_range(self) -> tuple[float, float]:
        lows = [y - (self.err[i] if self.err else 0) for i, y in enumerate(self.ys)]
        highs = [y + (self.err[i] if self.err else 0) for i, y in enumerate(self.ys)]
        lo, hi = min(lows), max(highs)
        if self._log():
            lo, hi = math.log10(min(self.ys)), math.log10(max(self.ys))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.06 * (hi - lo)
        return lo - pad, hi + pad

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor("#353940")))
        p.setBrush(QColor(BACKGROUND))
        p.drawRoundedRect(r, 5, 5)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        p.setPen(QColor(TITLE))
        p.drawText(QRectF(10, 6, r.width() - 20, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   self.title)
        if self.ys:
            p.setPen(self.color)
            p.drawText(QRectF(10, 6, r.width() - 20, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       format_tick(self.ys[-1]) if abs(self.ys[-1]) >= 10 else f"{self.ys[-1]:.4g}")
        plot = QRectF(48, 30, r.width() - 62, r.height() - 54)
        if not self.ys or plot.width() < 20 or plot.height() < 20:
            p.setPen(QColor(AXIS_TEXT))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.end()
            return
        x_lo = 0.0
        x_hi = max(self.x_max or 0, max(self.xs), 1.0)
        y_lo, y_hi = self._y_range()
        log = self._log()

        def to_px(x: float, y: float) -> QPointF:
            yy = math.log10(y) if log else y
            return QPointF(plot.left() + (x - x_lo) / (x_hi - x_lo) * plot.width(),
                           plot.bottom() - (yy - y_lo) / (y_hi - y_lo) * plot.height())

        # grid and axes
        p.setPen(QPen(QColor(GRID), 1))
        ticks_y = _log_ticks(y_lo, y_hi) if log else nice_ticks(y_lo, y_hi)
        for t in ticks_y:
            yy = math.log10(t) if log else t
            if y_lo <= yy <= y_hi:
                y = plot.bottom() - (yy - y_lo) / (y_hi - y_lo) * plot.height()
                p.setPen(QPen(QColor(GRID), 1))
                p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
                p.setPen(QColor(AXIS_TEXT))
                p.drawText(QRectF(0, y - 8, plot.left() - 6, 16),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, format_tick(t))
        for t in nice_ticks(x_lo, x_hi, 4):
            x = plot.left() + (t - x_lo) / (x_hi - x_lo) * plot.width()
            p.setPen(QPen(QColor(GRID), 1))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            p.setPen(QColor(AXIS_TEXT))
            p.drawText(QRectF(x - 30, plot.bottom() + 3, 60, 16), Qt.AlignmentFlag.AlignHCenter, format_tick(t))

        # error bars, the raw series (faint when a smoothed one is drawn over it), the points
        if self.err:
            p.setPen(QPen(self.color.darker(140), 1))
            for x, y, e in zip(self.xs, self.ys, self.err, strict=True):
                if e > 0 and not log:
                    p.drawLine(to_px(x, y - e), to_px(x, y + e))
        faint = QColor(self.color)
        faint.setAlphaF(0.35 if self.smoothed and len(self.ys) > 2 else 1.0)
        self._polyline(p, [to_px(x, y) for x, y in zip(self.xs, self.ys, strict=True)], faint, 1.2)
        if self.smoothed and len(self.ys) > 2:
            self._polyline(p, [to_px(x, y) for x, y in zip(self.xs, smooth(self.ys), strict=True)], self.color, 2.0)
        if len(self.ys) <= 40:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.color)
            for x, y in zip(self.xs, self.ys, strict=True):
                p.drawEllipse(to_px(x, y), 2.5, 2.5)
        p.end()

    @staticmethod
    def _polyline(p: QPainter, pts: list[QPointF], color: QColor, width: float) -> None:
        if not pts:
            return
        path = QPainterPath(pts[0])
        for q in pts[1:]:
            path.lineTo(q)
        p.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks at 1, 2, 5 x 10^k within [10^lo, 10^hi] (lo, hi are log10 values)."""
    out = []
    for k in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**k
            if lo <= math.log10(v) <= hi:
                out.append(v)
    if len(out) > 6:
        out = [v for v in out if f"{v:e}".startswith("1")] or out
    if len(out) < 3:  # a narrow range (less than a decade): round values, placed logarithmically
        out = [v for v in nice_ticks(10**lo, 10**hi, 3) if v > 0 and lo <= math.log10(v) <= hi]
    return out

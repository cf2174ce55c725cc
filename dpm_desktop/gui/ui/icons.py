"""Small line icons drawn with QPainter, so the app needs no icon theme or image files."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

INK = QColor("#d5d9e0")
DISABLED = QColor("#5b616b")
ACCENT = QColor("#5aa9ff")

Draw = Callable[[QPainter], None]


def _poly(p: QPainter, *pts: tuple[float, float], close: bool = False) -> None:
    poly = QPolygonF([QPointF(x, y) for x, y in pts])
    if close:
        p.drawPolygon(poly)
    else:
        p.drawPolyline(poly)


def _open(p: QPainter) -> None:
    _poly(p, (3, 19), (3, 6), (9, 6), (11, 8), (19, 8), (19, 11))
    _poly(p, (3, 19), (6, 11), (22, 11), (19, 19), close=True)


def _save(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(4, 4, 16, 16), 2, 2)
    p.drawRect(QRectF(8, 4, 8, 5))
    p.drawRect(QRectF(7, 13, 10, 7))


def _undo(p: QPainter) -> None:
    path = QPainterPath(QPointF(7, 10))
    path.cubicTo(QPointF(10, 6), QPointF(20, 6), QPointF(19, 14))
    path.cubicTo(QPointF(18.5, 17), QPointF(16, 19), QPointF(13, 19))
    p.drawPath(path)
    _poly(p, (7, 5), (7, 10), (12, 10))


def _redo(p: QPainter) -> None:
    p.translate(24, 0)
    p.scale(-1, 1)
    _undo(p)


def _brush(p: QPainter) -> None:
    _poly(p, (20, 4), (11, 13))
    path = QPainterPath(QPointF(11, 13))
    path.cubicTo(QPointF(7, 11), QPointF(4, 14), QPointF(5, 17))
    path.cubicTo(QPointF(5.5, 19), QPointF(4, 20), QPointF(3, 20.5))
    path.cubicTo(QPointF(8, 21.5), QPointF(13, 19), QPointF(11, 13))
    p.drawPath(path)


def _eraser(p: QPainter) -> None:
    _poly(p, (9, 20), (3.5, 14.5), (13, 5), (20, 12), (12, 20), close=True)
    _poly(p, (8, 10), (15, 17))
    _poly(p, (9, 20), (21, 20))


def _rect(p: QPainter) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setDashPattern([2.5, 2])
    p.setPen(pen)
    p.drawRect(QRectF(4, 6, 16, 12))


def _lasso(p: QPainter) -> None:
    p.drawEllipse(QRectF(4, 4, 16, 11))
    path = QPainterPath(QPointF(8, 14))
    path.cubicTo(QPointF(6, 17), QPointF(9, 19), QPointF(7, 21))
    p.drawPath(path)


def _hand(p: QPainter) -> None:
    path = QPainterPath(QPointF(8, 13))
    path.lineTo(8, 5.5)
    path.arcTo(QRectF(8, 4, 3, 3), 180, -180)
    path.lineTo(11, 11)
    path.lineTo(11, 4)
    path.arcTo(QRectF(11, 2.5, 3, 3), 180, -180)
    path.lineTo(14, 11)
    path.lineTo(14, 5)
    path.arcTo(QRectF(14, 3.5, 3, 3), 180, -180)
    path.lineTo(17, 12)
    path.lineTo(17, 8)
    path.arcTo(QRectF(17, 6.5, 3, 3), 180, -180)
    path.lineTo(20, 15)
    path.cubicTo(QPointF(20, 19), QPointF(17, 21.5), QPointF(13, 21.5))
    path.cubicTo(QPointF(9, 21.5), QPointF(7, 19), QPointF(4.5, 14.5))
    path.cubicTo(QPointF(4, 13), QPointF(6.5, 12), QPointF(8, 14))
    p.drawPath(path)


def _fit(p: QPainter) -> None:
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        p.save()
        p.translate(12, 12)
        p.scale(sx, sy)
        _poly(p, (-8, -3), (-8, -8), (-3, -8))
        p.restore()
    p.drawRect(QRectF(8.5, 8.5, 7, 7))


def _actual(p: QPainter) -> None:
    f = p.font()
    f.setPixelSize(10)
    f.setBold(True)
    p.setFont(f)
    p.drawText(QRectF(0, 0, 24, 24), Qt.AlignmentFlag.AlignCenter, "1:1")


def _compare(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3, 5, 18, 14), 2, 2)
    _poly(p, (12, 2.5), (12, 21.5))
    fill = QColor(p.pen().color())
    fill.setAlpha(110)
    p.fillRect(QRectF(12, 5, 9, 14), fill)


def _run(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    _poly(p, (8, 5), (19, 12), (8, 19), close=True)


def _stop(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawRoundedRect(QRectF(6, 6, 12, 12), 2, 2)


def _batch(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(7, 3, 13, 13), 2, 2)
    _poly(p, (4, 7), (4, 20), (16, 20))


def _mask(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3, 4, 18, 16), 2, 2)
    p.setBrush(p.pen().color())
    p.drawEllipse(QRectF(8, 8, 8, 8))


_DRAWERS: dict[str, Draw] = {
    "open": _open, "save": _save, "undo": _undo, "redo": _redo, "brush": _brush, "eraser": _eraser,
    "rect": _rect, "lasso": _lasso, "pan": _hand, "fit": _fit, "actual": _actual, "compare": _compare,
    "run": _run, "stop": _stop, "batch": _batch, "mask": _mask,
}


def _pixmap(draw: Draw, color: QColor, size: int = 48) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 24, size / 24)
    pen = QPen(color, 1.6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    draw(p)
    p.end()
    return pm


def icon(name: str) -> QIcon:
    draw = _DRAWERS[name]
    ic = QIcon()
    ic.addPixmap(_pixmap(draw, INK), QIcon.Mode.Normal, QIcon.State.Off)
    ic.addPixmap(_pixmap(draw, ACCENT), QIcon.Mode.Normal, QIcon.State.On)
    ic.addPixmap(_pixmap(draw, DISABLED), QIcon.Mode.Disabled, QIcon.State.Off)
    return ic

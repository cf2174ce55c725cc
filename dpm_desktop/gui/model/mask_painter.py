"""Painting into the document's mask: brush and eraser dabs, rectangles, lassos.

One :class:`MaskStroke` per mouse gesture; ``finish()`` records it as one undo step holding only
the pixels the gesture touched.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPolygonF, QRadialGradient

from .document import Document

OPAQUE = QColor(0, 0, 0, 255)  # on an Alpha8 image only the alpha counts


class MaskStroke:
    def __init__(self, doc: Document, *, erase: bool, text: str) -> None:
        self.doc, self.erase, self.text = doc, erase, text
        self.before = doc.mask.copy()
        self.dirty = QRect()
        self._carry = 0.0  # distance left over since the last dab, so spacing stays even

    def _painter(self) -> QPainter:
        p = QPainter(self.doc.mask)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        mode = QPainter.CompositionMode
        p.setCompositionMode(mode.CompositionMode_DestinationOut if self.erase else mode.CompositionMode_SourceOver)
        return p

    def _touched(self, rect: QRectF) -> None:
        r = rect.toAlignedRect().adjusted(-1, -1, 1, 1).intersected(self.doc.mask.rect())
        if not r.isEmpty():
            self.dirty = self.dirty.united(r)
            self.doc.maskChanged.emit(r)

    @staticmethod
    def _brush(center: QPointF, radius: float, hardness: float) -> QBrush:
        if hardness >= 0.99 or radius < 1.5:
            return QBrush(OPAQUE)
        g = QRadialGradient(center, radius)
        g.setColorAt(0.0, OPAQUE)
        g.setColorAt(max(0.0, min(0.98, hardness)), OPAQUE)
        g.setColorAt(1.0, QColor(0, 0, 0, 0))
        return QBrush(g)

    def dab_line(self, a: QPointF, b: QPointF, size: float, hardness: float) -> None:
        """Dabs from a to b (image coordinates), spaced a fraction of the brush size."""
        radius = max(0.5, size / 2)
        spacing = max(0.5, radius * (0.15 if hardness < 0.99 else 0.3))
        length = math.hypot(b.x() - a.x(), b.y() - a.y())
        points: list[QPointF] = []
        if length == 0:
            points.append(QPointF(b))
        else:
            d = spacing - self._carry if self._carry else 0.0
            while d <= length:
                t = d / length
                points.append(QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t))
                d += spacing
            self._carry = length - (d - spacing)
        if not points:
            return
        p = self._painter()
        for c in points:
            p.setBrush(self._brush(c, radius, hardness))
            p.drawEllipse(c, radius, radius)
        p.end()
        xs, ys = [q.x() for q in points], [q.y() for q in points]
        self._touched(QRectF(min(xs) - radius, min(ys) - radius, max(xs) - min(xs) + 2 * radius,
                             max(ys) - min(ys) + 2 * radius))

    def fill_rect(self, rect: QRectF) -> None:
        p = self._painter()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.fillRect(rect.normalized(), OPAQUE)
        p.end()
        self._touched(rect.normalized())

    def fill_polygon(self, polygon: QPolygonF) -> None:
        if polygon.size() < 3:
            return
        p = self._painter()
        p.setBrush(OPAQUE)
        p.drawPolygon(polygon)
        p.end()
        self._touched(polygon.boundingRect())

    def finish(self) -> None:
        if not self.dirty.isEmpty():
            self.doc.push_mask_edit(self.dirty, self.before, self.text)
        self.before = None  # type: ignore[assignment]  # free the snapshot

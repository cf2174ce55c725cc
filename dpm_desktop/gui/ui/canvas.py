"""The image view: zoom and pan, mask painting, and the before/after comparison.

Only the visible part of the photo is drawn, from a pyramid level matching the zoom, so a
24-megapixel photo pans and zooms as smoothly as a small one. Coordinates: "image" = photo pixels,
"view" = widget pixels; ``view = image * zoom + origin``.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from ..model.document import Document
from ..model.mask_painter import MaskStroke
from .pyramid import Pyramid

BACKGROUND = QColor("#1b1d21")
MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
SPLIT_GRAB_PX = 8


class Tool(enum.Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    RECT = "rect"
    LASSO = "lasso"
    PAN = "pan"


class ViewMode(enum.Enum):
    SPLIT = "split"  # before on the left of the divider, after on the right
    BEFORE = "before"
    AFTER = "after"


class Canvas(QWidget):
    zoomChanged = Signal(float)
    cursorMoved = Signal(object)  # QPoint in image pixels, or None when outside the image
    brushSizeChanged = Signal(int)
    maskVisibilityChanged = Signal(bool)
    viewModeChanged = Signal(object)  # ViewMode

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 240)
        self.zoom, self.origin, self.fit_mode = 1.0, QPointF(0, 0), True
        self.tool = Tool.BRUSH
        self.brush_size, self.hardness = 40, 0.7
        self.overlay_color, self.overlay_opacity = QColor("#ff3b5c"), 0.5
        self.show_mask = True
        self.view_mode = ViewMode.SPLIT
        self.split = 0.5  # divider position as a fraction of the widget width
        self.show_uncertainty = False
        self.anomaly_overlay: Pyramid | None = None  # Find Defects' coloured map, over the whole photo
        self.show_anomaly = False
        self._pyramid: Pyramid | None = None
        self._result_pyramid: Pyramid | None = None
        self.live_preview: tuple[QImage, QRect] | None = None  # a fill being refined, drawn where it goes
        self._space = False
        self._drag: str | None = None  # "pan", "stroke", "rect", "lasso", "split"
        self._last_view = QPointF()
        self._last_image = QPointF()
        self._stroke: MaskStroke | None = None
        self._rect_start = QPointF()
        self._rect_end = QPointF()
        self._lasso: list[QPointF] = []
        self._mouse: QPointF | None = None
        self._busy: str | None = None  # e.g. "Opening photo.jpg…", drawn over the view
        doc.imageChanged.connect(self._on_image_changed)
        doc.maskChanged.connect(self._on_mask_changed)
        doc.resultChanged.connect(self._on_result_changed)
        self._update_cursor()

    # coordinates -----------------------------------------------------------------------------
    def to_view(self, p: QPointF) -> QPointF:
        return QPointF(p.x() * self.zoom + self.origin.x(), p.y() * self.zoom + self.origin.y())

    def to_image(self, p: QPointF) -> QPointF:
        return QPointF((p.x() - self.origin.x()) / self.zoom, (p.y() - self.origin.y()) / self.zoom)

    def view_rect(self, r: QRectF | QRect) -> QRectF:
        r = QRectF(r)
        tl = self.to_view(r.topLeft())
        return QRectF(tl.x(), tl.y(), r.width() * self.zoom, r.height() * self.zoom)

    def image_rect(self) -> QRectF:
        return self.view_rect(QRectF(0, 0, self.doc.width, self.doc.height))

    # zoom and pan ----------------------------------------------------------------------------
    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        fixed = self.to_image(anchor)  # keep the pixel under the anchor in place
        self.zoom = zoom
        self.origin = QPointF(anchor.x() - fixed.x() * zoom, anchor.y() - fixed.y() * zoom)
        self.fit_mode = False
        self.update()
        self.zoomChanged.emit(self.zoom)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom * factor, anchor)

    def fit(self) -> None:
        if not self.doc.has_image:
            return
        margin = 24
        w, h = max(1, self.width() - 2 * margin), max(1, self.height() - 2 * margin)
        self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, w / self.doc.width, h / self.doc.height))
        self.origin = QPointF((self.width() - self.doc.width * self.zoom) / 2,
                              (self.height() - self.doc.height * self.zoom) / 2)
        self.fit_mode = True
        self.update()
        self.zoomChanged.emit(self.zoom)

    def center_on(self, point: QPointF, zoom: float | None = None) -> None:
        """Show image point ``point`` in the middle of the view (at ``zoom``, if given)."""
        if zoom is not None:
            self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        self.origin = QPointF(self.width() / 2 - point.x() * self.zoom, self.height() / 2 - point.y() * self.zoom)
        self.fit_mode = False
        self.update()
        self.zoomChanged.emit(self.zoom)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def pan_by(self, dx: float, dy: float) -> None:
        self.origin += QPointF(dx, dy)
        self.fit_mode = False
        self.update()

    # tools and display options -----------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self._update_cursor()
        self.update()

    def set_brush_size(self, size: int) -> None:
        size = max(1, min(1000, int(size)))
        if size != self.brush_size:
            self.brush_size = size
            self.brushSizeChanged.emit(size)
            self.update()

    def set_hardness(self, hardness: float) -> None:
        self.hardness = max(0.0, min(1.0, hardness))

    def set_overlay(self, color: QColor | None = None, opacity: float | None = None) -> None:
        if color is not None:
            self.overlay_color = QColor(color)
        if opacity is not None:
            self.overlay_opacity = max(0.0, min(1.0, opacity))
        self.update()

    def set_mask_visible(self, visible: bool) -> None:
        if visible != self.show_mask:
            self.show_mask = visible
            self.maskVisibilityChanged.emit(visible)
            self.update()

    def set_view_mode(self, mode: ViewMode) -> None:
        if mode != self.view_mode:
            self.view_mode = mode
            self.viewModeChanged.emit(mode)
            self.update()

    def toggle_before_after(self) -> None:
        self.set_view_mode(ViewMode.BEFORE if self.view_mode != ViewMode.BEFORE else ViewMode.AFTER)

    def set_split(self, fraction: float) -> None:
        self.split = max(0.0, min(1.0, fraction))
        self.update()

    def set_uncertainty_visible(self, visible: bool) -> None:
        self.show_uncertainty = visible
        self.update()

    def set_anomaly_overlay(self, image: QImage | None) -> None:
        self.anomaly_overlay = Pyramid(image) if image is not None else None  # cheap to draw zoomed out
        self.update()

    def set_anomaly_visible(self, visible: bool) -> None:
        self.show_anomaly = visible
        self.update()

    def set_busy(self, text: str | None) -> None:
        self._busy = text
        self.update()

    def _update_cursor(self) -> None:
        if self._drag == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space or self.tool == Tool.PAN:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._near_split(self._mouse):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    # document signals ----------------------------------------------------------------------
    def _on_image_changed(self, rect: QRect) -> None:
        size_changed = self._pyramid is None or self._pyramid.base.size() != self.doc.image.size()
        self._pyramid = Pyramid(self.doc.image) if self.doc.has_image else None
        if rect.isNull() or size_changed:
            self.fit()
        self.update()

    def _on_mask_changed(self, rect: QRect) -> None:
        if rect.isNull():
            self.update()
        else:
            self.update(self.view_rect(rect).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _on_result_changed(self) -> None:
        result = self.doc.result
        self._result_pyramid = Pyramid(result.image) if result is not None else None
        if result is not None:
            self.set_mask_visible(False)  # show the fill, not the mask over it; painting shows it again
        self.update()

    def set_live_preview(self, image: QImage, region: QRect) -> None:
        """Show a running inpainting's current fill in place (the mask overlay steps aside meanwhile)."""
        self.live_preview = (image, QRect(region))
        self.update()

    def clear_live_preview(self) -> None:
        if self.live_preview is not None:
            self.live_preview = None
            self.update()

    def _result_visible(self) -> bool:
        return self.doc.result is not None and self.view_mode != ViewMode.BEFORE

    # painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), BACKGROUND)
        if not self.doc.has_image or self._pyramid is None:
            if self._busy is None:
                self._paint_empty(p)
            self._draw_busy(p)
            return
        clip = QRectF(event.rect())
        self._draw_layer(p, self._pyramid, QRectF(0, 0, self.doc.width, self.doc.height), clip)
        result = self.doc.result
        live = self.live_preview if result is None and self.view_mode != ViewMode.BEFORE else None
        if live is not None:
            p.save()
            p.setClipRect(clip)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2)
            p.drawImage(self.view_rect(live[1]), live[0])
            p.restore()
        if result is not None and self._result_pyramid is not None and self.view_mode != ViewMode.BEFORE:
            side = clip
            if self.view_mode == ViewMode.SPLIT:
                side = clip.intersected(QRectF(self.split * self.width(), 0, self.width(), self.height()))
            if not side.isEmpty():
                self._draw_layer(p, self._result_pyramid, QRectF(result.region), side)
                if self.show_uncertainty and result.uncertainty is not None:
                    p.save()
                    p.setOpacity(0.8)
                    p.setClipRect(side)
                    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2)
                    p.drawImage(self.view_rect(result.region), result.uncertainty)
                    p.restore()
        anomaly = self.anomaly_overlay
        if self.show_anomaly and anomaly is not None and anomaly.base.size() == self.doc.image.size():
            p.save()
            p.setOpacity(0.85)
            self._draw_layer(p, anomaly, QRectF(0, 0, self.doc.width, self.doc.height), clip)
            p.restore()
        if self.show_mask and live is None:
            self._draw_mask(p, clip)
        if result is not None and self.view_mode == ViewMode.SPLIT:
            self._draw_split(p)
        self._draw_tool_feedback(p)
        self._draw_busy(p)
        p.end()

    def _draw_busy(self, p: QPainter) -> None:
        if self._busy is None:
            return
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() + 2)
        p.setFont(font)
        w = p.fontMetrics().horizontalAdvance(self._busy) + 40
        box = QRectF((self.width() - w) / 2, self.height() / 2 - 22, w, 44)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 22, 26, 220))
        p.drawRoundedRect(box, 10, 10)
        p.setPen(QColor("#e8eaed"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._busy)
        p.restore()

    def _draw_layer(self, p: QPainter, pyramid: Pyramid, dest: QRectF, clip: QRectF) -> None:
        """Draw ``pyramid`` (covering ``dest`` in image pixels) where it meets ``clip`` (view)."""
        target = self.view_rect(dest).intersected(clip)
        if target.isEmpty():
            return
        level, scale = pyramid.level_for(self.zoom)
        k = scale / self.zoom  # level pixels per view pixel
        vd = self.view_rect(dest)
        src = QRectF((target.x() - vd.x()) * k, (target.y() - vd.y()) * k, target.width() * k, target.height() * k)
        p.save()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2)
        p.drawImage(target, level, src)
        p.restore()

    def _draw_mask(self, p: QPainter, clip: QRectF) -> None:
        target = self.image_rect().intersected(clip).toAlignedRect()
        if target.isEmpty():
            return
        src_tl = self.to_image(QPointF(target.topLeft()))
        src = QRectF(src_tl.x(), src_tl.y(), target.width() / self.zoom, target.height() / self.zoom)
        # Colour the 8-bit coverage through a view-sized buffer: cheap at any image size.
        buf = QImage(target.size(), QImage.Format.Format_ARGB32_Premultiplied)
        buf.fill(0)
        bp = QPainter(buf)
        bp.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2)
        bp.drawImage(QRectF(0, 0, target.width(), target.height()), self.doc.mask, src)
        bp.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        bp.fillRect(buf.rect(), self.overlay_color)
        bp.end()
        p.save()
        p.setOpacity(self.overlay_opacity)
        p.drawImage(target.topLeft(), buf)
        p.restore()

    def _draw_split(self, p: QPainter) -> None:
        x = round(self.split * self.width())
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(0, 0, 0, 120), 3))
        p.drawLine(x, 0, x, self.height())
        p.setPen(QPen(QColor("#f2f4f7"), 1.5))
        p.drawLine(x, 0, x, self.height())
        cy = self.height() / 2
        p.setBrush(QColor("#f2f4f7"))
        p.setPen(QPen(QColor(0, 0, 0, 140), 1))
        p.drawEllipse(QPointF(x, cy), 11, 11)
        p.setPen(QPen(QColor("#2a2d33"), 1.6))
        for sgn in (-1, 1):  # two small arrows on the grip
            tip = x + sgn * 7
            p.drawLine(QPointF(tip, cy), QPointF(tip - sgn * 4, cy - 4))
            p.drawLine(QPointF(tip, cy), QPointF(tip - sgn * 4, cy + 4))
        self._label(p, "Before", QPointF(x - 10, 14), Qt.AlignmentFlag.AlignRight)
        self._label(p, "After", QPointF(x + 10, 14), Qt.AlignmentFlag.AlignLeft)
        p.restore()

    def _label(self, p: QPainter, text: str, at: QPointF, align: Qt.AlignmentFlag) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF() - 0.5))
        font.setBold(True)
        p.setFont(font)
        w = p.fontMetrics().horizontalAdvance(text) + 16
        h = p.fontMetrics().height() + 6
        left = at.x() - w if align == Qt.AlignmentFlag.AlignRight else at.x()
        box = QRectF(left, at.y(), w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 22, 26, 190))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor("#e8eaed"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_tool_feedback(self, p: QPainter) -> None:
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._drag == "rect":
            r = QRectF(self.to_view(self._rect_start), self.to_view(self._rect_end)).normalized()
            p.setBrush(QColor(255, 255, 255, 30))
            p.setPen(QPen(QColor("#ffffff"), 1, Qt.PenStyle.DashLine))
            p.drawRect(r)
        elif self._drag == "lasso" and len(self._lasso) > 1:
            p.setPen(QPen(QColor("#ffffff"), 1.2, Qt.PenStyle.DashLine))
            p.setBrush(QColor(255, 255, 255, 30))
            p.drawPolygon(QPolygonF([self.to_view(q) for q in self._lasso]))
        if self._mouse is not None and self._drag != "pan" and not self._space and \
                self.tool in (Tool.BRUSH, Tool.ERASER) and self.image_rect().contains(self._mouse):
            r = max(1.0, self.brush_size * self.zoom / 2)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(0, 0, 0, 160), 2.5))
            p.drawEllipse(self._mouse, r, r)
            p.setPen(QPen(QColor(255, 255, 255, 230), 1.2))
            p.drawEllipse(self._mouse, r, r)
            if self.hardness < 0.99 and r > 6:
                p.setPen(QPen(QColor(255, 255, 255, 110), 1, Qt.PenStyle.DotLine))
                p.drawEllipse(self._mouse, r * max(self.hardness, 0.05), r * max(self.hardness, 0.05))
        p.restore()

    def _paint_empty(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = QPointF(self.width() / 2, self.height() / 2)
        box = QRectF(c.x() - 190, c.y() - 110, 380, 220)
        p.setPen(QPen(QColor("#3a3f47"), 2, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(box, 14, 14)
        title = QFont(self.font())
        title.setPointSizeF(title.pointSizeF() + 5)
        p.setFont(title)
        p.setPen(QColor("#c9ced6"))
        p.drawText(box.adjusted(0, 40, 0, -110), Qt.AlignmentFlag.AlignCenter, "Open a photo to restore")
        p.setFont(self.font())
        p.setPen(QColor("#8a93a0"))
        p.drawText(box.adjusted(20, 100, -20, -20), Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap,
                   "Drop an image here, press Ctrl+O,\nor pick one from File ▸ Open Recent.")

    # mouse and keyboard ----------------------------------------------------------------------
    def _near_split(self, pos: QPointF | None) -> bool:
        return (pos is not None and self.doc.result is not None and self.view_mode == ViewMode.SPLIT
                and abs(pos.x() - self.split * self.width()) <= SPLIT_GRAB_PX)

    def _cursor_region(self, pos: QPointF | None) -> QRect:
        if pos is None:
            return QRect()
        r = self.brush_size * self.zoom / 2 + 4
        return QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r).toAlignedRect()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self.setFocus()
        pos = e.position()
        left = e.button() == Qt.MouseButton.LeftButton
        if e.button() == Qt.MouseButton.MiddleButton or (left and (self._space or self.tool == Tool.PAN)):
            self._drag, self._last_view = "pan", pos
        elif left and self._near_split(pos):
            self._drag = "split"
        elif left and self.doc.has_image:
            ipos = self.to_image(pos)
            erase = self.tool == Tool.ERASER or bool(e.modifiers() & Qt.KeyboardModifier.AltModifier)
            self.set_mask_visible(True)
            if self.tool in (Tool.BRUSH, Tool.ERASER):
                self._drag = "stroke"
                self._stroke = MaskStroke(self.doc, erase=erase, text="Erase" if erase else "Brush stroke")
                self._stroke.dab_line(ipos, ipos, self.brush_size, self.hardness)
                self._last_image = ipos
            elif self.tool == Tool.RECT:
                self._drag, self._rect_start, self._rect_end = "rect", ipos, ipos
                self._stroke = MaskStroke(self.doc, erase=erase, text="Erase rectangle" if erase else "Rectangle")
            elif self.tool == Tool.LASSO:
                self._drag, self._lasso = "lasso", [ipos]
                self._stroke = MaskStroke(self.doc, erase=erase, text="Erase lasso" if erase else "Lasso")
        self._update_cursor()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        old = self._mouse
        self._mouse = pos
        ipos = self.to_image(pos)
        if self._drag == "pan":
            delta = pos - self._last_view
            self._last_view = pos
            self.pan_by(delta.x(), delta.y())
        elif self._drag == "split":
            self.set_split(pos.x() / max(1, self.width()))
        elif self._drag == "stroke" and self._stroke is not None:
            self._stroke.dab_line(self._last_image, ipos, self.brush_size, self.hardness)
            self._last_image = ipos
        elif self._drag == "rect":
            self._rect_end = ipos
            self.update()
        elif self._drag == "lasso":
            last = self._lasso[-1]
            if abs(ipos.x() - last.x()) + abs(ipos.y() - last.y()) >= 1.0 / max(self.zoom, 1e-6):
                self._lasso.append(ipos)
            self.update()
        if self._drag is None:
            self._update_cursor()
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            self.update(self._cursor_region(old).united(self._cursor_region(pos)))
        inside = self.doc.has_image and 0 <= ipos.x() < self.doc.width and 0 <= ipos.y() < self.doc.height
        self.cursorMoved.emit(QPoint(int(ipos.x()), int(ipos.y())) if inside else None)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._drag == "rect" and self._stroke is not None:
            self._stroke.fill_rect(QRectF(self._rect_start, self.to_image(e.position())))
        elif self._drag == "lasso" and self._stroke is not None:
            self._lasso.append(self.to_image(e.position()))
            self._stroke.fill_polygon(QPolygonF(self._lasso))
        if self._stroke is not None:
            self._stroke.finish()
        self._stroke, self._drag, self._lasso = None, None, []
        self._update_cursor()
        self.update()

    def leaveEvent(self, _event) -> None:
        old, self._mouse = self._mouse, None
        self.update(self._cursor_region(old))
        self.cursorMoved.emit(None)

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120
        if steps and self.doc.has_image:
            self.zoom_by(1.25 ** steps, e.position())
        e.accept()

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = True
            self._update_cursor()
            self.update(self._cursor_region(self._mouse))
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e: QKeyEvent) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            if self._drag == "pan":
                self._drag = None
            self._update_cursor()
            return
        super().keyReleaseEvent(e)

    def resizeEvent(self, e: QResizeEvent) -> None:
        if self.fit_mode:
            self.fit()
        super().resizeEvent(e)


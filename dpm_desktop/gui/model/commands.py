"""Undo commands. Each stores only the pixels it changed (a crop), so a long history of brush
strokes on a 24-megapixel photo costs megabytes, not gigabytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter, QUndoCommand

from ..convert import rect_slices

if TYPE_CHECKING:
    from .document import Document
    from .result import PendingResult


def paste(target: QImage, source: QImage, at: QPoint) -> None:
    p = QPainter(target)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
    p.drawImage(at, source)
    p.end()


class MaskEditCommand(QUndoCommand):
    """A change to the mask inside ``rect``; the first redo is skipped (already painted)."""

    def __init__(self, doc: Document, rect: QRect, before: QImage, after: QImage, text: str) -> None:
        super().__init__(text)
        self.doc, self.rect, self.before, self.after = doc, QRect(rect), before, after
        self._done = True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.doc.paste_mask(self.after, self.rect)

    def undo(self) -> None:
        self.doc.paste_mask(self.before, self.rect)


class ApplyResultCommand(QUndoCommand):
    """Make a result's chosen candidate part of the image; undo brings the result back as pending."""

    def __init__(self, doc: Document, result: PendingResult) -> None:
        super().__init__(f"Apply {result.task}")
        self.doc, self.result = doc, result
        rows, cols = rect_slices(result.region)
        self.before = doc.pixels[rows, cols].copy()
        self.before_image = doc.image.copy(result.region)
        self.after = result.crop.copy()
        self.after_image = result.image.copy()

    def redo(self) -> None:
        self.doc.replace_pixels(self.result.region, self.after, self.after_image)
        self.doc.history.append(self.result.params)
        self.doc.set_result(None)

    def undo(self) -> None:
        self.doc.replace_pixels(self.result.region, self.before, self.before_image)
        if self.doc.history:
            self.doc.history.pop()
        self.doc.set_result(self.result)


def changed_bbox(a: np.ndarray, b: np.ndarray) -> QRect:
    """The bounding box of the pixels where two same-sized masks differ (null if none)."""
    diff = a != b
    if not diff.any():
        return QRect()
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    return QRect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))

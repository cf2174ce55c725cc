"""Half-size copies of an image, so drawing a 24-megapixel photo zoomed out costs as much as
drawing a screen-sized one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

MIN_SIDE = 256


class Pyramid:
    def __init__(self, image: QImage) -> None:
        self.levels = [image]
        while min(self.levels[-1].width(), self.levels[-1].height()) > 2 * MIN_SIDE:
            top = self.levels[-1]
            self.levels.append(top.scaled(top.width() // 2, top.height() // 2, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    @property
    def base(self) -> QImage:
        return self.levels[0]

    def level_for(self, zoom: float) -> tuple[QImage, float]:
        """The smallest level still at least as detailed as the screen, and its scale."""
        w = self.base.width() or 1
        chosen = self.levels[0]
        for lvl in self.levels:
            if lvl.width() / w >= zoom:
                chosen = lvl
            else:
                break
        return chosen, chosen.width() / w

"""A finished restoration waiting to be compared, picked from and applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage


@dataclass
class PendingResult:
    task: str  # "denoise" or "inpaint"
    region: QRect  # where the candidates differ from the image (image pixels)
    crops: list[np.ndarray]  # candidate pixels inside ``region``, H x W x C float32 [0, 1]
    images: list[QImage]  # the same as RGB32 images for display
    uncertainty: QImage | None = None  # colour-mapped, region-sized, premultiplied ARGB
    params: dict[str, Any] = field(default_factory=dict)
    # Names shown under the candidates: "#1", "#2", ... and "Mean" (the average of the candidates:
    # the posterior-mean estimate, lowest error on scratches and text, smoother in large holes).
    labels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    chosen: int = 0

    @property
    def crop(self) -> np.ndarray:
        return self.crops[self.chosen]

    @property
    def image(self) -> QImage:
        return self.images[self.chosen]

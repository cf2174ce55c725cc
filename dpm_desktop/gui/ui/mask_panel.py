"""The Mask dock: brush size and hardness, overlay colour and opacity, whole-mask operations."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..model.settings import AppSettings
from .canvas import Canvas
from .widgets import ColorButton, SliderBox, action_button


class MaskPanel(QWidget):
    def __init__(self, canvas: Canvas, actions: dict[str, QAction], settings: AppSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.size = SliderBox(1, 500, settings.brush_size, " px")
        self.hardness = SliderBox(0, 100, round(settings.brush_hardness * 100), " %")
        self.color = ColorButton(settings.overlay_color)
        self.opacity = SliderBox(5, 100, round(settings.overlay_opacity * 100), " %")
        self.show_mask = QCheckBox("Show")
        self.show_mask.setChecked(True)
        self.radius = QSpinBox()
        self.radius.setRange(1, 200)
        self.radius.setValue(8)
        self.radius.setSuffix(" px")
        self.radius.setToolTip("How far Grow and Shrink move the mask's edge")
        self.radius.setMaximumWidth(80)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Size", self.size)
        form.addRow("Hardness", self.hardness)
        overlay = QHBoxLayout()
        overlay.addWidget(self.color)
        overlay.addWidget(self.opacity, 1)
        overlay.addWidget(self.show_mask)
        form.addRow("Overlay", overlay)

        ops = QGridLayout()
        ops.setHorizontalSpacing(4)
        ops.setVerticalSpacing(4)
        ops.addWidget(self._button(actions["mask_clear"]), 0, 0)
        ops.addWidget(self._button(actions["mask_invert"]), 0, 1)
        ops.addWidget(self._button(actions["mask_load"]), 0, 2)
        ops.addWidget(self._button(actions["mask_export"]), 0, 3)
        ops.addWidget(self._button(actions["mask_grow"]), 1, 0)
        ops.addWidget(self._button(actions["mask_shrink"]), 1, 1)
        ops.addWidget(self.radius, 1, 2)
        self.find = self._button(actions["find_defects"])
        ops.addWidget(self.find, 2, 0, 1, 2)
        # Lower finds more; re-thresholds the last map at once (no network), once Find Defects has run.
        self.sensitivity = SliderBox(1, 20, 6)
        self.sensitivity.setToolTip("Lower finds more, and more false alarms: about 100 x 2^(6 - S) falsely "
                                    "marked pixels per megapixel of an undamaged photo (100 at 6, 3,200 at 1). "
                                    "Changes the proposal at once.")
        sensitivity = QHBoxLayout()
        sensitivity.addWidget(QLabel("Sensitivity"))
        sensitivity.addWidget(self.sensitivity, 1)
        ops.addLayout(sensitivity, 2, 2, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.addLayout(form)
        lay.addLayout(ops)
        lay.addStretch(1)

        self.size.valueChanged.connect(canvas.set_brush_size)
        canvas.brushSizeChanged.connect(self.size.setValue)
        self.hardness.valueChanged.connect(lambda v: canvas.set_hardness(v / 100))
        self.color.colorChanged.connect(lambda c: canvas.set_overlay(color=c))
        self.opacity.valueChanged.connect(lambda v: canvas.set_overlay(opacity=v / 100))
        self.show_mask.toggled.connect(canvas.set_mask_visible)
        canvas.maskVisibilityChanged.connect(self.show_mask.setChecked)
        canvas.set_brush_size(settings.brush_size)
        canvas.set_hardness(settings.brush_hardness)
        canvas.set_overlay(settings.overlay_color, settings.overlay_opacity)

    @staticmethod
    def _button(action: QAction) -> QToolButton:
        b = action_button(action, text_beside=False)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        b.setStyleSheet("QToolButton { background: #353941; border: 1px solid #41464f; padding: 4px 8px; }"
                        "QToolButton:hover { background: #3e434c; }")
        return b

    def save(self, settings: AppSettings) -> None:
        settings.brush_size = self.canvas.brush_size
        settings.brush_hardness = self.canvas.hardness
        settings.overlay_color = self.canvas.overlay_color
        settings.overlay_opacity = self.canvas.overlay_opacity

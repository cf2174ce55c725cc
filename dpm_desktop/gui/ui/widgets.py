"""Small reusable widgets: a labelled slider with a value box, a colour swatch button, a form row."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)


class SliderBox(QWidget):
    """A slider and a spin box showing the same integer value."""

    valueChanged = Signal(int)

    def __init__(self, lo: int, hi: int, value: int, suffix: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(lo, hi)
        self.spin = QSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setSuffix(suffix)
        self.spin.setFixedWidth(70)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.slider.valueChanged.connect(self._set)
        self.spin.valueChanged.connect(self._set)
        self.setValue(value)

    def _set(self, v: int) -> None:
        for w in (self.slider, self.spin):  # keep the twin in step without echoing back
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self.valueChanged.emit(self.value())

    def value(self) -> int:
        return self.spin.value()

    def setValue(self, v: int) -> None:
        """Like QSlider.setValue: emits valueChanged when the value changes."""
        if v != self.value() or v != self.slider.value():
            self._set(v)


class ColorButton(QPushButton):
    colorChanged = Signal(QColor)

    def __init__(self, color: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(34, 24)
        self.setToolTip("Overlay colour")
        self._color = QColor(color)
        self._paint()
        self.clicked.connect(self._pick)

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, c: QColor) -> None:
        self._color = QColor(c)
        self._paint()
        self.colorChanged.emit(QColor(c))

    def _paint(self) -> None:
        self.setStyleSheet(f"QPushButton {{ background: {self._color.name()}; border: 1px solid #555b64; "
                           f"border-radius: 4px; padding: 0; }}")

    def _pick(self) -> None:
        c = QColorDialog.getColor(self._color, self, "Mask overlay colour")
        if c.isValid():
            self.set_color(c)


def action_button(action: QAction, text_beside: bool = True) -> QToolButton:
    b = QToolButton()
    b.setDefaultAction(action)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if text_beside
                         else Qt.ToolButtonStyle.ToolButtonIconOnly)
    return b


def muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label

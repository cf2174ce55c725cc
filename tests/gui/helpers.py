"""Helpers that drive the real widgets with the mouse."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from dpm_desktop.gui.theme import apply_theme
from dpm_desktop.gui.ui.main_window import MainWindow


def view_point(window: MainWindow, x: float, y: float) -> QPoint:
    """Widget coordinates on the canvas of image pixel (x, y)."""
    return window.canvas.to_view(QPointF(x, y)).toPoint()


def drag(widget: QWidget, points: Sequence[QPoint], button=Qt.MouseButton.LeftButton,
         modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Press, move through every point with the button held, release: a real mouse gesture
    (QTest.mouseMove cannot hold a button, so the moves are sent as events)."""
    first = QPointF(points[0])
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseButtonPress, first, widget.mapToGlobal(first),
                                               button, button, modifiers))
    for p in points[1:]:
        pf = QPointF(p)
        QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseMove, pf, widget.mapToGlobal(pf),
                                                   Qt.MouseButton.NoButton, button, modifiers))
    last = QPointF(points[-1])
    QApplication.sendEvent(widget, QMouseEvent(QEvent.Type.MouseButtonRelease, last, widget.mapToGlobal(last),
                                               button, Qt.MouseButton.NoButton, modifiers))


def paint_stroke(window: MainWindow, pts_image: Sequence[tuple[float, float]], **kw) -> None:
    drag(window.canvas, [view_point(window, x, y) for x, y in pts_image], **kw)


def wait_idle(qtbot, window: MainWindow, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not window.controller.jobs.busy, timeout=timeout)


def make_window(qtbot, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    apply_theme(QApplication.instance())
    w = MainWindow()
    qtbot.addWidget(w)
    # A blocking "save changes?" question would hang a test: answer "discard" unless a test says otherwise.
    monkeypatch.setattr(w, "ask_unsaved", lambda: "discard")
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def open_and_wait(qtbot, window: MainWindow, path, timeout: int = 30_000) -> None:
    """Open through the window (in the background, as a user would) and wait until it is shown."""
    with qtbot.waitSignal(window.controller.opened, timeout=timeout):
        assert window.open_path(path)


def open_and_fail(qtbot, window: MainWindow, path, timeout: int = 30_000) -> str:
    """Open a file that cannot be opened; the error message the user is shown."""
    c = window.controller
    with qtbot.waitSignal(c.error, timeout=timeout) as error, qtbot.waitSignal(c.openFailed, timeout=timeout):
        assert window.open_path(path)
    return error.args[1]

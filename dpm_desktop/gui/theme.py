"""A dark theme for long editing sessions: Fusion style, a neutral palette, one blue accent."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#4c9bf5"

STYLE = f"""
QMainWindow, QDialog {{ background: #25282d; }}
QToolBar {{ background: #2b2e34; border: none; spacing: 2px; padding: 3px; }}
QToolBar::separator {{ background: #3a3e45; width: 1px; height: 1px; margin: 4px; }}
QToolButton {{ border: 1px solid transparent; border-radius: 5px; padding: 4px; color: #d5d9e0; }}
QToolButton:hover {{ background: #363a41; }}
QToolButton:checked {{ background: #1f3550; border-color: #2f5f99; }}
QDockWidget {{ color: #aeb4bd; font-weight: 600; titlebar-close-icon: none; }}
QDockWidget::title {{ background: #2b2e34; padding: 6px 8px; text-align: left; }}
QDockWidget > QWidget {{ background: #25282d; }}
QGroupBox {{ border: 1px solid #353940; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #8f97a3; }}
QPushButton {{ background: #353941; border: 1px solid #41464f; border-radius: 5px; padding: 5px 12px;
              color: #e3e6ea; }}
QPushButton:hover {{ background: #3e434c; }}
QPushButton:pressed {{ background: #2e3238; }}
QPushButton:disabled {{ color: #6b717a; background: #2c2f35; border-color: #34383e; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:hover {{ background: #63aaf7; }}
QPushButton#primary:disabled {{ background: #2f4560; border-color: #2f4560; color: #8ea4bd; }}
QPushButton#danger:enabled {{ background: #5a2a30; border-color: #7a3640; }}
QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit {{ background: #1e2125; border: 1px solid #3b4047;
              border-radius: 4px; padding: 3px 6px; color: #e3e6ea; min-height: 20px; }}
QComboBox:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled {{ color: #6b717a; }}
/* Number fields without arrow buttons: type, scroll or use the arrow keys. (The arrows are
   hidden here, not with setButtonSymbols(NoButtons), which hides the text under a style sheet.) */
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ width: 0; border: none; }}
QComboBox QAbstractItemView {{ background: #23262b; selection-background-color: #2f5f99; }}
QSlider::groove:horizontal {{ height: 4px; background: #3a3e45; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: #e8eaed; width: 12px; height: 12px; margin: -5px 0;
              border-radius: 6px; }}
QProgressBar {{ background: #1e2125; border: 1px solid #3b4047; border-radius: 4px; height: 16px;
              text-align: center; color: #e3e6ea; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QTabBar::tab {{ background: #2b2e34; color: #aeb4bd; padding: 6px 14px; border: 1px solid #353940;
              border-bottom: none; border-top-left-radius: 5px; border-top-right-radius: 5px; }}
QTabBar::tab:selected {{ background: #353941; color: #ffffff; }}
QTabWidget::pane {{ border: 1px solid #353940; border-radius: 5px; top: -1px; }}
QListWidget {{ background: #1e2125; border: 1px solid #353940; border-radius: 4px; }}
QListWidget::item:selected {{ background: #1f3550; border: 1px solid {ACCENT}; }}
QStatusBar {{ background: #2b2e34; color: #aeb4bd; }}
QStatusBar QLabel {{ color: #aeb4bd; padding: 0 8px; border-left: 1px solid #3a3e45; }}
QMenuBar {{ background: #2b2e34; }}
QMenuBar::item:selected {{ background: #3a3e45; }}
QMenu {{ background: #2b2e34; border: 1px solid #3a3e45; }}
QMenu::item {{ padding: 5px 24px 5px 24px; }}
QMenu::item:selected {{ background: #2f5f99; }}
QMenu::separator {{ height: 1px; background: #3a3e45; margin: 4px 8px; }}
QLabel#muted {{ color: #8a93a0; }}
QLabel#card {{ background: #2b2e34; border: 1px solid #353940; border-radius: 5px; padding: 6px; }}
QLabel#banner {{ background: #4a3a1e; border: 1px solid #7a5f2a; border-radius: 5px; padding: 6px;
              color: #f3dcaa; }}
QLabel#preview {{ background: #1b1d21; border: 1px solid #353940; border-radius: 5px; }}
QToolTip {{ background: #2b2e34; color: #e3e6ea; border: 1px solid #3a3e45; }}
"""


def apply_theme(app: QApplication) -> None:
    """The dark Fusion theme, once per application: setting an application style sheet again
    re-polishes every widget alive, and a widget half torn down by then (one still waiting for its
    deleteLater) crashed Qt in app.setStyleSheet (seen when test files ran back to back)."""
    if app.property("dpm_theme_applied"):
        return
    app.setProperty("dpm_theme_applied", True)
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#25282d", QPalette.ColorRole.WindowText: "#e3e6ea",
        QPalette.ColorRole.Base: "#1e2125", QPalette.ColorRole.AlternateBase: "#2b2e34",
        QPalette.ColorRole.Text: "#e3e6ea", QPalette.ColorRole.Button: "#353941",
        QPalette.ColorRole.ButtonText: "#e3e6ea", QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2e34",
        QPalette.ColorRole.ToolTipText: "#e3e6ea", QPalette.ColorRole.PlaceholderText: "#6b717a",
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, color in roles.items():
        pal.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b717a"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)

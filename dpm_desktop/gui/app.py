"""Entry point: ``dpm-desktop [IMAGE] [--mask MASK]``."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from .theme import apply_theme
from .ui.main_window import APP_NAME, MainWindow


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="dpm-desktop", description="Restore photos with diffusion models.")
    ap.add_argument("image", nargs="?", type=Path, help="a photo to open")
    ap.add_argument("--mask", type=Path, help="a mask to load with it (white = fill, same size)")
    args, _qt = ap.parse_known_args(argv)  # Qt's own options (-style, -platform) pass through
    return args


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("DPM Desktop")
    apply_theme(app)
    return app


def create_window(argv: list[str]) -> MainWindow:
    """The window with the command line applied (an image and optionally its mask)."""
    args = parse_args(argv)
    window = MainWindow()
    if args.image is not None:
        window.open_path(args.image, mask=args.mask)
    return window


def _install_excepthook(window: MainWindow) -> None:
    """An unexpected error in a slot becomes a message, not a dead application."""

    def hook(kind, value, tb) -> None:
        details = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(details)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        try:
            window.show_error("Unexpected error", f"{kind.__name__}: {value}", details)
        except Exception:
            QMessageBox.critical(None, APP_NAME, f"{kind.__name__}: {value}")

    sys.excepthook = hook


def display_problem(argv: list[str], env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """Why the window cannot open on this machine, or None. On Linux without X or Wayland, Qt would
    abort with a page of plugin messages and a core dump; say it in one line instead."""
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM") or "-platform" in argv:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); run it in a "
            "desktop session, or with QT_QPA_PLATFORM=offscreen for a check without a screen")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:  # packaging check (issue 7): engine + this window; see gui/selfcheck.py
        from .selfcheck import gui_main

        return gui_main([a for a in argv if a != "--self-test"])  # offscreen where there is no display
    if (why := display_problem(argv)) is not None:
        print(f"dpm-desktop: error: {why}", file=sys.stderr)
        return 1
    app = create_app([sys.argv[0], *argv])
    window = create_window(argv)
    _install_excepthook(window)
    window.show()
    QTimer.singleShot(0, window.canvas.setFocus)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

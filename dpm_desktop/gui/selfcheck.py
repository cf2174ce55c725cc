"""``dpm-desktop --self-test``: the engine's self-test (:mod:`dpm_desktop.selftest`) plus the main
window, built and shown (offscreen without a display), opening the bundled sample in its worker."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..selftest import CheckFailed, add_arguments, run_self_test

WINDOW_TIMEOUT_S = 60.0


def check_window(sample: Path) -> str:
    """Build the main window, open the sample in it (a worker thread decodes it) and close it."""
    import tempfile

    from PySide6.QtCore import QEventLoop, QSettings, QTimer, qVersion

    from .app import create_app
    from .model.settings import AppSettings, open_qsettings
    from .ui.main_window import MainWindow

    app = create_app([sys.argv[0]])
    outcome: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:  # never touch the user's settings
        window = MainWindow(AppSettings(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)))
        window.show()
        loop = QEventLoop()
        window.controller.opened.connect(lambda _p: (outcome.append("opened"), loop.quit()))
        window.controller.openFailed.connect(lambda _p, message: (outcome.append(f"failed: {message}"), loop.quit()))
        QTimer.singleShot(int(WINDOW_TIMEOUT_S * 1000), loop.quit)
        if window.open_path(sample):
            loop.exec()
        shown = window.isVisible()
        window.close()
        app.processEvents()
    detail = f"Qt {qVersion()} on platform {app.platformName()!r}"
    if not shown:
        raise CheckFailed(f"{detail}: the window did not show")
    if outcome != ["opened"]:
        raise CheckFailed(f"{detail}: opening {sample.name}: {outcome[0] if outcome else 'timed out'}")
    return f"{detail}: window shown, {sample.name} opened, window closed; settings file {open_qsettings().fileName()}"


def check_plot() -> str:
    """The training wizard's curve plot (pyqtgraph, imported only when the wizard opens): built, fed a
    curve, rendered to an image. In a frozen bundle this proves pyqtgraph and its Qt modules came along."""
    from .app import create_app
    from .ui.wizard.curves import CurvePlot

    create_app([sys.argv[0]])
    plot = CurvePlot("Training loss", "#4c9be8", log_y=True, smoothed=True)
    plot.resize(400, 240)
    plot.set_points([0, 100, 200, 300], [1.0, 0.3, 0.1, 0.05])
    plot.show()
    image = plot.render_image().toImage()
    plot.close()
    if image.isNull() or image.width() < 100:
        raise CheckFailed("the curve plot rendered no image")
    colours = {image.pixelColor(x, y).rgb() for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)}
    if len(colours) < 3:  # background and frame only: nothing was drawn
        raise CheckFailed("the curve plot rendered a blank image")
    import pyqtgraph

    return f"pyqtgraph {pyqtgraph.__version__}: a {image.width()}x{image.height()} plot, log axis {plot.log_active}"


def gui_main(argv: list[str]) -> int:
    """``dpm-desktop --self-test [--allow-no-models] [--device D]``: the checks plus the main window.
    With no display the window is built offscreen."""
    p = argparse.ArgumentParser(prog="dpm-desktop --self-test")
    add_arguments(p)
    args = p.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return run_self_test(allow_no_models=args.allow_no_models, device=args.device,
                         extra=lambda sample: [("main window", lambda: check_window(sample)),
                                                ("training plot", check_plot)])

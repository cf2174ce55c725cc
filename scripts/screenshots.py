"""Render the README screenshots with the real application, offscreen.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--model PATH] [--out docs] [--with-inpaint]

It builds the real main window, opens the sample photo, paints a mask with mouse events, runs the
real engine and grabs the window with QWidget.grab(). The model is, in order of preference:
--model, the bundled ``models/photo-rgb``, the newest state of ``runs/photo-rgb`` (a training in
progress), or a tiny model trained here for a few seconds (the pictures then show the interface,
not the quality).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pick_model(arg: Path | None, scratch: Path) -> Path:
    if arg is not None:
        return arg
    bundled = ROOT / "models" / "photo-rgb"
    if (bundled / "model.json").is_file():
        return bundled
    run = ROOT / "runs" / "photo-rgb"
    if (run / "latest.json").is_file():
        import json

        return run / json.loads((run / "latest.json").read_text())["state"]
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import train_tiny, write_photo

    photos = scratch / "photos"
    photos.mkdir()
    for i in range(6):
        write_photo(photos / f"p{i}.png", 96, 96, seed=i)
    print("no trained model found: training a tiny one (the screenshots show the interface only)")
    return train_tiny(str(photos), scratch / "tiny", steps=60)


def best_candidate(doc) -> int:
    """Index of the fill whose mean colour is closest to that of a ring around the mask."""
    import numpy as np

    from dpm_desktop.gui.convert import rect_slices
    from dpm_desktop.gui.model.mask_ops import grow

    r = doc.result
    rows, cols = rect_slices(r.region)
    cov = doc.coverage()
    inside = cov[rows, cols] > 0
    ring = (grow(cov, 6) > 0)[rows, cols] & ~inside
    around = doc.pixels[rows, cols][ring].mean(axis=0)
    return int(np.argmin([np.abs(c[inside].mean(axis=0) - around).sum() for c in r.crops]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a checkpoint folder to show")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--photo", type=Path, default=ROOT / "resources" / "sample.jpg")
    ap.add_argument("--with-inpaint", action="store_true",
                    help="also render screenshot-inpaint.png (minutes on a CPU; worth it with a fully trained model)")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dpm-shots-"))
    model = pick_model(args.model, scratch)
    bundled = scratch / "bundled"
    bundled.mkdir()
    shutil.copytree(model, bundled / "photo-rgb", ignore=shutil.ignore_patterns("*.pt", "optimizer*"))
    os.environ["DPM_DESKTOP_BUNDLED_MODELS"] = str(bundled)
    os.environ["DPM_DESKTOP_HOME"] = str(scratch / "home")  # default settings, nothing of the user's
    print(f"model: {model}")

    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from dpm_desktop.gui.app import create_app
    from dpm_desktop.gui.ui.canvas import ViewMode
    from dpm_desktop.gui.ui.main_window import MainWindow

    app = create_app([sys.argv[0]])
    w = MainWindow()
    w.resize(1440, 900)
    w.show()
    errors: list[str] = []  # what the window told the user went wrong
    w.controller.error.connect(lambda _title, message, _details: errors.append(message))

    def pump(until, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while not until():
            if time.monotonic() > end:
                raise TimeoutError("the application did not get there in time")
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()

    def mouse(kind: QEvent.Type, x: float, y: float, buttons=Qt.MouseButton.LeftButton) -> None:
        c = w.canvas
        p = c.to_view(QPointF(x, y))
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else buttons
        QApplication.sendEvent(c, QMouseEvent(kind, p, c.mapToGlobal(p), button, held, Qt.KeyboardModifier.NoModifier))

    def stroke(points: list[tuple[float, float]]) -> None:
        mouse(QEvent.Type.MouseButtonPress, *points[0])
        for x, y in points[1:]:
            mouse(QEvent.Type.MouseMove, x, y)
        mouse(QEvent.Type.MouseButtonRelease, *points[-1])

    def save(name: str) -> None:
        app.processEvents()
        path = args.out / name
        w.grab().save(str(path))
        print(f"wrote {path}")

    args.out.mkdir(parents=True, exist_ok=True)
    w.open_path(args.photo)
    pump(lambda: w.doc.has_image and not w.controller.opener.is_estimating)

    # 1. Denoising, compared with the split view, zoomed on the squirrel's head; then applied.
    w.task_panel.set_task("denoise")
    w.run_task()
    pump(lambda: not w.controller.jobs.is_running)
    if w.doc.result is None:
        raise SystemExit(f"denoising failed: {errors[-1] if errors else 'no result'}")
    w.canvas.set_view_mode(ViewMode.SPLIT)
    w.canvas.center_on(QPointF(290, 206), 2.0)
    w.canvas.set_split(0.5)
    w.statusBar().clearMessage()
    save("screenshot-compare.png")
    w.actions_["apply"].trigger()

    # 2. Masking: a soft brush over the twig across the leaves, the brush outline visible.
    w.canvas.fit()
    w.task_panel.set_task("inpaint")
    w.mask_dock.raise_()
    w.mask_panel.size.setValue(18)
    w.mask_panel.hardness.setValue(60)
    stroke([(342, 66), (380, 78), (420, 92), (455, 106), (492, 123)])
    mouse(QEvent.Type.MouseMove, 470, 150, Qt.MouseButton.NoButton)
    pump(lambda: ", about " in w.task_panel.expected.text())  # the cost, timed by the speed probe
    w.statusBar().clearMessage()
    save("screenshot-main.png")

    # 3. Inpainting: the fill beside the original, with candidates to pick from.
    if not args.with_inpaint:
        return finish(w, scratch)
    w.task_panel.steps.setValue(30)
    w.task_panel.candidates.setValue(3)
    w.run_task()
    pump(lambda: not w.controller.jobs.is_running)
    if w.doc.result is None:
        raise SystemExit(f"inpainting failed: {errors[-1] if errors else 'no result'}")
    # Pick the candidate a user would: the one whose fill matches the colour around the mask best.
    w.doc.choose_candidate(best_candidate(w.doc))
    w.canvas.leaveEvent(None)  # no brush outline over the result
    w.canvas.set_view_mode(ViewMode.SPLIT)
    w.canvas.fit()
    w.canvas.set_split(w.canvas.to_view(QPointF(417, 95)).x() / w.canvas.width())  # through the twig
    w.statusBar().clearMessage()
    save("screenshot-inpaint.png")
    return finish(w, scratch)


def finish(window, scratch: Path) -> int:
    window.doc.undo_stack.clear()  # nothing to save: no question on close
    window.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

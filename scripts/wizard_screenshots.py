"""Render the training wizard's README pictures with the real application, offscreen.

    QT_QPA_PLATFORM=offscreen python scripts/wizard_screenshots.py [--out docs] [--steps 400] [--pages data,model]

It walks the real wizard on a folder of photos (scikit-image's sample photos, cropped, when the
``bench`` extra is installed, else generated ones) plus a few files that cannot be used, measures
the presets on this CPU, runs the real trainer (tiny preset, 32 px patches) in its child process,
and grabs each page: docs/wizard-data.png, wizard-model.png, wizard-training.png, wizard-done.png.
The model trained here is thrown away with the temporary folder; nothing of the user's is read
or written (DPM_DESKTOP_HOME points into that folder).
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
PAGES = ("data", "model", "training", "done")
SAMPLES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg")


def make_folder(folder: Path) -> None:
    """A dozen photo crops, and three files the wizard must skip (with their reasons)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    try:
        import skimage

        sources = [Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB") for name in SAMPLES]
    except Exception:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import photo_like

        sources = [Image.fromarray((photo_like(384, 512, seed=i) * 255).astype(np.uint8)) for i in range(6)]
    for i, im in enumerate(sources):
        w, h = im.size
        im.save(folder / f"photo-{i + 1:02d}.jpg", quality=95)
        side = min(w, h) * 2 // 3
        im.crop((w - side, h - side, w, h)).save(folder / f"photo-{i + 1:02d}-detail.jpg", quality=95)
    (folder / "notes.txt").write_text("scanned in March\n")
    sources[0].resize((24, 24)).save(folder / "icon.png")
    data = (folder / "photo-01.jpg").read_bytes()
    (folder / "photo-13.jpg").write_bytes(data[: len(data) // 3])  # cut off: a broken download


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--steps", type=int, default=400, help="length of the run shown (tiny preset, 32 px patches)")
    ap.add_argument("--pages", default="data,model,training,done", help="which pages to render (stops after the last)")
    args = ap.parse_args()
    pages = [p for p in PAGES if p in args.pages.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="dpm-wizard-shots-"))
    os.environ["DPM_DESKTOP_HOME"] = str(scratch / "home")
    os.environ["DPM_DESKTOP_BUNDLED_MODELS"] = str(ROOT / "models")
    folder = scratch / "Family photos"
    make_folder(folder)

    from PySide6.QtWidgets import QApplication

    from dpm_desktop.gui.app import create_app
    from dpm_desktop.gui.ui.main_window import MainWindow

    app = create_app([sys.argv[0]])
    window = MainWindow()
    window.resize(1200, 800)
    window.show()

    def pump(until, timeout: float = 900) -> None:
        end = time.monotonic() + timeout
        while not until():
            if time.monotonic() > end:
                raise TimeoutError("the wizard did not get there in time")
            app.processEvents()
            time.sleep(0.02)
        app.processEvents()

    def save(page: str) -> bool:
        """Grab the page if asked for; False once every asked page is done."""
        for _ in range(5):
            app.processEvents()
        if page in pages:
            path = args.out / f"wizard-{page}.png"
            wiz.grab().save(str(path))
            print(f"wrote {path}")
        return page != pages[-1]

    args.out.mkdir(parents=True, exist_ok=True)
    wiz = window.open_training_wizard()
    wiz.plan_overrides = {"batch": 8, "val_every": max(20, args.steps // 6), "checkpoint_every": args.steps // 2}
    wiz.resize(1040, 760)
    wiz.confirm_quit = lambda: True  # finishing early (--pages) quits during the run without asking

    # 1. Data
    wiz.data_page.set_folder(folder)
    pump(wiz.data_page.isComplete, 120)
    if not save("data"):
        return finish(window, scratch)

    # 2. Model: every preset measured on this CPU for these settings
    wiz.next()
    page = wiz.model_page
    page.patch.setCurrentIndex(page.patch.findData(32))
    page.device.setCurrentIndex(page.device.findData("cpu"))
    page.preset_buttons["tiny"].setChecked(True)
    page.steps.setValue(args.steps)
    page.name.setText("family-photos")
    pump(lambda: all("/ 1000 steps" in page.time_labels[k].text() for k in ("tiny", "small", "base")), 900)
    QApplication.focusWidget() and QApplication.focusWidget().clearFocus()
    if not save("model"):
        return finish(window, scratch)

    # 3. Training, caught after a few validations
    wiz.next()
    pump(lambda: len(wiz.run.val) >= 4 or wiz.process.state == "ended", 1800)
    if wiz.process.state == "ended":
        raise SystemExit(f"training ended early: {wiz.process.outcome}")
    pump(lambda: len(wiz.run.loss) >= 2 + len(wiz.run.val), 120)
    if not save("training"):
        return finish(window, scratch)

    # 4. Done
    pump(lambda: wiz.currentId() == wiz.DONE or wiz.process.state == "ended", 1800)
    pump(lambda: wiz.done_page.entry is not None or wiz.currentId() != wiz.DONE, 60)
    if wiz.done_page.entry is None:
        raise SystemExit(f"no model registered: {wiz.process.outcome} {wiz.training_page.last_error}")
    save("done")
    wiz.accept()
    return finish(window, scratch)


def finish(window, scratch: Path) -> int:
    window.close()  # a run still going is stopped with a checkpoint (in the scratch folder)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Opening a photo off the GUI thread: decoding and converting a 24-megapixel file takes seconds,
and the window must stay usable meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QImage

from dpm_desktop.core.imaging import LoadedImage, load_image
from dpm_desktop.core.progress import Reporter
from dpm_desktop.core.restore import RestoreError, estimate_sigma

from ..convert import array_to_qimage


@dataclass
class OpenedImage:
    path: Path
    loaded: LoadedImage
    image: QImage  # for display


def open_image(path: Path, reporter: Reporter) -> OpenedImage:
    reporter.step(0, 2, message=f"Reading {Path(path).name}")
    loaded = load_image(Path(path))
    reporter.step(1, 2, message="Preparing the display")
    return OpenedImage(Path(path), loaded, array_to_qimage(loaded.pixels))


def noise_estimate(opened_pixels, _reporter: Reporter) -> float | None:
    """The noise level the Denoise task's "auto" will use, shown beside it (None if too small)."""
    try:
        return estimate_sigma(opened_pixels)
    except RestoreError:
        return None

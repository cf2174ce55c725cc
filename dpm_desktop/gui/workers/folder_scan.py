"""Scanning a training folder off the GUI thread: which images are usable (core.datasets does the
checking), why the others are skipped, small thumbnails, and whether the photos are grayscale
(also those saved as RGB, as scans of black-and-white prints often are)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage, QImageReader

from dpm_desktop.core.datasets import scan_folder
from dpm_desktop.core.progress import Reporter

MIN_PATCH = 32  # the smallest patch the wizard offers: smaller images are never usable
THUMB_SIDE = 96
THUMBS_SHOWN = 60
GRAY_CHECKED = 2000  # thumbnails decoded to tell grey from colour; the rest counts by file mode
GRAY_TOLERANCE = 3.0  # mean |R-G|, |G-B| in 8-bit levels below which an RGB image counts as grey


@dataclass
class ScanReport:
    folder: Path
    usable: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    grayscale: int = 0
    thumbnails: list[tuple[Path, QImage]] = field(default_factory=list)

    @property
    def mostly_gray(self) -> bool:
        return bool(self.usable) and self.grayscale >= 0.9 * len(self.usable)

    def usable_for(self, patch: int) -> int:
        """How many usable images are large enough for training crops of ``patch`` pixels."""
        return sum(1 for p in self.usable if min(self.sizes.get(str(p), (patch, patch))) >= patch)

    def refusal(self) -> str:
        """Why the folder cannot be trained on ('' if it can)."""
        if self.usable:
            return ""
        if not self.skipped:
            return f"{self.folder} holds no files."
        reasons = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:3])
        more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
        return f"No usable images: all {len(self.skipped)} files are skipped — {reasons}{more}."


def thumbnail(path: Path, side: int = THUMB_SIDE) -> QImage:
    """A small copy, decoded at reduced size where the format allows (JPEG)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > side:
        f = side / max(size.width(), size.height())
        reader.setScaledSize(QSize(max(1, round(size.width() * f)), max(1, round(size.height() * f))))
    image = reader.read()
    return image.convertToFormat(QImage.Format.Format_RGB32) if not image.isNull() else image


def looks_gray(image: QImage) -> bool:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = rgb.width(), rgb.height()
    if w == 0 or h == 0:
        return False
    px = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.bytesPerLine() * h).reshape(h, -1)[:, :3 * w]
    px = px.reshape(h, w, 3).astype(np.int16)
    return float(np.abs(px[..., 0] - px[..., 1]).mean() + np.abs(px[..., 1] - px[..., 2]).mean()) < GRAY_TOLERANCE


def scan(folder: Path, reporter: Reporter) -> ScanReport:
    """Runs in a worker thread (QImage and QImageReader are safe there; QPixmap is not)."""
    reporter.step(0, 1, message="Checking every image…")
    found = scan_folder(Path(folder), MIN_PATCH)  # raises DatasetError for a missing folder
    report = ScanReport(Path(folder), found.usable, found.skipped, found.sizes)
    checked = found.usable[:GRAY_CHECKED]
    gray_checked = 0
    for i, path in enumerate(checked):
        reporter.step(i, len(checked), message=f"Thumbnails {i + 1}/{len(checked)}")
        image = thumbnail(path)
        if image.isNull():
            continue
        gray_checked += looks_gray(image)
        if len(report.thumbnails) < THUMBS_SHOWN:
            report.thumbnails.append((path, image))
    # Beyond the decoded thumbnails, count files stored as grey (a proportional share of scan's count).
    rest = len(found.usable) - len(checked)
    report.grayscale = gray_checked + (round(found.grayscale * rest / len(found.usable)) if rest else 0)
    return report

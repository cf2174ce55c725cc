"""The open photo: pixels, the mask being painted, a pending result, and the undo history.

Pixels are kept as the engine wants them (float32 H x W x C in [0, 1]) beside a display QImage;
the mask is an 8-bit coverage QImage (Alpha8: 0 keep, 255 fill; soft edges in between).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage, QUndoStack

from dpm_desktop.core.imaging import ImageError, LoadedImage, encode_image, load_image, save_image
from dpm_desktop.core.metadata import software_note
from dpm_desktop.core.outputs import OutputSet, sidecar_path

from ..convert import array_to_qimage, gray_to_qimage, qimage_to_gray, rect_slices
from . import mask_ops
from .commands import ApplyResultCommand, MaskEditCommand, changed_bbox, paste
from .result import PendingResult


class Document(QObject):
    imageChanged = Signal(QRect)  # a null rect: a new image (its size may have changed)
    maskChanged = Signal(QRect)  # a null rect: the whole mask
    resultChanged = Signal()
    pathChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(200)
        self.path: Path | None = None  # the file that was opened
        self.save_path: Path | None = None  # where Save writes; None until a Save As
        self.pixels: np.ndarray | None = None
        self.alpha: np.ndarray | None = None
        self.bit_depth = 8
        self.info: dict[str, Any] = {}
        self.notes: list[str] = []
        self.image = QImage()
        self.mask = QImage()
        self.result: PendingResult | None = None
        self.history: list[dict[str, Any]] = []  # params of the applied results, for the sidecar
        self.generation = 0  # bumped on every load: results computed for an older image are dropped

    # ---------------------------------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self.pixels is not None

    @property
    def width(self) -> int:
        return self.image.width()

    @property
    def height(self) -> int:
        return self.image.height()

    @property
    def channels(self) -> int:
        return 0 if self.pixels is None else int(self.pixels.shape[2])

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        p = self.save_path or self.path
        return p.name if p else "Untitled"

    # ---------------------------------------------------------------------------------------
    def load(self, path: Path) -> None:
        """Open an image; raises ImageError and leaves the current document untouched on failure."""
        loaded = load_image(Path(path))
        self.set_image(Path(path), loaded, array_to_qimage(loaded.pixels))

    def set_image(self, path: Path, loaded: LoadedImage, image: QImage) -> None:
        """Make a loaded image the document (a fresh mask, result and history)."""
        self.pixels, self.alpha, self.bit_depth = loaded.pixels, loaded.alpha, loaded.bit_depth
        self.info, self.notes = loaded.info, loaded.notes
        self.image = image
        self.mask = QImage(image.width(), image.height(), QImage.Format.Format_Alpha8)
        self.mask.fill(0)
        self.path, self.save_path = Path(path), None
        self.result, self.history = None, []
        self.generation += 1
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.imageChanged.emit(QRect())
        self.maskChanged.emit(QRect())
        self.resultChanged.emit()
        self.pathChanged.emit()

    def save(self, path: Path, *, quality: int = 95, sidecar: bool = False, strip_metadata: bool = False) -> list[str]:
        """Write the current image and, with ``sidecar``, PATH.json of its settings: both or neither
        (see :class:`OutputSet`). The photo's EXIF, XMP and ICC go with it, with a Software note of the
        restorations applied (see core.metadata); ``strip_metadata`` leaves EXIF and XMP out. Returns
        notes on what the format could not keep."""
        if self.pixels is None:
            raise ImageError("there is no image to save")
        path = Path(path)
        outputs = OutputSet(overwrite=True)  # the save dialog has asked before replacing a file
        outputs.add(path, "image")
        if sidecar:
            outputs.add(sidecar_path(path), "sidecar")
        info = {**self.info, "strip": strip_metadata}
        if self.history:
            info["software"] = software_note(", ".join(str(h.get("task", "restore")) for h in self.history))
        data, notes = encode_image(path, self.pixels, alpha=self.alpha, bit_depth=self.bit_depth, quality=quality,
                                   info=info)
        files = {path: data}
        if sidecar:
            record = {"source": str(self.path) if self.path else None,
                      "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), "quality": quality, "restorations": self.history}
            files[sidecar_path(path)] = (json.dumps(record, indent=2, default=str) + "\n").encode("utf-8")
        outputs.write(files)
        self.save_path = path
        self.undo_stack.setClean()
        self.pathChanged.emit()
        return notes

    # mask ----------------------------------------------------------------------------------
    def coverage(self) -> np.ndarray:
        """The mask as H x W uint8 (a copy)."""
        return qimage_to_gray(self.mask)

    def mask_is_empty(self) -> bool:
        return not self.has_image or not self.coverage().any()

    def paste_mask(self, crop: QImage, rect: QRect) -> None:
        paste(self.mask, crop, rect.topLeft())
        self.maskChanged.emit(QRect(rect))

    def push_mask_edit(self, rect: QRect, before: QImage, text: str) -> None:
        """Record a mask change already painted into ``self.mask`` (a brush stroke, a lasso)."""
        rect = rect.intersected(self.mask.rect())
        if rect.isEmpty():
            return
        self.undo_stack.push(MaskEditCommand(self, rect, before.copy(rect), self.mask.copy(rect), text))

    def set_coverage(self, cov: np.ndarray, text: str) -> None:
        """Replace the mask by ``cov`` (H x W uint8) as one undoable step."""
        if cov.shape != (self.height, self.width):
            raise mask_ops.MaskError(f"mask is {cov.shape[1]}×{cov.shape[0]}, image is {self.width}×{self.height}")
        rect = changed_bbox(self.coverage(), cov)
        if rect.isNull():
            return
        new = gray_to_qimage(cov)
        before = self.mask.copy(rect)
        self.paste_mask(new.copy(rect), rect)
        self.undo_stack.push(MaskEditCommand(self, rect, before, self.mask.copy(rect), text))

    def clear_mask(self) -> None:
        self.set_coverage(np.zeros((self.height, self.width), np.uint8), "Clear mask")

    def invert_mask(self) -> None:
        self.set_coverage(mask_ops.invert(self.coverage()), "Invert mask")

    def grow_mask(self, radius: int) -> None:
        self.set_coverage(mask_ops.grow(self.coverage(), radius), f"Grow mask {radius} px")

    def shrink_mask(self, radius: int) -> None:
        self.set_coverage(mask_ops.shrink(self.coverage(), radius), f"Shrink mask {radius} px")

    def load_mask(self, path: Path) -> None:
        """Raises ImageError / MaskError (size mismatch); the mask is untouched on failure."""
        self.set_coverage(mask_ops.load_mask_file(Path(path), self.width, self.height), "Load mask")

    def export_mask(self, path: Path) -> None:
        save_image(Path(path), self.coverage()[:, :, None].astype(np.float32) / 255)

    # pixels and results --------------------------------------------------------------------
    def replace_pixels(self, rect: QRect, crop: np.ndarray, crop_image: QImage) -> None:
        assert self.pixels is not None
        rows, cols = rect_slices(rect)
        # Copy on write: a running job may be reading the old array in its thread.
        pixels = self.pixels.copy()
        pixels[rows, cols] = crop
        self.pixels = pixels
        paste(self.image, crop_image, rect.topLeft())
        self.imageChanged.emit(QRect(rect))

    def set_result(self, result: PendingResult | None) -> None:
        self.result = result
        self.resultChanged.emit()

    def choose_candidate(self, index: int) -> None:
        if self.result is not None and 0 <= index < len(self.result.crops) and index != self.result.chosen:
            self.result.chosen = index
            self.resultChanged.emit()

    def apply_result(self) -> None:
        if self.result is not None and self.has_image:
            self.undo_stack.push(ApplyResultCommand(self, self.result))

    def discard_result(self) -> None:
        self.set_result(None)

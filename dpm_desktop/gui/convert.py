"""Conversions between engine arrays (float32 H x W x C in [0, 1]) and QImages for display.

QImages built here own their memory (``.copy()``), so the numpy buffer can be freed afterwards;
they may be built in a worker thread and handed to the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage


def to_u8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 8 bits, rounding to nearest; in row blocks, so a 24-megapixel photo needs
    no full-size float temporaries."""
    px = np.asarray(pixels)
    out = np.empty(px.shape, np.uint8)
    rows = max(1, (1 << 22) // max(1, px[0].size))
    for i in range(0, px.shape[0], rows):
        blk = px[i:i + rows].astype(np.float32) * 255 + 0.5
        np.clip(blk, 0, 255, out=blk)
        out[i:i + rows] = blk
    return out


def array_to_qimage(pixels: np.ndarray) -> QImage:
    """H x W x C (C = 1 or 3) float in [0, 1] -> an RGB32 QImage (gray is shown as gray RGB)."""
    px = np.asarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    u8 = to_u8(px) if px.dtype != np.uint8 else px
    h, w, c = u8.shape
    if c == 1:
        u8 = np.repeat(u8, 3, axis=2)
    u8 = np.ascontiguousarray(u8[:, :, :3])
    img = QImage(u8.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return img.convertToFormat(QImage.Format.Format_RGB32)


def gray_to_qimage(gray: np.ndarray, fmt: QImage.Format = QImage.Format.Format_Alpha8) -> QImage:
    """H x W uint8 -> an 8-bit QImage (Alpha8 for masks, Grayscale8 for exports)."""
    g = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = g.shape
    return QImage(g.data, w, h, w, fmt).copy()


def qimage_to_gray(img: QImage) -> np.ndarray:
    """An 8-bit QImage (Alpha8 / Grayscale8) -> a fresh H x W uint8 array."""
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, :w].copy()


def colormap(values: np.ndarray, vmax: float | None = None, alpha: int = 255, vmin: float = 0.0) -> QImage:
    """H x W floats -> an ARGB32 QImage through a perceptual dark-to-bright ramp (the uncertainty and
    anomaly overlays), ``vmin`` (transparent) to ``vmax`` (opaque, brightest). ``vmax`` defaults to
    the 99th percentile so one outlier does not wash it out."""
    v = np.asarray(values, dtype=np.float32)
    top = float(vmax if vmax is not None else np.percentile(v, 99) if v.size else 1.0)
    t = np.clip((v - vmin) / (top - vmin if top > vmin else 1.0), 0, 1)
    # Inferno-like ramp through a few anchor colours.
    anchors = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)
    pos = t * (len(anchors) - 1)
    i = np.minimum(pos.astype(np.int32), len(anchors) - 2)
    f = (pos - i)[..., None]
    rgb = anchors[i] * (1 - f) + anchors[i + 1] * f
    a = np.clip(t * 1.5, 0, 1) * alpha  # low uncertainty fades out so the photo shows through
    bgra = np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], a]).round().astype(np.uint8)
    bgra = np.ascontiguousarray(bgra)
    # premultiply for Format_ARGB32_Premultiplied
    bgra[..., :3] = (bgra[..., :3].astype(np.uint16) * bgra[..., 3:4] // 255).astype(np.uint8)
    h, w = v.shape
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


def rect_slices(rect: QRect) -> tuple[slice, slice]:
    return slice(rect.top(), rect.top() + rect.height()), slice(rect.left(), rect.left() + rect.width())

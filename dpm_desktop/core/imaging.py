"""Robust image loading and saving (Pillow). No Qt, no torch.

Images travel through the engine as float32 arrays HxWxC in [0, 1] (C = 1 or 3), with alpha kept
aside and the source's bit depth remembered so that outputs can keep it.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
MAX_PIXELS = 250_000_000  # 250 megapixels: a 24 MP photo is far below; bombs are far above
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(Exception):
    """An image that cannot be read or written; the message names the file and the reason."""


@dataclass
class LoadedImage:
    pixels: np.ndarray  # float32, HxWxC in [0, 1], C in (1, 3)
    alpha: np.ndarray | None = None  # float32 HxW in [0, 1]
    bit_depth: int = 8
    source_mode: str = "RGB"
    format: str | None = None
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # icc_profile, dpi: carried into the output

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]


def _open(path: Path) -> Image.Image:
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"{path}: image too large ({img.width}x{img.height}); the limit is {MAX_PIXELS // 1_000_000} megapixels")
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: refused as a decompression bomb (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: unreadable or truncated image ({e})") from None
    return img


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading only the header."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: refused as a decompression bomb") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def pil_to_array(img: Image.Image) -> LoadedImage:
    """Convert any Pillow mode into float pixels (+ alpha), recording what was done."""
    notes: list[str] = []
    mode = img.mode
    alpha = None
    bit_depth = 8
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        notes.append("palette image converted to RGB")
    elif mode == "CMYK":
        img = img.convert("RGB")
        notes.append("CMYK image converted to RGB")
    elif mode in ("YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        a = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
        alpha = a
        img = img.convert("RGB" if img.mode.startswith("RGB") else "L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float32) / 65535.0
        bit_depth = 16
    elif img.mode == "I":
        raw = np.asarray(img, dtype=np.int64)
        if raw.min() >= 0 and raw.max() <= 65535:
            arr, bit_depth = raw.astype(np.float32) / 65535.0, 16
        else:
            lo, hi = float(raw.min()), float(raw.max())
            arr = ((raw - lo) / max(hi - lo, 1)).astype(np.float32)
            notes.append("32-bit integer image rescaled to its range")
            bit_depth = 16
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-12)
            notes.append("floating-point image rescaled to its range")
        bit_depth = 16
    elif img.mode in ("L", "RGB"):
        arr = np.asarray(img, dtype=np.float32) / 255.0
    else:
        img = img.convert("RGB")
        arr = np.asarray(img, dtype=np.float32) / 255.0
        notes.append(f"{mode} image converted to RGB")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return LoadedImage(np.ascontiguousarray(arr, dtype=np.float32), alpha, bit_depth, mode, None, notes)


def load_image(path: Path) -> LoadedImage:
    """Load any supported image; EXIF orientation applied; clear :class:`ImageError` otherwise."""
    img = _open(path)
    fmt = img.format
    info = {k: img.info[k] for k in ("icc_profile", "dpi") if k in img.info}
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        oriented = img
    notes = ["EXIF orientation applied"] if oriented is not img and img.getexif().get(0x0112, 1) != 1 else []
    out = pil_to_array(oriented)
    out.format, out.info = fmt, info
    out.notes = notes + out.notes
    return out


def to_uint(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    peak = 65535 if bit_depth == 16 else 255
    return np.clip(np.rint(np.asarray(arr, dtype=np.float64) * peak), 0, peak).astype(np.uint16 if bit_depth == 16 else np.uint8)


def array_to_pil(pixels: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8) -> Image.Image:
    """HxWxC float [0, 1] (+ alpha) to a Pillow image; 16-bit only for single-channel images
    without alpha (Pillow's limit; callers write 16-bit colour through :func:`save_image`)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    c = pixels.shape[2]
    if bit_depth == 16 and c == 1 and alpha is None:
        return Image.fromarray(to_uint(pixels[:, :, 0], 16), mode="I;16")
    u8 = to_uint(pixels, 8)
    img = Image.fromarray(u8[:, :, 0], "L") if c == 1 else Image.fromarray(u8, "RGB")
    if alpha is not None:
        img.putalpha(Image.fromarray(to_uint(alpha, 8), "L"))
    return img


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}


def _encode(pixels: np.ndarray, alpha: np.ndarray | None, bit_depth: int, fmt: str, quality: int,
            info: dict[str, Any]) -> tuple[bytes, list[str]]:
    notes: list[str] = []
    c = pixels.shape[2] if pixels.ndim == 3 else 1
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        notes.append(f"{fmt} holds 8 bits per channel: saved as 8-bit")
        bit_depth = 8
    if bit_depth == 16 and (c == 3 or alpha is not None):
        data = _encode_16bit_colour(pixels, alpha, fmt)
        if data is not None:
            return data, notes
        notes.append("16-bit colour needs the tifffile or imageio package: saved as 8-bit")
        bit_depth = 8
    if alpha is not None and fmt in ("JPEG", "BMP"):
        notes.append(f"{fmt} has no alpha channel: transparency dropped")
        alpha = None
    img = array_to_pil(pixels, alpha, bit_depth)
    kwargs: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "JPEG":
        kwargs["subsampling"] = 0 if quality >= 90 else 2
    for key in ("icc_profile", "dpi"):
        if key in info and fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
            kwargs[key] = info[key]
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue(), notes


def _encode_16bit_colour(pixels: np.ndarray, alpha: np.ndarray | None, fmt: str) -> bytes | None:
    """16-bit RGB(A) through an optional library, since Pillow cannot write it."""
    arr = to_uint(pixels, 16)
    if alpha is not None:
        arr = np.concatenate([arr, to_uint(alpha, 16)[:, :, None]], axis=2)
    try:
        import imageio.v3 as iio  # type: ignore[import-not-found]

        return iio.imwrite("<bytes>", arr, extension=".png" if fmt == "PNG" else ".tif")
    except ImportError:
        return None


def save_image(path: Path, pixels: np.ndarray, *, alpha: np.ndarray | None = None, bit_depth: int = 8,
               quality: int = 95, info: dict[str, Any] | None = None, overwrite: bool = True) -> list[str]:
    """Encode fully in memory, then write atomically (temp file + rename). Returns notes on what
    could not be kept (bit depth, alpha). Raises :class:`ImageError` on an unknown extension or a
    write failure (e.g. a full disk), leaving any existing file at ``path`` untouched."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image extension; use one of {', '.join(sorted(_FORMATS))}")
    if not overwrite and path.exists():
        raise ImageError(f"{path}: exists already (refusing to overwrite)")
    data, notes = _encode(np.asarray(pixels, dtype=np.float32), alpha, bit_depth, fmt, quality, info or {})
    if not path.parent.is_dir():
        raise ImageError(f"{path}: folder {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise ImageError(f"{path}: could not write ({e.strerror or e}); nothing was changed") from None
    return notes


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, HxWx1."""
    if pixels.shape[2] == 1:
        return pixels
    return (pixels[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]

"""Robust image loading and saving (Pillow). No Qt, no torch.

Images travel through the engine as float32 arrays HxWxC in [0, 1] (C = 1 or 3), with alpha kept
aside and the source's bit depth remembered so that outputs can keep it. 16-bit colour, which
Pillow narrows to 8 bits, is read and written exactly by :mod:`imaging16`.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import camera_formats, metadata
from .atomic import atomic_path
from .camera_formats import HEIF_EXTENSIONS, RAW_EXTENSIONS, CameraFormatError
from .imaging16 import encode_png16, encode_tiff16, read_wide, wide_rawmode

# What opens (the outputs are the formats of _FORMATS below): HEIC/HEIF and camera RAW are read only.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", *HEIF_EXTENSIONS, *RAW_EXTENSIONS)
MAX_PIXELS = 250_000_000  # 250 megapixels: a 24 MP photo is far below; bombs are far above
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
EXIF_ORIENTATION = 0x0112


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
    # icc_profile, dpi, exif, xmp: carried into the output (see metadata); software, strip: set by callers
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]


# ----------------------------------------------------------------------------------------------
# Reading


def _bomb(path: Path) -> ImageError:
    return ImageError(f"{path}: refused as a decompression bomb (over {MAX_PIXELS // 1_000_000} megapixels)")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    if not path.is_file():  # a FIFO, a device, a socket: reading could block forever or never end
        raise ImageError(f"{path}: not a regular file")


def _opened(path: Path) -> Image.Image:
    """Open the header only, refusing folders, non-images and images over the pixel limit."""
    path = Path(path)
    _check_file(path)
    if camera_formats.is_heif(path) and not camera_formats.register_heif():
        raise ImageError(f"{path}: HEIC/HEIF needs pillow-heif (pip install pillow-heif)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(path) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageError(f"{path}: unreadable or truncated image ({_reason(e)})") from None
    if img.width * img.height > MAX_PIXELS:
        img.close()
        raise _bomb(path)
    return img


def _raw(path: Path, read: Any) -> Any:
    """``read(path)`` of a camera RAW, its failures as :class:`ImageError` naming the file."""
    path = Path(path)
    _check_file(path)
    try:
        return read(path)
    except CameraFormatError as e:
        raise ImageError(f"{path}: {e}") from None


def _reason(e: BaseException) -> str:
    return str(e) or e.__class__.__name__


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading only the header."""
    if camera_formats.is_raw(path):
        return _raw(path, camera_formats.raw_size)
    with _opened(Path(path)) as img:
        w, h = img.size
        return (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)


def check_decodable(path: Path) -> None:
    """Decode the whole file (JPEGs at 1/8 scale, which reads every byte as quickly as possible):
    raises :class:`ImageError` on a truncated or corrupt file that its header alone does not show.
    A camera RAW is checked by LibRaw reading its header and its sizes (developing it takes seconds)."""
    if camera_formats.is_raw(path):
        _raw(path, camera_formats.raw_size)
        return
    with _opened(Path(path)) as img:
        if img.format == "JPEG":
            img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
        _load(img, Path(path))


def _load(img: Image.Image, path: Path) -> None:
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageError(f"{path}: unreadable or truncated image ({_reason(e)})") from None


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an HxW or HxWxC array, as ImageOps.exif_transpose does."""
    if orientation in (5, 6, 7, 8):
        arr = arr.swapaxes(0, 1)  # transpose; then each case is a flip of the transposed array
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation in (2, 3):
        arr = arr[:, ::-1]
    if orientation in (3, 4):
        arr = arr[::-1]
    return np.ascontiguousarray(arr)


def _convert(img: Image.Image, mode: str, path: Path) -> Image.Image:
    try:
        return img.convert(mode)
    except ValueError as e:
        raise ImageError(f"{path}: cannot convert its {img.mode} pixels to {mode} ({e})") from None


def _pixels(img: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None, int, list[str]]:
    """(HxWxC float pixels, HxW float alpha or None, bit depth, notes) from any loaded Pillow mode."""
    notes: list[str] = []
    mode = img.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        img = _convert(img, "RGBA" if has_alpha else "RGB", path)
        notes.append("palette image converted to RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        img = _convert(img, "RGB", path)
        if mode != "RGBX":
            notes.append(f"{mode} image converted to RGB")
    elif mode == "1":
        img = _convert(img, "L", path)
    elif mode in ("La", "RGBa"):
        img = _convert(img, mode.upper(), path)
    alpha = None
    if img.mode in ("LA", "RGBA"):
        alpha = _u8_to_float(np.asarray(img.getchannel("A")))
        img = _convert(img, img.mode[:-1], path)
    if img.mode in ("L", "RGB"):
        return _u8_to_float(np.asarray(img)), alpha, 8, notes
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / 65535.0, None, 16, notes
    if img.mode == "I":
        raw = np.asarray(img, dtype=np.int64)
        if raw.min() >= 0 and raw.max() <= 65535:
            return raw.astype(np.float32) / 65535.0, None, 16, notes
        lo, hi = float(raw.min()), float(raw.max())
        notes.append("32-bit integer image rescaled to its range")
        return ((raw - lo) / max(hi - lo, 1)).astype(np.float32), None, 16, notes
    if img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-12)
            notes.append("floating-point image rescaled to its range")
        return arr, None, 16, notes
    img = _convert(img, "RGB", path)
    notes.append(f"{mode} image converted to RGB")
    return _u8_to_float(np.asarray(img)), None, 8, notes


def _u8_to_float(arr: np.ndarray) -> np.ndarray:
    # np.asarray(pil_image, dtype=float32) converts element by element (about 5 s for 24 MP);
    # taking the uint8 buffer first and casting in numpy is ten times faster.
    out = arr.astype(np.float32)
    out *= np.float32(1 / 255)
    return out


def load_image(path: Path) -> LoadedImage:
    """Load any supported image; EXIF orientation applied; clear :class:`ImageError` otherwise."""
    path = Path(path)
    if camera_formats.is_raw(path):
        pixels = _raw(path, lambda p: camera_formats.read_raw(p, MAX_PIXELS))
        return LoadedImage(pixels, None, 16, "RGB", "RAW", [camera_formats.RAW_NOTE], {})
    with _opened(path) as img:
        fmt, source_mode = img.format, img.mode
        frames = int(getattr(img, "n_frames", 1) or 1)
        wide = wide_rawmode(img)  # before anything loads the pixels (PNG's getexif() does)
        _load(img, path)
        info = {k: img.info[k] for k in ("icc_profile", "dpi") if k in img.info}
        info.update(metadata.read(img))
        orientation = _orientation(img)
        if wide is not None:
            try:
                colour, alpha16 = read_wide(path, img, wide)
            except (OSError, ValueError, KeyError) as e:
                raise ImageError(f"{path}: unreadable 16-bit image ({_reason(e)})") from None
            pixels, bit_depth, notes = colour.astype(np.float32) / 65535.0, 16, []
            alpha = None if alpha16 is None else alpha16.astype(np.float32) / 65535.0
        else:
            pixels, alpha, bit_depth, notes = _pixels(img, path)
    if frames > 1:
        notes.append(f"{fmt or 'the'} file holds {frames} frames: only the first is used")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if orientation != 1:
        pixels = orient(pixels, orientation)
        alpha = None if alpha is None else orient(alpha, orientation)
        notes.insert(0, "EXIF orientation applied")
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    return LoadedImage(pixels, alpha, bit_depth, source_mode, fmt, notes, info)


# Full-range Rec. 601 RGB -> YCbCr (luma, then the two chroma differences, zero for gray).
YCBCR_601 = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, HxWx1."""
    if pixels.shape[2] == 1:
        return pixels
    return (pixels[:, :, :3] @ YCBCR_601[0].astype(np.float32))[:, :, None]


# ----------------------------------------------------------------------------------------------
# Writing


def to_uint(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    """[0, 1] floats to 8 or 16-bit integers, rounded; in float32 row blocks (a 24 MP photo in float64
    took 3.5 s and 600 MB of temporaries)."""
    peak = 65535 if bit_depth == 16 else 255
    arr = np.asarray(arr)
    out = np.empty(arr.shape, np.uint16 if bit_depth == 16 else np.uint8)
    rows = max(1, (1 << 22) // max(1, arr[:1].size))
    for i in range(0, arr.shape[0], rows):
        block = np.multiply(arr[i:i + rows], np.float32(peak), dtype=np.float32)
        np.rint(block, out=block)
        np.clip(block, 0, peak, out=block)
        out[i:i + rows] = block
    return out


def array_to_pil(pixels: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8) -> Image.Image:
    """HxWxC float [0, 1] (+ alpha) to a Pillow image; 16-bit only for single-channel images
    without alpha (Pillow's limit; :func:`save_image` writes the other 16-bit images itself)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    c = pixels.shape[2]
    if bit_depth == 16 and c == 1 and alpha is None:
        return Image.fromarray(to_uint(pixels[:, :, 0], 16))
    u8 = to_uint(pixels, 8)
    img = Image.fromarray(u8[:, :, 0]) if c == 1 else Image.fromarray(u8)
    if alpha is not None:
        img.putalpha(Image.fromarray(to_uint(alpha, 8)))
    return img


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
            ".bmp": "BMP"}


def image_format(path: Path) -> str:
    """The Pillow format an output path's extension asks for; :class:`ImageError` if none."""
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image extension; use one of {', '.join(sorted(_FORMATS))}")
    return fmt


def _encode(pixels: np.ndarray, alpha: np.ndarray | None, bit_depth: int, fmt: str, quality: int,
            info: dict[str, Any]) -> tuple[bytes, list[str]]:
    notes: list[str] = []
    c = pixels.shape[2]
    if alpha is not None and fmt in ("JPEG", "BMP"):
        notes.append(f"{fmt} keeps no transparency: alpha dropped")
        alpha = None
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        notes.append(f"{fmt} holds 8 bits per channel: saved as 8-bit")
        bit_depth = 8
    if bit_depth == 16 and fmt == "TIFF" and c == 1 and alpha is not None:
        notes.append("16-bit gray with alpha is not a TIFF that Pillow reads back: saved as 8-bit")
        bit_depth = 8
    icc, dpi = info.get("icc_profile"), info.get("dpi")
    if bit_depth == 16 and (c == 3 or alpha is not None):
        arr = to_uint(pixels, 16)
        if alpha is not None:
            arr = np.concatenate([arr, to_uint(alpha, 16)[:, :, None]], axis=2)
        if fmt == "PNG":
            return encode_png16(arr, icc, dpi, exif=metadata.exif_for_output(info)), notes
        if info.get("exif") and not info.get("strip"):
            notes.append("16-bit TIFF: EXIF and XMP not kept (saved as PNG they are)")
        return encode_tiff16(arr, icc, dpi), notes
    img = array_to_pil(pixels, alpha, bit_depth)
    kwargs: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "JPEG":
        kwargs["subsampling"] = 0 if quality >= 90 else 2
    kwargs.update(metadata.save_kwargs(info, fmt))
    if fmt == "TIFF":
        # Pillow compresses TIFF through libtiff, which cannot write EXIF's sub-IFDs (date taken, GPS):
        # such a photo is written uncompressed rather than lose them.
        if metadata.has_sub_ifds(kwargs.get("tiffinfo")):
            notes.append("TIFF written uncompressed to keep the EXIF date taken and GPS")
        else:
            kwargs["compression"] = "tiff_deflate"
    if icc and fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        kwargs["icc_profile"] = icc
    if dpi and fmt in ("JPEG", "PNG", "TIFF", "BMP"):
        kwargs["dpi"] = dpi
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue(), notes


MIN_QUALITY, MAX_QUALITY = 1, 100


def encode_image(path: Path, pixels: np.ndarray, *, alpha: np.ndarray | None = None, bit_depth: int = 8,
                 quality: int = 95, info: dict[str, Any] | None = None) -> tuple[bytes, list[str]]:
    """The file's bytes in the format ``path``'s extension asks for, and notes on what could not be
    kept (bit depth, alpha). Raises :class:`ImageError` on an unknown extension or a bad array."""
    fmt = image_format(path)
    if not MIN_QUALITY <= int(quality) <= MAX_QUALITY:
        raise ImageError(f"quality must lie in {MIN_QUALITY}..{MAX_QUALITY}, got {quality}")
    px = np.asarray(pixels, dtype=np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.ndim != 3 or px.shape[2] not in (1, 3):
        raise ImageError(f"{path}: cannot save an array of shape {px.shape} (expected H x W x 1 or 3)")
    return _encode(px, alpha, bit_depth, fmt, int(quality), info or {})


def save_image(path: Path, pixels: np.ndarray, *, alpha: np.ndarray | None = None, bit_depth: int = 8,
               quality: int = 95, info: dict[str, Any] | None = None, overwrite: bool = True) -> list[str]:
    """Encode fully in memory, then write atomically (temp file + rename). Returns notes on what
    could not be kept (bit depth, alpha). Raises :class:`ImageError` on an unknown extension or a
    write failure (e.g. a full disk), leaving any existing file at ``path`` untouched."""
    path = Path(path)
    if not overwrite and path.exists():
        raise ImageError(f"{path}: exists already (refusing to overwrite)")
    if not path.parent.is_dir():
        raise ImageError(f"{path}: folder {path.parent} does not exist")
    data, notes = encode_image(path, pixels, alpha=alpha, bit_depth=bit_depth, quality=quality, info=info)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise ImageError(f"{path}: could not write ({e.strerror or e}); nothing was changed") from None
    return notes

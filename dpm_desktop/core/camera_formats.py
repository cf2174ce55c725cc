"""Photos as phones and cameras save them (issue 15): HEIC/HEIF through pillow-heif, camera RAW
(DNG and the makers' formats) through rawpy, which wraps LibRaw. Read only; results are saved in
the formats of :mod:`imaging`. No Qt, no torch.

HEIC opens as a Pillow image (pillow-heif registers itself as a Pillow plugin), so EXIF, XMP and
ICC come with it. pillow-heif applies the file's rotation and resets the EXIF orientation to 1.

RAW is demosaiced by LibRaw (AHD) with the camera's white balance into linear 16-bit sRGB
primaries, brightened as dcraw does (the brightest 1 % saturate), then the sRGB transfer curve is
applied in float32, so the engine sees an sRGB photo like any other, at 16 bits. LibRaw does not
hand EXIF over, so a RAW's metadata is not carried to the output (a note says so).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

HEIF_EXTENSIONS = (".heic", ".heif", ".hif")
# What LibRaw reads (its list of cameras is long); the common extensions of each maker.
RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
                  ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".rwl")
RAW_NOTE = ("camera RAW: demosaiced by LibRaw with the camera's white balance, to 16-bit sRGB "
            "(its EXIF is not carried over)")


class CameraFormatError(Exception):
    """A HEIC or RAW file that cannot be read; the message gives the reason (not the path)."""


@functools.cache
def register_heif() -> bool:
    """Teach Pillow to open HEIC/HEIF (once per process); False when pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def is_heif(path: Path) -> bool:
    return Path(path).suffix.lower() in HEIF_EXTENSIONS


def is_raw(path: Path) -> bool:
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1) of linear values, float32 (the input is clipped to [0, 1]
    in place)."""
    x = np.clip(linear, 0.0, 1.0, out=linear)
    low = x <= 0.0031308
    out = np.power(x, np.float32(1 / 2.4), dtype=np.float32)
    out *= np.float32(1.055)
    out -= np.float32(0.055)
    out[low] = x[low] * np.float32(12.92)
    return out


def raw_size(path: Path) -> tuple[int, int]:
    """(width, height) of a RAW's developed image, upright, reading only its header."""
    with _open_raw(path) as raw:
        s = raw.sizes
        w, h = s.iwidth, s.iheight
        return (h, w) if s.flip in (5, 6) else (w, h)


def read_raw(path: Path, max_pixels: int) -> np.ndarray:
    """The developed RAW as HxWx3 float32 sRGB in [0, 1] (upright: LibRaw applies the camera's flip)."""
    import rawpy

    with _open_raw(path) as raw:
        s = raw.sizes
        if s.raw_width * s.raw_height > max_pixels:
            raise CameraFormatError(f"over {max_pixels // 1_000_000} megapixels")
        try:
            rgb16 = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, output_bps=16,
                                    gamma=(1, 1))
        except (rawpy.LibRawError, ValueError, MemoryError) as e:
            raise CameraFormatError(f"LibRaw could not develop it ({e.__class__.__name__}: {e})") from None
    linear = np.multiply(rgb16, np.float32(1 / 65535), dtype=np.float32)
    return srgb_encode(linear)


def _open_raw(path: Path) -> Any:  # a rawpy.RawPy (rawpy is imported lazily)
    try:
        import rawpy
    except ImportError:
        raise CameraFormatError("camera RAW needs rawpy (pip install rawpy)") from None
    try:
        return rawpy.imread(str(path))
    except (rawpy.LibRawError, OSError, ValueError) as e:
        raise CameraFormatError(f"not a camera RAW that LibRaw reads ({e.__class__.__name__}: {e})") from None


# XYZ (D65) to linear sRGB, IEC 61966-2-1, as DNG's signed rationals (x / 10000).
_XYZ_TO_SRGB = tuple(v for x in (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570) for v in (x, 10000))


def write_dng(path: Path, linear_rgb: np.ndarray, *, neutral: tuple[float, float, float] = (1, 1, 1),
              orientation: int = 1) -> None:
    """A camera RAW as a DNG, for the tests and the installer's self-test (needs tifffile, a dev and
    build dependency): an RGGB Bayer mosaic (12 bits, black level 64) of an H x W x 3 linear sRGB scene
    (H, W even), the camera's colour space being linear sRGB, with the given as-shot neutral (each
    channel is recorded scaled by it, as a camera's white balance undoes) and EXIF orientation."""
    import tifffile

    h, w = linear_rgb.shape[:2]
    gains = np.array([[neutral[0], neutral[1]], [neutral[1], neutral[2]]])
    cfa = np.empty((h, w))
    cfa[0::2, 0::2], cfa[0::2, 1::2] = linear_rgb[0::2, 0::2, 0], linear_rgb[0::2, 1::2, 1]
    cfa[1::2, 0::2], cfa[1::2, 1::2] = linear_rgb[1::2, 0::2, 1], linear_rgb[1::2, 1::2, 2]
    cfa *= np.tile(gains, (h // 2, w // 2))
    data = (64 + np.clip(cfa, 0, 1) * (4095 - 64)).astype(np.uint16)
    n = [round(v * 1000) for v in neutral]
    tags = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),  # CFA: 2x2, RGGB
            (50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "DPM Desktop test camera", True),  # DNG 1.4
            (50714, "H", 1, (64,), True), (50717, "H", 1, (4095,), True),  # black and white levels
            (50721, "2i", 9, _XYZ_TO_SRGB, True),  # ColorMatrix1
            (50728, "2I", 3, (n[0], 1000, n[1], 1000, n[2], 1000), True),  # AsShotNeutral
            (50778, "H", 1, (21,), True), (274, "H", 1, (orientation,), True)]  # D65; Orientation
    tifffile.imwrite(path, data, photometric=32803, extratags=tags, subfiletype=0)

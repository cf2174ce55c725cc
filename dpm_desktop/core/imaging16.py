"""16-bit colour images: what Pillow 13 cannot do by itself, done without another dependency.

Pillow has 16-bit modes for one channel only (``I;16``). It opens 16-bit RGB, RGBA and gray+alpha
PNGs and 16-bit RGB(A) TIFFs as 8-bit images, keeping the high byte of every sample, and it
cannot write them at all.

Reading: Pillow's decoders do the hard part (inflate, PNG filters, TIFF predictors) and then unpack
each 16-bit sample with a "raw mode". Decoding the same file once more with the raw mode's byte
order swapped yields the low bytes instead of the high ones; together they are the exact samples.
Gray+alpha PNGs are decoded once as 8-bit RGBA bytes (L high, L low, A high, A low).

Writing: PNG (zlib, the "Up" row filter) and baseline TIFF (Adobe deflate with the horizontal
predictor), both few enough lines to keep here. The tests read every file back bit for bit.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

_NATIVE_LOW = ";16B" if sys.byteorder == "little" else ";16L"
_LOW_BYTE_RAWMODE = {";16B": ";16L", ";16L": ";16B", ";16N": _NATIVE_LOW}


def _rawmode(args: Any) -> str | None:
    raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else None)
    return raw if isinstance(raw, str) else None


def wide_rawmode(img: Image.Image) -> str | None:
    """The 16-bit raw mode of an opened (not yet loaded) RGB/RGBA image that Pillow will narrow to
    8 bits, e.g. ``RGB;16B``; None for every other image."""
    if img.mode not in ("RGB", "RGBA") or not img.tile:
        return None
    modes = {_rawmode(t.args) for t in img.tile}
    if len(modes) != 1:
        return None
    raw = modes.pop()
    if raw is None or raw == "LA;16B":
        return raw
    return raw if raw[-4:] in _LOW_BYTE_RAWMODE and raw[:-4] == img.mode else None


def _with_rawmode(args: Any, raw: str) -> Any:
    return raw if isinstance(args, str) else (raw, *args[1:])


def _decode_as(path: Path, raw: str) -> np.ndarray:
    """Decode ``path`` again with every tile unpacked by raw mode ``raw``; HxWxC uint8."""
    with Image.open(path) as img:
        img.tile = [t._replace(args=_with_rawmode(t.args, raw)) for t in img.tile]
        img.load()
        return np.asarray(img)


def read_wide(path: Path, img: Image.Image, raw: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The exact 16-bit samples of an image whose 8-bit decode ``img`` Pillow has made:
    (HxWxC uint16 colour or gray, HxW uint16 alpha or None)."""
    if raw == "LA;16B":
        b = _decode_as(path, "RGBA").astype(np.uint16)
        return (b[:, :, 0] << 8 | b[:, :, 1])[:, :, None], b[:, :, 2] << 8 | b[:, :, 3]
    high = np.asarray(img).astype(np.uint16)
    low = _decode_as(path, raw[:-4] + _LOW_BYTE_RAWMODE[raw[-4:]]).astype(np.uint16)
    full = high << 8 | low
    return (full[:, :, :3], full[:, :, 3]) if full.shape[2] == 4 else (full, None)


# ----------------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


Dpi = tuple[float, float]


def encode_png16(arr: np.ndarray, icc_profile: bytes | None = None, dpi: Dpi | None = None,
                 exif: bytes | None = None) -> bytes:
    """A 16-bit PNG from an HxWxC uint16 array, C = 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)."""
    h, w, c = arr.shape
    rows = np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, w * c * 2)
    up = rows.copy()
    up[1:] -= rows[:-1]  # the "Up" filter, modulo 256
    filtered = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1)
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    out = [b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))]
    if icc_profile:
        out.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if dpi:
        ppm = [max(1, round(float(d) / 0.0254)) for d in dpi]
        out.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:  # the eXIf chunk holds the TIFF-structured block, without the JPEG "Exif\0\0" header
        out.append(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    data = zlib.compress(filtered.tobytes(), 6)
    step = 1 << 23
    out += [_png_chunk(b"IDAT", data[i:i + step]) for i in range(0, len(data), step)]
    out.append(_png_chunk(b"IEND", b""))
    return b"".join(out)


_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7


def encode_tiff16(arr: np.ndarray, icc_profile: bytes | None = None, dpi: Dpi | None = None) -> bytes:
    """A 16-bit little-endian TIFF (Adobe deflate, horizontal predictor) from an HxWxC uint16
    array, C = 1 (gray), 3 (RGB) or 4 (RGBA, unassociated alpha)."""
    h, w, c = arr.shape
    diff = arr.astype(np.uint16)  # the horizontal predictor: differences along each row, modulo 2^16
    diff[:, 1:] = arr[:, 1:] - arr[:, :-1]
    rows_per_strip = max(1, (1 << 18) // (w * c * 2))
    strips = [zlib.compress(np.ascontiguousarray(diff[y:y + rows_per_strip], dtype="<u2").tobytes(), 6)
              for y in range(0, h, rows_per_strip)]
    offsets, pos = [], 8
    for s in strips:
        offsets.append(pos)
        pos += len(s)
    pad = b"\x00" * (pos % 2)  # TIFF offsets are even
    pos += len(pad)

    def rational(v: float) -> bytes:
        return struct.pack("<II", max(1, round(float(v) * 1000)), 1000)

    entries: list[tuple[int, int, int, bytes]] = [
        (256, _LONG, 1, struct.pack("<I", w)), (257, _LONG, 1, struct.pack("<I", h)),
        (258, _SHORT, c, struct.pack(f"<{c}H", *[16] * c)), (259, _SHORT, 1, struct.pack("<H", 8)),
        (262, _SHORT, 1, struct.pack("<H", 2 if c >= 3 else 1)),
        (273, _LONG, len(strips), struct.pack(f"<{len(strips)}I", *offsets)),
        (277, _SHORT, 1, struct.pack("<H", c)), (278, _LONG, 1, struct.pack("<I", rows_per_strip)),
        (279, _LONG, len(strips), struct.pack(f"<{len(strips)}I", *map(len, strips))),
        (284, _SHORT, 1, struct.pack("<H", 1)), (317, _SHORT, 1, struct.pack("<H", 2)),
    ]
    if dpi:
        entries += [(282, _RATIONAL, 1, rational(dpi[0])), (283, _RATIONAL, 1, rational(dpi[1])),
                    (296, _SHORT, 1, struct.pack("<H", 2))]
    if c in (2, 4):
        entries.append((338, _SHORT, 1, struct.pack("<H", 2)))
    if icc_profile:
        entries.append((34675, _UNDEFINED, len(icc_profile), icc_profile))
    entries.sort()
    extra, values = bytearray(), []
    for _, _, _, payload in entries:  # values longer than 4 bytes live after the strips
        if len(payload) > 4:
            values.append(struct.pack("<I", pos + len(extra)))
            extra += payload + b"\x00" * (len(payload) % 2)
        else:
            values.append(payload.ljust(4, b"\x00"))
    ifd_offset = pos + len(extra)
    fields = [struct.pack("<HHI", tag, typ, count) + value
              for (tag, typ, count, _), value in zip(entries, values, strict=True)]
    ifd = struct.pack("<H", len(entries)) + b"".join(fields) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + b"".join(strips) + pad + bytes(extra) + ifd

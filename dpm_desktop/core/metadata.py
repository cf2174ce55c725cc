"""Photo metadata carried from the input to the output (issue 15): EXIF (camera, dates, GPS...), XMP
and the ICC profile, as photo managers need them to sort and show a restored photo.

The pixels of a loaded photo are already turned upright, so the output's EXIF orientation is reset
to 1; the EXIF thumbnail (IFD1) is not written (Pillow writes IFD0 and its Exif/GPS sub-IFDs only),
so no stale preview of the damaged photo survives. ``Software`` (EXIF 0x0131) names DPM Desktop and
what it did. ``strip`` removes EXIF and XMP (GPS included); the ICC profile stays, since without it
the colours would change.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

EXIF_ORIENTATION, EXIF_SOFTWARE = 0x0112, 0x0131
TIFF_XMP = 700
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# Tags that describe a file's pixel layout (a TIFF's IFD0 is its EXIF IFD0) or are carried on their own
# (resolution as dpi, ICC, XMP, the thumbnail's offsets): never copied from the input's EXIF.
_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 320,
                          322, 323, 324, 325, 338, 339, 513, 514, 530, 531, 532, TIFF_XMP, 34675})


def read(img: Image.Image) -> dict[str, Any]:
    """EXIF (bytes) and XMP (bytes) of an opened Pillow image, where it has them."""
    out: dict[str, Any] = {}
    try:
        exif = img.getexif()
        if len(exif) or exif.get_ifd(EXIF_IFD) or exif.get_ifd(GPS_IFD):
            out["exif"] = exif.tobytes()
    except Exception:  # a broken EXIF block must not make a good photo unreadable
        pass
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if xmp is None and hasattr(img, "tag_v2"):
        xmp = img.tag_v2.get(TIFF_XMP)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if isinstance(xmp, (bytes, bytearray)) and xmp:
        out["xmp"] = bytes(xmp)
    return out


def software_note(operation: str) -> str:
    from .. import __version__

    return f"DPM Desktop {__version__} ({operation})"


def exif_for_output(info: dict[str, Any]) -> bytes | None:
    """The EXIF to write: the input's, upright, without thumbnail, with the software note."""
    if info.get("strip"):
        return None
    exif = Image.Exif()
    raw = info.get("exif")
    if raw:
        try:
            exif.load(raw)
        except Exception:
            exif = Image.Exif()
    for tag in _LAYOUT_TAGS & set(exif):
        del exif[tag]
    if EXIF_ORIENTATION in exif:
        exif[EXIF_ORIENTATION] = 1
    if info.get("software"):
        exif[EXIF_SOFTWARE] = info["software"]
    return exif.tobytes() if len(exif) or raw else None


def has_sub_ifds(tags: Image.Exif | None) -> bool:
    """Whether EXIF tags hold an Exif or GPS sub-IFD (date taken, exposure, location)."""
    return tags is not None and any(k in tags for k in (EXIF_IFD, GPS_IFD))


def save_kwargs(info: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Pillow save() arguments that carry EXIF and XMP into ``fmt`` (what the format can hold)."""
    kwargs: dict[str, Any] = {}
    exif = exif_for_output(info)
    xmp = None if info.get("strip") else info.get("xmp")
    if fmt == "TIFF":  # Pillow's TIFF writer takes one tag dictionary: EXIF's IFD0 and its sub-IFDs, and XMP
        tags = Image.Exif()
        if exif:
            tags.load(exif)
        if xmp:
            tags[TIFF_XMP] = xmp
        return {"tiffinfo": tags} if len(tags) else {}
    if exif and fmt in ("JPEG", "PNG", "WEBP"):
        kwargs["exif"] = exif
    if xmp and fmt in ("JPEG", "WEBP"):
        kwargs["xmp"] = xmp
    elif xmp and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        png = PngInfo()
        png.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        kwargs["pnginfo"] = png
    return kwargs

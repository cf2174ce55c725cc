"""Image IO on real files: every format, 8 and 16 bits, every Pillow mode we meet, EXIF orientation,
hostile files, and atomic writes."""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from support import photo_like

from dpm_desktop.core import atomic
from dpm_desktop.core.imaging import (
    ImageError,
    check_decodable,
    image_size,
    load_image,
    orient,
    save_image,
    to_uint,
)


def u16(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """Random 16-bit samples whose low bytes matter (no value is a multiple of 257)."""
    arr = np.random.default_rng(seed).integers(0, 65536, (h, w, c), dtype=np.uint16)
    arr[arr % 257 == 0] += 1
    return arr


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_unfiltered(arr: np.ndarray) -> bytes:
    """A 16-bit PNG written the plainest way (filter 0), independently of the code under test."""
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def tiff16_uncompressed(arr: np.ndarray, big_endian: bool) -> bytes:
    """A baseline uncompressed 16-bit TIFF in either byte order, independently of the code under test."""
    h, w, c = arr.shape
    e = ">" if big_endian else "<"
    data = arr.astype(e + "u2").tobytes()
    bps_offset = 8 + len(data)
    ifd_offset = bps_offset + 2 * c
    tags = [(256, 4, 1, struct.pack(e + "I", w)), (257, 4, 1, struct.pack(e + "I", h)),
            (258, 3, c, struct.pack(e + "I", bps_offset)), (259, 3, 1, struct.pack(e + "HH", 1, 0)),
            (262, 3, 1, struct.pack(e + "HH", 2, 0)), (273, 4, 1, struct.pack(e + "I", 8)),
            (277, 3, 1, struct.pack(e + "HH", c, 0)), (278, 4, 1, struct.pack(e + "I", h)),
            (279, 4, 1, struct.pack(e + "I", len(data)))]
    if c == 4:
        tags.append((338, 3, 1, struct.pack(e + "HH", 2, 0)))
    ifd = struct.pack(e + "H", len(tags)) + b"".join(struct.pack(e + "HHI", t, ty, n) + v for t, ty, n, v in tags)
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", ifd_offset)
    return head + data + struct.pack(e + f"{c}H", *[16] * c) + ifd + struct.pack(e + "I", 0)


def as_u16(px: np.ndarray) -> np.ndarray:
    return np.rint(px.astype(np.float64) * 65535).astype(np.uint16)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------------------------
# 8-bit formats


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".tiff"])
@pytest.mark.parametrize("channels", [1, 3])
def test_lossless_8bit_round_trip_is_exact(tmp_path: Path, ext: str, channels: int) -> None:
    px = photo_like(37, 53, seed=1, channels=channels)
    path = tmp_path / f"img{ext}"
    assert save_image(path, px) == []
    img = load_image(path)
    assert img.pixels.dtype == np.float32 and img.pixels.shape == (37, 53, channels)
    assert img.bit_depth == 8 and img.alpha is None
    np.testing.assert_array_equal(to_uint(img.pixels, 8), to_uint(px, 8))


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".webp"])
def test_lossy_formats_round_trip_closely(tmp_path: Path, ext: str) -> None:
    px = photo_like(40, 48, seed=2)
    path = tmp_path / f"img{ext}"
    save_image(path, px, quality=95)
    img = load_image(path)
    assert img.pixels.shape == px.shape
    assert float(np.abs(img.pixels - px).mean()) < 0.01


def test_rgba_png_keeps_alpha_exactly(tmp_path: Path) -> None:
    px = photo_like(20, 30, seed=3)
    alpha = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    save_image(tmp_path / "a.png", px, alpha=alpha)
    img = load_image(tmp_path / "a.png")
    assert img.alpha is not None
    np.testing.assert_array_equal(to_uint(img.alpha, 8), to_uint(alpha, 8))
    np.testing.assert_array_equal(to_uint(img.pixels, 8), to_uint(px, 8))
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGBA"


def test_formats_without_alpha_say_so(tmp_path: Path) -> None:
    px, alpha = photo_like(8, 8), np.ones((8, 8), np.float32)
    notes = save_image(tmp_path / "a.jpg", px, alpha=alpha)
    assert any("alpha" in n for n in notes)
    assert load_image(tmp_path / "a.jpg").alpha is None


# ----------------------------------------------------------------------------------------------
# 16 bits


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_gray_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    arr = u16(17, 23, 1)
    path = tmp_path / f"g{ext}"
    assert save_image(path, arr / 65535.0, bit_depth=16) == []
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    img = load_image(path)
    assert img.bit_depth == 16 and img.channels == 1
    np.testing.assert_array_equal(as_u16(img.pixels), arr)


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_colour_round_trip_is_exact(tmp_path: Path, ext: str, with_alpha: bool) -> None:
    arr = u16(19, 29, 4, seed=5)
    alpha = arr[:, :, 3] / 65535.0 if with_alpha else None
    path = tmp_path / f"c{ext}"
    assert save_image(path, arr[:, :, :3] / 65535.0, alpha=alpha, bit_depth=16) == []
    img = load_image(path)
    assert img.bit_depth == 16 and img.channels == 3
    np.testing.assert_array_equal(as_u16(img.pixels), arr[:, :, :3])
    if with_alpha:
        assert img.alpha is not None
        np.testing.assert_array_equal(as_u16(img.alpha), arr[:, :, 3])
    else:
        assert img.alpha is None
    with Image.open(path) as im:  # what any 8-bit reader sees: the high bytes
        np.testing.assert_array_equal(np.asarray(im)[:, :, :3], (arr[:, :, :3] >> 8).astype(np.uint8))


def test_16bit_gray_alpha_png_round_trip_is_exact(tmp_path: Path) -> None:
    arr = u16(9, 11, 2, seed=6)
    save_image(tmp_path / "la.png", arr[:, :, :1] / 65535.0, alpha=arr[:, :, 1] / 65535.0, bit_depth=16)
    img = load_image(tmp_path / "la.png")
    assert img.bit_depth == 16 and img.channels == 1 and img.alpha is not None
    np.testing.assert_array_equal(as_u16(img.pixels)[:, :, 0], arr[:, :, 0])
    np.testing.assert_array_equal(as_u16(img.alpha), arr[:, :, 1])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_from_another_writer_reads_exactly(tmp_path: Path, channels: int) -> None:
    arr = u16(7, 13, channels, seed=channels)
    (tmp_path / "x.png").write_bytes(png16_unfiltered(arr))
    img = load_image(tmp_path / "x.png")
    colour = 1 if channels <= 2 else 3
    assert img.bit_depth == 16
    np.testing.assert_array_equal(as_u16(img.pixels), arr[:, :, :colour])
    if channels in (2, 4):
        np.testing.assert_array_equal(as_u16(img.alpha), arr[:, :, -1])


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_uncompressed_tiff_in_both_byte_orders_reads_exactly(tmp_path: Path, big_endian: bool,
                                                                  channels: int) -> None:
    arr = u16(6, 10, channels, seed=9)
    (tmp_path / "x.tif").write_bytes(tiff16_uncompressed(arr, big_endian))
    img = load_image(tmp_path / "x.tif")
    assert img.bit_depth == 16
    np.testing.assert_array_equal(as_u16(img.pixels), arr[:, :, :3])
    if channels == 4:
        np.testing.assert_array_equal(as_u16(img.alpha), arr[:, :, 3])


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".bmp"])
def test_16bit_to_an_8bit_format_says_so(tmp_path: Path, ext: str) -> None:
    notes = save_image(tmp_path / f"x{ext}", u16(8, 8, 3) / 65535.0, bit_depth=16)
    assert any("8 bits" in n for n in notes)
    assert load_image(tmp_path / f"x{ext}").bit_depth == 8


def test_icc_profile_and_dpi_are_kept(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, depth in (("a.png", 8), ("b.png", 16), ("c.tif", 16), ("d.tif", 8)):
        save_image(tmp_path / name, photo_like(8, 8), bit_depth=depth, info={"icc_profile": icc, "dpi": (300, 300)})
        img = load_image(tmp_path / name)
        assert img.info["icc_profile"] == icc, name
        assert [round(float(d)) for d in img.info["dpi"]] == [300, 300], name


# ----------------------------------------------------------------------------------------------
# Modes


def test_palette_cmyk_bilevel_and_la_images(tmp_path: Path) -> None:
    base = Image.fromarray(to_uint(photo_like(24, 32, seed=4), 8))
    base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    p = load_image(tmp_path / "p.png")
    assert p.channels == 3 and p.alpha is None and any("palette" in n for n in p.notes)

    pt = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pt.info["transparency"] = 0
    pt.save(tmp_path / "pt.png", transparency=0)
    transparent = load_image(tmp_path / "pt.png")
    assert transparent.alpha is not None and transparent.alpha.min() == 0 and transparent.alpha.max() == 1

    base.convert("CMYK").save(tmp_path / "c.jpg")
    c = load_image(tmp_path / "c.jpg")
    assert c.channels == 3 and c.source_mode == "CMYK" and any("CMYK" in n for n in c.notes)
    assert float(np.abs(c.pixels - np.asarray(base, np.float32) / 255).mean()) < 0.03

    base.convert("1").save(tmp_path / "b.png")
    b = load_image(tmp_path / "b.png")
    assert b.channels == 1 and set(np.unique(b.pixels)) <= {0.0, 1.0}

    la = base.convert("LA")
    la.putalpha(Image.new("L", la.size, 77))
    la.save(tmp_path / "la.png")
    g = load_image(tmp_path / "la.png")
    assert g.channels == 1 and g.alpha is not None and np.all(to_uint(g.alpha, 8) == 77)


def exif_png(path: Path, orientation: int) -> Image.Image:
    im = Image.fromarray(to_uint(photo_like(12, 20, seed=orientation), 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes())
    return im


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    exif_png(tmp_path / "o.png", orientation)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    img = load_image(tmp_path / "o.png")
    # The 8-bit values round-trip exactly (float scaling may differ in the last ulp).
    np.testing.assert_array_equal(to_uint(img.pixels, 8), expected)
    assert image_size(tmp_path / "o.png") == (img.width, img.height)
    assert ("EXIF orientation applied" in img.notes) == (orientation != 1)


def test_orient_matches_pillow_on_alpha_planes() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for o in range(1, 9):
        im = Image.fromarray(a, mode="F")
        exif = im.getexif()
        exif[0x0112] = o
        im.info["exif"] = exif.tobytes()
        np.testing.assert_array_equal(orient(a, o), np.asarray(ImageOps.exif_transpose(im)))


# ----------------------------------------------------------------------------------------------
# Hostile and broken files


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # 400 megapixels declared, a few bytes of data
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 100))
    (tmp_path / "bomb.png").write_bytes(bomb + png_chunk(b"IEND", b""))
    for fn in (load_image, image_size, check_decodable):
        with pytest.raises(ImageError, match="decompression bomb"):
            fn(tmp_path / "bomb.png")


def test_truncated_images_are_refused(tmp_path: Path) -> None:
    for ext in (".png", ".jpg"):
        good = tmp_path / f"good{ext}"
        save_image(good, photo_like(64, 64, seed=7))
        data = good.read_bytes()
        bad = tmp_path / f"bad{ext}"
        bad.write_bytes(data[: len(data) // 2])
        assert image_size(bad) == (64, 64)  # the header alone looks fine
        with pytest.raises(ImageError, match="truncated"):
            load_image(bad)
        with pytest.raises(ImageError, match=r"bad\.(png|jpg)"):
            check_decodable(bad)
        check_decodable(good)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not an image"),
    (b"hello, I am a text file\n" * 10, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "unreadable|not an image"),
])
def test_non_images_are_refused_with_the_file_name(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


# ----------------------------------------------------------------------------------------------
# Writing safely


def test_save_refuses_unknown_extension_missing_folder_and_overwrite(tmp_path: Path) -> None:
    px = photo_like(8, 8)
    with pytest.raises(ImageError, match="unknown image extension"):
        save_image(tmp_path / "x.gif", px)
    with pytest.raises(ImageError, match="does not exist"):
        save_image(tmp_path / "no" / "x.png", px)
    save_image(tmp_path / "x.png", px)
    with pytest.raises(ImageError, match="exists already"):
        save_image(tmp_path / "x.png", px, overwrite=False)


def test_new_files_get_normal_permissions_and_replaced_files_keep_theirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_image(tmp_path / "new.png", photo_like(8, 8))
        assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == 0o644
        (tmp_path / "new.png").chmod(0o640)
        save_image(tmp_path / "new.png", photo_like(8, 8, seed=1))
        assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_full_disk_during_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    save_image(target, photo_like(16, 16, seed=1))
    before = target.read_bytes()

    def full_disk(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[: len(data) // 3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(ImageError, match="No space left on device") as info:
        save_image(target, photo_like(16, 16, seed=2))
    assert "nothing was changed" in str(info.value)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_failing_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.tif"
    save_image(target, photo_like(16, 16, seed=1))
    before = target.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(ImageError, match="could not write"):
        save_image(target, photo_like(16, 16, seed=2), bit_depth=16)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_interrupt_mid_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(tmp_path / "x.png", photo_like(8, 8))
    assert list(tmp_path.iterdir()) == []


def test_saved_bytes_decode_with_pillow_directly(tmp_path: Path) -> None:
    """Our own 16-bit writers produce files an ordinary reader accepts (Pillow, 8-bit view)."""
    arr = u16(5, 6, 3, seed=11)
    for name in ("x.png", "x.tif"):
        save_image(tmp_path / name, arr / 65535.0, bit_depth=16)
        with Image.open(io.BytesIO((tmp_path / name).read_bytes())) as im:
            im.load()
            assert im.size == (6, 5) and im.mode == "RGB"

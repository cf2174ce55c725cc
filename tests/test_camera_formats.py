"""HEIC/HEIF and camera RAW in (issue 15): files the tests make (pillow-heif encodes a HEIC, tifffile
writes a DNG), opened by the engine and by the real CLI. For the makers' own RAW formats (CR2/CR3,
NEF, ARW...) no sample installs offline: they go through the same LibRaw call as the DNG here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from support import XMP, photo_like, write_dng

from dpm_desktop.core.camera_formats import srgb_encode
from dpm_desktop.core.imaging import ImageError, image_size, load_image

pillow_heif = pytest.importorskip("pillow_heif")
pytest.importorskip("rawpy")


def dpm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dpm_desktop.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.fixture()
def phone_heic(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A phone's HEIC: stored landscape and rotated (EXIF orientation 6), with EXIF, XMP and ICC."""
    pillow_heif.register_heif_opener()
    px = (photo_like(48, 64, seed=2) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Apple", 6
    exif.get_ifd(0x8769)[0x9003] = "2021:05:06 07:08:09"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "IMG_1234.HEIC"
    Image.fromarray(px).save(path, format="HEIF", quality=95, exif=exif.tobytes(), xmp=XMP, icc_profile=icc)
    return path, px


def test_heic_opens_upright_with_its_metadata(phone_heic: tuple[Path, np.ndarray]) -> None:
    path, px = phone_heic
    img = load_image(path)
    upright = np.rot90(px, -1)  # orientation 6: rotate 90 degrees clockwise
    assert img.pixels.shape == upright.shape and image_size(path) == (48, 64)
    err = img.pixels * 255 - upright
    assert 10 * np.log10(255**2 / np.mean(err**2)) > 35  # the same photo, through a lossy codec
    assert {"exif", "xmp", "icc_profile"} <= set(img.info)


def test_heic_restored_to_jpeg_keeps_date_and_profile(phone_heic: tuple[Path, np.ndarray],
                                                     tiny_rgb_model: Path) -> None:
    path, _ = phone_heic
    out = path.with_name("restored.jpg")
    proc = dpm("denoise", str(path), "-o", str(out), "--sigma", "10", "--model", str(tiny_rgb_model))
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as im:
        assert im.size == (48, 64) and im.getexif().get(0x0112) == 1
        assert im.getexif().get_ifd(0x8769).get(0x9003) == "2021:05:06 07:08:09"
        assert im.info.get("icc_profile")


def test_dng_is_demosaiced_to_16_bit_srgb(tmp_path: Path) -> None:
    scene = write_dng(tmp_path / "a.dng")
    img = load_image(tmp_path / "a.dng")
    assert img.pixels.shape == scene.shape and img.bit_depth == 16 and img.format == "RAW"
    assert any("LibRaw" in n for n in img.notes)
    # Brightness is scaled as dcraw does; up to that scale the colours are the scene's, sRGB encoded.
    for c in range(3):
        r = np.corrcoef(img.pixels[4:-4, 4:-4, c].ravel(), srgb_encode(scene[4:-4, 4:-4, c].copy()).ravel())[0, 1]
        assert r > 0.98, (c, r)


def test_dng_uses_the_cameras_white_balance_and_orientation(tmp_path: Path) -> None:
    import rawpy

    path = tmp_path / "warm.dng"
    write_dng(path, neutral=(0.5, 1, 1), orientation=6)  # red recorded at half strength; shot in portrait
    img = load_image(path).pixels
    assert img.shape == (96, 64, 3) and image_size(path) == (64, 96)  # turned upright
    with rawpy.imread(str(path)) as raw:  # the same file developed without the camera's white balance
        plain = raw.postprocess(use_camera_wb=False, output_color=rawpy.ColorSpace.sRGB, output_bps=16, gamma=(1, 1))
    plain = srgb_encode(plain.astype(np.float32) / 65535)

    def red_over_green(p: np.ndarray) -> float:
        return float(np.mean(p[8:-8, 8:-8, 0]) / np.mean(p[8:-8, 8:-8, 1]))

    assert red_over_green(img) > 1.3 * red_over_green(plain)  # the as-shot neutral lifted red


def test_dng_restored_to_16_bit_png(tmp_path: Path, tiny_rgb_model: Path) -> None:
    write_dng(tmp_path / "shot.dng")
    out = tmp_path / "shot.png"
    proc = dpm("denoise", str(tmp_path / "shot.dng"), "-o", str(out), "--sigma", "10", "--model", str(tiny_rgb_model))
    assert proc.returncode == 0, proc.stderr
    assert "LibRaw" in proc.stderr + proc.stdout
    assert load_image(out).bit_depth == 16 and load_image(out).pixels.shape == (64, 96, 3)


@pytest.mark.parametrize("name", ["broken.dng", "broken.cr3", "broken.heic"])
def test_corrupt_raw_and_heic_are_refused_with_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ImageError, match=name):
        load_image(path)
    proc = dpm("denoise", str(path), "-o", str(tmp_path / "out.png"), "--sigma", "10")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and name in proc.stderr
    assert not (tmp_path / "out.png").exists()

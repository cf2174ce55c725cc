"""Metadata photographers rely on (issue 15): EXIF (camera, date taken, GPS), XMP and ICC go from the
input to every output that can hold them; the orientation is reset (the pixels are upright); a
Software note names DPM Desktop; --strip-metadata removes EXIF and XMP. Real files, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import photo_like, write_camera_jpeg


@pytest.fixture()
def camera_jpeg(tmp_path: Path) -> Path:
    return write_camera_jpeg(tmp_path / "IMG_0001.jpg")


def dpm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dpm_desktop.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_exif_xmp_and_icc_survive_a_restoration(camera_jpeg: Path, tiny_rgb_model: Path, ext: str) -> None:
    out = camera_jpeg.with_name("restored" + ext)
    proc = dpm("denoise", str(camera_jpeg), "-o", str(out), "--sigma", "10", "--model", str(tiny_rgb_model))
    assert proc.returncode == 0, proc.stderr
    with Image.open(camera_jpeg) as src, Image.open(out) as im:
        assert im.size == (40, 56)  # upright, so the orientation must say so
        exif = im.getexif()
        assert (exif.get(0x010F), exif.get(0x0110)) == ("Canon", "EOS 5D")
        assert exif.get(0x0112) == 1
        assert exif.get_ifd(0x8769).get(0x9003) == "2019:07:14 16:20:00"
        assert exif.get_ifd(0x8825).get(1) == "N"
        assert exif.get(0x0131).startswith("DPM Desktop ") and "denoise" in exif.get(0x0131)
        assert im.info.get("icc_profile") == src.info["icc_profile"]
        if ext != ".tif":
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            assert xmp and b'dc:creator="Ann"' in (xmp if isinstance(xmp, bytes) else xmp.encode())


def test_strip_metadata_removes_exif_gps_and_xmp_and_keeps_the_colours(camera_jpeg: Path,
                                                                       tiny_rgb_model: Path) -> None:
    out = camera_jpeg.with_name("stripped.jpg")
    proc = dpm("denoise", str(camera_jpeg), "-o", str(out), "--sigma", "10", "--model", str(tiny_rgb_model),
               "--strip-metadata")
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as im:
        assert len(im.getexif()) == 0 and not im.getexif().get_ifd(0x8825)
        assert "xmp" not in im.info and "exif" not in im.info
        assert im.info.get("icc_profile")  # colour management is not metadata to strip


def test_16_bit_png_keeps_exif(tmp_path: Path, tiny_rgb_model: Path) -> None:
    from dpm_desktop.core.imaging import load_image, save_image

    src = tmp_path / "scan.png"
    exif = Image.Exif()
    exif[0x010F] = "Epson"
    img16 = (photo_like(24, 24, seed=1) * 65535).astype(np.uint16)
    # 16-bit RGB is written by the project's own encoder; give it EXIF and read it back with Pillow.
    loaded = load_image(_write16(src, img16))
    save_image(tmp_path / "out.png", loaded.pixels, bit_depth=16, info={"exif": exif.tobytes(), "software": "x"})
    with Image.open(tmp_path / "out.png") as im:
        assert im.getexif().get(0x010F) == "Epson" and im.getexif().get(0x0131) == "x"
    assert load_image(tmp_path / "out.png").bit_depth == 16


def _write16(path: Path, arr: np.ndarray) -> Path:
    from dpm_desktop.core.imaging16 import encode_png16

    path.write_bytes(encode_png16(arr))
    return path

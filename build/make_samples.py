"""The photo-format samples the frozen self-test opens (issue 15): resources/sample.jpg saved as a
phone's HEIC (pillow-heif) and as a camera's DNG (an RGGB mosaic of its linear light, made by
camera_formats.write_dng), into build/work/samples/, which the spec bundles into resources/."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "work" / "samples"


def main() -> Path:
    sys.path.insert(0, str(ROOT))
    import pillow_heif

    from dpm_desktop.core.camera_formats import write_dng

    OUT.mkdir(parents=True, exist_ok=True)
    pillow_heif.register_heif_opener()
    with Image.open(ROOT / "resources" / "sample.jpg") as im:
        rgb = im.convert("RGB")
    rgb.save(OUT / "sample.heic", format="HEIF", quality=90)
    srgb = np.asarray(rgb, dtype=np.float32)[: rgb.height // 2 * 2, : rgb.width // 2 * 2] / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)  # sRGB decoding
    write_dng(OUT / "sample.dng", linear * 0.8)
    return OUT


if __name__ == "__main__":
    print(f"samples: {main()}")

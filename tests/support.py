"""What the tests make: photo-like images, files as cameras write them, tiny trained checkpoints.
Imported by the tests and by conftest.py (fixtures stay in conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageCms


def photo_like(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth, photo-like test image (gradients, soft blobs, an edge), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, channels), np.float32)
    for c in range(channels):
        img[:, :, c] = 0.3 + 0.3 * xx + 0.2 * yy * (c + 1) / channels
        for _ in range(6):
            cy, cx, r = rng.random(), rng.random(), 0.05 + 0.2 * rng.random()
            img[:, :, c] += 0.25 * (rng.random() - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img[:, : w // 3, c] += 0.1 * (c - 1)
    return np.clip(img, 0, 1)


def edge_step(a: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> float:
    """Mean |difference| across the four edges of the box a[y0:y1, x0:x1] (a hole's seam)."""
    pairs = [(a[y0 - 1, x0:x1], a[y0, x0:x1]), (a[y1, x0:x1], a[y1 - 1, x0:x1]),
             (a[y0:y1, x0 - 1], a[y0:y1, x0]), (a[y0:y1, x1], a[y0:y1, x1 - 1])]
    return float(np.mean([np.abs(outside - inside).mean() for outside, inside in pairs]))


def write_photo(path: Path, h: int = 96, w: int = 128, seed: int = 0, mode: str = "RGB") -> Path:
    px = photo_like(h, w, seed, 3)
    im = Image.fromarray((px * 255 + 0.5).astype(np.uint8), "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


def train_tiny(data: str, out: Path, *, steps: int = 30, channels: int = 3, arch: str = "unet", **kw) -> Path:
    from dpm_desktop.core.train import TrainConfig, Trainer

    cfg = TrainConfig(data=data, out=str(out), arch=arch, preset="tiny", steps=steps, batch=4, patch=32,
                      channels=channels, checkpoint_every=steps, val_every=steps, val_count=8, T=100, warmup=5,
                      amp="off", **kw)
    return Trainer(cfg).run()


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Ann"/></rdf:RDF></x:xmpmeta>')


def write_camera_jpeg(path: Path, h: int = 40, w: int = 56, seed: int = 6) -> Path:
    """A portrait photo as a camera writes it: stored landscape (w x h) with Orientation 6, EXIF (make,
    model, date taken), GPS, XMP and an sRGB ICC profile."""
    px = (photo_like(h, w, seed=seed) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "EOS 5D", 6
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 16:20:00"  # DateTimeOriginal
    exif.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(px).save(path, quality=95, exif=exif.tobytes(), xmp=XMP, icc_profile=icc)
    return path


def write_dng(path: Path, h: int = 64, w: int = 96, *, neutral: tuple[float, float, float] = (1, 1, 1),
              orientation: int = 1) -> np.ndarray:
    """A camera RAW (see camera_formats.write_dng) of a smooth scene; returns the scene, H x W x 3 linear RGB."""
    from dpm_desktop.core.camera_formats import write_dng as write

    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([0.15 + 0.6 * xx / w, 0.2 + 0.5 * yy / h, 0.7 - 0.5 * xx / w], -1)
    write(path, rgb, neutral=neutral, orientation=orientation)
    return rgb

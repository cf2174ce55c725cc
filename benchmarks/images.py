"""Benchmark photos: the ones that ship inside scikit-image and scikit-learn, never used for training.

All images are float32 H x W x C arrays in [0, 1], made from the packages' 8-bit files without
resampling, except ``retina`` (a fundus photo, the one smooth low-texture image here): its central
960 x 960 square (inside the black surround, which clipping would make non-Gaussian) is averaged
2 x 2 down to 480 x 480.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    name: str
    pixels: np.ndarray  # H x W x C float32 in [0, 1]
    source: str


def _u8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    return (a[:, :, :3].astype(np.float32) / 255).astype(np.float32)


def _retina() -> np.ndarray:
    from skimage import data

    r = data.retina()
    c = (r.shape[0] - 960) // 2, (r.shape[1] - 960) // 2
    sq = r[c[0]:c[0] + 960, c[1]:c[1] + 960].astype(np.float64)
    small = sq.reshape(480, 2, 480, 2, 3).mean(axis=(1, 3))
    return (np.round(small) / 255).astype(np.float32)  # back to 8-bit levels, as a stored photo would be


def colour_photos() -> tuple[list[Photo], list[str]]:
    """(photos, notes). scikit-learn's two photos are used when it is installed."""
    from skimage import data

    photos = [
        Photo("astronaut", _u8(data.astronaut()), "scikit-image"),
        Photo("coffee", _u8(data.coffee()), "scikit-image"),
        Photo("chelsea", _u8(data.chelsea()), "scikit-image"),
        Photo("rocket", _u8(data.rocket()), "scikit-image"),
        Photo("motorcycle", _u8(data.stereo_motorcycle()[0]), "scikit-image"),
        Photo("retina", _retina(), "scikit-image (centre, 2x2 averaged)"),
    ]
    notes = []
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        notes.append("scikit-learn is not installed: its photos china.jpg and flower.jpg were skipped")
    else:
        for n in ("china.jpg", "flower.jpg"):
            photos.append(Photo(n.removesuffix(".jpg"), _u8(load_sample_image(n)), "scikit-learn"))
    return photos, notes


def gray_photos() -> tuple[list[Photo], list[str]]:
    """Grayscale models: scikit-image's camera and moon, and the colour photos' luminance."""
    from skimage import data
    from skimage.color import rgb2gray

    colour, notes = colour_photos()
    photos = [Photo("camera", _u8(data.camera()), "scikit-image"),
              Photo("moon", _u8(data.moon()), "scikit-image")]
    photos += [Photo(p.name, np.round(rgb2gray(p.pixels)[:, :, None] * 255).astype(np.float32) / 255,
                     p.source + ", luminance") for p in colour]
    return photos, notes


def photos_for(channels: int, names: list[str] | None = None) -> tuple[list[Photo], list[str]]:
    photos, notes = gray_photos() if channels == 1 else colour_photos()
    if names is not None:
        by_name = {p.name: p for p in photos}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise SystemExit(f"unknown benchmark image(s) {', '.join(missing)}; known: {', '.join(by_name)}")
        photos = [by_name[n] for n in names]
    return photos, notes


def cropped_colour_photos(names: tuple[str, ...], size: int, quick: bool) -> tuple[list[Photo], list[str]]:
    """The named colour photos that are installed, centre-cropped to at most ``size`` px (the first two
    in a quick run), and the notes of colour_photos."""
    photos, notes = colour_photos()
    photos = [Photo(q.name, centre_crop(q.pixels, size), q.source) for q in photos if q.name in names]
    return (photos[:2] if quick else photos), notes


def centre_crop(px: np.ndarray, size: int) -> np.ndarray:
    h, w = px.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(px[y:y + s, x:x + s])


def item_seed(seed: int, *parts: object) -> np.random.Generator:
    """A generator fixed by the run's seed and the item (image name, sigma, mask kind...)."""
    return np.random.default_rng([seed, *(zlib.crc32(str(p).encode()) for p in parts)])


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """clean + N(0, (sigma/255)^2) in float, then clipped to [0, 1] (not quantised).

    Clipped because a noisy photo on disk is, and because DPM Desktop clips every input image to
    [0, 1]: every method gets this same clipped array, so none sees values the others do not."""
    noise = rng.standard_normal(clean.shape) * (sigma / 255)
    return np.clip(clean + noise, 0, 1).astype(np.float32)


def save_png(px: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    u8 = np.round(np.clip(px, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8).save(path)
    return path


def write_folder(photos: list[Photo], folder: Path) -> Path:
    """The photos as 8-bit PNGs in ``folder`` (emptied of PNGs first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for p in photos:
        save_png(p.pixels, folder / f"{p.name}.png")
    return folder


# ----------------------------------------------------------------------------------------------
# Held apart from training: whole-image near-duplicate check against a model's training folder

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


def _thumb(px: np.ndarray) -> np.ndarray:
    gray = np.round(np.clip(px, 0, 1).mean(axis=2) * 255).astype(np.uint8)
    g = Image.fromarray(gray).resize((32, 32), Image.Resampling.BOX)
    a = np.asarray(g, dtype=np.float64)
    return (a - a.mean()) / (a.std() + 1e-9)


def near_duplicates(photos: list[Photo], folder: Path,
                    threshold: float = 0.9) -> tuple[int, list[tuple[str, str, float]]]:
    """(training images compared, [(photo, training file, correlation)]) for 32 x 32 thumbnails that
    correlate above ``threshold`` (the same picture, whatever its size or compression)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    thumbs = {p.name: _thumb(p.pixels) for p in photos}
    hits = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.draft("RGB", (128, 128))
                px = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
        except OSError:
            continue
        t = _thumb(px)
        for name, b in thumbs.items():
            corr = float((t * b).mean())
            if corr > threshold:
                hits.append((name, f.name, round(corr, 3)))
    return len(files), hits


def disjointness_note(photos: list[Photo], training_source: str | None) -> str:
    """One line saying whether any benchmark photo appears in the model's training folder."""
    folder = Path(training_source or "")
    if not training_source or not folder.is_dir():
        return (f"Training data {training_source!r} is not a folder on this machine: the benchmark photos "
                "were not checked against it (they come from Python packages, not the training sources).")
    count, hits = near_duplicates(photos, folder)
    if not hits:
        return (f"Held apart: none of the benchmark photos matches any of the {count} images in the training "
                f"folder {folder} (32x32 thumbnail correlation below 0.9).")
    listed = "; ".join(f"{a} ~ {b} (r = {r})" for a, b, r in hits)
    return f"WARNING: benchmark photos that look like training images in {folder}: {listed}."

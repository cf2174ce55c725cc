"""A large hole's fill meets the photo without a step (core/seams.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from support import edge_step

from dpm_desktop.core.seams import close_seams

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample.jpg"


def _photo() -> np.ndarray:
    return (np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32) / 255)[:256, :256]


def _psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a[mask] - b[mask]) ** 2)))


def _masks(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    hole = np.zeros(shape, bool)
    hole[80:160, 90:170] = True
    scratch = np.zeros(shape, bool)
    scratch[200:203, 10:240] = True  # thin: left alone
    return hole, scratch


def test_a_fill_off_by_a_shade_is_brought_to_the_photo_and_nothing_else_changes() -> None:
    photo = _photo()
    hole, scratch = _masks(photo.shape[:2])
    mask = hole | scratch
    fill = np.where(mask[:, :, None], np.clip(photo + 0.08, 0, 1), photo).astype(np.float32)
    out = close_seams(photo, fill, mask)
    assert _psnr_in(photo, fill, hole) < 23
    assert _psnr_in(photo, out, hole) > 33  # the shade removed; what is left is the photo's grain at the ring
    assert np.array_equal(out[~mask], photo[~mask])
    assert np.array_equal(out[scratch], fill[scratch])


def test_a_flat_fill_meets_each_side_of_the_hole() -> None:
    """A flat grey square in a photo: after the correction its edge rows and columns follow the
    photo beside them (the step at the seam falls), and the whole hole is nearer the truth."""
    photo = _photo()
    hole, _ = _masks(photo.shape[:2])
    fill = np.where(hole[:, :, None], photo[hole].mean(axis=0), photo).astype(np.float32)
    out = close_seams(photo, fill, hole)
    assert edge_step(out, 80, 160, 90, 170) < 0.5 * edge_step(fill, 80, 160, 90, 170)
    assert _psnr_in(photo, out, hole) > _psnr_in(photo, fill, hole) + 1


def test_holes_at_the_border_and_a_hole_over_everything() -> None:
    photo = _photo()
    corner = np.zeros(photo.shape[:2], bool)
    corner[:60, :60] = True
    fill = np.where(corner[:, :, None], np.clip(photo - 0.1, 0, 1), photo).astype(np.float32)
    out = close_seams(photo, fill, corner)
    assert _psnr_in(photo, out, corner) > _psnr_in(photo, fill, corner) + 5
    everything = np.ones(photo.shape[:2], bool)
    assert np.array_equal(close_seams(photo, fill, everything), fill)  # no photo to meet: as it was

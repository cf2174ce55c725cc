"""The thin masks' first guess (core/spectral_fill.py): frequency selective extrapolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dpm_desktop.core.masks import biharmonic_fill
from dpm_desktop.core.spectral_fill import spectral_fill

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample.jpg"


def _psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a[mask] - b[mask]) ** 2)))


def _scratches(h: int, w: int, seed: int) -> np.ndarray:
    """Thin strokes of 1-5 px across the frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(6):
        y0, x0, y1, x1 = rng.random(4) * [h, w, h, w]
        d = np.abs((y1 - y0) * (xx - x0) - (x1 - x0) * (yy - y0)) / np.hypot(y1 - y0, x1 - x0)
        mask |= d < rng.uniform(0.5, 2.5)
    return mask


def test_it_continues_stripes_that_a_smooth_fill_flattens() -> None:
    """Stripes (a 9 px period) under 3 px scratches: a sparse Fourier model continues them across
    the strokes; the biharmonic fill, the smoothest continuation, cannot."""
    yy, xx = np.mgrid[0:96, 0:96]
    stripes = 0.5 + 0.3 * np.sin(2 * np.pi * (xx + 0.4 * yy) / 9.0)
    img = np.repeat(stripes[:, :, None], 3, axis=2).astype(np.float32)
    mask = np.zeros((96, 96), bool)
    mask[30:33], mask[:, 60:63] = True, True
    ours = _psnr_in(img, spectral_fill(img, mask), mask)
    smooth = _psnr_in(img, biharmonic_fill(img, mask), mask)
    assert ours > 30 and ours > smooth + 10, (ours, smooth)


def test_on_a_photo_only_the_masked_pixels_change_and_the_fill_beats_the_smooth_one() -> None:
    """The bundled sample (leaves, fine texture) under 1-5 px scratches."""
    photo = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32)[:192, :256] / 255
    mask = _scratches(192, 256, seed=3)
    damaged = np.where(mask[:, :, None], 1.0, photo).astype(np.float32)  # white strokes
    filled = spectral_fill(damaged, mask)
    assert filled.dtype == np.float32 and filled.shape == photo.shape
    assert np.array_equal(filled[~mask], damaged[~mask])
    assert np.isfinite(filled).all() and filled.min() >= 0 and filled.max() <= 1
    ours, smooth = _psnr_in(photo, filled, mask), _psnr_in(photo, biharmonic_fill(damaged, mask), mask)
    assert ours > _psnr_in(photo, damaged, mask) + 15  # nothing of the white strokes is left
    assert ours > smooth, (ours, smooth)  # measured 20.48 against 20.17 dB


def test_blocks_that_see_no_known_pixel_are_filled_from_their_filled_neighbours() -> None:
    """A 44 px hole: the 32 px windows of its middle blocks hold no known pixel at first; they wait
    for their neighbours and are filled from them, not left at a constant."""
    yy, xx = np.mgrid[0:96, 0:96] / 96
    img = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0 * xx], axis=2).astype(np.float32)  # ramps
    mask = np.zeros((96, 96), bool)
    mask[26:70, 26:70] = True
    filled = spectral_fill(img, mask)
    assert np.isfinite(filled).all()
    assert np.array_equal(filled[~mask], img[~mask])
    assert _psnr_in(img, filled, mask) > 25  # a ramp continued, not a grey block


def test_gray_planes_and_degenerate_masks() -> None:
    photo = np.asarray(Image.open(SAMPLE).convert("L"), dtype=np.float32)[:128, :128, None] / 255
    mask = _scratches(128, 128, seed=5)
    filled = spectral_fill(photo, mask)
    assert filled.shape == (128, 128, 1)
    assert np.array_equal(filled[~mask], photo[~mask])
    assert _psnr_in(photo, filled, mask) > _psnr_in(photo, biharmonic_fill(photo, mask), mask) - 0.5
    assert np.array_equal(spectral_fill(photo, np.zeros((128, 128), bool)), photo)  # nothing to fill
    everything = spectral_fill(photo, np.ones((128, 128), bool))  # nothing known: mid-grey, no error
    assert np.allclose(everything, 0.5)


def test_cutting_the_rounds_in_small_batches_changes_nothing(monkeypatch) -> None:
    """The batches that bound memory on large photos, and numpy's path for small batches against
    torch's, give the same fill as one batch."""
    import dpm_desktop.core.spectral_fill as spectral

    photo = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32)[:96, :128] / 255
    mask = _scratches(96, 128, seed=7)
    monkeypatch.setattr(spectral, "SMALL", 0)  # torch for every batch
    whole = spectral_fill(photo, mask)
    monkeypatch.setattr(spectral, "BLOCKS_AT_ONCE", 37)
    monkeypatch.setattr(spectral, "CHUNK", 16)
    np.testing.assert_allclose(spectral_fill(photo, mask), whole, atol=1e-5)
    monkeypatch.setattr(spectral, "SMALL", 10**9)  # numpy for every batch
    # float32 spectra summed in another order: a near tie in the greedy choice can flip (measured
    # 24 of 36,864 values apart, by at most 1.4e-4, against 1/255 = 3.9e-3)
    np.testing.assert_allclose(spectral_fill(photo, mask), whole, atol=1e-3)


def test_a_brush_stroke_is_filled_from_the_outside_in() -> None:
    """A 16 px stroke over the sample's leaves and bark. Modelled all at once, the 4 px blocks in
    its middle saw only pixels 6-8 px away and came out as tiles of noise, level with the smooth
    fill (+0.01 and +0.53 dB here); filled from the outside in, each sees its neighbours' fill
    (measured +1.38 and +1.43 dB)."""
    from PIL import ImageDraw

    photo = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32) / 255
    for dy, dx in ((200, -150), (250, -250)):
        stroke = Image.new("L", (photo.shape[1], photo.shape[0]))
        ImageDraw.Draw(stroke).line([(342 + dx, 66 + dy), (380 + dx, 78 + dy), (420 + dx, 92 + dy),
                                     (455 + dx, 106 + dy), (492 + dx, 123 + dy)], fill=255, width=16,
                                    joint="curve")
        mask = np.asarray(stroke) > 127
        damaged = np.where(mask[:, :, None], 1.0, photo).astype(np.float32)
        ours = _psnr_in(photo, spectral_fill(damaged, mask), mask)
        smooth = _psnr_in(photo, biharmonic_fill(damaged, mask), mask)
        assert ours > smooth + 1.0, (dy, dx, ours, smooth)

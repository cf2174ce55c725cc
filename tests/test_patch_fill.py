"""Large holes' texture (core/patch_fill.py): exemplar-based completion with PatchMatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpm_desktop.core.blur import gaussian_blur
from dpm_desktop.core.masks import biharmonic_fill, harmonic_fill
from dpm_desktop.core.patch_fill import MATCH_ERROR, _complete, add_texture, patch_fill, texture_weight
from dpm_desktop.core.progress import Cancelled

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample.jpg"


def _psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(10 * np.log10(1 / max(float(np.mean((a[mask] - b[mask]) ** 2)), 1e-12)))


def _detail(img: np.ndarray, mask: np.ndarray) -> float:
    """The spread of the high-pass (the image minus its 3 x 3 box mean) in the mask."""
    h, w = mask.shape
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    blur = sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9
    return float((img - blur)[mask].std())


def _square(shape: tuple[int, int], y: int, x: int, side: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y:y + side, x:x + side] = True
    return m


def test_it_continues_a_texture_that_a_smooth_fill_flattens() -> None:
    """A 40 px hole in a periodic texture (two crossed gratings): copied patches continue it almost
    exactly; the biharmonic fill, the smoothest continuation, leaves a flat square."""
    yy, xx = np.mgrid[0:128, 0:128]
    tex = 0.5 + 0.2 * np.sin(2 * np.pi * xx / 11.0) + 0.2 * np.sin(2 * np.pi * (yy + 0.3 * xx) / 7.0)
    img = np.stack([tex, 0.8 * tex, 1 - tex], axis=-1).astype(np.float32)
    mask = _square((128, 128), 44, 50, 40)
    ours = patch_fill(img, mask, seed=0)
    smooth = biharmonic_fill(img, mask)
    assert np.array_equal(ours[~mask], img[~mask])
    assert _psnr_in(img, ours, mask) > _psnr_in(img, smooth, mask) + 10
    assert _detail(ours, mask) > 0.8 * _detail(img, mask) > 3 * _detail(smooth, mask)


def test_a_real_photo_keeps_its_texture_and_seeds_repeat() -> None:
    """The bundled sample photo with a 48 px hole: the fill has most of the texture the photo had
    there (a harmonic fill has almost none), only masked pixels change, a seed repeats its fill and
    another seed draws another."""
    img = np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32)[:160, :160] / 255
    mask = _square(img.shape[:2], 60, 56, 48)
    a, b, c = (patch_fill(img, mask, seed=s) for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a[~mask], img[~mask])
    truth = _detail(img, mask)
    assert _detail(a, mask) > 0.5 * truth
    assert _detail(harmonic_fill(img, mask), mask) < 0.2 * truth
    assert a.dtype == np.float32 and np.isfinite(a).all()


def test_a_guide_decides_what_goes_where() -> None:
    """Two textures, one above the other, and a hole across their border: guided by a fill that says
    which half is which (the two textures' mean colours), the completion puts each texture in its
    half and scores far better than without the guide's layout (a guide that says the opposite)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    top = 0.3 + 0.1 * np.sin(2 * np.pi * xx / 6.0)
    bottom = 0.7 + 0.1 * np.sign(np.sin(2 * np.pi * (xx + yy) / 10.0)) + 0.02 * rng.standard_normal((128, 128))
    gray = np.where(yy < 64, top, bottom).astype(np.float32)
    img = np.repeat(gray[..., None], 3, axis=2)
    mask = _square((128, 128), 40, 40, 48)
    layout = np.where((yy < 64)[..., None], 0.3, 0.7).astype(np.float32) * np.ones((1, 1, 3), np.float32)
    flipped = 1 - layout
    right = patch_fill(img, mask, guide=layout, guide_levels=3, seed=0)
    wrong = patch_fill(img, mask, guide=flipped, guide_levels=3, seed=0)
    assert _psnr_in(img, right, mask) > 20
    assert _psnr_in(img, right, mask) > _psnr_in(img, wrong, mask) + 6
    assert np.array_equal(right[~mask], img[~mask])


def test_a_hole_with_no_whole_patch_around_it_gets_the_harmonic_fill() -> None:
    img = np.random.default_rng(1).random((20, 20, 3)).astype(np.float32)
    mask = np.ones((20, 20), bool)
    mask[0, 0] = False
    out = patch_fill(img, mask)
    assert np.array_equal(out, harmonic_fill(img, mask))


def test_gray_photos_and_an_empty_mask() -> None:
    img = np.asarray(Image.open(SAMPLE).convert("L"), np.float32)[:96, :96, None] / 255
    mask = _square((96, 96), 30, 30, 24)
    out = patch_fill(img, mask)
    assert out.shape == img.shape and np.array_equal(out[~mask], img[~mask])
    assert np.array_equal(patch_fill(img, np.zeros((96, 96), bool)), img)


def test_it_stops_when_cancelled() -> None:
    img = np.asarray(Image.open(SAMPLE).convert("RGB"), np.float32)[:128, :128] / 255
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        patch_fill(img, _square((128, 128), 40, 40, 48), check=check)
    assert len(calls) == 3


def test_add_texture_gives_a_smooth_fill_the_texture_where_the_patches_fit() -> None:
    """A flat fill (as a chain's posterior mean gives one) of a hole in a periodic texture: the
    texture's patches fit together and continue it, so add_texture takes them."""
    yy, xx = np.mgrid[0:128, 0:128]
    tex = 0.5 + 0.2 * np.sin(2 * np.pi * xx / 11.0) + 0.2 * np.sin(2 * np.pi * (yy + 0.3 * xx) / 7.0)
    img = np.stack([tex, 0.8 * tex, 1 - tex], axis=-1).astype(np.float32)
    mask = _square((128, 128), 40, 40, 48)
    smooth = np.where(mask[..., None], img[mask].mean(axis=0), img).astype(np.float32)
    out = add_texture(img, mask, smooth, levels=3, seed=0)
    assert np.array_equal(out[~mask], img[~mask])
    assert _detail(out, mask) > 0.7 * _detail(img, mask)
    assert _psnr_in(img, out, mask) > _psnr_in(img, smooth, mask) + 10


def test_the_patches_share_follows_their_match_error_and_layout() -> None:
    """Where the copied patches fit and keep the layout (errors below MATCH_ERROR's first value) the
    fill is theirs, where they do not (above its second) the smooth fill's, between a blend, smoothed
    across a seam; the two errors add in quadrature."""
    lo, hi = MATCH_ERROR
    seams = np.zeros((40, 60), np.float32)
    seams[:, 20:40] = (lo + hi) / 2
    seams[:, 40:] = 2 * hi
    none = np.zeros_like(seams)
    w = texture_weight(seams, none)
    assert np.allclose(w[:, :12], 1) and np.allclose(w[:, 28:32], 0.5) and np.allclose(w[:, 48:], 0)
    assert 0.5 < w[20, 21] < 1 and 0 < w[20, 37] < 0.5  # the seams blend
    assert np.allclose(texture_weight(none, seams)[:, 20:40], 0.5)  # the layout alone: not smoothed
    both = texture_weight(none + lo, none + lo)
    assert np.allclose(both, (hi - np.hypot(lo, lo)) / (hi - lo))


def test_a_coherent_copy_has_no_error_inside_and_its_seams_do() -> None:
    """The error add_texture reads: the fill's patches against their matches after the last vote."""
    noise = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    mask = _square((128, 128), 40, 40, 48)
    filled, error = _complete(noise, mask, 0, 7, 4, None, 1, None)
    assert (error[mask] == 0).mean() > 0.05  # blocks copied whole
    assert np.percentile(error[mask], 90) > MATCH_ERROR[1]  # the seams between them
    assert np.array_equal(patch_fill(noise, mask), filled)


def test_the_one_gaussian_blur_keeps_mass_and_has_the_asked_spread() -> None:
    """core.blur.gaussian_blur (patch fill, synthetic damage, the bench's dust): an impulse far from
    the edges keeps its sum and spreads with variance sigma^2 per axis; channels are blurred apart."""
    a = np.zeros((41, 41, 2), np.float32)
    a[20, 20, 0] = 1.0
    a[10, 30, 1] = 2.0
    out = gaussian_blur(a, 2.0)
    assert out.dtype == np.float32 and out.shape == a.shape
    assert abs(out[..., 0].sum() - 1) < 1e-5 and abs(out[..., 1].sum() - 2) < 1e-4
    d2 = (np.arange(41) - 20.0) ** 2
    k = np.exp(-np.arange(-6, 7) ** 2 / 8.0)
    truncated = float((k * np.arange(-6, 7) ** 2).sum() / k.sum())  # the kernel ends at 3 sigma: 3.951
    assert abs((out[..., 0] * d2[:, None]).sum() - truncated) < 1e-3  # spread down the rows
    assert abs((out[..., 0] * d2[None, :]).sum() - truncated) < 1e-3  # and along them
    assert np.allclose(gaussian_blur(a[..., 1], 2.0), out[..., 1], atol=1e-7)
    flat = np.full((9, 9), 0.3)  # edges replicated: a constant stays constant, float64 stays float64
    assert gaussian_blur(flat, 1.5).dtype == np.float64 and np.allclose(gaussian_blur(flat, 1.5), 0.3)
    assert np.array_equal(gaussian_blur(a, 0.0), a)  # no blur at sigma 0

"""Restoration on real files with real (tiny) checkpoints: exactness outside the mask, modes and bit
depths kept, tiling, cancellation, channel mismatches and every bad argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from support import edge_step, photo_like

from dpm_desktop.core.device import DeviceError
from dpm_desktop.core.imaging import load_image, save_image, to_uint
from dpm_desktop.core.progress import Cancelled, CancelToken, Reporter
from dpm_desktop.core.restore import RestoreError, denoise, get_model, inpaint
from dpm_desktop.core.tiling import TiledNet

FAST = {"steps": 4, "device": "cpu"}


def blob_mask(h: int, w: int) -> np.ndarray:
    """A small hole plus a thin scratch: white (True) = fill."""
    yy, xx = np.mgrid[0:h, 0:w]
    m = (yy - h // 2) ** 2 + (xx - w // 3) ** 2 < 25
    m[10, 5 : w - 5] = True
    return m


def write_mask(path, m: np.ndarray):
    Image.fromarray((m * 255).astype(np.uint8)).save(path)
    return path


def noisy(h: int, w: int, sigma: float = 25, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(photo_like(h, w, seed, channels) + sigma / 255 * rng.standard_normal((h, w, channels)), 0, 1)


# ----------------------------------------------------------------------------------------------
# Never change a pixel the user did not ask to change


@pytest.mark.parametrize("depth", [8, 16])
def test_inpaint_keeps_every_unmasked_pixel_through_save_and_reload(tmp_path, tiny_rgb_model, depth: int) -> None:
    src = tmp_path / "photo.png"
    px = photo_like(48, 64, seed=3)
    alpha = np.linspace(0.2, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    save_image(src, px, alpha=alpha, bit_depth=depth)
    original = load_image(src)
    m = blob_mask(48, 64)
    res = inpaint(src, write_mask(tmp_path / "mask.png", m), model=tiny_rgb_model, **FAST)
    assert res.pixels.dtype == np.float32 and res.pixels.shape == (48, 64, 3) and res.bit_depth == depth
    np.testing.assert_array_equal(res.pixels[~m], original.pixels[~m])
    assert not np.array_equal(res.pixels[m], original.pixels[m])

    out = tmp_path / "out.png"
    save_image(out, res.pixels, alpha=res.alpha, bit_depth=res.bit_depth)
    back = load_image(out)
    assert back.bit_depth == depth
    np.testing.assert_array_equal(to_uint(back.pixels[~m], depth), to_uint(original.pixels[~m], depth))
    np.testing.assert_array_equal(to_uint(back.alpha, depth), to_uint(original.alpha, depth))
    with Image.open(out) as im:
        assert im.mode == "RGBA"


def test_gray_16bit_tiff_keeps_mode_depth_and_unmasked_pixels(tmp_path, tiny_gray_model) -> None:
    src = tmp_path / "gray.tif"
    save_image(src, photo_like(40, 40, seed=4, channels=1), bit_depth=16)
    m = blob_mask(40, 40)
    res = inpaint(src, m, model=tiny_gray_model, **FAST)
    out = tmp_path / "out.tif"
    save_image(out, res.pixels, alpha=res.alpha, bit_depth=res.bit_depth)
    with Image.open(out) as im, Image.open(src) as orig:
        assert im.mode == orig.mode == "I;16"
        a, b = np.asarray(im), np.asarray(orig)
    np.testing.assert_array_equal(a[~m], b[~m])


def test_array_input_keeps_shape_and_depth(tiny_rgb_model) -> None:
    arr16 = (photo_like(32, 32, seed=5) * 65535).astype(np.uint16)
    m = blob_mask(32, 32)
    res = inpaint(arr16, m, model=tiny_rgb_model, **FAST)
    assert res.pixels.shape == (32, 32, 3) and res.bit_depth == 16
    np.testing.assert_array_equal(to_uint(res.pixels[~m], 16), arr16[~m])
    rgba = np.concatenate([photo_like(32, 32), np.full((32, 32, 1), 0.5, np.float32)], axis=2)
    res = denoise(rgba, sigma=20, model=tiny_rgb_model, device="cpu")
    assert res.pixels.shape == (32, 32, 3) and res.alpha is not None and np.all(res.alpha == 0.5)


def test_same_seed_same_result_other_seed_other_result(tiny_rgb_model) -> None:
    img = noisy(32, 40)
    kw = {"sigma": 25, "mode": "sample", "samples": 2, "steps": 3, "model": tiny_rgb_model, "device": "cpu"}
    a, b, c = denoise(img, seed=1, **kw), denoise(img, seed=1, **kw), denoise(img, seed=2, **kw)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert not np.array_equal(a.pixels, c.pixels)
    assert a.uncertainty is not None and a.uncertainty.shape == (32, 40)
    assert a.params["model_sha256"] and a.params["seed"] == 1


# ----------------------------------------------------------------------------------------------
# Tiling


def test_tiles_agree_with_the_whole_image(tiny_rgb_model) -> None:
    net = get_model(tiny_rgb_model).diffusion.net
    x = torch.randn(1, 3, 80, 96, generator=torch.Generator().manual_seed(0))
    t = torch.full((1,), 30, dtype=torch.long)
    with torch.no_grad():
        whole = net(x, t)
        one_tile = TiledNet(net, tile=128, active=torch.ones(80, 96, dtype=torch.bool))(x, t)
        many = TiledNet(net, tile=48, overlap=16)(x, t)
    torch.testing.assert_close(one_tile, whole, rtol=0, atol=0)  # one tile through the tiling path: exact
    err = (many - whole).abs()
    assert float(err.mean()) < 0.02 * float(whole.abs().mean())
    assert float(err.max()) < 0.5 * float(whole.abs().max())


def test_denoise_tiled_nearly_equals_untiled(tiny_rgb_model) -> None:
    img = noisy(72, 88)
    whole = denoise(img, sigma=25, model=tiny_rgb_model, device="cpu", tile=256).pixels
    tiled = denoise(img, sigma=25, model=tiny_rgb_model, device="cpu", tile=48, overlap=16).pixels
    mse = float(np.mean((whole - tiled) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) > 40  # PSNR between the two above 40 dB


# ----------------------------------------------------------------------------------------------
# Cancellation


@pytest.mark.parametrize("task", ["denoise", "inpaint"])
def test_cancel_mid_run_raises_within_a_step(tiny_rgb_model, task: str) -> None:
    token, seen = CancelToken(), []

    def on_progress(p) -> None:
        seen.append(p.step)
        if p.step >= 2:
            token.cancel()

    reporter = Reporter(on_progress, token)
    with pytest.raises(Cancelled):
        if task == "denoise":
            res = denoise(noisy(40, 40), sigma=25, mode="sample", steps=10, model=tiny_rgb_model, device="cpu",
                          reporter=reporter)
        else:
            res = inpaint(photo_like(40, 40), blob_mask(40, 40), preset="best", steps=10, model=tiny_rgb_model,
                          device="cpu", reporter=reporter)
        raise AssertionError(f"not cancelled: returned {res!r}")
    assert max(seen) == 2  # stopped at the first check after the request (that nothing is written on
    # a cancel is the command line's part: tests/test_cli.py and tests/test_hostile.py send real signals)


def test_a_thin_mask_previews_twice_before_its_one_call_and_cancels_inside_the_spectral_fill(
        tiny_rgb_model, monkeypatch) -> None:
    """Fast on a scratch: a harmonic fill on screen at once, then the spectral guess, then the one
    network call; a cancel asked for while the spectral fill runs stops it between its batches."""
    import dpm_desktop.core.spectral_fill as spectral

    img, mask = photo_like(64, 64, seed=2), np.zeros((64, 64), bool)
    mask[30:33, 2:62] = True
    previews: list[np.ndarray] = []

    def on_progress(p) -> None:
        if p.preview is not None:
            x0, y0, x1, y1 = p.preview.region
            placed = img.copy()
            placed[y0:y1, x0:x1] = p.preview.pixels
            previews.append(placed)

    res = inpaint(img, mask, model=tiny_rgb_model, device="cpu", preview_every=1, reporter=Reporter(on_progress))
    assert res.params["network_calls_per_candidate"] == 1 and len(previews) >= 2
    for shown in previews[:2]:  # two complete fills: the photo around the scratch, no zeroed pixels in it
        assert shown.shape == img.shape and shown[mask].min() > 0.05
    assert not np.array_equal(previews[0], previews[1])  # the harmonic fill, then the spectral one

    token = CancelToken()
    batches: list[int] = []
    real_chunk = spectral._extrapolate_chunk  # torch's path and numpy's

    def cancel_after_the_first_batch(*args):
        token.cancel()
        batches.append(len(args[0]))
        return real_chunk(*args)

    monkeypatch.setattr(spectral, "_extrapolate_chunk", cancel_after_the_first_batch)
    monkeypatch.setattr(spectral, "CHUNK", 4)
    with pytest.raises(Cancelled):
        inpaint(img, mask, model=tiny_rgb_model, device="cpu", reporter=Reporter(None, token))
    assert len(batches) == 1  # the next batch's check raised


# ----------------------------------------------------------------------------------------------
# Channels


def test_colour_model_on_a_gray_image(tiny_rgb_model) -> None:
    gray = noisy(32, 32, channels=1)
    res = denoise(gray, sigma=25, model=tiny_rgb_model, device="cpu")
    assert res.pixels.shape == (32, 32, 1)
    assert any("grayscale image restored with a colour model" in n for n in res.notes)
    m = blob_mask(32, 32)
    filled = inpaint(gray, m, model=tiny_rgb_model, **FAST)
    assert filled.pixels.shape == (32, 32, 1)
    np.testing.assert_array_equal(filled.pixels[~m], gray.astype(np.float32)[~m])


def test_gray_model_on_a_colour_image(tiny_gray_model) -> None:
    img = noisy(32, 32)
    res = denoise(img, sigma=25, model=tiny_gray_model, device="cpu")
    assert res.pixels.shape == (32, 32, 3)
    assert any("colour image restored with a grayscale model" in n for n in res.notes)
    # each channel restored on its own: the result is not gray
    assert float(np.abs(res.pixels[:, :, 0] - res.pixels[:, :, 2]).mean()) > 0.01


# ----------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sigma": 0}, r"sigma must lie in \(0, 150\]"),
    ({"sigma": -5}, r"sigma must lie in \(0, 150\]"),
    ({"sigma": 400}, r"got 400"),
    ({"sigma": "loud"}, "sigma must be a number"),
    ({"mode": "magic"}, "unknown denoising mode 'magic'"),
    ({"samples": 0}, "at least 1"),
    ({"mode": "sample", "steps": -2}, "at least 1"),
    ({"device": "tpu"}, "unknown device"),
])
def test_bad_denoise_arguments(tiny_rgb_model, kwargs, message) -> None:
    args = {"sigma": 25, "model": tiny_rgb_model, "device": "cpu", **kwargs}
    with pytest.raises((RestoreError, DeviceError), match=message):
        denoise(noisy(16, 16), **args)


def test_bad_images(tiny_rgb_model) -> None:
    bad = photo_like(16, 16)
    bad[3, 3, 0] = np.nan
    with pytest.raises(RestoreError, match="NaN"):
        denoise(bad, sigma=10, model=tiny_rgb_model, device="cpu")
    with pytest.raises(RestoreError, match="got shape"):
        denoise(np.zeros((16, 16, 2), np.float32), sigma=10, model=tiny_rgb_model, device="cpu")
    with pytest.raises(RestoreError, match="too small"):
        denoise(np.zeros((2, 2, 3), np.float32), model=tiny_rgb_model, device="cpu")


def test_bad_inpaint_arguments(tmp_path, tiny_rgb_model) -> None:
    img = photo_like(32, 48)
    with pytest.raises(RestoreError, match=r"mask\.png is 40x30 pixels but the image is 48x32"):
        inpaint(img, write_mask(tmp_path / "mask.png", np.ones((30, 40), bool)), model=tiny_rgb_model)
    with pytest.raises(RestoreError, match="the mask is 48x33 pixels"):
        inpaint(img, np.ones((33, 48), bool), model=tiny_rgb_model)
    with pytest.raises(RestoreError, match="the mask is empty"):
        inpaint(img, np.zeros((32, 48), bool), model=tiny_rgb_model)
    with pytest.raises(RestoreError, match="unknown clamping"):
        inpaint(img, blob_mask(32, 48), clamp="glue", model=tiny_rgb_model)
    with pytest.raises(RestoreError, match="at least 1"):
        inpaint(img, blob_mask(32, 48), steps=0, model=tiny_rgb_model)


def test_concurrent_restorations_of_one_model_match_their_sequential_results(tiny_rgb_model) -> None:
    """Tiling wraps the network per call: two restorations of the cached model at once, both
    tiled (48 px tiles), each give what they give alone (issue 14 item 1)."""
    import threading

    img = noisy(96, 96, seed=7)
    mask = np.zeros((96, 96), bool)
    mask[30:60, 20:70] = True
    kw = {"model": tiny_rgb_model, "device": "cpu", "tile": 48, "seed": 3}
    jobs = {"denoise": lambda: denoise(img, sigma=20, mode="sample", samples=2, steps=6, **kw).pixels,
            "inpaint": lambda: inpaint(img, mask, steps=8, resample=2, **kw).pixels}
    alone = {k: f() for k, f in jobs.items()}
    together: dict[str, np.ndarray] = {}
    for _ in range(3):
        threads = [threading.Thread(target=lambda k=k, f=f: together.__setitem__(k, f())) for k, f in jobs.items()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for k in jobs:
            assert np.array_equal(together[k], alone[k]), k
    assert get_model(tiny_rgb_model).diffusion.net.__class__.__name__ == "UNet"  # never left wrapped


def test_out_of_memory_halving_is_kept_for_the_rest_of_the_job() -> None:
    """A tile that runs out of memory is halved once; later calls start at the smaller size
    (issue 14 item 2), instead of meeting the error again at every chain step."""
    failures = []

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > 40:
            failures.append(tuple(x.shape[-2:]))
            raise RuntimeError("CPU: not enough memory: you tried to allocate 1 GB")  # as torch words it
        return x * 2

    net = TiledNet(fn, tile=128, overlap=8, min_tile=16)
    x = torch.rand(1, 3, 128, 128)
    for _ in range(5):  # five chain steps
        assert torch.allclose(net(x, torch.ones(1, dtype=torch.long)), 2 * x, atol=1e-6)
    assert net.tile == 32
    assert failures == [(128, 128), (64, 64)]  # the first call only: 128 -> 64 -> 32, then 32 throughout


@pytest.mark.parametrize("preset", ["fast", "best"])
@pytest.mark.parametrize("shape", ["hole", "scratch"])
def test_every_preset_keeps_unmasked_pixels_bit_exact_and_costs_what_it_said(tiny_rgb_model, preset, shape) -> None:
    """Issue 16: the fast and best presets on a large hole (coarse to fine) and a thin scratch (one
    scale); every unmasked pixel is returned exactly, and the calls made are the ones estimated."""
    from dpm_desktop.core.inpaint import estimate_cost

    img = photo_like(72, 72, seed=4)
    mask = np.zeros((72, 72), bool)
    if shape == "hole":
        mask[20:52, 16:48] = True
    else:
        mask[35:37, 4:68] = True
    kw = {"steps": 6} if preset == "best" else {}
    res = inpaint(img, mask, preset=preset, model=tiny_rgb_model, device="cpu", **kw)
    assert np.array_equal(res.pixels[~mask], img[~mask])
    assert not np.array_equal(res.pixels[mask], img[mask])
    # The tiny model's short schedule has fewer timesteps below a low start noise than the chain asks for.
    diffusion = get_model(tiny_rgb_model, channels=3, device="cpu").diffusion
    assert res.params["network_calls_per_candidate"] == estimate_cost(mask, preset=preset, diffusion=diffusion,
                                                                      **kw).calls
    assert (res.params["coarse_levels"] > 0) == (shape == "hole")
    if preset == "fast" and shape == "scratch":
        assert res.params["network_calls_per_candidate"] == 1  # a first guess refined in one call
        assert res.params["guess"] == "spectral" and not res.params["noise_guess"]
        assert estimate_cost(mask, preset=preset).guess_pixels == mask.sum()
    # The spectral guess's CPU work is estimated where it runs: fast's thin masks and holes of 1-2 coarser scales.
    assert res.params["guess"] == ("spectral" if preset == "fast" else "biharmonic")
    spectral = res.params["guess"] == "spectral"
    assert estimate_cost(mask, preset=preset, **kw).guess_pixels == (mask.sum() if spectral else 0)


def test_a_large_holes_fill_meets_the_photo_without_a_step(tiny_rgb_model) -> None:
    """The same fill (same seed) with the seam closed and without: closed, the difference across the
    hole's edge is smaller, and only the hole's pixels differ (core/seams.py)."""
    img = photo_like(80, 80, seed=6)
    mask = np.zeros((80, 80), bool)
    mask[22:58, 20:56] = True

    closed = inpaint(img, mask, model=tiny_rgb_model, device="cpu", seed=3)
    open_ = inpaint(img, mask, model=tiny_rgb_model, device="cpu", seed=3, close_seams=False)
    assert closed.params["close_seams"] and not open_.params["close_seams"]
    assert np.array_equal(closed.pixels[~mask], open_.pixels[~mask])
    box = (22, 58, 20, 56)
    assert edge_step(closed.pixels, *box) < 0.75 * edge_step(open_.pixels, *box)  # measured 0.06 against 0.10


def _chain_batches(monkeypatch) -> list[int]:
    """The batch size of every chain inpaint runs from now on (each scale's), in order."""
    from dpm_desktop.core import inpaint as ip

    batches: list[int] = []
    real = ip.run_chain

    def recording(chain, x, **kw):
        batches.append(x.shape[0])
        out = real(chain, x, **kw)
        assert out.shape[0] == x.shape[0]
        return out

    monkeypatch.setattr(ip, "run_chain", recording)
    return batches


@pytest.mark.parametrize("levels", [3, 2])
def test_fast_draws_fills_in_one_batch_and_returns_their_mean(tiny_rgb_model, monkeypatch, levels) -> None:
    """Fast draws coarse_mean fills in one batch at the coarsest scale. A large hole (three coarser
    scales) refines their mean at every finer scale; a smaller one (one or two) refines all of them
    together at every scale and averages them at the end (carry_draws). The known pixels stay exact,
    and the estimate counts the batch's pixels wherever the batch runs."""
    from dpm_desktop.core import inpaint as ip

    batches = _chain_batches(monkeypatch)
    img = photo_like(72, 72, seed=5)
    mask = np.zeros((72, 72), bool)
    mask[20:52, 16:48] = True
    res = inpaint(img, mask, model=tiny_rgb_model, device="cpu", coarse_levels=levels)
    settings = ip.resolve_settings("fast", levels)
    n = settings.coarse_mean
    assert n == res.params["coarse_mean"] == (4 if levels < 3 else 8)
    assert settings.carry_draws == res.params["carry_draws"] == (levels < 3)
    assert batches == ([n] * (levels + 1) if levels < 3 else [n, 1, 1, 1])
    assert np.array_equal(res.pixels[~mask], img[~mask]) and not np.array_equal(res.pixels[mask], img[mask])
    one = ip.estimate_cost(mask, coarse_levels=levels, coarse_mean=1)
    many = ip.estimate_cost(mask, coarse_levels=levels)
    assert many.calls == one.calls and many.megapixel_calls > one.megapixel_calls
    if levels < 3:
        assert many.megapixel_calls == pytest.approx(n * one.megapixel_calls)
    with pytest.raises(ip.RestoreError, match="coarse_mean"):
        ip.resolve_settings("fast", levels, coarse_mean=0)


def test_large_holes_get_the_texture_of_the_photos_own_patches(tiny_rgb_model, monkeypatch) -> None:
    """Fast on a hole of three coarser scales: the chain's fill, grained, goes to add_texture with the
    region's pixels and the number of scales; each candidate its own seed; the known pixels stay
    exact, and the estimate counts the patches' pixels beside the chain's calls."""
    from dpm_desktop.core import inpaint as ip

    seen: list[tuple[tuple[int, ...], int, int]] = []
    real = ip.add_texture

    def recording(pixels, mask, fill, *, levels, seed, check):
        seen.append((fill.shape, levels, seed))
        assert np.array_equal(fill[~mask], pixels[~mask])
        return real(pixels, mask, fill, levels=levels, seed=seed, check=check)

    monkeypatch.setattr(ip, "add_texture", recording)
    img = photo_like(96, 96, seed=5)
    mask = np.zeros((96, 96), bool)
    mask[24:68, 20:64] = True
    res = inpaint(img, mask, model=tiny_rgb_model, device="cpu", coarse_levels=3, candidates=2, seed=7)
    assert res.params["texture"] and res.params["patch_s"] > 0
    x0, y0, x1, y1 = res.params["region"]
    assert seen == [((y1 - y0, x1 - x0, 3), 4, 7), ((y1 - y0, x1 - x0, 3), 4, 8)]
    for px in res.candidates:
        assert np.array_equal(px[~mask], img[~mask]) and not np.array_equal(px[mask], img[mask])
    plain = inpaint(img, mask, model=tiny_rgb_model, device="cpu", coarse_levels=3, seed=7, texture=False)
    assert not plain.params["texture"] and plain.params["patch_s"] == 0
    assert res.params["network_calls_per_candidate"] == plain.params["network_calls_per_candidate"]
    assert ip.estimate_cost(mask, coarse_levels=3).patch_pixels == mask.sum()
    assert ip.estimate_cost(mask, coarse_levels=3, texture=False).patch_pixels == 0
    assert ip.estimate_cost(mask, coarse_levels=1).patch_pixels == 0  # small holes keep the chain's fill


def test_fast_is_the_default_and_far_cheaper_than_best() -> None:
    from dpm_desktop.core.inpaint import DEFAULT_PRESET, estimate_cost

    mask = np.zeros((512, 512), bool)
    mask[200:296, 180:276] = True  # the 96 px object in a 512 px photo
    fast, best = estimate_cost(mask, preset="fast"), estimate_cost(mask, preset="best")
    assert DEFAULT_PRESET == "fast"
    assert fast.calls * 3 < best.calls  # few steps, most of them at the coarsest scale, where pixels are few
    # The coarsest scale's batch of 8 draws counts 8 times its pixels (138 calls, 2.6 MP-calls, against 545 and 8.9)
    assert fast.megapixel_calls < best.megapixel_calls / 3


def test_the_x0_clamp_keeps_known_pixels_and_fills_the_hole(tiny_rgb_model) -> None:
    """The DDNM-style clamp (known pixels put into the predicted x_0) is reachable from the API and the
    command line (`--clamp x0`) and holds the photo exactly (issue 14 item 6)."""
    img = photo_like(48, 48, seed=8)
    mask = np.zeros((48, 48), bool)
    mask[16:32, 16:32] = True
    res = inpaint(img, mask, clamp="x0", preset="best", steps=8, resample=1, model=tiny_rgb_model, device="cpu")
    assert np.array_equal(res.pixels[~mask], img[~mask]) and res.params["clamp"] == "x0"
    assert np.isfinite(res.pixels).all() and not np.array_equal(res.pixels[mask], img[mask])


def test_fill_gets_the_photos_grain_and_none_on_a_clean_photo() -> None:
    """A hole in a grainy photo is filled with the grain around it (a smooth patch would show); a
    clean photo gets next to none; --no-grain stays clean. The shipped photo model (a tiny one fills
    with noise of its own)."""
    from pathlib import Path

    from dpm_desktop.core.grain import haar_sigma

    model = Path(__file__).parents[1] / "models" / "photo-rgb"

    clean = photo_like(96, 96, seed=4)
    mask = np.zeros((96, 96), bool)
    mask[28:68, 28:68] = True
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 20 / 255, clean.shape), 0, 1).astype(np.float32)
    res = inpaint(noisy, mask, model=model)
    inside = haar_sigma(res.pixels[:, :, 1], mask) * 255
    assert 15 < inside < 25 and 15 < res.params["grain_sigma"] < 25
    assert np.array_equal(res.pixels[~mask], noisy[~mask])
    plain = inpaint(noisy, mask, model=model, grain=False)
    assert haar_sigma(plain.pixels[:, :, 1], mask) * 255 < 8 and plain.params["grain_sigma"] == 0.0
    assert inpaint(clean, mask, model=model).params["grain_sigma"] < 3


def test_bound_trained_models_never_denoise_at_the_untrained_step_one(tiny_rgb_model) -> None:
    """The bound's t = 1 term holds only constants, so a bound-trained paper model never fitted t = 1;
    a low sigma that maps there starts at t = 2 instead (issue 14 item 13). Hybrid models keep t = 1."""
    from pathlib import Path

    from dpm_desktop.core.checkpoint import load_checkpoint

    paper = load_checkpoint(Path(__file__).parents[1] / "models" / "deadleaves-paper")
    hybrid = load_checkpoint(tiny_rgb_model)
    assert (paper.first_trained_step, hybrid.first_trained_step) == (2, 1)
    scale = abs(paper.meta["data"]["scale"])
    assert paper.diffusion.terms().step_for_noise(1 / 255 * scale) == 1  # what it mapped to before
    gray = photo_like(32, 32, channels=1)
    assert denoise(gray, sigma=1, model=paper, mode="mean").params["start_step"] == 2
    low = next(s for s in (0.05, 0.1, 0.2, 0.5) if hybrid.diffusion.terms().step_for_noise(
        s / 255 * abs(hybrid.meta["data"]["scale"])) == 1)
    assert denoise(photo_like(32, 32), sigma=low, model=hybrid, mode="mean").params["start_step"] == 1


def test_coarse_levels_never_average_the_hole_into_known_pixels() -> None:
    """A region whose size no level's factor divides: every coarse pixel marked known must be the mean
    of known pixels only. Area interpolation to ceil(H / f) rows mixed the zeroed hole into them, and
    the fill grew from a dark rim (a 48 px hole on make bench's motorcycle photo: 9.2 dB, 25.8 now)."""
    from dpm_desktop.core.inpaint import _block_means, _scales, _upsampled

    h, w = 203, 317
    mask = np.zeros((h, w), bool)
    mask[77:125, 131:179] = True
    full = torch.ones(1, 3, h, w)
    full[:, :, torch.from_numpy(mask)] = 0.0  # the hole as the caller hands it: zeroed
    for sc in _scales(mask, 3, 32)[:-1]:  # the coarser levels
        known = _block_means(full, sc.factor, sc.hole.shape)
        assert known.shape[-2:] == sc.hole.shape
        kept = known[0][:, torch.from_numpy(~sc.hole)]
        assert torch.equal(kept, torch.ones_like(kept)), f"factor {sc.factor}: hole pixels averaged in"
        finer = _upsampled(known, (-(-h // (sc.factor // 2)), -(-w // (sc.factor // 2))))
        assert finer.shape[-2:] == (-(-h // (sc.factor // 2)), -(-w // (sc.factor // 2)))

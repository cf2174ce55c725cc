"""The effective noise of a clipped photo: the closed form against simulation, and its use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support import photo_like

from dpm_desktop.core import clipping
from dpm_desktop.core.clipping import censored_variance, effective_sigma


@pytest.mark.parametrize("mu", [0.0, 0.03, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("s", [0.05, 0.2])
def test_censored_variance_matches_simulation(mu: float, s: float) -> None:
    g = torch.Generator().manual_seed(0)
    draws = (mu + s * torch.randn(2_000_000, generator=g, dtype=torch.float64)).clamp(0, 1)
    closed = float(censored_variance(torch.tensor([mu], dtype=torch.float64), s))
    assert closed == pytest.approx(float(draws.var()), rel=0.01)


def test_mid_grey_keeps_sigma_and_black_and_white_lose_noise() -> None:
    grey = np.full((64, 64, 3), 0.5, np.float32)
    assert effective_sigma(grey, 10) == pytest.approx(10, rel=1e-3)
    half = np.zeros((64, 1024, 1), np.float32)
    half[:, 512:] = 1
    # at black or white the variance is s^2 (1/2 - 1/(2 pi)); the blur softens the boundary's few columns
    assert effective_sigma(half, 20) == pytest.approx(20 * math.sqrt(0.5 - 1 / (2 * math.pi)), rel=0.03)


def test_chunked_rows_give_the_whole_photo_result(monkeypatch: pytest.MonkeyPatch) -> None:
    px = np.clip(photo_like(150, 90, 3, 3) + 0.1 * np.random.default_rng(1).standard_normal((150, 90, 3)), 0, 1)
    whole = effective_sigma(px, 30)
    monkeypatch.setattr(clipping, "_ROWS", 17)
    assert effective_sigma(px, 30) == pytest.approx(whole, rel=1e-6)
    assert effective_sigma(px[:5, :3], 30) > 0  # smaller than the blur kernel


def test_denoise_uses_the_effective_sigma_of_a_given_sigma_only(tiny_rgb_model) -> None:
    from dpm_desktop.core.restore import denoise

    dark = np.clip(photo_like(48, 48, 4) * 0.3 + 0.2 * np.random.default_rng(2).standard_normal((48, 48, 3)), 0, 1)
    res = denoise(dark, sigma=50, model=tiny_rgb_model, device="cpu")
    assert res.params["clip_correction"] and res.params["sigma"] < 45
    assert any("after clipping" in n for n in res.notes)
    plain = denoise(dark, sigma=50, model=tiny_rgb_model, device="cpu", clip_correction=False)
    assert plain.params["sigma"] == 50 and not np.array_equal(plain.pixels, res.pixels)
    auto = denoise(dark, model=tiny_rgb_model, device="cpu")
    assert not auto.params["clip_correction"]  # the estimate is of the clipped photo already
    paper = denoise(dark, sigma=50, mode="paper", steps=2, model=tiny_rgb_model, device="cpu")
    assert not paper.params["clip_correction"] and paper.params["sigma"] == 50

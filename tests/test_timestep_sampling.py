"""The t samplers of training: probabilities that sum to 1 and weights p_uniform / p_draw, so that
the weighted bound terms estimate the uniform mean over t without bias."""

from __future__ import annotations

import math

import pytest
import torch

from dpm_desktop.core.modes import T_SAMPLINGS
from dpm_desktop.core.timestep_sampling import (
    ImportanceSampler,
    RestorationSampler,
    TimestepSampler,
    UniformSampler,
    make_timestep_sampler,
)
from dpm_desktop.core.train import TrainConfig, build_model


def photo_diffusion(T: int = 1000):  # the photo models' cosine schedule, where restoration sampling matters
    cfg = TrainConfig(data="photos", T=T, preset="tiny").resolved()
    return build_model(cfg, "folder", 3)


def trained_importance(T: int = 200) -> ImportanceSampler:
    """An importance sampler fed 10 losses per t that fall steeply with t (as the bound's terms do)."""
    sampler = ImportanceSampler(photo_diffusion(T))
    t = torch.arange(1, T + 1).repeat(ImportanceSampler.HISTORY)
    sampler.update(t, 1.0 / t.double() + 0.01 * torch.rand(len(t), generator=torch.Generator().manual_seed(0)))
    return sampler


def samplers() -> dict[str, TimestepSampler]:
    diffusion = photo_diffusion()
    sigma = (2 / 255 * 2.0, 80 / 255 * 2.0)  # the trainer's default range in model units (scale 2)
    return {"uniform": UniformSampler(diffusion), "restoration": RestorationSampler(diffusion, sigma, 0.5),
            "importance": trained_importance()}


def test_every_mode_name_has_its_sampler() -> None:
    diffusion = photo_diffusion(50)
    kinds = {m: type(make_timestep_sampler(m, diffusion, (0.01, 0.5), 0.5)) for m in T_SAMPLINGS}
    assert kinds == {"uniform": UniformSampler, "importance": ImportanceSampler, "restoration": RestorationSampler}
    with pytest.raises(ValueError, match="unknown t sampling 'often'"):
        make_timestep_sampler("often", diffusion, (0.01, 0.5), 0.5)


@pytest.mark.parametrize("name", ["uniform", "restoration", "importance"])
def test_probabilities_sum_to_one_and_weights_are_uniform_over_draw(name: str) -> None:
    s = samplers()[name]
    assert s.probs.dtype == torch.float64 and s.probs.shape == (s.T,)
    assert abs(float(s.probs.sum()) - 1) < 1e-12
    assert bool((s.probs > 0).all())  # every t can be drawn: no term of the bound is left out
    assert torch.allclose(s.weights, (1.0 / s.T) / s.probs, rtol=1e-12, atol=0)
    if name != "uniform":  # the test must be able to fail: these are far from uniform
        assert float(s.probs.max() / s.probs.min()) > 5


@pytest.mark.parametrize("name", ["uniform", "restoration", "importance"])
def test_weighted_draws_estimate_the_uniform_mean_without_bias(name: str) -> None:
    """E_draw[w(t) f(t)] = (1/T) sum_t f(t): exactly in expectation, and empirically over 400,000
    draws within 4 standard errors, for a test function that varies strongly with t."""
    s = samplers()[name]
    ts = torch.arange(1, s.T + 1, dtype=torch.float64)
    f = 1.0 / ts + torch.sin(ts / 7) + 0.002 * ts  # large at small t, where the samplers differ most
    assert abs(float((s.probs * s.weights * f).sum()) - float(f.mean())) < 1e-12
    t, w = s.draw(400_000, torch.Generator().manual_seed(3))
    assert int(t.min()) >= 1 and int(t.max()) <= s.T
    assert w.dtype == torch.float32
    values = w.double() * f[t - 1]
    stderr = float(values.std()) / math.sqrt(len(values))
    assert abs(float(values.mean()) - float(f.mean())) < 4 * stderr
    # and not trivially: the draws themselves are distributed as probs, not uniformly
    freq = torch.bincount(t - 1, minlength=s.T).double() / len(t)
    assert float((freq - s.probs).abs().sum()) < 0.05


def test_restoration_puts_its_share_in_the_noise_range() -> None:
    diffusion = photo_diffusion()
    lo, hi = 2 / 255 * 2.0, 80 / 255 * 2.0
    s = RestorationSampler(diffusion, (lo, hi), 0.5)
    sig = diffusion.terms().noise_std().cpu()
    inside = (sig >= lo) & (sig <= hi)
    uniform_inside = float(inside.double().mean())
    assert float(s.probs[inside].sum()) == pytest.approx(0.5 + 0.5 * uniform_inside, abs=1e-9)


def test_importance_is_uniform_until_every_t_has_its_history_then_follows_the_losses() -> None:
    T = 60
    s = ImportanceSampler(photo_diffusion(T))
    t = torch.arange(2, T + 1).repeat(ImportanceSampler.HISTORY - 1)
    s.update(t, torch.ones(len(t)))
    assert torch.equal(s.probs, torch.full((T,), 1.0 / T, dtype=torch.float64))
    s.update(torch.arange(2, T + 1), 1.0 / torch.arange(2, T + 1).double())  # the 10th loss of each t >= 2
    assert float(s.probs[1]) > float(s.probs[-1])


def test_importance_state_round_trips() -> None:
    a = trained_importance(80)
    b = ImportanceSampler(photo_diffusion(80))
    b.load(a.state())
    assert torch.equal(a.probs, b.probs) and torch.equal(a.counts, b.counts)
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(a.draw(64, gen_a)[0], b.draw(64, gen_b)[0])
    assert UniformSampler(photo_diffusion(80)).state() == {}

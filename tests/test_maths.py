"""The diffusion maths against closed forms and simulation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from dpm_desktop.core.diffusion import (
    Chain,
    DiffusionConfig,
    GaussianDiffusion,
    ReverseStep,
    gaussian_kl,
    gaussian_kl_tril,
    tril_size,
    unit_tril,
)
from dpm_desktop.core.networks import PaperNet, PaperNetConfig, UNet, UNetConfig, temporal_basis
from dpm_desktop.core.schedule import ScheduleTerms, make_betas, respace_betas, spaced_timesteps

L_NULL = -0.5 * math.log2(2 * math.pi * math.e)


def trivial_paper_model(T: int = 20, channels: int = 1, schedule: str = "paper",
                        step1_beta: float = 1e-2) -> GaussianDiffusion:
    net = PaperNet(PaperNetConfig(channels=channels, T=T, conv_width=4, conv_layers=1, scales=1,
                                  dense_lower_width=4, dense_lower_layers=1, dense_lower_out=2,
                                  dense_upper_width=4, dense_upper_layers=1))
    cfg = DiffusionConfig(T=T, schedule=schedule, step1_beta=step1_beta, parameterisation="paper")
    return GaussianDiffusion(net, cfg)


@pytest.mark.parametrize("kind", ["paper", "linear", "cosine"])
def test_closed_form_q_xt_matches_composed_forward_steps(kind: str) -> None:
    T = 50
    betas = make_betas(kind, T)
    terms = ScheduleTerms.from_betas(betas)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000,), 0.7, dtype=torch.float64)
    x = x0.clone()
    for t in range(1, T + 1):
        b = betas[t - 1]
        x = (1 - b).sqrt() * x + b.sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
        if t in (1, 5, 20, T):
            ab = terms.alphas_bar[t - 1]
            assert float(x.mean()) == pytest.approx(float(ab.sqrt() * 0.7), abs=4e-3)
            assert float(x.var()) == pytest.approx(float(1 - ab), abs=4e-3 + 0.01 * float(1 - ab))


def test_paper_schedule_is_one_over_T_minus_t_plus_one() -> None:
    betas = make_betas("paper", 40, step1_beta=1e-4)
    assert float(betas[0]) == pytest.approx(1e-4)
    for t in (2, 10, 39):
        assert float(betas[t - 1]) == pytest.approx(1 / (40 - t + 1))
    assert float(betas[-1]) == pytest.approx(1.0, abs=1e-4)  # x_T forgets x_0 entirely


def test_posterior_matches_bayes_rule_numerically() -> None:
    """q(x_{t-1} | x_t, x_0) from the closed form equals q(x_t | x_{t-1}) q(x_{t-1} | x_0) normalised on a grid."""
    terms = ScheduleTerms.from_betas(make_betas("cosine", 100))
    x0, xt, t = 0.4, -0.3, 37
    b, ab_prev = float(terms.betas[t - 1]), float(terms.alphas_bar_prev[t - 1])
    grid = torch.linspace(-4, 4, 400_001, dtype=torch.float64)
    log_lik = -((xt - math.sqrt(1 - b) * grid) ** 2) / (2 * b)
    log_prior = -((grid - math.sqrt(ab_prev) * x0) ** 2) / (2 * (1 - ab_prev))
    w = torch.softmax(log_lik + log_prior, dim=0)
    mean_num = float((w * grid).sum())
    var_num = float((w * (grid - mean_num) ** 2).sum())
    mean = float(terms.post_c0[t - 1] * x0 + terms.post_ct[t - 1] * xt)
    assert mean == pytest.approx(mean_num, abs=1e-6)
    assert float(terms.post_var[t - 1]) == pytest.approx(var_num, rel=1e-4)


def test_kl_is_nonnegative_and_zero_for_equal_gaussians() -> None:
    g = torch.Generator().manual_seed(1)
    m1, m2 = torch.randn(1000, generator=g), torch.randn(1000, generator=g)
    v1 = torch.rand(1000, generator=g) + 0.01
    lv2 = torch.randn(1000, generator=g)
    assert bool((gaussian_kl(m1, v1, m2, lv2) >= -1e-6).all())
    assert float(gaussian_kl(m1, v1, m1, v1.log()).abs().max()) < 1e-6


def test_untrained_paper_model_is_the_trivial_reverse_process() -> None:
    model = trivial_paper_model()
    x = torch.randn(4, 1, 8, 8)
    t = torch.full((4,), 7)
    step = model.reverse_step(x, t)
    b = float(model.betas()[6])
    assert torch.allclose(step.mean, math.sqrt(1 - b) * x, atol=1e-6)
    assert torch.allclose(step.logvar, torch.full_like(x, math.log(b)), atol=1e-5)


def test_bound_of_trivial_model_equals_hand_computation() -> None:
    """For mu = sqrt(1-b_t) x_t, Sigma = b_t the KL terms have a closed form given x_0 (integrating
    over x_t); summing them with the entropy terms by hand must match ``bound(all_terms=True)``."""
    T = 12
    model = trivial_paper_model(T=T)
    terms = model.terms()
    x0 = torch.tensor([[-1.3], [0.0], [0.8], [2.1]], dtype=torch.float64)
    total = torch.zeros(4, dtype=torch.float64)
    for t in range(2, T + 1):
        b, ab = terms.betas[t - 1], terms.alphas_bar[t - 1]
        c0, ct, pv = terms.post_c0[t - 1], terms.post_ct[t - 1], terms.post_var[t - 1]
        # q mean - p mean = c0 x0 + (ct - sqrt(1-b)) x_t, with x_t ~ N(sqrt(ab) x0, 1 - ab)
        a = ct - (1 - b).sqrt()
        d_mean = c0 * x0[:, 0] + a * ab.sqrt() * x0[:, 0]
        e_sq = d_mean**2 + a**2 * (1 - ab)
        total += 0.5 * (torch.log(b / pv) + (pv + e_sq) / b - 1)
    ab_T = terms.alphas_bar[-1]
    h = 0.5 * math.log(2 * math.pi * math.e)
    consts = (h + 0.5 * torch.log(1 - ab_T)) - (h + 0.5 * torch.log(terms.betas[0])) \
        - (0.5 * math.log(2 * math.pi) + 0.5 * (ab_T * x0[:, 0] ** 2 + 1 - ab_T))
    by_hand = (consts - total) / math.log(2)
    x = x0.float().view(4, 1, 1, 1).expand(4, 1, 1, 1).repeat(20_000, 1, 1, 1)
    got = model.bound(x, all_terms=True, generator=torch.Generator().manual_seed(0)).view(20_000, 4).mean(0)
    assert torch.allclose(got.double(), by_hand, atol=0.03)


def test_model_that_is_the_unit_gaussian_scores_L_null() -> None:
    """With data ~ N(0, 1) the trivial model is exactly the stationary Gaussian chain, whose
    marginal is N(0, 1): its bound must equal L_null = -1/2 log2(2 pi e) bits per dimension."""
    model = trivial_paper_model(T=20)
    x = torch.randn(60_000, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        k = model.bound(x, all_terms=True, generator=torch.Generator().manual_seed(4))
    assert float(k.mean()) == pytest.approx(L_NULL, abs=3 * float(k.std()) / math.sqrt(len(k)) + 0.01)


def test_unbiased_bound_estimate_agrees_with_all_terms() -> None:
    model = trivial_paper_model(T=20)
    x = torch.randn(40_000, 1, 1, 1, generator=torch.Generator().manual_seed(5))
    full = float(model.bound(x, all_terms=True, generator=torch.Generator().manual_seed(6)).mean())
    draws = torch.stack([model.bound(x, generator=torch.Generator().manual_seed(7 + i)) for i in range(8)])
    est = draws.mean(0)
    stderr = float(est.std()) / math.sqrt(len(est))
    assert float(est.mean()) == pytest.approx(full, abs=4 * stderr)


def test_full_chain_via_x0_prediction_reproduces_paper_reverse_step() -> None:
    """A Chain over all T steps must give exactly the paper's mu and Sigma (respacing is a no-op)."""
    torch.manual_seed(0)
    model = trivial_paper_model(T=30)
    for p in model.net.parameters():  # a non-trivial network
        p.data.normal_(0, 0.3)
    chain = Chain(model, list(range(1, 31)))
    x = torch.randn(2, 1, 8, 8)
    for i in (5, 17, 29):
        direct = model.reverse_step(x, torch.full((2,), i + 1))
        via = chain.step(x, i)
        assert torch.allclose(via.mean, direct.mean, atol=1e-4)
        assert torch.allclose(via.logvar, direct.logvar, atol=1e-4)


def test_respaced_chain_keeps_alpha_bar_at_visited_steps() -> None:
    terms = ScheduleTerms.from_betas(make_betas("cosine", 1000))
    steps = spaced_timesteps(1000, 25)
    assert steps[0] == 1 and steps[-1] == 1000 and len(steps) == 25
    rb = respace_betas(terms.alphas_bar, steps)
    kept = torch.cumprod(1 - rb, 0)[:-1]  # the last beta is capped just below 1
    assert torch.allclose(kept, terms.alphas_bar[torch.tensor(steps[:-1]) - 1], rtol=1e-9)


def test_temporal_basis_rows_sum_to_one() -> None:
    basis = temporal_basis(1000, 10)
    assert basis.shape == (1000, 10)
    assert torch.allclose(basis.sum(1), torch.ones(1000), atol=1e-5)
    assert int(basis[0].argmax()) == 0 and int(basis[-1].argmax()) == 9


@pytest.mark.parametrize("net", [
    PaperNet(PaperNetConfig(channels=3, T=100, conv_width=8, conv_layers=2, scales=3, dense_lower_width=8,
                            dense_lower_out=4, dense_upper_width=8)),
    UNet(UNetConfig(channels=3, T=100, width=8, mults=[1, 2, 2])),
])
def test_networks_are_fully_convolutional(net: torch.nn.Module) -> None:
    for h, w in ((16, 16), (37, 21), (5, 64)):
        out = net(torch.randn(2, 3, h, w), torch.tensor([3, 90]))
        assert out.shape == (2, 6, h, w)


def test_learned_betas_receive_gradients_from_the_bound() -> None:
    net = PaperNet(PaperNetConfig(channels=1, T=10, conv_width=4, conv_layers=1, scales=1, dense_lower_width=4,
                                  dense_lower_out=2, dense_upper_width=4))
    model = GaussianDiffusion(net, DiffusionConfig(T=10, schedule="paper", learn_betas=True))
    out = model.loss(torch.randn(8, 1, 4, 4), torch.randint(1, 11, (8,)), objective="bound")
    out["loss"].backward()
    assert model.beta_perturb.grad is not None and float(model.beta_perturb.grad.abs().sum()) > 0
    assert float(model.betas()[0].detach()) == pytest.approx(1e-3)  # b_1 stays fixed


def test_log_stratified_bound_is_unbiased_and_tighter() -> None:
    from dpm_desktop.core.diffusion import log_strata

    strata = log_strata(1000)
    assert strata[0] == (2, 3) and strata[-1] == (1000, 1001)  # t = T alone: its KL is an outlier
    assert all(a[1] == b[0] for a, b in itertools.pairwise(strata))  # they tile 2..T
    model = trivial_paper_model(T=40)
    x = torch.randn(20_000, 1, 1, 1, generator=torch.Generator().manual_seed(8))
    full = float(model.bound(x, all_terms=True, generator=torch.Generator().manual_seed(9)).mean())
    strat = model.bound(x, stratified=True, generator=torch.Generator().manual_seed(10))
    calls = len(log_strata(40))
    plain = torch.stack([model.bound(x, generator=torch.Generator().manual_seed(11 + i)) for i in range(calls)])
    se_strat = float(strat.std()) / math.sqrt(len(strat))
    se_plain = float(plain.mean(0).std()) / math.sqrt(plain.shape[1])
    assert float(strat.mean()) == pytest.approx(full, abs=4 * se_strat)
    assert se_strat < se_plain  # same number of network calls, less variance


# ----------------------------------------------------------------------------------------------
# A full covariance over the channels of a pixel (Sigma = L diag(v) L^T)


@pytest.mark.parametrize("channels", [2, 3])
def test_channel_covariance_kl_matches_the_multivariate_closed_form(channels: int) -> None:
    g = torch.Generator().manual_seed(3)
    b, h, w, k = 4, 2, 3, tril_size(channels)
    m1, m2 = (torch.randn(b, channels, h, w, generator=g, dtype=torch.float64) for _ in range(2))
    v1 = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64).expand(b, channels, h, w) + 0.1
    logv2 = torch.randn(b, channels, h, w, generator=g, dtype=torch.float64) * 0.5
    tril = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    ours = gaussian_kl_tril(m1, v1, m2, logv2, tril).sum(1)  # (B, H, W)
    L = unit_tril(tril, channels)
    cov = L @ torch.diag_embed(logv2.exp().permute(0, 2, 3, 1)) @ L.transpose(-1, -2)
    q = MultivariateNormal(m1.permute(0, 2, 3, 1), torch.diag_embed(v1.permute(0, 2, 3, 1)))
    p = MultivariateNormal(m2.permute(0, 2, 3, 1), cov)
    assert torch.allclose(ours, kl_divergence(q, p), atol=1e-9)
    # L = I is the diagonal KL
    zero = torch.zeros_like(tril)
    assert torch.allclose(gaussian_kl_tril(m1, v1, m2, logv2, zero), gaussian_kl(m1, v1, m2, logv2), atol=1e-12)


def test_channel_covariance_samples_have_that_covariance() -> None:
    g = torch.Generator().manual_seed(4)
    n = 200_000
    logvar = torch.tensor([math.log(0.5), math.log(2.0)]).view(1, 2, 1, 1).expand(n, 2, 1, 1)
    tril = torch.full((n, 1, 1, 1), 0.8)
    step = ReverseStep(torch.zeros(n, 2, 1, 1), logvar, torch.zeros(n, 2, 1, 1), torch.zeros(n, 2, 1, 1), tril)
    x = step.noise(torch.randn(n, 2, 1, 1, generator=g)).view(n, 2)
    want = torch.tensor([[0.5, 0.4], [0.4, 0.8 * 0.8 * 0.5 + 2.0]])
    assert torch.allclose(torch.cov(x.T), want, atol=0.02)


@pytest.mark.parametrize("saved", [{}, {"z_sigma_sqrt_T": True}, {"z_sigma_sqrt_T": False}])
def test_paper_variance_is_sigmoid_of_z_sigma_over_sqrt_T_plus_logit_beta(saved: dict) -> None:
    """The authors' model.py divides z_sigma by sqrt(T) before the sigmoid; a config saved without
    the field (an older checkpoint) keeps the unscaled form."""
    T = 25
    net = PaperNet(PaperNetConfig(channels=1, T=T, conv_layers=0, scales=1, dense_lower_width=4,
                                  dense_lower_layers=1, dense_lower_out=2, dense_upper_width=4, dense_upper_layers=1))
    base = {"T": T, "schedule": "paper", "step1_beta": 1e-2, "parameterisation": "paper"}
    model = GaussianDiffusion(net, DiffusionConfig.from_dict({**base, **saved}))
    scaled = saved.get("z_sigma_sqrt_T", False)
    assert model.cfg.z_sigma_sqrt_T is scaled
    z_sigma = torch.tensor([-40.0, -3.0, 0.0, 2.5, 30.0]).view(5, 1, 1, 1)
    out = torch.cat([torch.zeros_like(z_sigma), z_sigma], dim=1)  # (z_mu, z_sigma), hand-made
    x, t = torch.zeros(5, 1, 1, 1), torch.full((5,), 9)
    step = model.reverse_step(x, t, net=lambda *_: out)
    b = model.betas()[8].double()
    z = z_sigma.double() / math.sqrt(T) if scaled else z_sigma.double()
    want = 1 / (1 + torch.exp(-(z + torch.log(b / (1 - b)))))
    assert torch.allclose(step.logvar.exp().double(), want, rtol=1e-5, atol=0)
    assert (step.logvar.exp().double() - torch.sigmoid(z_sigma.double() + torch.logit(b))).abs().max() \
        > (1e-3 if scaled else -1)  # the two forms differ where z_sigma is not 0


def test_new_paper_configs_scale_z_sigma_and_a_non_boolean_is_refused() -> None:
    assert DiffusionConfig().z_sigma_sqrt_T is True
    with pytest.raises(ValueError, match="z_sigma_sqrt_T"):
        DiffusionConfig(z_sigma_sqrt_T="yes")  # type: ignore[arg-type]

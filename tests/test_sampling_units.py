"""Unit tests of small pieces the restorations are built from (issue 14 item 9): RePaint's state
schedule, the paper denoiser's product of Gaussians, and the D4 ensemble's inverse."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from dpm_desktop.core.denoise import LikelihoodCondition, _d4, _d4_inverse
from dpm_desktop.core.diffusion import ReverseStep
from dpm_desktop.core.sampling import network_calls, repaint_states


def test_repaint_states_without_resampling_walk_straight_down() -> None:
    assert repaint_states(5) == [5, 4, 3, 2, 1, 0]
    assert network_calls(repaint_states(50)) == 50


def test_repaint_states_jump_back_and_come_down_again() -> None:
    # n 4, jump 2, resample 2: one return trip, from 0 up 2 and down again.
    assert repaint_states(4, jump=2, resample=2) == [4, 3, 2, 1, 0, 1, 2, 1, 0]
    states = repaint_states(10, jump=2, resample=3)
    assert states[0] == 10 and states[-1] == 0 and max(states) == 10
    assert all(abs(a - b) == 1 for a, b in itertools.pairwise(states))  # one step at a time
    # 4 return points (0, 2, 4, 6) x 2 extra trips x 2 steps up, each walked down again.
    assert network_calls(states) == 10 + 4 * 2 * 2
    with pytest.raises(ValueError):
        repaint_states(10, resample=0)
    with pytest.raises(ValueError):
        repaint_states(10, jump=0)


class _Chain:
    def __init__(self, ab: float) -> None:
        self.ab = ab

    def alpha_bar(self, i: int) -> float:
        return self.ab


def _log_normal(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - mean) ** 2 / var + torch.log(2 * math.pi * var))


def test_likelihood_condition_is_the_product_of_the_two_gaussians() -> None:
    """N(x; m, v) N(x; sqrt(ab) y, ab s^2 + 1 - ab) is proportional to N(x; mean, var) of the result:
    the log-ratio does not depend on x."""
    m, v = torch.tensor([0.2, -0.4]), torch.tensor([0.04, 0.3])
    y, sigma, ab = torch.tensor([0.5, 0.1]), 0.1, 0.81
    step = ReverseStep(m, torch.log(v), pred_x0=m, frac=torch.zeros(2))
    out = LikelihoodCondition(y, sigma).combine(step, state=3, chain=_Chain(ab))  # type: ignore[arg-type]
    var_r = torch.tensor(ab * sigma**2 + 1 - ab)
    xs = torch.linspace(-2, 2, 9)[:, None]
    ratio = _log_normal(xs, m, v) + _log_normal(xs, math.sqrt(ab) * y, var_r) - _log_normal(xs, out.mean,
                                                                                             out.logvar.exp())
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), atol=1e-5)
    assert (out.logvar.exp() < v).all()  # the product is narrower than either factor
    # At the last state (0) the likelihood is that of the photo itself: centred on y, variance sigma^2.
    last = LikelihoodCondition(y, sigma).combine(step, state=0, chain=_Chain(ab))  # type: ignore[arg-type]
    expected = (m / v + y / sigma**2) / (1 / v + 1 / sigma**2)
    assert torch.allclose(last.mean, expected, atol=1e-6)


def test_likelihood_condition_refuses_a_channel_covariance() -> None:
    step = ReverseStep(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2),
                       torch.zeros(1, 3, 2, 2), tril=torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="diagonal"):
        LikelihoodCondition(torch.zeros(1, 3, 2, 2), 0.1).combine(step, 1, _Chain(0.5))  # type: ignore[arg-type]


def test_d4_inverse_undoes_each_of_the_eight_symmetries() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # not square: turns change the shape
    seen = set()
    for k in range(8):
        moved = _d4(x, k)
        assert torch.equal(_d4_inverse(moved, k), x)
        seen.add(tuple(moved.flatten().tolist()) + tuple(moved.shape))
    assert len(seen) == 8  # eight different transforms, not one repeated

"""Noise schedules of the forward diffusion and the closed forms that follow from them.

Time runs t = 1..T as in Sohl-Dickstein et al. (2015); arrays are indexed by ``t - 1``.
``betas[t-1]`` is b_t, the variance added by the forward step x_{t-1} -> x_t:

    q(x_t | x_{t-1}) = N(sqrt(1 - b_t) x_{t-1}, b_t I)
    q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s<=t} (1 - b_s)
    q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, post_var_t)

All schedule maths is done in float64 and cast where it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .modes import SCHEDULES

_BETA_MAX = 1.0 - 1e-5  # keeps logit(b_t) and sqrt(1 - b_t) finite at t = T


def make_betas(kind: str, T: int, *, step1_beta: float = 1e-3) -> torch.Tensor:
    """The fixed part of a schedule as float64 betas of length T.

    paper:  b_1 = ``step1_beta``, b_t = 1 / (T - t + 1) for t >= 2 (paper, section 2.4.1 and App. D).
    linear: DDPM (Ho et al. 2020), 1e-4 .. 0.02 rescaled to T steps.
    cosine: Nichol & Dhariwal (2021), s = 0.008, b_t <= 0.999.
    """
    if T < 2:
        raise ValueError(f"T must be at least 2, got {T}")
    # Constants, always built on the CPU: under checkpoint validation's torch.device("meta") a factory
    # without a device goes through PyTorch's Python decompositions, which import torch._dynamo and
    # sympy (1.5 s of every command's start).
    t = torch.arange(1, T + 1, dtype=torch.float64, device="cpu")
    if kind == "paper":
        betas = 1.0 / (T - t + 1)
        betas[0] = step1_beta
    elif kind == "linear":
        scale = 1000.0 / T
        betas = torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64, device="cpu")
    elif kind == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64, device="cpu") / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        abar = f / f[0]
        betas = (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    return betas.clamp(1e-8, _BETA_MAX)


def perturbed_betas(base: torch.Tensor, perturb: torch.Tensor) -> torch.Tensor:
    """The paper's learned schedule: b_1 stays fixed, b_2..b_T = sigmoid(logit(base) + perturb)."""
    tail = torch.sigmoid(torch.logit(base[1:]) + perturb.to(base.dtype)).clamp(1e-8, _BETA_MAX)
    return torch.cat([base[:1], tail])


@dataclass(frozen=True)
class ScheduleTerms:
    """Every per-step quantity the diffusion maths needs, derived from betas (float64, length T)."""

    betas: torch.Tensor
    alphas_bar: torch.Tensor  # abar_t
    alphas_bar_prev: torch.Tensor  # abar_{t-1}, with abar_0 = 1
    post_var: torch.Tensor  # variance of q(x_{t-1} | x_t, x_0); 0 at t = 1
    post_c0: torch.Tensor  # coefficient of x_0 in the posterior mean
    post_ct: torch.Tensor  # coefficient of x_t in the posterior mean
    # log post_var with its t = 1 value (0) replaced by t = 2's, as improved-diffusion clips it: the
    # lower end of the learned reverse variance's interpolation (betas' log for a 1-step chain).
    post_logvar_clipped: torch.Tensor

    @property
    def T(self) -> int:
        return self.betas.shape[0]

    @staticmethod
    def from_betas(betas: torch.Tensor) -> ScheduleTerms:
        betas = betas.to(torch.float64)
        alphas_bar = torch.cumprod(1 - betas, dim=0)
        prev = torch.cat([alphas_bar.new_ones(1), alphas_bar[:-1]])
        post_var = betas * (1 - prev) / (1 - alphas_bar)
        post_c0 = betas * prev.sqrt() / (1 - alphas_bar)
        post_ct = (1 - betas).sqrt() * (1 - prev) / (1 - alphas_bar)
        clipped = torch.cat([post_var[1:2], post_var[1:]]) if len(post_var) > 1 else betas
        return ScheduleTerms(betas, alphas_bar, prev, post_var, post_c0, post_ct, clipped.log())

    def noise_std(self) -> torch.Tensor:
        """Std of the noise in x_t / sqrt(abar_t) relative to x_0: sqrt((1 - abar_t) / abar_t)."""
        return ((1 - self.alphas_bar) / self.alphas_bar).sqrt()

    def step_for_noise(self, sigma: float) -> int:
        """The step t (1..T) whose x_t / sqrt(abar_t) carries noise closest to ``sigma`` (data units)."""
        target = math.log(max(sigma, 1e-12))
        return int((self.noise_std().log() - target).abs().argmin()) + 1


def respace_betas(alphas_bar: torch.Tensor, timesteps: list[int]) -> torch.Tensor:
    """Betas of a shorter chain visiting ``timesteps`` (1-based, increasing) with the same abar there.

    As in improved-diffusion's respace.py: b'_i = 1 - abar_{t_i} / abar_{t_{i-1}}.
    """
    if not timesteps or sorted(set(timesteps)) != list(timesteps):
        raise ValueError("timesteps must be a non-empty increasing list without repeats")
    if timesteps[0] < 1 or timesteps[-1] > alphas_bar.shape[0]:
        raise ValueError(f"timesteps must lie in 1..{alphas_bar.shape[0]}")
    ab = alphas_bar[torch.tensor(timesteps) - 1]
    prev = torch.cat([alphas_bar.new_ones(1), ab[:-1]])
    return (1 - ab / prev).clamp(1e-12, _BETA_MAX)


def spaced_timesteps(T: int, n: int, *, t_max: int | None = None, t_min: int = 1) -> list[int]:
    """``n`` steps from ``t_min`` to ``t_max`` (default 1 and T), evenly spaced, both ends included.

    A chain whose smallest step is t_min > 1 ends with the network's estimate of x_0 at that step:
    the posterior mean given x_{t_min} rather than a sample (Tweedie)."""
    t_max = T if t_max is None else t_max
    t_min = max(1, min(t_min, t_max))
    n = max(1, min(n, t_max - t_min + 1))
    if n == 1:
        return [t_max]
    steps = torch.linspace(t_min, t_max, n, dtype=torch.float64).round().long().tolist()
    return sorted(set(steps))

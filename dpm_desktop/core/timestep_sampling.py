"""How training draws t in 1..T: each sampler returns t with the weight p_uniform(t) / p_draw(t), so
that the weighted bound terms stay an unbiased estimate of the bound (E_draw[w f(t)] = mean_t f(t)).

uniform:     every t alike (weight 1).
importance:  p(t) proportional to sqrt(E[L_t^2]) from recent losses (Nichol & Dhariwal 2021),
             which cuts the variance of the bound's gradient; uniform until 10 losses per t.
restoration: a share of the draws log-uniformly in the noise range where restoration works.
"""

from __future__ import annotations

import torch

from .diffusion import GaussianDiffusion
from .modes import T_SAMPLINGS


class TimestepSampler:
    """Fixed probabilities over t = 1..T (uniform unless given)."""

    def __init__(self, T: int, probs: torch.Tensor | None = None) -> None:
        self.T = T
        self.set_probs(probs if probs is not None else torch.full((T,), 1.0 / T, dtype=torch.float64))

    def set_probs(self, probs: torch.Tensor) -> None:
        self.probs = probs / probs.sum()
        self.weights = (1.0 / self.T) / self.probs

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(t in 1..T, weights p_uniform / p_draw) for ``n`` items."""
        idx = torch.multinomial(self.probs, n, replacement=True, generator=generator)
        return idx + 1, self.weights[idx].float()

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Learn from the per-item bound terms of a training step (nothing to learn here)."""

    def state(self) -> dict[str, torch.Tensor]:
        """What a training state must keep to resume the sampler exactly."""
        return {}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state` from a training state's tensors (others are ignored)."""


class UniformSampler(TimestepSampler):
    def __init__(self, diffusion: GaussianDiffusion) -> None:
        super().__init__(diffusion.T)


class RestorationSampler(TimestepSampler):
    """``share`` of the draws log-uniformly in noise std over ``sigma_range`` (model units), the
    rest uniform over all t so that the bound is still covered."""

    def __init__(self, diffusion: GaussianDiffusion, sigma_range: tuple[float, float], share: float) -> None:
        T = diffusion.T
        probs = torch.full((T,), 1.0 / T, dtype=torch.float64)
        sig = diffusion.terms().noise_std().cpu()
        logs = sig.log()
        inc = torch.diff(logs, prepend=logs[:1] - (logs[1] - logs[0])).clamp(min=0)  # d log sigma per step
        inside = (sig >= sigma_range[0]) & (sig <= sigma_range[1])
        focus = inc * inside
        if focus.sum() > 0:
            probs = (1 - share) * probs + share * focus / focus.sum()
        super().__init__(T, probs)


class ImportanceSampler(TimestepSampler):
    HISTORY = 10

    def __init__(self, diffusion: GaussianDiffusion) -> None:
        super().__init__(diffusion.T)
        self.history = torch.zeros(self.T, self.HISTORY, dtype=torch.float64)
        self.counts = torch.zeros(self.T, dtype=torch.long)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        for ti, li in zip(t.tolist(), losses.detach().double().cpu().tolist(), strict=True):
            k = ti - 1
            self.history[k, self.counts[k] % self.HISTORY] = li
            self.counts[k] += 1
        if bool((self.counts[1:] >= self.HISTORY).all()):  # t = 1 carries no KL term
            w = (self.history**2).mean(1).sqrt()
            w[0] = w[1:].min()
            w = w / w.sum()
            self.set_probs(0.999 * w + 0.001 / self.T)

    def state(self) -> dict[str, torch.Tensor]:
        return {"ts.history": self.history, "ts.counts": self.counts}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        if "ts.history" in tensors:
            self.history, self.counts = tensors["ts.history"].double(), tensors["ts.counts"].long()
            self.update(torch.zeros(0, dtype=torch.long), torch.zeros(0))


def make_timestep_sampler(mode: str, diffusion: GaussianDiffusion, sigma_range: tuple[float, float],
                          share: float) -> TimestepSampler:
    """The sampler named ``mode`` (one of :data:`.modes.T_SAMPLINGS`); ``sigma_range`` and ``share``
    are used by ``restoration`` only."""
    if mode == "uniform":
        return UniformSampler(diffusion)
    if mode == "importance":
        return ImportanceSampler(diffusion)
    if mode == "restoration":
        return RestorationSampler(diffusion, sigma_range, share)
    raise ValueError(f"unknown t sampling {mode!r}; use {', '.join(T_SAMPLINGS)}")

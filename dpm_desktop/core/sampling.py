"""One reverse loop for sampling, inpainting and denoising, with a pluggable condition.

The loop walks a list of chain states (see :func:`repaint_states`): a move j -> j-1 is one reverse
step of the :class:`~dpm_desktop.core.diffusion.Chain`, a move j -> j+1 re-noises with the forward
process (RePaint's resampling). After every reverse step a :class:`Condition` may change the
state: clamp known pixels for inpainting, multiply by a likelihood for denoising, or nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from .diffusion import Chain, GaussianDiffusion, ReverseStep
from .progress import NULL_REPORTER, Reporter
from .schedule import spaced_timesteps


class Condition:
    """Conditions the reverse chain; each hook defaults to doing nothing. For the step into ``state``:
    ``project_x0`` may change the predicted x_0 before the step's mean is formed (known pixels put
    in, as DDNM does); ``combine`` may replace the step's Gaussian (a likelihood product); ``after``
    may change the sampled state (clamping known pixels, as the paper and RePaint do)."""

    def project_x0(self, x0: torch.Tensor, state: int, chain: Chain) -> torch.Tensor:
        return x0

    def combine(self, step: ReverseStep, state: int, chain: Chain) -> ReverseStep:
        return step

    def after(self, x: torch.Tensor, state: int, chain: Chain, noise: Callable[[], torch.Tensor]) -> torch.Tensor:
        return x


def repaint_states(n: int, *, jump: int = 1, resample: int = 1) -> list[int]:
    """States from n down to 0; with ``resample`` > 1, every ``jump`` steps go back up ``jump`` steps
    and come down again, ``resample - 1`` times (Lugmayr et al. 2022, RePaint's schedule)."""
    if resample < 1 or jump < 1:
        raise ValueError("resample and jump must be at least 1")
    pending = {j: resample - 1 for j in range(0, max(n - jump, 0), jump)}
    state, states = n, [n]
    while state > 0:
        state -= 1
        states.append(state)
        if pending.get(state, 0) > 0:
            pending[state] -= 1
            for _ in range(min(jump, n - state)):
                state += 1
                states.append(state)
    return states


def network_calls(states: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(states) if b < a)


def make_noise(shape: tuple[int, ...], generator: torch.Generator | None,
               device: torch.device) -> Callable[[], torch.Tensor]:
    """Noise drawn on the CPU from a seeded generator, so results are the same on every device."""

    def draw() -> torch.Tensor:
        return torch.randn(shape, generator=generator).to(device)

    return draw


@torch.inference_mode()
def run_chain(
    chain: Chain,
    x: torch.Tensor,
    *,
    states: list[int] | None = None,
    condition: Condition | None = None,
    generator: torch.Generator | None = None,
    clip: tuple[float, float] | None = None,
    reporter: Reporter = NULL_REPORTER,
    preview: Callable[[torch.Tensor], object] | None = None,
    preview_every: int = 0,
    eta: float | None = None,
) -> torch.Tensor:
    """Run the reverse chain from state ``states[0]`` (default: the top, x = x_{t_n}) to x_0.
    ``eta``: as in :meth:`Chain.step` (None: ancestral steps; a number: DDIM steps)."""
    states = states or list(range(len(chain), -1, -1))
    noise = make_noise(tuple(x.shape), generator, x.device)
    total, done = network_calls(states), 0
    for a, b in itertools.pairwise(states):
        if b < a:  # reverse step x_{t_a} -> x_{t_b}
            x0_fn = None if condition is None else (lambda x0, b=b: condition.project_x0(x0, b, chain))
            step = chain.step(x, b, clip=clip, x0_fn=x0_fn, eta=eta)
            if condition is not None:
                step = condition.combine(step, b, chain)
            x = step.mean if b == 0 else step.mean + step.noise(noise())
            done += 1
            if condition is not None:
                x = condition.after(x, b, chain, noise)
            show = preview is not None and preview_every and (done % preview_every == 0 or done == total)
            reporter.step(done, total, preview=preview(step.pred_x0) if show else None)
        else:  # forward re-noising x_{t_a} -> x_{t_b}, b = a + 1
            beta = float(chain.terms.betas[a])
            x = (1 - beta) ** 0.5 * x + beta**0.5 * noise()
    return x


def sample(
    diffusion: GaussianDiffusion,
    shape: tuple[int, ...],
    *,
    steps: int | None = None,
    seed: int | None = None,
    device: torch.device | str = "cpu",
    clip: tuple[float, float] | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> torch.Tensor:
    """Ancestral samples from the prior: all T steps, or ``steps`` evenly respaced ones. Seeded."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    timesteps = spaced_timesteps(diffusion.T, steps or diffusion.T)
    chain = Chain(diffusion, timesteps)
    x = torch.randn(shape, generator=generator).to(device)
    return run_chain(chain, x, generator=generator, clip=clip, reporter=reporter)

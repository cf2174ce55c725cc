"""How far is a Swiss-roll model from the best Gaussian reverse process with its own betas?

For the Swiss roll the true reverse kernel q(x_{t-1} | x_t) is known in closed form: the roll is a
mixture of Gaussians along its curve, so q(x_0 | x_t) and hence q(x_{t-1} | x_t) are mixtures too.
The best Gaussian p(x_{t-1} | x_t) under the bound matches its mean and covariance, and its KL term
is then 0.5 (log det S(x_t) - 2 log post_var_t), S being the matched covariance. This prints, per t,
the model's KL term beside that of the best diagonal and the best full-covariance Gaussian, and the
three bounds K. It showed that the diagonal model sat on the diagonal optimum (so the network was
not the limit) and that a full 2x2 covariance raises the ceiling by 0.3 bits.

    python scripts/swissroll_best_gaussian.py models/swissroll-paper [points]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.datasets import SWISSROLL_NOISE, SwissRoll, swissroll_raw

CURVE_POINTS = 8000


def matched_log_dets(xt: np.ndarray, curve: np.ndarray, s2: float, ab: float, c0: float,
                     post_var: float) -> tuple[np.ndarray, np.ndarray]:
    """log det of the best diagonal and full Gaussians for q(x_{t-1} | x_t), per point of ``xt``."""
    vt = ab * s2 + (1 - ab)  # variance of x_t around one curve point
    r = s2 * (1 - ab) / vt  # variance of x_0 given x_t and that curve point
    gain = s2 * math.sqrt(ab) / vt
    d2 = ((xt[:, None, :] - math.sqrt(ab) * curve[None]) ** 2).sum(-1)
    lw = -d2 / (2 * vt)
    w = np.exp(lw - lw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    mk = curve[None] + gain * (xt[:, None, :] - math.sqrt(ab) * curve[None])  # E[x_0 | x_t, point]
    mean = (w[..., None] * mk).sum(1)
    cov = np.einsum("ng,ngi,ngj->nij", w, mk, mk) - np.einsum("ni,nj->nij", mean, mean)
    S = c0**2 * (cov + r * np.eye(2)) + post_var * np.eye(2)
    return np.log(S[:, 0, 0]) + np.log(S[:, 1, 1]), np.log(np.linalg.det(S))


@torch.no_grad()
def main(model: str, n: int = 2000, seed: int = 3) -> None:
    torch.set_num_threads(1)
    diffusion = load_checkpoint(Path(model)).diffusion.eval()
    terms = diffusion.terms()
    roll = SwissRoll()
    grid = 1.5 * np.pi * (1 + 2 * (np.arange(CURVE_POINTS) + 0.5) / CURVE_POINTS)
    curve = roll.transform(np.stack([grid * np.cos(grid), grid * np.sin(grid)], axis=1))
    s2 = (SWISSROLL_NOISE * roll.scale) ** 2
    rng = np.random.default_rng(seed)
    x0 = roll.transform(swissroll_raw(n, rng))
    x0_t = torch.from_numpy(x0.astype(np.float32)).view(n, 2, 1, 1)
    gen = torch.Generator().manual_seed(seed)
    sums = np.zeros(3)
    print(" t   model  best diagonal  best full   (KL terms, bits per point)")
    for t in range(2, diffusion.T + 1):
        ab, pv = float(terms.alphas_bar[t - 1]), float(terms.post_var[t - 1])
        xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * rng.standard_normal(x0.shape)
        diag, full = np.zeros(n), np.zeros(n)
        for chunk in np.array_split(np.arange(n), max(1, n // 250)):
            diag[chunk], full[chunk] = matched_log_dets(xt[chunk], curve, s2, ab, float(terms.post_c0[t - 1]), pv)
        noise = torch.randn(x0_t.shape, generator=gen)
        ours = float(diffusion.kl_term(x0_t, torch.full((n,), t, dtype=torch.long), noise, terms).mean()) * 2
        best = [0.5 * float((diag - 2 * math.log(pv)).mean()), 0.5 * float((full - 2 * math.log(pv)).mean())]
        sums += [ours, *best]
        print(f"{t:2d}  {ours / math.log(2):6.3f}  {best[0] / math.log(2):12.3f}  {best[1] / math.log(2):9.3f}")
    const = float(diffusion.bound_constants(x0_t, terms).mean()) * 2
    k = (const - sums) / math.log(2)
    print(f"K (bits per point, {n} points): model {k[0]:.3f}, best diagonal Gaussian {k[1]:.3f}, "
          f"best full-covariance Gaussian {k[2]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000)

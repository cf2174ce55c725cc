"""The paper's Figure 1 for our Swiss-roll model: the forward trajectory (top) destroys the roll into
a Gaussian; the learned reverse trajectory (bottom) rebuilds it.

    python scripts/swissroll_figure.py models/swissroll-paper docs/swissroll.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.datasets import SwissRoll
from dpm_desktop.core.diffusion import Chain
from dpm_desktop.core.plots import scatter_png
from dpm_desktop.core.sampling import make_noise


@torch.no_grad()
def main(model: str, out: str, n: int = 3000, seed: int = 0) -> None:
    ckpt = load_checkpoint(Path(model))
    diff = ckpt.diffusion
    T = diff.T
    shown = [0, T // 2, T]
    gen = torch.Generator().manual_seed(seed)
    x0 = SwissRoll(seed=seed + 1).sample(n)
    terms = diff.terms()
    forward = []
    for t in shown:
        ab = 1.0 if t == 0 else float(terms.alphas_bar[t - 1])
        forward.append((ab**0.5 * x0 + (1 - ab) ** 0.5 * torch.randn(x0.shape, generator=gen)).view(n, 2).numpy())
    chain = Chain(diff, list(range(1, T + 1)))
    x = torch.randn(x0.shape, generator=gen)
    noise = make_noise(tuple(x.shape), gen, x.device)
    reverse = {T: x.view(n, 2).numpy().copy()}
    for i in range(T - 1, -1, -1):  # state i+1 -> i
        step = chain.step(x, i)
        x = step.mean if i == 0 else step.mean + step.noise(noise())
        if i in shown:
            reverse[i] = x.view(n, 2).numpy().copy()
    rows = [(forward, "forward q: t = 0, T/2, T"), ([reverse[t] for t in shown], "reverse p: t = 0, T/2, T")]
    tmp = []
    for k, (pts, title) in enumerate(rows):
        path = Path(out).with_suffix(f".row{k}.png")
        scatter_png(path, *pts, title=title, size=260, colours=((31, 119, 180),),
                    labels=tuple(f"t = {t}" for t in shown))
        tmp.append(path)
    from PIL import Image

    imgs = [Image.open(p) for p in tmp]
    canvas = Image.new("RGB", (max(i.width for i in imgs), sum(i.height for i in imgs)), "white")
    y = 0
    for im in imgs:
        canvas.paste(im, (0, y))
        y += im.height
    canvas.save(out)
    for p in tmp:
        p.unlink()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The paper's bark-inpainting figure (Sohl-Dickstein et al. 2015, Fig. 4) with our texture model:
(a) bark, (b) its central region replaced by isotropic Gaussian
noise, (c) the region filled by the diffusion model (the paper's multiplication of the reverse
process by a delta on the known pixels, over the full-resolution chain), beside RePaint-style
clamping and the classical biharmonic fill for comparison.

    python scripts/bark_figure.py models/texture-bark "data/bark/b_rows200-360.png" docs/bark-inpainting.png

gimp-data has a single bark texture, a seamless tile of 164 x 180 px that the textures dataset
repeats 2 x 2; data/bark/ cuts that image into rows 0-200 (training) and 200-360 (validation) as
models/texture-bark/README.md shows. Since the tile repeats, the validation rows show the same bark
as the training rows: this figure shows the model synthesising bark consistent with its context,
as the paper's figure does, not generalisation to bark it has never seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dpm_desktop.core.imaging import load_image, to_gray
from dpm_desktop.core.restore import inpaint


def main(model: str, image: str, out: str, size: int = 160, hole: int = 64, seed: int = 0) -> None:
    img = to_gray(load_image(Path(image)).pixels)[:size, :size]
    mask = np.zeros((size, size), bool)
    lo = (size - hole) // 2
    mask[lo:lo + hole, lo:lo + hole] = True
    rng = np.random.default_rng(seed)
    noised = img.copy()
    noised[mask] = np.clip(img.mean() + img.std() * rng.standard_normal((mask.sum(), 1)), 0, 1)
    panels = [("(a) bark", img), ("(b) centre replaced by noise", noised)]
    for label, clamp in (("(c) paper: delta on known pixels", "paper"), ("RePaint clamping", "repaint")):
        res = inpaint(img, mask, model=model, steps=100, clamp=clamp, seed=seed, device="cpu", coarse_levels=0)
        hole_psnr = 10 * np.log10(1 / np.mean((res.pixels[mask] - img[mask]) ** 2))
        print(f"{label}: PSNR in the hole {hole_psnr:.2f} dB")
        panels.append((label, res.pixels))
    try:
        from skimage.restoration import inpaint_biharmonic

        panels.append(("biharmonic (classical)", inpaint_biharmonic(img[:, :, 0], mask)[:, :, None]))
    except ImportError:
        pass
    scale, pad, top = 2, 6, 22
    w = len(panels) * (size * scale + pad) + pad
    canvas = Image.new("RGB", (w, size * scale + top + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (label, px) in enumerate(panels):
        tile = Image.fromarray((np.clip(px[:, :, 0], 0, 1) * 255 + 0.5).astype(np.uint8), "L")
        x = pad + k * (size * scale + pad)
        canvas.paste(tile.resize((size * scale, size * scale), Image.Resampling.NEAREST), (x, top))
        draw.text((x, 5), label, fill=(0, 0, 0))
    canvas.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])

"""Draw the application icon, ``resources/icon.png`` (512 px) and ``resources/icon-256.png``.

A photo (sky, sun, two hills) on a rounded tile; its upper-left half is still grainy, a diagonal
wipe shows the clean lower-right half: restoration by diffusion in one picture. Drawn at 4x and
downsampled, so edges are smooth. Run once when the design changes: ``python build/make_icon.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SS = 4  # supersampling
SIZE = 512
RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _vertical_gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0, 1, h)[:, None, None]
    rgb = (1 - t) * np.array(top) + t * np.array(bottom)
    return Image.fromarray(np.broadcast_to(rgb, (h, w, 3)).astype(np.uint8), "RGB")


def _rounded_mask(w: int, h: int, radius: int, inset: int = 0) -> Image.Image:
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).rounded_rectangle((inset, inset, w - 1 - inset, h - 1 - inset), radius, fill=255)
    return m


def draw_icon() -> Image.Image:
    n = SIZE * SS
    icon = Image.new("RGBA", (n, n), (0, 0, 0, 0))

    # soft shadow under the tile
    shadow = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rounded_rectangle((40 * SS, 52 * SS, n - 40 * SS, n - 28 * SS), 96 * SS, fill=(0, 0, 0, 110))
    icon.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(12 * SS)))

    # the tile: dark slate, like the app's theme
    tile_box = (32 * SS, 32 * SS, n - 32 * SS, n - 40 * SS)
    tw, th = tile_box[2] - tile_box[0], tile_box[3] - tile_box[1]
    tile = _vertical_gradient(tw, th, (52, 60, 76), (30, 35, 46)).convert("RGBA")
    tile.putalpha(_rounded_mask(tw, th, 96 * SS))
    icon.alpha_composite(tile, tile_box[:2])

    # the photo inside the tile
    pad = 44 * SS
    pw, ph = tw - 2 * pad, th - 2 * pad
    photo = _vertical_gradient(pw, ph, (90, 169, 255), (196, 226, 255))
    d = ImageDraw.Draw(photo)
    d.ellipse((int(pw * 0.62), int(ph * 0.14), int(pw * 0.84), int(ph * 0.14) + int(pw * 0.22)), fill=(255, 214, 102))
    d.polygon([(0, ph * 0.78), (pw * 0.30, ph * 0.42), (pw * 0.62, ph * 0.80), (0, ph)], fill=(61, 126, 104))
    d.polygon([(pw * 0.25, ph), (pw * 0.66, ph * 0.50), (pw, ph * 0.72), (pw, ph)], fill=(40, 98, 84))
    d.rectangle((0, ph * 0.86, pw, ph), fill=(33, 82, 72))

    # grain on the upper-left side of the diagonal wipe
    rng = np.random.default_rng(2015)
    cell = 10 * SS
    arr = np.asarray(photo, np.float32)
    gh, gw = ph // cell + 1, pw // cell + 1
    grain = rng.normal(0, 42, (gh, gw, 1)).repeat(cell, 0).repeat(cell, 1)[:ph, :pw]
    yy, xx = np.mgrid[0:ph, 0:pw]
    noisy_side = (xx / pw + yy / ph) < 1.0
    arr = np.where(noisy_side[..., None], np.clip(arr + grain, 0, 255), arr)
    photo = Image.fromarray(arr.astype(np.uint8), "RGB").convert("RGBA")
    photo.putalpha(_rounded_mask(pw, ph, 40 * SS))
    icon.alpha_composite(photo, (tile_box[0] + pad, tile_box[1] + pad))

    # the wipe: a bright diagonal line with a spark where it meets the photo's centre
    ox, oy = tile_box[0] + pad, tile_box[1] + pad
    line = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    ld = ImageDraw.Draw(line)
    ld.line([(ox + pw, oy), (ox, oy + ph)], fill=(255, 255, 255, 235), width=7 * SS)
    cx, cy = ox + pw / 2, oy + ph / 2
    r_long, r_short = 58 * SS, 14 * SS
    ld.polygon([(cx, cy - r_long), (cx + r_short, cy - r_short), (cx + r_long, cy), (cx + r_short, cy + r_short),
                (cx, cy + r_long), (cx - r_short, cy + r_short), (cx - r_long, cy), (cx - r_short, cy - r_short)],
               fill=(255, 255, 255, 255))
    clip = Image.new("L", (n, n), 0)
    clip.paste(_rounded_mask(pw, ph, 40 * SS), (ox, oy))
    clip.paste(255, (int(cx - r_long), int(cy - r_long), int(cx + r_long), int(cy + r_long)))
    line.putalpha(Image.fromarray(np.minimum(np.asarray(line.getchannel("A")), np.asarray(clip))))
    icon.alpha_composite(line)
    return icon.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def main() -> None:
    icon = draw_icon()
    icon.save(RESOURCES / "icon.png", optimize=True)
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(RESOURCES / "icon-256.png", optimize=True)


if __name__ == "__main__":
    main()

"""CBM3D as a whole process, file in and file out, so that the speed part can time it the way it
times ``dpm denoise`` (imports and image IO included):

    python -m benchmarks.cbm3d_file NOISY.png OUT.png --sigma 25
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from .baselines import cbm3d
from .images import save_png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cbm3d_file")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--sigma", type=float, required=True, help="noise std on the 0-255 scale")
    args = p.parse_args(argv)
    with Image.open(args.input) as im:
        px = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    save_png(cbm3d(px, args.sigma), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

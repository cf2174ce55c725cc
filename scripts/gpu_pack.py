"""The campaign's training photos made small enough to travel to a GPU machine (issue 12 §3): the
device tool sends the working tree (about 56 MiB tracked, the photo models stored as bf16) plus
carried paths within 64 MiB, so data/photos goes as data/gpu-photos: each photo at most --side px on
its longer side, JPEG quality 92. Since the folder grew to 179 files (Dec 7) only --side 448 fitted
(7.6 MiB; 9.6 at 512, 16.7 at 1024), and since campaign/defects-wide (1.3 MiB) only 416 (6.7 MiB).
The script prints the tree and the pack against that limit.
The benchmark photos are not among them (dpm dataset keeps them out).

    python scripts/gpu_pack.py [--src data/photos] [--out data/gpu-photos] [--side 416]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from PIL import Image


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", type=Path, default=Path("data/photos"))
    p.add_argument("--out", type=Path, default=Path("data/gpu-photos"))
    p.add_argument("--side", type=int, default=416)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for src in sorted(args.src.iterdir()):
        if src.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            if src.is_file():  # MANIFEST.json, COPYRIGHT.*: the sources travel with the photos
                shutil.copy2(src, args.out / src.name)
            continue
        with Image.open(src) as im:
            im = im.convert("RGB")
            im.thumbnail((args.side, args.side), Image.LANCZOS)
            dest = args.out / (src.stem + ".jpg")
            im.save(dest, quality=92)
        total += dest.stat().st_size
    print(f"{args.out}: {total / 2**20:.1f} MiB of photos")
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.split(b"\0")
    tree = sum(Path(f.decode()).stat().st_size for f in tracked if f and Path(f.decode()).is_file())
    verdict = "fits" if tree + total < 63 * 2**20 else "does NOT fit: pass a smaller --side"
    print(f"tracked tree {tree / 2**20:.1f} MiB + photos: {(tree + total) / 2**20:.1f} MiB of the 64 MiB "
          f"a call carries (leave ~1 MiB for .whl and the rest): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Part 2: inpainting scratches, text and 64x64 holes, ours beside OpenCV and scikit-image.

Every method gets the same photo with the masked pixels set to 0 and the same seeded mask, and is
scored by the PSNR inside the mask and the SSIM of the whole image. Times are per image (wall and
process CPU) after one untimed warm-up call of every method; the model is loaded before timing.

Ours, ``restore.inpaint``:
  fast          the default preset: a biharmonic first guess refined by a short chain (one network
                call on thin masks; about 50 coarse to fine on holes)
  best          the exhaustive preset: RePaint, 50 steps, jumps of 5 redone 5 times (230 network
                calls on thin masks, several hundred coarse to fine on holes)
  mean of 4     holes only: the mean of 4 fast candidates (an estimate of the posterior mean,
                which is what PSNR rewards; each candidate alone is a sharper, plausible fill)
  best, mean of 4
                scratches and text: the mean of 4 best candidates (`dpm inpaint --preset best
                --candidates 4 --mean`)

    python -m benchmarks.inpaint --model runs/photo-rgb --quick
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from . import baselines, metrics
from .common import (
    Report,
    Run,
    Table,
    add_common_args,
    describe_model,
    load_model,
    log,
    mean,
    model_line,
    start,
    timed,
)
from .figures import Panel, image_grid, show_mask
from .images import Photo, centre_crop, item_seed, photos_for
from .masks import MASKS

PART = "inpaint"
IMAGES = ("astronaut", "coffee", "chelsea", "rocket")
GRAY_IMAGES = ("camera", "astronaut", "coffee", "chelsea")
FAST = {"preset": "fast"}
REPAINT = {"preset": "best"}
CANDIDATES = 4

Inpainter = Callable[[np.ndarray, np.ndarray], np.ndarray]


def our_method(ckpt: Any, device: str, seed: int, *, candidates: int = 1, **kw: Any) -> Inpainter:
    from dpm_desktop.core.restore import inpaint, mean_of_candidates

    def run(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        res = inpaint(image, mask, candidates=candidates, seed=seed, model=ckpt, device=device, **kw)
        return mean_of_candidates(res) if candidates > 1 else res.pixels

    return run


def methods(ckpt: Any, device: str, seed: int, kind: str) -> dict[str, Inpainter]:
    out: dict[str, Inpainter] = dict(baselines.INPAINTERS)
    out["ours (fast)"] = our_method(ckpt, device, seed, **FAST)
    out["ours (best)"] = our_method(ckpt, device, seed, **REPAINT)
    if kind == "holes":
        out[f"ours (fast, mean of {CANDIDATES})"] = our_method(ckpt, device, seed, candidates=CANDIDATES, **FAST)
    else:
        out[f"ours (best, mean of {CANDIDATES})"] = our_method(ckpt, device, seed, candidates=CANDIDATES,
                                                              **REPAINT)
    return out


def warm_up(ms: dict[str, Inpainter], photo: Photo) -> None:
    small = centre_crop(photo.pixels, 32)
    mask = np.zeros(small.shape[:2], bool)
    mask[12:20, 12:20] = True
    for fn in ms.values():
        fn(np.where(mask[:, :, None], 0, small), mask)


def bench(run: Run, ckpt: Any, photos: list[Photo], report: Report) -> None:
    recs: list[dict[str, Any]] = []
    figure_rows: list[list[Panel]] = []
    all_methods = {**methods(ckpt, run.device, run.seed, "scratches"), **methods(ckpt, run.device, run.seed, "holes")}
    warm_up(all_methods, photos[0])
    for kind, make in MASKS.items():
        ms = methods(ckpt, run.device, run.seed, kind)
        for p in photos:
            mask = make(p.pixels.shape[:2], item_seed(run.seed, p.name, kind))
            given = np.where(mask[:, :, None], 0, p.pixels).astype(np.float32)
            outputs = {}
            for name, fn in ms.items():
                out, tm = timed(fn, given, mask)
                outputs[name] = out
                recs.append({"image": p.name, "mask": kind, "method": name,
                             "mask_percent": float(mask.mean() * 100),
                             "psnr_in_mask": metrics.psnr_in_mask(p.pixels, out, mask),
                             "ssim": metrics.ssim(p.pixels, out), "wall_s": tm.wall_s, "cpu_s": tm.cpu_s,
                             "unmasked_pixels_kept": bool(np.array_equal(out[~mask], p.pixels[~mask]))})
            log(PART, f"{kind} {p.name}: " + ", ".join(
                f"{r['method']} {r['psnr_in_mask']:.2f} dB {r['wall_s']:.1f} s" for r in recs
                if r["image"] == p.name and r["mask"] == kind))
            if p is photos[0]:
                panels: list[Panel] = [(outputs[n], f"{n}\n{_psnr(recs, p.name, kind, n):.2f} dB")
                                       if n in outputs else None for n in all_methods]
                figure_rows.append([(show_mask(p.pixels, mask), "input + mask"), *panels,
                                    (p.pixels, "ground truth")])
    report.records += recs
    _tables(recs, photos, report)
    name = "bench-inpaint-quick.png" if run.quick else "bench-inpaint.png"
    report.figures.append(image_grid(figure_rows, run.figures / name, row_labels=list(MASKS),
                                     title=f"{photos[0].name}: inpainting (PSNR inside the mask)"))


def _psnr(recs: list[dict[str, Any]], image: str, kind: str, method: str) -> float:
    return next(r["psnr_in_mask"] for r in recs
                if r["image"] == image and r["mask"] == kind and r["method"] == method)


def _tables(recs: list[dict[str, Any]], photos: list[Photo], report: Report) -> None:
    kinds = list(MASKS)
    names = list(dict.fromkeys(r["method"] for r in recs))
    t = Table(f"Mean over {len(photos)} photos: PSNR inside the mask (dB) / SSIM of the whole image",
              ["method", *kinds, "wall s/image", "CPU s/image"])
    for n in names:
        cells = []
        for k in kinds:
            rs = [r for r in recs if r["method"] == n and r["mask"] == k]
            cells.append(f"{mean([r['psnr_in_mask'] for r in rs]):.2f} / {mean([r['ssim'] for r in rs]):.3f}"
                         if rs else None)
        rs = [r for r in recs if r["method"] == n]
        t.add(n, *cells, mean([r["wall_s"] for r in rs]), mean([r["cpu_s"] for r in rs]))
    cover = ", ".join(f"{k} {mean([r['mask_percent'] for r in recs if r['mask'] == k]):.1f}%" for k in kinds)
    kept = all(r["unmasked_pixels_kept"] for r in recs if r["method"].startswith("ours"))
    t.note = (f"Share of pixels masked: {cover}. Times are means over all mask kinds the method ran on. "
              f"Ours kept every unmasked pixel exactly: {'yes' if kept else 'NO'}.")
    report.tables.append(t)
    for k in kinds:
        ms = [n for n in names if any(r["method"] == n and r["mask"] == k for r in recs)]
        pt = Table(f"Per photo, {k}: PSNR inside the mask (dB)", ["photo", *ms])
        for p in photos:
            pt.add(p.name, *(_psnr(recs, p.name, k, n) for n in ms))
        report.tables.append(pt)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.inpaint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--images", nargs="+", help=f"benchmark photos to use (default: {', '.join(IMAGES)})")
    p.add_argument("--size", type=int, help="centre crop size in pixels (default 256; 128 with --quick)")
    args = p.parse_args(argv)
    run = start(args)
    ckpt = load_model(args.model, run.device)
    info = describe_model(ckpt)
    default = list(GRAY_IMAGES if ckpt.channels == 1 else IMAGES)
    photos, notes = photos_for(ckpt.channels, args.images or (default[:2] if run.quick else default))
    size = args.size or (128 if run.quick else 256)
    photos = [Photo(p.name, centre_crop(p.pixels, size), p.source) for p in photos]
    report = Report(PART, "Inpainting (scratches, text, 64x64 holes)", run)
    report.header += [model_line(info),
                      f"Photos: {', '.join(p.name for p in photos)}, centre crops of {size}x{size} pixels "
                      "(crops keep the diffusion chains affordable on a CPU).",
                      f"Ours: the fast and best presets of dpm_desktop.core.inpaint, clamp repaint, seed {run.seed}.",
                      "Masks: seeded per photo and kind; masked pixels are zeroed in every method's input.",
                      *notes]
    report.models.append(info)
    bench(run, ckpt, photos, report)
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

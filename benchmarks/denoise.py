"""Part 1: denoising photos with Gaussian noise, ours beside CBM3D, non-local means and wavelets.

Every method denoises the same seeded noisy array (see :func:`images.add_noise`) and is scored
against the clean photo with PSNR and SSIM after its output is clipped to [0, 1]. Times are per
image, wall-clock and process CPU, after one untimed warm-up call of every method (library
loading, torch's first-call set-up); the model is loaded before timing (``speed`` measures the
whole process instead).

Two tables of methods, each run on identical inputs:
  full images    ours ``mean`` at the true sigma, with an 8-fold flip/rotation ensemble, and at
                 ``sigma="auto"``; CBM3D, NL-means, wavelet
  crops          128 x 128 centre crops of a subset (the slow modes): ours mean, ``sample`` and
                 ``paper`` (4 samples each, the engine's default steps), CBM3D, NL-means, wavelet
Also: the noise estimator against the true sigma, and how well the spread of posterior samples
predicts the absolute error (per-pixel correlation).

    python -m benchmarks.denoise --model runs/photo-rgb --quick
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
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
from .figures import image_grid
from .images import Photo, add_noise, centre_crop, disjointness_note, item_seed, photos_for

PART = "denoise"
SIGMAS = (15.0, 25.0, 50.0)
SAMPLING_IMAGES = ("astronaut", "coffee", "chelsea", "retina", "camera")  # the subset for the slow modes
SAMPLES = 4  # posterior samples averaged in the sample and paper modes (>= 4 for the uncertainty check)
ENSEMBLE = 8  # flips / rotations averaged in the ensemble row
FIGURE_SIGMA = 25.0
NOISY = "(noisy input)"
ENSEMBLED = f"ours (mean, ensemble {ENSEMBLE})"

# f(noisy, true sigma) -> (output, extra facts such as the sigma used or the uncertainty map)
Denoiser = Callable[[np.ndarray, float], tuple[np.ndarray, dict[str, Any]]]


@dataclass
class Outcome:
    output: np.ndarray
    wall_s: float
    cpu_s: float
    extra: dict[str, Any]


def our_method(ckpt: Any, device: str, seed: int, *, auto: bool = False, **kw: Any) -> Denoiser:
    """``restore.denoise`` at the true sigma, or at ``sigma="auto"`` (estimated from the noisy photo)."""
    from dpm_desktop.core.restore import denoise

    def run(noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, dict[str, Any]]:
        res = denoise(noisy, sigma="auto" if auto else sigma, seed=seed, model=ckpt, device=device, **kw)
        return res.pixels, {"sigma_used": res.params["sigma"], "steps": res.params["steps"],
                            "uncertainty": res.uncertainty}

    return run


def baseline(fn: Callable[[np.ndarray, float], np.ndarray]) -> Denoiser:
    return lambda noisy, sigma: (fn(noisy, sigma), {})


def methods(ckpt: Any, device: str, seed: int, *, slow: bool) -> dict[str, Denoiser]:
    """The methods of one table; ``slow`` swaps the ensemble and auto-sigma rows for the sampling modes."""
    out = {"ours (mean)": our_method(ckpt, device, seed, mode="mean")}
    if slow:
        out["ours (sample)"] = our_method(ckpt, device, seed, mode="sample", samples=SAMPLES)
        out["ours (paper)"] = our_method(ckpt, device, seed, mode="paper", samples=SAMPLES)
    else:
        out[ENSEMBLED] = our_method(ckpt, device, seed, mode="mean", ensemble=ENSEMBLE)
        out["ours (auto sigma)"] = our_method(ckpt, device, seed, mode="mean", auto=True)
    out.update({name: baseline(fn) for name, fn in baselines.DENOISERS.items()})
    return out


def run_methods(ms: dict[str, Denoiser], noisy: np.ndarray, sigma: float) -> dict[str, Outcome]:
    results = {}
    for name, fn in ms.items():
        (output, extra), tm = timed(fn, noisy, sigma)
        results[name] = Outcome(output, tm.wall_s, tm.cpu_s, extra)
    return results


def warm_up(ms: dict[str, Denoiser], photo: Photo) -> None:
    small = add_noise(centre_crop(photo.pixels, 48), 25.0, np.random.default_rng(0))
    for fn in ms.values():
        fn(small, 25.0)


def cell(psnr: float, ssim: float) -> str:
    return f"{psnr:.2f} / {ssim:.3f}"


def summary_row(recs: list[dict[str, Any]], method: str, sigmas: tuple[float, ...]) -> list[Any]:
    """method, mean PSNR / SSIM per sigma, mean wall and CPU seconds per image (None where untimed)."""
    rs = [r for r in recs if r["method"] == method]
    by_sigma = [[r for r in rs if r["sigma"] == s] for s in sigmas]
    times = [mean([r[k] for r in rs]) if "wall_s" in rs[0] else None for k in ("wall_s", "cpu_s")]
    scores = [cell(mean([r["psnr"] for r in b]), mean([r["ssim"] for r in b])) for b in by_sigma]
    return [method, *scores, *times]


# ----------------------------------------------------------------------------------------------
def bench_full(run: Run, ckpt: Any, photos: list[Photo], sigmas: tuple[float, ...], report: Report) -> None:
    from dpm_desktop.core.restore import estimate_sigma

    ms = methods(ckpt, run.device, run.seed, slow=False)
    warm_up(ms, photos[0])
    names = list(ms)
    recs: list[dict[str, Any]] = []
    figure: list[tuple[str, np.ndarray]] = []
    for sigma in sigmas:
        for p in photos:
            noisy = add_noise(p.pixels, sigma, item_seed(run.seed, p.name, sigma))
            res = run_methods(ms, noisy, sigma)
            for name, o in res.items():
                rec = {"table": "full", "image": p.name, "size": f"{p.pixels.shape[1]}x{p.pixels.shape[0]}",
                       "sigma": sigma, "method": name, "psnr": metrics.psnr(p.pixels, o.output),
                       "ssim": metrics.ssim(p.pixels, o.output), "wall_s": o.wall_s, "cpu_s": o.cpu_s}
                if name == "ours (auto sigma)":
                    rec["sigma_estimated"] = o.extra["sigma_used"]
                recs.append(rec)
            recs.append({"table": "estimator", "image": p.name, "sigma": sigma,
                         "estimate": estimate_sigma(noisy)})
            recs.append({"table": "input", "image": p.name, "sigma": sigma, "method": NOISY,
                         "psnr": metrics.psnr(p.pixels, noisy), "ssim": metrics.ssim(p.pixels, noisy)})
            log(PART, f"sigma {sigma:g} {p.name}: " + ", ".join(
                f"{r['method']} {r['psnr']:.2f} dB {r['wall_s']:.1f} s" for r in recs
                if r.get("image") == p.name and r.get("sigma") == sigma and r["table"] == "full"))
            if sigma == FIGURE_SIGMA and p is photos[0]:
                shown = [n for n in names if n != "ours (auto sigma)"]
                figure = [("noisy", noisy), *((n, res[n].output) for n in shown), ("clean", p.pixels)]
    for p in photos:
        recs.append({"table": "estimator", "image": p.name, "sigma": 0.0,
                     "estimate": estimate_sigma(p.pixels)})
    report.records += recs
    full = [r for r in recs if r["table"] == "full"]

    t = Table(f"Mean over {len(photos)} photos, PSNR (dB) / SSIM", ["method", *(f"σ={s:g}" for s in sigmas),
                                                                    "wall s/image", "CPU s/image"])
    t.add(*summary_row([r for r in recs if r["table"] == "input"], NOISY, sigmas))
    for name in names:
        t.add(*summary_row(full, name, sigmas))
    def share(method: str) -> str:
        walls = {m: mean([r["wall_s"] for r in full if r["method"] == m]) for m in (method, "CBM3D")}
        return f"{method} {walls[method] / walls['CBM3D']:.3f}"

    t.note = (f"Wall time per image as a share of CBM3D's: {share('ours (mean)')}, {share(ENSEMBLED)}. "
              "Times exclude model loading (the speed part times whole processes).")
    report.tables.append(t)

    for s in sigmas:
        pt = Table(f"Per photo, σ={s:g}: PSNR (dB) / SSIM", ["photo", "size", *names])
        for p in photos:
            rs = {r["method"]: r for r in full if r["image"] == p.name and r["sigma"] == s}
            pt.add(p.name, rs[names[0]]["size"], *(cell(rs[n]["psnr"], rs[n]["ssim"]) for n in names))
        report.tables.append(pt)

    tt = Table("Per photo wall time (s), mean over the noise levels", ["photo", "size", *names])
    for p in photos:
        rs = [r for r in full if r["image"] == p.name]
        tt.add(p.name, rs[0]["size"], *(mean([r["wall_s"] for r in rs if r["method"] == n]) for n in names))
    report.tables.append(tt)

    gap = Table("Ours minus CBM3D, per noise level", ["method", "σ", "mean PSNR gap (dB)", "worst photo",
                                                       "worst PSNR gap (dB)", "worst SSIM gap"])
    for method in ("ours (mean)", ENSEMBLED):
        for s in sigmas:
            d = {p.name: _diff(full, p.name, s, method, "CBM3D") for p in photos}
            worst = min(d, key=lambda n: d[n][0])
            gap.add(method, f"{s:g}", mean([v[0] for v in d.values()]), worst, d[worst][0],
                    min(v[1] for v in d.values()))
    gap.note = ("Positive = ours ahead. The worst photo is the one where ours is furthest behind (or least "
                "ahead).")
    report.tables.append(gap)

    est = [r for r in recs if r["table"] == "estimator"]
    et = Table("Noise estimator (`estimate_sigma`) against the true σ",
               ["true σ", "mean estimate", "mean abs. error", "largest abs. error (photo)"])
    for s in (0.0, *sigmas):
        rs = [r for r in est if r["sigma"] == s]
        worst = max(rs, key=lambda r: abs(r["estimate"] - s))
        et.add(f"{s:g}" + (" (clean photo)" if s == 0 else ""), mean([r["estimate"] for r in rs]),
               mean([abs(r["estimate"] - s) for r in rs]),
               f"{abs(worst['estimate'] - s):.2f} ({worst['image']})")
    et.note = "On the 0-255 scale; `sigma=\"auto\"` uses this estimate (its PSNR is in the first table)."
    report.tables.append(et)

    if figure:
        p0 = photos[0].pixels
        zoom = _zoom_box(p0.shape[:2], 192)
        panels = [(img[zoom], _caption(name, p0[zoom], img[zoom]))
                  for name, img in figure]
        path = report.run.figures / ("bench-denoise-quick.png" if report.run.quick else "bench-denoise.png")
        report.figures.append(image_grid([panels], path, title=f"{photos[0].name}, σ={FIGURE_SIGMA:g} "
                                         "(192 px detail; PSNR of the detail)"))


def _diff(recs: list[dict[str, Any]], image: str, sigma: float, a: str, b: str) -> tuple[float, float]:
    ra = next(r for r in recs if r["image"] == image and r["sigma"] == sigma and r["method"] == a)
    rb = next(r for r in recs if r["image"] == image and r["sigma"] == sigma and r["method"] == b)
    return ra["psnr"] - rb["psnr"], ra["ssim"] - rb["ssim"]


def _caption(name: str, clean: np.ndarray, img: np.ndarray) -> str:
    return name if name == "clean" else f"{name}\n{metrics.psnr(clean, img):.2f} dB"


def _zoom_box(shape: tuple[int, int], size: int) -> tuple[slice, slice]:
    h, w = shape
    s = min(size, h, w)
    y, x = (h - s) // 3, (w - s) // 2
    return slice(y, y + s), slice(x, x + s)


# ----------------------------------------------------------------------------------------------
def bench_sampling(run: Run, ckpt: Any, photos: list[Photo], sigmas: tuple[float, ...], crop: int,
                   report: Report) -> None:
    ms = methods(ckpt, run.device, run.seed, slow=True)
    warm_up(ms, photos[0])
    names = list(ms)
    recs: list[dict[str, Any]] = []
    for sigma in sigmas:
        for p in photos:
            # The crop of the same noisy photo as in the full-size table: the noise is identical.
            noisy = centre_crop(add_noise(p.pixels, sigma, item_seed(run.seed, p.name, sigma)), crop)
            clean = centre_crop(p.pixels, crop)
            res = run_methods(ms, noisy, sigma)
            for name, o in res.items():
                recs.append({"table": "crops", "image": p.name, "sigma": sigma, "method": name,
                             "psnr": metrics.psnr(clean, o.output), "ssim": metrics.ssim(clean, o.output),
                             "wall_s": o.wall_s, "cpu_s": o.cpu_s})
            spread = res["ours (sample)"].extra["uncertainty"]
            err = np.abs(res["ours (sample)"].output - clean).mean(axis=2)
            pear, spear = metrics.correlations(spread, err)
            recs.append({"table": "uncertainty", "image": p.name, "sigma": sigma, "pearson": pear,
                         "spearman": spear, "mean_spread_255": float(spread.mean() * 255),
                         "mean_abs_error_255": float(err.mean() * 255)})
            log(PART, f"crops sigma {sigma:g} {p.name}: " + ", ".join(
                f"{r['method']} {r['psnr']:.2f} dB {r['wall_s']:.1f} s" for r in recs
                if r.get("image") == p.name and r.get("sigma") == sigma and r["table"] == "crops"))
    report.records += recs
    crops = [r for r in recs if r["table"] == "crops"]
    listed = ", ".join(p.name for p in photos)
    t = Table(f"Slow modes on {crop}x{crop} centre crops of {len(photos)} photos ({listed}): PSNR / SSIM",
              ["method", *(f"σ={s:g}" for s in sigmas), "wall s/crop", "CPU s/crop"])
    for name in names:
        t.add(*summary_row(crops, name, sigmas))
    sample_steps, paper_steps = (res[n].extra["steps"] for n in ("ours (sample)", "ours (paper)"))
    t.note = (f"sample: the mean of {SAMPLES} posterior samples, each a {sample_steps}-step reverse "
              f"chain from the noise level down; paper: the mean of {SAMPLES} samples of a "
              f"{paper_steps}-step chain from the matching noise level with the likelihood of the noisy photo "
              "multiplied into every step (the engine's default steps). Every method gets the same crops.")
    report.tables.append(t)

    unc = [r for r in recs if r["table"] == "uncertainty"]
    ut = Table(f"Uncertainty: per-pixel spread of {SAMPLES} samples against the absolute error (sample mode)",
               ["σ", "Pearson r", "Spearman ρ", "mean spread (0-255)", "mean abs. error (0-255)"])
    for s in sigmas:
        rs = [r for r in unc if r["sigma"] == s]
        ut.add(f"{s:g}", mean([r["pearson"] for r in rs]), mean([r["spearman"] for r in rs]),
               mean([r["mean_spread_255"] for r in rs]), mean([r["mean_abs_error_255"] for r in rs]))
    ut.note = "Correlation over each crop's pixels (spread averaged over channels); mean over crops."
    report.tables.append(ut)


# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.denoise", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--images", nargs="+", help="benchmark photos to use (default: all)")
    args = p.parse_args(argv)
    run = start(args)
    ckpt = load_model(args.model, run.device)
    info = describe_model(ckpt)
    photos, notes = photos_for(ckpt.channels, args.images)
    notes.append(disjointness_note(photos, info["training_data"]))
    sigmas = (25.0,) if run.quick else SIGMAS
    crop = 96 if run.quick else 128
    if run.quick:
        photos = [_crop_photo(p, 128) for p in photos]
    subset = [p for p in photos if p.name in SAMPLING_IMAGES][: 2 if run.quick else None] or photos[:2]
    report = Report(PART, "Denoising (Gaussian noise)", run)
    report.header += [model_line(info),
                      f"Photos: {', '.join(f'{p.name} ({p.source})' for p in photos)}." + (
                          " Quick run: 128x128 centre crops." if run.quick else ""),
                      "Noise: float Gaussian noise added to the float photo, seeded per photo and σ, then "
                      "clipped to [0, 1] (as a stored photo is, and as DPM Desktop clips its input); the "
                      "same array goes to every method. Outputs are clipped to [0, 1] before scoring.",
                      *notes]
    report.models.append(info)
    bench_full(run, ckpt, photos, sigmas, report)
    bench_sampling(run, ckpt, subset, sigmas, crop, report)
    report.write()
    return 0


def _crop_photo(p: Photo, size: int) -> Photo:
    return Photo(p.name, centre_crop(p.pixels, size), p.source)


if __name__ == "__main__":
    raise SystemExit(main())

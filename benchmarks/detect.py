"""Part 6: finding the damage (issue 17). Seeded damage of our own making (benchmarks/damage.py) on
the benchmark photos; the proposed masks scored against the truth with a 1 px tolerance (precision:
share of proposed pixels within 1 px of damage; recall: share of damaged pixels within 1 px of the
proposal), beside classical detectors on the same inputs and the naive use of our own denoiser;
false alarms on the undamaged photos; end to end, detect then inpaint, against the true mask.
Our three detectors: the learned one (models/defects-wide or --detector DIR, trained on
core/damage_synth.py's damage over data/photos), the photo model's likelihood residual, and the two
combined (the default); the default method (detect.DEFAULT_METHOD) is also measured by
sensitivity. A second table scores every detector on damage of a second held-out kind
(benchmarks/damage_dust.py: film dust and fibres, then JPEG), unlike both the training generator
and the first test generator.

    python -m benchmarks.detect [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from dpm_desktop.core.detect import DEFAULT_METHOD
from dpm_desktop.core.modes import DEFAULT_DETECTOR

from . import baselines, metrics
from .common import Report, Run, Table, add_common_args, describe_model, load_model, log, mean, model_line, start
from .common import timed as timed_call
from .damage import damage
from .damage_dust import film_dust
from .figures import Panel, image_grid
from .images import Photo, cropped_colour_photos, item_seed

PART = "detect"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "china")
SIZE = 512


def _robust(a: np.ndarray, k: float) -> np.ndarray:
    med = np.median(a)
    return a > med + k * 1.4826 * max(float(np.median(np.abs(a - med))), 1e-6)


def median_detector(y: np.ndarray, k: float = 6.0) -> np.ndarray:
    """|y - median 5x5| (max over channels) above k robust deviations."""
    from scipy.ndimage import median_filter

    r = np.abs(y - median_filter(y, size=(5, 5, 1))).max(axis=2)
    return _robust(r, k)


def tophat_detector(y: np.ndarray, k: float = 6.0) -> np.ndarray:
    """Bright and dark morphological top-hats (5x5), the larger of the two, above k robust deviations."""
    from scipy.ndimage import grey_closing, grey_opening

    g = y.mean(axis=2)
    r = np.maximum(g - grey_opening(g, size=(5, 5)), grey_closing(g, size=(5, 5)) - g)
    return _robust(r, k)


def naive_detector(ckpt: Any, device: str) -> Any:
    """|y - denoise(y, sigma=20)| (max over channels) above 6 robust deviations: our denoiser used naively."""
    from dpm_desktop.core.restore import denoise

    def run(y: np.ndarray) -> np.ndarray:
        d = denoise(y, sigma=20, model=ckpt, device=device, clip_correction=False).pixels
        return _robust(np.abs(y - d).max(axis=2), 6.0)

    return run


def ours_detector(ckpt: Any, device: str, method: str, sensitivity: float | None = None,
                  detector: Any = None) -> Any:
    from dpm_desktop.core.detect import DEFAULT_SENSITIVITY, detect

    def run(y: np.ndarray) -> np.ndarray:
        return detect(y, model=ckpt, device=device, method=method, detector=detector,
                      sensitivity=sensitivity or DEFAULT_SENSITIVITY).mask

    return run


def match_counts(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """The 1 px tolerance: (marked px within 1 px of the truth, marked px, true px within 1 px of a
    marked one, true px); summed over photos they give pooled precision and recall."""
    from dpm_desktop.core.masks import dilate

    return (int((pred & dilate(truth, 1)).sum()), int(pred.sum()), int((truth & dilate(pred, 1)).sum()),
            int(truth.sum()))


def scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    hit, marked, found, true = match_counts(pred, truth)
    p, r = hit / max(marked, 1), found / max(true, 1)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


LEARNED, LIKELIHOOD = "ours (learned)", "ours (likelihood)"
COMBINED = "ours (combined: learned + likelihood)"
SWEEP = (6.0, 4.0, 2.0)  # sensitivities of the default method's table (6: the default)
GRAIN = 15.0  # 0-255: the noise of the grainy photos' table
OURS = {"learned": LEARNED, "combined": COMBINED, "likelihood": LIKELIHOOD}  # detect.METHODS -> row label
# Each kind of damage drawn alone by the same generator: which of them the default method finds.
KINDS = {"scratches": {"specks": 0, "blotches": 0}, "dust specks": {"scratches": 0, "blotches": 0},
         "blotches": {"scratches": 0, "specks": 0}}


def methods(ckpt: Any, run: Run, detector: Any) -> dict[str, Any]:
    return {COMBINED: ours_detector(ckpt, run.device, "combined", detector=detector),
            LEARNED: ours_detector(ckpt, run.device, "learned", detector=detector),
            LIKELIHOOD: ours_detector(ckpt, run.device, "likelihood"),
            "naive residual (our denoiser)": naive_detector(ckpt, run.device),
            "median residual": median_detector, "top-hat": tophat_detector}


def bench(run: Run, ckpt: Any, detector: Any, photos: list[Photo], report: Report) -> None:
    from dpm_desktop.core.restore import inpaint

    ms = methods(ckpt, run, detector)
    recs: list[dict[str, Any]] = []
    dust: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    grainy: list[dict[str, Any]] = []
    by_kind: list[dict[str, Any]] = []
    rows: list[list[Panel]] = []

    def fill(damaged: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return inpaint(damaged, mask, model=ckpt, device=run.device, seed=run.seed).pixels if mask.any() else damaged

    for p in photos:
        damaged, truth = damage(p.pixels, item_seed(run.seed, p.name, "damage"))
        dusty, dust_truth = film_dust(p.pixels, item_seed(run.seed, p.name, "film dust"))
        masks = {}
        for name, fn in ms.items():
            pred, tm = timed_call(fn, damaged)
            masks[name] = pred
            pr, rc, f1 = scores(pred, truth)
            clean_pred = fn(p.pixels)  # the same detector on the undamaged photo: false alarms
            fa = float(clean_pred.sum() / (clean_pred.size / 1e6))
            recs.append({"image": p.name, "method": name, "precision": pr, "recall": rc, "f1": f1,
                         "false_per_mpx": fa, "wall_s": tm.wall_s, "cpu_s": tm.cpu_s,
                         "masked_percent": float(pred.mean() * 100)})
            dp, dr, df1 = scores(fn(dusty), dust_truth)
            dust.append({"image": p.name, "method": name, "precision": dp, "recall": dr, "f1": df1})
        log(PART, f"{p.name}: " + ", ".join(f"{r['method']} F1 {r['f1']:.2f}" for r in recs if r["image"] == p.name)
            + " | film dust: " + ", ".join(f"{r['method']} {r['f1']:.2f}" for r in dust if r["image"] == p.name))
        # The default method at lower sensitivities, from one map per photo: what a lower setting finds,
        # falsely marks on the undamaged photo, and gains end to end.
        from dpm_desktop.core.detect import anomaly_map, detect, map_for_display, mask_from_anomaly

        cmaps = {k: anomaly_map(y, model=ckpt, device=run.device, method=DEFAULT_METHOD, detector=detector) for k, y in
                 (("damaged", damaged), ("clean", p.pixels))}
        for sens in SWEEP:
            found, false = (mask_from_anomaly(cmaps[k][0], sens, params=cmaps[k][1]) for k in ("damaged", "clean"))
            restored = fill(p.pixels, false.mask)
            sweep.append({"image": p.name, "sensitivity": sens, "f1": scores(found.mask, truth)[2],
                          "false_per_mpx": float(false.mask.sum() / (false.mask.size / 1e6)),
                          "end_to_end_psnr": metrics.psnr(p.pixels, fill(damaged, found.mask)),
                          "clean_mse": float(np.mean((restored - p.pixels) ** 2))})
        for kind, only in KINDS.items():
            y, kind_truth = damage(p.pixels, item_seed(run.seed, p.name, "damage"), **only)
            kmap, kparams = anomaly_map(y, model=ckpt, device=run.device, method=DEFAULT_METHOD, detector=detector)
            for sens in SWEEP:
                found = mask_from_anomaly(kmap, sens, params=kparams).mask
                by_kind.append({"image": p.name, "kind": kind, "sensitivity": sens,
                                "recall": scores(found, kind_truth)[1]})
        # Grainy photos (film grain, sensor noise): the same damage under Gaussian noise of GRAIN (0-255),
        # examined by the default method as it is and denoised first (the default).
        rng = np.random.default_rng(item_seed(run.seed, p.name, "grain"))
        noise = rng.normal(0, GRAIN / 255, p.pixels.shape).astype(np.float32)
        grain_clean, grain_damaged = (np.clip(y + noise, 0, 1) for y in (p.pixels, damaged))
        for degrain in (True, False):
            found = detect(grain_damaged, model=ckpt, device=run.device, degrain=degrain, detector=detector).mask
            false = detect(grain_clean, model=ckpt, device=run.device, degrain=degrain, detector=detector).mask
            grainy.append({"image": p.name, "degrain": degrain, "f1": scores(found, truth)[2],
                           "false_per_mpx": float(false.sum() / (false.size / 1e6))})
        # End to end: detect, then inpaint (fast), beside the true mask and classical detect + biharmonic.
        ends = {"ours (combined): detect + inpaint": fill(damaged, masks[COMBINED]),
                "ours (learned): detect + inpaint": fill(damaged, masks[LEARNED]),
                "ours (likelihood): detect + inpaint": fill(damaged, masks[LIKELIHOOD]),
                "true mask + our inpainting": fill(damaged, truth),
                "median residual + biharmonic": baselines.biharmonic(damaged, masks["median residual"])
                if masks["median residual"].any() else damaged,
                "damaged, as given": damaged}
        for name, out in ends.items():
            recs.append({"image": p.name, "method": name, "end_to_end_psnr": metrics.psnr(p.pixels, out)})
        if len(rows) < 2:
            def gray(a: np.ndarray) -> np.ndarray:
                return np.repeat(a[:, :, None], 3, 2).astype(np.float32)

            c = map_for_display(mask_from_anomaly(cmaps["damaged"][0], params=cmaps["damaged"][1]))
            other = "combined" if DEFAULT_METHOD == "learned" else "learned"  # the figure's other mask
            rows.append([(damaged, f"{p.name}: damaged"), (gray(c), f"{DEFAULT_METHOD} map (to the cut)"),
                         (gray(masks[OURS[DEFAULT_METHOD]]), f"{DEFAULT_METHOD} mask (sensitivity 6)"),
                         (ends[f"ours ({DEFAULT_METHOD}): detect + inpaint"], f"restored ({DEFAULT_METHOD} mask)"),
                         (gray(masks[LIKELIHOOD]), "likelihood mask"),
                         (gray(masks[OURS[other]]), f"{other} mask"), (gray(truth), "true damage")])
    report.records += recs + [{**r, "generator": "film dust + JPEG"} for r in dust]
    t = Table("Mean over the photos: detection (1 px tolerance) and false alarms on the undamaged photos, "
              "at each detector's default setting",
              ["method", "precision", "recall", "F1", "false px / MP (clean photos)", "s / photo"])
    for name in ms:
        rs = [r for r in recs if r["method"] == name]
        t.add(name, mean([r["precision"] for r in rs]), mean([r["recall"] for r in rs]), mean([r["f1"] for r in rs]),
              mean([r["false_per_mpx"] for r in rs]), mean([r["wall_s"] for r in rs]))
    report.tables.append(t)
    d = Table("Second held-out generator (benchmarks/damage_dust.py: film dust grains and fibres, then JPEG "
              "quality 70-88): mean over the photos", ["method", "precision", "recall", "F1"])
    for name in ms:
        rs = [r for r in dust if r["method"] == name]
        d.add(name, mean([r["precision"] for r in rs]), mean([r["recall"] for r in rs]), mean([r["f1"] for r in rs]))
    report.tables.append(d)
    e = Table("End to end: PSNR of the restored photo against the undamaged one (dB)", ["pipeline", "PSNR"])
    for name in dict.fromkeys(r["method"] for r in recs if "end_to_end_psnr" in r):
        e.add(name, mean([r["end_to_end_psnr"] for r in recs if r["method"] == name and "end_to_end_psnr" in r]))
    report.tables.append(e)
    w = Table(f"The default method ({DEFAULT_METHOD}) by sensitivity: mean over the photos",
              ["sensitivity", "F1", "false px / MP (clean photos)", "end to end PSNR (dB)",
               "undamaged photo after detect + inpaint: PSNR (dB)"])
    for sens in SWEEP:
        rs = [r for r in sweep if r["sensitivity"] == sens]
        mse = max(mean([r["clean_mse"] for r in rs]), 1e-12)
        w.add(f"{sens:g}", mean([r["f1"] for r in rs]), mean([r["false_per_mpx"] for r in rs]),
              mean([r["end_to_end_psnr"] for r in rs]), 10 * np.log10(1 / mse))
    w.note = ("The last column restores the undamaged photo as if it were damaged: what the false alarms cost "
              "(PSNR of the mean squared change over the photos).")
    report.tables.append(w)
    report.records += [{**r, "test": "sensitivity_sweep"} for r in sweep]
    k = Table(f"The default method ({DEFAULT_METHOD}) by kind of damage, each kind drawn alone on the photos: "
              "recall (1 px tolerance), mean over the photos", ["damage", *(f"sensitivity {s:g}" for s in SWEEP)])
    for kind in KINDS:
        k.add(kind, *(mean([r["recall"] for r in by_kind if r["kind"] == kind and r["sensitivity"] == sens])
                      for sens in SWEEP))
    report.tables.append(k)
    report.records += [{**r, "test": "recall_by_kind"} for r in by_kind]
    g = Table(f"Grainy photos: the same damage under Gaussian noise of sigma {GRAIN:g}/255, the default method "
              f"({DEFAULT_METHOD}, sensitivity 6): mean over the photos",
              ["photo examined", "F1", "false px / MP (clean photos)"])
    for degrain, label in ((True, "denoised first (the default)"), (False, "as it is (degrain=False)")):
        rs = [r for r in grainy if r["degrain"] == degrain]
        g.add(label, mean([r["f1"] for r in rs]), mean([r["false_per_mpx"] for r in rs]))
    report.tables.append(g)
    report.records += [{**r, "test": "grainy"} for r in grainy]
    name = "bench-detect-quick.png" if run.quick else "bench-detect.png"
    report.figures.append(image_grid(rows, run.figures / name, title="Finding the damage"))


def large_scan(run: Run, report: Report, threads: int | None, detector: Path) -> None:
    """`dpm detect` (its default method) on a damaged 6000 x 4000 mosaic of the benchmark photos, in a
    child process: wall and CPU seconds, peak resident memory."""
    from PIL import Image

    from .common import WORK_DIR
    from .images import colour_photos
    from .speed import child_env, mosaic, run_child

    w, h = (2000, 1500) if run.quick else (6000, 4000)
    big, _ = damage(mosaic(colour_photos()[0], w, h), item_seed(run.seed, "mosaic", "damage"))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    src, dst = WORK_DIR / f"damaged-{w}x{h}.png", WORK_DIR / f"damaged-{w}x{h}-mask.png"
    Image.fromarray(np.round(big * 255).astype(np.uint8)).save(src)
    del big
    import sys

    cmd = [sys.executable, "-m", "dpm_desktop.cli", "detect", str(src), "-o", str(dst), "--overwrite", "-q",
           "--detector", str(detector)]
    log(PART, f"detecting on a {w}x{h} photo in a child process...")
    r = run_child(cmd, child_env(threads))
    log(PART, f"{w}x{h}: {r.wall_s:.0f} s wall, {r.cpu_s:.0f} s CPU, peak {r.max_rss_mib:.0f} MiB")
    t = Table(f"`dpm detect` ({DEFAULT_METHOD}, the default) on a damaged {w}x{h} ({w * h / 1e6:.0f} MP) PNG",
              ["wall s", "CPU s", "peak resident memory (MiB)"])
    t.add(r.wall_s, r.cpu_s, r.max_rss_mib)
    t.note = "The whole process: start-up, reading the PNG, the networks on their tiles, shaping and writing the mask."
    report.tables.append(t)
    report.records.append({"test": "large_scan", "method": DEFAULT_METHOD, "width": w, "height": h, **vars(r)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.detect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--skip-large", action="store_true", help="skip timing `dpm detect` on a 24 MP photo")
    p.add_argument("--detector", default=None,
                   help=f"detector name or folder (default: the bundled default, models/{DEFAULT_DETECTOR})")
    args = p.parse_args(argv)
    run = start(args)
    ckpt = load_model(args.model, run.device)
    info = describe_model(ckpt)
    photos, notes = cropped_colour_photos(PHOTOS, SIZE, run.quick)
    report = Report(PART, "Finding the damage: scratches, dust and blotches", run)
    from dpm_desktop.core.defect_net import get_detector

    det = get_detector(args.detector)
    tr = det.meta["training"]
    report.header += [model_line(info), f"Detector: {det.name} ({det.folder}; sha256 {det.meta['sha256'][:16]}...): "
                      f"{tr['parameters']:,} parameters, {tr['steps']} steps ({tr['crops']:,} crops of {tr['photos']} "
                      f"training photos, {tr['cpu_thread_hours']} CPU thread-hours), damage by {tr['generator']}.",
                      f"Photos: {', '.join(q.name for q in photos)} (centre crops of at most "
                      f"{SIZE} px), damaged by benchmarks/damage.py (seeded per photo).", *notes]
    report.models.append(info)
    bench(run, ckpt, det, photos, report)
    if not args.skip_large:
        large_scan(run, report, args.threads, det.folder)
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compare defect detectors on crops of their held-out photos, each at oracle cuts (issue 17; the
defects-medium card's "Tried and not kept" measured its ideas this way):

    .venv/bin/python scripts/detector_heldout.py models/defects-medium other/detector [--tta] [--crops 48]

Crops of the detectors' held-out photos (DetectorTrainConfig's split; photos no detector trained on,
never the benchmark photos) get the bench's two damage generators (benchmarks/damage.py, and
benchmarks/damage_dust.py's film dust and JPEG, the held-out one). Each detector is scored by the
combined score (its logit + beta ln of the photo model's likelihood anomaly, beta and sigma from its
combined calibration) and by its logit alone. For each score the cut is swept: false px / MP of the
shaped mask on the same crops undamaged, and F1 (1 px tolerance, pooled over the crops) on the damaged
ones. Printed: the best F1 whose false alarms stay within each budget, counted on the clean crops
and again on the damaged crops' pixels far from damage (what a user's damaged photo shows), and F1
at the detector's own calibrated default cut. --tta averages the logits over the 8 flips and turns of the photo;
--ensemble also scores the mean of the detectors' logits (no calibrated default: oracle cuts only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.damage import damage
from benchmarks.damage_dust import film_dust
from benchmarks.detect import match_counts
from dpm_desktop.core.defect_net import Detector, load_detector, logits, score_threshold
from dpm_desktop.core.detect import DEFAULT_SENSITIVITY, DEFAULT_SIGMA, anomaly_map, combined_score, shape_mask
from dpm_desktop.core.detector_train import DetectorTrainConfig, calibration_crops, calibration_set
from dpm_desktop.core.masks import dilate
from dpm_desktop.core.model_cache import get_model

BUDGETS = (100.0, 200.0, 500.0)  # false px / MP on the undamaged crops
CUTS_ABOVE = np.array([0.5, 1, 2, 4, 8, 16, 32])
FAR = 8  # px from damage beyond which a marked pixel of a damaged crop is false (scripts/detector_fa_damaged.py)


def dihedral_logits(det: Detector, img: np.ndarray) -> np.ndarray:
    """The detector's logits averaged over the 8 flips and quarter turns of the photo."""
    total = np.zeros(img.shape[:2], np.float32)
    for k in range(4):
        for flip in (False, True):
            x = np.rot90(img, k)
            x = x[:, ::-1] if flip else x
            z = logits(det.net, np.ascontiguousarray(x))
            z = z[:, ::-1] if flip else z
            total += np.rot90(z, -k)
    return total / 8


def detector_logits(det: Detector, img: np.ndarray, tta: bool) -> np.ndarray:
    return dihedral_logits(det, img) if tta else logits(det.net, img)


class Tally:
    """Pooled counts at each cut: false px on clean crops, and precision / recall counts on damaged."""

    def __init__(self, cuts: np.ndarray) -> None:
        self.cuts = cuts
        self.false = np.zeros(len(cuts))
        self.px = 0
        self.tp_p = np.zeros(len(cuts))  # marked pixels within 1 px of the truth
        self.marked = np.zeros(len(cuts))
        self.tp_r = np.zeros(len(cuts))  # true pixels within 1 px of a marked one
        self.truth = 0
        self.false_far = np.zeros(len(cuts))  # marked px of the damaged crops farther than FAR px from damage
        self.px_far = 0

    def clean(self, score: np.ndarray) -> None:
        self.px += score.size
        for i, t in enumerate(self.cuts):
            self.false[i] += shape_mask(score > t).sum()

    def damaged(self, score: np.ndarray, truth: np.ndarray) -> None:
        far = ~dilate(truth, FAR)
        self.truth += int(truth.sum())
        self.px_far += int(far.sum())
        for i, t in enumerate(self.cuts):
            m = shape_mask(score > t)
            self.false_far[i] += (m & far).sum()
            hit, marked, found, _ = match_counts(m, truth)
            self.tp_p[i] += hit
            self.marked[i] += marked
            self.tp_r[i] += found

    def fa(self) -> np.ndarray:
        return self.false / max(self.px, 1) * 1e6

    def fa_far(self) -> np.ndarray:
        return self.false_far / max(self.px_far, 1) * 1e6

    def f1(self) -> np.ndarray:
        p = self.tp_p / np.maximum(self.marked, 1)
        r = self.tp_r / max(self.truth, 1)
        return np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)


def report(label: str, sets: dict[str, list[tuple[np.ndarray, np.ndarray]]], z_clean: list[np.ndarray],
           z_damaged: dict[str, list[np.ndarray]], anomalies: tuple[list[np.ndarray], dict[str, list[np.ndarray]]],
           beta: float, default: float | None) -> str:
    """One score (logit + beta ln anomaly) swept over cuts: the best F1 within each false-alarm
    budget, on clean crops and on damaged crops' far pixels, and F1 at ``default`` when given."""
    a_clean, a_damaged = anomalies
    clean = [combined_score(z, a, beta) for z, a in zip(z_clean, a_clean, strict=True)]
    pooled = np.concatenate([c.ravel() for c in clean])
    # Cuts from a loose one to above every clean pixel: a damaged photo's far pixels may
    # score higher than any clean crop's.
    cuts = np.append(np.quantile(pooled, 1 - np.geomspace(1e-2, 1e-6, 50)), pooled.max() + CUTS_ABOVE)
    if default is not None:
        cuts = np.append(cuts, default)
    line = label
    for name, items in sets.items():
        tally = Tally(cuts)
        for c in clean:
            tally.clean(c)
        for (_, truth), z, a in zip(items, z_damaged[name], a_damaged[name], strict=True):
            tally.damaged(combined_score(z, a, beta), truth)
        fa, fa_far, f1 = tally.fa(), tally.fa_far(), tally.f1()
        best = [f1[fa <= bud].max(initial=0.0) for bud in BUDGETS]
        best_far = [f1[fa_far <= bud].max(initial=0.0) for bud in BUDGETS]
        line += f"\n    {name}: F1 within {'/'.join(f'{x:g}' for x in BUDGETS)} false px/MP: " \
                + " / ".join(f"{x:.3f}" for x in best) + " (clean crops); " \
                + " / ".join(f"{x:.3f}" for x in best_far) + f" (damaged crops' px > {FAR} px from damage)"
        if default is not None:
            line += f"; default cut: F1 {f1[-1]:.3f}, {fa[-1]:.0f} / {fa_far[-1]:.0f} false px/MP"
    return line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("detectors", type=Path, nargs="+")
    p.add_argument("--crops", type=int, default=48)
    p.add_argument("--patch", type=int, default=256)
    p.add_argument("--seed", type=int, default=100, help="picks the crops (calibrations used 1-15)")
    p.add_argument("--tta", action="store_true", help="also score each detector with dihedral_logits")
    p.add_argument("--ensemble", action="store_true",
                   help="also score the mean of the detectors' logits (the same beta and sigma needed)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cfg = DetectorTrainConfig(seed=args.seed, calib_crops=args.crops, calib_patch=args.patch)
    crops = list(calibration_crops(calibration_set(cfg), cfg))
    rng = np.random.default_rng(args.seed)
    sets = {"bench damage": [damage(c, rng) for c in crops], "film dust": [film_dust(c, rng) for c in crops]}
    ckpt = get_model(None, channels=3, device=torch.device("cpu"))
    dets = [load_detector(d) for d in args.detectors]
    sigmas = {float((d.combined_calibration or {}).get("sigma", DEFAULT_SIGMA)) for d in dets}

    def anomaly(img: np.ndarray, sigma: float) -> np.ndarray:
        return anomaly_map(img, model=ckpt, method="likelihood", sigma=sigma, device="cpu", degrain=False)[0]

    # The likelihood anomaly once per image and sigma: it does not depend on the detector.
    anomalies = {s: ([anomaly(c, s) for c in crops],
                     {k: [anomaly(im, s) for im, _ in v] for k, v in sets.items()}) for s in sigmas}
    print(f"{len(crops)} crops of {args.patch} px of the held-out photos; damaged px: "
          + ", ".join(f"{k} {np.mean([t.mean() for _, t in v]):.3f}" for k, v in sets.items()))
    logits_of = {}  # (detector index, tta) -> (clean crops' logits, damaged crops' logits by damage)
    for i, det in enumerate(dets):
        cal = det.combined_calibration or {}
        beta, sigma = float(cal.get("beta", 0.0)), float(cal.get("sigma", DEFAULT_SIGMA))
        for tta in (False, True) if args.tta else (False,):
            z_clean = [detector_logits(det, c, tta) for c in crops]
            z_damaged = {k: [detector_logits(det, im, tta) for im, _ in v] for k, v in sets.items()}
            logits_of[i, tta] = z_clean, z_damaged
            for method in ("combined", "learned"):
                if method == "combined" and not beta:
                    continue
                # The calibrated default cut (measured without flips and turns, so not for tta).
                own = cal if method == "combined" else det.calibration
                default = None if tta else score_threshold(own, DEFAULT_SENSITIVITY)
                label = f"{det.name:>20} {method:8} {'tta' if tta else '   '}"
                print(report(label, sets, z_clean, z_damaged, anomalies[sigma], beta if method == "combined" else 0.0,
                             default), flush=True)
    if args.ensemble and len(dets) > 1:
        cals = [d.combined_calibration or {} for d in dets]
        beta, sigma = float(cals[0].get("beta", 0.0)), float(cals[0].get("sigma", DEFAULT_SIGMA))
        if any(float(c.get("beta", 0.0)) != beta or float(c.get("sigma", DEFAULT_SIGMA)) != sigma for c in cals):
            raise SystemExit("--ensemble needs detectors calibrated with the same beta and sigma")
        z_clean = [np.mean(zs, axis=0) for zs in zip(*(logits_of[i, False][0] for i in range(len(dets))), strict=True)]
        z_damaged = {k: [np.mean(zs, axis=0) for zs in zip(*(logits_of[i, False][1][k] for i in range(len(dets))),
                                                             strict=True)] for k in sets}
        for method, b in (("combined", beta), ("learned", 0.0)):
            if method == "combined" and not beta:
                continue
            print(report(f"{'mean of the logits':>20} {method:8}    ", sets, z_clean, z_damaged, anomalies[sigma], b,
                         None), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

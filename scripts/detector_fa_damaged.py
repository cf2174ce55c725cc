"""False alarms of a detector on a damaged photo's undamaged pixels, beside its calibration's clean
crops (issue 17; models/defects-medium/README.md, "False alarms on a damaged photo"):

    .venv/bin/python scripts/detector_fa_damaged.py models/defects-medium --seed 10 --cuts 5,6.6,7.9,9.5

The calibration's own crops (the recipe's --seed picks them, as scripts/calibrate_detector.py) are
scored clean and again with synthetic damage drawn on every one (core/damage_synth.py, no grain);
on the damaged ones only the pixels farther than --far px from any damage (opacity above
--opacity) count as false. Prints false px / MP of the shaped mask at each cut on the clean crops
(whole, and on those same far pixels) and on the damaged ones, and the share of the damage found."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpm_desktop.core.damage_synth import synth_damage
from dpm_desktop.core.defect_net import load_detector, logits
from dpm_desktop.core.detect import DEFAULT_SIGMA, combined_map, shape_mask
from dpm_desktop.core.detector_train import DetectorTrainConfig, calibration_crops, calibration_set
from dpm_desktop.core.model_cache import get_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("detector", type=Path)
    p.add_argument("--seed", type=int, default=0, help="the seed the detector was calibrated with")
    p.add_argument("--cuts", default="5,6.6,7.9,9.5", help="score cuts, comma-separated")
    p.add_argument("--beta", type=float, default=None,
                   help="weight of ln(anomaly) (default: its combined calibration's); 0: the learned logit alone")
    p.add_argument("--density", type=float, default=1.0)
    p.add_argument("--far", type=int, default=8, help="px from damage beyond which a marked pixel is false")
    p.add_argument("--opacity", type=float, default=0.005, help="damage opacity that counts as damage")
    p.add_argument("--damage-seed", type=int, default=123)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cfg = DetectorTrainConfig(seed=args.seed)
    det = load_detector(args.detector)
    cal = det.combined_calibration or {}  # beta and sigma as the app's combined method uses them
    beta = cal.get("beta") if args.beta is None else args.beta
    if beta is None:
        raise SystemExit(f"{args.detector}: no combined calibration; pass --beta (0: the learned logit alone)")
    sigma = cal.get("sigma", DEFAULT_SIGMA)
    ckpt = get_model(None, channels=3, device=torch.device("cpu")) if beta else None

    def score(img: np.ndarray) -> np.ndarray:
        if ckpt is None:
            return logits(det.net, img)
        return combined_map(img, det, model=ckpt, beta=beta, sigma=sigma, device="cpu")[0]

    cuts = [float(c) for c in args.cuts.split(",")]
    drng = np.random.default_rng(args.damage_seed)
    false_clean, false_clean_far, false_damaged, found = (np.zeros(len(cuts)) for _ in range(4))
    px_clean = px_far = px_damage = 0
    for crop in calibration_crops(calibration_set(cfg), cfg):
        d = synth_damage(crop, drng, clean_share=0.0, density=args.density, grain_share=0.0, spot_rate=0.5)
        far = ~ndimage.binary_dilation(d.alpha > args.opacity, iterations=args.far)
        zc, zd = score(crop), score(d.image)
        px_clean, px_far, px_damage = px_clean + zc.size, px_far + int(far.sum()), px_damage + int(d.target.sum())
        for i, t in enumerate(cuts):
            marked_clean = shape_mask(zc > t)
            false_clean[i] += marked_clean.sum()
            false_clean_far[i] += (marked_clean & far).sum()  # the same pixels, undamaged
            marked = shape_mask(zd > t)
            false_damaged[i] += (marked & far).sum()
            found[i] += (marked & d.target).sum()
    for i, t in enumerate(cuts):
        clean, clean_far = false_clean[i] / px_clean * 1e6, false_clean_far[i] / max(px_far, 1) * 1e6
        damaged = false_damaged[i] / max(px_far, 1) * 1e6
        print(f"cut {t:5.1f}: false px / MP on clean crops {clean:7.1f} (on the far pixels {clean_far:7.1f}), "
              f"far from damage on damaged crops {damaged:7.1f}; damage found {found[i] / max(px_damage, 1):.2f}")
    print(f"far pixels: {px_far / px_clean:.2f} of the crops' area")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

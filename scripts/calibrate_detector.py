"""Calibrate a defect detector's combined method (issue 17: the learned logit plus beta x ln of the
photo model's likelihood anomaly) on clean crops of its held-out photos (--calib-photos), and write the result into
its detector.json as ``calibration_combined`` (with --gray, for gray photos read by photo-gray, as
``calibration_combined_gray``):

    nice -n 10 .venv/bin/python scripts/calibrate_detector.py models/defects-wide --beta 4 --seed 14
    nice -n 10 .venv/bin/python scripts/calibrate_detector.py models/defects-wide --beta 4 --seed 14 --gray

(the default detector; models/defects-medium was calibrated with --beta 4 --seed 10, models/defects-small
with --seed 1 at the default beta 8)

The crops are those of the detector's own calibration (the recipe's --data, --calib-crops,
--calib-patch, --seed, --gray-share, --val-percent; pass the values it was trained with). With
--learned, the learned logit's own calibration (``calibration``) is measured again instead."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpm_desktop.core.detector_train import COMBINED_BETA, DetectorTrainConfig, calibrate_combined, recalibrate_learned


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("detector", type=Path, help="the detector folder (detector.json + detector.safetensors)")
    p.add_argument("--model", default=None, help="photo model name or folder (default photo-rgb)")
    p.add_argument("--beta", type=float, default=COMBINED_BETA, help=f"weight of ln(anomaly) (default {COMBINED_BETA})")
    p.add_argument("--gray", action="store_true",
                   help="calibrate for gray photos (crops made gray, photo model default photo-gray): "
                        "writes calibration_combined_gray")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--learned", action="store_true", help="calibrate the learned logit alone (``calibration``)")
    names = {f.name for f in dataclasses.fields(DetectorTrainConfig)}
    for f in dataclasses.fields(DetectorTrainConfig):
        if f.name in ("data", "calib_crops", "calib_patch", "calib_photos", "seed", "gray_share", "val_percent"):
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cfg = DetectorTrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    if args.learned:
        cal = recalibrate_learned(args.detector, cfg)
    else:
        cal = calibrate_combined(args.detector, cfg, args.model, args.beta, gray=args.gray)
    print(json.dumps({k: v for k, v in cal.items() if k not in ("logit", "false_px_per_mp")}))
    for z, fa in zip(cal["logit"], cal["false_px_per_mp"], strict=True):
        if fa > 0 and float(z) % 5 == 0:
            print(f"score {z:6.1f}: {fa:10.1f} false px / MP")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

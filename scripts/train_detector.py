"""Train the learned defect detector (issue 17) with the recipe of models/defects-small:

    nice -n 15 .venv/bin/python scripts/train_detector.py --minutes 25 --out build/out/defects-small

then copy detector.json + detector.safetensors into models/defects-small (and update its README).
``--recalibrate models/defects-small`` redoes only the false-alarm calibration of a trained detector.
Every option defaults to the shipped recipe (core/detector_train.DetectorTrainConfig)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpm_desktop.core.detector_train import DetectorTrainConfig, recalibrate, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(DetectorTrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                       help=f"(default {f.default})")
    p.add_argument("--recalibrate", metavar="FOLDER", help="only calibrate this trained detector again "
                   "(its own training settings choose the clean crops); the weights stay as they are")
    args = vars(p.parse_args(argv))
    again = args.pop("recalibrate")
    if again:
        print(f"recalibrated {recalibrate(Path(again), args['threads'])}")
        return 0
    train(DetectorTrainConfig(**args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

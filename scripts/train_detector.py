"""Train the learned defect detector (issue 17) with the recipe of models/defects-small:

    nice -n 15 .venv/bin/python scripts/train_detector.py --minutes 25 --out build/out/defects-small

then copy detector.json + detector.safetensors into models/defects-small (and update its README).
Every option defaults to the shipped recipe (core/detector_train.DetectorTrainConfig)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpm_desktop.core.detector_train import DetectorTrainConfig, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(DetectorTrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                       help=f"(default {f.default})")
    cfg = DetectorTrainConfig(**vars(p.parse_args(argv)))
    train(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

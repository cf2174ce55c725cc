"""Validation bounds written before ``bits_unit`` existed (bits per colour value) are read as bits per
pixel by every reader: the wizard's run model, the campaign's ledger; new events are left as they are."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from dpm_desktop.core.bits_units import PER_PIXEL, converted, run_channels
from dpm_desktop.gui.model.training_run import TrainingRun

OLD_RUN = Path(__file__).resolve().parents[1] / "data" / "old-progress-rgb"  # written by the code of 73153ff
ROOT = Path(__file__).resolve().parents[2]


def old_events() -> list[dict]:
    return [json.loads(line) for line in (OLD_RUN / "progress.jsonl").read_text().splitlines()]


def test_an_old_colour_run_is_replayed_in_bits_per_pixel(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN, run_dir)
    events = old_events()
    vals = [e for e in events if e["event"] == "val"]
    assert vals and all("bits_unit" not in e for e in vals) and run_channels(run_dir) == 3
    run = TrainingRun()
    run.run_dir = run_dir
    run.replay(events)
    assert [v.step for v in run.val] == [10, 20, 30]
    for point, e in zip(run.val, vals, strict=True):
        assert point.bits_per_px == 3 * e["bits_per_px"] and point.stderr == 3 * e["bits_stderr"]
    # a new event of the same run (after a resume by the current trainer) is already per pixel
    run.feed({"event": "val", "step": 40, "bits_per_px": -2000.0, "bits_stderr": 50.0, "bits_unit": PER_PIXEL,
              "channels": 3})
    assert run.val[-1].bits_per_px == -2000.0 and run.bits_unit == PER_PIXEL


def test_the_campaign_ledger_converts_old_events(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN, run_dir)
    out = subprocess.run([sys.executable, "scripts/campaign.py", "ledger", "--run", str(run_dir)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    last = [e for e in old_events() if e["event"] == "val"][-1]
    assert f"K {3 * last['bits_per_px']:.3f} bits/px (per pixel, all channels)" in out


def test_gray_and_new_records_are_unchanged() -> None:
    old = {"bits_per_px": -1.5, "bits_stderr": 0.1}
    assert converted(old, 1) == old
    new = {"bits_per_px": -4.5, "bits_stderr": 0.3, "bits_unit": PER_PIXEL}
    assert converted(new, 3) == new
    assert converted(old, 3) == {"bits_per_px": -4.5, "bits_stderr": 0.30000000000000004}

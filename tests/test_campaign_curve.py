"""scripts/campaign_curve.py: the campaign's learning curve on one axis of campaign steps (issue 12)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("campaign_curve", ROOT / "scripts/campaign_curve.py")
cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)


def test_slope_is_db_per_doubling_with_its_standard_error() -> None:
    steps = [100_000, 141_421, 200_000, 282_843, 400_000]
    b, se = cc.slope(steps, [31.9 + 0.04 * np.log2(s / 100_000) for s in steps])
    assert b == pytest.approx(0.04, abs=1e-9) and se < 1e-9
    wobble = (0.01, -0.01, 0.01, -0.01, 0.01)
    noisy = [31.9 + 0.04 * np.log2(s / 100_000) + e for s, e in zip(steps, wobble, strict=True)]
    b, se = cc.slope(steps, noisy)
    assert 0.0 < se < 0.02 and abs(b - 0.04) < 2 * se


def test_committed_states_count_campaign_steps_across_run_folders() -> None:
    """campaign/photo-rgb counts from its run folder's offset; a published model counts them itself."""
    meta = json.loads((ROOT / "campaign/photo-rgb/model.json").read_text())
    run = meta["campaign"]["from"].rsplit("/", 1)[0]
    assert cc.checkpoint_step(ROOT / "campaign/photo-rgb") == cc.offsets()[run] + meta["training"]["steps"]
    shipped = json.loads((ROOT / "models/photo-rgb/model.json").read_text())["training"]["steps"]
    assert cc.checkpoint_step(ROOT / "models/photo-rgb") == shipped
    with pytest.raises(SystemExit, match="not a run folder"):
        cc.campaign_step("runs/elsewhere/state-0000100", 100)


def test_curve_joins_the_kept_runs_and_prints_the_fit() -> None:
    rows = cc.validation_rows()
    steps = [s for s, _ in rows]
    manifest = cc.manifest()
    assert steps == sorted(steps) and steps[0] >= manifest["comparable_from"]
    kept = ROOT / "campaign/photo-rgb-history/campaign-photo-rgb-3.validation.jsonl"
    first = json.loads(kept.read_text().splitlines()[0])
    on_split = [json.loads(line) for line in kept.read_text().splitlines()
                if json.loads(line)["step"] + 80_750 >= manifest["comparable_from"]]
    assert first["step"] + 80_750 < manifest["comparable_from"]  # the rows before the split change are left out
    assert rows[0] == (on_split[0]["step"] + 80_750, on_split[0]["psnr25"])
    # The figure needs the bench extra's matplotlib, which the test environment does not install.
    proc = subprocess.run([sys.executable, "scripts/campaign_curve.py", "curve", "--from", "136750", "--no-figure"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    b, se = cc.slope([s for s, _ in rows if s >= 136_750], [p for s, p in rows if s >= 136_750])
    assert f"{b:+.3f} ± {se:.3f} dB per doubling" in proc.stdout and "figure" not in proc.stdout

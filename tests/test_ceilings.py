"""The dead-leaves ceiling interval (core/ceilings.py): its pieces against closed forms and a fresh
Monte Carlo from the real generator, and `dpm eval --data deadleaves` on the shipped model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from dpm_desktop.core import ceilings
from dpm_desktop.core.deadleaves_stats import STATS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n", [1, 3, 40, 1024])
@pytest.mark.parametrize("b1", [1e-4, 1e-3, 0.05, 0.5])
def test_leaf_value_information_lies_between_its_entropy_power_and_gaussian_bounds(n: int, b1: float) -> None:
    """i(n) = h(a v + s eps) - h(s eps), v uniform with unit variance, s^2 = b1 / n: at least the
    entropy-power bound 1/2 log2(1 + 2^(2 h(a v)) / 2^(2 h(s eps))), at most the Gaussian channel's
    1/2 log2(1 + a^2 / s^2); at high SNR it tends to log2(a 2 sqrt 3) - h(s eps)."""
    a2, s2 = 1 - b1, b1 / n
    got = float(ceilings.leaf_value_bits([n], b1)[0])
    h_v = math.log2(math.sqrt(a2) * 2 * math.sqrt(3))
    h_noise = 0.5 * math.log2(2 * math.pi * math.e * s2)
    epi = 0.5 * math.log2(1 + 2 ** (2 * h_v) / 2 ** (2 * h_noise))
    assert epi - 1e-6 <= got <= 0.5 * math.log2(1 + a2 / s2) + 1e-6
    if s2 < 1e-5:
        assert got == pytest.approx(h_v - h_noise, abs=2e-3)


def _flood_pieces(labels: np.ndarray) -> int:
    seen = np.zeros(labels.shape, bool)
    count = 0
    for start in zip(*np.nonzero(~seen), strict=True):
        if seen[start]:
            continue
        count += 1
        queue = deque([start])
        seen[start] = True
        while queue:
            i, j = queue.popleft()
            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                y, x = i + di, j + dj
                if 0 <= y < labels.shape[0] and 0 <= x < labels.shape[1] and not seen[y, x] \
                        and labels[y, x] == labels[i, j]:
                    seen[y, x] = True
                    queue.append((y, x))
    return count


def test_the_segmentation_code_reads_real_generator_segmentations() -> None:
    maps = ceilings.segmentations(16, 6, seed=5)
    for labels in maps:
        pieces, n = ceilings._pieces(labels)
        assert n == _flood_pieces(labels)
        assert all(len(np.unique(labels[pieces == k])) == 1 for k in range(n))
        events = ceilings._merge_events(labels)
        leaves = len(np.unique(labels))
        assert len(events) == n - 1 and sum(rank is None for _, rank, _ in events) == leaves - 1
    code = ceilings.SegmentationCode.fit(maps[:3])
    edges, merges = code.bits(maps[4])
    assert 0 < edges < 2 * 16 * 15 * 8 and merges >= 0  # finite, and not absurd for 480 edge bits


def test_stored_statistics_agree_with_a_fresh_monte_carlo() -> None:
    """The stored tables and leaf-size counts are what the real generator gives: fresh patches
    (another seed) coded with the stored tables cost the stored bits, within Monte Carlo error."""
    s = STATS[32]
    code = ceilings.SegmentationCode.from_tables(s["tables"])
    table = ceilings.leaf_value_bits(np.arange(1, 1025), 1e-3)
    fresh_code, fresh_values = [], []
    for labels in ceilings.segmentations(32, 24, seed=777):
        fresh_code.append(sum(code.bits(labels)) / 1024)
        sizes = np.unique(labels, return_counts=True)[1]
        fresh_values.append(float(table[sizes - 1].sum()) / 1024)
    for fresh, mean, se in ((fresh_code, s["code_bits_per_px"], s["code_bits_stderr"]),
                            (fresh_values, s["leaf_value_bits_per_px_at_1e-3"], s["leaf_value_bits_stderr_at_1e-3"])):
        fresh_se = np.std(fresh, ddof=1) / math.sqrt(len(fresh))
        assert abs(np.mean(fresh) - mean) < 4 * math.hypot(se, fresh_se), (np.mean(fresh), mean)
    implied = sum(c * table[k - 1] for k, c in s["leaf_sizes"].items()) / 1024
    assert implied == pytest.approx(s["leaf_value_bits_per_px_at_1e-3"], rel=1e-9)


def test_the_interval_is_ordered_finite_and_moves_down_as_b1_grows() -> None:
    at = {b1: ceilings.deadleaves_ceiling(32, b1) for b1 in (1e-4, 1e-3, 1e-2)}
    for b1, c in at.items():
        assert math.isfinite(c.lower_bits) and math.isfinite(c.upper_bits) and c.lower_bits < c.upper_bits
        assert c.upper_bits < ceilings.gaussian_step_bits(b1)  # the oracle still pays for the grey levels
        assert c.upper_bits - c.lower_bits == pytest.approx(STATS[32]["code_bits_per_px"])
    for small, big in ((1e-4, 1e-3), (1e-3, 1e-2)):  # more first-step noise: less to gain
        assert at[big].upper_bits < at[small].upper_bits and at[big].lower_bits < at[small].lower_bits
    assert ceilings.deadleaves_ceiling(32, 1e-3, data_std=2.0).upper_bits == pytest.approx(at[1e-3].upper_bits + 1)


def test_dpm_eval_on_the_shipped_dead_leaves_model_reports_the_interval_above_its_K() -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = [sys.executable, "-m", "dpm_desktop.cli", "eval", str(ROOT / "models" / "deadleaves-paper"),
           "--data", "deadleaves", "--n", "16", "--draws", "1"]
    proc = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    lower, upper = res["ceiling_interval_bits"]
    assert res["ceiling_b1"] == pytest.approx(1e-3, rel=1e-4) and lower < upper
    assert res["K_bits"] + 4 * res["stderr_bits"] < upper
    want = ceilings.deadleaves_ceiling(32, res["ceiling_b1"])
    assert (lower, upper) == pytest.approx((want.lower_bits, want.upper_bits))
    text = subprocess.run([*run[:-4], "--n", "4", "--draws", "1"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert text.returncode == 0, text.stderr
    assert f"ceiling: K* in [{lower:.2f}, {upper:.2f}] bits/px at b_1 = 0.001" in text.stdout

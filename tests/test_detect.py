"""The damage finder (issue 17, work in progress): its mask is shaped for inpainting, re-thresholds
without the network, and `dpm detect` writes a mask `dpm inpaint` takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from support import photo_like

from dpm_desktop.core.detect import count_regions, detect, mask_from_anomaly, shape_mask
from dpm_desktop.core.imaging import save_image


def damaged_photo() -> tuple[np.ndarray, np.ndarray]:
    px = photo_like(64, 64, seed=3)
    truth = np.zeros((64, 64), bool)
    truth[30:32, 6:58] = True  # a bright hairline
    truth[10:12, 50:52] = True  # a speck
    px[truth] = 1.0
    return px, truth


def test_mask_shaping_drops_lone_pixels_bridges_gaps_and_adds_a_margin() -> None:
    raw = np.zeros((20, 20), bool)
    raw[10, 2:8] = raw[10, 9:16] = True  # a scratch with a one-pixel gap
    raw[3, 3] = True  # a lone pixel
    out = shape_mask(raw, margin=1, min_pixels=2)
    assert not out[3, 3] and out[10, 8] and out[9, 5] and out[11, 5]
    assert count_regions(out) == 1


def _flood_fill_labels(mask: np.ndarray) -> np.ndarray:
    """The plain definition, for reference: 8-connected flood fill from every unlabelled pixel."""
    labels = np.zeros(mask.shape, np.int32)
    n = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if labels[y, x]:
            continue
        n += 1
        labels[y, x] = n
        todo = [(y, x)]
        while todo:
            cy, cx = todo.pop()
            for ny in range(max(cy - 1, 0), min(cy + 2, mask.shape[0])):
                for nx in range(max(cx - 1, 0), min(cx + 2, mask.shape[1])):
                    if mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = n
                        todo.append((ny, nx))
    return labels


def test_components_are_the_8_connected_regions() -> None:
    """The run-based labelling against a flood fill: the same partition of the masked pixels, on
    random masks of every density, one-row and one-column masks, and a long spiral."""
    from dpm_desktop.core.masks import components

    rng = np.random.default_rng(1)
    spiral = np.zeros((41, 41), bool)
    y0, x0, y1, x1 = 0, 0, 40, 40
    while y0 <= y1 and x0 <= x1:  # a one-pixel spiral with one-pixel gaps between its turns
        spiral[y0, x0:x1 + 1] = spiral[y0:y1 + 1, x1] = spiral[y1, x0:x1 + 1] = True
        spiral[y0 + 2:y1 + 1, x0] = True
        y0, x0, y1, x1 = y0 + 2, x0 + 2, y1 - 2, x1 - 2
        if y0 <= y1:
            spiral[y0, x0 - 2:x0 + 1] = False
    masks = [rng.random(shape) < p for p in (0.01, 0.2, 0.45, 0.6, 0.9) for shape in ((37, 53), (1, 40), (40, 1))]
    for m in [*masks, spiral, np.zeros((5, 5), bool)]:
        labels, n = components(m)
        ref = _flood_fill_labels(m)
        assert n == ref.max() and np.array_equal(labels > 0, m)
        if n:  # the same partition: label pairs form a bijection
            assert len({(int(a), int(b)) for a, b in zip(labels[m], ref[m], strict=True)}) == n


def test_small_components_are_dropped_exactly() -> None:
    """Components under min_pixels are dropped, on random masks of every density, edges included;
    the reference sizes come from the flood fill."""
    from dpm_desktop.core.detect import _drop_small

    rng = np.random.default_rng(0)
    for p in (0.002, 0.05, 0.3, 0.7):
        m = rng.random((61, 83)) < p
        ref = _flood_fill_labels(m)
        sizes = np.bincount(ref.ravel())
        for k in (2, 3):
            keep = sizes >= k
            keep[0] = False
            assert np.array_equal(_drop_small(m, k), keep[ref])


def test_lower_sensitivity_finds_a_superset_without_the_network(tiny_rgb_model) -> None:
    px, _ = damaged_photo()
    res = detect(px, model=tiny_rgb_model, device="cpu")
    assert res.mask.shape == px.shape[:2] and res.anomaly.shape == px.shape[:2]
    looser = mask_from_anomaly(res.anomaly, res.params["sensitivity"] / 2, params=res.params)
    assert looser.mask.sum() >= res.mask.sum() and not (res.mask & ~looser.mask).any()


def test_dpm_detect_writes_a_mask_that_inpaint_takes(tmp_path: Path, tiny_rgb_model: Path) -> None:
    px, _ = damaged_photo()
    src, mask = tmp_path / "old.png", tmp_path / "mask.png"
    save_image(src, px)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = [sys.executable, "-m", "dpm_desktop.cli"]
    proc = subprocess.run([*run, "detect", str(src), "-o", str(mask), "--model", str(tiny_rgb_model), "--json",
                           "--sensitivity", "3", "--method", "likelihood",
                           "--map", str(tmp_path / "map.png")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    with Image.open(mask) as m:
        assert m.size == (64, 64) and set(np.unique(np.asarray(m))) <= {0, 255}
        assert abs((np.asarray(m) > 0).mean() - summary["masked_fraction"]) < 1e-6
    with Image.open(tmp_path / "map.png") as m:  # black at the typical pixel, white at the cut
        shown = np.asarray(m.convert("L"))
    assert shown.shape == (64, 64) and np.median(shown) == 0 and (shown[np.asarray(Image.open(mask)) > 0] > 0).any()
    assert summary["method"] == "likelihood" and summary["regions"] >= 1  # found even by a tiny model
    proc = subprocess.run([*run, "inpaint", str(src), "--mask", str(mask), "-o", str(tmp_path / "fixed.png"),
                           "--model", str(tiny_rgb_model)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_inpaint_auto_mask_detects_then_fills_in_one_command(tmp_path: Path, tiny_rgb_model: Path) -> None:
    """`dpm inpaint --auto-mask`: the damage `dpm detect` finds is what gets filled, nothing else
    changes, and the sidecar records the detector's parameters beside the fill's."""
    from dpm_desktop.core.imaging import load_image, save_image

    px = photo_like(64, 80, seed=9)
    px[20, 5:75] = 1.0  # a bright scratch
    px[40:42, 30:32] = 0.0  # a dark speck
    src = tmp_path / "scan.png"
    save_image(src, px)

    def dpm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dpm_desktop.cli", *args, "--model", str(tiny_rgb_model)],
                              capture_output=True, text=True)

    # The tiny model's likelihood (the default method is calibrated for the bundled photo model).
    proc = dpm("inpaint", str(src), "--auto-mask", "--method", "likelihood", "-o", str(tmp_path / "out.png"),
               "--sidecar", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "found" in proc.stderr and "regions" in proc.stderr
    assert dpm("detect", str(src), "--method", "likelihood", "-o", str(tmp_path / "mask.png")).returncode == 0
    mask = load_image(tmp_path / "mask.png").pixels[:, :, 0] > 0.5
    before, after = load_image(src).pixels, load_image(tmp_path / "out.png").pixels
    changed = np.any(before != after, axis=2)
    assert mask.any() and changed.any() and not changed[~mask].any()
    record = json.loads((tmp_path / "out.png.json").read_text())
    assert record["mask"] == "auto" and record["detect"]["sensitivity"] == 6.0 and record["task"] == "inpaint"
    assert record["detect"]["method"] == "likelihood"

    clean = tmp_path / "clean.png"
    save_image(clean, np.full((48, 48, 3), 0.5, np.float32))
    nothing = dpm("inpaint", str(clean), "--auto-mask", "-o", str(tmp_path / "none.png"), "--sensitivity", "1000")
    assert nothing.returncode == 1 and "no damage found" in nothing.stderr and not (tmp_path / "none.png").exists()

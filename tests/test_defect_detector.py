"""The learned defect detector (issue 17): its training generator, its folder's validation, the
shipped detector on a real photo, and what a sensitivity means."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from support import photo_like

from dpm_desktop.core.checkpoint import CheckpointError
from dpm_desktop.core.damage_synth import OFF_ALPHA, VISIBLE, synth_damage
from dpm_desktop.core.defect_net import (
    COMBINED_KEYS,
    META_NAME,
    WEIGHTS_NAME,
    ContextBlock,
    DefectNet,
    bundled_detector_dir,
    false_alarm_budget,
    inspect_detector,
    load_detector,
    logits,
    probability_threshold,
    save_detector,
    score_threshold,
    tile_margin,
)
from dpm_desktop.core.detect import anomaly_map, detect, mask_from_anomaly
from dpm_desktop.core.imaging import load_image
from dpm_desktop.core.masks import dilate
from dpm_desktop.core.restore_io import RestoreError

ROOT = Path(__file__).resolve().parents[1]
# A real photo, not a benchmark photo: the app's sample (a squirrel with noise of sigma 20/255 added;
# the original is one of the training photos), averaged 2 x 2 down, which halves the noise.
SAMPLE = ROOT / "resources" / "sample.jpg"


def _photo(size: int = 192) -> np.ndarray:
    px = load_image(SAMPLE).pixels
    h, w = px.shape[0] // 2 * 2, px.shape[1] // 2 * 2
    px = px[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    y, x = (h // 2 - size) // 2, (w // 2 - size) // 2
    return np.ascontiguousarray(px[y:y + size, x:x + size]).astype(np.float32)


def test_training_damage_masks_match_the_damage_drawn() -> None:
    clean = _photo(128)
    for seed in range(6):
        d = synth_damage(clean, np.random.default_rng(seed), clean_share=0.0, grain_share=0.0)
        change = np.abs(d.image - clean).max(axis=2)
        assert d.target.any()
        assert (change[d.target] > VISIBLE).all()  # every damaged pixel shows
        assert (change[d.alpha == 0] < 1e-6).all()  # no damage, no change (but float rounding)
        loud = (change > 0.1) & (d.alpha < OFF_ALPHA)
        assert loud.mean() < 1e-3  # what changed is what the mask (or its ignored rim) covers
        assert (d.weight[d.target] == 1).all() and set(np.unique(d.weight)) <= {0.0, 1.0}
    negative = synth_damage(clean, np.random.default_rng(0), clean_share=1.0, grain_share=0.0)
    assert not negative.target.any() and np.array_equal(negative.image, clean)
    gray = synth_damage(clean.mean(axis=2, keepdims=True), np.random.default_rng(1), clean_share=0.0)
    assert gray.image.shape == (128, 128, 1) and gray.target.any()


def test_grain_does_not_change_what_counts_as_damage() -> None:
    """The grain is drawn after every element (the same seed draws the same damage with or without
    it), so the targets and weights must be the same: grain alone crosses the visibility threshold on
    many pixels, and must not turn invisible damage (white on a white page) into targets."""
    for clean in (np.ones((96, 96, 3), np.float32), _photo(96)):
        for seed in range(6):
            plain = synth_damage(clean, np.random.default_rng(seed), clean_share=0.0, grain_share=0.0, density=4)
            grainy = synth_damage(clean, np.random.default_rng(seed), clean_share=0.0, grain_share=1.0, density=4)
            assert not np.array_equal(plain.image, grainy.image)
            assert np.array_equal(plain.target, grainy.target) and np.array_equal(plain.weight, grainy.weight)


def test_second_generator_truth_matches_its_damage() -> None:
    from benchmarks.damage_dust import film_dust

    clean = photo_like(192, 192, seed=4)  # smooth: away from the dust only the JPEG's small error
    dusty, truth = film_dust(clean, np.random.default_rng(3))
    change = np.abs(dusty - clean).max(axis=2)
    assert truth.any() and dusty.shape == clean.shape
    assert change[truth].mean() > 4 * change[~dilate(truth, 3)].mean()  # far from dust only JPEG error


def test_tiled_logits_equal_the_whole_image() -> None:
    torch.manual_seed(0)
    net = DefectNet().eval()
    px = np.random.default_rng(0).random((150, 203, 3)).astype(np.float32)
    assert np.array_equal(logits(net, px, tile=1024), logits(net, px, tile=64))
    # Last tiles of 1 and 2 px: narrower than their context, padded by more than their size.
    for h, w in ((128, 129), (130, 128)):
        assert np.allclose(logits(net, px[:h, :w], tile=1024), logits(net, px[:h, :w], tile=64), atol=1e-5)
    gray = logits(net, px[:, :, :1])  # gray photos: copied to R, G, B
    assert gray.shape == (150, 203)


def test_context_blocks_widen_the_field_and_keep_tiles_exact() -> None:
    """Context blocks see ~3.5x farther than the three levels alone; the tile margin grows with them,
    so tiled logits still equal the whole photo's."""
    torch.manual_seed(0)
    net = DefectNet(width1=4, width2=8, width3=8, context=2).eval()
    for m in net.modules():
        if isinstance(m, ContextBlock):
            torch.nn.init.normal_(m.mix.weight, 0, 0.3)  # as if trained: the blocks start as the identity
    assert tile_margin(net.cfg) == 48 + 4 * (8 + 16)

    def field(n: DefectNet) -> int:
        x = torch.rand(1, 3, 385, 385, generator=torch.Generator().manual_seed(0)).requires_grad_()
        n(x)[0, 0, 192, 192].backward()
        rows = (x.grad.abs().sum((0, 1, 3)) > 0).nonzero()
        return int(rows.max() - rows.min())

    assert field(net) > 3 * field(DefectNet(width1=4, width2=8, width3=8))
    assert field(net) // 2 <= tile_margin(net.cfg)
    net.requires_grad_(False)
    px = np.random.default_rng(1).random((260, 333, 3)).astype(np.float32)
    assert np.array_equal(logits(net, px, tile=4096), logits(net, px, tile=64))


def test_a_detector_continued_with_context_blocks_starts_from_its_logits(tmp_path: Path, photo_folder: Path) -> None:
    """--init from a detector without context blocks into one with them: the old weights carried over,
    the new blocks the identity (so training starts from the old detector's logits); a folder whose
    detector.json predates the field loads as context 0."""
    from dpm_desktop.core.detector_train import DetectorTrainConfig, train

    torch.manual_seed(0)
    old = DefectNet(width1=4, width2=4, width3=4, dilations=1)
    cal = {"logit": [0.0, 2.0], "false_px_per_mp": [500.0, 10.0], "megapixels": 0.1}
    save_detector(old, {"name": "t", "training": {"steps": 0, "crops": 0, "wall_time_s": 0, "cpu_thread_hours": 0},
                        "calibration": cal}, tmp_path / "old")
    meta = json.loads((tmp_path / "old" / META_NAME).read_text())
    del meta["network"]["context"]
    (tmp_path / "old" / META_NAME).write_text(json.dumps(meta))
    assert load_detector(tmp_path / "old").net.cfg["context"] == 0
    common = dict(data=str(photo_folder), batch=2, patch=48, val_crops=2, calib_crops=2, calib_patch=64, width1=4,
                  width2=4, width3=4, dilations=1, threads=1, workers=0, log_every=1000, save_every=1000,
                  val_percent=20.0, init=str(tmp_path / "old"), context=1)
    zero = train(DetectorTrainConfig(out=str(tmp_path / "new"), steps=0, **common), log=lambda _: None)
    new = load_detector(zero)
    assert new.net.cfg["context"] == 1
    x = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():  # float32 (logits() runs bf16 where the CPU has it)
        assert torch.allclose(new.net(x.contiguous(memory_format=torch.channels_last)), old.eval()(x), atol=1e-5)
    with pytest.raises(ValueError, match="context"):
        train(DetectorTrainConfig(out=str(tmp_path / "fewer"), steps=0, **{**common, "init": str(zero), "context": 0}),
              log=lambda _: None)


def test_shipped_detector_validates_and_loads() -> None:
    folder = bundled_detector_dir()
    meta = inspect_detector(folder)
    det = load_detector(folder)
    params = sum(p.numel() for p in det.net.parameters())
    assert params == meta["training"]["parameters"] and params < 400_000
    assert sum(f.stat().st_size for f in folder.iterdir()) < 5 * 1024 * 1024
    assert meta["calibration"]["megapixels"] > 1  # calibrated on clean crops of its held-out photos


def test_shipped_detector_has_its_context_blocks_and_both_combined_calibrations() -> None:
    """defects-wide (the default since Dec 8) loads as the network its JSON names, with the two
    context blocks that widen its field, and carries the combined cuts for colour and gray photos."""
    det = load_detector(bundled_detector_dir())
    assert det.name == "defects-wide" and det.net.cfg["context"] == 2
    assert tile_margin(det.net.cfg) == 48 + 4 * (8 + 16)
    for key in COMBINED_KEYS.values():
        cal = det.meta[key]
        assert cal["beta"] == 4.0 and cal["photos"] == "held-out" and cal["megapixels"] > 1


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "det"
    shutil.copytree(bundled_detector_dir(), dest)
    return dest


def test_altered_detector_folders_are_refused_before_loading(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    meta = json.loads((folder / META_NAME).read_text())
    for field, value in (("width3", 100_000), ("in_channels", True), ("dilations", -1)):
        bad = dict(meta, network={**meta["network"], field: value})
        (folder / META_NAME).write_text(json.dumps(bad))
        with pytest.raises(CheckpointError, match=field):
            inspect_detector(folder)
    far = dict(meta, network={**meta["network"], "max_dilation": 64, "context": 1})  # 560 px of context per tile
    (folder / META_NAME).write_text(json.dumps(far))
    with pytest.raises(CheckpointError, match="context blocks reach"):
        inspect_detector(folder)
    (folder / META_NAME).write_text(json.dumps(dict(meta, calibration={"logit": [1, 0], "false_px_per_mp": [1, 0]})))
    with pytest.raises(CheckpointError, match="calibration"):
        inspect_detector(folder)
    (folder / META_NAME).write_text(json.dumps(dict(meta, network={**meta["network"], "width1": 13})))
    with pytest.raises(CheckpointError, match="the network needs"):
        inspect_detector(folder)  # weights that do not fit the network described
    (folder / META_NAME).write_text(json.dumps(meta))
    data = bytearray((folder / WEIGHTS_NAME).read_bytes())
    data[-3] ^= 0xFF
    (folder / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_detector(folder)
    (folder / WEIGHTS_NAME).write_bytes(b"\x80\x04" + b"\x00" * 64)  # a pickle
    with pytest.raises(CheckpointError, match="pickle"):
        inspect_detector(folder)


def test_a_saved_detector_round_trips(tmp_path: Path) -> None:
    net = DefectNet(width1=4, width2=8, width3=8, dilations=1)
    cal = {"logit": [0.0, 2.0], "false_px_per_mp": [500.0, 10.0], "megapixels": 0.1}
    save_detector(net, {"name": "t", "training": {}, "calibration": cal}, tmp_path / "d")
    det = load_detector(tmp_path / "d")
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(det.net(x.contiguous(memory_format=torch.channels_last)), net.eval()(x), atol=1e-5)


def test_sensitivity_is_a_false_alarm_budget() -> None:
    assert false_alarm_budget(6) == 100 and false_alarm_budget(5) == 200 and false_alarm_budget(7) == 50
    cal = {"logit": [0.0, 1.0, 2.0, 3.0], "false_px_per_mp": [800.0, 200.0, 50.0, 0.0]}
    assert probability_threshold(cal, 5) == pytest.approx(1 / (1 + np.exp(-1.0)))  # budget 200: logit 1
    ts = [probability_threshold(cal, s) for s in (0.5, 3, 5, 6, 7, 20, 1000)]
    assert ts == sorted(ts)  # higher sensitivity values, higher thresholds: fewer pixels


def _scratched(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = px.shape[:2]
    cover = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(cover)
    draw.line([(10, 40), (100, 80), (185, 60)], fill=255, width=2)  # a bright scratch
    draw.line([(20, 175), (170, 115)], fill=255, width=1)
    for x, y in ((50, 140), (150, 25), (160, 160), (80, 170)):
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=255)  # dust
    truth = np.asarray(cover) > 127
    out = px.copy()
    out[truth] = 0.97
    out[110:113, 100:103] = 0.03  # a dark speck
    truth[110:113, 100:103] = True
    return out, truth


def test_shipped_detector_finds_a_drawn_scratch_on_a_real_photo() -> None:
    """The bars are low because the shipped detector is weak; they were set with defects-small, the
    default until Dec 7 (models/defects-small/README.md), and hold for defects-medium and defects-wide. defects-small
    trained again on 3x the photos (Dec 7), better on both of the bench's damage
    generators and on 8 other photos kept apart, finds less of this one drawn scratch alone: measured
    recall 0.08 at sensitivity 2 (0.18 before), precision 0.83 (0.54); on the clean crop at the
    default one false blob of 11 px in its corner (298 px / MP of this 0.037 MP crop; none before);
    damage 18x as probable as clean pixels (3.6x before)."""
    clean = _photo()
    damaged, truth = _scratched(clean)
    res = detect(damaged, method="learned", sensitivity=2)
    assert res.params["method"] == "learned"
    found = (truth & dilate(res.mask, 1)).sum() / truth.sum()
    precise = (res.mask & dilate(truth, 2)).sum() / max(res.mask.sum(), 1)
    assert found > 0.05 and precise > 0.6, (found, precise)
    false = detect(clean, method="learned").mask.sum()
    assert false <= 16  # px on the undamaged crop at the default sensitivity (~430 px / MP at most)
    p_damaged, _ = anomaly_map(damaged, method="learned")
    p_clean, _ = anomaly_map(clean, method="learned")
    assert p_damaged[truth].mean() > 10 * p_clean.mean()


def test_the_learned_map_re_thresholds_without_the_network() -> None:
    damaged, _ = _scratched(_photo(128))
    anomaly, params = anomaly_map(damaged, method="learned")
    assert anomaly.shape == (128, 128) and anomaly.min() >= 0 and anomaly.max() <= 1
    strict, loose = mask_from_anomaly(anomaly, 9, params=params), mask_from_anomaly(anomaly, 2, params=params)
    assert strict.threshold > loose.threshold and not (strict.mask & ~loose.mask).any()
    assert detect(damaged, method="learned", sensitivity=9).mask.sum() == strict.mask.sum()


def test_training_crops_saved_as_jpeg_keep_their_targets(photo_folder: Path) -> None:
    """``jpeg_share``: a crop saved as JPEG after its damage keeps the damage's target and weights;
    its pixels change (8-bit, blocks); at 0 the crops are drawn exactly as before (no extra draw)."""
    from dpm_desktop.core.datasets import ImageFolder, scan_folder
    from dpm_desktop.core.detector_train import DetectorTrainConfig, damaged_batch

    folder = ImageFolder(scan_folder(photo_folder, 48).usable, root=photo_folder, patch=48, channels=3)
    plain, jpeg = (damaged_batch(folder, 1, np.random.default_rng(3), DetectorTrainConfig(jpeg_share=share,
                                                                                         clean_share=0.0))
                   for share in (0.0, 1.0))
    assert torch.equal(plain[1], jpeg[1]) and torch.equal(plain[2], jpeg[2]) and plain[1].sum() > 0
    change = (jpeg[0] - plain[0]).abs()
    assert 0 < float(change.mean()) < 0.05 and torch.equal(jpeg[0], torch.round(jpeg[0] * 255) / 255)
    # Any share above 0 draws once per crop, shifting the crops after the first; 0 draws nothing.
    none, rare = (damaged_batch(folder, 2, np.random.default_rng(3), DetectorTrainConfig(jpeg_share=share,
                                                                                        clean_share=0.0))
                  for share in (0.0, 1e-12))
    assert torch.equal(none[0][0], plain[0][0]) and torch.equal(rare[0][0], plain[0][0])
    assert not torch.equal(none[0][1], rare[0][1])


def test_training_crops_of_varied_density_all_hold_damage(photo_folder: Path) -> None:
    """``density_min``: each crop's density drawn between it and ``density`` (clean_share 0: some
    damage on every crop, from a speck to many), so the crops' damaged share spreads widely."""
    from dpm_desktop.core.datasets import ImageFolder, scan_folder
    from dpm_desktop.core.detector_train import DetectorTrainConfig, damaged_batch

    folder = ImageFolder(scan_folder(photo_folder, 48).usable, root=photo_folder, patch=48, channels=3)
    cfg = DetectorTrainConfig(clean_share=0.0, density=3.0, density_min=0.05)
    _, targets, weights = damaged_batch(folder, 16, np.random.default_rng(5), cfg)
    share = targets.mean(dim=(1, 2, 3))
    # Damage on every crop: shown (target) or drawn where it does not show (weight 0: ambiguous).
    assert bool(((targets > 0) | (weights < 1)).flatten(1).any(dim=1).all())
    assert float(share.max()) > 5 * float(share[share > 0].min())
    fixed = damaged_batch(folder, 16, np.random.default_rng(5), DetectorTrainConfig(clean_share=0.0, density=3.0))[1]
    assert float(fixed.mean(dim=(1, 2, 3)).min()) > float(share.min())  # density 3 throughout: none as sparse


def test_spots_are_small_opaque_targets_and_absent_by_default() -> None:
    """``spot_rate``: small hard-edged opaque patches, each marked as damage where it shows; the
    default draws none (the same image and target as an explicit 0)."""
    from dpm_desktop.core.damage_synth import synth_damage

    clean = np.full((64, 64, 3), 0.5, np.float32)
    base = synth_damage(clean, np.random.default_rng(4), clean_share=0.0, grain_share=0.0, density=1e-6)
    again = synth_damage(clean, np.random.default_rng(4), clean_share=0.0, grain_share=0.0, density=1e-6,
                         spot_rate=0.0)
    assert np.array_equal(base.image, again.image) and np.array_equal(base.target, again.target)
    spotted = synth_damage(clean, np.random.default_rng(4), clean_share=0.0, grain_share=0.0, density=1e-6,
                           spot_rate=3e6)  # ~1 spot in a 64 px crop at this density
    spots = spotted.target & ~base.target
    assert 3 <= spots.sum() <= 24 * 24  # a 3-12 px window's patch
    assert float(spotted.alpha[spots].min()) >= 0.35  # opaque where it counts as damage
    # hard-edged: most of the patch is (nearly) fully opaque, unlike a soft stain's ramp
    assert float(np.mean(spotted.alpha[spots] > 0.55)) > 0.6


def test_a_short_training_run_saves_a_calibrated_detector(tmp_path: Path, photo_folder: Path) -> None:
    """The recipe end to end at toy size: the detector folder validates and loads, its totals count
    the steps and crops, and its calibration covers the clean crops with false alarms that fall as
    the threshold rises."""
    from dpm_desktop.core.detector_train import DetectorTrainConfig, train

    cfg = DetectorTrainConfig(data=str(photo_folder), out=str(tmp_path / "det"), steps=4, batch=2, patch=48,
                              val_crops=2, calib_crops=3, calib_patch=64, width1=4, width2=4, width3=4,
                              threads=1, workers=0, log_every=2, save_every=1000, val_percent=20.0)
    det = load_detector(train(cfg, log=lambda _: None))
    assert det.meta["training"]["steps"] == 4 and det.meta["training"]["crops"] == 8
    cal = det.calibration
    assert "provisional" not in cal and cal["megapixels"] == pytest.approx(3 * 64 * 64 / 1e6, abs=1e-3)
    fa = cal["false_px_per_mp"]
    assert fa == sorted(fa, reverse=True) and len(fa) == len(cal["logit"])


def test_the_combined_method_finds_a_drawn_scratch_and_re_thresholds(tmp_path: Path) -> None:
    """Learned logit + beta ln(likelihood anomaly), cut at the detector's combined calibration.
    Measured with the detector and beta of Dec 7: recall 0.22 at sensitivity 2, precision 0.90 (0.30
    / 0.96 before); on the clean crop at the default the learned half's corner blob, 14 px."""
    clean = _photo()
    damaged, truth = _scratched(clean)
    det = load_detector(bundled_detector_dir())
    res = detect(damaged, method="combined", sensitivity=2)
    assert res.params["method"] == "combined" and res.params["beta"] == det.combined_calibration["beta"]
    assert res.threshold == pytest.approx(score_threshold(det.combined_calibration, 2))
    found = (truth & dilate(res.mask, 1)).sum() / truth.sum()
    precise = (res.mask & dilate(truth, 2)).sum() / max(res.mask.sum(), 1)
    assert found > 0.15 and precise > 0.6, (found, precise)
    again = mask_from_anomaly(res.anomaly, 2, params=res.params)
    assert np.array_equal(again.mask, res.mask)
    assert detect(clean, method="combined").mask.sum() <= 24  # px on the undamaged crop, at the default
    # A detector without the combined calibration says so; a bad one is refused before loading.
    folder = _copy(tmp_path)
    meta = json.loads((folder / META_NAME).read_text())
    (folder / META_NAME).write_text(json.dumps({k: v for k, v in meta.items() if k != "calibration_combined"}))
    with pytest.raises(RestoreError, match="no calibration for the combined method"):
        detect(damaged, method="combined", detector=folder)
    bad = dict(meta, calibration_combined={**meta["calibration_combined"], "sigma": 0})
    (folder / META_NAME).write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="calibration_combined"):
        inspect_detector(folder)
    bad = dict(meta, calibration_combined_gray={**meta["calibration_combined_gray"], "logit": [3.0, 1.0]})
    (folder / META_NAME).write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="calibration_combined_gray"):
        inspect_detector(folder)


def test_gray_photos_are_cut_at_the_gray_calibration() -> None:
    """A one-channel photo is read by photo-gray, so the combined method cuts it at the calibration
    measured with photo-gray on gray crops (no note that the model differs from the calibration's)."""
    from dpm_desktop.core.imaging import to_gray

    det = load_detector(bundled_detector_dir())
    cal = det.meta["calibration_combined_gray"]
    damaged, truth = _scratched(_photo())
    res = detect(to_gray(damaged), method="combined", sensitivity=2)
    assert res.params["calibration"] == "calibration_combined_gray" and res.params["model"] == cal["model"]
    assert res.threshold == pytest.approx(score_threshold(cal, 2))
    assert not any("calibrated with" in n for n in res.notes)  # the gray photo model is the calibration's
    assert (res.mask & dilate(truth, 2)).sum() / max(res.mask.sum(), 1) > 0.4  # mostly on the damage
    again = mask_from_anomaly(res.anomaly, 2, params=res.params)  # re-cut at the same calibration
    assert again.threshold == res.threshold


def test_dpm_detect_defaults_to_the_combined_method(tmp_path: Path) -> None:
    """`dpm detect` with no --method: the combined method on the bundled models, its map picture
    black at the typical pixel and white where the mask was cut, the JSON naming the method."""
    import subprocess
    import sys

    from dpm_desktop.core.imaging import save_image

    damaged, truth = _scratched(_photo())
    src, mask, shown = tmp_path / "scan.png", tmp_path / "mask.png", tmp_path / "map.png"
    save_image(src, damaged)
    proc = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "detect", str(src), "-o", str(mask), "--json",
                           "--sensitivity", "2", "--map", str(shown)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["method"] == "combined" and summary["regions"] >= 1
    assert "note: the photo is grainy" in proc.stderr  # the sample, halved, keeps noise of ~10/255
    found = np.asarray(Image.open(mask)) > 0
    assert (found & dilate(truth, 2)).sum() / found.sum() > 0.4  # mostly on the drawn damage
    picture = np.asarray(Image.open(shown).convert("L"))
    assert np.median(picture) == 0 and np.median(picture[found & truth]) == 255


def test_a_grainy_photo_is_denoised_before_it_is_examined() -> None:
    """The app's sample at full size carries noise of sigma 20/255: grain hides drawn damage from the
    detector (measured: nothing found at sensitivity 1) unless the photo is denoised at its estimated
    level first, and the undamaged crop stays nearly clean. Measured with the w64 photo-rgb: 8 % of
    the damage at precision 0.59 and 0.08 % of the clean crop masked with the detector and beta of
    Dec 7 (31 % at 0.93, under 0.1 % before: on this photo the new detector is worse, on the
    bench's grainy photos better, F1 0.21 against 0.10)."""
    px = load_image(SAMPLE).pixels
    y, x = (px.shape[0] - 256) // 2, (px.shape[1] - 256) // 2
    clean = np.ascontiguousarray(px[y:y + 256, x:x + 256])
    damaged, truth = _scratched(clean)
    res = detect(damaged, sensitivity=1)
    assert res.params["denoised_first"] == pytest.approx(20, abs=3)
    found = (truth & dilate(res.mask, 1)).sum() / truth.sum()
    assert found > 0.04 and (res.mask & dilate(truth, 2)).sum() / max(res.mask.sum(), 1) > 0.4
    assert detect(clean, sensitivity=1).mask.mean() < 2e-3
    assert "denoised_first" not in detect(photo_like(64, 64, seed=1), method="learned").params  # no grain
    grainy = detect(damaged, sensitivity=1, degrain=False)  # the same photo examined as it is
    assert "denoised_first" not in grainy.params
    assert (truth & dilate(grainy.mask, 1)).sum() / truth.sum() < found / 2

"""Training the learned defect detector (issue 17) on synthetic damage: the recipe in one place.

Clean crops come from a folder of photos (the project's data/photos; never the benchmark photos),
read by the trainer's own ImageFolder; damage is drawn on them by core/damage_synth.py (a share of
crops stays clean: negatives). The loss is BCE on the visible damage plus a soft Dice term, with the
ambiguous pixels (faint rims, invisible damage) weighted 0. AdamW, warm-up then cosine decay,
weights averaged (EMA) for the saved detector.

At the end the threshold is calibrated on clean crops of the held-out photos: for a grid of logit
thresholds, the masked pixels per megapixel of the shaped mask (detect.shape_mask, as detect()
shapes it), stored in detector.json; defect_net.probability_threshold turns a sensitivity into a
threshold with it. Run: ``python scripts/train_detector.py --help``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .damage_synth import jpeg_round_trip, synth_damage
from .datasets import ImageFolder, scan_folder, split_by_file
from .defect_net import DefectNet, load_detector, logits, save_detector
from .device import autocast_for, pick_device, uses_bf16
from .imaging import to_gray
from .train import ema_update, warmup_cosine

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class DetectorTrainConfig:
    data: str = "data/photos"
    out: str = "build/out/defects-small"  # git-ignored; the shipped copy is models/defects-small
    name: str = "defects-small"
    steps: int = 100_000
    minutes: float = 24.0  # wall-clock budget; training stops at whichever of steps / minutes comes first
    batch: int = 12
    patch: int = 80
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 30
    ema_decay: float = 0.99
    pos_weight: float = 4.0  # damage is ~3 % of the pixels: without it the net sits at "nothing" for long
    hard_share: float = 0.0  # the most confident share of the negatives far from damage, given extra loss
    hard_weight: float = 1.0
    gray_share: float = 0.2  # crops turned gray (old black-and-white prints)
    clean_share: float = 0.3  # crops left undamaged
    density: float = 3.0  # damage elements per area (x damage_synth's base rates): ~3 % of a damaged crop
    # Above 0: each crop's density drawn log-uniformly in [density_min, density] (nearly clean crops
    # with one speck to dense ones). With clean_share 0 every crop then holds some damage, so a
    # detector whose field spans the crop cannot learn "is anything damaged here" (the context
    # blocks' failure, models/defects-medium/README.md). 0: one density, the shipped recipes' stream.
    density_min: float = 0.0
    # Share of crops saved as JPEG after the damage (quality 60-95), as most scans reach us. Unseen in
    # training, JPEG's softened specks cost the 4x detector (widths 24 / 48 / 64) half its recall of
    # JPEG'd film dust (models/defects-small/README.md, Dec 7). 0: defects-small's recipe;
    # models/defects-medium trained its later stretches at 0.5, models/defects-wide all of its own.
    jpeg_share: float = 0.0
    # Small opaque spots per 10,000 px (x density; damage_synth's "spot"). 0: defects-small's recipe,
    # which found none of the bench's blotches; defects-medium's later stretches used 0.5 (its card).
    spot_rate: float = 0.0
    val_percent: float = 10.0
    val_crops: int = 48
    calib_crops: int = 160
    calib_patch: int = 256
    # Which photos the false alarms are counted on: "held-out" (the validation photos, which the
    # detector never trained on) or "training". On training photos the count is biased low, the more
    # the larger the detector: a 4x larger one's combined default, calibrated to 100 px / MP there,
    # masked 281 px / MP of the clean bench photos, 94 when calibrated on held-out photos
    # (defects-small, calibrated on training photos: 119; models/defects-small/README.md).
    calib_photos: str = "held-out"
    width1: int = 12
    width2: int = 24
    width3: int = 32
    dilations: int = 3
    # Context blocks at quarter resolution (defect_net.ContextBlock, dilations 8, 16, ...): each widens
    # the receptive field so a faint stretch of a long scratch is seen with the rest of it. A detector
    # without them can be continued with them (--init): the new blocks start as the identity.
    context: int = 0
    threads: int = 2
    seed: int = 0
    workers: int = 1  # processes drawing the damaged crops (the drawing costs as much as the step)
    log_every: int = 25
    save_every: int = 250
    init: str = ""  # a detector folder to continue from (its steps and thread-hours are added up)


def damaged_batch(folder: ImageFolder, n: int, rng: np.random.Generator, cfg: DetectorTrainConfig,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images N x 3 x P x P, targets N x 1 x P x P, weights N x 1 x P x P) of freshly damaged crops."""
    xs, ys, ws = [], [], []
    for _ in range(n):
        clean = folder.crop(rng)
        gray = rng.random() < cfg.gray_share
        if gray:
            clean = to_gray(clean)
        density = cfg.density
        if cfg.density_min > 0:
            density = float(np.exp(rng.uniform(np.log(cfg.density_min), np.log(cfg.density))))
        d = synth_damage(clean, rng, clean_share=cfg.clean_share, density=density, spot_rate=cfg.spot_rate)
        img = np.repeat(d.image, 3, axis=2) if gray else d.image
        if cfg.jpeg_share > 0 and rng.random() < cfg.jpeg_share:  # no draw at 0: the shipped recipe's stream
            img = jpeg_round_trip(img, int(rng.integers(60, 96)))
        xs.append(img.transpose(2, 0, 1))
        ys.append(d.target[None].astype(np.float32))
        ws.append(d.weight[None])
    return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(ws)))


class _DamagedBatches(torch.utils.data.IterableDataset):
    """Endless damaged batches, drawn in DataLoader worker processes so that the drawing (Python and
    Pillow, ~0.2 s a batch) overlaps the training step; each worker has its own seed. Each batch
    carries (worker id, the worker's CPU seconds so far), so the thread-hours count the drawing."""

    def __init__(self, folder: ImageFolder, cfg: DetectorTrainConfig, seed: int) -> None:
        self.folder, self.cfg, self.seed = folder, cfg, seed

    def __iter__(self) -> Iterator[tuple[Batch, tuple[int, float]]]:
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else -1
        rng = np.random.default_rng([self.seed, max(wid, 0)])
        c0 = time.process_time()
        while True:
            batch = damaged_batch(self.folder, self.cfg.batch, rng, self.cfg)
            yield batch, (wid, time.process_time() - c0 if wid >= 0 else 0.0)


def batches(folder: ImageFolder, cfg: DetectorTrainConfig, seed: int) -> Iterator[tuple[Batch, tuple[int, float]]]:
    """An iterator of training batches: from ``cfg.workers`` processes, or in this one if 0."""
    data = _DamagedBatches(folder, cfg, seed)
    if cfg.workers <= 0:
        return iter(data)
    return iter(torch.utils.data.DataLoader(data, batch_size=None, num_workers=cfg.workers, prefetch_factor=4,
                                            persistent_workers=True))


def loss_fn(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor, pos_weight: float = 1.0,
            hard_share: float = 0.0, hard_weight: float = 1.0) -> torch.Tensor:
    """BCE + 0.5 soft Dice over the weighted pixels; with ``hard_share`` > 0, plus ``hard_weight`` x
    the BCE of the top ``hard_share`` of the negatives that lie more than 3 px from any damage or
    ambiguous pixel (online hard-negative mining). The shipped default sensitivity lives in the far
    tail of the clean pixels' logits (~1e-4 of them masked), which the averaged BCE barely sees."""
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none", pos_weight=torch.tensor(pos_weight))
    bce = (bce * w).sum() / w.sum().clamp(min=1)
    p = torch.sigmoid(z) * w
    dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + (y * w).sum() + 1)
    loss = bce + 0.5 * dice
    if hard_share > 0:
        near = F.max_pool2d(((y > 0) | (w == 0)).float(), 7, stride=1, padding=3) > 0
        neg = z[~near]
        if neg.numel():
            hard = neg.topk(max(1, int(hard_share * neg.numel()))).values
            loss = loss + hard_weight * F.softplus(hard).mean()  # softplus(z) = BCE of z against 0
    return loss


def _f1(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    valid = w > 0
    tp = float((pred & y & valid).sum())
    return 2 * tp / max(float((pred & valid).sum() + (y & valid).sum()), 1.0)


def validate(net: DefectNet, batch: Batch, pos_weight: float) -> dict[str, float]:
    x, y, w = batch
    with torch.inference_mode():
        z = net(x)
        loss = float(loss_fn(z, y, w, pos_weight))
    p = z.numpy()[:, 0] > 0
    return {"val_loss": loss, "val_f1_at_0.5": _f1(p, y.numpy()[:, 0] > 0.5, w.numpy()[:, 0])}


LOGIT_GRID = np.round(np.arange(-2.0, 14.01, 0.25), 2)  # a confident detector reaches 100 px / MP only near 10
COMBINED_GRID = np.round(np.arange(-10.0, 80.01, 0.5), 2)  # logit + beta ln(anomaly): wider than the logit alone
# Chosen on the detector's held-out photos and the app's grainy sample (models/defects-small/README.md;
# 12 until Dec 7).
COMBINED_BETA = 8.0


def calibration_crops(folder: ImageFolder, cfg: DetectorTrainConfig) -> Iterator[np.ndarray]:
    """The calibration's ``cfg.calib_crops`` crops of ``folder`` (``calibration_set``), a share made
    gray (as 3 equal channels); the same crops for the same ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed + 7)
    for _ in range(cfg.calib_crops):
        crop = folder.crop(rng)
        if rng.random() < cfg.gray_share:
            crop = np.repeat(to_gray(crop), 3, axis=2)
        yield crop


def calibrate(net: DefectNet, folder: ImageFolder, cfg: DetectorTrainConfig,
              score: Callable[[np.ndarray], np.ndarray] | None = None,
              grid: np.ndarray = LOGIT_GRID) -> dict[str, Any]:
    """False alarms (shaped-mask px per megapixel) on clean crops for a grid of thresholds of the
    learned logit, or of ``score(crop)`` when given."""
    from .detect import shape_mask

    counts = np.zeros(len(grid))
    pixels = 0
    for crop in calibration_crops(folder, cfg):
        z = score(crop) if score is not None else logits(net, crop)
        pixels += z.size
        for i, t in enumerate(grid):
            raw = z > t
            if not raw.any():
                break  # higher thresholds find nothing either
            counts[i] += shape_mask(raw).sum()
    fa = counts / (pixels / 1e6)
    return {"logit": grid.tolist(), "false_px_per_mp": np.round(fa, 3).tolist(), "crops": cfg.calib_crops,
            "photos": cfg.calib_photos,
            "crop_px": cfg.calib_patch, "megapixels": round(pixels / 1e6, 3),
            "mask": "detect.shape_mask defaults (min_pixels 2, closing, margin 1)"}


PhotoSets = tuple[list[Path], list[Path], dict[str, Any]]  # training photos, held-out photos, crop settings


def _photo_sets(cfg: DetectorTrainConfig) -> PhotoSets:
    """The training and validation photos (split by file) and the crop settings every set uses."""
    root = Path(cfg.data)
    train_paths, val_paths = split_by_file(scan_folder(root, cfg.calib_patch).usable, root, cfg.val_percent)
    common = {"root": root, "channels": 3, "min_scale": 0.35, "max_side": 1536, "cache_mb": 1200}
    return train_paths, val_paths, common


def calibration_set(cfg: DetectorTrainConfig, sets: PhotoSets | None = None) -> ImageFolder:
    """Clean crops of ``cfg.calib_photos``; ``sets``: the _photo_sets already scanned, if any."""
    train_paths, val_paths, common = sets or _photo_sets(cfg)
    if cfg.calib_photos not in ("held-out", "training"):
        raise ValueError(f"calib_photos must be held-out or training, not {cfg.calib_photos!r}")
    paths = val_paths if cfg.calib_photos == "held-out" and val_paths else train_paths
    return ImageFolder(paths, patch=cfg.calib_patch, seed=cfg.seed + 2, **common)


def calibrate_combined(folder: Path, cfg: DetectorTrainConfig, model: str | None = None,
                       beta: float = COMBINED_BETA, device: str = "cpu", gray: bool = False) -> dict[str, Any]:
    """Measure the combined method's calibration (detect.combined_score of this detector and the
    photo model, the likelihood at detect.DEFAULT_SIGMA) on clean crops (``cfg.calib_photos``), and
    write it into the detector's JSON as ``calibration_combined``; with ``gray``, on the crops made
    gray and one-channel (the photo model then defaults to photo-gray), as
    ``calibration_combined_gray``. Returns it."""
    from .defect_net import COMBINED_KEYS
    from .detect import DEFAULT_SIGMA, combined_map
    from .model_cache import get_model

    det = load_detector(folder)
    channels = 1 if gray else 3
    ckpt = get_model(model, channels=channels, device=pick_device(device))
    calib_set = calibration_set(cfg)

    dev = ckpt.diffusion.base_betas.device

    def score(crop: np.ndarray) -> np.ndarray:
        return combined_map(crop[:, :, :channels], det, model=ckpt, beta=beta, sigma=DEFAULT_SIGMA, device=dev)[0]

    crops_cfg = replace(cfg, gray_share=1.0) if gray else cfg  # gray crops: all channels alike
    cal = {**calibrate(det.net, calib_set, crops_cfg, score, COMBINED_GRID), "beta": beta, "sigma": DEFAULT_SIGMA,
           "model": ckpt.name, "model_sha256": ckpt.meta["sha256"]}
    _write_calibration(folder, COMBINED_KEYS[channels], cal)
    return cal


def recalibrate_learned(folder: Path, cfg: DetectorTrainConfig) -> dict[str, Any]:
    """Measure the learned logit's calibration again (weights unchanged) on ``cfg``'s crops and
    write it into the detector's JSON as ``calibration``. Returns it."""
    det = load_detector(folder)
    cal = calibrate(det.net, calibration_set(cfg), cfg)
    _write_calibration(folder, "calibration", cal)
    return cal


def _write_calibration(folder: Path, key: str, cal: dict[str, Any]) -> None:
    """Put a calibration into the detector's JSON under ``key`` (atomically); the result must validate."""
    from .atomic import atomic_write_json
    from .defect_net import META_NAME

    meta = json.loads((Path(folder) / META_NAME).read_text())
    atomic_write_json(Path(folder) / META_NAME, {**meta, key: cal})
    load_detector(folder)


def train(cfg: DetectorTrainConfig, log: Callable[[str], None] = print) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = _photo_sets(cfg)
    train_paths, val_paths, common = sets
    train_set = ImageFolder(train_paths, patch=cfg.patch, seed=cfg.seed, **common)
    val_set = ImageFolder(val_paths or train_paths, patch=cfg.patch, seed=cfg.seed + 1, **common)
    calib_set = calibration_set(cfg, sets)  # the photos scanned once
    train_batches = batches(train_set, cfg, cfg.seed)
    val_batch = damaged_batch(val_set, cfg.val_crops, np.random.default_rng(cfg.seed + 3), cfg)

    def build() -> DefectNet:
        return DefectNet(3, cfg.width1, cfg.width2, cfg.width3, cfg.dilations,
                         context=cfg.context).to(memory_format=torch.channels_last)

    net, ema = build(), build()
    before: dict[str, Any] = {}
    if cfg.init:
        start = load_detector(Path(cfg.init))
        if start.net.cfg["context"] > cfg.context:
            raise ValueError(f"{cfg.init} has {start.net.cfg['context']} context blocks; --context must not be fewer")
        keys = net.load_state_dict(start.net.state_dict(), strict=False)
        if keys.unexpected_keys or any(".wide." not in k and ".mix." not in k for k in keys.missing_keys):
            raise ValueError(f"{cfg.init}: its network differs from this one in more than new context blocks")
        tr = start.meta["training"]
        before = {"steps": tr["steps"], "crops": tr["crops"], "wall_time_s": tr["wall_time_s"],
                  "cpu_thread_hours": tr["cpu_thread_hours"], "from": cfg.init}
    else:
        with torch.no_grad():
            net.head.bias.fill_(-3.0)  # start at the prior (a few % damaged), not at p = 0.5
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    dev = pick_device("cpu")
    autocast = autocast_for(dev, "auto")  # bf16 where the CPU has it natively (as the detector runs)
    params = sum(p.numel() for p in net.parameters())
    log(json.dumps({"event": "start", "parameters": params, "train_photos": len(train_paths),
                    "val_photos": len(val_paths), "config": asdict(cfg)}))
    logf = open(out / "log.jsonl", "a")  # noqa: SIM115 - kept open for the whole run
    t0, c0 = time.monotonic(), time.process_time()
    worker_cpu: dict[int, float] = {}  # CPU seconds of each drawing process so far
    step, history = 0, []
    while step < cfg.steps and time.monotonic() - t0 < cfg.minutes * 60:
        frac = max(step / cfg.steps, (time.monotonic() - t0) / (cfg.minutes * 60))
        lr = cfg.lr * warmup_cosine(step, frac, cfg.warmup, 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        (x, y, w), (wid, cpu) = next(train_batches)
        worker_cpu[wid] = cpu
        net.train()
        with autocast():
            z = net(x.contiguous(memory_format=torch.channels_last))
        loss = loss_fn(z.float(), y, w, cfg.pos_weight, cfg.hard_share, cfg.hard_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        ema_update(ema, net, min(cfg.ema_decay, (1 + step) / (10 + step)))
        if step % cfg.log_every == 0 or step == 1:
            rec: dict[str, Any] = {"step": step, "loss": round(loss.item(), 4), "lr": round(lr, 6),
                                   "elapsed_s": round(time.monotonic() - t0, 1)}
            if step % (cfg.log_every * 4) == 0:
                rec.update({k: round(v, 4) for k, v in validate(ema.eval(), val_batch, cfg.pos_weight).items()})
                history.append(rec)
            print(json.dumps(rec), file=logf, flush=True)
            log(json.dumps(rec))
        if step % cfg.save_every == 0:
            _save(ema, cfg, out, step, t0, c0, history, dev, params, len(train_paths), None, before=before,
                  worker_cpu_s=sum(worker_cpu.values()))
    final = validate(ema.eval(), val_batch, cfg.pos_weight)
    log(json.dumps({"event": "calibrating", **final}))
    calibration = calibrate(ema.eval(), calib_set, cfg)
    folder = _save(ema, cfg, out, step, t0, c0, history, dev, params, len(train_paths), calibration, final,
                   before, worker_cpu_s=sum(worker_cpu.values()))
    log(json.dumps({"event": "done", "folder": str(folder), "steps": step}))
    logf.close()
    return folder


def _save(ema: DefectNet, cfg: DetectorTrainConfig, out: Path, step: int, t0: float, c0: float,
          history: list[dict[str, Any]], dev: torch.device, params: int, photos: int,
          calibration: dict[str, Any] | None, final: dict[str, float] | None = None,
          before: dict[str, Any] | None = None, worker_cpu_s: float = 0.0) -> Path:
    """The detector folder; with ``before`` (a run continued from another detector) the totals
    include that run's steps, crops, wall time and thread-hours. The thread-hours are this process's
    CPU time plus the drawing processes' (``worker_cpu_s``)."""
    b = before or {}
    wall = time.monotonic() - t0
    hours = (time.process_time() - c0 + worker_cpu_s) / 3600
    meta = {"name": cfg.name,
            "description": "Learned defect detector: scratches, fibres, dust and stains as per-pixel logits",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "training": {"steps": step + b.get("steps", 0), "crops": step * cfg.batch + b.get("crops", 0),
                         "wall_time_s": round(wall + b.get("wall_time_s", 0), 1),
                         "cpu_thread_hours": round(hours + b.get("cpu_thread_hours", 0), 3), "device": str(dev),
                         "precision": "bf16 autocast" if uses_bf16(dev, "auto") else "float32",
                         "this_run": {"steps": step, "wall_time_s": round(wall, 1),
                                      "cpu_thread_hours": round(hours, 3),
                                      "of_which_drawing_damage": round(worker_cpu_s / 3600, 3)},
                         "continued_from": b or None,
                         "parameters": params, "photos": photos, "data": cfg.data,
                         "generator": "dpm_desktop.core.damage_synth.synth_damage", "settings": asdict(cfg),
                         "history": history},
            "metrics": final or {},
            # Until the end of training a placeholder: it is replaced by the measured calibration.
            "calibration": calibration or {"logit": [0.0, 1.0], "false_px_per_mp": [1e6, 0.0], "provisional": True}}
    folder = out if calibration is not None else out / "latest"
    return save_detector(ema, meta, folder)


"""The learned defect detector (issue 17): a small fully-convolutional net, photo in, per-pixel damage
logits out, and its self-describing folder (``detector.safetensors`` + ``detector.json``).

The network is a three-level UNet: full resolution (width1) for 1 px detail, half (width2), and a
quarter (width3) with dilated convolutions for context (receptive field ~77 px with the default
dilations 1, 2, 4), so a thin line in smooth sky and the same line in a texture of thin lines can
be told apart. ~12.6 k multiply-adds per pixel and 60 k parameters at widths 12 / 24 / 32.
Optional context blocks (``context``, ContextBlock) add dilated convolutions at quarter resolution
(dilations 8, 16, ...) that see ~270 px with two of them; each tile is computed with that much more
context (tile_margin).

The folder's names differ from a diffusion checkpoint's (model.json), so the model registry never
lists a detector as a photo model. Loading validates the JSON (format, version, every size field
against limits.DETECTOR_LIMITS), the weights' sha256, and every tensor's name and shape against the
network the JSON describes, built on the "meta" device, before any weights are read; nothing is
ever unpickled.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .atomic import atomic_write_json
from .checkpoint import CheckpointError, _refuse_foreign, read_tensor_table, save_tensors_atomic, sha256_file
from .device import autocast_for
from .imaging import to_gray
from .limits import DETECTOR_LIMITS
from .modes import DEFAULT_DETECTOR

FORMAT = "dpm-desktop-defect-detector"
FORMAT_VERSION = 1
WEIGHTS_NAME = "detector.safetensors"
META_NAME = "detector.json"
# The combined method's calibrations by the photo's channels (scripts/calibrate_detector.py [--gray]).
COMBINED_KEYS = {3: "calibration_combined", 1: "calibration_combined_gray"}
STRIDE = 4  # the network's total downsampling: inputs are padded to a multiple of it
MARGIN = 48  # px of context around each tile (>= the receptive field's radius, rounded to STRIDE)
OPTIONAL_FIELDS = {"context": 0}  # network fields that older detector folders lack, with their value
MAX_TILE_MARGIN = 512  # px: a detector.json whose context blocks would need more is refused


def tile_margin(cfg: dict[str, Any]) -> int:
    """Px of context around each tile for a network: MARGIN (the three levels, radius ~39 px) plus
    what each context block's dilated 3 x 3 convolution at quarter resolution adds (4 x its
    dilation), so a tile's logits equal the whole photo's."""
    return MARGIN + STRIDE * sum(context_dilations(cfg.get("context", 0), cfg["max_dilation"]))


def context_dilations(context: int, max_dilation: int) -> list[int]:
    return [max_dilation * 2 ** (i + 1) for i in range(context)]


class ContextBlock(nn.Module):
    """x + 1x1(relu(3x3 dilated(x))): widens the receptive field at quarter resolution. The 1x1 starts
    at zero, so a detector continued with new blocks (--init) starts from its old logits exactly."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.wide = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv2d(width, width, 1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.relu(self.wide(x)))


class DefectNet(nn.Module):
    def __init__(self, in_channels: int = 3, width1: int = 12, width2: int = 24, width3: int = 32,
                 dilations: int = 3, max_dilation: int = 4, context: int = 0) -> None:
        super().__init__()
        self.cfg = {"in_channels": in_channels, "width1": width1, "width2": width2, "width3": width3,
                    "dilations": dilations, "max_dilation": max_dilation, "context": context}

        def conv(a: int, b: int, stride: int = 1, dil: int = 1) -> nn.Conv2d:
            return nn.Conv2d(a, b, 3, stride=stride, padding=dil, dilation=dil)

        self.stem = nn.Sequential(conv(in_channels, width1), nn.ReLU(), conv(width1, width1), nn.ReLU())
        self.down1 = nn.Sequential(conv(width1, width2, 2), nn.ReLU(), conv(width2, width2), nn.ReLU())
        layers: list[nn.Module] = [conv(width2, width3, 2), nn.ReLU()]
        for i in range(dilations):
            layers += [conv(width3, width3, dil=min(2**i, max_dilation)), nn.ReLU()]
        layers += [ContextBlock(width3, d) for d in context_dilations(context, max_dilation)]
        self.down2 = nn.Sequential(*layers)
        self.up2 = nn.Sequential(conv(width3 + width2, width2), nn.ReLU())
        self.up1 = nn.Sequential(conv(width2 + width1, width1), nn.ReLU())
        self.head = nn.Conv2d(width1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x C x H x W in [0, 1], H and W multiples of STRIDE; returns N x 1 x H x W logits."""
        s = self.stem(x - 0.5)
        d1 = self.down1(s)
        d2 = self.down2(d1)
        u2 = self.up2(torch.cat([F.interpolate(d2, size=d1.shape[-2:], mode="nearest"), d1], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, size=s.shape[-2:], mode="nearest"), s], 1))
        return self.head(u1)


# ----------------------------------------------------------------------------------------------
# Running on a whole photo


def fit_input(px: np.ndarray, in_channels: int) -> np.ndarray:
    """H x W x C float32 in [0, 1] -> the net's channels (gray copied to RGB, RGB averaged to gray)."""
    c = px.shape[2]
    if c == in_channels:
        return px
    if c == 1 and in_channels == 3:
        return np.repeat(px, 3, axis=2)
    if c == 3 and in_channels == 1:
        return to_gray(px)  # as the trainer turns crops gray
    raise ValueError(f"the detector takes {in_channels} channels; images with {c} are not supported")


def _padded(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    # Reflection needs the pad below the size; replicate is the fallback for tiny inputs.
    h, w = x.shape[-2:]
    mode = "reflect" if max(top, bottom) < h and max(left, right) < w else "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode)


def _tile_edges(n: int, tile: int, margin: int = MARGIN) -> list[int]:
    """Tile boundaries 0, tile, 2 tile, ..., n; a last tile narrower than its context would be padded
    by more than its own size (where reflection falls back to replication, so the result would depend
    on the tiling): it is folded into the one before."""
    edges = list(range(0, n, tile))
    if len(edges) > 1 and n - edges[-1] < margin + STRIDE:
        edges.pop()
    return [*edges, n]


def logits(net: DefectNet, px: np.ndarray, *, tile: int = 1024,
           check: Callable[[], None] | None = None, step: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Per-pixel damage logits (H x W float32) of a photo of any size: tiles of ``tile`` px (a multiple
    of STRIDE, aligned to it) each computed with tile_margin px of context and cropped, so the result does
    not depend on the tiling. In bf16 where the CPU has it natively (avx512_bf16 / AMX: measured 4x
    faster on 1024 px, logits within 0.15 of float32's), else in float32."""
    tile = max(STRIDE, tile // STRIDE * STRIDE)
    x = torch.from_numpy(np.ascontiguousarray(fit_input(px, net.cfg["in_channels"]).transpose(2, 0, 1)))[None]
    h, w = x.shape[-2:]
    out = np.empty((h, w), np.float32)
    m = tile_margin(net.cfg)
    ys, xs = _tile_edges(h, tile, m), _tile_edges(w, tile, m)
    total, done = (len(ys) - 1) * (len(xs) - 1), 0
    with torch.inference_mode(), autocast_for(torch.device("cpu"), "auto")():
        for y0, y1 in itertools.pairwise(ys):
            for x0, x1 in itertools.pairwise(xs):
                if check is not None:
                    check()
                # Context: m px each side where the photo has it, else reflected; the bottom/right
                # rounded up so the size is a multiple of STRIDE.
                a0, b0 = max(0, y0 - m), max(0, x0 - m)
                a1, b1 = min(h, y1 + m), min(w, x1 + m)
                piece = x[..., a0:a1, b0:b1]
                top, left = m - (y0 - a0), m - (x0 - b0)
                bottom, right = m - (a1 - y1), m - (b1 - x1)
                bottom += (-(top + (a1 - a0) + bottom)) % STRIDE
                right += (-(left + (b1 - b0) + right)) % STRIDE
                piece = _padded(piece, top, bottom, left, right).contiguous(memory_format=torch.channels_last)
                z = net(piece)[0, 0]
                out[y0:y1, x0:x1] = z[m:m + y1 - y0, m:m + x1 - x0].float().numpy()
                done += 1
                if step is not None:
                    step(done, total)
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1 + np.tanh(0.5 * z))).astype(np.float32)  # no overflow warnings for large |z|


# ----------------------------------------------------------------------------------------------
# Sensitivity: a documented false-alarm rate on clean photos

FALSE_ALARMS_AT_6 = 100.0  # px / MP of the shaped mask on clean photos at sensitivity 6 (the default)


def false_alarm_budget(sensitivity: float) -> float:
    """Masked px per megapixel that the detector proposes on clean photos at this sensitivity, as
    calibrated on clean crops of its training photos: 100 at 6, doubling with each step down
    (3,200 at 1), halving with each step up (~0.4 at 14)."""
    return FALSE_ALARMS_AT_6 * 2.0 ** (6.0 - sensitivity)


def score_threshold(calibration: dict[str, Any], sensitivity: float) -> float:
    """The score (in the calibration's own units: the learned logit, or the combined score) whose
    shaped mask kept the false alarms on the calibration crops within false_alarm_budget(sensitivity);
    interpolated in log rate between the calibrated thresholds, clamped to the calibrated range."""
    z = np.asarray(calibration["logit"], np.float64)  # increasing
    fa = np.maximum(np.asarray(calibration["false_px_per_mp"], np.float64), 1e-3)  # non-increasing
    target = math.log(max(false_alarm_budget(sensitivity), 1e-3))
    lf = np.log(fa)
    if target >= lf[0]:
        return float(z[0])
    if target <= lf[-1]:
        return float(z[-1])
    i = int(np.nonzero(lf <= target)[0][0])  # first threshold within the budget
    f = (lf[i - 1] - target) / max(lf[i - 1] - lf[i], 1e-9)
    return float(z[i - 1] + f * (z[i] - z[i - 1]))


def probability_threshold(calibration: dict[str, Any], sensitivity: float) -> float:
    """score_threshold of the learned logit, as the probability that a learned map is cut at."""
    return float(1 / (1 + math.exp(-score_threshold(calibration, sensitivity))))


# ----------------------------------------------------------------------------------------------
# The folder


@dataclass
class Detector:
    net: DefectNet
    meta: dict[str, Any]
    folder: Path

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.folder.name))

    @property
    def calibration(self) -> dict[str, Any]:
        return self.meta["calibration"]

    @property
    def combined_calibration(self) -> dict[str, Any] | None:
        """The calibration of the combined score (detect.py, method "combined") on colour photos, when
        measured."""
        return self.meta.get(COMBINED_KEYS[3])

    def combined_key(self, channels: int) -> str:
        """The JSON key of the combined calibration for a photo of this many channels: gray photos
        are read by another photo model (photo-gray), so they have their own where it was measured."""
        key = COMBINED_KEYS[1 if channels == 1 else 3]
        return key if key in self.meta else COMBINED_KEYS[3]


def save_detector(net: DefectNet, meta: dict[str, Any], folder: Path) -> Path:
    """Weights, then the JSON with their sha256, each written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors_atomic(dict(net.state_dict()), folder / WEIGHTS_NAME, metadata={"format": FORMAT})
    atomic_write_json(folder / META_NAME, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                           **meta, "network": dict(net.cfg),
                                           "sha256": sha256_file(folder / WEIGHTS_NAME)})
    return folder


def bundled_detector_dir(name: str = DEFAULT_DETECTOR) -> Path:
    from .registry import bundled_models_dir

    return bundled_models_dir() / name


def resolve_detector(name_or_path: str | Path | None) -> Path:
    """A detector folder from a path, or a name among the bundled and user models folders."""
    from .registry import user_models_dir

    name = str(name_or_path or DEFAULT_DETECTOR)
    p = Path(name)
    if p.is_dir():
        return p
    for root in (bundled_detector_dir(name).parent, user_models_dir()):
        if (root / name / META_NAME).is_file():
            return root / name
    raise CheckpointError(f"{name}: no such defect detector (a folder with {META_NAME} and {WEIGHTS_NAME})")


def _check_meta(meta: Any, meta_path: Path) -> dict[str, Any]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a DPM Desktop defect detector (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{meta_path}: detector format version {meta.get('format_version')!r} is not "
                              f"supported (this DPM Desktop reads version {FORMAT_VERSION})")
    cfg = meta.get("network")
    if not isinstance(cfg, dict) or not set(DETECTOR_LIMITS) - set(OPTIONAL_FIELDS) <= set(cfg) <= set(DETECTOR_LIMITS):
        raise CheckpointError(f"{meta_path}: network fields must be {sorted(DETECTOR_LIMITS)} "
                              f"({', '.join(sorted(OPTIONAL_FIELDS))} optional)")
    meta["network"] = cfg = {**OPTIONAL_FIELDS, **cfg}
    for key, (lo, hi) in DETECTOR_LIMITS.items():
        v = cfg[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise CheckpointError(f"{meta_path}: network field {key!r} = {v!r} is outside {lo}..{hi}")
    if tile_margin(cfg) > MAX_TILE_MARGIN:
        raise CheckpointError(f"{meta_path}: the network's context blocks reach {tile_margin(cfg)} px, more than "
                              f"{MAX_TILE_MARGIN} (each tile would need that much context)")
    if not _valid_calibration(meta.get("calibration")):
        raise CheckpointError(f"{meta_path}: calibration must list increasing finite logits and their "
                              "false alarms per megapixel (2..1000 pairs)")
    for key in COMBINED_KEYS.values():
        combined = meta.get(key)
        if combined is not None and not (_valid_calibration(combined) and _finite(combined.get("beta"))
                                         and _finite(combined.get("sigma")) and 0 < combined["sigma"] <= 80):
            raise CheckpointError(f"{meta_path}: {key} must list increasing finite scores and their false alarms "
                                  "per megapixel (2..1000 pairs), with a finite beta and sigma in (0, 80]")
    if not isinstance(meta.get("sha256"), str):
        raise CheckpointError(f"{meta_path}: metadata field 'sha256' is missing")
    return meta


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _valid_calibration(cal: Any) -> bool:
    if not isinstance(cal, dict) or not all(isinstance(cal.get(k), list) for k in ("logit", "false_px_per_mp")):
        return False
    z, fa = cal["logit"], cal["false_px_per_mp"]
    return (2 <= len(z) == len(fa) <= 1000 and all(_finite(v) for v in [*z, *fa])
            and all(a < b for a, b in itertools.pairwise(z)) and all(v >= 0 for v in fa))


def inspect_detector(folder: Path) -> dict[str, Any]:
    """Validate a detector folder without reading its weights; returns the metadata."""
    folder = Path(folder)
    meta_path, weights_path = folder / META_NAME, folder / WEIGHTS_NAME
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: missing (a defect detector needs {META_NAME} and {WEIGHTS_NAME})")
        _refuse_foreign(p)
    try:
        meta = _check_meta(json.loads(meta_path.read_bytes().decode("utf-8")), meta_path)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{meta_path}: corrupt metadata, not valid JSON ({e})") from None
    table = read_tensor_table(weights_path)
    with torch.device("meta"):
        expected = DefectNet(**meta["network"]).state_dict()
    if set(table) != set(expected):
        missing, unexpected = sorted(set(expected) - set(table))[:3], sorted(set(table) - set(expected))[:3]
        raise CheckpointError(f"{weights_path}: weights do not fit the network in {META_NAME} "
                              f"(missing {missing}, unexpected {unexpected})")
    for k, (dtype, shape) in table.items():
        if shape != tuple(expected[k].shape) or dtype not in ("F16", "BF16", "F32"):
            raise CheckpointError(f"{weights_path}: tensor {k} is {dtype} {shape}, the network needs "
                                  f"float {tuple(expected[k].shape)}")
    return meta


def load_detector(folder: Path) -> Detector:
    folder = Path(folder)
    meta = inspect_detector(folder)
    weights = folder / WEIGHTS_NAME
    if sha256_file(weights) != meta["sha256"]:
        raise CheckpointError(f"{weights}: weights do not match the sha256 in {META_NAME} (corrupt or altered file)")
    try:
        tensors = load_file(str(weights), device="cpu")
    except SafetensorError as e:
        raise CheckpointError(f"{weights}: corrupt safetensors file ({e})") from None
    for k, v in tensors.items():
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{weights}: tensor {k} holds NaN or infinite values")
    net = DefectNet(**meta["network"])
    net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    net.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    return Detector(net, meta, folder)


_cache: dict[tuple[str, tuple[int, int]], Detector] = {}
_lock = threading.Lock()


def get_detector(detector: str | Path | Detector | None = None) -> Detector:
    """A detector loaded once per folder (reloaded when its weights change)."""
    if isinstance(detector, Detector):
        return detector
    folder = resolve_detector(detector).resolve()
    st = (folder / WEIGHTS_NAME).stat()
    key = (str(folder), (st.st_mtime_ns, st.st_size))
    with _lock:
        if key not in _cache:
            _cache[key] = load_detector(folder)
        return _cache[key]

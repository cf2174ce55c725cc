"""``dpm self-test`` and ``dpm-desktop --self-test``: prove that an installation works.

For every bundled model: load it (checksum and structure validated), then, for an image model,
denoise and inpaint a small reference photo made from the bundled sample, and for a point model
(the Swiss roll) draw samples; each result is checked against tolerances that fail on a broken
engine or model. ``dpm-desktop --self-test`` also builds the main window, opens the sample in it and
closes it (offscreen or on a real display), which proves that Qt and its plugins load.

The reference photo: ``resources/sample.jpg`` carries Gaussian noise of sigma 20/255; averaging
4 x 4 blocks leaves about 5/255, clean enough to measure a denoiser against at sigma 25. The sample
is one of the photo models' training images, so this checks the installation, not quality
(``make bench`` measures quality on held-out photos).

This module imports no Qt except inside the window check, so ``dpm self-test`` runs headless.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

SIGMA = 25.0  # denoising check: noise std on the 0-255 scale
PHOTO_GAIN_DB = 3.0  # a photo model must improve PSNR by at least this much at SIGMA
OTHER_GAIN_DB = 0.5  # any other image model (e.g. dead leaves) must still improve it
INPAINT_STEPS = 10
# The filled hole's PSNR may be at most this much below that of filling it with the mean colour of
# the ring around it (a photo model / any other; a broken network scores about 7 dB below it).
PHOTO_INPAINT_SLACK_DB, OTHER_INPAINT_SLACK_DB = 3.0, 5.0
POINT_SAMPLES, POINT_STEPS = 512, 40
POINT_STD_RATIO = (0.5, 2.0)  # samples' spread against the training data's, per dimension


class CheckFailed(Exception):
    """A check ran but its result is outside the tolerance; the message says by how much."""


def resources_dir() -> Path:
    """The bundled ``resources/`` folder, in the source tree or inside the frozen app."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(1 / mse) if mse > 0 else math.inf


def reference_photo(path: Path, channels: int) -> np.ndarray:
    """The sample averaged over 4 x 4 blocks (about 133 x 106 pixels), gray for 1-channel models."""
    from .core.imaging import load_image, to_gray

    px = load_image(path).pixels
    h, w = px.shape[0] // 4 * 4, px.shape[1] // 4 * 4
    small = px[:h, :w].reshape(h // 4, 4, w // 4, 4, px.shape[2]).mean(axis=(1, 3)).astype(np.float32)
    if channels == 1 and small.shape[2] == 3:
        small = to_gray(small)
    return np.ascontiguousarray(small)


FORMAT_SAMPLES = ("sample.heic", "sample.dng")  # made from sample.jpg by the installer's build (make_samples)


def check_format_sample(path: Path, reference: np.ndarray) -> str:
    """A HEIC or camera RAW made from the sample at build time opens as that photo: the same size and,
    up to the RAW's brightening, the same picture (correlation of each channel with the reference)."""
    from .core.imaging import load_image

    img = load_image(path)
    small = reference_photo(path, 3) if img.pixels.shape[:2] != reference.shape[:2] else img.pixels
    if small.shape != reference.shape:
        raise CheckFailed(f"{small.shape[1]} x {small.shape[0]}, expected {reference.shape[1]} x {reference.shape[0]}")
    r = min(float(np.corrcoef(small[:, :, c].ravel(), reference[:, :, c].ravel())[0, 1]) for c in range(3))
    if not r > 0.95:
        raise CheckFailed(f"not the sample photo: channel correlation {r:.3f} (needs > 0.95)")
    return f"{img.format}, {img.bit_depth}-bit, correlation with the sample {r:.3f}"


def _check_image(name: str, out: np.ndarray, shape: tuple[int, ...]) -> None:
    if out.shape != shape:
        raise CheckFailed(f"{name}: output shape {out.shape}, expected {shape}")
    if not np.isfinite(out).all():
        raise CheckFailed(f"{name}: output holds NaN or infinite values")
    if out.min() < 0 or out.max() > 1:
        raise CheckFailed(f"{name}: output outside [0, 1] ({out.min():.3g} .. {out.max():.3g})")


def is_photo_model(meta: dict[str, Any]) -> bool:
    """Trained on a folder of photos: not on dead leaves or another synthetic source, nor only on the
    texture patterns of `dpm dataset textures` (those models hold a photo to a looser tolerance)."""
    from .dataset_sources import TEXTURE_SOURCES

    data = meta["data"]
    packages = {row[0] for row in data.get("sources", {}).get("packages", [])}
    textures_only = bool(packages) and packages <= {s.package for s in TEXTURE_SOURCES}
    synthetic = data.get("summary", {}).get("source") in ("deadleaves", "swissroll")
    return data.get("kind") == "image" and not synthetic and not textures_only


def check_denoise(ckpt: Any, clean: np.ndarray, device: str) -> str:
    from .core.restore import denoise

    noisy = np.clip(clean + np.random.default_rng(0).normal(0, SIGMA / 255, clean.shape), 0, 1).astype(np.float32)
    out = denoise(noisy, sigma=SIGMA, mode="mean", model=ckpt, device=device).pixels
    _check_image("denoise", out, clean.shape)
    before, after = psnr(noisy, clean), psnr(out, clean)
    need = PHOTO_GAIN_DB if is_photo_model(ckpt.meta) else OTHER_GAIN_DB
    detail = f"sigma {SIGMA:g}: PSNR {before:.2f} -> {after:.2f} dB ({after - before:+.2f}, needs {need:+.1f})"
    if after - before < need:
        raise CheckFailed(detail)
    return detail


def hole_mask(h: int, w: int) -> np.ndarray:
    """A 12 x 12 hole a little off centre and a 2-pixel scratch across the left half."""
    mask = np.zeros((h, w), bool)
    cy, cx = h // 2, w // 2 + w // 8
    mask[cy - 6:cy + 6, cx - 6:cx + 6] = True
    mask[h // 4:h // 4 + 2, 4:w // 2] = True
    return mask


def grow(mask: np.ndarray, r: int) -> np.ndarray:
    """The mask grown by ``r`` pixels (a square neighbourhood)."""
    h, w = mask.shape
    padded = np.pad(mask, r)
    out = np.zeros_like(mask)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= padded[dy:dy + h, dx:dx + w]
    return out


def check_inpaint(ckpt: Any, clean: np.ndarray, device: str) -> str:
    from .core.restore import inpaint

    mask = hole_mask(*clean.shape[:2])
    damaged = clean.copy()
    damaged[mask] = 0  # black: the fill must come from the model, not from what was there
    out = inpaint(damaged, mask, steps=INPAINT_STEPS, seed=0, model=ckpt, device=device).pixels
    _check_image("inpaint", out, clean.shape)
    if not np.array_equal(out[~mask], damaged[~mask]):
        changed = int(np.any(out[~mask] != damaged[~mask], axis=-1).sum())
        raise CheckFailed(f"{changed} pixels outside the mask changed")
    ring = grow(mask, 3) & ~mask
    flat = np.where(mask[..., None], clean[ring].mean(axis=0), clean)
    got, baseline = psnr(out[mask], clean[mask]), psnr(flat[mask], clean[mask])
    need = baseline - (PHOTO_INPAINT_SLACK_DB if is_photo_model(ckpt.meta) else OTHER_INPAINT_SLACK_DB)
    detail = (f"{INPAINT_STEPS} steps, {int(mask.sum())} px: unmasked pixels identical; hole PSNR {got:.2f} dB "
              f"(ring-mean fill {baseline:.2f}, needs >= {need:.2f})")
    if got < need:
        raise CheckFailed(detail)
    return detail


def check_points(ckpt: Any, device: str) -> str:
    from .core.sampling import sample

    x = sample(ckpt.diffusion, (POINT_SAMPLES, 2, 1, 1), steps=POINT_STEPS, seed=0, device=device)
    pts = x.float().cpu().view(POINT_SAMPLES, 2).numpy()
    if not np.isfinite(pts).all():
        raise CheckFailed("samples hold NaN or infinite values")
    want = math.sqrt(float(ckpt.meta["data"].get("summary", {}).get("variance_per_dim", 1.0)))
    ratio = pts.std(axis=0) / want
    detail = (f"{POINT_SAMPLES} samples, {POINT_STEPS} steps: std / data std = {ratio[0]:.2f}, {ratio[1]:.2f} "
              f"(needs {POINT_STD_RATIO[0]} .. {POINT_STD_RATIO[1]})")
    if not (ratio >= POINT_STD_RATIO[0]).all() or not (ratio <= POINT_STD_RATIO[1]).all():
        raise CheckFailed(detail)
    return detail


# ----------------------------------------------------------------------------------------------
@dataclass
class Report:
    stream: TextIO
    failed: int = 0
    passed: int = 0

    def run(self, label: str, check: Callable[[], str]) -> bool:
        t0 = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as e:  # a self-test reports every failure, whatever its kind
            kind = "" if isinstance(e, CheckFailed) else f"{e.__class__.__name__}: "
            detail, ok = kind + " ".join(str(e).split()), False
        self.line("ok" if ok else "FAIL", label, detail, time.perf_counter() - t0)
        self.passed += ok
        self.failed += not ok
        return ok

    def line(self, status: str, label: str, detail: str, seconds: float | None = None) -> None:
        took = f"  [{seconds:.2f} s]" if seconds is not None else ""
        print(f"{status:4s}  {label:22s} {detail}{took}", file=self.stream, flush=True)


def run_self_test(*, allow_no_models: bool = False, device: str = "cpu",
                  extra: Callable[[Path], list[tuple[str, Callable[[], str]]]] | None = None,
                  stream: TextIO | None = None) -> int:
    """Run every check, print one line each with its time; 0 when all pass, else 1."""
    t_start = time.perf_counter()
    report = Report(stream or sys.stdout)
    import torch

    from . import __version__
    from .core.checkpoint import load_checkpoint
    from .core.device import pick_device
    from .core.registry import broken_models, bundled_models_dir, list_models, user_models_dir

    device = str(pick_device(device))  # "auto" -> the device it picks; a missing one fails here, clearly
    where = "frozen app" if getattr(sys, "frozen", False) else "source install"
    report.line("info", "installation", f"DPM Desktop {__version__} ({where}), Python {platform.python_version()}, "
                f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    report.line("info", "folders", f"bundled models {bundled_models_dir()}; user models {user_models_dir()}")
    sample = resources_dir() / "sample.jpg"
    refs: dict[int, np.ndarray] = {}

    def load_sample() -> str:
        for channels in (1, 3):
            refs[channels] = reference_photo(sample, channels)
        h, w = refs[3].shape[:2]
        return f"{sample} -> {w} x {h} reference"

    report.run("sample photo", load_sample)
    models_dir = bundled_models_dir()
    bundled = [m for m in list_models() if m.bundled]
    for folder, why in broken_models():
        if folder.parent == models_dir:
            report.line("FAIL", f"model {folder.name}", why)
            report.failed += 1
    if not bundled:
        status = "skip" if allow_no_models else "FAIL"
        report.line(status, "models", f"no bundled models in {models_dir}"
                    + (" (allowed by --allow-no-models)" if allow_no_models else ""))
        report.failed += not allow_no_models
    for entry in bundled:
        loaded: list[Any] = []

        def load(folder: Path = entry.folder, into: list[Any] = loaded) -> str:
            ckpt = load_checkpoint(folder, device=device)
            into.append(ckpt)
            params = sum(p.numel() for p in ckpt.diffusion.net.parameters())
            return (f"{ckpt.meta['network']['arch']}, {params:,} parameters, {ckpt.channels} channels, "
                    f"{ckpt.meta['data'].get('kind')}, sha256 verified")

        if not report.run(f"load {entry.name}", load):
            continue
        ckpt = loaded[0]
        if ckpt.meta["data"].get("kind") == "points":
            report.run(f"sample {entry.name}", lambda c=ckpt: check_points(c, device))
        elif ckpt.channels in refs:
            ref = refs[ckpt.channels]
            report.run(f"denoise {entry.name}", lambda c=ckpt, r=ref: check_denoise(c, r, device))
            report.run(f"inpaint {entry.name}", lambda c=ckpt, r=ref: check_inpaint(c, r, device))
        else:
            report.line("FAIL", f"model {entry.name}", f"{ckpt.channels} image channels: no check for that")
            report.failed += 1
    for name in FORMAT_SAMPLES:
        path = resources_dir() / name
        if path.is_file() and 3 in refs:
            report.run(f"open {name}", lambda p=path: check_format_sample(p, refs[3]))
        else:
            report.line("skip", f"open {name}", "made by the installer's build (build/make_samples.py)")
    for label, check in (extra(sample) if extra else []):  # the app adds its window check (gui/selfcheck.py)
        report.run(label, check)
    total = time.perf_counter() - t_start
    verdict = "passed" if not report.failed else f"FAILED ({report.failed} failed)"
    print(f"self-test {verdict}: {report.passed} checks passed in {total:.1f} s", file=report.stream, flush=True)
    return 1 if report.failed else 0


# ----------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-no-models", action="store_true",
                   help="pass when no model is bundled yet (the engine and the sample are still checked)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def add_self_test_command(sub: Any) -> None:
    """``dpm self-test`` (sub: the CLI's subparsers)."""
    p = sub.add_parser("self-test", help="check this installation with every bundled model",
                       description="Load every bundled model, denoise and inpaint a photo made from the "
                       "bundled sample, and check the results against tolerances. Exits 0 when all pass.")
    add_arguments(p)
    p.set_defaults(func=lambda a: run_self_test(allow_no_models=a.allow_no_models, device=a.device))

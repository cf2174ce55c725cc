"""Apply one task to every image of a folder, writing results into an output folder.

Runs inside :class:`~.runner.Worker` (so it is cancelled and reported like a single job). Files
that fail are listed and skipped; originals are never written to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dpm_desktop.core.imaging import IMAGE_EXTENSIONS, encode_image, load_image
from dpm_desktop.core.outputs import OutputSet, sidecar_path
from dpm_desktop.core.progress import Cancelled, Reporter

from ..model.mask_ops import load_mask_file
from ..model.task import TaskParams
from .errors import describe
from .jobs import JobInput, run_engine

MASK_SUFFIXES = ("_mask", ".mask", "-mask")


@dataclass
class BatchPlan:
    params: TaskParams
    inputs: list[Path]
    out_dir: Path
    fmt: str = "same"  # "same" keeps each file's extension; else ".png", ".jpg", ".tif", ".webp"
    quality: int = 95
    mask: np.ndarray | None = None  # the document's mask, used for images of its size
    sidecar: bool = True


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_images(folder: Path) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    return [p for p in files if not p.stem.endswith(MASK_SUFFIXES)]


def _mask_for(path: Path, plan: BatchPlan, width: int, height: int) -> np.ndarray | None:
    for suffix in MASK_SUFFIXES:
        for ext in (".png", ".tif", ".tiff", ".bmp", ".webp"):
            candidate = path.with_name(f"{path.stem}{suffix}{ext}")
            if candidate.is_file():
                return load_mask_file(candidate, width, height)
    if plan.mask is not None and plan.mask.shape == (height, width):
        return plan.mask
    return None


def _out_path(path: Path, plan: BatchPlan) -> Path:
    ext = path.suffix if plan.fmt == "same" else plan.fmt
    out = plan.out_dir / f"{path.stem}{ext}"
    n = 2
    while out.exists() or out.resolve() == path.resolve():
        out = plan.out_dir / f"{path.stem}-{n}{ext}"
        n += 1
    return out


def run_batch(plan: BatchPlan, reporter: Reporter) -> BatchReport:
    report = BatchReport()
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    n = len(plan.inputs)
    for i, path in enumerate(plan.inputs):
        slot = _FileSlot(reporter, i, n, f"{i + 1}/{n}: {path.name}")
        slot.step(0, 1)
        try:
            img = load_image(path)
            cov = _mask_for(path, plan, img.width, img.height) if plan.params.task == "inpaint" else None
            if plan.params.task == "inpaint" and (cov is None or not cov.any()):
                report.skipped.append((path, "no mask of its size (paint one, or put NAME_mask.png beside it)"))
                continue
            result, (x0, y0, x1, y1), crops, _ = run_engine(JobInput(plan.params, img.pixels, cov), slot)
            out_px = img.pixels.copy()
            out_px[y0:y1, x0:x1] = crops[0]
            out = _out_path(path, plan)
            # The photo's own metadata, with the engine's note of what was done (the engine saw pixels only).
            info = {**img.info, "software": result.info.get("software")}
            data, _ = encode_image(out, out_px, alpha=img.alpha, bit_depth=img.bit_depth, quality=plan.quality,
                                   info=info)
            outputs = OutputSet([path])  # image and sidecar land together or not at all; never over the input
            files = {outputs.add(out, "image"): data}
            if plan.sidecar:
                record = json.dumps({"source": str(path), **result.params}, indent=2, default=str) + "\n"
                files[outputs.add(sidecar_path(out), "sidecar")] = record.encode("utf-8")
            outputs.write(files)
            report.written.append(out)
        except Cancelled:
            raise
        except Exception as e:  # one bad file must not stop the batch: it is listed with its reason
            report.failed.append((path, describe(e)[0]))
    reporter.step(n * 1000, n * 1000, message="done")
    return report


class _FileSlot(Reporter):
    """Reports one file's job (whatever its own step counts) as progress through the whole batch:
    file ``index`` of ``n`` spans the steps index*1000 .. (index+1)*1000 of n*1000."""

    def __init__(self, outer: Reporter, index: int, n: int, message: str, offset: int = 0,
                 total: int | None = None) -> None:
        super().__init__(outer.callback, outer.token)
        self.outer, self.index, self.n, self.message = outer, index, n, message
        self.offset, self.total = offset, total

    def step(self, i: int, total: int, **_: object) -> None:  # type: ignore[override]
        frac = min(1.0, (self.offset + i) / max(self.total or total, 1))
        self.outer.step(int((self.index + frac) * 1000), self.n * 1000, message=self.message)

    def sub(self, offset: int, total: int, message: str = "") -> Reporter:
        return _FileSlot(self.outer, self.index, self.n, self.message, self.offset + offset, self.total or total)

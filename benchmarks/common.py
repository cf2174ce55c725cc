"""Plumbing shared by the benchmark parts: options, the machine's description, timing, models,
and result tables written as markdown + JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
QUICK_DIR = ROOT / "benchmarks" / "out" / "quick"  # git-ignored: quick runs never overwrite real results
WORK_DIR = ROOT / "benchmarks" / "out" / "work"  # git-ignored scratch files (held-out folders, big photos)
DOCS_DIR = ROOT / "docs"
DEFAULT_MODEL = "photo-rgb"

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------
# Options


def add_common_args(p: argparse.ArgumentParser, *, several_models: bool = False) -> None:
    if several_models:
        p.add_argument("--model", action="append", help="model name, checkpoint folder or training run "
                       "folder; repeat for several (default: every bundled model)")
    else:
        p.add_argument("--model", default=DEFAULT_MODEL, help="model name, checkpoint folder or training run "
                       f"folder (default {DEFAULT_MODEL})")
    p.add_argument("--quick", action="store_true",
                   help="a development run: small crops, one noise level, fewer images (minutes)")
    p.add_argument("--out", type=Path,
                   help=f"results folder (default {RESULTS_DIR.relative_to(ROOT)}; with --quick "
                        f"{QUICK_DIR.relative_to(ROOT)})")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch and OpenCV (default: torch's default, one per physical core)")
    p.add_argument("--device", default="cpu",
                   help="device for our model (default cpu: the quality bars are CPU bars)")
    p.add_argument("--seed", type=int, default=0, help="seed of every noise draw, mask and sampler")


@dataclass
class Run:
    """What every part needs to know about this invocation."""

    quick: bool
    out: Path
    figures: Path  # where figures go: docs/ for a full run, the results folder for a quick one
    seed: int
    device: str
    env: dict[str, Any]
    other_load: OtherLoad


def start(args: argparse.Namespace) -> Run:
    """Apply the thread setting, describe the machine, create the output folder."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        try:
            import cv2

            cv2.setNumThreads(args.threads)
        except ImportError:
            pass
    out = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    figures = out if args.quick or args.out else DOCS_DIR
    figures.mkdir(parents=True, exist_ok=True)
    return Run(args.quick, out, figures, args.seed, args.device, environment(), OtherLoad())


# ----------------------------------------------------------------------------------------------
# The machine


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("dpm-desktop", "torch", "numpy", "scikit-image", "opencv-python-headless", "bm3d",
                "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()


def _git_commit() -> str:
    try:
        head, dirty = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain", "--", "dpm_desktop")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (engine modified)' if dirty else ''}" if head else "unknown"


def environment() -> dict[str, Any]:
    import torch

    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "versions": _versions(),
        "git_commit": _git_commit(),
    }


def environment_line(env: dict[str, Any]) -> str:
    omp = f", OMP_NUM_THREADS={env['OMP_NUM_THREADS']}" if env["OMP_NUM_THREADS"] else ""
    return (f"Machine: {env['cpu']}, {env['logical_cpus']} logical CPUs; "
            f"torch threads: {env['torch_threads']}{omp}; "
            f"load average {env['load_average_at_start']} when the run started; "
            f"torch {env['versions']['torch']}; commit {env['git_commit']}; {env['date_utc']} UTC.")


# ----------------------------------------------------------------------------------------------
# Other load on the machine


class OtherLoad:
    """How much of the machine's CPU time other processes took while this one ran (Linux /proc/stat)."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_cpu_seconds(), _own_cpu_seconds()

    def share(self) -> float | None:
        """Other processes' CPU seconds / (wall seconds x logical CPUs) since construction."""
        busy = _busy_cpu_seconds()
        if busy is None or self.busy0 is None:
            return None
        wall = time.monotonic() - self.t0
        other = (busy - self.busy0) - (_own_cpu_seconds() - self.own0)
        return max(0.0, other / (wall * (os.cpu_count() or 1)))


def _busy_cpu_seconds() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_line(share: float | None) -> str:
    if share is None:
        return ""
    line = f"Other processes used {share:.0%} of the machine's CPU time during this part."
    if share > 0.1:
        line = (f"**{line} Wall-clock times are inflated and every method is slowed, unevenly: compare CPU "
                "times, and rerun on an idle machine before quoting a time.**")
    return line


# ----------------------------------------------------------------------------------------------
# Timing


@dataclass
class Timing:
    wall_s: float
    cpu_s: float  # CPU time of this process, all threads together


def timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, Timing]:
    """Call ``fn`` and return its value with the wall-clock and process CPU seconds it took."""
    w0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    return value, Timing(time.perf_counter() - w0, time.process_time() - c0)


# ----------------------------------------------------------------------------------------------
# Models


def load_model(name_or_path: str, device: str = "cpu") -> Any:
    """The checkpoint (cached by the engine, so later calls do not pay for loading again)."""
    from dpm_desktop.core.restore import get_model

    return get_model(name_or_path, device=device)


def describe_model(ckpt: Any) -> dict[str, Any]:
    meta = ckpt.meta
    tr = meta.get("training", {})
    settings = tr.get("settings", {})
    return {
        "name": ckpt.name,
        "folder": str(ckpt.folder),
        "sha256": meta["sha256"][:16],
        "arch": meta["network"]["arch"],
        "parameters": sum(p.numel() for p in ckpt.diffusion.net.parameters()),
        "channels": ckpt.channels,
        "parameterisation": meta["diffusion"]["parameterisation"],
        "training_steps": tr.get("steps"),
        "training_wall_time_s": tr.get("wall_time_s"),
        "training_cpu_thread_hours": tr.get("cpu_thread_hours"),  # a campaign's total over its runs
        "training_device": tr.get("device"),
        "training_data": meta["data"].get("summary", {}).get("source") or settings.get("data"),
        "preset": settings.get("preset"),
    }


def model_line(m: dict[str, Any]) -> str:
    if m.get("training_cpu_thread_hours"):
        hours = f"{m['training_cpu_thread_hours']:.1f} CPU thread-hours"
    elif m.get("training_wall_time_s"):
        hours = f"{m['training_wall_time_s'] / 3600:.2f} h"
    else:
        hours = "unknown time"
    return (f"Model: {m['name']} ({m['folder']}; sha256 {m['sha256']}...): {m['arch']} network, "
            f"{m['parameters']:,} parameters, {m['parameterisation']} parameterisation, trained "
            f"{m['training_steps']} steps ({hours} on {m['training_device']}) on {m['training_data']}.")


# ----------------------------------------------------------------------------------------------
# Results


Cell = str | int | float | None


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""

    def add(self, *cells: Cell) -> None:
        self.rows.append(list(cells))

    def markdown(self) -> str:
        def fmt(c: Cell) -> str:
            if c is None:
                return "–"
            if isinstance(c, float):
                return f"{c:.3g}" if abs(c) < 0.01 and c != 0 else f"{c:.2f}"
            return str(c)

        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "note": self.note}


@dataclass
class Report:
    """One part's output: header lines, tables, raw records; printed and written as NAME.md / NAME.json."""

    name: str
    title: str
    run: Run
    header: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # describe_model() of each model used
    load: str = ""  # the other-load line, set when the report is written

    def markdown(self) -> str:
        lines = [*self.header, environment_line(self.run.env), self.load]
        parts = [f"## {self.title}", "", *[f"{line}  " for line in lines if line], ""]
        if self.run.quick:
            parts += ["**Quick run** (crops, fewer images and noise levels): for development, not for "
                      "quoting.", ""]
        for t in self.tables:
            parts += [t.markdown(), ""]
        for f in self.figures:
            parts += [f"Figure: `{_rel(f)}`", ""]
        return "\n".join(parts)

    def write(self) -> Path:
        share = self.run.other_load.share()
        self.load = load_line(share)
        md = self.markdown()
        print("\n" + md, flush=True)
        path = self.run.out / f"{self.name}.md"
        path.write_text(md + "\n")
        data = {"part": self.name, "title": self.title, "quick": self.run.quick, "header": self.header,
                "environment": self.run.env, "other_load_share": share, "models": self.models,
                "tables": [t.as_dict() for t in self.tables],
                "records": self.records, "figures": [_rel(f) for f in self.figures]}
        text = json.dumps(data, indent=1, default=_json_default)
        (self.run.out / f"{self.name}.json").write_text(text + "\n")
        print(f"[{self.name}] wrote {_rel(path)} and {_rel(path.with_suffix('.json'))}", flush=True)
        return path


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def log(part: str, msg: str) -> None:
    print(f"[{part}] {msg}", file=sys.stderr, flush=True)

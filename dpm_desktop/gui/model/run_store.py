"""Training runs started by the wizard: where they live, what became of them, which can resume.

A run folder (``core.registry.runs_dir()/NAME-YYYYmmdd-HHMMSS``) is the trainer's own (settings,
progress.jsonl, state folders); the wizard adds ``wizard.json`` with the run's fate:

    training     the trainer was started (left so by a crash of the app itself)
    interrupted  the trainer crashed or was stopped because the app closed: resume it
    registered   its model was copied into the user models folder (finished, or "Stop and keep")
    cancelled    the user cancelled it (its folder is normally deleted)

A run is *resumable* when it holds a complete checkpoint and its fate is training or interrupted
(or it has no wizard.json and its trainer never reported ``done``: a command-line run). No Qt here.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpm_desktop.core import registry
from dpm_desktop.core.atomic import atomic_write_bytes

WIZARD_FILE = "wizard.json"
RESUMABLE = ("training", "interrupted")


def safe_name(name: str) -> str:
    """A folder name made of the name's letters, digits, '-', '_' and '.' (as core.registry does)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.strip()).strip(".-") or "model"


def unique_model_name(name: str) -> str:
    """``name`` made safe, or ``name-2``, ``name-3``… if a bundled or user model already has it."""
    base = safe_name(name)
    taken = {m.name.lower() for m in registry.list_models()}
    user = registry.user_models_dir()
    if user.is_dir():
        taken |= {p.name.lower() for p in user.iterdir()}
    candidate, n = base, 2
    while candidate.lower() in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def new_run_dir(name: str, root: Path | None = None) -> Path:
    """A fresh, not yet existing run folder for a model called ``name``."""
    root = root or registry.runs_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, n = root / f"{safe_name(name)}-{stamp}", 2
    while folder.exists():
        folder, n = root / f"{safe_name(name)}-{stamp}-{n}", n + 1
    return folder


def read_status(run_dir: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((Path(run_dir) / WIZARD_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def write_status(run_dir: Path, status: str, **fields: Any) -> None:
    """Record the run's fate (merged into what wizard.json holds already)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = read_status(run_dir) | fields | {"status": status, "updated": time.time()}
    atomic_write_bytes(run_dir / WIZARD_FILE, (json.dumps(data, indent=2, default=str) + "\n").encode())


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's newest complete checkpoint, or None."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        pointer = json.loads((Path(run_dir) / "latest.json").read_text())
        state = Path(run_dir) / pointer["state"]
        if (state / "train_state.json").is_file() and (state / "model.json").is_file():
            return int(pointer["step"])
    return None


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of progress.jsonl (a torn last line, from a crash, is skipped)."""
    events = []
    with contextlib.suppress(OSError):
        for line in (Path(run_dir) / "progress.jsonl").read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                if isinstance(e, dict) and "event" in e:
                    events.append(e)
    return events


def read_settings(run_dir: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((Path(run_dir) / "settings.json").read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


@dataclass
class RunSummary:
    run_dir: Path
    name: str
    step: int  # of the newest checkpoint
    total: int | None  # steps, or None for a run measured in minutes
    minutes: float | None
    status: str
    updated: float  # time of the last change (seconds since the epoch)
    data: str

    def describe(self) -> str:
        length = f"step {self.step:,} of {self.total:,}" if self.total else f"step {self.step:,}"
        if self.minutes and not self.total:
            length += f" ({self.minutes:g} min run)"
        return f"{self.name}: {length}, {_ago(self.updated)}"


def summarize(run_dir: Path) -> RunSummary | None:
    """What a resume needs to know about a run folder; None if it holds no checkpoint."""
    run_dir = Path(run_dir)
    step = checkpoint_step(run_dir)
    settings = read_settings(run_dir)
    if step is None or not settings:
        return None
    status = read_status(run_dir)
    state = status.get("status")
    if state is None:  # not the wizard's: resumable unless its trainer finished
        done = [e for e in read_events(run_dir) if e["event"] == "done"]
        state = "finished" if done and not done[-1].get("stopped") else "interrupted"
    updated = 0.0
    with contextlib.suppress(OSError, ValueError):
        updated = max(p.stat().st_mtime for p in run_dir.iterdir())
    return RunSummary(run_dir, str(status.get("name") or settings.get("name") or run_dir.name), step,
                      settings.get("steps"), settings.get("minutes"), str(state), updated,
                      str(settings.get("data", "")))


def resumable_runs(root: Path | None = None) -> list[RunSummary]:
    """Interrupted runs with a checkpoint, newest first."""
    root = root or registry.runs_dir()
    if not root.is_dir():
        return []
    runs = [summarize(p) for p in root.iterdir() if p.is_dir()]
    # A run that crashed after its last step is listed too: resuming it ends at once, with its model.
    found = [r for r in runs if r is not None and r.status in RESUMABLE]
    return sorted(found, key=lambda r: r.updated, reverse=True)


def _ago(t: float) -> str:
    s = max(0, int(time.time() - t))
    if s < 90:
        return "just now"
    if s < 5400:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s // 3600} h ago"
    return time.strftime("%d %b %Y", time.localtime(t))

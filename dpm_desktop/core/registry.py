"""Where models live: the bundled ``models/`` folder and the user's models folder.

A model is a checkpoint folder (``model.json`` + ``model.safetensors``). Bundled models come with
the application and are read-only; user models (trained or imported) live in the platform's user
data folder, or in ``$DPM_DESKTOP_HOME/models`` when that variable is set (tests, portable use).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import META_NAME, WEIGHTS_NAME, CheckpointError, inspect_checkpoint, load_checkpoint, read_metadata

DEFAULT_MODEL = "photo-rgb"
DEFAULT_GRAY_MODEL = "photo-gray"


def app_home() -> Path:
    """The user's DPM Desktop folder (models, runs, settings that are not in QSettings)."""
    env = os.environ.get("DPM_DESKTOP_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("dpm-desktop", "DPM Desktop"))


def bundled_models_dir() -> Path:
    env = os.environ.get("DPM_DESKTOP_BUNDLED_MODELS")
    if env:
        return Path(env)
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "models"
    return Path(__file__).resolve().parents[2] / "models"


def user_models_dir() -> Path:
    return app_home() / "models"


def runs_dir() -> Path:
    return app_home() / "runs"


@dataclass
class ModelEntry:
    name: str
    folder: Path
    bundled: bool
    meta: dict[str, Any]

    @property
    def channels(self) -> int:
        return int(self.meta["data"]["channels"])

    @property
    def description(self) -> str:
        return str(self.meta.get("description", ""))


_inspected: dict[tuple[str, tuple[int, ...]], dict[str, Any] | str] = {}


def _stamp(folder: Path) -> tuple[int, ...]:
    out: list[int] = []
    for name in (META_NAME, WEIGHTS_NAME):
        try:
            st = (folder / name).stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [-1, -1]
    return tuple(out)


def _inspect(folder: Path) -> dict[str, Any] | str:
    """The metadata of a structurally valid checkpoint folder, or why it is unusable; remembered
    until either file changes, so that listing models stays cheap."""
    key = (str(folder.resolve()), _stamp(folder))
    if key not in _inspected:
        try:
            _inspected[key] = inspect_checkpoint(folder)
        except CheckpointError as e:
            _inspected[key] = str(e)
    return _inspected[key]


def _folders() -> list[tuple[Path, bool]]:
    out = []
    for root, bundled in ((bundled_models_dir(), True), (user_models_dir(), False)):
        if root.is_dir():
            out += [(p, bundled) for p in sorted(root.iterdir()) if (p / META_NAME).is_file()]
    return out


def list_models() -> list[ModelEntry]:
    """Every model whose checkpoint validates (metadata, sizes, every tensor's name and shape in the
    weights' header), bundled first; ``broken_models`` lists the others with the reason."""
    out: list[ModelEntry] = []
    for folder, bundled in _folders():
        meta = _inspect(folder)
        if isinstance(meta, dict):
            out.append(ModelEntry(folder.name, folder, bundled, meta))
    return out


def broken_models() -> list[tuple[Path, str]]:
    return [(folder, why) for folder, _ in _folders() if isinstance(why := _inspect(folder), str)]


def resolve_model(name_or_path: str | Path | None, *, channels: int | None = None) -> Path:
    """A model folder from a name (user models shadow nothing: bundled names win) or a path.
    With no name, the default for the image's channel count."""
    if name_or_path is None or name_or_path == "":
        name_or_path = DEFAULT_GRAY_MODEL if channels == 1 else DEFAULT_MODEL
        models = {m.name: m for m in list_models()}
        if name_or_path not in models and DEFAULT_MODEL in models:
            name_or_path = DEFAULT_MODEL
    p = Path(name_or_path)
    if p.exists():
        return p
    for m in list_models():
        if m.name == str(name_or_path):
            return m.folder
    known = ", ".join(m.name for m in list_models()) or "none installed"
    raise CheckpointError(f"{name_or_path}: no such model (known models: {known})")


def import_model(source: Path, name: str | None = None) -> ModelEntry:
    """Validate a checkpoint fully, then copy it into the user models folder."""
    ckpt = load_checkpoint(source)
    name = name or ckpt.name
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip(".-") or "model"
    dest = user_models_dir() / safe
    if dest.exists():
        raise CheckpointError(f"{dest}: a model named {safe!r} exists already")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{safe}.importing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy2(ckpt.meta["_paths"]["weights"], tmp / WEIGHTS_NAME)
    shutil.copy2(ckpt.meta["_paths"]["meta"], tmp / META_NAME)
    os.replace(tmp, dest)
    return ModelEntry(safe, dest, False, read_metadata(dest))

"""The models and devices the user can pick from, and their "cards"."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Signal

from dpm_desktop.core import registry
from dpm_desktop.core.registry import DEFAULT_MODEL, ModelEntry


@dataclass(frozen=True)
class DeviceChoice:
    key: str  # what core.restore accepts: auto, cpu, cuda, mps
    label: str
    available: bool


def device_choices() -> list[DeviceChoice]:
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    auto = f"Auto (CUDA: {torch.cuda.get_device_name(0)})" if cuda else "Auto (MPS)" if mps else "Auto (CPU)"
    return [
        DeviceChoice("auto", auto, True),
        DeviceChoice("cpu", "CPU", True),
        DeviceChoice("cuda", "CUDA GPU" if cuda else "CUDA GPU — not available", cuda),
        DeviceChoice("mps", "Apple MPS" if mps else "Apple MPS — not available", mps),
    ]


def resolved_device_label(key: str) -> str:
    if key == "auto":
        if torch.cuda.is_available():
            return "CUDA"
        mps = getattr(torch.backends, "mps", None)
        return "MPS" if mps is not None and mps.is_available() else "CPU"
    return key.upper()


def model_card(entry: ModelEntry) -> str:
    """A short rich-text card: what the model is, how it was trained, how good it measured."""
    meta = entry.meta
    data, training, metrics = meta.get("data", {}), meta.get("training", {}), meta.get("metrics", {})
    net = meta.get("network", {})
    kind = "colour" if entry.channels == 3 else "grayscale"
    where = "bundled" if entry.bundled else "user model"
    lines = [f"<b>{html.escape(entry.name)}</b> <span style='color:#8a93a0'>· {where} · {kind} · "
             f"{html.escape(str(net.get('arch', '?')))}</span>"]
    if entry.description:
        lines.append(html.escape(entry.description))
    facts = []
    if training.get("steps"):
        facts.append(f"{training['steps']:,} training steps")
    summary = data.get("summary", {})
    if isinstance(summary, dict) and summary.get("images"):
        facts.append(f"{summary['images']} training images")
    if "psnr25" in metrics:
        facts.append(f"PSNR {metrics['psnr25']:.1f} dB at σ 25")
    if facts:
        lines.append("<span style='color:#8a93a0'>" + " · ".join(facts) + "</span>")
    return "<br>".join(lines)


class ModelCatalogue(QObject):
    """The installed models (bundled + user), refreshed on demand."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
        self.refresh()

    def refresh(self) -> None:
        # Only image models restore photos; 2-D point models (the Swiss roll) are for `dpm sample`.
        self.entries = [m for m in registry.list_models() if m.meta["data"].get("kind", "image") == "image"]
        self.changed.emit()

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def find(self, name: str | None) -> ModelEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def default_name(self) -> str | None:
        names = self.names()
        if DEFAULT_MODEL in names:
            return DEFAULT_MODEL
        return names[0] if names else None

    def import_checkpoint(self, path: Path) -> ModelEntry:
        """Validate fully (metadata, sha256, every tensor) and copy into the user models folder.
        Raises CheckpointError with a clear message; nothing is copied on failure."""
        entry = registry.import_model(Path(path))
        self.refresh()
        return entry

    @staticmethod
    def user_folder() -> Path:
        return registry.user_models_dir()

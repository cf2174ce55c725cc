"""The unit of the bound K, in one place. K is reported per pixel (all channels of a pixel
together: for colour, three values) or per 2-D point, as the paper's Table 1 and its code do.
Training validation events and model metrics carry ``bits_unit``; those written before it existed
gave K per value (per colour channel, per coordinate) and are converted by the readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PER_PIXEL, PER_POINT = "per_pixel", "per_point"
UNIT_KEY = "bits_unit"


def bits_unit(kind: str) -> str:
    """``per_point`` for 2-D point data, else ``per_pixel``."""
    return PER_POINT if kind == "points" else PER_PIXEL


def unit_label(unit: str, channels: int | None = None) -> str:
    """The short label; colour pixels say what a pixel means, where a reader might take it per value."""
    if unit == PER_POINT:
        return "bits/point"
    return "bits/px (per pixel, all channels)" if channels is None or channels > 1 else "bits/px"


def converted(record: dict[str, Any], channels: int, keys: tuple[str, ...] = ("bits_per_px", "bits_stderr")
              ) -> dict[str, Any]:
    """``record`` (a val event or metrics) with its bits per pixel / point: one written before
    ``bits_unit`` existed holds bits per value and is multiplied by ``channels`` (the run's image
    channels; 2 for points)."""
    if record.get(UNIT_KEY) in (PER_PIXEL, PER_POINT):
        return record
    out = dict(record)
    for key in keys:
        if isinstance(out.get(key), (int, float)):
            out[key] = out[key] * channels
    return out


def run_channels(run_dir: Path) -> int | None:
    """The values per pixel (2 per point) of a training run folder, from its ``settings.json``."""
    try:
        settings = json.loads((Path(run_dir) / "settings.json").read_text())
    except (OSError, ValueError):
        return None
    data = settings.get("data")
    if data == "swissroll":
        return 2
    if data == "deadleaves":
        return 1
    return int(settings.get("channels", 3))

"""Persistent settings (QSettings): folders, recent files, brush, overlay, model, device, layout.

With ``DPM_DESKTOP_HOME`` set (tests, portable use) the settings live in ``settings.ini`` there;
otherwise where the platform keeps application settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QColor

from .task import TaskParams

MAX_RECENT = 10


def open_qsettings() -> QSettings:
    home = os.environ.get("DPM_DESKTOP_HOME")
    if home:
        return QSettings(str(Path(home) / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings("DPM Desktop", "dpm-desktop")


class AppSettings:
    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings or open_qsettings()

    def _get(self, key: str, default, typ):
        value = self.q.value(key, default)
        try:
            return typ(value) if value is not None else default
        except (TypeError, ValueError):
            return default

    # folders and files -------------------------------------------------------------------
    @property
    def last_folder(self) -> str:
        folder = str(self._get("files/last_folder", "", str))
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.q.setValue("files/last_folder", str(folder))

    def recent_files(self) -> list[str]:
        raw = self.q.value("files/recent", [])
        items = [raw] if isinstance(raw, str) else list(raw or [])
        return [str(p) for p in items if p][:MAX_RECENT]

    def add_recent(self, path: Path) -> None:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.recent_files() if x != p]
        self.q.setValue("files/recent", items[:MAX_RECENT])

    def remove_recent(self, path: str) -> None:
        self.q.setValue("files/recent", [x for x in self.recent_files() if x != path])

    # brush and overlay -------------------------------------------------------------------
    @property
    def brush_size(self) -> int:
        return max(1, min(1000, self._get("brush/size", 40, int)))

    @brush_size.setter
    def brush_size(self, v: int) -> None:
        self.q.setValue("brush/size", int(v))

    @property
    def brush_hardness(self) -> float:
        return max(0.0, min(1.0, self._get("brush/hardness", 0.7, float)))

    @brush_hardness.setter
    def brush_hardness(self, v: float) -> None:
        self.q.setValue("brush/hardness", float(v))

    @property
    def overlay_color(self) -> QColor:
        c = QColor(str(self._get("mask/color", "#ff3b5c", str)))
        return c if c.isValid() else QColor("#ff3b5c")

    @overlay_color.setter
    def overlay_color(self, c: QColor) -> None:
        self.q.setValue("mask/color", c.name())

    @property
    def overlay_opacity(self) -> float:
        return max(0.05, min(1.0, self._get("mask/opacity", 0.5, float)))

    @overlay_opacity.setter
    def overlay_opacity(self, v: float) -> None:
        self.q.setValue("mask/opacity", float(v))

    # task, model, device -----------------------------------------------------------------
    @property
    def task(self) -> TaskParams:
        try:
            data = json.loads(str(self._get("task/params", "{}", str)))
        except ValueError:
            data = {}
        return TaskParams.from_dict(data if isinstance(data, dict) else {})

    @task.setter
    def task(self, params: TaskParams) -> None:
        self.q.setValue("task/params", json.dumps(params.to_dict()))

    # measured speeds -----------------------------------------------------------------------
    @property
    def fill_rates(self) -> dict[str, float]:
        """The speeds the last fills measured (restore_jobs.RestoreJobs: seconds per megapixel-call by
        model and device, per hole pixel of the first guess and of the patches), so that the cost
        shown before Run carries a time from the first fill of a new session on. Only positive,
        finite numbers are read back: anything else in the file is ignored."""
        try:
            data = json.loads(str(self._get("inpaint/rates", "{}", str)))
        except (ValueError, RecursionError):  # a damaged or hostile file
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e6}

    @fill_rates.setter
    def fill_rates(self, rates: dict[str, float]) -> None:
        self.q.setValue("inpaint/rates", json.dumps(rates))

    # window ------------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geo, state = self.q.value("window/geometry"), self.q.value("window/state")
        return (geo if isinstance(geo, QByteArray) else None, state if isinstance(state, QByteArray) else None)

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def sync(self) -> None:
        self.q.sync()

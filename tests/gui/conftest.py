"""Fixtures for the GUI tests: a real MainWindow on a real photo, with a tiny trained model
installed as the bundled default, isolated settings, and helpers that drive the mouse."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


from support import write_photo

from dpm_desktop.gui.ui.main_window import MainWindow

from .helpers import make_window, open_and_wait


@pytest.fixture(scope="session")
def bundled_models(tmp_path_factory: pytest.TempPathFactory, tiny_rgb_model: Path) -> Path:
    """A bundled-models folder holding the tiny checkpoint as the default model, beside the real
    default defect detector that Find Defects' default method needs."""
    from dpm_desktop.core.defect_net import DEFAULT_DETECTOR, bundled_detector_dir

    folder = tmp_path_factory.mktemp("bundled")
    shutil.copytree(tiny_rgb_model, folder / "photo-rgb")
    shutil.copytree(bundled_detector_dir(DEFAULT_DETECTOR), folder / DEFAULT_DETECTOR)
    return folder


@pytest.fixture()
def gui_env(app_home: Path, bundled_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DPM_DESKTOP_BUNDLED_MODELS", str(bundled_models))
    return app_home


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    return write_photo(tmp_path / "photo.png", 96, 128, seed=3)


@pytest.fixture()
def window(qtbot, gui_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    w = make_window(qtbot, monkeypatch)
    yield w
    w.close()
    # No test may leave a worker thread behind.
    assert not any(r.is_running for r in w.controller.runners)


@pytest.fixture()
def opened(qtbot, window: MainWindow, photo: Path) -> MainWindow:
    open_and_wait(qtbot, window, photo)
    return window

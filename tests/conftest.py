"""Shared fixtures: real images on disk and real (tiny, quickly trained) checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import train_tiny, write_photo

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(6):
        write_photo(folder / f"img{i}.png", 80 + 8 * i, 96, seed=i)
    return folder


@pytest.fixture(scope="session")
def tiny_rgb_model(tmp_path_factory: pytest.TempPathFactory, photo_folder: Path) -> Path:
    return train_tiny(str(photo_folder), tmp_path_factory.mktemp("runs") / "tiny-rgb")


@pytest.fixture(scope="session")
def tiny_gray_model(tmp_path_factory: pytest.TempPathFactory, photo_folder: Path) -> Path:
    return train_tiny(str(photo_folder), tmp_path_factory.mktemp("runs") / "tiny-gray", channels=1)


@pytest.fixture()
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user folder (models, runs) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("DPM_DESKTOP_HOME", str(home))
    return home

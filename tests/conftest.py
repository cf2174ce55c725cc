"""Shared fixtures: real images on disk and real (tiny, quickly trained) checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def photo_like(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth, photo-like test image (gradients, soft blobs, an edge), float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, channels), np.float32)
    for c in range(channels):
        img[:, :, c] = 0.3 + 0.3 * xx + 0.2 * yy * (c + 1) / channels
        for _ in range(6):
            cy, cx, r = rng.random(), rng.random(), 0.05 + 0.2 * rng.random()
            img[:, :, c] += 0.25 * (rng.random() - 0.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img[:, : w // 3, c] += 0.1 * (c - 1)
    return np.clip(img, 0, 1)


def write_photo(path: Path, h: int = 96, w: int = 128, seed: int = 0, mode: str = "RGB") -> Path:
    px = photo_like(h, w, seed, 3)
    im = Image.fromarray((px * 255 + 0.5).astype(np.uint8), "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(6):
        write_photo(folder / f"img{i}.png", 80 + 8 * i, 96, seed=i)
    return folder


def train_tiny(data: str, out: Path, *, steps: int = 30, channels: int = 3, arch: str = "unet", **kw) -> Path:
    from dpm_desktop.core.train import TrainConfig, Trainer

    cfg = TrainConfig(data=data, out=str(out), arch=arch, preset="tiny", steps=steps, batch=4, patch=32,
                      channels=channels, checkpoint_every=steps, val_every=steps, val_count=8, T=100, warmup=5,
                      amp="off", **kw)
    return Trainer(cfg).run()


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

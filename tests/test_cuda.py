"""CUDA, where a GPU is present (they skip elsewhere; the campaign's GPU burst, scripts/gpu_burst.sh,
runs them): restorations on the GPU agree with the CPU's, and a training step runs there with the
precision the trainer picks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import photo_like

from dpm_desktop.core.restore import denoise, inpaint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_denoise_on_the_gpu_matches_the_cpu(tiny_rgb_model: Path) -> None:
    noisy = np.clip(photo_like(64, 80) + np.random.default_rng(0).normal(0, 0.1, (64, 80, 3)), 0, 1)
    noisy = noisy.astype(np.float32)
    cpu = denoise(noisy, sigma=25, model=tiny_rgb_model, device="cpu").pixels
    gpu = denoise(noisy, sigma=25, model=tiny_rgb_model, device="cuda").pixels
    assert np.abs(cpu - gpu).max() < 2e-3  # TF32 / kernel order, not a different result


def test_inpaint_on_the_gpu_keeps_the_photo_and_fills_alike(tiny_rgb_model: Path) -> None:
    px = photo_like(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    gpu = inpaint(px, mask, model=tiny_rgb_model, device="cuda").pixels
    assert np.array_equal(gpu[~mask], px[~mask])
    assert np.isfinite(gpu).all() and gpu.min() >= 0 and gpu.max() <= 1


def test_a_training_step_on_the_gpu(photo_folder: Path, tmp_path: Path) -> None:
    from dpm_desktop.core.train import TrainConfig, Trainer

    cfg = TrainConfig(data=str(photo_folder), out=str(tmp_path / "run"), arch="unet", preset="tiny", steps=3,
                      batch=4, patch=32, checkpoint_every=3, val_every=3, val_count=4, T=100, warmup=1,
                      device="cuda", amp="auto")
    state = Trainer(cfg).run()
    assert (state / "model.safetensors").is_file()

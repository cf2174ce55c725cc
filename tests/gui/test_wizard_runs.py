"""A training run paused, resumed, then stopped early with Stop and keep: the model it leaves is
registered and restores a photo. The trainer is the real ``dpm train`` child process."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.registry import user_models_dir
from dpm_desktop.core.restore import denoise
from dpm_desktop.gui.model import run_store

from . import wizard_support
from .wizard_support import TRAIN_TIMEOUT_MS, open_wizard, proc_state, start_training

trainer_pids = wizard_support.trainer_pids  # the fixture: no trainer process may outlive a test
LONG = 5000  # steps: these runs never get to the end


@pytest.mark.slow
@pytest.mark.usefixtures("trainer_pids")
def test_pause_resume_then_stop_and_keep_gives_a_usable_model(window, qtbot, photo_folder, monkeypatch):
    wiz = open_wizard(window, monkeypatch)
    wiz.plan_overrides.update(checkpoint_every=100_000, val_every=100_000)  # the only checkpoint: Stop's
    start_training(qtbot, wiz, photo_folder, steps=LONG, name="stopped")
    page = wiz.training_page
    qtbot.waitUntil(lambda: bool(wiz.run.loss), timeout=TRAIN_TIMEOUT_MS)

    # Pause suspends the process (SIGSTOP); nothing moves until Resume.
    pid = wiz.process.pid
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    assert wiz.process.state == "paused" and page.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: proc_state(pid) == "T", timeout=5_000)
    qtbot.wait(300)  # a step event already in the pipe may still arrive
    step = wiz.run.step
    qtbot.wait(1500)
    assert wiz.run.step == step and "suspended" in page.state.text()
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    assert wiz.process.state == "running" and proc_state(pid) != "T"
    qtbot.waitUntil(lambda: wiz.run.step > step, timeout=TRAIN_TIMEOUT_MS)

    # Stop and keep: a checkpoint at the current step, registered as the model.
    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    assert wiz.process.state == "stopping"
    qtbot.waitUntil(lambda: wiz.currentId() == wiz.DONE, timeout=TRAIN_TIMEOUT_MS)
    assert wiz.process.outcome.kind == "stopped" and wiz.run.stopped_early
    stopped_at = wiz.run.step
    assert 0 < stopped_at < LONG and wiz.run.checkpoint_step == stopped_at
    assert not (wiz.run_dir / "STOP").exists()
    ckpt = load_checkpoint(user_models_dir() / "stopped")
    assert ckpt.meta["training"]["steps"] == stopped_at
    assert "stopped early" in wiz.done_page.card.text()
    # Usable: it restores a photo.
    noisy = np.clip(np.random.default_rng(0).normal(0.5, 0.1, (40, 48, 3)), 0, 1).astype(np.float32)
    out = denoise(noisy, sigma=25, model=user_models_dir() / "stopped", device="cpu")
    assert out.pixels.shape == noisy.shape and np.isfinite(out.pixels).all()
    assert run_store.resumable_runs() == []  # kept and registered: nothing to offer at the next start

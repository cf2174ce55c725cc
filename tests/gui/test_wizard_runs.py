"""Training runs that do not simply finish: Pause / Resume, Stop and keep, a trainer killed in the
middle, quitting the app during a run; and what the next start of the app offers. The trainer is
the real ``dpm train`` child process every time."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from PySide6.QtCore import Qt

from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.registry import user_models_dir
from dpm_desktop.core.restore import denoise
from dpm_desktop.gui.model import run_store

from . import wizard_support
from .helpers import make_window
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


@pytest.mark.slow
@pytest.mark.usefixtures("trainer_pids")
def test_a_killed_trainer_shows_an_error_and_the_run_resumes(window, qtbot, photo_folder, monkeypatch):
    wiz = open_wizard(window, monkeypatch)
    start_training(qtbot, wiz, photo_folder, steps=LONG, name="killed")
    qtbot.waitUntil(lambda: wiz.run.checkpoint_step is not None, timeout=TRAIN_TIMEOUT_MS)
    saved = wiz.run.checkpoint_step
    run_dir = wiz.run_dir

    # The trainer dies (an out-of-memory kill, a driver crash): the app stays, and says so.
    os.kill(wiz.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: wiz.process.state == "ended", timeout=30_000)
    page = wiz.training_page
    assert wiz.process.outcome.kind == "crashed" and window.isVisible()
    assert "stopped unexpectedly" in page.banner.text() and f"step {saved:,} is kept" in page.banner.text()
    assert page.restart_button.isVisible() and not page.stop_button.isEnabled()
    assert [r.run_dir for r in run_store.resumable_runs()] == [run_dir]
    assert run_store.read_status(run_dir)["status"] == "interrupted"

    # The next start of the app offers it; Resume continues from the checkpoint in a new process.
    window.close()
    w2 = make_window(qtbot, monkeypatch)
    qtbot.waitUntil(lambda: w2.resume_prompt is not None, timeout=5_000)
    assert "killed" in w2.resume_prompt.text()
    next(b for b in w2.resume_prompt.buttons() if b.text() == "Resume").click()
    wiz2 = w2.training_wizard
    assert wiz2 is not None and wiz2.currentId() == wiz2.TRAINING
    monkeypatch.setattr(wiz2, "confirm", lambda *a: True)
    qtbot.waitUntil(lambda: wiz2.run.resumed_from == saved, timeout=TRAIN_TIMEOUT_MS)
    assert wiz2.run.loss and wiz2.run.loss[0][0] <= saved  # the curves of the first process are back
    assert "killed" in wiz2.training_page.headline.text()

    # Pause by stopping (Windows, runs measured in minutes): saved, no process, then resumed exactly.
    wiz2.process.pause_by_signal = False
    qtbot.waitUntil(lambda: wiz2.process.state == "running", timeout=TRAIN_TIMEOUT_MS)
    wiz2.training_page.pause_button.click()
    assert wiz2.process.state == "pausing"
    qtbot.waitUntil(lambda: wiz2.process.state == "paused", timeout=TRAIN_TIMEOUT_MS)
    assert not wiz2.process.is_running and wiz2.currentId() == wiz2.TRAINING
    paused_at = run_store.checkpoint_step(run_dir)
    assert paused_at is not None and paused_at >= saved and wiz2.run.done is None
    wiz2.training_page.pause_button.click()  # Resume
    qtbot.waitUntil(lambda: wiz2.run.resumed_from == paused_at and wiz2.process.state == "running",
                    timeout=TRAIN_TIMEOUT_MS)

    # Quitting the app during the run asks, stops it with a checkpoint, and leaves it resumable.
    asked = []
    monkeypatch.setattr(wiz2, "confirm_quit", lambda: asked.append(True) or True)
    assert w2.close()
    assert asked and not wiz2.process.is_running and wiz2.process.outcome.kind == "stopped"
    assert run_store.read_status(run_dir)["status"] == "interrupted"
    assert [r.run_dir for r in run_store.resumable_runs()] == [run_dir]
    events = run_store.read_events(run_dir)
    assert events[-1]["event"] == "done" and events[-1]["stopped"] is True
    assert json.loads((run_dir / "latest.json").read_text())["step"] >= paused_at

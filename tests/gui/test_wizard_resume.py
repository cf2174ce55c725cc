"""A trainer killed in the middle of a run: the app says so and keeps the run; the next start
offers to resume it, it continues from its checkpoint (also when paused by stopping, as on
Windows), and quitting the app during the run asks and leaves it resumable again."""

from __future__ import annotations

import json
import os
import signal

import pytest

from dpm_desktop.gui.model import run_store

from . import wizard_support
from .helpers import make_window
from .wizard_support import TRAIN_TIMEOUT_MS, open_wizard, start_training

trainer_pids = wizard_support.trainer_pids  # the fixture: no trainer process may outlive a test
LONG = 5000  # steps: this run never gets to the end


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

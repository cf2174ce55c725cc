"""The application itself crashes during a training run: its trainer must not train on as an
orphan, but stop with a checkpoint, and the next start must offer to resume the run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpm_desktop.gui.model import run_store

from .helpers import make_window
from .wizard_support import proc_state

# A stand-in for the app: it starts the trainer exactly as the wizard does, then dies at the first step.
APP = r"""
import os, sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication
from dpm_desktop.gui.model.run_store import new_run_dir, write_status
from dpm_desktop.gui.model.train_plan import TrainPlan
from dpm_desktop.gui.workers.train_process import TrainProcess

app = QCoreApplication([])
plan = TrainPlan(data=Path(sys.argv[1]), name="crashy", preset="tiny", patch=32, steps=5000, device="cpu", batch=4,
                 val_every=100_000, checkpoint_every=100_000)
run_dir = new_run_dir(plan.name)
write_status(run_dir, "training", name=plan.name)
proc = TrainProcess()

def on_event(e):
    if e["event"] == "step":
        print(proc.pid, run_dir, flush=True)
        os._exit(3)  # a crash: no clean-up, no Stop

proc.event.connect(on_event)
proc.start(plan.args(run_dir), run_dir)
app.exec()
"""


@pytest.mark.slow
def test_an_app_crash_leaves_a_resumable_run_not_an_orphan(gui_env, photo_folder, qtbot, monkeypatch):
    out = subprocess.run([sys.executable, "-c", APP, str(photo_folder)], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ))
    assert out.returncode == 3, out.stderr[-2000:]
    pid_text, run_text = out.stdout.split(maxsplit=1)
    pid, run_dir = int(pid_text), Path(run_text.strip())
    deadline = time.monotonic() + 120
    while _alive(pid):  # the orphaned trainer notices, saves and ends
        assert time.monotonic() < deadline, "the trainer kept running after the app died"
        time.sleep(0.2)
    events = run_store.read_events(run_dir)
    assert [e["event"] for e in events[-3:]] == ["stopped", "checkpoint", "done"] and events[-1]["stopped"]
    assert run_store.checkpoint_step(run_dir) == events[-1]["step"] > 0
    assert [r.run_dir for r in run_store.resumable_runs()] == [run_dir]

    window = make_window(qtbot, monkeypatch)
    qtbot.waitUntil(lambda: window.resume_prompt is not None, timeout=5_000)
    assert "crashy" in window.resume_prompt.text() and f"step {events[-1]['step']}" in window.resume_prompt.text()
    next(b for b in window.resume_prompt.buttons() if b.text() == "Delete the run").click()
    assert not run_dir.exists() and run_store.resumable_runs() == []
    window.close()


def _alive(pid: int) -> bool:
    try:
        return proc_state(pid) != "Z"
    except OSError:
        return False

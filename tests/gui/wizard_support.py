"""Shared by the training wizard's tests: a wizard on the real main window whose runs last
seconds (tiny preset, 32 px patches, batch 4), and a guard that no trainer process outlives a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpm_desktop.gui.ui.main_window import MainWindow
from dpm_desktop.gui.ui.wizard import TrainWizard
from dpm_desktop.gui.workers import train_process

# Seconds-long runs: checkpoints and validations often enough to see them, a short warm-up.
FAST = {"batch": 4, "val_every": 20, "checkpoint_every": 20, "extra": {"warmup": 5}}
TRAIN_TIMEOUT_MS = 240_000  # a loaded 2-core machine starts torch in a child slowly


@pytest.fixture()
def trainer_pids(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every trainer process the test starts; afterwards none may be alive."""
    pids: list[int] = []
    launch = train_process.TrainProcess._launch

    def recording(self, resume: bool) -> None:
        launch(self, resume)
        proc = self._proc
        proc.started.connect(lambda: pids.append(int(proc.processId())))

    monkeypatch.setattr(train_process.TrainProcess, "_launch", recording)
    yield pids
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:
        os.kill(pid, 9)
    assert not alive, f"trainer processes left running: {alive}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def open_wizard(window: MainWindow, monkeypatch: pytest.MonkeyPatch, resume: Path | None = None) -> TrainWizard:
    wiz = window.open_training_wizard(resume=resume)
    wiz.plan_overrides = dict(FAST)
    monkeypatch.setattr(wiz, "confirm", lambda *a: True)  # "are you sure?" answers yes
    return wiz


def fill_model_page(wiz: TrainWizard, *, steps: int, name: str) -> None:
    page = wiz.model_page
    page.preset_buttons["tiny"].setChecked(True)
    page.patch.setCurrentIndex(page.patch.findData(32))
    page.by_steps.setChecked(True)
    page.steps.setValue(steps)
    page.device.setCurrentIndex(page.device.findData("cpu"))
    page.name.setText(name)


def start_training(qtbot, wiz: TrainWizard, folder: Path, *, steps: int, name: str = "holiday") -> None:
    """Walk pages 1 and 2 as a user would, then press Start training."""
    wiz.data_page.set_folder(folder)
    qtbot.waitUntil(wiz.data_page.isComplete, timeout=30_000)
    wiz.next()
    fill_model_page(wiz, steps=steps, name=name)
    wiz.next()
    assert wiz.currentId() == wiz.TRAINING


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of a process: R, S, T (stopped), Z..."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0]

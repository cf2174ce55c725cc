"""The training wizard (issue 6): the whole walk from a folder to a model in the picker, with the
real trainer as a child process; folders that cannot be used; and its parts (events, run folders,
trainer arguments) on their own (the curve plot: test_wizard_curves.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from dpm_desktop.cli import build_parser
from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.registry import list_models, runs_dir, user_models_dir
from dpm_desktop.gui.model import run_store
from dpm_desktop.gui.model.train_plan import TrainPlan, finetune_settings
from dpm_desktop.gui.model.training_run import TrainingRun, parse_event

from . import wizard_support
from .wizard_support import TRAIN_TIMEOUT_MS, open_wizard

trainer_pids = wizard_support.trainer_pids  # the fixture: no trainer process may outlive a test


@pytest.mark.slow
@pytest.mark.usefixtures("trainer_pids")
def test_walk_the_whole_wizard_to_a_model_in_the_picker(window, qtbot, photo_folder, monkeypatch):
    wiz = open_wizard(window, monkeypatch)
    assert wiz.isVisible() and wiz.currentId() == wiz.DATA
    assert not wiz.button(QWizard.WizardButton.NextButton).isEnabled()

    # 1. Data: the scan runs in the background and shows what it found.
    wiz.data_page.set_folder(photo_folder)
    qtbot.waitUntil(wiz.data_page.isComplete, timeout=30_000)
    page1 = wiz.data_page
    assert "6 usable photos" in page1.summary.text() and "all colour" in page1.summary.text()
    assert page1.thumbs.count() == 6 and page1.skipped.count() == 0
    assert page1.colour.isChecked() and page1.channels == 3
    assert wiz.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.mouseClick(wiz.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)

    # 2. Model: parameter counts and the step time measured on this CPU (then cached in QSettings).
    page2 = wiz.model_page
    assert wiz.currentId() == wiz.MODEL and page2.name.text() == photo_folder.name
    page2.preset_buttons["tiny"].setChecked(True)
    page2.patch.setCurrentIndex(page2.patch.findData(32))
    page2.steps.setValue(20)
    page2.device.setCurrentIndex(page2.device.findData("cpu"))
    page2.name.setText("holiday")
    qtbot.waitUntil(lambda: "/ 1000 steps on CPU" in page2.time_labels["tiny"].text(), timeout=120_000)
    assert page2.param_labels["tiny"].text() == "174 k parameters"
    assert "About" in page2.estimate.text()
    cached = [k for k in window.settings.q.allKeys() if k.startswith("wizard/step_time/unet-tiny-32-cpu")]
    assert cached and float(window.settings.q.value(cached[0])) > 0
    commit = wiz.button(QWizard.WizardButton.CommitButton)
    assert commit.isVisible() and commit.text() == "Start training"
    qtbot.mouseClick(commit, Qt.MouseButton.LeftButton)

    # 3. Training: the real `dpm train` in a child process, curves and preview as it goes.
    assert wiz.currentId() == wiz.TRAINING and wiz.process.is_active
    assert not wiz.model_page.bench.is_running or wiz.model_page.bench._token.cancelled
    qtbot.waitUntil(lambda: wiz.currentId() == wiz.DONE, timeout=TRAIN_TIMEOUT_MS)
    run_dir = wiz.run_dir
    assert run_dir.parent == runs_dir()
    assert wiz.process.outcome.kind == "done" and wiz.run.step == 20
    assert wiz.run.loss and wiz.run.val and wiz.run.val[-1].psnr25 is not None
    assert not wiz.training_page.preview.pixmap().isNull()
    assert wiz.training_page.loss_plot.ys and wiz.training_page.val_plot.ys

    # 4. Done: the newest checkpoint registered under the chosen name, with its card.
    latest = json.loads((run_dir / "latest.json").read_text())
    assert latest["step"] == 20 and (run_dir / latest["state"] / "model.safetensors").is_file()
    model_dir = user_models_dir() / "holiday"
    ckpt = load_checkpoint(model_dir)
    assert ckpt.meta["training"]["steps"] == 20 and ckpt.channels == 3
    assert ckpt.meta["sha256"] == json.loads((run_dir / latest["state"] / "model.json").read_text())["sha256"]
    assert run_store.read_status(run_dir)["status"] == "registered"
    card = wiz.done_page.card.text()
    assert "holiday" in card and "20 steps" in card and "6 colour photos" in card and "bits/px" in card
    assert "holiday" in [m.name for m in list_models()]
    picker = window.task_panel.model
    assert picker.findData("holiday") >= 0
    assert run_store.resumable_runs() == []

    # "Open a photo with this model": the model is picked and the Open dialog comes up.
    asked = []
    monkeypatch.setattr(window, "open_dialog", lambda: asked.append(True))
    qtbot.mouseClick(wiz.done_page.open_button, Qt.MouseButton.LeftButton)
    assert asked and picker.currentData() == "holiday"
    qtbot.waitUntil(lambda: window.training_wizard is None)


def test_a_folder_of_non_images_is_refused_with_the_reason(window, qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "not-photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    from support import write_photo

    write_photo(folder / "icon.png", 12, 16)
    wiz = open_wizard(window, monkeypatch)
    page = wiz.data_page
    page.set_folder(folder)
    qtbot.waitUntil(lambda: page.report is not None, timeout=30_000)
    assert not page.isComplete() and not wiz.button(QWizard.WizardButton.NextButton).isEnabled()
    text = page.summary.text()
    assert "No usable images" in text and "all 3 files are skipped" in text
    reasons = [page.skipped.item(i).text() for i in range(page.skipped.count())]
    assert any(r.startswith("notes.txt") and "not an image" in r for r in reasons)
    assert any(r.startswith("icon.png") and "too small" in r for r in reasons)
    assert any(r.startswith("broken.jpg") for r in reasons) and page.thumbs.count() == 0
    assert not wiz.validateCurrentPage()

    # An empty folder and a missing one say so too.
    empty = tmp_path / "empty"
    empty.mkdir()
    page.set_folder(empty)
    qtbot.waitUntil(lambda: page.report is not None and page.scanner.context == empty, timeout=30_000)
    assert "holds no files" in page.summary.text() and not page.isComplete()
    page.set_folder(tmp_path / "nowhere")
    qtbot.waitUntil(lambda: "no such folder" in page.summary.text(), timeout=30_000)
    assert not page.isComplete()
    wiz.reject()
    qtbot.waitUntil(lambda: window.training_wizard is None)


def test_grayscale_photos_suggest_a_grayscale_model(window, qtbot, tmp_path, monkeypatch):
    from PIL import Image
    from support import write_photo

    for i in range(2):
        write_photo(tmp_path / f"g{i}.png", 64, 64, seed=i, mode="L")
    for i in range(2):  # black-and-white scans saved as RGB JPEGs count as grey too
        grey = write_photo(tmp_path / f"tmp{i}.png", 64, 64, seed=5 + i, mode="L")
        Image.open(grey).convert("RGB").save(tmp_path / f"scan{i}.jpg", quality=90)
        grey.unlink()
    wiz = open_wizard(window, monkeypatch)
    wiz.data_page.set_folder(tmp_path)
    qtbot.waitUntil(wiz.data_page.isComplete, timeout=30_000)
    assert wiz.data_page.gray.isChecked() and wiz.data_page.channels == 1
    assert "all grayscale" in wiz.data_page.summary.text()
    wiz.reject()


# the parts ---------------------------------------------------------------------------------------
def test_training_run_follows_the_trainers_events(qtbot):
    run = TrainingRun()
    assert parse_event(b"not json") is None and parse_event('{"x": 1}') is None
    events = [
        {"event": "start", "step": 0, "total": 100, "device": "cpu", "amp": "off", "params": 1234,
         "skipped": [["a.txt", "not an image file extension"]], "run_dir": "/r"},
        {"event": "step", "step": 20, "total": 100, "loss": 1.0, "images_per_s": 10.0, "eta_s": 8.0, "elapsed_s": 2},
        {"event": "val", "step": 20, "bits_per_px": 3.0, "bits_stderr": 0.1, "psnr25": 20.0, "preview": "/r/p.png"},
        {"event": "checkpoint", "step": 20, "path": "/r/state-0000020"},
        {"event": "step", "step": 40, "total": 100, "loss": 0.5, "images_per_s": 10.0, "eta_s": 6.0, "elapsed_s": 4},
    ]
    with qtbot.waitSignal(run.previewChanged):
        for e in events:
            run.feed(e)
    assert run.step == 40 and run.fraction == 0.4 and run.params == 1234 and run.skipped[0][0] == "a.txt"
    assert run.checkpoint_step == 20 and run.loss == [(20, 1.0), (40, 0.5)] and run.last_val.psnr25 == 20.0
    # A resume continues from the checkpoint: what came after it is trained again.
    run.feed({"event": "resumed", "step": 20, "path": "/r/state-0000020"})
    assert run.step == 20 and run.loss == [(20, 1.0)]
    run.feed({"event": "done", "step": 100, "path": "/r/state-0000100", "wall_time_s": 9.0, "stopped": False})
    assert run.done and run.checkpoint_step == 100 and not run.stopped_early

    again = TrainingRun()
    again.replay(events)  # an interrupted run's curves, read back from progress.jsonl
    assert again.loss == [*run.loss, (40, 0.5)] and again.done is None


def _fake_run(root: Path, name: str, *, step: int | None, status: str | None, done: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps({"name": name, "steps": 100, "data": "/photos"}))
    if step is not None:
        state = run / f"state-{step:07d}"
        state.mkdir()
        (state / "train_state.json").write_text("{}")
        (state / "model.json").write_text("{}")
        (run / "latest.json").write_text(json.dumps({"state": state.name, "step": step}))
    if done:
        (run / "progress.jsonl").write_text(json.dumps({"event": "done", "stopped": False}) + "\n")
    if status:
        run_store.write_status(run, status, name=name)
    return run


def test_which_runs_are_resumable(app_home):
    root = runs_dir()
    _fake_run(root, "crashed", step=40, status="training")
    _fake_run(root, "closed", step=20, status="interrupted")
    _fake_run(root, "registered", step=100, status="registered")
    _fake_run(root, "too-early", step=None, status="interrupted")
    _fake_run(root, "cli-finished", step=100, status=None, done=True)
    _fake_run(root, "cli-killed", step=60, status=None)
    found = {r.name: r for r in run_store.resumable_runs()}
    assert set(found) == {"crashed", "closed", "cli-killed"}
    assert found["crashed"].step == 40 and "step 40 of 100" in found["crashed"].describe()


def test_model_names_and_run_folders_are_unique(app_home, tiny_rgb_model):
    from dpm_desktop.core.registry import import_model

    assert run_store.unique_model_name("My scans!") == "My-scans"
    import_model(tiny_rgb_model, "scans")
    assert run_store.unique_model_name("scans") == "scans-2"
    assert run_store.unique_model_name("SCANS") == "SCANS-2"
    a = run_store.new_run_dir("scans")
    a.mkdir(parents=True)
    assert run_store.new_run_dir("scans") != a


def test_plans_become_valid_trainer_arguments(tmp_path, tiny_rgb_model):
    parser = build_parser()
    plan = TrainPlan(data=tmp_path, name="x", arch="paper", preset="tiny", patch=48, minutes=5, steps=None,
                     device="cpu")
    args = parser.parse_args(["train", *plan.args(tmp_path / "run")])
    assert (args.arch, args.parameterisation, args.objective, args.amp, args.minutes, args.steps) == \
        ("paper", "paper", "bound", "off", 5.0, None)
    # Fine-tuning rebuilds the starting model's network exactly, whatever preset is on the page.
    meta = load_checkpoint(tiny_rgb_model).meta
    ft = TrainPlan(data=tmp_path, name="y", preset="base", init_from=tiny_rgb_model, init_meta=meta)
    args = parser.parse_args(["train", *ft.args(tmp_path / "run2")])
    assert args.init_from == str(tiny_rgb_model) and args.T == meta["diffusion"]["T"] == 100
    assert "width=16" in args.network and "mults=[1, 2]" in args.network
    assert finetune_settings(meta)["channels"] == 3


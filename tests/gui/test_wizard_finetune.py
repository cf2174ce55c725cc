"""Fine-tuning from an installed model through the wizard: the run starts from its weights and keeps
its network, whatever the page's preset, and the result is registered beside it under a new name."""

from __future__ import annotations

import pytest

from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.registry import user_models_dir

from . import wizard_support
from .wizard_support import TRAIN_TIMEOUT_MS, open_wizard

trainer_pids = wizard_support.trainer_pids  # the fixture: no trainer process may outlive a test


@pytest.mark.slow
@pytest.mark.usefixtures("trainer_pids")
def test_fine_tuning_starts_from_an_installed_model(window, qtbot, photo_folder, monkeypatch, bundled_models):
    wiz = open_wizard(window, monkeypatch)
    wiz.data_page.set_folder(photo_folder)
    qtbot.waitUntil(wiz.data_page.isComplete, timeout=30_000)
    wiz.next()
    page = wiz.model_page
    assert page.finetune.isEnabled() and page.finetune_model.findData("photo-rgb") >= 0
    page.finetune.setChecked(True)
    page.finetune_model.setCurrentIndex(page.finetune_model.findData("photo-rgb"))
    assert not page.preset_buttons["base"].isEnabled() and "photo-rgb's weights" in page.finetune_note.text()
    page.patch.setCurrentIndex(page.patch.findData(32))
    page.steps.setValue(20)
    page.device.setCurrentIndex(page.device.findData("cpu"))
    page.name.setText("photo-rgb")  # taken by the bundled model: registered under another name
    assert "photo-rgb-2" in page.name_note.text()
    wiz.next()
    qtbot.waitUntil(lambda: wiz.currentId() == wiz.DONE, timeout=TRAIN_TIMEOUT_MS)
    tuned = load_checkpoint(user_models_dir() / "photo-rgb-2")
    base = load_checkpoint(bundled_models / "photo-rgb")
    assert tuned.meta["network"] == base.meta["network"] and tuned.meta["diffusion"]["T"] == 100
    assert tuned.meta["training"]["settings"]["init_from"] == str(bundled_models / "photo-rgb")
    assert "fine-tuned from" in wiz.done_page.card.text()
    wiz.accept()

"""Saving from the app keeps the photo's metadata, with a note of what was done, or leaves it out
when the Save dialog's "Keep the photo's metadata" is unticked (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from support import write_camera_jpeg

from dpm_desktop.gui.ui.dialogs import SaveDialog

from .helpers import open_and_wait, wait_idle


def _save_as(w, monkeypatch, out: Path, *, keep: bool) -> None:
    def fake_exec(dialog: SaveDialog) -> int:
        assert dialog.metadata.isChecked()  # kept unless the user says otherwise
        dialog.set_path(out)
        dialog.metadata.setChecked(keep)
        return SaveDialog.DialogCode.Accepted

    monkeypatch.setattr(SaveDialog, "exec", fake_exec)
    assert w.save_as()


@pytest.mark.parametrize("keep", [True, False])
def test_save_keeps_or_strips_metadata(window, qtbot, monkeypatch, tmp_path, keep):
    w = window
    open_and_wait(qtbot, w, write_camera_jpeg(tmp_path / "IMG_0002.jpg"))
    w.task_panel.set_task("denoise")
    with qtbot.waitSignal(w.controller.jobs.finished, timeout=60_000):
        qtbot.mouseClick(w.task_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    w.doc.apply_result()
    out = tmp_path / "saved.jpg"
    _save_as(w, monkeypatch, out, keep=keep)
    with Image.open(out) as im:
        exif = im.getexif()
        assert im.size == (40, 56) and im.info.get("icc_profile")
        if keep:
            assert exif.get(0x0110) == "EOS 5D" and exif.get(0x0112) == 1
            assert exif.get_ifd(0x8769).get(0x9003) == "2019:07:14 16:20:00"
            assert "denoise" in exif.get(0x0131) and b"Ann" in im.info["xmp"]
        else:
            assert len(exif) == 0 and "xmp" not in im.info

"""The application's controller without a window (issue 14 item 7): a real photo, the tiny trained
model, real worker threads; what a window would show is observed through the controller's signals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication
from support import write_photo

from dpm_desktop.gui.model.controller import RestoreController
from dpm_desktop.gui.model.restore_jobs import Expectation
from dpm_desktop.gui.model.task import TaskParams
from dpm_desktop.gui.workers.runner import StepInfo

DENOISE = TaskParams(task="denoise", model="photo-rgb", device="cpu", sigma_auto=False, sigma=20.0, mode="sample",
                     samples=2, denoise_steps=4)  # two chains: their spread is the uncertainty
INPAINT = TaskParams(task="inpaint", model="photo-rgb", device="cpu", preset="custom", steps=4, resample=1)
LONG_INPAINT = replace(INPAINT, steps=1000, resample=3)  # minutes: only ever cancelled


@pytest.fixture()
def ctl(qtbot, gui_env: Path) -> Iterator[RestoreController]:
    widgets = set(QApplication.topLevelWidgets())
    c = RestoreController()
    assert set(QApplication.topLevelWidgets()) == widgets  # the controller makes no widget
    yield c
    c.shutdown()
    assert not any(r.is_running for r in c.runners)


@pytest.fixture()
def messages(ctl: RestoreController) -> list[str]:
    """The status messages, in order."""
    out: list[str] = []
    ctl.status.connect(lambda text, _ms: out.append(text))
    return out


def _open(qtbot, c: RestoreController, path: Path, mask: Path | None = None) -> None:
    with qtbot.waitSignal(c.opened, timeout=30_000):
        assert c.open_photo(path, mask)


def _run(qtbot, c: RestoreController, params: TaskParams):
    c.set_params(params)
    steps: list[StepInfo] = []
    c.jobs.progress.connect(steps.append)
    with qtbot.waitSignal(c.jobs.finished, timeout=120_000) as finished:
        assert c.run()
    qtbot.waitUntil(lambda: not c.jobs.busy, timeout=10_000)
    return finished.args[0], steps


def test_opens_a_photo_and_estimates_its_noise(ctl, messages, qtbot, photo):
    with qtbot.waitSignal(ctl.opener.sigmaChanged, timeout=30_000, check_params_cb=lambda s: s is not None) as sigma:
        _open(qtbot, ctl, photo)
        assert ctl.doc.has_image and (ctl.doc.width, ctl.doc.height) == (128, 96)
    assert sigma.args[0] == ctl.opener.sigma_estimate and 0 <= sigma.args[0] < 50
    assert messages[0] == "Opening photo.png…" and messages[1].startswith("Opened photo.png")
    assert ctl.settings.recent_files()[0] == str(photo.resolve())


def test_denoise_reports_progress_and_its_result_waits_for_apply(ctl, messages, qtbot, photo):
    _open(qtbot, ctl, photo)
    original = ctl.doc.pixels.copy()
    result, steps = _run(qtbot, ctl, DENOISE)
    assert steps and steps[-1].step == steps[-1].total > 0
    assert result is ctl.doc.result and result.task == "denoise"
    assert (result.region.width(), result.region.height()) == (128, 96) and result.uncertainty is not None
    assert np.array_equal(ctl.doc.pixels, original)  # nothing changes until Apply
    assert ctl.apply_result() and not np.array_equal(ctl.doc.pixels, original)
    assert messages[-1] == "Result applied (Ctrl+Z to undo)"
    ctl.doc.undo_stack.undo()
    assert np.array_equal(ctl.doc.pixels, original)


def test_inpaint_changes_only_the_mask_and_measures_the_next_fills_time(ctl, qtbot, photo):
    _open(qtbot, ctl, photo)
    ctl.set_params(INPAINT)
    mask = np.zeros((96, 128), np.uint8)
    mask[30:50, 40:70] = 255
    with qtbot.waitSignal(ctl.expectationChanged, timeout=5_000, check_params_cb=lambda e: e is not None) as before:
        ctl.doc.set_coverage(mask, "a hole")
    assert isinstance(before.args[0], Expectation) and before.args[0].calls > 0 and before.args[0].seconds is None
    original = ctl.doc.pixels.copy()

    def measured(e: Expectation | None) -> bool:
        return e is not None and e.seconds is not None

    with qtbot.waitSignal(ctl.expectationChanged, timeout=120_000, check_params_cb=measured) as after:
        result, steps = _run(qtbot, ctl, INPAINT)
    assert steps and result.task == "inpaint" and result.params["resample"] == 1
    assert after.args[0].calls == before.args[0].calls and after.args[0].seconds > 0  # the run's own rate
    ctl.apply_result()
    changed = np.any(ctl.doc.pixels != original, axis=2)
    assert changed.any() and not changed[mask == 0].any()


def _fast_fill_and_next_estimate(qtbot, ctl, photo, mask: np.ndarray, what: str):
    """Open the photo, paint ``mask``, run the fast preset; the result and the estimate it leaves."""
    _open(qtbot, ctl, photo)
    ctl.set_params(replace(INPAINT, preset="fast"))
    ctl.doc.set_coverage(mask, what)

    def measured(e: Expectation | None) -> bool:
        return e is not None and e.seconds is not None

    with qtbot.waitSignal(ctl.expectationChanged, timeout=120_000, check_params_cb=measured) as after:
        result, _ = _run(qtbot, ctl, replace(INPAINT, preset="fast"))
    return result, after.args[0]


def test_a_scratch_fill_times_its_spectral_guess_apart_from_the_network(ctl, qtbot, photo):
    """Fast on a thin mask: the CPU-side spectral guess and the one network call are timed apart,
    so the next estimate adds both and a hole's estimate is not inflated by the guess."""
    assert ctl.jobs.guess_rate is None
    mask = np.zeros((96, 128), np.uint8)
    mask[40:42, 8:120] = 255
    result, after = _fast_fill_and_next_estimate(qtbot, ctl, photo, mask, "a scratch")
    assert result.params["guess"] == "spectral" and 0 < result.params["guess_s"] < result.elapsed_s
    assert ctl.jobs.guess_rate == pytest.approx(result.params["guess_s"] / np.count_nonzero(mask))
    assert ctl.jobs.rates[("photo-rgb", "cpu")] > 0
    assert after.calls == 1
    assert after.seconds == pytest.approx(result.elapsed_s, rel=1e-6)  # the run's own two parts


def test_cancel_stops_the_run_and_leaves_the_photo(ctl, messages, qtbot, photo):
    _open(qtbot, ctl, photo)
    original = ctl.doc.pixels.copy()
    ctl.doc.set_coverage(np.pad(np.full((20, 20), 255, np.uint8), ((30, 46), (40, 68))), "a hole")
    ctl.set_params(LONG_INPAINT)
    assert not ctl.cancel()  # nothing runs yet
    with qtbot.waitSignal(ctl.jobs.progress, timeout=60_000):
        assert ctl.run()
    assert not ctl.run()  # one job at a time
    with qtbot.waitSignal(ctl.jobs.cancelled, timeout=10_000):
        assert ctl.cancel()
    qtbot.waitUntil(lambda: not ctl.jobs.busy, timeout=10_000)
    assert ctl.doc.result is None and np.array_equal(ctl.doc.pixels, original)
    assert messages[-1] == "Cancelled; the photo was not changed"


def test_a_bad_file_is_an_error_signal_and_the_document_stays(ctl, qtbot, photo, tmp_path):
    _open(qtbot, ctl, photo)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with qtbot.waitSignal(ctl.error, timeout=30_000) as error, \
            qtbot.waitSignal(ctl.openFailed, timeout=30_000) as failed:
        assert ctl.open_photo(bad)
    title, message, _details = error.args
    assert title == "Cannot open the image" and "broken.jpg" in message
    assert failed.args == [bad, message]
    assert ctl.doc.path == photo


def test_what_cannot_run_says_why(ctl, qtbot, photo, tmp_path):
    ctl.set_params(DENOISE)
    with qtbot.waitSignal(ctl.error) as error:
        assert not ctl.run()
    assert error.args[:2] == ["Nothing to restore", "Open a photo first."]
    _open(qtbot, ctl, photo)
    ctl.set_params(INPAINT)
    with qtbot.waitSignal(ctl.error) as error:
        assert not ctl.run()
    assert error.args[0] == "Nothing to fill"
    ctl.set_params(replace(INPAINT, model="no-such-model"))
    assert not ctl.has_model
    with qtbot.waitSignal(ctl.error) as error:
        assert not ctl.run()
    assert error.args[0] == "No model"
    with qtbot.waitSignal(ctl.error) as error:
        assert not ctl.load_mask(write_photo(tmp_path / "small.png", 20, 20))
    assert error.args[0] == "Cannot use this mask" and "same size" in error.args[1]
    assert not ctl.jobs.busy


def test_a_mask_given_with_the_photo_is_loaded_before_opened(ctl, qtbot, photo, tmp_path):
    mask = np.zeros((96, 128), np.uint8)
    mask[10:20, 30:50] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    with qtbot.waitSignal(ctl.maskLoaded, timeout=30_000):
        _open(qtbot, ctl, photo, tmp_path / "m.png")
    assert np.array_equal(ctl.doc.coverage(), mask)


def test_batch_restores_a_folder(ctl, messages, qtbot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        write_photo(folder / f"p{i}.png", 40, 48, seed=i)
    ctl.set_params(replace(DENOISE, mode="mean"))
    with qtbot.waitSignal(ctl.error) as error:
        assert ctl.batch(tmp_path / "nothing-here", tmp_path / "out") is None
    assert error.args[:2] == ["Batch", f"No images in {tmp_path / 'nothing-here'}."]
    with qtbot.waitSignal(ctl.jobs.batchFinished, timeout=120_000) as finished:
        plan = ctl.batch(folder, tmp_path / "out")
        assert plan is not None and len(plan.inputs) == 2
    report = finished.args[0]
    assert [p.name for p in report.written] == ["p0.png", "p1.png"] and not report.failed
    assert messages[-1] == f"2 written to {tmp_path / 'out'}"


def test_a_large_hole_times_its_patches_apart_from_the_network(ctl, qtbot, photo):
    """Fast on a hole of three coarser scales: the chain's calls and the patches' CPU work are timed
    apart, so the next estimate adds both (the run's own time) and learns a rate for each."""
    assert ctl.jobs.patch_rate is None
    mask = np.zeros((96, 128), np.uint8)
    mask[14:84, 30:100] = 255  # radius 35 px: three coarser scales
    result, after = _fast_fill_and_next_estimate(qtbot, ctl, photo, mask, "an object")
    assert result.params["texture"] and 0 < result.params["patch_s"] < result.elapsed_s
    assert ctl.jobs.patch_rate == pytest.approx(result.params["patch_s"] / np.count_nonzero(mask))
    assert after.seconds == pytest.approx(result.elapsed_s, rel=1e-6)

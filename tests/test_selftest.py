"""The installation self-test (``dpm self-test``, ``dpm-desktop --self-test``) in the source install.

The frozen app runs the same code: ``build/check.sh`` runs it there after ``make package``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import train_tiny

from dpm_desktop import selftest
from dpm_desktop.core.checkpoint import load_checkpoint, save_checkpoint
from dpm_desktop.core.imaging import load_image
from dpm_desktop.core.restore import RestoreResult, estimate_sigma

ROOT = Path(__file__).resolve().parents[1]


def _bundle(model: Path, folder: Path, name: str) -> Path:
    """Copy a checkpoint (its model.json + model.safetensors) into a bundled-models folder."""
    dest = folder / name
    dest.mkdir(parents=True)
    ckpt = load_checkpoint(model)
    for key in ("meta", "weights"):
        src = Path(ckpt.meta["_paths"][key])
        shutil.copy2(src, dest / src.name)
    return folder


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained briefly on the bundled sample: good enough to pass the self-test's
    tolerances (an untrained or 30-step model fails them, see test_broken_model_fails)."""
    photos = tmp_path_factory.mktemp("sample-photos")
    shutil.copy2(ROOT / "resources" / "sample.jpg", photos / "sample.jpg")
    return train_tiny(str(photos), tmp_path_factory.mktemp("runs") / "tiny-sample", steps=150,
                      t_sampling="restoration", lr=2e-3)


def _env(bundled: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ, DPM_DESKTOP_BUNDLED_MODELS=str(bundled), DPM_DESKTOP_HOME=str(home),
               QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("DISPLAY", None)
    return env


@pytest.mark.slow
def test_cli_self_test_passes_with_a_bundled_model(sample_model: Path, tmp_path: Path) -> None:
    bundled = _bundle(sample_model, tmp_path / "models", "tiny")
    run = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "self-test"], env=_env(bundled, tmp_path / "home"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for check in ("sample photo", "load tiny", "denoise tiny", "inpaint tiny"):
        assert any(line.startswith("ok") and check in line and line.endswith(" s]") for line in lines), run.stdout
    assert "unmasked pixels identical" in run.stdout
    assert lines[-1].startswith("self-test passed: 4 checks passed")
    assert "main window" not in run.stdout  # the CLI never imports Qt


@pytest.mark.slow
def test_app_self_test_builds_the_window_offscreen(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    run = subprocess.run([sys.executable, "-m", "dpm_desktop.gui.app", "--self-test", "--allow-no-models"],
                         env=_env(empty, tmp_path / "home"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skip  models" in run.stdout
    window = next(line for line in run.stdout.splitlines() if "main window" in line)
    assert window.startswith("ok") and "platform 'offscreen'" in window and "sample.jpg opened" in window, window
    plot = next(line for line in run.stdout.splitlines() if "training plot" in line)
    assert plot.startswith("ok") and "pyqtgraph" in plot and "log axis True" in plot, plot
    assert not (tmp_path / "home" / "settings.ini").exists()  # the check leaves the user's settings alone


def test_no_bundled_models_fails_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPM_DESKTOP_BUNDLED_MODELS", str(tmp_path / "none"))
    monkeypatch.setenv("DPM_DESKTOP_HOME", str(tmp_path / "home"))
    out = io.StringIO()
    assert selftest.run_self_test(stream=out) == 1
    assert "FAIL  models" in out.getvalue() and "no bundled models" in out.getvalue()
    out = io.StringIO()
    assert selftest.run_self_test(allow_no_models=True, stream=out) == 0
    assert "skip  models" in out.getvalue() and "ok    sample photo" in out.getvalue()


@pytest.mark.slow
def test_broken_model_fails(tiny_rgb_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that predicts no noise leaves the photo as noisy as it was: the denoising tolerance
    must catch it; weights altered after the checksum must fail the load."""
    ckpt = load_checkpoint(tiny_rgb_model)
    zeroed = {k: torch.zeros_like(v) for k, v in ckpt.diffusion.state_dict().items()}
    meta = {k: v for k, v in ckpt.meta.items() if not k.startswith("_") and k != "sha256"}
    save_checkpoint(ckpt.diffusion, meta, tmp_path / "models" / "zeroed", state_dict=zeroed)
    altered = _bundle(tiny_rgb_model, tmp_path / "models", "altered") / "altered"
    weights = next(altered.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("DPM_DESKTOP_BUNDLED_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("DPM_DESKTOP_HOME", str(tmp_path / "home"))
    out = io.StringIO()
    assert selftest.run_self_test(stream=out) == 1
    text = out.getvalue()
    assert "FAIL  load altered" in text and "sha256" in text
    assert "FAIL  denoise zeroed" in text
    assert text.splitlines()[-1].startswith("self-test FAILED")


def test_inpaint_check_catches_changed_unmasked_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    clean = np.full((40, 48, 3), 0.5, np.float32)

    def careless_inpaint(image: np.ndarray, mask: np.ndarray, **_kw: object) -> RestoreResult:
        out = np.where(mask[..., None], 0.5, image).astype(np.float32)
        out[0, 0] = 0.25  # a pixel the user did not ask to change
        return RestoreResult(out)

    monkeypatch.setattr("dpm_desktop.core.restore.inpaint", careless_inpaint)
    with pytest.raises(selftest.CheckFailed, match="1 pixels outside the mask changed"):
        selftest.check_inpaint(None, clean, "cpu")


def test_reference_photo_and_mask() -> None:
    sample = ROOT / "resources" / "sample.jpg"
    ref, gray = selftest.reference_photo(sample, 3), selftest.reference_photo(sample, 1)
    assert ref.shape == (106, 133, 3) and gray.shape == (106, 133, 1) and ref.dtype == np.float32
    assert estimate_sigma(ref) < 8 < estimate_sigma(load_image(sample))  # 4 x 4 averaging removes most noise
    assert selftest.psnr(ref, ref) == float("inf")
    mask = selftest.hole_mask(106, 133)
    ring = selftest.grow(mask, 3) & ~mask
    assert mask.sum() == 12 * 12 + 2 * (133 // 2 - 4) and ring.any() and not (ring & mask).any()


def test_texture_and_synthetic_models_are_not_held_to_the_photo_tolerances() -> None:
    from dpm_desktop.selftest import is_photo_model

    def meta(source: str, packages: list[str]) -> dict:
        return {"data": {"kind": "image", "summary": {"source": source},
                         "sources": {"packages": [[p, 1, "licence"] for p in packages]} if packages else {}}}

    assert is_photo_model(meta("data/photos", ["mate-backgrounds", "lomiri-wallpapers-16.04"]))
    assert is_photo_model(meta("/home/me/Pictures", []))  # a user's folder: photos
    assert not is_photo_model(meta("data/textures", ["gimp-data"]))
    assert not is_photo_model(meta("deadleaves", []))
    assert not is_photo_model({"data": {"kind": "points", "summary": {"source": "swissroll"}}})

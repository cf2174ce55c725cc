"""Hostile and careless input (issue 13): nothing lost, nothing half-written, every refusal one line.

Each test names the item of the issue it covers. Where the defect was in the command line, the
test runs the real `dpm` in a subprocess; real write failures come from a file-size limit
(RLIMIT_FSIZE: writes past it fail with EFBIG, exactly as on a full disk).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import photo_like

from dpm_desktop.cli import main
from dpm_desktop.core.imaging import save_image
from dpm_desktop.core.restore import RestoreError, denoise, inpaint

FAST_SWISSROLL = ["--data", "swissroll", "--T", "20", "--batch", "128", "--preset", "tiny", "--threads", "1"]


def dpm(*args: str, fsize: int | None = None, timeout: float = 300, env: dict | None = None,
        ) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "dpm_desktop.cli", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit,
                          env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))


def one_error(proc: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The single error line a refused command prints (beside argparse's usage, or a progress bar)."""
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("dpm")]
    assert len(lines) == 1 and ": error: " in lines[0], proc.stderr
    return lines[0]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture()
def noisy_png(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "in.png"
    save_image(path, np.clip(photo_like(128, 128, seed=4) + 20 / 255 * rng.standard_normal((128, 128, 3)), 0, 1))
    return path


# ----------------------------------------------------------------------------------------------
# 1-3: outputs


@pytest.mark.parametrize("extra", [["--uncertainty", "x.png"], ["--uncertainty", "in/../x.png"]])
def test_1_two_outputs_naming_one_file_are_refused_before_any_work(noisy_png: Path, tiny_rgb_model: Path,
                                                                    extra: list[str]) -> None:
    folder = noisy_png.parent
    extra = [str(folder / a) if "x.png" in a else a for a in extra]
    proc = dpm("denoise", str(noisy_png), "-o", str(folder / "x.png"), "--model", str(tiny_rgb_model), "--sigma", "20",
               "--mode", "sample", "--samples", "2", "--steps", "2", *extra)
    assert "every output must be a different file" in one_error(proc)
    assert "denoising" not in proc.stderr  # refused before the work
    assert sorted(p.name for p in folder.iterdir()) == ["in.png"]


def test_2_outputs_are_written_as_one_unit(noisy_png: Path, tiny_rgb_model: Path) -> None:
    """The JPEG result (about 900 bytes) and the sidecar fit under the limit, the TIFF map (about 15 kB)
    does not: none of the three may appear."""
    folder = noisy_png.parent
    proc = dpm("denoise", str(noisy_png), "-o", str(folder / "x.jpg"), "--quality", "5", "--model",
               str(tiny_rgb_model), "--sigma", "20", "--mode", "sample", "--samples", "2", "--steps", "2",
               "--uncertainty", str(folder / "u.tif"), "--sidecar", fsize=6000)
    line = one_error(proc)
    assert "u.tif: could not write (File too large); nothing was written" in line
    assert sorted(p.name for p in folder.iterdir()) == ["in.png"]


def _start(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "dpm_desktop.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    seen = ""
    while "denoising" not in seen:  # the progress bar: the work is under way
        ch = proc.stderr.read(1)
        assert ch, "the command ended before it started work"
        seen += ch
    return proc


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_3_sigterm_and_sighup_cancel_like_ctrl_c(tmp_path: Path, tiny_rgb_model: Path, sig: int,
                                                 status: int) -> None:
    big = tmp_path / "big.png"
    save_image(big, photo_like(192, 192, seed=1))
    proc = _start(["denoise", str(big), "-o", str(tmp_path / "out.png"), "--model", str(tiny_rgb_model),
                   "--mode", "sample", "--samples", "50", "--steps", "50", "--sigma", "20", "--sidecar"])
    try:
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status
    name = signal.Signals(sig).name
    assert err.rstrip().splitlines()[-1] == f"dpm: cancelled ({name}); no output was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_3_a_signal_during_staging_removes_the_temporary_files(tmp_path: Path) -> None:
    from dpm_desktop.cli_common import Interrupted
    from dpm_desktop.core.outputs import OutputSet

    outputs = OutputSet()
    outputs.add(tmp_path / "a.png", "result")
    outputs.add(tmp_path / "b.png", "candidate 2")
    with pytest.raises(Interrupted), outputs:
        outputs.stage(tmp_path / "a.png", b"x" * 1000)
        assert len(hidden(tmp_path)) == 1  # staged, not yet visible
        raise Interrupted(signal.SIGTERM)  # what the handler raises when the signal lands here
    assert list(tmp_path.iterdir()) == []


def test_3_a_signal_after_the_outputs_are_complete_is_not_a_cancellation() -> None:
    from dpm_desktop import cli_common

    previous = {s: signal.getsignal(s) for s in cli_common.STOP_SIGNALS}
    try:
        cli_common.install_signal_handlers()
        with pytest.raises(cli_common.Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        cli_common.outputs_complete()
        os.kill(os.getpid(), signal.SIGINT)  # would raise, and report "cancelled", before the fix
        time.sleep(0.1)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------------------------
# 4-5: training state


def test_4_a_checkpoint_that_cannot_be_written_names_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = dpm("train", *FAST_SWISSROLL, "--steps", "20", "--checkpoint-every", "10", "--out", str(run),
               fsize=20_000)
    line = one_error(proc)
    assert "could not write the checkpoint for step 10" in line
    assert ".safetensors" in line and "File too large" in line and "the partial state was removed" in line
    assert hidden(run) == [] and not list(run.glob("state-*"))


def _three_states(run: Path) -> None:
    assert main(["train", *FAST_SWISSROLL, "--steps", "30", "--checkpoint-every", "10", "--out", str(run)]) == 0
    assert sorted(p.name for p in run.glob("state-*")) == ["state-0000020", "state-0000030"]


@pytest.mark.parametrize("damage", ["truncated newest", "corrupt pointer", "dangling pointer"])
def test_5_resume_falls_back_to_the_newest_intact_state(tmp_path: Path, damage: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    _three_states(run)
    newest = run / "state-0000030" / "train_state.safetensors"
    expect = "state-0000030"
    if damage == "truncated newest":
        newest.write_bytes(newest.read_bytes()[:500])
        expect = "state-0000020"
    elif damage == "corrupt pointer":
        (run / "latest.json").write_text("{not json")
    else:
        (run / "latest.json").write_text(json.dumps({"state": "state-0000099", "step": 99}))
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "40", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"resumed at step {expect[-2:].lstrip('0')} from {run / expect}" in out
    if damage == "truncated newest":
        assert "skipped damaged state state-0000030: " in out and "train_state.safetensors: corrupt" in out
    assert json.loads((run / "latest.json").read_text())["step"] == 40


# ----------------------------------------------------------------------------------------------
# 6-7: resource bombs


def _tampered(src: Path, dest: Path, **config: object) -> Path:
    shutil.copytree(src, dest)
    meta = json.loads((dest / "model.json").read_text())
    meta["network"]["config"].update(config)
    (dest / "model.json").write_text(json.dumps(meta))
    return dest


def test_6_a_model_json_asking_for_a_huge_network_is_refused_by_reading(tmp_path: Path, tiny_rgb_model: Path) -> None:
    over = _tampered(tiny_rgb_model, tmp_path / "over", width=4096)
    assert "'width' = 4096 is outside 1..1024" in one_error(dpm("info", str(over)))
    # Within the bounds but not what the weights hold: found in the header, before anything is built.
    # Building this network would take about 1.6 GB; the child's peak memory shows nothing was.
    big = _tampered(tiny_rgb_model, tmp_path / "big", width=1024)
    # The peak is the child's own (VmHWM of its address space; ru_maxrss would include the parent's at fork).
    code = ("import re, sys\nfrom dpm_desktop.cli import main\nrc = main(['info', sys.argv[1]])\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(big)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "has shape" in proc.stderr and "the network needs" in proc.stderr
    assert int(proc.stdout.split()[-1]) < 800_000  # KiB


def test_6_models_lists_only_models_that_validate(tmp_path: Path, tiny_rgb_model: Path) -> None:
    home = tmp_path / "home"
    pickled = home / "models" / "pickled"
    shutil.copytree(tiny_rgb_model, pickled)
    (pickled / "model.safetensors").write_bytes(b"\x80\x04\x95" + b"\0" * 64)  # a pickle in disguise
    shutil.copytree(tiny_rgb_model, home / "models" / "good")
    proc = dpm("models", env={"DPM_DESKTOP_HOME": str(home)})
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("good ") for ln in lines)
    assert not any(ln.startswith("pickled ") for ln in lines)
    assert any(ln.startswith("(unusable)") and "pickled" in ln and "pickle" in ln.split(":", 1)[1] for ln in lines)


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "M", "-o", "s.png", "--size", "100000"], "--size must lie in 8..4096, got 100000"),
    (["sample", "M", "-o", "s.png", "-n", "1000000000"], "-n must lie in 1..4096, got 1000000000"),
    (["denoise", "in.png", "-o", "o.png", "--tile", "1"], "--tile must lie in 32..8192, got 1"),
    (["denoise", "in.png", "-o", "o.png", "--tile", "-5"], "--tile must lie in 32..8192, got -5"),
])
def test_7_size_arguments_are_bounded(args: list[str], message: str) -> None:
    assert message in one_error(dpm(*args), status=2)


def test_7_samples_beyond_the_memory_budget_are_refused(tmp_path: Path, tiny_rgb_model: Path) -> None:
    line = one_error(dpm("sample", str(tiny_rgb_model), "-n", "4096", "--size", "4096", "-o", str(tmp_path / "s.png")))
    assert "at most 67 in one run" in line
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# 8: silent nonsense in the API


def test_8_float_pixels_outside_0_1_are_refused(tiny_rgb_model: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(RestoreError, match=r"float pixels must lie in \[0, 1\].*divide by 255"):
        denoise(rng.random((48, 48, 3)) * 255, sigma=25, model=tiny_rgb_model, device="cpu")
    with pytest.raises(RestoreError, match="unsupported pixel type int64"):
        denoise(np.zeros((48, 48, 3), dtype=np.int64), sigma=25, model=tiny_rgb_model, device="cpu")
    slightly = np.clip(photo_like(32, 32), 0, 1) + 1e-6  # rounding noise is fine
    assert denoise(slightly, sigma=25, model=tiny_rgb_model, device="cpu").pixels.shape == (32, 32, 3)


# ----------------------------------------------------------------------------------------------
# 9: accepted silently before


@pytest.mark.parametrize(("args", "message"), [
    (["--steps", "0"], "--steps must lie in 1..1000000000, got 0"),
    (["--steps", "-1"], "--steps must lie in 1..1000000000, got -1"),
    (["--minutes", "0"], "--minutes must lie in (0, 1e+06], got 0"),
    (["--batch", "0"], "--batch must lie in 1..4096, got 0"),
    (["--patch", "0"], "--patch must lie in 8..1024, got 0"),
    (["--seed", str(2**70)], "--seed must lie in 0..9223372036854775807"),
])
def test_9_bad_training_numbers_are_refused_and_no_run_folder_appears(tmp_path: Path, args: list[str],
                                                                      message: str) -> None:
    run = tmp_path / "run"
    assert message in one_error(dpm("train", "--data", "swissroll", *args, "--out", str(run)), status=2)
    assert not run.exists()


def test_9_out_must_be_a_folder_outside_the_training_data(tmp_path: Path, photo_folder: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    assert "is a file; the run folder must be a folder" in one_error(
        dpm("train", *FAST_SWISSROLL, "--steps", "1", "--out", str(afile)))
    inside = photo_folder / "run"
    assert "lies inside the training data" in one_error(
        dpm("train", "--data", str(photo_folder), "--preset", "tiny", "--steps", "1", "--out", str(inside)))
    assert not inside.exists()


def test_9_resume_refuses_other_settings_and_reports_a_longer_run(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", *FAST_SWISSROLL, "--steps", "10", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--data", "deadleaves", "--out", str(run)]) == 1
    assert "--data deadleaves differs from the run's 'swissroll'" in capsys.readouterr().err
    assert main(["train", "--resume", "--preset", "base", "--out", str(run)]) == 1
    assert "--preset base differs from the run's 'tiny'" in capsys.readouterr().err
    assert main(["train", "--resume", "--data", "swissroll", "--steps", "15", "--out", str(run)]) == 0
    assert "  steps: 10 -> 15" in capsys.readouterr().out
    assert json.loads((run / "latest.json").read_text())["step"] == 15


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "M", "-o", "s.png", "--steps", "0"], "--steps must lie in 1..100000, got 0"),
    (["denoise", "in.png", "-o", "o.jpg", "--quality", "500"], "--quality must lie in 1..100, got 500"),
    (["denoise", "in.png", "-o", "o.jpg", "--quality", "-3"], "--quality must lie in 1..100, got -3"),
    (["inpaint", "in.png", "--mask", "m.png", "-o", "o.png", "--seed", str(2**70)], "--seed must lie in"),
    (["eval", "M", "--data", "swissroll", "--n", "0"], "--n must lie in 1..100000, got 0"),
    (["eval", "M", "--data", "swissroll", "--draws", "0"], "--draws must lie in 1..1000, got 0"),
])
def test_9_bad_numbers_of_the_other_commands(args: list[str], message: str) -> None:
    assert message in one_error(dpm(*args), status=2)


def test_9_an_absent_gpu_is_one_line(noisy_png: Path, tiny_rgb_model: Path) -> None:
    line = one_error(dpm("denoise", str(noisy_png), "-o", str(noisy_png.parent / "o.png"), "--model",
                         str(tiny_rgb_model), "--sigma", "20", "--device", "cuda:7"))
    assert line.startswith("dpm: error: ") and ("CUDA" in line or "no such GPU" in line)
    assert "AssertionError" not in line


def test_9_more_steps_than_the_model_has_are_noted_and_recorded_as_run(tmp_path: Path, tiny_rgb_model: Path) -> None:
    img, mask = tmp_path / "in.png", tmp_path / "m.png"
    save_image(img, photo_like(32, 32, seed=2))
    m = np.zeros((32, 32, 1), np.float32)
    m[12:18, 12:18] = 1
    save_image(mask, m)
    out = tmp_path / "o.png"
    proc = dpm("inpaint", str(img), "--mask", str(mask), "-o", str(out), "--model", str(tiny_rgb_model),
               "--steps", "100000", "--resample", "1", "--sidecar")
    assert proc.returncode == 0, proc.stderr
    assert "note: 100000 steps asked for; the model has 100, which ran" in proc.stderr
    assert json.loads((tmp_path / "o.png.json").read_text())["steps"] == 100


def test_9_empty_images_and_missing_masks_are_refused(tiny_rgb_model: Path) -> None:
    with pytest.raises(RestoreError, match=r"the image is empty \(0 x 0 pixels\)"):
        denoise(np.zeros((0, 0, 3), np.float32), sigma=10, model=tiny_rgb_model, device="cpu")
    with pytest.raises(RestoreError, match="inpainting needs a mask"):
        inpaint(photo_like(16, 16), None, model=tiny_rgb_model, device="cpu")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# 10: minor


def test_10_a_grey_mask_blends_the_fill_in_by_its_coverage(tiny_rgb_model: Path) -> None:
    px = photo_like(32, 32, seed=5)
    cov = np.zeros((32, 32), np.float32)
    cov[10:20, 10:20] = 1.0
    cov[10:20, 20] = 0.5  # a soft edge column
    full = inpaint(px, cov > 0, model=tiny_rgb_model, device="cpu", steps=4, resample=1, seed=1)
    soft = inpaint(px, cov, model=tiny_rgb_model, device="cpu", steps=4, resample=1, seed=1)
    assert any("10 grey pixels" in n for n in soft.notes)
    # The same fill (same seed, same hole); on the soft column, halfway between photo and fill.
    np.testing.assert_allclose(soft.pixels[10:20, 10:20], full.pixels[10:20, 10:20], atol=1e-6)
    np.testing.assert_allclose(soft.pixels[10:20, 20], 0.5 * (px[10:20, 20] + full.pixels[10:20, 20]), atol=1e-5)
    assert np.array_equal(soft.pixels[cov == 0], px[cov == 0])


def test_10_an_animated_gif_says_only_its_first_frame_is_used(tmp_path: Path) -> None:
    from dpm_desktop.core.imaging import load_image

    frames = [Image.fromarray((photo_like(24, 24, seed=k) * 255).astype(np.uint8)) for k in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert "GIF file holds 3 frames: only the first is used" in load_image(path).notes


def test_10_a_fifo_is_refused_instead_of_blocking(tmp_path: Path, tiny_rgb_model: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    opener = threading.Timer(60, lambda: open(fifo, "wb").close())  # unblocks a stuck reader, so the test ends
    opener.start()
    try:
        proc = dpm("denoise", str(fifo), "-o", str(tmp_path / "o.png"), "--model", str(tiny_rgb_model),
                   "--sigma", "20", timeout=120)
    finally:
        opener.cancel()
    assert f"{fifo}: not a regular file" in one_error(proc)


def test_10_an_unwritable_output_folder_is_found_before_the_work(noisy_png: Path) -> None:
    # /proc refuses new files even to root (chmod cannot show that when tests run as root). The
    # model does not exist either: the output's folder must be the error, since it is checked first.
    line = one_error(dpm("denoise", str(noisy_png), "-o", "/proc/dpm-out.png", "--model", "/nonexistent-model",
                         "--sigma", "20"))
    assert "/proc/dpm-out.png: cannot write in /proc" in line

"""The `dpm` command line in real processes: help, exit codes, train -> eval -> sample -> info,
denoise and inpaint on real files, reproducible sidecars, and the files it must never write."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import photo_like, write_photo

from dpm_desktop.cli import build_parser, main
from dpm_desktop.core.imaging import save_image


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def dpm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "dpm_desktop.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command prints on stderr."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpm: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    px = np.clip(photo_like(48, 64, seed=2) + 20 / 255 * rng.standard_normal((48, 64, 3)), 0, 1)
    save_image(tmp_path / "noisy.png", px)
    return tmp_path / "noisy.png"


@pytest.fixture()
def mask(tmp_path: Path) -> Path:
    m = np.zeros((48, 64), np.uint8)
    m[20:26, 10:50] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    return tmp_path / "mask.png"


# ----------------------------------------------------------------------------------------------
def test_every_command_explains_itself() -> None:
    top = dpm("--help", timeout=60)
    assert top.returncode == 0
    assert {"train", "sample", "eval", "info", "models", "denoise", "inpaint"} <= set(commands())
    for command in commands():
        assert command in top.stdout
    for command in commands():
        proc = dpm(command, "--help", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: dpm {command}")
        assert len(proc.stdout.split()) > 20  # options with their explanations
    assert "--sidecar" in dpm("denoise", "--help").stdout and "--mask" in dpm("inpaint", "--help").stdout


def test_usage_errors_exit_2_with_usage(tmp_path: Path) -> None:
    proc = dpm("denoise", timeout=60)
    assert proc.returncode == 2 and "usage: dpm denoise" in proc.stderr
    assert dpm(timeout=60).returncode == 2


def test_eval_reports_colour_bits_per_pixel(tiny_rgb_model: Path, tiny_gray_model: Path, photo_folder: Path) -> None:
    """Bits per pixel with all channels together, as the paper's CIFAR-10 figures (L_null = 3 x -2.047)."""
    null = -0.5 * np.log2(2 * np.pi * np.e)  # -2.047 bits per value
    results = {}
    for name, model in (("rgb", tiny_rgb_model), ("gray", tiny_gray_model)):
        ev = dpm("eval", str(model), "--data", str(photo_folder), "--n", "8", "--draws", "1", "--json")
        assert ev.returncode == 0, ev.stderr
        results[name] = json.loads(ev.stdout)
    assert results["rgb"]["L_null_bits"] == pytest.approx(3 * null) and results["rgb"]["unit"] == "bits/px"
    assert results["gray"]["L_null_bits"] == pytest.approx(null)
    text = dpm("eval", str(tiny_rgb_model), "--data", str(photo_folder), "--n", "8", "--draws", "1")
    assert text.returncode == 0, text.stderr
    assert f"K = {results['rgb']['K_bits']:.3f}" in text.stdout and "per pixel, all 3 channels" in text.stdout


@pytest.mark.slow
def test_train_eval_sample_info_on_the_swiss_roll(tmp_path: Path) -> None:
    run = tmp_path / "roll"
    proc = dpm("train", "--data", "swissroll", "--steps", "30", "--T", "20", "--batch", "128", "--preset", "tiny",
               "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "finished: step 30" in proc.stdout

    ev = dpm("eval", str(run), "--data", "swissroll", "--n", "64", "--json")
    assert ev.returncode == 0, ev.stderr
    lines = ev.stdout.strip().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert {"K_bits", "K_minus_L_null_bits", "stderr_bits", "n"} <= set(res)
    assert res["n"] == 64 and np.isfinite(res["K_bits"]) and res["stderr_bits"] > 0
    assert res["K_minus_L_null_bits"] == pytest.approx(res["K_bits"] - res["L_null_bits"])

    for out in ("points.png", "points.npy"):
        s = dpm("sample", str(run), "-n", "50", "--steps", "10", "-o", str(tmp_path / out))
        assert s.returncode == 0, s.stderr
    arr = np.load(tmp_path / "points.npy")
    assert arr.shape == (50, 2) and np.isfinite(arr).all()
    with Image.open(tmp_path / "points.png") as im:
        assert im.format == "PNG" and im.width > 100

    info = dpm("info", str(run), "--json")
    assert info.returncode == 0
    assert json.loads(info.stdout)["training"]["steps"] == 30


def test_sample_images_from_an_image_model(tmp_path: Path, tiny_rgb_model: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", str(tiny_rgb_model), "-n", "4", "--steps", "5", "--size", "16", "-o",
                 str(tmp_path / "grid.png")]) == 0
    assert main(["sample", str(tiny_rgb_model), "-n", "4", "--steps", "5", "--size", "16", "-o",
                 str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (4, 3, 16, 16)
    with Image.open(tmp_path / "grid.png") as im:
        assert im.mode == "RGB" and im.size == (2 * 18 + 2, 2 * 18 + 2)
    with pytest.raises(SystemExit) as exit_info:  # a bad argument: argparse's status 2, one line
        main(["sample", str(tiny_rgb_model), "-n", "0", "-o", str(tmp_path / "none.png")])
    assert exit_info.value.code == 2
    assert "-n must lie in 1..4096, got 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Restoration commands


@pytest.mark.slow
def test_denoise_with_sidecar_reproduces_bit_for_bit(tmp_path: Path, photo: Path, tiny_rgb_model: Path) -> None:
    first = tmp_path / "a.png"
    proc = dpm("denoise", str(photo), "-o", str(first), "--model", str(tiny_rgb_model), "--mode", "sample",
               "--samples", "2", "--steps", "3", "--seed", "7", "--sidecar")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {first}" in proc.stdout
    side = json.loads((tmp_path / "a.png.json").read_text())
    assert side["model_sha256"] and Path(side["model_path"]) == tiny_rgb_model.resolve()
    again = tmp_path / "b.png"
    proc = dpm("denoise", side["input"], "-o", str(again), "--model", side["model_path"], "--mode", side["mode"],
               "--samples", str(side["samples"]), "--steps", str(side["steps"]), "--seed", str(side["seed"]),
               "--sigma", repr(side["sigma"]), "--tile", str(side["tile"]), "--device", side["device"],
               "--quality", str(side["quality"]), *([] if side["clip_correction"] else ["--no-clip-correction"]))
    assert proc.returncode == 0, proc.stderr
    assert first.read_bytes() == again.read_bytes()
    with Image.open(first) as im:
        assert im.size == (64, 48) and im.mode == "RGB"


@pytest.mark.slow
def test_inpaint_with_sidecar_reproduces_and_keeps_unmasked_pixels(tmp_path: Path, photo: Path, mask: Path,
                                                                  tiny_rgb_model: Path) -> None:
    first = tmp_path / "a.png"
    proc = dpm("inpaint", str(photo), "--mask", str(mask), "-o", str(first), "--model", str(tiny_rgb_model),
               "--steps", "5", "--candidates", "2", "--seed", "3", "--sidecar")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a-2.png").is_file()
    side = json.loads((tmp_path / "a.png.json").read_text())
    again = tmp_path / "b.png"
    proc = dpm("inpaint", side["input"], "--mask", side["mask"], "-o", str(again), "--model", side["model_path"],
               "--steps", str(side["steps"]), "--resample", str(side["resample"]), "--jump", str(side["jump"]),
               "--candidates", str(side["candidates"]), "--clamp", side["clamp"], "--seed", str(side["seed"]),
               "--device", side["device"])
    assert proc.returncode == 0, proc.stderr
    assert first.read_bytes() == again.read_bytes()
    a, src, m = (np.asarray(Image.open(p)) for p in (first, photo, mask))
    np.testing.assert_array_equal(a[m == 0], src[m == 0])
    assert not np.array_equal(a[m > 0], src[m > 0])


def test_refuses_to_overwrite_the_input(tmp_path: Path, photo: Path, tiny_rgb_model: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = photo.read_bytes()
    base = ["denoise", str(photo), "--model", str(tiny_rgb_model), "--sigma", "20"]
    assert main([*base, "-o", str(photo)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is an input file; refusing to overwrite it" in err
    assert main([*base, "-o", str(photo), "--overwrite"]) == 1  # --overwrite is for other files only
    capsys.readouterr()
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    assert main([*base, "-o", str(link)]) == 1
    assert "is an input file" in capsys.readouterr().err
    assert photo.read_bytes() == before
    assert main([*base, "-o", str(photo), "--overwrite-input"]) == 0
    assert photo.read_bytes() != before


def test_refuses_existing_outputs_before_doing_any_work(tmp_path: Path, photo: Path, mask: Path,
                                                       tiny_rgb_model: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    (tmp_path / "out-2.png").write_bytes(b"keep me")
    args = ["inpaint", str(photo), "--mask", str(mask), "--model", str(tiny_rgb_model), "--steps", "3",
            "--candidates", "2", "-o", str(out)]
    assert main(args) == 1
    assert "out-2.png: exists already (pass --overwrite" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "out-2.png").read_bytes() == b"keep me"
    assert main([*args[:-2], "-o", str(mask)]) == 1
    assert "is an input file" in capsys.readouterr().err
    assert main([*args[:-2], "-o", str(tmp_path / "out.gif")]) == 1
    assert "unknown image extension" in capsys.readouterr().err
    assert main([*args[:-2], "-o", str(tmp_path / "nope" / "out.png")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert Image.open(tmp_path / "out-2.png").size == (64, 48)


def test_inpaint_mean_writes_the_mean_of_the_candidates(tmp_path: Path, photo: Path, mask: Path,
                                                        tiny_rgb_model: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    base = ["inpaint", str(photo), "--mask", str(mask), "--model", str(tiny_rgb_model), "--steps", "4",
            "--resample", "2", "--jump", "2", "--seed", "5"]
    assert main([*base, "--candidates", "2", "-o", str(tmp_path / "c.png")]) == 0
    assert main([*base, "--candidates", "2", "--mean", "-o", str(tmp_path / "m.png")]) == 0
    assert "the mean of 2 candidates" in capsys.readouterr().out
    assert not (tmp_path / "m-2.png").exists()
    c1, c2, m, src, msk = (np.asarray(Image.open(tmp_path / n if isinstance(n, str) else n)).astype(int)
                           for n in ("c.png", "c-2.png", "m.png", photo, mask))
    hole = msk > 0
    np.testing.assert_array_equal(m[~hole], src[~hole])
    assert np.abs(m[hole] - (c1[hole] + c2[hole]) / 2).max() <= 1  # 8-bit rounding of each file
    assert not np.array_equal(c1[hole], c2[hole])
    assert main([*base, "--mean", "-o", str(tmp_path / "x.png")]) == 1
    assert "--mean needs --candidates 2 or more" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_mask_size_mismatch_is_one_clear_line(tmp_path: Path, photo: Path, tiny_rgb_model: Path) -> None:
    Image.new("L", (30, 20), 255).save(tmp_path / "small-mask.png")
    proc = dpm("inpaint", str(photo), "--mask", str(tmp_path / "small-mask.png"), "-o", str(tmp_path / "o.png"),
               "--model", str(tiny_rgb_model))
    line = error_line(proc)
    assert "small-mask.png is 30x20 pixels but the image is 64x48" in line
    assert not (tmp_path / "o.png").exists()


def test_bad_inputs_give_one_line(tmp_path: Path, photo: Path, tiny_rgb_model: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text.jpg").write_text("not a photo")
    cases = [
        (["denoise", str(tmp_path / "text.jpg"), "-o", str(tmp_path / "o.png")], "not an image"),
        (["denoise", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")], "no such file"),
        (["denoise", str(photo), "-o", str(tmp_path / "o.png"), "--sigma", "999"], "sigma must lie in"),
        (["denoise", str(photo), "-o", str(tmp_path / "o.png"), "--sigma", "abc"], "--sigma must be a number"),
        (["denoise", str(photo), "-o", str(tmp_path / "o.png"), "--uncertainty", str(tmp_path / "u.png")],
         "--uncertainty needs --samples 2"),
        (["denoise", str(photo), "-o", str(tmp_path / "o.png"), "--model", str(tmp_path)], "model.json: missing"),
    ]
    for argv, message in cases:
        if "--model" not in argv:
            argv = [*argv, "--model", str(tiny_rgb_model)]
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("dpm: error: ") and message in err, (argv, err)
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_ctrl_c_cancels_and_leaves_no_output(tmp_path: Path, tiny_rgb_model: Path) -> None:
    big = tmp_path / "big.png"
    save_image(big, photo_like(256, 256, seed=1))
    out = tmp_path / "out.png"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "dpm_desktop.cli", "denoise", str(big), "-o", str(out),
                             "--model", str(tiny_rgb_model), "--mode", "sample", "--samples", "50", "--steps", "50",
                             "--sigma", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = ""
        while "denoising" not in seen:  # the progress bar: the work is under way
            seen += proc.stderr.read(1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    # The message is a line of its own, the last (err misses what the read(1) loop's buffer took).
    assert err.rstrip().splitlines()[-1] == "dpm: cancelled (SIGINT); no output was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_progress_in_a_log_is_plain_lines_and_quiet_is_silent(tmp_path: Path, tiny_rgb_model: Path) -> None:
    """stderr to a file (CI, `2> log`): no carriage returns, a line per tenth at most; --quiet: none."""
    src = write_photo(tmp_path / "p.png", 64, 64)
    mask = tmp_path / "m.png"
    m = np.zeros((64, 64), np.uint8)
    m[20:40, 20:40] = 255
    Image.fromarray(m).save(mask)
    base = [sys.executable, "-m", "dpm_desktop.cli", "inpaint", str(src), "--mask", str(mask),
            "--model", str(tiny_rgb_model)]
    with open(tmp_path / "log.txt", "w") as log:
        subprocess.run([*base, "-o", str(tmp_path / "a.png")], stderr=log, check=True)
    text = (tmp_path / "log.txt").read_bytes().decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("inpainting:")]
    assert "\r" not in text and 2 <= len(lines) <= 12 and "(100%)" in lines[-1]
    quiet = subprocess.run([*base, "-o", str(tmp_path / "b.png"), "--quiet"], capture_output=True, text=True,
                           check=True)
    assert "inpainting" not in quiet.stderr and (tmp_path / "b.png").is_file()

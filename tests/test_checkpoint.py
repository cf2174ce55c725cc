"""Checkpoints that must be refused, each with a clear message naming the file, and never unpickled."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dpm_desktop.cli import main
from dpm_desktop.core.checkpoint import CheckpointError, load_checkpoint, read_metadata


class Marker:
    """Unpickling this creates a file: proof that a loader ran code from the checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


@pytest.fixture()
def ckpt(tiny_rgb_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_rgb_model, folder)
    for extra in ("train_state.safetensors", "train_state.json"):
        (folder / extra).unlink()
    return folder


def rehash(folder: Path) -> None:
    """Record the current weights' sha256, so that the check under test is not the checksum."""
    meta = json.loads((folder / "model.json").read_text())
    meta["sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(meta))


def edit_meta(folder: Path, change: Callable[[dict], None]) -> None:
    meta = json.loads((folder / "model.json").read_text())
    change(meta)
    (folder / "model.json").write_text(json.dumps(meta))


def edit_tensors(folder: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors")
    rehash(folder)


def corrupt_header(f: Path) -> None:
    data = bytearray((f / "model.safetensors").read_bytes())
    data[12:40] = b"#" * 28
    (f / "model.safetensors").write_bytes(bytes(data))
    rehash(f)


def truncate(f: Path) -> None:
    data = (f / "model.safetensors").read_bytes()
    (f / "model.safetensors").write_bytes(data[: len(data) * 2 // 3])
    rehash(f)


def huge_header(f: Path) -> None:
    data = (f / "model.safetensors").read_bytes()
    (f / "model.safetensors").write_bytes((10**12).to_bytes(8, "little") + data[8:])
    rehash(f)


def flip_a_weight_byte(f: Path) -> None:
    data = bytearray((f / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (f / "model.safetensors").write_bytes(bytes(data))


def nan_weight(f: Path) -> None:
    def change(t: dict[str, torch.Tensor]) -> None:
        name = next(k for k, v in t.items() if v.is_floating_point() and v.numel() > 1)
        t[name] = t[name].clone()
        t[name].view(-1)[0] = float("nan")
    edit_tensors(f, change)


def missing_tensor(f: Path) -> None:
    edit_tensors(f, lambda t: t.pop(sorted(t)[0]))


def wrong_width(f: Path) -> None:
    edit_meta(f, lambda m: m["network"]["config"].update(width=24))


def wrong_shape(f: Path) -> None:
    def change(t: dict[str, torch.Tensor]) -> None:
        name = next(k for k, v in t.items() if v.dim() == 4)
        t[name] = torch.zeros(*t[name].shape[:-1], t[name].shape[-1] + 1)
    edit_tensors(f, change)


def pickled_weights(f: Path) -> None:
    (f / "model.safetensors").write_bytes(pickle.dumps(Marker(f.parent / "MARKER"), protocol=2))
    rehash(f)


def zip_weights(f: Path) -> None:
    with zipfile.ZipFile(f / "model.safetensors", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Marker(f.parent / "MARKER")))
    rehash(f)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt header": (corrupt_header, "corrupt safetensors header"),
    "truncated weights": (truncate, "truncated"),
    "absurd header size": (huge_header, "corrupt safetensors header"),
    "sha256 mismatch": (flip_a_weight_byte, "do not match the sha256"),
    "NaN weights": (nan_weight, "NaN or infinite"),
    "missing tensor": (missing_tensor, "do not fit the network"),
    "network config changed": (wrong_width, "has shape"),
    "tensor of the wrong shape": (wrong_shape, "has shape"),
    "pickle as weights": (pickled_weights, "pickle"),
    "zip (torch.save) as weights": (zip_weights, "pickle"),
    "wrong format version": (lambda f: edit_meta(f, lambda m: m.update(format_version=99)),
                             "format version 99 is not supported"),
    "not our format": (lambda f: edit_meta(f, lambda m: m.update(format="something-else")), "not a DPM Desktop"),
    "missing model.json": (lambda f: (f / "model.json").unlink(), "model.json: missing"),
    "missing weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors: missing"),
    "model.json not JSON": (lambda f: (f / "model.json").write_text("{ not json"), "not valid JSON"),
    "model.json binary": (lambda f: (f / "model.json").write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
    "model.json a list": (lambda f: (f / "model.json").write_text("[1, 2]"), "not a DPM Desktop"),
    "field missing": (lambda f: edit_meta(f, lambda m: m.pop("diffusion")), "'diffusion' is missing"),
    "NaN scale": (lambda f: edit_meta(f, lambda m: m["data"].update(scale=float("nan"))), "'scale'"),
    "zero scale": (lambda f: edit_meta(f, lambda m: m["data"].update(scale=0)), "out of range"),
    "unknown arch": (lambda f: edit_meta(f, lambda m: m["network"].update(arch="resnet")), "unknown network"),
    "bad diffusion settings": (lambda f: edit_meta(f, lambda m: m["diffusion"].update(colour="blue")),
                               "invalid model description"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_checkpoint_is_refused_clearly(ckpt: Path, case: str) -> None:
    damage, message = CASES[case]
    damage(ckpt)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(ckpt)
    text = str(info.value)
    assert message in text
    assert str(ckpt) in text  # names the file (or its folder)
    assert "\n" not in text
    assert not (ckpt.parent / "MARKER").exists()


@pytest.mark.parametrize("case", ["truncated weights", "pickle as weights", "wrong format version", "NaN weights",
                                  "missing model.json"])
@pytest.mark.parametrize("command", ["info", "eval", "sample"])
def test_cli_on_bad_checkpoint_prints_one_error_line(ckpt: Path, tmp_path: Path, case: str, command: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    damage, message = CASES[case]
    damage(ckpt)
    extra = {"info": [], "eval": ["--data", "swissroll"], "sample": ["-o", str(tmp_path / "s.png")]}[command]
    assert main([command, str(ckpt), *extra]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpm: error: ") and message in lines[0]
    assert not (tmp_path / "s.png").exists()
    assert not (ckpt.parent / "MARKER").exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["info", "eval", "sample"])
def test_real_process_never_unpickles(ckpt: Path, tmp_path: Path, command: str) -> None:
    zip_weights(ckpt)
    extra = {"info": [], "eval": ["--data", "swissroll"], "sample": ["-o", str(tmp_path / "s.png")]}[command]
    proc = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", command, str(ckpt), *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("dpm: error: ")
    assert "never unpickles" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "MARKER").exists()


def test_pickle_and_torch_save_files_given_directly(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Marker(marker)))
    torch.save({"weights": torch.zeros(3), "payload": Marker(marker)}, tmp_path / "model.pt")
    assert (tmp_path / "model.pt").read_bytes()[:2] == b"PK"
    for name in ("evil.pkl", "model.pt"):
        with pytest.raises(CheckpointError, match="never unpickles") as info:
            load_checkpoint(tmp_path / name)
        assert name in str(info.value)
    assert not marker.exists()


def test_missing_path_and_unknown_name(tmp_path: Path, app_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckpointError, match="no such model, checkpoint file or folder"):
        load_checkpoint(tmp_path / "nothing-here")
    assert main(["info", "no-such-model-name"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dpm: error: no-such-model-name: no such model")


def test_good_checkpoint_loads_from_folder_files_and_run(ckpt: Path, tiny_rgb_model: Path) -> None:
    run = tiny_rgb_model.parent
    for path in (ckpt, ckpt / "model.json", ckpt / "model.safetensors", run):
        c = load_checkpoint(path)
        assert c.channels == 3 and c.meta["sha256"] == read_metadata(ckpt)["sha256"]


def test_broken_user_models_are_listed_not_fatal(ckpt: Path, app_home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    models = app_home / "models"
    models.mkdir(parents=True)
    shutil.copytree(ckpt, models / "good")
    shutil.copytree(ckpt, models / "bad")
    edit_meta(models / "bad", lambda m: m.update(format_version=7))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "(unusable)" in out and "format version 7" in out


def test_validating_bundled_models_stays_off_the_compiler_stack() -> None:
    """Validation builds each network on the meta device; that must not pull in torch._dynamo and sympy
    (1.5 s at every start of the app and the CLI before the schedule's constants were built on the CPU)."""
    code = ("import sys; from pathlib import Path; from dpm_desktop.core.checkpoint import inspect_checkpoint\n"
            "ms = [m for m in sorted(Path('models').iterdir()) if (m / 'model.json').is_file()]\n"
            "[inspect_checkpoint(m) for m in ms]\n"
            "print(len(ms), 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    n, dynamo, sympy = out.stdout.split()
    assert int(n) >= 5 and (dynamo, sympy) == ("False", "False")


@pytest.mark.parametrize("name", ["swissroll-paper", "deadleaves-paper"])
def test_bundled_paper_models_keep_the_unscaled_z_sigma_bit_for_bit(name: str) -> None:
    """The bundled model.json files predate z_sigma_sqrt_T: they load with the old form, and the
    reverse step's variance is exactly logsigmoid(z_sigma + logit(b_t)) of their network's output."""
    folder = Path(__file__).resolve().parents[1] / "models" / name
    assert "z_sigma_sqrt_T" not in json.loads((folder / "model.json").read_text())["diffusion"]
    model = load_checkpoint(folder).diffusion.eval()
    assert model.cfg.z_sigma_sqrt_T is False
    c = model.net.cfg.channels
    x = torch.randn((64, c, 1, 1) if c == 2 else (2, c, 16, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for ti in (2, model.T // 2, model.T):
            t = torch.full((x.shape[0],), ti)
            beta = model.betas()[ti - 1].float()
            z_sigma = model.net(x, t).float()[:, c:2 * c]
            legacy = torch.nn.functional.logsigmoid(z_sigma + torch.logit(beta))
            assert torch.equal(model.reverse_step(x, t).logvar, legacy)


def test_z_sigma_form_round_trips_and_a_bad_value_is_refused(tmp_path: Path) -> None:
    from dpm_desktop.core.train import TrainConfig, Trainer

    paper = Trainer(TrainConfig(data="swissroll", out=str(tmp_path / "paper"), steps=2, T=20, batch=16, preset="tiny",
                                checkpoint_every=2, val_every=2)).run()
    assert json.loads((paper / "model.json").read_text())["diffusion"]["z_sigma_sqrt_T"] is True
    assert load_checkpoint(paper).diffusion.cfg.z_sigma_sqrt_T is True
    edit_meta(paper, lambda m: m["diffusion"].pop("z_sigma_sqrt_T"))
    assert load_checkpoint(paper).diffusion.cfg.z_sigma_sqrt_T is False
    edit_meta(paper, lambda m: m["diffusion"].update(z_sigma_sqrt_T="yes"))
    with pytest.raises(CheckpointError, match="z_sigma_sqrt_T must be true or false"):
        load_checkpoint(paper)


def test_a_reduced_precision_copy_of_the_schedule_is_not_loaded(ckpt: Path) -> None:
    """The betas come from the config, never from the file's copy: a bf16 copy (the campaign's
    committed state of step 5250 held one) rounds the clipped b_T = 0.999 to 1, abar_T to 0, and
    the training loss at t = T to NaN."""
    exact = load_checkpoint(ckpt).diffusion.base_betas.clone()
    edit_tensors(ckpt, lambda t: t.update(base_betas=t["base_betas"].to(torch.bfloat16)))
    assert load_file(ckpt / "model.safetensors")["base_betas"][-1].item() == 1.0  # what the copy holds
    model = load_checkpoint(ckpt).diffusion
    assert torch.equal(model.base_betas, exact) and exact[-1].item() == pytest.approx(0.999)
    loss = model.loss(torch.zeros(2, 3, 16, 16), torch.full((2,), model.T), objective="hybrid")["loss"]
    assert torch.isfinite(loss)

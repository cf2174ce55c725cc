"""The trainer end to end: exact resume, stopping by signal, a full disk, bad folders, JSON-lines
progress and DDP, through the API, the CLI in-process and real `dpm train` processes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from support import write_photo

from dpm_desktop.cli import main
from dpm_desktop.core import checkpoint as checkpoint_module
from dpm_desktop.core.checkpoint import load_checkpoint
from dpm_desktop.core.schedule import make_betas
from dpm_desktop.core.timestep_sampling import RestorationSampler
from dpm_desktop.core.train import TrainConfig, Trainer, TrainError, autocast_for, validate

FAST_SWISSROLL = ["--data", "swissroll", "--T", "20", "--batch", "128", "--preset", "tiny", "--threads", "1"]


def swissroll_cfg(out: Path, steps: int, **kw: Any) -> TrainConfig:
    return TrainConfig(data="swissroll", out=str(out), steps=steps, T=20, batch=128, preset="tiny",
                       checkpoint_every=1000, val_every=10, warmup=5, **kw)


def folder_cfg(data: Path, out: Path, steps: int, **kw: Any) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), steps=steps, T=50, batch=4, patch=32, preset="tiny",
                       channels=3, checkpoint_every=1000, val_every=10, val_count=4, warmup=5, amp="off", **kw)


def final_state(run: Path) -> dict[str, torch.Tensor]:
    """Raw weights, optimizer state, sampler history (train_state) and EMA weights (model) of a run."""
    latest = run / json.loads((run / "latest.json").read_text())["state"]
    tensors = {k: v for k, v in load_file(latest / "train_state.safetensors").items() if not k.startswith("rng.")}
    tensors.update({f"ema.{k}": v for k, v in load_file(latest / "model.safetensors").items()})
    return tensors


def stop_at(step: int) -> tuple[list[dict[str, Any]], Any]:
    """An event sink that asks the trainer to stop (as SIGINT does) once ``step`` is reported."""
    events: list[dict[str, Any]] = []
    holder: dict[str, Trainer] = {}

    def sink(e: dict[str, Any]) -> None:
        events.append(e)
        if e["event"] == "step" and e["step"] >= step:
            holder["trainer"].request_stop()

    return events, (holder, sink)


def read_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------
# Resume


@pytest.mark.parametrize("kind", ["swissroll", "folder"])
def test_resume_continues_exactly(kind: str, tmp_path: Path, photo_folder: Path) -> None:
    def cfg(out: Path) -> TrainConfig:
        if kind == "swissroll":
            return swissroll_cfg(out, 40)
        return folder_cfg(photo_folder, out, 40, t_sampling="restoration")

    Trainer(cfg(tmp_path / "straight")).run()

    events, (holder, sink) = stop_at(20)
    holder["trainer"] = Trainer(cfg(tmp_path / "split"), events=sink)
    holder["trainer"].run()
    assert next(e for e in events if e["event"] == "stopped")["step"] == 20
    assert json.loads((tmp_path / "split" / "latest.json").read_text())["step"] == 20
    resumed = Trainer(TrainConfig(out=str(tmp_path / "split")), resume=True)
    resumed.run()
    assert resumed.step == 40

    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "split")
    assert sorted(a) == sorted(b)
    assert any(k.startswith("opt.") for k in a) and any(k.startswith("ema.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_channel_covariance_fine_tune_starts_as_the_diagonal_model_and_improves_on_it(tmp_path: Path) -> None:
    """--covariance channels from a diagonal model: the same bound before training (L = I), then the
    new entries train, and the checkpoint round-trips through `dpm info`."""
    Trainer(swissroll_cfg(tmp_path / "diag", 30)).run()
    source = load_checkpoint(tmp_path / "diag").diffusion.eval()
    grown = Trainer(swissroll_cfg(tmp_path / "cov", 30, init_from=str(tmp_path / "diag"), covariance="channels"))
    x0 = torch.randn(512, 2, 1, 1)
    with torch.no_grad():
        k_before = source.bound(x0, all_terms=True, generator=torch.Generator().manual_seed(0))
        k_grown = grown.raw_model.eval().bound(x0, all_terms=True, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(k_grown, k_before, atol=1e-5)
    grown.run()
    tuned = load_checkpoint(tmp_path / "cov").diffusion.eval()
    assert tuned.cfg.covariance == "channels"
    step = tuned.reverse_step(x0, torch.full((512,), 3, dtype=torch.long))
    assert step.tril is not None and step.tril.abs().max() > 0
    out = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "info", str(tmp_path / "cov")],
                         capture_output=True, text=True, check=True).stdout
    assert "covariance=channels" in out


def test_a_channel_covariance_needs_the_paper_network(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="covariance channels"):
        Trainer(swissroll_cfg(tmp_path / "x", 5, arch="unet", parameterisation="eps", objective="hybrid",
                              covariance="channels"))


def test_validation_bound_is_float32_even_in_bf16_runs() -> None:
    """The shipped photo model's K moves under bf16 autocast; a bf16 run's validation must still
    report the float32 K."""
    ckpt = load_checkpoint(Path(__file__).parents[1] / "models" / "photo-rgb")
    data = ckpt.meta["data"]
    val = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cpu = torch.device("cpu")
    plain = validate(ckpt.diffusion, val, data, cpu, autocast_for(cpu, "off"))
    bf16 = validate(ckpt.diffusion, val, data, cpu, autocast_for(cpu, "bf16"))
    assert bf16["bits_per_px"] == plain["bits_per_px"]
    with torch.no_grad():
        ks = []
        for enabled in (False, True):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                ks.append(ckpt.diffusion.bound(val, stratified=True, generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(ks[0].float(), ks[1].float(), atol=1e-4)  # bf16 does change the bound


# The loss of every step and the validation of a fixed-seed run, as the trainer gave them before it
# was split into train_config / timestep_sampling / fine_tune / validation (commit 73153ff, 1 thread,
# float32; reproduced bit for bit after the split). A change here changes what training does.
PINNED_LOSSES = [1.0250557661056519, 0.992803692817688, 1.0007750988006592, 1.0194870233535767, 0.9881623983383179,
                 0.9730494618415833, 0.9934698939323425, 0.985729455947876, 0.9900345802307129, 0.9753913283348083,
                 0.9946550130844116, 0.9746444225311279, 12.574151039123535, 1.017816185951233, 0.9623784422874451,
                 12.532918930053711, 0.9687880277633667, 0.9796611070632935, 0.9942936897277832, 0.9816329479217529,
                 0.972182035446167, 0.9492534399032593, 0.9753068089485168, 0.9962581396102905, 0.9670814871788025]
# Bits per pixel, all three channels: 3 x the -685.9439086914062 +- 17.163265228271484 per colour value
# that the trainer reported before bits_unit existed.
PINNED_VAL = {"bits_per_px": 3 * -685.9439086914062, "bits_stderr": 3 * 17.163265228271484, "psnr25": 20.2194881439209}


def test_a_fixed_seed_run_gives_the_pinned_losses(tmp_path: Path, photo_folder: Path) -> None:
    trainer = Trainer(folder_cfg(photo_folder, tmp_path / "run", 25, t_sampling="restoration", threads=1))
    assert isinstance(trainer.t_sampler, RestorationSampler)
    losses = [trainer.train_step()["loss"] for _ in range(25)]
    assert losses == pytest.approx(PINNED_LOSSES, rel=1e-4)  # rel: other CPUs' kernels round differently
    val = validate(trainer.ema, trainer.val_batch, trainer.data_desc, trainer.device, trainer.autocast)
    assert val.pop("bits_unit") == "per_pixel"
    assert val == pytest.approx(PINNED_VAL, rel=1e-4)


# ----------------------------------------------------------------------------------------------
# Signals, in real processes


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_the_run_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "dpm_desktop.cli", "train", *FAST_SWISSROLL, "--steps", "100000",
           "--progress", "jsonl", "--out", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:  # wait until training is under way
            lines.append(line)
            if json.loads(line)["event"] == "step":
                break
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = read_events("".join(lines) + rest)
    names = [e["event"] for e in events]
    assert names[0] == "start" and "stopped" in names and names[-1] == "done"
    stopped = next(e for e in events if e["event"] == "stopped")["step"]
    assert 20 <= stopped < 100000
    assert events[-1]["stopped"] is True and events[-1]["step"] == stopped
    assert names.index("stopped") < names.index("checkpoint", names.index("stopped"))
    assert load_checkpoint(run).meta["training"]["steps"] == stopped

    more = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "train", "--resume", "--out", str(run),
                           "--steps", str(stopped + 20), "--progress", "jsonl"],
                          capture_output=True, text=True, timeout=120)
    assert more.returncode == 0, more.stderr
    ev = read_events(more.stdout)
    assert [(e["event"], e["step"]) for e in ev[:2]] == [("resumed", stopped), ("start", stopped)]
    assert ev[-1]["event"] == "done" and ev[-1]["step"] == stopped + 20 and ev[-1]["stopped"] is False


# ----------------------------------------------------------------------------------------------
# A disk that fills up


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    real_save = checkpoint_module.save_file
    calls = {"n": 0}

    def filling_disk(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str] | None = None) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:  # the first checkpoint (EMA weights + train state) fits
            real_save(tensors, path, metadata=metadata)
            return
        Path(path).write_bytes(b"\0" * 1000)  # part of a file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", filling_disk)
    rc = main(["train", *FAST_SWISSROLL, "--steps", "20", "--checkpoint-every", "10", "--out", str(run)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("dpm: error: could not write the checkpoint for step")
    assert "No space left on device" in err[0] and "state-0000010 is intact" in err[0]
    assert json.loads((run / "latest.json").read_text())["step"] == 10
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in (run / "state-0000010").iterdir() if p.name.startswith(".")) == []
    assert load_checkpoint(run).meta["training"]["steps"] == 10

    monkeypatch.setattr(checkpoint_module, "save_file", real_save)  # space freed: the run resumes
    assert main(["train", "--resume", "--out", str(run)]) == 0
    assert load_checkpoint(run).meta["training"]["steps"] == 20


# ----------------------------------------------------------------------------------------------
# Bad training folders


def make_folder(root: Path, kind: str) -> Path:
    folder = root / kind
    folder.mkdir()
    if kind == "only-non-images":
        (folder / "notes.txt").write_text("not a photo")
        (folder / "fake.jpg").write_text("not a jpeg either")
    elif kind == "all-too-small":
        for i in range(3):
            write_photo(folder / f"small{i}.png", 24, 40, seed=i)
    elif kind == "all-broken":
        write_photo(folder / "whole.png", 64, 64)
        data = (folder / "whole.png").read_bytes()
        (folder / "whole.png").unlink()
        (folder / "cut.png").write_bytes(data[: len(data) // 2])
        (folder / "empty.png").write_bytes(b"")
    return folder


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "no such folder"),
    ("empty", "the folder is empty"),
    ("only-non-images", "fake.jpg: not an image"),
    ("all-too-small", "too small (40x24; patches need 32 px)"),
    ("all-broken", "cut.png: unreadable or truncated"),
])
def test_unusable_folders_give_one_clear_error(tmp_path: Path, kind: str, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "missing" if kind == "missing" else make_folder(tmp_path, kind)
    rc = main(["train", "--data", str(folder), "--steps", "5", "--patch", "32", "--preset", "tiny",
               "--out", str(tmp_path / "run"), "--progress", "jsonl"])
    assert rc == 1
    out, err = capsys.readouterr()
    assert read_events(out) == [{"event": "error", "message": err.strip().removeprefix("dpm: error: ")}]
    assert len(err.splitlines()) == 1 and err.startswith("dpm: error: ") and message in err
    assert str(folder) in err


def test_broken_files_beside_good_ones_are_skipped_and_listed(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(3):
        write_photo(folder / f"good{i}.png", 48, 56, seed=i)
    write_photo(folder / "good.jpg", 48, 56, seed=9)
    data = (folder / "good.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.png").write_text("hello")
    write_photo(folder / "tiny.png", 8, 8)
    rc = main(["train", "--data", str(folder), "--steps", "3", "--patch", "32", "--batch", "2", "--preset", "tiny",
               "--T", "20", "--out", str(tmp_path / "run"), "--progress", "jsonl", "--threads", "1"])
    assert rc == 0
    events = read_events(capsys.readouterr().out)
    start = events[0]
    assert start["event"] == "start"
    skipped = {Path(p).name: why for p, why in start["skipped"]}
    assert set(skipped) == {"cut.jpg", "text.png", "tiny.png"}
    assert "truncated" in skipped["cut.jpg"]
    assert "not an image" in skipped["text.png"] and "too small" in skipped["tiny.png"]
    assert start["data"]["usable"] == 4
    assert events[-1]["event"] == "done"


# ----------------------------------------------------------------------------------------------
# JSON lines


@pytest.mark.slow
def test_jsonl_progress_of_a_real_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "train", *FAST_SWISSROLL, "--steps", "40",
                           "--val-every", "20", "--checkpoint-every", "20", "--progress", "jsonl",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = read_events(proc.stdout)  # every line of stdout is one JSON object
    names = [e["event"] for e in events]
    assert names == ["start", "step", "val", "checkpoint", "step", "val", "checkpoint", "done"]
    assert all(isinstance(e["time"], float) for e in events)
    start, step, val, ckpt, done = events[0], events[1], events[2], events[3], events[-1]
    assert start["total"] == 40 and start["device"] == "cpu" and start["params"] > 0
    assert step["step"] == 20 and {"loss", "lr", "images_per_s", "eta_s", "elapsed_s"} <= set(step)
    assert val["step"] == 20 and "bits_per_px" in val and "bits_stderr" in val
    assert val["bits_unit"] == "per_point" and val["channels"] == 2  # K per 2-D point, as `dpm eval` gives it
    assert Path(ckpt["path"]).name == "state-0000020"
    assert done["step"] == 40 and done["stopped"] is False and Path(done["path"]).is_dir()
    assert "rank_weights_sha256" not in done

    bad = subprocess.run([sys.executable, "-m", "dpm_desktop.cli", "train", "--data", str(tmp_path / "nope"),
                          "--progress", "jsonl", "--out", str(tmp_path / "run2")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert read_events(bad.stdout)[0]["event"] == "error" and "no such folder" in read_events(bad.stdout)[0]["message"]
    assert bad.stderr.startswith("dpm: error: ") and bad.stderr.count("\n") == 1


def test_an_existing_run_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", *FAST_SWISSROLL, "--steps", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", *FAST_SWISSROLL, "--steps", "2", "--out", str(run)]) == 1
    assert "use --resume" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "elsewhere")]) == 1
    assert "--data is required" in capsys.readouterr().err
    with pytest.raises(TrainError, match="nothing to resume"):
        Trainer(TrainConfig(out=str(tmp_path / "elsewhere")), resume=True)


# ----------------------------------------------------------------------------------------------
# DDP: two CPU processes with gloo under torchrun


@pytest.mark.slow
def test_ddp_two_processes_stop_resume_and_end_with_identical_weights(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "dpm_desktop.cli", "train", "--nproc", "2", "--progress", "jsonl", "--out", str(run)]
    proc = subprocess.Popen([*base, *FAST_SWISSROLL, "--steps", "100000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("{") and json.loads(line)["event"] == "step":
                break
        proc.send_signal(signal.SIGINT)  # Ctrl-C in the launcher: both ranks stop at the same step
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    events = read_events("".join(line for line in ("".join(lines) + rest).splitlines(True) if line.startswith("{")))
    done = events[-1]
    assert done["event"] == "done" and done["stopped"] is True
    stopped = done["step"]
    sums = done["rank_weights_sha256"]
    assert len(sums) == 2 and sums[0] == sums[1]
    assert not (run / "STOP").exists()

    more = subprocess.run([*base, "--resume", "--steps", str(stopped + 10)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert more.returncode == 0, more.stderr[-3000:]
    done = read_events("\n".join(line for line in more.stdout.splitlines() if line.startswith("{")))[-1]
    assert done["event"] == "done" and done["step"] == stopped + 10 and done["stopped"] is False
    assert done["rank_weights_sha256"][0] == done["rank_weights_sha256"][1]
    meta = load_checkpoint(run).meta
    assert meta["training"]["world_size"] == 2 and meta["training"]["steps"] == stopped + 10


def test_init_from_a_training_state_continues_weights_ema_and_optimizer(tmp_path: Path) -> None:
    """A campaign's committed state (scripts/campaign.py save: a bf16 copy) continues in a new run
    folder: the raw weights, the EMA weights and Adam's second moments carry over."""
    src = tmp_path / "src"
    Trainer(swissroll_cfg(src, 15)).run()
    saved = tmp_path / "saved"
    proc = subprocess.run([sys.executable, "scripts/campaign.py", "save", "--run", str(src), "--to", str(saved)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert "saved step 15" in proc.stdout
    state = load_file(str(saved / "train_state.safetensors"))
    assert all(v.dtype == torch.bfloat16 for k, v in state.items()
               if v.is_floating_point() and v.dtype != torch.float64 and v.dim() > 0)
    trainer = Trainer(swissroll_cfg(tmp_path / "next", 1, init_from=str(saved)))
    cfg = trainer.raw_model.cfg
    exact = make_betas(cfg.schedule, cfg.T, step1_beta=cfg.step1_beta)
    assert torch.equal(state["model.base_betas"], exact)  # float64, kept exact: bf16 rounds b_T = 0.999 to 1
    ema = load_checkpoint(saved).diffusion.state_dict()
    assert torch.equal(trainer.raw_model.base_betas, exact) and torch.equal(ema["base_betas"], exact)
    for k, v in trainer.raw_model.state_dict().items():
        assert torch.equal(v, state[f"model.{k}"].to(v.dtype)), k
        assert torch.equal(trainer.ema.state_dict()[k], ema[k]), k
    moments = trainer.optimizer.state_dict()["state"]
    assert moments and torch.equal(moments[0]["exp_avg_sq"], state["opt.0.exp_avg_sq"].float())
    assert "opt.0.exp_avg" not in state and not moments[0]["exp_avg"].any()  # left out, rebuilt by training
    trainer.train_step()  # and training goes on from it


def test_z_sigma_form_is_kept_by_fine_tunes_and_resumes_of_older_runs(tmp_path: Path) -> None:
    """A model saved before z_sigma_sqrt_T (the field stripped) is unscaled: a fine-tune from it stays
    unscaled unless the other form is asked for, which is refused; an older run resumes unscaled."""
    old = tmp_path / "old"
    Trainer(swissroll_cfg(old, 5)).run()
    for meta_file in [*old.glob("state-*/model.json")]:
        meta = json.loads(meta_file.read_text())
        del meta["diffusion"]["z_sigma_sqrt_T"]
        meta_file.write_text(json.dumps(meta))
    settings = json.loads((old / "settings.json").read_text())
    assert settings.pop("z_sigma_sqrt_T") is True
    (old / "settings.json").write_text(json.dumps(settings))

    tune = Trainer(swissroll_cfg(tmp_path / "tune", 3, init_from=str(old)))
    tune.run()
    assert load_checkpoint(tmp_path / "tune").diffusion.cfg.z_sigma_sqrt_T is False
    assert json.loads((tmp_path / "tune" / "settings.json").read_text())["z_sigma_sqrt_T"] is False
    with pytest.raises(TrainError, match="fine-tune keeps its form"):
        Trainer(swissroll_cfg(tmp_path / "tune2", 3, init_from=str(old), z_sigma_sqrt_T=True))

    resumed = Trainer(swissroll_cfg(old, 8), resume=True, given={"steps"})
    assert resumed.cfg.z_sigma_sqrt_T is False
    resumed.run()
    assert load_checkpoint(old).diffusion.cfg.z_sigma_sqrt_T is False
    assert Trainer(swissroll_cfg(tmp_path / "new", 3)).cfg.z_sigma_sqrt_T is True


@pytest.mark.parametrize("unshuffle", [1, 2])
def test_a_gray_fine_tune_starts_as_the_colour_network_on_a_gray_image(unshuffle: int) -> None:
    """The gray network made from a colour one (``--channels 1 --init-from``) computes, on a gray image,
    the mean over R, G and B of what the colour network computes on that gray in all three: the input
    weights summed per sub-pixel, the outputs averaged. With pixel-unshuffled input each colour owns 4
    consecutive channels, which a plain sum over all input channels would have mixed up."""
    from dpm_desktop.core.fine_tune import adapt_channels
    from dpm_desktop.core.networks import UNet, UNetConfig

    torch.manual_seed(0)
    colour = UNet(UNetConfig(channels=3, T=50, width=16, mults=[1, 2], unshuffle=unshuffle)).eval()
    for p in colour.out.parameters():  # the readout starts at zero; give it something to carry over
        torch.nn.init.normal_(p, std=0.1)
    gray = UNet(UNetConfig(channels=1, T=50, width=16, mults=[1, 2], unshuffle=unshuffle)).eval()
    prefixed = {f"net.{k}": v for k, v in colour.state_dict().items()}
    target = {f"net.{k}": v for k, v in gray.state_dict().items()}
    gray.load_state_dict({k[4:]: v for k, v in adapt_channels(prefixed, target, channels=(3, 1)).items()})
    x, t = torch.rand(2, 1, 16, 16), torch.tensor([3, 40])
    with torch.no_grad():
        want = colour(x.repeat(1, 3, 1, 1), t).view(2, 2, 3, 16, 16).mean(2)  # eps and v, averaged over colour
        got = gray(x, t).view(2, 2, 1, 16, 16)[:, :, 0]
    assert torch.allclose(got, want, atol=1e-5)

"""Part 4: speed and memory on this machine.

  whole process   ``dpm denoise`` (mean mode, sigma 25) on a noisy 512 x 512 colour photo, as a
                  child process: Python start, torch import, model loading, reading and writing
                  the files, all included; CBM3D timed the same way (``benchmarks.cbm3d_file``)
                  and both also in-process, on the same photo
  peak memory     ``dpm denoise`` on a 6000 x 4000 photo: the child's peak resident set
                  (ru_maxrss); the photo is a mosaic of the benchmark photos with noise, as JPEG
  training        images/s of the trainer (``Trainer.train_step``: data, forward, backward, EMA)
                  for the UNet on photos and the paper's network on dead leaves, preset small
  sampling        network evaluations per second at 64 x 64, batch 16, both networks, in fp32 and
                  under the bf16 autocast that restoration uses where the CPU supports it

    python -m benchmarks.speed --model runs/photo-rgb --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import baselines, metrics
from .common import (
    WORK_DIR,
    Report,
    Run,
    Table,
    add_common_args,
    describe_model,
    load_model,
    log,
    model_line,
    start,
    timed,
)
from .images import Photo, add_noise, centre_crop, colour_photos, item_seed, save_png, write_folder

PART = "speed"
SIGMA = 25.0


@dataclass
class ChildRun:
    wall_s: float
    cpu_s: float  # user + system time of the child
    max_rss_mib: float


def run_child(cmd: list[str], env: dict[str, str]) -> ChildRun:
    """Run a command to completion; its wall time, CPU time and peak memory (from wait4's rusage)."""
    with tempfile.TemporaryFile() as output:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            output.seek(0)
            tail = output.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{tail}")
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def dpm_command(model: str, device: str, src: Path, dst: Path) -> list[str]:
    exe = Path(sys.executable).with_name("dpm")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "dpm_desktop.cli"]
    return [*head, "denoise", str(src), "-o", str(dst), "--sigma", f"{SIGMA:g}", "--mode", "mean",
            "--model", model, "--device", device, "--overwrite"]


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255


# ----------------------------------------------------------------------------------------------
def whole_process(run: Run, model: str, ckpt: Any, photo: Photo, repeats: int, threads: int | None,
                  report: Report) -> None:
    from dpm_desktop.core.restore import denoise

    clean = centre_crop(photo.pixels, 512)
    noisy = add_noise(clean, SIGMA, item_seed(run.seed, photo.name, SIGMA))
    noisy_path = save_png(noisy, WORK_DIR / "noisy-512.png")
    noisy = _load(noisy_path)  # the 8-bit file both processes read
    env = child_env(threads)
    commands = {
        "ours (dpm denoise)": dpm_command(model, run.device, noisy_path, WORK_DIR / "ours-512.png"),
        "CBM3D (python process)": [sys.executable, "-m", "benchmarks.cbm3d_file", str(noisy_path),
                                   str(WORK_DIR / "cbm3d-512.png"), "--sigma", f"{SIGMA:g}"],
    }
    rows: dict[str, list[ChildRun]] = {name: [] for name in commands}
    for i in range(repeats):
        for name, cmd in commands.items():
            rows[name].append(run_child(cmd, env))
        log(PART, f"whole process, repeat {i + 1}/{repeats}: "
            + ", ".join(f"{k} {v[-1].wall_s:.1f} s" for k, v in rows.items()))
    denoise(noisy[:64, :64], sigma=SIGMA, model=ckpt, device=run.device)  # warm-up, untimed
    _, t_ours = timed(denoise, noisy, sigma=SIGMA, model=ckpt, device=run.device)
    _, t_cb = timed(baselines.cbm3d, noisy, SIGMA)
    quality = {"ours (dpm denoise)": metrics.psnr(clean, _load(WORK_DIR / "ours-512.png")),
               "CBM3D (python process)": metrics.psnr(clean, _load(WORK_DIR / "cbm3d-512.png"))}
    in_process = {"ours (dpm denoise)": t_ours, "CBM3D (python process)": t_cb}
    t = Table(f"Denoising one 512x512 colour photo ({photo.name}, σ={SIGMA:g}, 8-bit PNG in and out)",
              ["method", "whole process, wall s (median)", "whole process, CPU s", "in-process wall s",
               "in-process CPU s", "PSNR of the file (dB)"])
    for name, runs in rows.items():
        t.add(name, statistics.median(r.wall_s for r in runs), statistics.median(r.cpu_s for r in runs),
              in_process[name].wall_s, in_process[name].cpu_s, quality[name])
        report.records.append({"test": "whole_process", "method": name, "runs": [vars(r) for r in runs],
                               "in_process": vars(in_process[name]), "psnr": quality[name]})
    ratio = statistics.median(r.wall_s for r in rows["ours (dpm denoise)"]) / statistics.median(
        r.wall_s for r in rows["CBM3D (python process)"])
    t.note = (f"Median of {repeats} runs each. Whole process: from starting the command to its exit, "
              "including Python start-up, imports, model loading and file IO. Ours took "
              f"{ratio:.2f} of CBM3D's whole-process wall time and {t_ours.wall_s / t_cb.wall_s:.3f} of its "
              "in-process time (model already loaded). The PSNR column scores the written 8-bit files.")
    report.tables.append(t)


def mosaic(photos: list[Photo], width: int, height: int) -> np.ndarray:
    """A width x height photo tiled from the benchmark photos (mirrored where they run out)."""
    out = np.zeros((height, width, 3), np.float32)
    y, k = 0, 0
    while y < height:
        row_h = 0
        x = 0
        while x < width:
            p = photos[k % len(photos)].pixels
            k += 1
            h, w = min(p.shape[0], height - y), min(p.shape[1], width - x)
            out[y:y + h, x:x + w] = p[:h, :w] if k % 2 else p[:h, :w][:, ::-1]
            x += w
            row_h = max(row_h, h)
        y += row_h
    return out


def peak_memory(run: Run, model: str, photos: list[Photo], threads: int | None, report: Report) -> None:
    w, h = (2000, 1500) if run.quick else (6000, 4000)
    big = add_noise(mosaic(photos, w, h), SIGMA, item_seed(run.seed, "mosaic", SIGMA))
    src = WORK_DIR / f"noisy-{w}x{h}.jpg"
    Image.fromarray(np.round(big * 255).astype(np.uint8)).save(src, quality=95)
    del big
    log(PART, f"denoising a {w}x{h} photo in a child process...")
    r = run_child(dpm_command(model, run.device, src, WORK_DIR / f"ours-{w}x{h}.jpg"), child_env(threads))
    log(PART, f"{w}x{h}: peak {r.max_rss_mib:.0f} MiB, {r.wall_s:.0f} s wall, {r.cpu_s:.0f} s CPU")
    t = Table(f"Peak memory: `dpm denoise` (mean mode) on a {w}x{h} ({w * h / 1e6:.0f} MP) JPEG",
              ["peak resident memory (MiB)", "wall s", "CPU s"])
    t.add(r.max_rss_mib, r.wall_s, r.cpu_s)
    t.note = ("ru_maxrss of the child process (Python, torch, the model, the image in and out, the tiles). "
              "CBM3D is not run at this size: at its speed it would take longer than the whole suite.")
    report.tables.append(t)
    report.records.append({"test": "peak_memory", "width": w, "height": h, **vars(r)})


# ----------------------------------------------------------------------------------------------
def training_throughput(run: Run, heldout: Path, steps: int, report: Report) -> None:
    from dpm_desktop.core.device import cpu_supports_bf16
    from dpm_desktop.core.train import TrainConfig, Trainer

    from .flops import peak_gflops, step_flops

    t = Table("Training throughput (preset small, 64x64 crops, batch 16)",
              ["network", "data", "parameters", "objective", "amp", "images/s", "achieved GFLOP/s"])
    for arch, data, channels in (("unet", str(heldout), 3), ("paper", "deadleaves", 1)):
        cfg = TrainConfig(data=data, arch=arch, preset="small", channels=channels, batch=16, patch=64,
                          out=str(WORK_DIR / f"train-{arch}"), device=run.device, seed=run.seed)
        trainer = Trainer(cfg)
        for _ in range(3):  # warm-up: allocator, autocast caches, the first optimizer step
            trainer.train_step()
        _, tm = timed(lambda tr=trainer: [tr.train_step() for _ in range(steps)])
        ips = steps * trainer.cfg.batch / tm.wall_s
        params = sum(p.numel() for p in trainer.raw_model.parameters())
        src = "photos (3 channels)" if arch == "unet" else "dead leaves (1 channel)"
        gflops = step_flops(trainer) * steps / tm.wall_s / 1e9
        t.add(arch, src, f"{params:,}", trainer.cfg.objective, trainer.amp_name, ips, gflops)
        report.records.append({"test": "training", "arch": arch, "data": src, "parameters": params,
                               "objective": trainer.cfg.objective, "amp": trainer.amp_name, "steps": steps,
                               "wall_s": tm.wall_s, "images_per_s": ips, "gflops": gflops})
        log(PART, f"training {arch}: {ips:.1f} images/s")
    peak = peak_gflops()
    native = cpu_supports_bf16() or run.device != "cpu"
    t.note = (f"{steps} optimizer steps after 3 warm-up steps; each network with its usual objective and "
              "precision (the defaults of `dpm train` for that data). This machine's peak, GFLOP/s: "
              + ", ".join(f"{k} {v:.1f}" for k, v in peak.items())
              + f". Chosen for training: {'bf16 autocast (native bf16)' if native else 'fp32 (no native bf16)'}; "
              "the UNet trains channels-last on CPU.")
    report.records.append({"test": "peak", **peak, "native_bf16": native})
    report.tables.append(t)


def sampling_throughput(run: Run, calls: int, report: Report) -> None:
    import torch

    from dpm_desktop.core.device import autocast_for
    from dpm_desktop.core.sampling import sample
    from dpm_desktop.core.train import TrainConfig, build_model

    t = Table("Sampling throughput (preset small, 64x64, batch 16)",
              ["network", "channels", "fp32 evaluations/s", "bf16 autocast evaluations/s"])
    device = torch.device(run.device)
    for arch, data, channels in (("unet", "photos", 3), ("paper", "deadleaves", 1)):
        cfg = TrainConfig(data=data, arch=arch, preset="small", channels=channels).resolved()
        diffusion = build_model(cfg, cfg.data_kind(), channels).to(device).eval()
        speeds = {}
        for amp in ("off", "bf16"):
            ctx = autocast_for(device, amp)
            with ctx():
                sample(diffusion, (16, channels, 64, 64), steps=2, seed=0, device=device)  # warm-up
                _, tm = timed(sample, diffusion, (16, channels, 64, 64), steps=calls, seed=run.seed,
                              device=device)
            speeds[amp] = calls / tm.wall_s
        t.add(arch, channels, speeds["off"], speeds["bf16"])
        report.records.append({"test": "sampling", "arch": arch, "channels": channels, "calls": calls,
                               "evals_per_s_fp32": speeds["off"], "evals_per_s_bf16": speeds["bf16"]})
        log(PART, f"sampling {arch}: {speeds['off']:.2f} / {speeds['bf16']:.2f} evaluations/s (fp32 / bf16)")
    t.note = (f"A respaced chain of {calls} steps, one network evaluation (batch 16) per step, after an "
              "untimed 2-step chain. Restoration runs under bf16 autocast where the CPU has bf16 support.")
    report.tables.append(t)


# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p)
    p.add_argument("--repeats", type=int,
                   help="runs of each whole-process timing (default 3; 1 with --quick)")
    args = p.parse_args(argv)
    run = start(args)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    ckpt = load_model(args.model, run.device)
    info = describe_model(ckpt)
    photos, notes = colour_photos()
    report = Report(PART, "Speed and memory", run, header=[model_line(info), *notes])
    report.models.append(info)
    heldout = write_folder(photos, WORK_DIR / "heldout-rgb")
    repeats = args.repeats or (1 if run.quick else 3)
    whole_process(run, args.model, ckpt, photos[0], repeats, args.threads, report)
    peak_memory(run, args.model, photos, args.threads, report)
    training_throughput(run, heldout, 5 if run.quick else 30, report)
    sampling_throughput(run, 5 if run.quick else 20, report)
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

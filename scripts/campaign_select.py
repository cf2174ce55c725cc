"""Choose the campaign's photo network by measurement (issue 12 §1-2).

``speed``: for each candidate, one training step's FLOPs (torch's FlopCounterMode) and its seconds at
the given thread count, fp32 vs bf16 autocast vs channels-last vs torch.compile, beside the
machine's own matmul / conv peak. ``run``: train every candidate from scratch for the same CPU
time (steps = budget / measured seconds per step, so that other work on the machine does not bias
the comparison), validating PSNR at sigma 25 along the way. ``plot``: validation PSNR against
training FLOPs, docs/campaign-select.png.

    python scripts/campaign_select.py speed --threads 2
    nice -n 19 python scripts/campaign_select.py run --data data/photos --cpu-minutes 20 --threads 2
    python scripts/campaign_select.py plot
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.flops import peak_gflops, step_flops
from dpm_desktop.core.device import cpu_supports_bf16
from dpm_desktop.core.train import TrainConfig, Trainer
from dpm_desktop.core.validation import denoise_at_sigma25, psnr

# The shipped photo-rgb's recipe; only the network changes between candidates.
RECIPE = {"patch": 64, "batch": 16, "lr": 4e-4, "t_sampling": "restoration", "objective": "hybrid",
          "lr_decay": "none"}
CANDIDATES: dict[str, dict] = {
    "w32": {"width": 32, "mults": [1, 2, 2, 2], "blocks_per_level": 1},  # the shipped photo-rgb
    "w48": {"width": 48, "mults": [1, 2, 2, 2], "blocks_per_level": 1},
    "w32-b2": {"width": 32, "mults": [1, 2, 2, 2], "blocks_per_level": 2},
    "u2-w64": {"width": 64, "mults": [1, 2, 2], "blocks_per_level": 1, "unshuffle": 2},  # FFDNet-style input
}
OUT = Path("runs/campaign-select")


def make_trainer(name: str, data: str, threads: int, amp: str = "off", **extra) -> Trainer:
    cfg = TrainConfig(data=data, out=str(OUT / name), name=name, arch="unet", network=CANDIDATES[name],
                      threads=threads, amp=amp, steps=10**9, val_every=10**9, checkpoint_every=10**9,
                      val_count=256, **RECIPE, **extra)
    return Trainer(cfg)


def val_psnr25(tr: Trainer) -> float:
    """The trainer's validation PSNR at sigma 25 (EMA weights, one call), without the bound (about 20
    network calls per patch, which would cost more than the training between two validations)."""
    _, den = denoise_at_sigma25(tr.ema, tr.val_batch, tr.data_desc, torch.Generator().manual_seed(1234), chunk=64)
    return psnr(den, tr.val_batch, tr.data_desc)


def time_steps(tr: Trainer, n: int) -> float:
    tr.train_step()  # warm-up (and compile, where compiled)
    t0 = time.perf_counter()
    for _ in range(n):
        tr.train_step()
    return (time.perf_counter() - t0) / n


def cmd_speed(args: argparse.Namespace) -> None:
    flags = "avx512_bf16/amx" if cpu_supports_bf16() else "no native bf16 (AVX2)"
    peak = {k: round(v, 1) for k, v in peak_gflops(args.threads).items()}
    print(f"CPU: {flags}; threads {args.threads}; peak {json.dumps(peak)} GFLOP/s")
    results = {}
    for name in args.only or CANDIDATES:
        tr = make_trainer(name, args.data, args.threads)
        params = sum(p.numel() for p in tr.raw_model.parameters())
        flops = step_flops(tr)
        row = {"params": params, "flops_per_step": flops}
        row["fp32_s"] = time_steps(tr, args.n)
        tr.model.to(memory_format=torch.channels_last)
        row["channels_last_s"] = time_steps(tr, args.n)
        tr.model.to(memory_format=torch.contiguous_format)
        if args.bf16:
            tr.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
            row["bf16_s"] = time_steps(tr, 1)
            tr.autocast = contextlib.nullcontext
        if args.compile:
            try:
                tr.model.net = torch.compile(tr.model.net)
                row["compiled_s"] = time_steps(tr, args.n)
            except Exception as e:  # inductor needs a C++ compiler; report, don't die
                row["compiled_s"] = f"failed: {type(e).__name__}: {str(e)[:120]}"
        results[name] = row
        gf = flops / row["fp32_s"] / 1e9
        print(f"{name:8s} {params / 1e6:5.2f} M params, {flops / 1e9:6.1f} GFLOP/step, "
              + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                          if k.endswith("_s")) + f"  -> {gf:.1f} GFLOP/s fp32", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"speed-{args.threads}t.json").write_text(json.dumps(results, indent=1))


def cmd_run(args: argparse.Namespace) -> None:
    speed = json.loads((OUT / f"speed-{args.threads}t.json").read_text())
    for name in args.only or CANDIDATES:
        if (OUT / name / "curve.json").is_file():
            print(f"{name}: done already", flush=True)
            continue
        sec = speed[name]["channels_last_s"]  # channels-last won for every candidate (speed)
        steps = int(args.cpu_minutes * 60 / args.threads / sec)
        tr = make_trainer(name, args.data, args.threads)
        tr.model.to(memory_format=torch.channels_last)
        tr.cfg.steps = steps
        every = max(steps // 8, 1)
        curve = []
        t0 = time.process_time()
        while tr.step < steps:
            tr.train_step()
            if tr.step % every == 0 or tr.step == steps:
                psnr = val_psnr25(tr)
                curve.append({"step": tr.step, "flops": tr.step * speed[name]["flops_per_step"],
                              "cpu_s": time.process_time() - t0, "psnr25": psnr})
                print(f"{name} step {tr.step}/{steps}: psnr25 {psnr:.3f} dB", flush=True)
        (OUT / name).mkdir(parents=True, exist_ok=True)
        (OUT / name / "curve.json").write_text(json.dumps({"network": CANDIDATES[name], "recipe": RECIPE,
                                                           "speed": speed[name], "curve": curve}, indent=1))


def cmd_plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in CANDIDATES:
        f = OUT / name / "curve.json"
        if not f.is_file():
            continue
        d = json.loads(f.read_text())
        xs = [c["flops"] / 1e15 for c in d["curve"]]
        ax.plot(xs, [c["psnr25"] for c in d["curve"]], "o-", ms=3,
                label=f"{name} ({d['speed']['params'] / 1e6:.2f} M, {d['speed']['channels_last_s']:.2f} s/step)")
    ax.set_xscale("log")
    ax.set_xlabel("training compute (PFLOP)")
    ax.set_ylabel("validation PSNR, one-step denoise at σ = 25 (dB)")
    ax.set_title("Candidates for the campaign at equal CPU time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--data", default="data/photos")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("-n", type=int, default=5)
    s.add_argument("--bf16", action="store_true", help="also time one bf16 step (slow without native bf16)")
    s.add_argument("--compile", action="store_true", help="also time torch.compile (inductor)")
    s.add_argument("--only", nargs="*")
    r = sub.add_parser("run")
    r.add_argument("--data", default="data/photos")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--cpu-minutes", type=float, default=20)
    r.add_argument("--only", nargs="*")
    q = sub.add_parser("plot")
    q.add_argument("--out", default="docs/campaign-select.png")
    args = p.parse_args()
    {"speed": cmd_speed, "run": cmd_run, "plot": cmd_plot}[args.cmd](args)


if __name__ == "__main__":
    main()

"""The ``dpm`` command line. Heavy modules (torch) are imported inside commands, so ``--help`` is fast.

Every command exits 0 on success, 1 with a one-line ``dpm: error: ...`` on a failure it
understands, 130 when cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


class CliError(Exception):
    pass


# ----------------------------------------------------------------------------------------------
class TextProgress:
    """A one-line progress bar with ETA on stderr."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label, self.stream, self.last = label, stream or sys.stderr, 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and p.step < p.total:
            return
        self.last = now
        width = 30
        filled = int(width * p.fraction)
        eta = f" ETA {_fmt_s(p.eta_s)}" if p.eta_s is not None and p.step < p.total else ""
        msg = f" {p.message}" if p.message else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {p.step}/{p.total}{eta}{msg}   ")
        if p.step >= p.total:
            self.stream.write("\n")
        self.stream.flush()


def _fmt_s(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _device(name: str) -> Any:
    from .core.train import TrainError, pick_device

    try:
        return pick_device(name)
    except TrainError as e:
        raise CliError(str(e)) from None


# ----------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    if not args.data and not args.resume:
        raise CliError("--data is required (swissroll, deadleaves or a folder of images), except with --resume")
    if args.nproc and args.nproc > 1:
        return _launch_distributed(args)
    from .core.train import TrainConfig, Trainer

    network: dict[str, Any] = {}
    for item in args.network or []:
        key, _, val = item.partition("=")
        network[key] = json.loads(val) if val[:1] in "[{0123456789-tf" else val
    cfg = TrainConfig(
        data=args.data or "", out=args.out, name=args.name or "", arch=args.arch, preset=args.preset, network=network,
        channels=args.channels, patch=args.patch, steps=args.steps, minutes=args.minutes, batch=args.batch,
        lr=args.lr, objective=args.objective, parameterisation=args.parameterisation,
        covariance=args.covariance, schedule=args.schedule,
        T=args.T, learn_betas=args.learn_betas, t_sampling=args.t_sampling, seed=args.seed, device=args.device,
        amp=args.amp, checkpoint_every=args.checkpoint_every, val_every=args.val_every, init_from=args.init_from,
        threads=args.threads, ema_decay=args.ema_decay, warmup=args.warmup, min_scale=args.min_scale,
        step1_beta=args.step1_beta, turns=args.turns,
    )
    if args.progress == "jsonl":
        def sink(e: dict[str, Any]) -> None:
            print(json.dumps(e), flush=True)
    else:
        sink = _text_train_events
    try:
        trainer = Trainer(cfg, events=sink, resume=args.resume)
        folder = trainer.run()
    except Exception as e:
        if args.progress == "jsonl":
            print(json.dumps({"event": "error", "message": _one_line(e)}), flush=True)
        raise
    if args.progress != "jsonl":
        state = "stopped; resume with --resume" if trainer.stop_requested else "finished"
        print(f"{state}: step {trainer.step}, model in {folder}")
    return 0


def _text_train_events(e: dict[str, Any]) -> None:
    ev = e["event"]
    if ev == "start":
        print(f"training on {e['device']} ({e['params']:,} parameters, amp {e['amp']}), run folder {e['run_dir']}",
              flush=True)
        for path, reason in e.get("skipped", [])[:20]:
            print(f"  skipped {path}: {reason}")
    elif ev == "step":
        total = f"/{e['total']}" if e.get("total") else ""
        eta = f" ETA {_fmt_s(e['eta_s'])}" if e.get("eta_s") is not None else ""
        print(f"step {e['step']}{total} loss {e['loss']:.4f} {e['images_per_s']:.1f} img/s{eta}", flush=True)
    elif ev == "val":
        extra = f" PSNR@25 {e['psnr25']:.2f} dB" if "psnr25" in e else ""
        print(f"  validation at step {e['step']}: K {e['bits_per_px']:.3f} ± {e['bits_stderr']:.3f} bits/dim{extra}",
              flush=True)
    elif ev == "checkpoint":
        print(f"  checkpoint {e['path']}", flush=True)
    elif ev in ("resumed", "stopped"):
        print(f"{ev} at step {e['step']}", flush=True)


def _launch_distributed(args: argparse.Namespace) -> int:
    """Re-run this command under torchrun with N processes (DDP). torchrun runs in its own session;
    SIGINT (Ctrl-C) or SIGTERM here creates the run's STOP file, and every rank stops after its
    current step with a checkpoint. A second signal terminates torchrun."""
    import signal
    import subprocess

    from .core.train import STOP_FILE

    cleaned, skip = [], False
    for a in args.argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            cleaned.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "dpm_desktop.cli", *cleaned]
    stop = Path(args.out) / STOP_FILE
    stop.unlink(missing_ok=True)
    proc = subprocess.Popen(cmd, start_new_session=True)

    def request_stop(_signum: int, _frame: Any) -> None:
        if stop.exists():
            proc.terminate()
        else:
            stop.parent.mkdir(parents=True, exist_ok=True)
            stop.touch()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.unlink(missing_ok=True)


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .core.checkpoint import load_checkpoint
    from .core.progress import Reporter
    from .core.sampling import sample

    if args.n < 1:
        raise CliError("-n must be at least 1")
    device = _device(args.device)
    ckpt = load_checkpoint(Path(args.checkpoint), device=device)
    kind = ckpt.meta["data"].get("kind", "image")
    out = Path(args.output)
    if kind == "points":
        shape: tuple[int, ...] = (args.n, 2, 1, 1)
    else:
        size = args.size or int(ckpt.meta["data"].get("patch_size") or 64)
        shape = (args.n, ckpt.channels, size, size)
    clip = ckpt.data_range if kind == "image" else None
    x = sample(ckpt.diffusion, shape, steps=args.steps, seed=args.seed, device=device, clip=clip,
               reporter=Reporter(TextProgress("sampling")))
    x = x.float().cpu()
    if out.suffix == ".npy":
        arr = x.view(args.n, 2).numpy() if kind == "points" else ckpt.from_model_space(x).numpy()
        _atomic_npy(out, arr)
    elif kind == "points":
        from .core.plots import scatter_png

        scatter_png(out, x.view(args.n, 2).numpy(), title=f"{args.n} samples, {args.steps or ckpt.diffusion.T} steps")
    else:
        from .core.imaging import save_image

        imgs = ckpt.from_model_space(x).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        save_image(out, _grid(imgs))
    print(f"wrote {out}")
    del np, torch
    return 0


def _grid(imgs: Any, pad: int = 2) -> Any:
    import numpy as np

    n, h, w, c = imgs.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.float32)
    for i, im in enumerate(imgs):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = im
    return grid


def _atomic_npy(path: Path, arr: Any) -> None:
    import io

    import numpy as np

    from .core.atomic import atomic_write_bytes

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def cmd_eval(args: argparse.Namespace) -> int:
    from .core.checkpoint import load_checkpoint
    from .core.evaluate import evaluate_bound
    from .core.progress import Reporter

    device = _device(args.device)
    ckpt = load_checkpoint(Path(args.checkpoint), device=device)
    if args.data not in ("swissroll", "deadleaves") and not Path(args.data).is_dir():
        raise CliError(f"{args.data}: not swissroll, deadleaves or a folder of images")
    try:
        res = evaluate_bound(ckpt, args.data, n=args.n, all_terms=args.all_terms, draws=args.draws, seed=args.seed,
                             device=device, reporter=Reporter(None if args.json else TextProgress("evaluating")))
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        how = "all T terms" if res.all_terms else "unbiased estimate over t"
        print(f"K = {res.K_bits:.3f} ± {res.stderr_bits:.3f} {res.unit}  (K - L_null = {res.K_minus_L_null_bits:.3f}; "
              f"L_null = {res.L_null_bits:.3f}; n = {res.n}; {how})")
        if res.paper_K_bits is not None:
            print(f"paper (Table 1): K = {res.paper_K_bits} {res.unit}")
        if res.data_log_density_bits is not None:
            print(f"log-density of this data: {res.data_log_density_bits:.3f} {res.unit}; the most K can reach "
                  f"with this model's b_1 (E log q(x_1)): {res.ceiling_bits:.3f} {res.unit}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(Path(args.checkpoint))
    meta = {k: v for k, v in ckpt.meta.items() if not k.startswith("_")}
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    net = meta["network"]
    params = sum(p.numel() for p in ckpt.diffusion.net.parameters())
    print(f"{meta['name']}: {meta.get('description', '')}".rstrip(": "))
    print(f"  network        {net['arch']} ({params:,} parameters)")
    d = meta["diffusion"]
    print(f"  diffusion      T={d['T']} schedule={d['schedule']} parameterisation={d['parameterisation']} "
          f"covariance={d.get('covariance', 'diagonal')}")
    data = meta["data"]
    print(f"  data           {data.get('kind')} channels={data['channels']} patch={data.get('patch_size')}")
    tr = meta.get("training", {})
    if tr:
        print(f"  training       {tr.get('steps')} steps, {tr.get('wall_time_s')} s on {tr.get('device')}")
    for k, v in meta.get("metrics", {}).items():
        print(f"  metric         {k} = {v}")
    print(f"  sha256         {meta['sha256']}")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from .dataset_sources import SourceError, build

    try:
        manifest = build(args.name, Path(args.out), debs=Path(args.debs) if args.debs else None)
    except SourceError as e:
        raise CliError(str(e)) from None
    print(f"wrote {len(manifest['files'])} images and MANIFEST.json to {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .core.registry import broken_models, list_models

    for m in list_models():
        where = "bundled" if m.bundled else "user"
        print(f"{m.name:20s} {where:8s} {m.channels}ch  {m.description}")
    for folder, why in broken_models():
        print(f"(unusable) {folder}: {why}")
    return 0


# ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dpm", description="Diffusion probabilistic models for photo restoration.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model", description="Train a diffusion model on the Swiss roll, "
                       "dead leaves, or a folder of images. Settings are saved in the run folder.")
    t.add_argument("--data", help="swissroll, deadleaves, or a folder of images (not needed with --resume)")
    t.add_argument("--arch", choices=["paper", "unet"],
                   help="network (default: paper for swissroll/deadleaves, unet for folders)")
    t.add_argument("--preset", default="small", choices=["tiny", "small", "base"], help="network size (default small)")
    t.add_argument("--network", action="append", metavar="KEY=VALUE",
                   help="override one network setting, e.g. width=48")
    t.add_argument("--channels", type=int, default=3, choices=[1, 3], help="1 = grayscale, 3 = colour (folders)")
    t.add_argument("--patch", type=int, help="training crop size in pixels (default 64)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, help="number of optimisation steps")
    g.add_argument("--minutes", type=float, help="train for this many minutes instead of a step count")
    t.add_argument("--batch", type=int, help="batch size per process")
    t.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    t.add_argument("--warmup", type=int, default=200, help="linear learning-rate warm-up steps")
    t.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay of the saved weights")
    t.add_argument("--objective", choices=["bound", "hybrid"], help="bound = the paper's K; hybrid = eps MSE + bound")
    t.add_argument("--parameterisation", choices=["paper", "eps"], help="reverse-process parameterisation")
    t.add_argument("--covariance", choices=["diagonal", "channels"], default="diagonal",
                   help="reverse covariance: diagonal (the paper's) or a full C x C matrix per pixel "
                        "(channels; paper network; from a diagonal model with --init-from it starts as that model)")
    t.add_argument("--schedule", choices=["paper", "linear", "cosine"], help="noise schedule")
    t.add_argument("--T", type=int, help="number of diffusion steps")
    t.add_argument("--step1-beta", type=float, help="b_1 of the paper schedule")
    t.add_argument("--learn-betas", action=argparse.BooleanOptionalAction, default=None,
                   help="learn b_2..b_T on the bound (paper schedule; default on for swissroll/deadleaves)")
    t.add_argument("--t-sampling", choices=["uniform", "importance", "restoration"],
                   help="how training draws t: importance = by recent loss size (default for the bound), "
                        "restoration = half the draws where noise is 2..80 / 255")
    t.add_argument("--min-scale", type=float, default=0.25, help="smallest random downscale of training crops")
    t.add_argument("--no-turns", dest="turns", action="store_false",
                   help="no random 90-degree turns of training crops (for oriented textures; mirroring stays)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    t.add_argument("--amp", choices=["auto", "bf16", "off"],
                   help="bf16 autocast (auto: on CUDA or CPUs with bf16; default off for the bound objective)")
    t.add_argument("--threads", type=int, help="CPU threads for torch")
    t.add_argument("--out", default="runs/run", help="run folder (checkpoints, progress, settings)")
    t.add_argument("--name", help="model name stored in the checkpoint (default: the run folder's name)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    t.add_argument("--init-from", help="fine-tune: start from this checkpoint's weights")
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--val-every", type=int, default=500)
    t.add_argument("--progress", default="text", choices=["text", "jsonl"],
                   help="jsonl: one JSON object per line on stdout, events start, resumed, step, val, checkpoint, "
                        "stopped, done and error")
    t.add_argument("--nproc", type=int, help="run N processes with DistributedDataParallel (torchrun)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a model",
                       description="Ancestral sampling over all T steps or a respaced subset.")
    s.add_argument("checkpoint", help="model folder, model name, or training run folder")
    s.add_argument("-n", type=int, default=16, help="number of samples")
    s.add_argument("--steps", type=int, help="respaced chain length (default: all T steps)")
    s.add_argument("--size", type=int, help="image size in pixels (default: the training patch size)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("-o", "--output", required=True, help="OUT.png (grid or scatter plot) or OUT.npy")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="the bound K in bits per pixel", description="Evaluate the log-likelihood bound K "
                       "(and K - L_null) as in the paper's Table 1, with its standard error.")
    e.add_argument("checkpoint", help="model folder, model name, or training run folder")
    e.add_argument("--data", required=True, help="swissroll, deadleaves or a folder of images")
    e.add_argument("--n", type=int, default=256, help="number of points / patches")
    e.add_argument("--draws", type=int, default=4, help="log-stratified passes over t per item (unbiased estimate)")
    e.add_argument("--all-terms", action="store_true", help="sum all T - 1 KL terms instead of sampling t")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="show a checkpoint's validated metadata",
                       description="Validate a checkpoint completely (metadata, sha256, every tensor) and show its "
                       "network, diffusion, data, training and metrics. Exits 1 with one error line if it is unusable.")
    i.add_argument("checkpoint", help="model folder, model name, or training run folder (its newest state)")
    i.add_argument("--json", action="store_true", help="print the metadata as one JSON object")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("models", help="list bundled and user models",
                       description="List the bundled models and those in the user models folder "
                       "($DPM_DESKTOP_HOME/models or the platform's data folder); unusable ones are listed "
                       "with the reason.")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("dataset", help="rebuild a training folder of the bundled models",
                       description="Rebuild the training images of the bundled models from Debian packages "
                       "(photographs only, listed file by file, with their licences in MANIFEST.json).")
    d.add_argument("name", choices=["photos", "photos-gray", "textures"])
    d.add_argument("--out", required=True, help="folder to write")
    d.add_argument("--debs", help="folder with the .deb files already downloaded (else apt-get download)")
    d.set_defaults(func=cmd_dataset)

    from .cli_restore import add_restore_commands
    from .selftest import add_self_test_command

    add_restore_commands(sub)
    add_self_test_command(sub)
    return p


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if hasattr(args, "checkpoint") and args.command in ("sample", "eval", "info"):
        args.checkpoint = _resolve(args.checkpoint)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dpm: cancelled", file=sys.stderr)
        return 130
    except Exception as e:  # known failures print one line; unknown ones too, with their type
        from .core.errors import USER_ERRORS

        if isinstance(e, (CliError, *USER_ERRORS)):
            print(f"dpm: error: {_one_line(e)}", file=sys.stderr)
        else:
            print(f"dpm: error: {e.__class__.__name__}: {_one_line(e)}", file=sys.stderr)
        return 1


def _resolve(name: str) -> str:
    from .core.registry import resolve_model

    try:
        return str(resolve_model(name))
    except Exception:
        return name


if __name__ == "__main__":
    sys.exit(main())

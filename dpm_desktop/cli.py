"""The ``dpm`` command line. Heavy modules (torch) are imported inside commands, so ``--help`` is fast.

Every command exits 0 on success, 1 with a one-line ``dpm: error: ...`` on a failure it
understands, 2 on a bad argument, and 128 + the signal's number when stopped by SIGINT (130),
SIGTERM (143) or SIGHUP (129), after removing its temporary files (see :mod:`cli_common`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .cli_common import (
    CliError,
    Interrupted,
    TextProgress,
    end_progress_line,
    float_in,
    install_signal_handlers,
    int_in,
    one_line,
)
from .cli_common import fmt_s as _fmt_s

__all__ = ["CliError", "TextProgress", "build_parser", "main"]

from .core import modes
from .core.limits import MAX_SAMPLE_PIXELS, MAX_SAMPLE_SIZE, MAX_SAMPLES


def _lim(key: str) -> Any:
    """An argparse type for a training setting, from the one table of limits (core.presets)."""
    from .core.limits import OPEN_LOW, TRAIN_LIMITS

    lo, hi = TRAIN_LIMITS[key]
    flag = "--" + key.replace("_", "-")
    if isinstance(lo, float) or isinstance(hi, float):
        return float_in(lo, hi, flag, open_low=key in OPEN_LOW)
    return int_in(int(lo), int(hi), flag)


# ----------------------------------------------------------------------------------------------
def _device(name: str) -> Any:
    from .core.device import pick_device

    return pick_device(name)  # DeviceError is one of USER_ERRORS


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
    # Only what was given on the command line (argparse defaults are None): the rest comes from
    # TrainConfig and the data kind's defaults, and --resume can tell a changed setting from a default.
    fields = ("data", "name", "arch", "preset", "channels", "patch", "steps", "minutes", "batch", "lr", "objective",
              "parameterisation", "covariance", "schedule", "T", "learn_betas", "t_sampling", "seed", "device", "amp",
              "checkpoint_every", "val_every", "init_from", "threads", "ema_decay", "warmup", "min_scale",
              "step1_beta", "turns", "lr_decay", "z_sigma_sqrt_T")
    given = {k: getattr(args, k) for k in fields if getattr(args, k, None) not in (None, "")}
    if network:
        given["network"] = network
    cfg = TrainConfig(out=args.out, **given)
    if args.progress == "jsonl":
        def sink(e: dict[str, Any]) -> None:
            print(json.dumps(e), flush=True)
    else:
        sink = _text_train_events
    try:
        trainer = Trainer(cfg, events=sink, resume=args.resume, given=set(given))
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
        native = e.get("native_bf16", True) or e["amp"] != "off"
        why = "" if native else ": this CPU has no native bf16 (fp32 is faster)"
        print(f"training on {e['device']} ({e['params']:,} parameters, {e.get('threads')} threads, "
              f"amp {e['amp']}{why}), run folder {e['run_dir']}", flush=True)
        for path, reason in e.get("skipped", [])[:20]:
            print(f"  skipped {path}: {reason}")
    elif ev == "step":
        total = f"/{e['total']}" if e.get("total") else ""
        eta = f" ETA {_fmt_s(e['eta_s'])}" if e.get("eta_s") is not None else ""
        print(f"step {e['step']}{total} loss {e['loss']:.4f} {e['images_per_s']:.1f} img/s{eta}", flush=True)
    elif ev == "val":
        from .core.bits_units import PER_PIXEL, unit_label

        extra = f" PSNR@25 {e['psnr25']:.2f} dB" if "psnr25" in e else ""
        unit = unit_label(e.get("bits_unit", PER_PIXEL), e.get("channels"))
        print(f"  validation at step {e['step']}: K {e['bits_per_px']:.3f} ± {e['bits_stderr']:.3f} {unit}{extra}",
              flush=True)
    elif ev == "checkpoint":
        print(f"  checkpoint {e['path']}", flush=True)
    elif ev == "resumed":
        print(f"resumed at step {e['step']} from {e['path']}", flush=True)
        for note in e.get("skipped", []):
            print(f"  skipped damaged state {note}", flush=True)
        for key, (old, new) in e.get("changed", {}).items():
            print(f"  {key.replace('_', '-')}: {old} -> {new}", flush=True)
    elif ev == "stopped":
        print(f"stopped at step {e['step']}", flush=True)


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
    from .core.checkpoint import load_checkpoint
    from .core.outputs import OutputSet
    from .core.progress import Reporter
    from .core.sampling import sample

    out = Path(args.output)
    if out.suffix != ".npy":
        from .core.imaging import image_format

        image_format(out)
    outputs = OutputSet([Path(args.checkpoint)], overwrite=True)  # as before: a sample grid is replaced
    outputs.add(out, "samples")
    device = _device(args.device)
    ckpt = load_checkpoint(Path(args.checkpoint), device=device)
    kind = ckpt.meta["data"].get("kind", "image")
    if kind == "points":
        shape: tuple[int, ...] = (args.n, 2, 1, 1)
    else:
        size = args.size or int(ckpt.meta["data"].get("patch_size") or 64)
        if args.n * size * size > MAX_SAMPLE_PIXELS:
            raise CliError(f"-n {args.n} samples of {size}x{size} px are {args.n * size * size / 1e6:.0f} megapixels; "
                           f"at most {MAX_SAMPLE_PIXELS / 1e6:.0f} in one run (use fewer or smaller samples)")
        shape = (args.n, ckpt.channels, size, size)
    T = ckpt.diffusion.T
    steps = args.steps
    if steps is not None and steps > T:
        print(f"note: --steps {steps} is more than the model's T = {T}: the chain runs all {T} steps", file=sys.stderr)
        steps = None
    clip = ckpt.data_range if kind == "image" else None
    x = sample(ckpt.diffusion, shape, steps=steps, seed=args.seed, device=device, clip=clip,
               reporter=Reporter(TextProgress("sampling")))
    x = x.float().cpu()
    if out.suffix == ".npy":
        arr = x.view(args.n, 2).numpy() if kind == "points" else ckpt.from_model_space(x).numpy()
        data = _npy_bytes(arr)
    elif kind == "points":
        from .core.plots import scatter_png_bytes

        data = scatter_png_bytes(x.view(args.n, 2).numpy(), title=f"{args.n} samples, {steps or T} steps")
    else:
        from .core.imaging import encode_image

        imgs = ckpt.from_model_space(x).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        data, _ = encode_image(out, _grid(imgs))
    from .cli_common import outputs_complete

    with outputs:
        outputs.stage(out, data)
        outputs.commit()
        outputs_complete()
    print(f"wrote {out}")
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


def _npy_bytes(arr: Any) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


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
        if res.unit == "bits/px" and ckpt.channels > 1:
            how += f"; per pixel, all {ckpt.channels} channels"
        print(f"K = {res.K_bits:.3f} ± {res.stderr_bits:.3f} {res.unit}  (K - L_null = {res.K_minus_L_null_bits:.3f}; "
              f"L_null = {res.L_null_bits:.3f}; n = {res.n}; {how})")
        if res.paper_K_bits is not None:
            print(f"paper (Table 1): K = {res.paper_K_bits} {res.unit}")
        if res.data_log_density_bits is not None:
            print(f"log-density of this data: {res.data_log_density_bits:.3f} {res.unit}; the most K can reach "
                  f"with this model's b_1 (E log q(x_1)): {res.ceiling_bits:.3f} {res.unit}")
        if res.ceiling_interval_bits is not None:
            lo, hi = res.ceiling_interval_bits
            print(f"ceiling: K* in [{lo:.2f}, {hi:.2f}] {res.unit} at b_1 = {res.ceiling_b1:.3g} (the best K any model "
                  f"can reach on this generator; {res.ceiling_note})")
        elif res.ceiling_note:
            print(f"ceiling: not known ({res.ceiling_note})")
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
          f"covariance={d.get('covariance', 'diagonal')}"
          + (f" z_sigma/sqrt(T)={'yes' if d.get('z_sigma_sqrt_T', False) else 'no'}"
             if d['parameterisation'] == 'paper' else ""))
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
    t.add_argument("--arch", choices=modes.ARCHS,
                   help="network (default: paper for swissroll/deadleaves, unet for folders)")
    t.add_argument("--preset", choices=modes.NETWORK_PRESETS, help="network size (default small)")
    t.add_argument("--network", action="append", metavar="KEY=VALUE",
                   help="override one network setting, e.g. width=48")
    t.add_argument("--channels", type=int, choices=[1, 3], help="1 = grayscale, 3 = colour (folders; default 3)")
    t.add_argument("--patch", type=_lim("patch"), help="training crop size in pixels (default 64)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=_lim("steps"), help="number of optimisation steps")
    g.add_argument("--minutes", type=_lim("minutes"), help="train for this many minutes instead of a step count")
    t.add_argument("--batch", type=_lim("batch"), help="batch size per process")
    t.add_argument("--lr", type=_lim("lr"), help="peak learning rate (AdamW)")
    t.add_argument("--lr-decay", choices=modes.LR_DECAYS,
                   help="cosine: decay over the run's length (default); none: constant after the warm-up, for "
                        "open-ended runs that are resumed with more --steps (the EMA weights average)")
    t.add_argument("--warmup", type=_lim("warmup"), help="linear learning-rate warm-up steps (default 200)")
    t.add_argument("--ema-decay", type=_lim("ema_decay"), help="EMA decay of the saved weights (default 0.999)")
    t.add_argument("--objective", choices=modes.OBJECTIVES, help="bound = the paper's K; hybrid = eps MSE + bound")
    t.add_argument("--parameterisation", choices=modes.PARAMETERISATIONS, help="reverse-process parameterisation")
    t.add_argument("--covariance", choices=modes.COVARIANCES,
                   help="reverse covariance: diagonal (the paper's) or a full C x C matrix per pixel "
                        "(channels; paper network; from a diagonal model with --init-from it starts as that model)")
    t.add_argument("--z-sigma-sqrt-t", dest="z_sigma_sqrt_T", action=argparse.BooleanOptionalAction, default=None,
                   help="paper parameterisation: Sigma = sigmoid(z_sigma / sqrt(T) + logit(b_t)), the authors' form "
                        "(default on; with --init-from, the starting model's form; off: sigmoid(z_sigma + logit(b_t)))")
    t.add_argument("--schedule", choices=modes.SCHEDULES, help="noise schedule")
    t.add_argument("--T", type=_lim("T"), help="number of diffusion steps")
    t.add_argument("--step1-beta", type=_lim("step1_beta"), help="b_1 of the paper schedule")
    t.add_argument("--learn-betas", action=argparse.BooleanOptionalAction, default=None,
                   help="learn b_2..b_T on the bound (paper schedule; default on for swissroll/deadleaves)")
    t.add_argument("--t-sampling", choices=modes.T_SAMPLINGS,
                   help="how training draws t: importance = by recent loss size (default for the bound), "
                        "restoration = half the draws where noise is 2..80 / 255")
    t.add_argument("--min-scale", type=_lim("min_scale"), help="smallest random downscale of training crops "
                   "(default 0.25)")
    t.add_argument("--no-turns", dest="turns", action="store_false", default=None,
                   help="no random 90-degree turns of training crops (for oriented textures; mirroring stays)")
    t.add_argument("--seed", type=_lim("seed"), help="random seed (default 0)")
    t.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    t.add_argument("--amp", choices=modes.AMPS,
                   help="bf16 autocast (auto: on CUDA or CPUs with bf16; default off for the bound objective)")
    t.add_argument("--threads", type=_lim("threads"), help="CPU threads for torch")
    t.add_argument("--out", default="runs/run", help="run folder (checkpoints, progress, settings)")
    t.add_argument("--name", help="model name stored in the checkpoint (default: the run folder's name)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    t.add_argument("--init-from", help="fine-tune: start from this checkpoint's weights")
    t.add_argument("--checkpoint-every", type=_lim("checkpoint_every"), help="steps between checkpoints (default 500)")
    t.add_argument("--val-every", type=_lim("val_every"), help="steps between validations (default 500)")
    t.add_argument("--progress", default="text", choices=["text", "jsonl"],
                   help="jsonl: one JSON object per line on stdout, events start, resumed, step, val, checkpoint, "
                        "stopped, done and error")
    t.add_argument("--nproc", type=int_in(1, 1024, "--nproc"),
                   help="run N processes with DistributedDataParallel (torchrun)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a model",
                       description="Ancestral sampling over all T steps or a respaced subset.")
    s.add_argument("checkpoint", help="model folder, model name, or training run folder")
    s.add_argument("-n", type=int_in(1, MAX_SAMPLES, "-n"), default=16,
                   help=f"number of samples (at most {MAX_SAMPLES})")
    s.add_argument("--steps", type=int_in(1, 100_000, "--steps"),
                   help="respaced chain length (default: all T steps; more than T runs T)")
    s.add_argument("--size", type=int_in(8, MAX_SAMPLE_SIZE, "--size"),
                   help="image size in pixels (default: the training patch size)")
    s.add_argument("--seed", type=int_in(0, 2**63 - 1, "--seed"), default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("-o", "--output", required=True, help="OUT.png (grid or scatter plot) or OUT.npy")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="the bound K in bits per pixel", description="Evaluate the log-likelihood bound K "
                       "(and K - L_null) as in the paper's Table 1, with its standard error: bits per pixel, all "
                       "channels of a pixel together (per 2-D point for the Swiss roll).")
    e.add_argument("checkpoint", help="model folder, model name, or training run folder")
    e.add_argument("--data", required=True, help="swissroll, deadleaves or a folder of images")
    e.add_argument("--n", type=int_in(1, 100_000, "--n"), default=256, help="number of points / patches")
    e.add_argument("--draws", type=int_in(1, 1000, "--draws"), default=4,
                   help="log-stratified passes over t per item (unbiased estimate)")
    e.add_argument("--all-terms", action="store_true", help="sum all T - 1 KL terms instead of sampling t")
    e.add_argument("--seed", type=int_in(0, 2**63 - 1, "--seed"), default=0)
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


_one_line = one_line


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if hasattr(args, "checkpoint") and args.command in ("sample", "eval", "info"):
        args.checkpoint = _resolve(args.checkpoint)
    install_signal_handlers()
    try:
        return int(args.func(args) or 0)
    except Interrupted as e:
        end_progress_line()
        print(f"dpm: cancelled ({e.name}); no output was written", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:  # raised by code that installs its own SIGINT handling
        end_progress_line()
        print("dpm: cancelled (SIGINT); no output was written", file=sys.stderr)
        return 130
    except Exception as e:  # known failures print one line; unknown ones too, with their type
        from .core.errors import USER_ERRORS

        end_progress_line()

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
    status = main()
    if "TORCHELASTIC_RUN_ID" in os.environ:
        # A torchrun worker (`dpm train --nproc N`): its work is on disk and its process group left.
        # Skip the interpreter's teardown, where gloo's threads abort about one exit in four under
        # load ("terminate called without an active exception", SIGABRT with no Python frame),
        # which failed a finished run.
        with contextlib.suppress(OSError):  # a closed pipe must not keep the worker from its exit
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)
    sys.exit(status)

"""``dpm denoise`` and ``dpm inpaint``: thin wrappers over :mod:`dpm_desktop.core.restore`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image to restore (JPEG, PNG, TIFF, WebP, BMP)")
    p.add_argument("-o", "--output", required=True, help="where to write the result (format from the extension)")
    p.add_argument("--seed", type=int, default=0, help="random seed (results are reproducible)")
    p.add_argument("--model", help="model name (see `dpm models`) or checkpoint folder; default photo-rgb / photo-gray")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--tile", type=int, help="tile size in pixels (default 256 on CPU, 512 on GPU)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality of the output")
    p.add_argument("--overwrite", action="store_true", help="allow writing over an existing file (never the input, "
                   "unless --overwrite-input)")
    p.add_argument("--overwrite-input", action="store_true", help="allow the output to replace the input file")
    p.add_argument("--sidecar", action="store_true", help="also write OUTPUT.json with every parameter and the model's sha256")


def add_restore_commands(sub: Any) -> None:
    d = sub.add_parser("denoise", help="remove noise from a photo",
                       description="Remove Gaussian noise with a diffusion model: the posterior mean in one "
                       "network call (mean), averaged posterior samples (sample), or the paper's likelihood-"
                       "multiplied reverse chain (paper).")
    _common(d)
    d.add_argument("--sigma", default="auto", help="noise std on the 0-255 scale, or auto (estimated from the image)")
    d.add_argument("--mode", default="mean", choices=["mean", "sample", "paper"])
    d.add_argument("--samples", type=int, default=1, help="posterior samples to average (sample/paper modes)")
    d.add_argument("--steps", type=int, help="reverse steps from the noise level down (sample/paper; default 20)")
    d.add_argument("--uncertainty", help="write the per-pixel spread of the samples as a PNG map (needs --samples >= 2)")
    d.set_defaults(func=cmd_denoise)

    i = sub.add_parser("inpaint", help="fill masked regions of a photo",
                       description="Fill the white pixels of the mask. Every other pixel is kept exactly.")
    _common(i)
    i.add_argument("--mask", required=True, help="mask image of the same size, white = fill")
    i.add_argument("--steps", type=int, default=50, help="reverse steps (respaced)")
    i.add_argument("--resample", type=int, default=1, help="RePaint resampling: times each jump is redone (1 = off)")
    i.add_argument("--jump", type=int, default=5, help="RePaint jump length in steps")
    i.add_argument("--candidates", type=int, default=1, help="independent fills; extra ones are written as OUT-2.png ...")
    i.add_argument("--clamp", default="repaint", choices=["repaint", "paper"],
                   help="known pixels at each step: noised to the step (repaint) or clean (the paper's delta)")
    i.set_defaults(func=cmd_inpaint)


def _check_output(args: argparse.Namespace) -> Path:
    from .core.imaging import ImageError

    out, inp = Path(args.output), Path(args.input)
    if out.exists() and out.resolve() == inp.resolve() and not args.overwrite_input:
        raise ImageError(f"{out}: is the input file; refusing to overwrite it (pass --overwrite-input to allow)")
    if out.exists() and not (args.overwrite or args.overwrite_input):
        raise ImageError(f"{out}: exists already (pass --overwrite to replace it)")
    return out


def _reporter(label: str) -> Any:
    from .cli import TextProgress
    from .core.progress import Reporter

    return Reporter(TextProgress(label))


def _save(result: Any, out: Path, args: argparse.Namespace, extra_params: dict[str, Any]) -> None:
    from .core.imaging import save_image

    notes = save_image(out, result.pixels, alpha=result.alpha, bit_depth=result.bit_depth, quality=args.quality,
                       info=result.info)
    for n in result.notes + notes:
        print(f"note: {n}", file=sys.stderr)
    if args.sidecar:
        from .core.checkpoint import atomic_write_json

        atomic_write_json(out.with_name(out.name + ".json"), {**result.params, **extra_params,
                                                              "input": str(Path(args.input).resolve())})


def cmd_denoise(args: argparse.Namespace) -> int:
    from .core.restore import denoise

    out = _check_output(args)
    if args.uncertainty and args.samples < 2:
        from .cli import CliError

        raise CliError("--uncertainty needs --samples 2 or more")
    sigma: Any = args.sigma if args.sigma == "auto" else _float(args.sigma)
    res = denoise(args.input, sigma=sigma, mode=args.mode, samples=args.samples, steps=args.steps, seed=args.seed,
                  model=args.model, device=args.device, tile=args.tile, reporter=_reporter("denoising"))
    _save(res, out, args, {})
    if args.uncertainty and res.uncertainty is not None:
        from .core.imaging import save_image

        u = res.uncertainty / max(float(res.uncertainty.max()), 1e-8)
        save_image(Path(args.uncertainty), u[:, :, None])
    print(f"wrote {out} (sigma {res.params['sigma']:.1f}, mode {args.mode})")
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from .core.restore import inpaint

    out = _check_output(args)
    res = inpaint(args.input, args.mask, steps=args.steps, resample=args.resample, jump=args.jump,
                  candidates=args.candidates, clamp=args.clamp, seed=args.seed, model=args.model, device=args.device,
                  tile=args.tile, reporter=_reporter("inpainting"))
    _save(res, out, args, {"mask": str(Path(args.mask).resolve())})
    if len(res.candidates) > 1:
        from .core.imaging import save_image

        for k, cand in enumerate(res.candidates[1:], start=2):
            save_image(out.with_name(f"{out.stem}-{k}{out.suffix}"), cand, alpha=res.alpha, bit_depth=res.bit_depth,
                       quality=args.quality, info=res.info)
    print(f"wrote {out}" + (f" and {len(res.candidates) - 1} more candidates" if len(res.candidates) > 1 else ""))
    return 0


def _float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        from .cli import CliError

        raise CliError(f"--sigma must be a number or auto, got {v!r}") from None


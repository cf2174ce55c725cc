"""``dpm denoise`` and ``dpm inpaint``: thin wrappers over :mod:`dpm_desktop.core.restore`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_common import float_in, int_in
from .core import modes
from .core.limits import MAX_TILE, MIN_TILE

SENSITIVITY_HELP = ("lower finds more; with --method combined (the default) or learned about 100 x 2^(6 - S) "
                    "false-alarm pixels per megapixel on clean photos (100 at 6, 3,200 at 1), with --method "
                    "likelihood the robust deviations above the median anomaly that count as damage")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image to restore (JPEG, PNG, TIFF, WebP, BMP)")
    p.add_argument("-o", "--output", required=True, help="where to write the result (format from the extension)")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1, "--seed"), default=0,
                   help="random seed (results are reproducible)")
    p.add_argument("--model", help="model name (see `dpm models`) or checkpoint folder; default photo-rgb / photo-gray")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tile", type=int_in(MIN_TILE, MAX_TILE, "--tile"),
                   help=f"tile size in pixels, {MIN_TILE}..{MAX_TILE} (default 256 on CPU, 512 on GPU)")
    p.add_argument("--quality", type=int_in(1, 100, "--quality"), default=95,
                   help="JPEG/WebP quality of the output, 1..100")
    p.add_argument("--overwrite", action="store_true", help="allow writing over existing output files (never over "
                   "the input or the mask)")
    p.add_argument("--overwrite-input", action="store_true", help="allow the output to replace the input file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress; errors and notes only")
    p.add_argument("--strip-metadata", action="store_true",
                   help="write no EXIF and no XMP (camera, dates, GPS); by default they are kept, with the "
                        "orientation reset (the pixels are upright) and a Software note; the ICC profile stays")
    p.add_argument("--sidecar", action="store_true", help="also write OUTPUT.json with every parameter, the model's "
                   "path and sha256: running again with those parameters reproduces the output exactly")


def add_restore_commands(sub: Any) -> None:
    d = sub.add_parser("denoise", help="remove noise from a photo",
                       description="Remove Gaussian noise with a diffusion model: the posterior mean in one "
                       "network call (mean), averaged posterior samples (sample), or the paper's likelihood-"
                       "multiplied reverse chain (paper).")
    _common(d)
    d.add_argument("--sigma", default="auto", help="noise std on the 0-255 scale, or auto (estimated from the image)")
    d.add_argument("--no-clip-correction", dest="clip_correction", action="store_false",
                   help="use --sigma as it is; by default it is the noise before the photo was clipped to black "
                        "and white, and the model gets the smaller effective sigma (the sidecar's 'sigma')")
    d.add_argument("--mode", default="mean", choices=modes.DENOISE_MODES)
    d.add_argument("--samples", type=int_in(1, 256, "--samples"), default=1,
                   help="posterior samples to average (sample/paper modes)")
    d.add_argument("--ensemble", type=int, default=1, choices=[1, 2, 4, 8],
                   help="mean mode: average over this many flips/rotations (more accurate, that many times slower)")
    d.add_argument("--steps", type=int_in(1, 100_000, "--steps"),
                   help="reverse steps from the noise level down (sample/paper; default 20)")
    d.add_argument("--uncertainty",
                   help="write the per-pixel spread of the samples as a PNG map (needs --samples >= 2)")
    d.set_defaults(func=cmd_denoise)

    i = sub.add_parser("inpaint", help="fill masked regions of a photo",
                       description="Fill the white pixels of the mask. Every other pixel is kept exactly.")
    _common(i)
    which = i.add_mutually_exclusive_group(required=True)
    which.add_argument("--mask", help="mask image of the same size, white = fill")
    which.add_argument("--auto-mask", action="store_true",
                       help="find the damage first (scratches, dust, spots: as `dpm detect`, work in progress), "
                            "then fill it; the sidecar records both")
    i.add_argument("--sensitivity", type=float_in(0, 1000, "--sensitivity", open_low=True), default=6.0,
                   help="with --auto-mask: " + SENSITIVITY_HELP)
    i.add_argument("--method", choices=modes.DETECT_METHODS, default=modes.DETECT_METHODS[0],
                   help="with --auto-mask: the detector, as `dpm detect --method`")
    i.add_argument("--preset", choices=modes.INPAINT_PRESETS, default="fast",
                   help="fast (default): the full chain only at the coarsest scale of a large hole and a few "
                        "steps at the finer ones; thin masks: a spectral fill refined in one call (seconds "
                        "on a CPU); best: the exhaustive RePaint chain at every scale (minutes)")
    i.add_argument("--steps", type=int_in(1, 100_000, "--steps"),
                   help="reverse steps of the coarsest scale (respaced; replaces the preset's)")
    i.add_argument("--resample", type=int_in(1, 100, "--resample"),
                   help="RePaint resampling: times each jump is redone (1 = off; replaces the preset's)")
    i.add_argument("--jump", type=int_in(1, 1000, "--jump"), help="RePaint jump length in steps")
    i.add_argument("--candidates", type=int_in(1, 64, "--candidates"), default=1,
                   help="independent fills; extra ones are written as OUT-2.png ...")
    i.add_argument("--mean", action="store_true",
                   help="write only the mean of the candidates (needs --candidates >= 2): the posterior-mean "
                        "estimate, measured 1-2 dB better than one fill on scratches and text; blurrier in large holes")
    i.add_argument("--no-grain", dest="grain", action="store_false",
                   help="leave the fill clean; by default it gets the noise the photo has around the hole")
    i.add_argument("--clamp", default="repaint", choices=modes.CLAMP_MODES,
                   help="known pixels at each step: noised to the step (repaint), clean (the paper's delta), or put "
                        "into the predicted x_0 before each step (x0, as DDNM)")
    i.set_defaults(func=cmd_inpaint)

    f = sub.add_parser("detect", help="propose a mask of scratches, dust and spots (work in progress)",
                       description="Find scratches, specks and blotches and write them as a mask (white = damage) "
                       f"that `dpm inpaint --mask` takes: by default the learned detector ({modes.DEFAULT_DETECTOR}) "
                       "and what the photo model cannot explain together (--method combined), or either alone "
                       "(--method learned, --method likelihood). Work in progress: measured below its targets "
                       "(make bench, detect); review the mask before inpainting.")
    f.add_argument("input", help="photo to examine")
    f.add_argument("-o", "--output", required=True, help="MASK.png: white = damage, the photo's size")
    f.add_argument("--sensitivity", type=float_in(0, 1000, "--sensitivity", open_low=True), default=6.0,
                   help=SENSITIVITY_HELP)
    f.add_argument("--method", choices=modes.DETECT_METHODS, default=modes.DETECT_METHODS[0],
                   help="combined (default): the learned detector and the photo model's residual together, "
                        "calibrated to few false alarms; likelihood: the photo model's residual alone (finds more, "
                        "with many more false alarms); learned: the detector trained on synthetic damage "
                        f"(models/{modes.DEFAULT_DETECTOR}) alone")
    f.add_argument("--detector",
                   help="with --method combined or learned: a detector name or folder "
                        f"(default {modes.DEFAULT_DETECTOR}; also bundled: defects-medium, defects-small)")
    f.add_argument("--sigma", type=float_in(0, 80, "--sigma", open_low=True), default=50.0,
                   help="with --method likelihood: noise level (0-255) the photo is read at (combined: the "
                        "calibration's)")
    f.add_argument("--keep-grain", action="store_true",
                   help="examine a grainy photo as it is (by default a photo noisier than 5/255 is denoised at "
                        "its estimated noise level first: grain hides damage from the detectors)")
    f.add_argument("--map", help="also write the anomaly map as a PNG: black at the typical pixel, white at "
                   "and above the mask's cut")
    f.add_argument("--json", action="store_true", help="print the regions found and the masked share as JSON")
    f.add_argument("--model", help="with --method combined or likelihood: photo model name or folder (default "
                   "photo-rgb / photo-gray)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress; errors and notes only")
    f.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    f.add_argument("--overwrite", action="store_true", help="allow writing over existing output files")
    f.set_defaults(func=cmd_detect)


def _plan_outputs(args: argparse.Namespace) -> Any:
    """Every file the command will write, checked before any work (see :class:`OutputSet`):
    distinct from each other and from the input and mask, known image extensions, no existing file
    without --overwrite (the input only with --overwrite-input), writable folders."""
    from .core.imaging import image_format
    from .core.outputs import OutputSet, sidecar_path

    out = Path(args.output)
    inputs = [Path(args.input)] + ([Path(args.mask)] if getattr(args, "mask", None) else [])
    outputs = OutputSet(inputs, overwrite=args.overwrite)
    extra = 1 if getattr(args, "mean", False) else getattr(args, "candidates", 1)
    images = [(out, "result")] + [(_candidate_path(out, k), f"candidate {k}") for k in range(2, extra + 1)]
    if getattr(args, "uncertainty", None):
        images.append((Path(args.uncertainty), "uncertainty map"))
    for path, role in images:
        image_format(path)
        outputs.add(path, role, replace_input=role == "result" and args.overwrite_input)
    if args.sidecar:
        outputs.add(sidecar_path(out), "sidecar")
    return outputs


def _candidate_path(out: Path, k: int) -> Path:
    return out.with_name(f"{out.stem}-{k}{out.suffix}")


def _reporter(label: str, args: argparse.Namespace) -> Any:
    from .cli_common import TextProgress
    from .core.progress import Reporter

    return Reporter(None if args.quiet else TextProgress(label))


def _write_all(outputs: Any, images: list[tuple[Path, Any, dict[str, Any]]], sidecar: dict[str, Any] | None,
               notes: list[str]) -> None:
    """Encode and stage every output, then put them all in place at once (or none of them)."""
    import json

    from .cli_common import outputs_complete
    from .core.imaging import encode_image

    with outputs:
        for path, pixels, kw in images:
            data, more = encode_image(path, pixels, **kw)
            notes += [n for n in more if n not in notes]
            outputs.stage(path, data)
        if sidecar is not None:
            outputs.stage(outputs.paths[-1], (json.dumps(sidecar, indent=2) + "\n").encode())
        outputs.commit()
        outputs_complete()
    for n in notes:
        print(f"note: {n}", file=sys.stderr)


def _sidecar(args: argparse.Namespace, result: Any, out: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    if not args.sidecar:
        return None
    return {"input": str(Path(args.input).resolve()), "output": str(out.resolve()), "quality": args.quality,
            **options, **result.params}


def cmd_denoise(args: argparse.Namespace) -> int:
    from .core.restore import denoise

    if args.uncertainty and args.samples < 2:
        from .cli_common import CliError

        raise CliError("--uncertainty needs --samples 2 or more")
    outputs = _plan_outputs(args)
    out = outputs.paths[0]
    sigma: Any = args.sigma if args.sigma == "auto" else _float(args.sigma)
    res = denoise(args.input, sigma=sigma, mode=args.mode, samples=args.samples, steps=args.steps, seed=args.seed,
                  clip_correction=args.clip_correction,
                  ensemble=args.ensemble,
                  model=args.model, device=args.device, tile=args.tile, reporter=_reporter("denoising", args))
    kw = {"alpha": res.alpha, "bit_depth": res.bit_depth, "quality": args.quality, "info": _info(res, args)}
    images = [(out, res.pixels, kw)]
    if args.uncertainty and res.uncertainty is not None:
        u = res.uncertainty / max(float(res.uncertainty.max()), 1e-8)
        images.append((Path(args.uncertainty), u[:, :, None], {"quality": args.quality}))
    _write_all(outputs, images, _sidecar(args, res, out, {"tile": args.tile}), list(res.notes))
    print(f"wrote {out} (sigma {res.params['sigma']:.1f}, mode {args.mode})"
          + (f" and {args.uncertainty}" if len(images) > 1 else ""))
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from .core.restore import inpaint

    if args.mean and args.candidates < 2:
        from .cli_common import CliError

        raise CliError("--mean needs --candidates 2 or more")
    outputs = _plan_outputs(args)
    out = outputs.paths[0]
    mask, found = _mask_for(args)
    res = inpaint(found[0], mask, preset=args.preset, steps=args.steps, resample=args.resample, jump=args.jump,
                  candidates=args.candidates, clamp=args.clamp, seed=args.seed, model=args.model, device=args.device,
                  tile=args.tile, mean=args.mean, grain=args.grain, reporter=_reporter("inpainting", args))
    kw = {"alpha": res.alpha, "bit_depth": res.bit_depth, "quality": args.quality, "info": _info(res, args)}
    images = [(out, res.pixels, kw)]
    if not args.mean:
        images += [(_candidate_path(out, k), cand, kw) for k, cand in enumerate(res.candidates[1:], start=2)]
    given = {"mask": str(Path(args.mask).resolve()) if args.mask else "auto", "tile": args.tile}
    if found[1] is not None:
        given["detect"] = found[1]
    sidecar = _sidecar(args, res, out, given)
    _write_all(outputs, images, sidecar, list(res.notes))
    if args.mean:
        print(f"wrote {out} (the mean of {args.candidates} candidates)")
    else:
        print(f"wrote {out}" + (f" and {len(images) - 1} more candidates" if len(images) > 1 else ""))
    return 0


def _mask_for(args: argparse.Namespace) -> tuple[Any, tuple[Any, dict[str, Any] | None]]:
    """(the mask, (the photo, the detector's parameters or None)): the --mask file, or with
    --auto-mask the damage `dpm detect` would find, on the photo loaded once for both steps."""
    from .core.imaging import load_image

    if not args.auto_mask:
        return args.mask, (args.input, None)
    from .cli_common import CliError
    from .core.detect import detect

    img = load_image(Path(args.input))
    found = detect(img, model=args.model, sensitivity=args.sensitivity, method=args.method, device=args.device,
                   reporter=_reporter("examining", args))
    if not found.mask.any():
        raise CliError(f"no damage found at sensitivity {args.sensitivity:g}: nothing to fill "
                       "(a lower --sensitivity finds more)")
    for n in found.notes:
        print(f"note: {n}", file=sys.stderr)
    print(f"found {found.regions} regions, {100 * float(found.mask.mean()):.2f}% of the pixels", file=sys.stderr)
    return found.mask, (img, found.params)


def cmd_detect(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from .cli_common import outputs_complete
    from .core.detect import detect, map_for_display
    from .core.imaging import encode_image, image_format
    from .core.outputs import OutputSet

    outputs = OutputSet([Path(args.input)], overwrite=args.overwrite)
    image_format(Path(args.output))
    outputs.add(Path(args.output), "mask")
    if args.map:
        image_format(Path(args.map))
        outputs.add(Path(args.map), "anomaly map")
    res = detect(args.input, model=args.model, sensitivity=args.sensitivity, method=args.method,
                 detector=args.detector, sigma=args.sigma, device=args.device, degrain=not args.keep_grain,
                 reporter=_reporter("examining", args))
    with outputs:
        outputs.stage(Path(args.output), encode_image(Path(args.output), res.mask[:, :, None].astype(np.float32))[0])
        if args.map:
            outputs.stage(Path(args.map), encode_image(Path(args.map), map_for_display(res)[:, :, None])[0])
        outputs.commit()
        outputs_complete()
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    summary = {"method": res.params["method"], "regions": res.regions,
               "masked_fraction": round(float(res.mask.mean()), 6), "threshold": round(res.threshold, 4),
               "sensitivity": args.sensitivity, "mask": args.output}
    print(json.dumps(summary) if args.json else
          f"wrote {args.output}: {summary['regions']} regions, {100 * summary['masked_fraction']:.2f}% of the pixels")
    return 0


def _info(res: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What the output carries from the input: EXIF, XMP, ICC (see core.metadata), or no EXIF and XMP."""
    return {**res.info, "strip": True} if args.strip_metadata else res.info


def _float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        from .cli_common import CliError

        raise CliError(f"--sigma must be a number or auto, got {v!r}") from None


"""Part 3: the log-likelihood bound K of each model, beside the paper's Table 1.

Each model is evaluated on data it did not train on, with ``core.evaluate.evaluate_bound`` (an
unbiased estimate over t, with its standard error over items):
  Swiss roll models    fresh Swiss roll points (another seed than training)
  dead leaves models   fresh dead-leaves patches (another seed than training)
  photo / texture      64 px patches of the benchmark photos (scikit-image, scikit-learn), at
                       their native scale; texture models are out of their domain there
K is in bits per point (Swiss roll) or per pixel (all channels of a pixel together), on data
scaled to unit variance, as in the paper.

    python -m benchmarks.likelihood --model runs/swissroll --model deadleaves-paper --quick
"""

from __future__ import annotations

import argparse
from typing import Any

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
from .images import photos_for, write_folder

PART = "likelihood"
PAPER = {"swissroll": "2.35 bits", "deadleaves": "1.489 bits/px"}  # Table 1 of Sohl-Dickstein et al. 2015


def bundled_model_names() -> list[str]:
    from dpm_desktop.core.registry import list_models

    return [m.name for m in list_models() if m.bundled]


def eval_data(ckpt: Any) -> tuple[str, str]:
    """(the ``data`` argument of evaluate_bound, a description) for a model."""
    source = str(ckpt.meta["data"].get("summary", {}).get("source", ""))
    if source in ("swissroll", "deadleaves"):
        return source, f"{source} (fresh draws)"
    folder = WORK_DIR / ("heldout-gray" if ckpt.channels == 1 else "heldout-rgb")
    photos, _ = photos_for(ckpt.channels)
    write_folder(photos, folder)
    size = ckpt.meta["data"].get("patch_size") or 64
    return str(folder), f"benchmark photo patches ({size} px, {len(photos)} photos)"


def bench(run: Run, names: list[str], report: Report) -> None:
    n, draws = (64, 1) if run.quick else (256, 4)
    t = Table("The bound K on held-out data",
              ["model", "data", "K", "± s.e.", "K − L_null", "n", "K at training validation",
               "best possible K", "paper (Table 1)", "seconds"])
    for name in names:
        from dpm_desktop.core.evaluate import evaluate_bound

        ckpt = load_model(name, run.device)
        info = describe_model(ckpt)
        report.models.append(info)
        report.header.append(model_line(info))
        data, described = eval_data(ckpt)
        points = data == "swissroll"  # 2-D points: cheap enough to sum every term exactly
        res, tm = timed(evaluate_bound, ckpt, data, n=(512 if run.quick else 4096) if points else n,
                        all_terms=points, draws=draws, seed=run.seed + 1, device=run.device)
        metrics = ckpt.meta.get("metrics", {})  # bundled cards prefix the trainer's metrics with validation_
        val = metrics.get("validation_bits_per_px", metrics.get("bits_per_px"))
        if val is not None and not metrics.get("bits_unit", metrics.get("validation_bits_unit")):
            val *= ckpt.channels  # written before bits_unit: per value (a point has 2, a colour pixel 3)
        t.add(info["name"], described, f"{res.K_bits:.3f} {res.unit}", res.stderr_bits,
              res.K_minus_L_null_bits, res.n, val, res.data_log_density_bits, PAPER.get(data), tm.wall_s)
        report.records.append({"model": info["name"], "data": described, **res.as_dict(), "wall_s": tm.wall_s,
                               "training_validation_K": val})
        log(PART, f"{info['name']}: K = {res.K_bits:.3f} ± {res.stderr_bits:.3f} {res.unit} on {described}")
    t.note = (f"Images: {draws} draw(s) of t per item (an unbiased estimate of K); Swiss roll: all T terms "
              "summed. Higher is better. 'K at training validation': the model's own last validation value, "
              "on its training distribution. 'Best possible K': the data's true log-density, where known. "
              "The paper's numbers are for its own models and data: compare like with like (Swiss roll with "
              "Swiss roll, dead leaves with dead leaves).")
    report.tables.append(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.likelihood", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, several_models=True)
    args = p.parse_args(argv)
    run = start(args)
    names = args.model or bundled_model_names()
    report = Report(PART, "Likelihood: the bound K (bits)", run)
    if not names:
        report.header.append("No bundled models in models/ and none given with --model: nothing to evaluate.")
    else:
        bench(run, names, report)
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

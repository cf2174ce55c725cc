"""Run every benchmark part in one go (or some: ``--parts``), print their tables, and write the index
of the results, README.md: every part's latest tables, those of the parts not run now kept as they were.

    python -m benchmarks.run_all                      # the full suite (about 30-45 minutes on 2 cores)
    python -m benchmarks.run_all --quick --model runs/photo-rgb

Parts run one after another in this process, each on its own seeded inputs (see each part's
docstring). A part that fails is reported and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import denoise, detect, inpaint, likelihood, object_removal, speed
from .common import DEFAULT_MODEL, QUICK_DIR, RESULTS_DIR, environment, environment_line

PARTS: dict[str, Callable[[list[str] | None], int]] = {
    "denoise": denoise.main, "inpaint": inpaint.main, "object_removal": object_removal.main,
    "detect": detect.main, "likelihood": likelihood.main, "speed": speed.main,
}


def check_model(name: str) -> str | None:
    """None if the model loads by name or path, else why not."""
    from dpm_desktop.core.checkpoint import CheckpointError, read_metadata
    from dpm_desktop.core.registry import resolve_model

    try:
        read_metadata(resolve_model(name))
    except CheckpointError as e:
        return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"photo model for denoise, inpaint and speed (default {DEFAULT_MODEL})")
    p.add_argument("--likelihood-model", action="append", metavar="MODEL",
                   help="model for the likelihood part; repeat for several (default: every bundled model)")
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS),
                   help="parts to run (default all)")
    p.add_argument("--quick", action="store_true",
                   help="development run: crops, one noise level, fewer images")
    p.add_argument("--threads", type=int,
                   help="CPU threads (default: torch's default, one per physical core)")
    p.add_argument("--out", type=Path,
                   help="results folder (default benchmarks/results, or benchmarks/out/quick)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    photo_parts = {"denoise", "inpaint", "object_removal", "detect", "speed"}
    if photo_parts & set(args.parts) and (why := check_model(args.model)):
        p.error(f"{why}\nPass --model NAME_OR_FOLDER (a training run folder such as runs/photo-rgb works).")
    common = ["--seed", str(args.seed), *(["--quick"] if args.quick else []),
              *(["--threads", str(args.threads)] if args.threads else []),
              *(["--out", str(args.out)] if args.out else [])]
    out = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    t0 = time.perf_counter()
    failed, durations, written = [], {}, set()
    for name in args.parts:
        part_args = [*common]
        if name == "likelihood":
            for m in args.likelihood_model or []:
                part_args += ["--model", m]
        else:
            part_args += ["--model", args.model]
        print(f"\n=== {name}: python -m benchmarks.{name} {' '.join(part_args)}", flush=True)
        start, started_at = time.perf_counter(), time.time()
        try:
            rc = PARTS[name](part_args)
        except (Exception, SystemExit) as e:  # a part's argparse exit must not end the suite
            traceback.print_exc()
            rc = e.code if isinstance(e, SystemExit) else 1
        if rc:
            failed.append(name)
        md = out / f"{name}.md"
        if md.exists() and md.stat().st_mtime >= started_at:
            written.add(name)
        durations[name] = time.perf_counter() - start
    total = time.perf_counter() - t0

    env = environment()
    ran = ", ".join(f"{k} {v / 60:.1f} min" for k, v in durations.items())
    earlier = [n for n in PARTS if n not in args.parts and (out / f"{n}.md").exists()]
    lines = ["# DPM Desktop benchmarks", "", environment_line(env), "",
             f"This run: {', '.join(args.parts)}; total time {total / 60:.1f} min: {ran}"
             + ("." if not failed else f". FAILED: {', '.join(failed)}."), ""]
    if earlier:
        lines += [f"Kept from earlier runs (each section's Machine line says where and when): {', '.join(earlier)}. "
                  "Compare times across runs by their ratio to CBM3D, which each part measures itself.", ""]
    # Every part's latest tables, in the suite's order: a run of some parts updates their sections only.
    for name in PARTS:
        md = out / f"{name}.md"
        if not md.exists():
            continue
        if name in failed:
            when = "written by this run before it failed" if name in written else "from an earlier run"
            lines += [f"**{name} FAILED in this run; its section below is {when}.**", ""]
        lines += [md.read_text(), ""]
    summary = out / "README.md"
    summary.write_text("\n".join(lines))
    print("\n\n" + "\n".join(lines), flush=True)
    print(f"all tables: {summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

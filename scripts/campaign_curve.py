"""Is more compute still paying? The photo-rgb campaign's learning curve (issue 12: it is blocked
only when the curve has flattened below 0.05 dB per doubling of compute).

``curve``: the validation PSNR@25 (the trainer's fixed held-out patches) of every run folder on one
axis of campaign steps (offsets in campaign/photo-rgb-history/runs.json), the least-squares slope
against log2(campaign step) over each window from --from, and the figure docs/campaign-curve.png
(with the ``paired`` measurements cached so far, if any; matplotlib, from the bench extra).

``paired``: the denoising bench's own noisy arrays (the colour photos, seed 0, σ 15 / 25 / 50; the
posterior mean at the true σ) through each checkpoint: a model folder, a run's state folder, or a
commit (campaign/photo-rgb as committed there). PSNR per photo is kept by campaign step in --cache
(campaign/photo-rgb-history/paired-denoise.json); printed: the mean per σ, the paired difference
against the first checkpoint (± its standard error over the photos, and the worst photo) and the
slope over all cached checkpoints.

    .venv/bin/python scripts/campaign_curve.py curve --from 136750
    .venv/bin/python scripts/campaign_curve.py paired models/photo-rgb 790e3a2 runs/campaign-photo-rgb-4/state-0003000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HISTORY = ROOT / "campaign/photo-rgb-history"
LIVE = ROOT / "campaign/photo-rgb"
SIGMAS = (15.0, 25.0, 50.0)
FIGURE = ROOT / "docs/campaign-curve.png"


def manifest() -> dict:
    return json.loads((HISTORY / "runs.json").read_text())


def offsets(runs: dict | None = None) -> dict[str, int]:
    return {run: int(v["offset"]) for run, v in (runs or manifest())["runs"].items()}


def campaign_step(source: str, step: int) -> int:
    """The campaign step of ``step`` of the run folder ``source`` names (a state folder's path, as
    model.json's ``campaign.from`` records it for a committed copy)."""
    for run, off in offsets().items():
        if source.startswith(run + "/") or source == run:
            return off + step
    raise SystemExit(f"{source}: not a run folder listed in {HISTORY / 'runs.json'}")


def validation_rows() -> list[tuple[int, float]]:
    """(campaign step, PSNR@25) of every kept run and the live run folder (or, without one, the
    committed campaign/photo-rgb/validation.jsonl), on the validation split still in use."""
    runs = manifest()
    off = offsets(runs)
    rows: dict[int, float] = {}

    def add(path: Path, offset: int) -> None:
        for line in path.read_text().splitlines():
            e = json.loads(line)
            if "psnr25" in e and e.get("event", "val") == "val" and offset + e["step"] >= runs["comparable_from"]:
                rows[offset + e["step"]] = e["psnr25"]

    for run, v in runs["runs"].items():
        if "validation" in v:
            add(HISTORY / v["validation"], off[run])
    live = json.loads((LIVE / "model.json").read_text())["campaign"]["from"].rsplit("/", 1)[0]
    progress = ROOT / live / "progress.jsonl"
    add(progress if progress.is_file() else LIVE / "validation.jsonl", off[live])
    return sorted(rows.items())


def slope(steps: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares dB per doubling of the steps, and its standard error."""
    x = np.log2(np.asarray(steps, np.float64))
    y = np.asarray(values, np.float64)
    a = np.vstack([x, np.ones_like(x)]).T
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    resid = y - a @ coef
    se = float(np.sqrt(resid @ resid / max(len(y) - 2, 1) * np.linalg.inv(a.T @ a)[0, 0]))
    return float(coef[0]), se


def load_paired(cache: Path) -> dict[int, dict[str, float]]:
    return {int(k): v for k, v in json.loads(cache.read_text()).items()} if cache.is_file() else {}


def cmd_curve(args: argparse.Namespace) -> None:
    rows = validation_rows()
    last = rows[-1][0]
    print(f"validation PSNR@25, {len(rows)} rows, campaign steps {rows[0][0]:,}-{last:,}")
    for lo in args.windows or [args.start]:
        sel = [(s, p) for s, p in rows if s >= lo]
        b, se = slope([s for s, _ in sel], [p for _, p in sel])
        print(f"  from {lo:,} ({np.log2(last / lo):.2f} doublings, {len(sel)} rows): "
              f"{b:+.3f} ± {se:.3f} dB per doubling")
    if args.no_figure:
        return
    try:
        import matplotlib  # noqa: F401 - the bench extra's (pip install -e ".[bench]")
    except ImportError:
        raise SystemExit("the figure needs matplotlib: pip install -e \".[bench]\" (or pass --no-figure)") from None
    figure(rows, load_paired(Path(args.cache)), args.start, Path(args.figure))
    print(f"figure: {args.figure}")


def figure(rows: list[tuple[int, float]], paired: dict[int, dict[str, float]], start: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 2 if paired else 1
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4), squeeze=False, layout="constrained")
    ax = axes[0][0]
    s = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    ax.plot(s, p, ".", color="tab:blue", label="validation PSNR@25 (every 1,000 steps)")
    sel = s >= start
    b, se = slope(list(s[sel]), list(p[sel]))
    xs = np.array([s[sel][0], s[-1]])
    x0 = np.log2(s[sel]).mean()  # a least-squares line passes through the mean point
    ax.plot(xs, p[sel].mean() + b * (np.log2(xs) - x0), "-", color="tab:red",
            label=f"fit from {start:,}: {b:+.3f} ± {se:.3f} dB / doubling")
    _step_axis(ax)
    ax.set_xlabel("campaign step (16 crops of 64 px each; log scale)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("photo-rgb: held-out patches, σ 25")
    ax.legend(fontsize=8)
    if paired:
        ax = axes[0][1]
        steps = sorted(k for k in paired if k >= start) or sorted(paired)
        for sig, colour in zip(SIGMAS, ("tab:green", "tab:blue", "tab:purple"), strict=True):
            means = [_mean(paired[k], sig) for k in steps]
            b, se = slope(steps, means)
            ax.plot(steps, np.array(means) - means[0], "o-", color=colour,
                    label=f"σ {sig:g}: {b:+.3f} ± {se:.3f} dB / doubling")
        _step_axis(ax)
        ax.set_xlabel("campaign step (log scale)")
        ax.set_ylabel(f"PSNR - that at step {steps[0]:,} (dB)")
        ax.set_title("denoising bench photos, committed states (paired)")
        ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _step_axis(ax: object) -> None:
    """A log2 axis of campaign steps labelled in thousands (the few powers of 2 in range say little)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log", base=2)
    lo, hi = ax.get_xlim()
    ax.set_xticks([t for t in range(0, int(hi) + 20_000, 20_000) if lo <= t <= hi])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _mean(rec: dict[str, float], sigma: float) -> float:
    return float(np.mean([v for k, v in rec.items() if k.endswith(f"@{sigma:g}")]))


def resolve(spec: str, tmp: Path) -> Path:
    """A checkpoint folder for ``spec``: a folder as given, or campaign/photo-rgb at commit ``spec``."""
    if Path(spec).is_dir():
        return Path(spec)
    folder = tmp / spec
    folder.mkdir(parents=True)
    for name in ("model.json", "model.safetensors"):
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{spec}:campaign/photo-rgb/{name}"],
                              capture_output=True, check=False)
        if blob.returncode:
            raise SystemExit(f"{spec}: neither a folder nor a commit holding campaign/photo-rgb")
        (folder / name).write_bytes(blob.stdout)
    return folder


def checkpoint_step(folder: Path) -> int:
    meta = json.loads((folder / "model.json").read_text())
    step = int(meta["training"]["steps"])
    if "campaign" in meta:
        return campaign_step(meta["campaign"]["from"], step)
    if (folder / "train_state.json").is_file():  # a run's own state folder
        where = folder.resolve()
        return campaign_step(str(where.relative_to(ROOT) if where.is_relative_to(ROOT) else where), step)
    return step  # a published model (models/photo-rgb) counts the campaign's steps


def cmd_paired(args: argparse.Namespace) -> None:
    import torch

    from benchmarks import metrics
    from benchmarks.images import add_noise, item_seed, photos_for
    from dpm_desktop.core.restore import denoise, get_model

    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    results = load_paired(cache)
    photos, _ = photos_for(3)
    order = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.checkpoints:
            folder = resolve(spec, Path(tmp))
            step = checkpoint_step(folder)
            order.append(step)
            if step in results:
                continue
            ckpt = get_model(str(folder), device="cpu")
            rec = {}
            for sigma in SIGMAS:
                for p in photos:
                    noisy = add_noise(p.pixels, sigma, item_seed(0, p.name, sigma))
                    out = denoise(noisy, sigma=sigma, seed=0, model=ckpt, device="cpu", mode="mean")
                    rec[f"{p.name}@{sigma:g}"] = metrics.psnr(p.pixels, out.pixels)
            results[step] = rec
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({str(k): v for k, v in sorted(results.items())}, indent=1))
    base = results[order[0]]
    for step in order:
        cells = []
        for sigma in SIGMAS:
            d = np.array([v - base[k] for k, v in results[step].items() if k.endswith(f"@{sigma:g}")])
            cells.append(f"σ {sigma:g}: {_mean(results[step], sigma):.3f} ({d.mean():+.3f} ± "
                         f"{d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0:.3f}, worst {d.min():+.3f})")
        print(f"step {step:>7,}: " + "; ".join(cells))
    steps = sorted(results)
    if len(steps) > 2:
        print(f"slope over the {len(steps)} cached steps {steps[0]:,}-{steps[-1]:,}: " + "; ".join(
            "σ {:g}: {:+.3f} ± {:.3f} dB per doubling".format(s, *slope(steps, [_mean(results[k], s) for k in steps]))
            for s in SIGMAS))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curve", help="the validation curve, its slopes and the figure")
    c.add_argument("--from", dest="start", type=int, default=136750, help="the fit's first campaign step")
    c.add_argument("--windows", type=int, nargs="*", help="more first steps to fit from (printed only)")
    c.add_argument("--figure", default=str(FIGURE))
    c.add_argument("--no-figure", action="store_true", help="print the fits only (no matplotlib needed)")
    q = sub.add_parser("paired", help="paired PSNR of checkpoints on the denoising bench's arrays")
    q.add_argument("checkpoints", nargs="+", help="model folders, run state folders or commits; the first is the base")
    q.add_argument("--threads", type=int, default=2)
    for s in (c, q):
        s.add_argument("--cache", default=str(HISTORY / "paired-denoise.json"),
                       help="per-photo PSNR by campaign step (default campaign/photo-rgb-history/"
                       "paired-denoise.json)")
    args = p.parse_args(argv)
    {"curve": cmd_curve, "paired": cmd_paired}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The photo-model training campaign (issue 12 §3): a state that any fresh clone can continue, and
the compute ledger's figures.

``save``: the newest intact state of the campaign's run folder, as a bf16 copy (weights, EMA weights,
Adam's second moments; ≤ ~30 MB), into ``campaign/<name>/`` for committing. ``dpm train --init-from``
that folder continues the training (raw and EMA weights and the optimizer's moments, see
``core.fine_tune``); ``--resume`` on the run folder itself continues it exactly.
``ledger``: steps, CPU thread-hours and the validation curve of the run, from its progress.jsonl.

    python scripts/campaign.py save --run runs/campaign-photo-rgb --to campaign/photo-rgb
    python scripts/campaign.py ledger --run runs/campaign-photo-rgb [--since 2026-12-01T08:00]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpm_desktop.core.atomic import atomic_write_json
from dpm_desktop.core.bits_units import converted, run_channels
from dpm_desktop.core.checkpoint import META_NAME, WEIGHTS_NAME, bf16_copy, save_tensors_atomic, write_bf16_weights
from dpm_desktop.core.train import latest_intact_state, state_problem


def cmd_save(args: argparse.Namespace) -> None:
    run = Path(args.run)
    state, notes = latest_intact_state(run)
    if state is None:
        raise SystemExit(f"{run}: no intact state ({'; '.join(notes) or 'none written yet'})")
    dest = Path(args.to)
    tmp = dest.with_name(f".{dest.name}.saving")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # EMA weights in bf16 (loading casts them back to float32); the metadata's sha256 follows the file.
    sha = write_bf16_weights(state / WEIGHTS_NAME, tmp / WEIGHTS_NAME)
    meta = json.loads((state / META_NAME).read_text())
    meta["sha256"] = sha
    meta["campaign"] = {"saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "from": str(state),
                        "precision": "bf16 copy of a float32 state"}
    atomic_write_json(tmp / META_NAME, meta)
    tensors = load_file(str(state / "train_state.safetensors"))
    # Adam's second moment takes ~1000 steps to rebuild and is kept; its first moment rebuilds in ~10 and is
    # left out, which keeps a 4.5 M-parameter state under 30 MB (weights, EMA, second moment in bf16).
    keep = {k: v for k, v in tensors.items() if k.startswith(("model.", "opt.")) and not k.endswith(".exp_avg")}
    save_tensors_atomic(bf16_copy(keep), tmp / "train_state.safetensors")
    train_state = json.loads((state / "train_state.json").read_text())
    atomic_write_json(tmp / "train_state.json", {k: train_state[k] for k in ("step", "elapsed_s", "cpu_s",
                                                                               "param_groups") if k in train_state})
    shutil.copyfile(run / "settings.json", tmp / "settings.json")
    vals = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines() if '"val"' in line]
    # Rows as written: those before bits_unit existed hold bits per colour value (see core.bits_units).
    (tmp / "validation.jsonl").write_text("".join(json.dumps({k: v[k] for k in ("time", "step", "psnr25", "bits_per_px",
                                                                                 "bits_unit") if k in v}) + "\n"
                                                  for v in vals if v.get("event") == "val"))
    problem = state_problem(tmp)
    if problem:
        raise SystemExit(f"the saved copy does not validate: {problem}")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    size = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    print(f"saved step {train_state['step']} of {run} to {dest} ({size:.1f} MB)")


def cmd_ledger(args: argparse.Namespace) -> None:
    events = [json.loads(line) for line in (Path(args.run) / "progress.jsonl").read_text().splitlines()]
    since = time.mktime(time.strptime(args.since, "%Y-%m-%dT%H:%M")) - time.timezone if args.since else 0
    steps = [e for e in events if e["event"] == "step" and e["time"] >= since]
    if not steps:
        raise SystemExit("no training steps in that stretch")
    first = next(e for e in events if e["event"] == "step" and e["time"] >= since)
    before = [e for e in events if e["event"] == "step" and e["time"] < since]
    s0 = before[-1]["step"] if before else 0
    c0 = before[-1].get("cpu_s", 0.0) if before else 0.0
    last = steps[-1]
    print(f"steps {s0} -> {last['step']} ({last['step'] - s0}); CPU {((last.get('cpu_s') or 0) - c0) / 3600:.2f} "
          f"thread-hours; wall {(last['time'] - first['time']) / 3600:.2f} h; images/s {last['images_per_s']}")
    channels = run_channels(Path(args.run)) or 3
    for e in events:
        if e["event"] == "val" and e["time"] >= since:
            e = converted(e, channels)  # older events: bits per colour value
            print(f"  step {e['step']}: PSNR@25 {e.get('psnr25', float('nan')):.3f} dB, "
                  f"K {e['bits_per_px']:.3f} bits/px (per pixel, all channels)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("--run", required=True)
    s.add_argument("--to", required=True)
    q = sub.add_parser("ledger")
    q.add_argument("--run", required=True)
    q.add_argument("--since", help="UTC, YYYY-MM-DDTHH:MM")
    args = p.parse_args()
    {"save": cmd_save, "ledger": cmd_ledger}[args.cmd](args)


if __name__ == "__main__":
    main()

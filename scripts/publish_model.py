"""Copy a training run's newest checkpoint into models/NAME with its model card.

    python scripts/publish_model.py runs/photo-rgb photo-rgb \
        --description "General photo model (colour)" --manifest data/photos/MANIFEST.json \
        --command "dpm train ..." --metrics benchmarks/results/photo-rgb.json [--bf16]

The card (models/NAME/README.md) and the metadata (models/NAME/model.json) record the data and
its licences, the exact command, steps, wall time, device and the measured metrics. The weights
are copied unchanged, so the sha256 in the metadata still holds; with --bf16 their float32 tensors
are stored as bfloat16 instead (half the size: the w64 photo models are 8.6 MiB instead of 17.2,
so the working tree still travels to a GPU machine; on the denoising bench the bf16 copy of
photo-rgb scored -0.002 +- 0.001 dB against its float32 weights), and the sha256 is taken anew (the float32
file's is kept as fp32_sha256). The loader casts them back to float32.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from dpm_desktop.core.checkpoint import META_NAME, WEIGHTS_NAME, atomic_write_json, load_checkpoint, write_bf16_weights


def card_markdown(meta: dict[str, Any]) -> str:
    tr, data, metrics = meta.get("training", {}), meta.get("data", {}), meta.get("metrics", {})
    net = meta["network"]
    lines = [f"# {meta['name']}", "", meta.get("description", ""), "",
             "| | |", "|---|---|",
             f"| network | {net['arch']} `{json.dumps(net['config'])}` |",
             f"| diffusion | `{json.dumps(meta['diffusion'])}` |",
             f"| data | {data.get('kind')}, {data.get('channels')} channel(s), "
             f"patches of {data.get('patch_size')} px |",
             f"| training | {tr.get('steps')} steps, {tr.get('wall_time_s')} s on {tr.get('device')} "
             f"(amp {tr.get('amp')}, torch {tr.get('torch')}) |",
             f"| sha256 | `{meta.get('sha256')}` |", ""]
    if tr.get("command"):
        lines += ["## Command", "", "```sh", *tr["command"], "```", ""]
    if tr.get("history_note"):
        lines += [tr["history_note"], ""]
    src = data.get("sources")
    if src:
        lines += ["## Training data", "", f"{src['count']} files; rebuild with `{src['rebuild']}`.", "",
                  "| package | files | licence |", "|---|---|---|"]
        lines += [f"| {p} | {n} | {lic} |" for p, n, lic in src["packages"]]
        lines.append("")
    if metrics:
        lines += ["## Measured", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="training run folder (or checkpoint folder)")
    ap.add_argument("name")
    ap.add_argument("--description", required=True)
    ap.add_argument("--manifest", help="MANIFEST.json of the training folder (licences)")
    ap.add_argument("--rebuild", help="command that rebuilds the training folder")
    ap.add_argument("--command", action="append", default=[], help="exact training command(s), in order")
    ap.add_argument("--metrics", help="JSON file of measured metrics to record")
    ap.add_argument("--note", help="a paragraph on how the checkpoint was produced (resumes, fine-tuning)")
    ap.add_argument("--models-dir", default="models")
    ap.add_argument("--bf16", action="store_true", help="store the float32 weights as bfloat16 (half the size)")
    args = ap.parse_args()

    ckpt = load_checkpoint(Path(args.run))
    meta = {k: v for k, v in ckpt.meta.items() if not k.startswith("_")}
    meta["name"], meta["description"] = args.name, args.description
    tr = meta.setdefault("training", {})
    if args.command:
        tr["command"] = args.command
    if args.note:
        tr["history_note"] = args.note
    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
        counts = Counter(f["package"] for f in manifest["files"])
        lic = {f["package"]: f["licence"] for f in manifest["files"]}
        meta["data"]["sources"] = {"count": len(manifest["files"]), "rebuild": args.rebuild or "",
                                   "packages": [[p, n, lic[p]] for p, n in sorted(counts.items())]}
    # The trainer's metrics come from its own validation patches (held out by file); say so.
    meta["metrics"] = {(k if k.startswith("validation_") else f"validation_{k}"): v
                       for k, v in meta.get("metrics", {}).items()}
    if args.metrics:
        meta["metrics"].update(json.loads(Path(args.metrics).read_text()))
    dest = Path(args.models_dir) / args.name
    dest.mkdir(parents=True, exist_ok=True)
    if args.bf16:
        meta["fp32_sha256"] = meta["sha256"]
        meta["sha256"] = write_bf16_weights(Path(ckpt.meta["_paths"]["weights"]), dest / WEIGHTS_NAME)
        meta["weights_dtype"] = "bfloat16"
    else:
        shutil.copyfile(ckpt.meta["_paths"]["weights"], dest / WEIGHTS_NAME)
    atomic_write_json(dest / META_NAME, meta)
    (dest / "README.md").write_text(card_markdown(meta) + "\n")
    load_checkpoint(dest)  # must load and validate as shipped
    print(f"published {dest}")


if __name__ == "__main__":
    main()

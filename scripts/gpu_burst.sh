#!/bin/bash
# The campaign's GPU burst (issue 12 §3): one prepared run for a lent GPU machine (an H200, 15 minutes of
# device time in all). From the repo root, after `python scripts/gpu_pack.py` and the wheels of the
# packages the device lacks (platformdirs) in .whl/ (see the device tool's README):
#   run(command="bash scripts/gpu_burst.sh", carry=["data/gpu-photos", ".whl"], timeout_s=590)
# It trains the campaign's network from the committed state (campaign/photo-rgb) with a large batch for
# MINUTES, writes the new state into $OUT as a tar in parts under 16 MiB (`cat gpu-state.tar.part-* | tar -x`
# gives gpu-state/, to commit as campaign/photo-rgb if the bench says it is better), then runs the CUDA tests
# and the GPU figures.
# Tested on the CPU with tiny settings:  TINY=1 OUT=/tmp/burst bash scripts/gpu_burst.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-burst}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
if [ -n "${TINY:-}" ]; then MINUTES=${MINUTES:-0.3}; BATCH=${BATCH:-4}; EVERY=5; DEVICE=cpu
else MINUTES=${MINUTES:-6}; BATCH=${BATCH:-128}; EVERY=500; DEVICE=auto; fi
{ date -u; nvidia-smi 2>&1 | head -15; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  grep -o -w 'avx512_bf16\|amx_bf16\|avx2' /proc/cpuinfo | sort | uniq -c; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# 1. Train (the campaign's settings, a GPU-sized batch; bf16 where the device has it: printed at start).
RUN=/tmp/gpu-run; rm -rf "$RUN"
$PY -m dpm_desktop.cli train --data data/gpu-photos --arch unet --network width=64 --network "mults=[1,2,2]" \
  --network unshuffle=2 --patch 64 --batch "$BATCH" --lr 4e-4 --lr-decay none --t-sampling restoration \
  --objective hybrid --minutes "$MINUTES" --checkpoint-every "$EVERY" --val-every "$EVERY" --device "$DEVICE" \
  --init-from campaign/photo-rgb --out "$RUN" --name photo-rgb > "$OUT/train.log" 2>&1
echo "train: exit $?"; tail -n 8 "$OUT/train.log"

# 2. The state to commit: a bf16 copy and the run's progress, as one tar split under 16 MiB a file (at most 8
#    files come back from $OUT: these 2-3 parts and the 5 logs).
STATE=/tmp/gpu-state; rm -rf "$STATE"
$PY scripts/campaign.py save --run "$RUN" --to "$STATE" && cp "$RUN/progress.jsonl" "$STATE/run-progress.jsonl"
$PY scripts/campaign.py ledger --run "$RUN" > "$OUT/ledger.txt" 2>&1
tar -C /tmp -cf /tmp/gpu-state.tar gpu-state && split -b 15M -d /tmp/gpu-state.tar "$OUT/gpu-state.tar.part-"
ls -la "$OUT"

# 3. The CUDA tests, then the GPU figures.
$PY -m pytest -q -p no:cacheprovider tests/test_cuda.py > "$OUT/cuda-tests.txt" 2>&1; echo "cuda tests: exit $?"
tail -n 3 "$OUT/cuda-tests.txt"
$PY scripts/gpu_bench.py > "$OUT/gpu-bench.json" 2>&1; echo "gpu bench: exit $?"; cat "$OUT/gpu-bench.json"

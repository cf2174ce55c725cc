#!/usr/bin/env bash
# Check a built package the way a user runs it (CI runs this after `make package`):
#   1. the frozen CLI starts; `dpm self-test` passes (every bundled model loads, denoises, inpaints);
#   2. `dpm-desktop --self-test` passes with no display (offscreen) and under a real X server (Xvfb,
#      when installed: .ci/run installs it), which proves Qt and its plugins load;
#   3. user models and settings are found where the source install finds them: a model trained
#      by the frozen `dpm train` into the user's models folder is listed by both and restores a photo.
# Usage: build/check.sh [BUNDLE]   (default: build/out/cpu/dpm-desktop). Needs .venv (make install).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(realpath "${1:-build/out/cpu/dpm-desktop}")
src_py=$PWD/.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A fresh user: nothing of the real one's models or settings, and no display unless we start one.
export HOME="$tmp/home"
unset XDG_DATA_HOME XDG_CONFIG_HOME DPM_DESKTOP_HOME DPM_DESKTOP_BUNDLED_MODELS DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
mkdir -p "$HOME"
allow=()
if [ ! -d "$bundle/_internal/models" ]; then
    allow=(--allow-no-models)
    echo "check: no models are bundled yet (models/ is empty): the self-tests run with --allow-no-models"
fi

secs() {  # secs T0: seconds since $EPOCHREALTIME was T0, one decimal
    local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}
t_all=$EPOCHREALTIME
step() {  # step NAME COMMAND...: run it, print its time, stop at the first failure
    local name=$1 t0=$EPOCHREALTIME
    shift
    if ! "$@" > "$tmp/out.txt" 2>&1; then
        cat "$tmp/out.txt"
        echo "check: FAILED: $name"
        exit 1
    fi
    cat "$tmp/out.txt"
    printf 'check: ok  %-46s %6s s\n' "$name" "$(secs "$t0")"
}
expect() {  # expect PATTERN: the last step's output holds it
    grep -q -- "$1" "$tmp/out.txt" || { echo "check: FAILED: expected '$1' in the output above"; exit 1; }
}

step "dpm --help" "$bundle/dpm" --help
expect "self-test"
step "dpm self-test" "$bundle/dpm" self-test "${allow[@]}"
expect "(frozen app)"
frozen_models=$(sed -n 's/.*user models \(.*\)$/\1/p' "$tmp/out.txt")

step "dpm-desktop --self-test (no display)" "$bundle/dpm-desktop" --self-test "${allow[@]}"
expect "platform 'offscreen'"
frozen_settings=$(sed -n 's/.*settings file \(.*\)  \[.*/\1/p' "$tmp/out.txt")

if command -v xvfb-run > /dev/null; then
    step "dpm-desktop --self-test (Xvfb)" \
        xvfb-run -a -s "-screen 0 1600x1000x24" "$bundle/dpm-desktop" --self-test "${allow[@]}"
    expect "platform 'xcb'"
else
    echo "check: skipped: the X11 self-test (xvfb-run is not installed)"
fi

# User folders: the same as the source install's.
src_models=$("$src_py" -c 'from dpm_desktop.core.registry import user_models_dir; print(user_models_dir())')
src_settings=$(QT_QPA_PLATFORM=offscreen "$src_py" -c \
    'from dpm_desktop.gui.model.settings import open_qsettings; print(open_qsettings().fileName())')
[ "$frozen_models" = "$src_models" ] || { echo "check: FAILED: user models: frozen $frozen_models, source $src_models"; exit 1; }
[ "$frozen_settings" = "$src_settings" ] || {
    echo "check: FAILED: settings: frozen $frozen_settings, source $src_settings"; exit 1; }
echo "check: ok  user models in $src_models, settings in $src_settings (frozen and source alike)"

mkdir -p "$tmp/photos"
cp "$bundle/_internal/resources/sample.jpg" "$tmp/photos/"
step "dpm train (a 2-step user model)" "$bundle/dpm" train --data "$tmp/photos" --preset tiny --patch 32 --batch 4 \
    --steps 2 --checkpoint-every 2 --val-every 2 --out "$tmp/run" --name mine --threads 2
mkdir -p "$src_models/mine"
cp "$tmp"/run/state-*/model.json "$tmp"/run/state-*/model.safetensors "$src_models/mine/"
step "dpm models (frozen)" "$bundle/dpm" models
expect "^mine  *user"
step "dpm models (source)" "$src_py" -m dpm_desktop.cli models
expect "^mine  *user"
step "dpm denoise --model mine" "$bundle/dpm" denoise "$tmp/photos/sample.jpg" --model mine --sigma 20 -o "$tmp/clean.png"
test -s "$tmp/clean.png"
echo "check: all passed in $(secs "$t_all") s"

"""Build the installable package: ``make package`` (CPU torch) or ``make package TORCH=cuda``.

  1. PyInstaller with ``build/dpm_desktop.spec`` -> ``build/out/<variant>/dpm-desktop/``: one folder
     with the app ``dpm-desktop``, the bundled models and resources, pruned (``build/prune.py``);
  2. beside it: ``dpm`` (a link to it: ``build/entry.py`` dispatches on the name), the icon, a
     freedesktop ``.desktop`` entry, ``install.sh`` and ``README.txt``;
  3. ``build/out/dpm-desktop-<version>-linux-<arch>-<variant>.tar.gz`` and ``build/out/<variant>.json``
     with the measured build time and sizes.

The CPU variant freezes the interpreter that runs this script (``make package`` uses ``.venv``). The
CUDA variant first makes ``build/work/venv-cuda`` and installs the project there with the CUDA
build of torch (PyPI's default Linux wheel, or the one from ``--torch-index``), then freezes that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
sys.path.insert(0, str(BUILD))
APP = "dpm-desktop"

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=DPM Desktop
GenericName=Photo Restoration
Comment=Denoise and inpaint photos with diffusion probabilistic models
Exec=dpm-desktop %f
Icon=dpm-desktop
Terminal=false
Categories=Graphics;2DGraphics;RasterGraphics;Photography;
MimeType=image/jpeg;image/png;image/tiff;image/webp;image/bmp;
Keywords=denoise;inpaint;restore;photo;diffusion;
StartupNotify=true
"""

INSTALL_SH = r"""#!/bin/sh
# Install DPM Desktop for this user: `dpm-desktop` and `dpm` in ~/.local/bin, a menu entry and the icon.
# The app stays in this folder: move the folder first if you want it elsewhere, then run this again.
#   ./install.sh              install (or update the links after moving the folder)
#   ./install.sh --uninstall  remove the links, the menu entry and the icon (not your models or settings)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=$HOME/.local/bin
entry=$data/applications/dpm-desktop.desktop
icon=$data/icons/hicolor/256x256/apps/dpm-desktop.png
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$bin/dpm-desktop" "$bin/dpm" "$entry" "$icon"
    echo "removed DPM Desktop's links, menu entry and icon; the folder $here is yours to delete"
    exit 0
fi
mkdir -p "$bin" "$(dirname "$entry")" "$(dirname "$icon")"
ln -sf "$here/dpm-desktop" "$bin/dpm-desktop"
ln -sf "$here/dpm" "$bin/dpm"
cp "$here/dpm-desktop.png" "$icon"
path=$(printf '%s' "$here" | sed 's/[\\|&]/\\&/g')  # the folder, escaped for sed
sed "s|^Exec=dpm-desktop|Exec=\"$path/dpm-desktop\"|" "$here/dpm-desktop.desktop" > "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed: $bin/dpm-desktop, $bin/dpm, the menu entry 'DPM Desktop'"
case ":$PATH:" in *":$bin:"*) ;; *) echo "note: $bin is not on your PATH; add it to run dpm from a shell";; esac
"""

README_TXT = """DPM Desktop {version} ({variant} build) - photo restoration with diffusion probabilistic models

Run it from this folder, nothing to install:
  ./dpm-desktop [PHOTO]        the desktop app
  ./dpm --help                 the command line (dpm denoise, dpm inpaint, dpm models, ...)
  ./dpm-desktop --self-test    checks this installation (every bundled model, the window); exits 0

Menu entry, icon and `dpm` on your PATH:  ./install.sh   (undo: ./install.sh --uninstall)
Your own models and settings live where the app run from source keeps them (./dpm self-test prints the folders).
"""


def run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def du(path: Path) -> int:
    """Bytes on disk of the files under ``path`` (links not followed, counted once)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def cuda_python(torch_index: str | None) -> Path:
    """A venv with the project and a CUDA build of torch (created once, reused)."""
    venv = BUILD / "work" / "venv-cuda"
    py = venv / "bin" / "python"
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    pin = next(line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
               if line.startswith("torch=="))
    # This machine's pip configuration may point at a local CPU wheel: ignore it for this venv.
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="")
    index = ["--index-url", torch_index, "--extra-index-url", "https://pypi.org/simple"] if torch_index else []
    run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], env=env)
    run([str(py), "-m", "pip", "install", "-q", *index, pin, "-e", f"{ROOT}[gui,package]"], env=env)
    probe = subprocess.run([str(py), "-c", "import torch; print(torch.version.cuda or '')"],
                           capture_output=True, text=True, check=True).stdout.strip()
    if not probe:
        sys.exit(f"build: {venv} got a CPU-only torch; pass --torch-index with a CUDA wheel index")
    print(f"build: torch for CUDA {probe} in {venv}", flush=True)
    return py


def add_launchers(bundle: Path, version: str, variant: str) -> None:
    (bundle / "dpm").symlink_to(APP)
    shutil.copy2(ROOT / "resources" / "icon-256.png", bundle / f"{APP}.png")
    (bundle / f"{APP}.desktop").write_text(DESKTOP_ENTRY)
    (bundle / "install.sh").write_text(INSTALL_SH)
    (bundle / "install.sh").chmod(0o755)
    (bundle / "README.txt").write_text(README_TXT.format(version=version, variant=variant))


def strip_libraries(internal: Path) -> int:
    """``strip --strip-unneeded`` the libraries :data:`prune.STRIPPED` names, each only if that makes
    it smaller; returns the bytes saved (0 without binutils' ``strip``)."""
    from prune import STRIPPED

    if shutil.which("strip") is None:
        print("build: no `strip` (binutils) here: libraries left as they are", flush=True)
        return 0
    saved = 0
    libs = {p for pattern in STRIPPED for p in internal.glob(pattern)}
    for lib in sorted(p for p in libs if p.is_file() and not p.is_symlink()):
        tmp = lib.with_name(lib.name + ".stripped")
        subprocess.run(["strip", "--strip-unneeded", "-o", str(tmp), str(lib)], check=True)
        if tmp.stat().st_size < lib.stat().st_size:
            saved += lib.stat().st_size - tmp.stat().st_size
            shutil.copymode(lib, tmp)
            tmp.replace(lib)
        else:
            tmp.unlink()
    return saved


def missing_for_x11(bundle: Path) -> list[str]:
    """Libraries Qt's X11 plugin links that neither the bundle nor this machine has. PyInstaller
    bundles what the build machine has, so users would need these themselves."""
    plugin = bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    env = dict(os.environ, LD_LIBRARY_PATH=str(bundle / "_internal"))
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, env=env, check=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def make_archive(bundle: Path, archive: Path, top: str) -> None:
    tmp = archive.with_name(archive.name + ".part")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=top)
    tmp.replace(archive)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the DPM Desktop package (one folder + .tar.gz).")
    ap.add_argument("--torch", choices=["cpu", "cuda"], default="cpu",
                    help="cpu: the torch of this interpreter (default); cuda: a CUDA build in build/work/venv-cuda")
    ap.add_argument("--torch-index", help="with --torch cuda: a wheel index for torch (default: PyPI's wheel)")
    ap.add_argument("--no-prune", action="store_true", help="keep everything PyInstaller collects (to measure)")
    ap.add_argument("--no-archive", action="store_true", help="build the folder only")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    py = cuda_python(args.torch_index) if args.torch == "cuda" else Path(sys.executable)
    variant = args.torch + ("-unpruned" if args.no_prune else "")
    dist, work = BUILD / "out" / variant, BUILD / "work" / variant
    bundle = dist / APP
    shutil.rmtree(bundle, ignore_errors=True)
    env = dict(os.environ, DPM_PACKAGE_PRUNE="0" if args.no_prune else "1")
    run([str(py), str(BUILD / "make_samples.py")], env=env, cwd=ROOT)  # the self-test's HEIC and DNG
    run([str(py), "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(dist),
         "--workpath", str(work), str(BUILD / "dpm_desktop.spec")], env=env, cwd=ROOT)
    version = subprocess.run([str(py), "-c", "import dpm_desktop; print(dpm_desktop.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if not args.no_prune:
        print(f"build: stripping symbol tables saved {mib(strip_libraries(bundle / '_internal'))}", flush=True)
    add_launchers(bundle, version, args.torch)
    missing = missing_for_x11(bundle)
    if missing:
        print(f"build: WARNING: not bundled, so users need them: {', '.join(missing)}; install them here and rebuild "
              "(Debian: apt-get install libxcb-icccm4 libxcb-keysyms1)", flush=True)
    t_folder = time.monotonic() - t0
    summary: dict[str, object] = {"variant": variant, "version": version, "bundle": str(bundle.relative_to(ROOT)),
                                  "bundle_bytes": du(bundle), "folder_build_s": round(t_folder, 1)}
    print(f"build: {bundle.relative_to(ROOT)}: {mib(du(bundle))} in {t_folder:.0f} s", flush=True)
    if not args.no_archive:
        top = f"{APP}-{version}"
        archive = BUILD / "out" / f"{top}-linux-{platform.machine()}-{variant}.tar.gz"
        t1 = time.monotonic()
        make_archive(bundle, archive, top)
        summary.update(archive=str(archive.relative_to(ROOT)), archive_bytes=archive.stat().st_size,
                       archive_s=round(time.monotonic() - t1, 1))
        print(f"build: {archive.relative_to(ROOT)}: {mib(archive.stat().st_size)} in "
              f"{time.monotonic() - t1:.0f} s", flush=True)
    summary["total_s"] = round(time.monotonic() - t0, 1)
    (BUILD / "out" / f"{variant}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"build: done in {summary['total_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

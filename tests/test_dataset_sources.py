"""Training folders rebuilt from Debian packages: photos read out of Qt resource files (GCompris)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpm_desktop import dataset_sources
from dpm_desktop.dataset_sources import Source, SourceError, build, read_qt_resources

RCC = Path(sys.executable).parent / "pyside6-rcc"  # Qt's own resource compiler, shipped with PySide6


def _photo(path: Path, seed: int, size: tuple[int, int] = (60, 40)) -> np.ndarray:
    px = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    Image.fromarray(px).save(path, lossless=True)  # WebP without loss; the PNG writer ignores the option
    return px


def _rcc(folder: Path, out: Path, *options: str) -> None:
    files = "".join(f"<file>{p.relative_to(folder).as_posix()}</file>" for p in sorted(folder.rglob("*"))
                    if p.is_file() and p.suffix != ".qrc")
    (folder / "t.qrc").write_text(f'<RCC><qresource prefix="/gcompris">{files}</qresource></RCC>')
    subprocess.run([str(RCC), "--binary", *options, "t.qrc", "-o", str(out)], cwd=folder, check=True)


@pytest.mark.skipif(not RCC.exists(), reason="PySide6's pyside6-rcc is not installed")
@pytest.mark.parametrize("options", [("--format-version", "1", "--no-compress"),
                                     ("--compress-algo", "zlib", "--threshold", "0")])
def test_reads_the_files_of_a_qt_resource_file(tmp_path: Path, options: tuple[str, ...]) -> None:
    src = tmp_path / "src"
    (src / "resource/animals").mkdir(parents=True)
    _photo(src / "resource/animals/cat.png", 0)
    (src / "notes.txt").write_text("purr " * 300)
    _rcc(src, tmp_path / "t.rcc", *options)
    files = read_qt_resources((tmp_path / "t.rcc").read_bytes())
    assert files == {"gcompris/resource/animals/cat.png": (src / "resource/animals/cat.png").read_bytes(),
                     "gcompris/notes.txt": (src / "notes.txt").read_bytes()}


def test_refuses_what_is_not_a_qt_resource_file() -> None:
    with pytest.raises(SourceError, match="not a Qt resource file"):
        read_qt_resources(b"\x89PNG\r\n\x1a\n" + bytes(40))


@pytest.mark.skipif(not RCC.exists(), reason="PySide6's pyside6-rcc is not installed")
def test_a_damaged_qt_resource_file_is_refused_with_one_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    _photo(src / "a/cat.png", 0)
    _rcc(src, tmp_path / "t.rcc", "--compress-algo", "zlib", "--threshold", "0")
    data = (tmp_path / "t.rcc").read_bytes()
    with pytest.raises(SourceError, match="damaged"):
        read_qt_resources(data[: len(data) // 2])  # truncated
    tree = int.from_bytes(data[8:12], "big")
    looped = bytearray(data)  # the root directory's first child pointed back at the root
    looped[tree + 10:tree + 14] = (0).to_bytes(4, "big")
    with pytest.raises(SourceError, match="cycle"):
        read_qt_resources(bytes(looped))


@pytest.mark.skipif(not RCC.exists() or shutil.which("dpkg-deb") is None, reason="needs pyside6-rcc and dpkg-deb")
def test_builds_a_folder_from_photos_inside_a_packaged_resource_file(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A real .deb holding a .rcc holding a WebP photo, as gcompris-qt-data ships them.
    res = tmp_path / "res"
    (res / "resource").mkdir(parents=True)
    px = _photo(res / "resource/kitten.webp", 1, (60, 40))
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text("Package: toy-data\nVersion: 1.0\nArchitecture: all\n"
                                        "Maintainer: t <t@t>\nDescription: toy\n")
    (pkg / "usr/share/toy/rcc").mkdir(parents=True)
    (pkg / "usr/share/doc/toy-data").mkdir(parents=True)
    (pkg / "usr/share/doc/toy-data/copyright").write_text("GPL-3+\n")
    _rcc(res, pkg / "usr/share/toy/rcc/erase.rcc", "--compress-algo", "zlib")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(debs / "toy-data_1.0_all.deb")],
                   check=True, capture_output=True)
    source = Source("toy-data", "usr/share/toy/rcc/", ("gcompris/resource/kitten.webp",), "GPL-3+",
                    archive="erase.rcc", half_size=True)
    monkeypatch.setitem(dataset_sources.DATASETS, "toy", (source,))

    manifest = build("toy", tmp_path / "out", debs=debs)
    out = tmp_path / "out/toy-data__erase__kitten.png"
    stored = np.asarray(Image.open(out))
    expected = px.astype(np.float64).reshape(20, 2, 30, 2, 3).mean(axis=(1, 3))  # half size: 2x2 means
    assert stored.shape == (20, 30, 3) and np.abs(stored - expected).max() <= 1
    assert manifest["files"] == [{"file": out.name, "package": "toy-data",
                                  "source": "usr/share/toy/rcc/erase.rcc:gcompris/resource/kitten.webp",
                                  "licence": "GPL-3+", "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}]
    assert json.loads((tmp_path / "out/MANIFEST.json").read_text()) == manifest
    assert (tmp_path / "out/COPYRIGHT.toy-data").read_text() == "GPL-3+\n"

    missing = Source("toy-data", "usr/share/toy/rcc/", ("gcompris/resource/lion.webp",), "GPL-3+", archive="erase.rcc")
    monkeypatch.setitem(dataset_sources.DATASETS, "toy", (missing,))
    with pytest.raises(SourceError, match=r"erase\.rcc has no gcompris/resource/lion\.webp"):
        build("toy", tmp_path / "out2", debs=debs)

"""Rebuild the training folders of the bundled models from Debian packages (``dpm dataset ...``).

Every file is listed by name: photographs only (artwork, renders, charts, screenshots, blurred and
near-duplicate frames are left out by hand after looking at each), each with its package and
licence as given in the package's ``copyright`` file. The benchmark photos (scikit-image's and
scikit-learn's samples) are not in any of these packages and never enter a training folder.

The packages are fetched with ``apt-get download`` (no root needed) or read from ``--debs DIR``.
Some packages keep their photos inside a Qt resource file (GCompris): those are read by name from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Source:
    package: str
    prefix: str  # inside the package
    files: tuple[str, ...]
    licence: str
    archive: str = ""  # a Qt resource file (.rcc) under prefix that holds the files, named as inside it
    half_size: bool = False  # stored at half size: hides the artefacts of strongly compressed (WebP) photos


_MATE = "usr/share/backgrounds/mate/nature/"
_LOMIRI = "usr/share/backgrounds/"
_CV = "usr/share/doc/opencv-doc/examples/"
_PLASMA = "usr/share/wallpapers/"
_GCOMPRIS = "usr/share/gcompris-qt/rcc/"
_GCOMPRIS_LICENCE = "GPL-3+ / CC-BY-SA-4.0 per file (gcompris-qt-data copyright file)"


def _gcompris(activity: str, folder: str, names: str) -> Source:
    # WebP photos of 1024-1920 px at 0.3-1 bits per pixel, in the activity's resource file.
    return Source("gcompris-qt-data", _GCOMPRIS, tuple(
        f"gcompris/src/activities/{activity}/resource/{folder}{n}.webp" for n in names.split()),
        _GCOMPRIS_LICENCE, archive=f"{activity}.rcc", half_size=True)


PHOTO_SOURCES: tuple[Source, ...] = (
    Source("mate-backgrounds", _MATE, (
        "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg", "LadyBird.jpg",
        "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg"),
        "GPL-2+ (mate-backgrounds copyright file)"),
    Source("lomiri-wallpapers-16.04", _LOMIRI, (
        "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
        "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
        "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
        "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg"),
        "CC-BY-4.0 / CC-BY-SA-3.0 / CC-BY-SA-4.0 per file (lomiri-wallpapers-16.04 copyright file)"),
    Source("opencv-doc", _CV, (
        "alphamat/input_images/plant.jpg", "data/aero1.jpg", "data/aero3.jpg", "data/aloeL.jpg", "data/apple.jpg",
        "data/baboon.jpg", "data/board.jpg", "data/building.jpg", "data/butterfly.jpg", "data/chicky_512.png",
        "data/ela_original.jpg", "data/fruits.jpg", "data/graf1.png", "data/home.jpg", "data/leuvenA.jpg",
        "data/messi5.jpg", "data/orange.jpg", "data/rubberwhale1.png", "data/squirrel_cls.jpg",
        "dnn_superres/butterfly.png", "hfs/data/000.jpg", "reg/home.png", "text/scenetext01.jpg",
        "text/scenetext02.jpg", "text/scenetext03.jpg", "text/scenetext04.jpg", "text/scenetext05.jpg",
        "text/scenetext06.jpg"), "Apache-2.0 / BSD-3-Clause (opencv-doc copyright file)"),
    # Added Dec 5 for the defect detector's clean photos (highlights, wood grain, needles, man-made
    # lines) and for smooth skies and fog, where the denoiser loses to CBM3D. Left out: the
    # renders, Volna (polygons drawn over a photo) and Kite (a kite in a cloudy sky, like issue 16's
    # held-out example).
    Source("plasma-workspace-wallpapers", _PLASMA, tuple(
        f"{name}/contents/images/2560x1600.jpg" for name in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
            "OneStandsOut", "Path", "summer_1am")),
        "GPL-2+ (plasma-workspace-wallpapers copyright file)"),
    Source("lomiri-wallpapers-20.04", _LOMIRI, ("Kleiber_by_Lukas_Baubkus.jpg",),
        "CC-BY-SA-3.0 (lomiri-wallpapers-20.04 copyright file)"),
    # Added Dec 7: animals (fur, whiskers, feathers, catchlights: what the defect detector mistook for
    # damage on the bench's cat and portrait), people and buildings; GCompris's photos of its
    # "erase", "explore" activities. Left out: its drawings, the paintings of "details" and its small
    # product shots.
    _gcompris("erase", "", "alpaca bee butterfly calf camels caterpillar chamaeleon cheetah crab dolphin flying_fox "
              "gibbon giraffe goat gorilla gosling heron horse kingfisher kitten long_nosed_monkey macaque "
              "meerkats northern_harrier nubian_ibex penguin pika red_panda rhinoceros spoonbills squirrel swans "
              "toucan"),
    _gcompris("explore_world_animals", "animals/", "bison chameleon crocodile dragon giraffe hedgehog jaguar "
              "kangaroo koala lemur moose narwhal panda polar_bear scarlet_macaw"),
    _gcompris("explore_farm_animals", "animals/", "cat chicken cow dog duck horse owl pig sheep"),
    _gcompris("explore_monuments", "", (
        "egypt/bentPyramid egypt/greatPyramidOfGiza egypt/meidumPyramid egypt/redPyramid france/arlesAmphitheater "
        "france/chateaudeChambord france/chateaudeChenonceau france/citedeCarcassonne france/eiffelTower "
        "france/montStMichel france/palaisdesPapes france/pontduGard france/reimsCathedral france/rocamadour "
        "germany/aulaPalatina germany/berlinCathedral germany/brandenburgGate germany/neuschwansteinCastle "
        "germany/schwerinPalace germany/trierImperialBaths germany/wormsCathedral india/ajantaCave india/charminar "
        "india/gatewayofIndia india/goldenTemple india/greatStupa india/hawaMahal india/konarkSunTemple "
        "india/mysorePalace india/qutubMinar india/rangGhar india/victoriaMemorial usa/cabrillo usa/canyondeChelly "
        "usa/castillodeSanMarcos usa/castleClinton usa/fortSumter usa/georgeWashingtonBirthplace "
        "usa/lincolnMemorial usa/mountRushmore usa/navajo usa/statueofLiberty wonders/chichenItza "
        "wonders/christTheRedeemer wonders/colosseum wonders/greatWallofChina wonders/machuPicchu wonders/petra "
        "wonders/tajMahal")),
    _gcompris("explore_world_music", "music/", "africa america australia ireland italy japan mexico middleeast "
              "orchestra"),
)

# Grayscale photographs that only the gray model uses (the colour ones are converted as well).
GRAY_EXTRA: tuple[Source, ...] = (
    Source("opencv-doc", _CV, ("data/basketball1.png", "data/box_in_scene.png"), "Apache-2.0 / BSD-3-Clause"),
)

_GIMP = "usr/share/gimp/2.0/patterns/"
TEXTURE_SOURCES: tuple[Source, ...] = (
    Source("gimp-data", _GIMP, (
        "Wood/bark.pat", "Wood/burlwood.pat", "Wood/pine.pat", "Wood/walnut.pat", "Wood/wood1.pat", "Wood/wood2.pat",
        "Wood/wood3.pat", "Wood/wood4.pat", "Wood/wood5.pat", "Wood/corkboard.pat", "Stone/rock.pat",
        "Stone/slate.pat", "Stone/granite1.pat", "Stone/marble1.pat", "Stone/marble2.pat", "Stone/marble3.pat",
        "Stone/ground1.pat", "Stone/stone33.pat", "Stone/cracked.pat", "Stone/terra.pat", "Stone/Craters.pat",
        "Fabric/burlap.pat", "Plant/leaves.pat", "Animal/leather.pat", "Paper/crinklepaper.pat"),
        "GPL-3+ (gimp-data copyright file)"),
)

DATASETS = {"photos": PHOTO_SOURCES, "photos-gray": PHOTO_SOURCES + GRAY_EXTRA, "textures": TEXTURE_SOURCES}


class SourceError(Exception):
    pass


def read_gimp_pattern(path: Path) -> Image.Image:
    """A GIMP ``.pat`` file: big-endian header (size, version, width, height, bytes/px, 'GPAT'), name, pixels."""
    data = Path(path).read_bytes()
    header_size, version, width, height, bpp = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or version != 1 or bpp not in (1, 2, 3, 4):
        raise SourceError(f"{path}: not a GIMP pattern")
    px = np.frombuffer(data[header_size:header_size + width * height * bpp], dtype=np.uint8).reshape(height, width, bpp)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[bpp]
    return Image.fromarray(px[:, :, 0] if bpp == 1 else px, mode).convert("L" if bpp <= 2 else "RGB")


_RCC_ZLIB, _RCC_DIRECTORY, _RCC_ZSTD = 1, 2, 4  # a tree node's flags


def read_qt_resources(data: bytes) -> dict[str, bytes]:
    """The files of a binary Qt resource file (``rcc --binary``, format versions 1-3) by path.

    Layout: "qres", version, then the offsets of the tree, the payload and the names. A tree node is
    a name offset and flags (2: directory, with a child count and its first child's index; 1: the
    payload is zlib-compressed behind a 4-byte length), then the payload offset at byte 10.
    """
    if data[:4] != b"qres" or len(data) < 20:
        raise SourceError("not a Qt resource file")
    version, tree, payload, names = struct.unpack(">4I", data[4:20])
    if version not in (1, 2, 3):
        raise SourceError(f"Qt resource format version {version} is not known")
    try:
        return _qt_resource_tree(data, 14 if version == 1 else 22, tree, payload, names)  # v2 added a time
    except (struct.error, zlib.error, UnicodeDecodeError) as e:
        raise SourceError(f"a damaged Qt resource file ({e})") from None


def _qt_resource_tree(data: bytes, node_size: int, tree: int, payload: int, names: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    stack, seen = [(0, "")], set()
    while stack:
        index, path = stack.pop()
        if index in seen:  # a node reached twice: a cycle in a damaged file
            raise SourceError("a damaged Qt resource file (its tree has a cycle)")
        seen.add(index)
        base = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[base:base + 6])
        if index:
            at = names + name_offset
            length = struct.unpack(">H", data[at:at + 2])[0]
            path = f"{path}/{data[at + 6:at + 6 + 2 * length].decode('utf-16-be')}".lstrip("/")
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            stack.extend((first + i, path) for i in range(count))
            continue
        at = payload + struct.unpack(">I", data[base + 10:base + 14])[0]
        blob = data[at + 4:at + 4 + struct.unpack(">I", data[at:at + 4])[0]]
        if flags & _RCC_ZSTD:
            continue  # not readable with the standard library; no photo is stored so (they are compressed already)
        files[path] = zlib.decompress(blob[4:]) if flags & _RCC_ZLIB else blob
    return files


def fetch_packages(packages: set[str], workdir: Path, debs: Path | None) -> dict[str, Path]:
    """Extract each package into workdir/<package>; returns its root."""
    roots = {}
    for pkg in sorted(packages):
        deb = None
        if debs is not None:
            found = sorted(Path(debs).glob(f"{pkg}_*.deb"))
            deb = found[0] if found else None
        if deb is None:
            try:
                subprocess.run(["apt-get", "download", pkg], cwd=workdir, check=True, capture_output=True, text=True)
            except (OSError, subprocess.CalledProcessError) as e:
                raise SourceError(f"could not download the Debian package {pkg} ({getattr(e, 'stderr', e)}); "
                                  "pass --debs with a folder holding it") from None
            deb = sorted(workdir.glob(f"{pkg}_*.deb"))[0]
        root = workdir / pkg
        root.mkdir(exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        roots[pkg] = root
    return roots


def _write_file(src: Source, rel: str, root: Path, archive: dict[str, bytes] | None, out: Path,
                ) -> tuple[Path, str]:
    """Write one listed file of a source into out; returns its path there and where it came from."""
    if archive is not None:
        if rel not in archive:
            raise SourceError(f"{src.package}'s {src.archive} has no {rel} (package version changed? or the file "
                              "is stored zstd-compressed, which is not read)")
        dest = out / f"{src.package}__{Path(src.archive).stem}__{Path(rel).stem}.png"
        try:
            photo = Image.open(io.BytesIO(archive[rel])).convert("RGB")
        except OSError as e:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise SourceError(f"{src.package}'s {src.archive}: {rel} is not a readable image ({e})") from None
        (photo.reduce(2) if src.half_size else photo).save(dest)  # reduce(2): a 2x2 box average
        return dest, f"{src.prefix}{src.archive}:{rel}"
    path = root / rel
    if not path.is_file():
        raise SourceError(f"{src.package} has no {src.prefix}{rel} (package version changed?)")
    stem = f"{src.package}__{rel.replace('/', '_')}"
    if path.suffix == ".pat":
        dest = out / (Path(stem).stem + ".png")
        tile = read_gimp_pattern(path)
        # Patterns are small seamless tiles: repeat them to 256+ px so crops can be larger.
        reps = -(-256 // min(tile.size))
        big = Image.new(tile.mode, (tile.width * reps, tile.height * reps))
        for i in range(reps):
            for j in range(reps):
                big.paste(tile, (i * tile.width, j * tile.height))
        big.save(dest)
    else:
        dest = out / stem
        shutil.copyfile(path, dest)
    return dest, src.prefix + rel


def build(name: str, out: Path, *, debs: Path | None = None) -> dict:
    """Write the named dataset into ``out`` with a ``MANIFEST.json`` (file, package, licence, sha256)."""
    if name not in DATASETS:
        raise SourceError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    sources = DATASETS[name]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": name, "files": []}
    with tempfile.TemporaryDirectory() as tmp:
        roots = fetch_packages({s.package for s in sources}, Path(tmp), debs)
        for src in sources:
            root = roots[src.package] / src.prefix
            archive = read_qt_resources((root / src.archive).read_bytes()) if src.archive else None
            for rel in src.files:
                dest, source = _write_file(src, rel, root, archive, out)
                manifest["files"].append({"file": dest.name, "package": src.package, "source": source,
                                          "licence": src.licence,
                                          "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()})
            copyright_file = roots[src.package] / "usr/share/doc" / src.package / "copyright"
            if copyright_file.is_file():
                shutil.copyfile(copyright_file, out / f"COPYRIGHT.{src.package}")
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest

"""Self-describing checkpoints: ``model.safetensors`` + ``model.json`` in one folder.

Nothing here ever unpickles: weights are read with safetensors only, and files that look like
pickles or ``torch.save`` archives are refused before anything else is done with them. Loading
validates the metadata, the weights' sha256, and every tensor name and shape against the network
the metadata describes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import atomic_path, atomic_write_json
from .diffusion import DiffusionConfig, GaussianDiffusion
from .limits import MAX_UNET_LEVELS, MAX_UNET_MULT, NETWORK_LIMITS
from .networks import build_network, network_config

FORMAT = "dpm-desktop-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bf16_copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float32 tensors as bfloat16 (half the size; loading casts them back to float32); float64 constants
    (the schedule's betas) and scalars kept exact. The committed campaign state and the photo models'
    shipped weights are stored this way."""
    return {k: v.to(torch.bfloat16) if v.dtype == torch.float32 and v.dim() > 0 else v for k, v in tensors.items()}


def write_bf16_weights(src: Path, dest: Path) -> str:
    """A weights file's :func:`bf16_copy`, written atomically to ``dest``; returns its sha256 (the
    committed campaign state and ``scripts/publish_model.py --bf16`` write their weights this way)."""
    save_tensors_atomic(bf16_copy(load_file(str(src))), dest, metadata={"format": "dpm-desktop-checkpoint"})
    return sha256_file(dest)


def save_tensors_atomic(tensors: dict[str, torch.Tensor], path: Path,
                        metadata: dict[str, str] | None = None) -> None:
    try:
        with atomic_path(Path(path)) as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
    except SafetensorError as e:  # its message names no file: "IoError(Os { ..., message: \"...\" })"
        found = re.search(r'message: "([^"]+)"', str(e))
        raise CheckpointError(f"{path}: could not write ({found.group(1) if found else e})") from None


# --------------------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A loaded model: the diffusion (network inside) and its validated metadata."""

    diffusion: GaussianDiffusion
    meta: dict[str, Any]
    folder: Path

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.folder.name))

    @property
    def channels(self) -> int:
        return int(self.meta["data"]["channels"])

    @property
    def first_trained_step(self) -> int:
        """The smallest t whose reverse step the training objective fitted: the bound's t = 1 term holds
        only constants, so a bound-trained network never saw t = 1 (the hybrid's MSE covers it)."""
        objective = (self.meta.get("training") or {}).get("settings", {}).get("objective")
        return 2 if objective == "bound" else 1

    @property
    def data_range(self) -> tuple[float, float]:
        """The model-space values of pixel values 0 and 1."""
        d = self.meta["data"]
        lo, hi = (0 - d["offset"]) * d["scale"], (1 - d["offset"]) * d["scale"]
        return (min(lo, hi), max(lo, hi))

    def to_model_space(self, u: torch.Tensor) -> torch.Tensor:
        d = self.meta["data"]
        return (u - d["offset"]) * d["scale"]

    def from_model_space(self, y: torch.Tensor) -> torch.Tensor:
        d = self.meta["data"]
        return y / d["scale"] + d["offset"]


def build_metadata(
    diffusion: GaussianDiffusion,
    *,
    name: str,
    data: dict[str, Any],
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Metadata for a checkpoint; ``data`` needs channels, kind, offset, scale, data_std, patch_size."""
    for key in ("channels", "kind", "offset", "scale", "data_std"):
        if key not in data:
            raise ValueError(f"data description lacks {key!r}")
    arch = "paper" if type(diffusion.net).__name__ == "PaperNet" else "unet"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "description": description,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "network": {"arch": arch, "config": network_config(diffusion.net)},
        "diffusion": diffusion.config_dict(),
        "data": data,
        "training": training or {},
        "metrics": metrics or {},
    }


def save_checkpoint(diffusion: GaussianDiffusion, meta: dict[str, Any], folder: Path,
                    state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Write weights then metadata (with the weights' sha256), each atomically. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    sd = state_dict if state_dict is not None else diffusion.state_dict()
    save_tensors_atomic(sd, weights, metadata={"format": FORMAT})
    meta = dict(meta, sha256=sha256_file(weights))
    atomic_write_json(folder / META_NAME, meta)
    return folder


# --------------------------------------------------------------------------------------------
def _locate(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.is_dir():
        latest = path / "latest.json"
        if not (path / META_NAME).exists() and latest.is_file():  # a training run: its newest state
            try:
                path = path / json.loads(latest.read_text())["state"]
            except (OSError, ValueError, KeyError, TypeError):
                raise CheckpointError(f"{latest}: corrupt run pointer") from None
        return path / META_NAME, path / WEIGHTS_NAME
    if not path.exists():
        raise CheckpointError(f"{path}: no such model, checkpoint file or folder")
    if path.suffix == ".json":
        weights = path.with_name(WEIGHTS_NAME) if path.name == META_NAME else path.with_suffix(".safetensors")
        return path, weights
    if path.suffix == ".safetensors":
        meta = path.with_name(META_NAME) if path.name == WEIGHTS_NAME else path.with_suffix(".json")
        return meta, path
    _refuse_foreign(path)
    raise CheckpointError(
        f"{path}: not a DPM Desktop checkpoint (expected a folder with {META_NAME} and {WEIGHTS_NAME})")


def _refuse_foreign(path: Path) -> None:
    """Refuse pickles and torch.save archives by their first bytes, without reading them further."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(
            f"{path}: this is a pickle / PyTorch .pt/.pth file; DPM Desktop loads only safetensors "
            "checkpoints and never unpickles files, because unpickling can run arbitrary code"
        )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and validate a checkpoint's metadata (no weights are loaded)."""
    meta_path, weights_path = _locate(Path(path))
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path}: missing (a checkpoint needs {META_NAME} beside its weights)")
    if not weights_path.is_file():
        raise CheckpointError(
            f"{weights_path}: missing (a checkpoint needs {WEIGHTS_NAME} beside {META_NAME})")
    _refuse_foreign(meta_path)
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise CheckpointError(f"{meta_path}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{meta_path}: corrupt metadata, not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a DPM Desktop checkpoint (format field is not {FORMAT!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: checkpoint format version {version!r} is not supported "
            f"(this DPM Desktop reads version {FORMAT_VERSION})"
        )
    required = {"network": dict, "diffusion": dict, "data": dict, "sha256": str, "name": str}
    for key, typ in required.items():
        if not isinstance(meta.get(key), typ):
            raise CheckpointError(f"{meta_path}: metadata field {key!r} is missing or has the wrong type")
    network = meta["network"]
    if network.get("arch") not in ("paper", "unet") or not isinstance(network.get("config"), dict):
        raise CheckpointError(f"{meta_path}: unknown network description {network!r}")
    data = meta["data"]
    for key in ("channels", "offset", "scale", "data_std"):
        if not _number(data.get(key)):
            raise CheckpointError(f"{meta_path}: data field {key!r} is missing or not a finite number")
    if data["channels"] not in (1, 2, 3) or data["scale"] == 0 or data["data_std"] <= 0:
        raise CheckpointError(f"{meta_path}: data description out of range (channels {data['channels']}, "
                              f"scale {data['scale']}, data_std {data['data_std']})")
    _check_sizes(meta_path, network["arch"], network["config"], meta["diffusion"])
    meta["_paths"] = {"meta": str(meta_path), "weights": str(weights_path)}
    return meta


def _check_sizes(meta_path: Path, arch: str, config: dict[str, Any], diffusion: dict[str, Any]) -> None:
    """Bound every size field of the model description (nothing is built before this passes)."""
    def bad(field: str, value: Any, lo: Any, hi: Any) -> CheckpointError:
        return CheckpointError(f"{meta_path}: network field {field!r} = {value!r} is outside {lo}..{hi}")

    for key, (lo, hi) in NETWORK_LIMITS[arch].items():
        if key in config:
            v = config[key]
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise bad(key, v, lo, hi)
    if arch == "unet" and "mults" in config:
        mults = config["mults"]
        whole = isinstance(mults, list) and all(isinstance(m, int) and not isinstance(m, bool) for m in mults)
        if not whole or not 1 <= len(mults) <= MAX_UNET_LEVELS or not all(1 <= m <= MAX_UNET_MULT for m in mults):
            raise CheckpointError(f"{meta_path}: network field 'mults' = {mults!r} must be a list of "
                                  f"1..{MAX_UNET_LEVELS} whole numbers in 1..{MAX_UNET_MULT}")
    T = diffusion.get("T")
    lo, hi = NETWORK_LIMITS[arch]["T"]
    if not isinstance(T, int) or isinstance(T, bool) or not lo <= T <= hi:
        raise CheckpointError(f"{meta_path}: diffusion field 'T' = {T!r} is outside {lo}..{hi}")


def read_tensor_table(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) from a safetensors file's header, after :func:`check_safetensors`."""
    check_safetensors(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n).decode("utf-8"))
    table = {}
    try:
        for k, v in header.items():
            if k != "__metadata__":
                table[k] = (str(v["dtype"]), tuple(int(d) for d in v["shape"]))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: corrupt safetensors header (a tensor without dtype or shape)") from None
    return table


def _build(meta: dict[str, Any], meta_path: Path) -> GaussianDiffusion:
    try:
        net = build_network(meta["network"]["arch"], meta["network"]["config"])
        return GaussianDiffusion(net, DiffusionConfig.from_dict(meta["diffusion"]))
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{meta_path}: invalid model description ({e})") from None


def _check_fit(expected: dict[str, torch.Tensor], table: dict[str, tuple[str, tuple[int, ...]]],
               weights_path: Path, meta_path: Path) -> None:
    missing = sorted(set(expected) - set(table))
    unexpected = sorted(set(table) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path}: weights do not fit the network in {meta_path.name} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for k, (dtype, shape) in table.items():
        if shape != tuple(expected[k].shape):
            raise CheckpointError(f"{weights_path}: tensor {k} has shape {shape}, "
                                  f"the network needs {tuple(expected[k].shape)}")
        floating = dtype in ("F16", "BF16", "F32", "F64")
        if floating != expected[k].is_floating_point():
            raise CheckpointError(
                f"{weights_path}: tensor {k} has dtype {dtype}, the network needs {expected[k].dtype}")


def inspect_checkpoint(path: Path) -> dict[str, Any]:
    """Validate a checkpoint's structure without loading its weights: the metadata, its size bounds,
    the safetensors header, and every tensor name, shape and kind against the network the metadata
    describes, built on PyTorch's "meta" device (which allocates no memory). Returns the metadata."""
    meta = read_metadata(path)
    meta_path, weights_path = Path(meta["_paths"]["meta"]), Path(meta["_paths"]["weights"])
    _refuse_foreign(weights_path)
    table = read_tensor_table(weights_path)
    with torch.device("meta"):
        expected = _build(meta, meta_path).state_dict()
    _check_fit(expected, table, weights_path, meta_path)
    return meta


def check_safetensors(path: Path) -> None:
    """The file's structure, before anything is loaded: a sane header whose tensors fit in the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if size < 8 or not 0 < n <= min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(
                f"{path}: corrupt safetensors header (declared size {n} bytes, file size {size})")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
            ends = (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__")
            end = max(ends, default=0)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise CheckpointError(f"{path}: corrupt safetensors header (not a valid tensor table)") from None
    if 8 + n + end > size:
        raise CheckpointError(
            f"{path}: truncated: its header lists {end} bytes of tensors, the file holds {size - 8 - n}")


def load_checkpoint(path: Path, *, device: torch.device | str = "cpu",
                    verify_sha256: bool = True) -> Checkpoint:
    """Load and validate a checkpoint; raises :class:`CheckpointError` with a clear message."""
    meta = inspect_checkpoint(path)  # everything is checked against the header before any allocation
    meta_path, weights_path = Path(meta["_paths"]["meta"]), Path(meta["_paths"]["weights"])
    if verify_sha256 and sha256_file(weights_path) != meta["sha256"]:
        raise CheckpointError(
            f"{weights_path}: weights do not match the sha256 in {meta_path.name} (corrupt or altered file)")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except SafetensorError as e:
        raise CheckpointError(f"{weights_path}: corrupt safetensors file ({e})") from None
    diffusion = _build(meta, meta_path)
    expected = diffusion.state_dict()
    for k, v in tensors.items():
        if v.dtype != expected[k].dtype and v.is_floating_point():
            tensors[k] = v.to(expected[k].dtype)  # e.g. a bf16 copy of float32 weights
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{weights_path}: tensor {k} holds NaN or infinite values")
    diffusion.load_state_dict(tensors, strict=True)
    diffusion.eval().requires_grad_(False)
    return Checkpoint(diffusion.to(device), meta, meta_path.parent)

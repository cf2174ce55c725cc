"""What every restoration shares: its error and result types, the checks on array input, the way an
image's channels meet a model's, and the conversions between pixels and model space."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import Checkpoint
from .device import autocast_for
from .imaging import LoadedImage, load_image, to_gray
from .limits import MAX_TILE, MIN_TILE


class RestoreError(Exception):
    """Bad arguments to a restoration (mask size, sigma, mode...); the message says what."""


@dataclass
class RestoreResult:
    pixels: np.ndarray  # H x W x C float32 in [0, 1]
    alpha: np.ndarray | None = None
    uncertainty: np.ndarray | None = None  # H x W, posterior std on the 0-1 scale
    candidates: list[np.ndarray] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bit_depth: int = 8
    info: dict[str, Any] = field(default_factory=dict)


FLOAT_TOLERANCE = 1 / 255  # float pixels may stray this far outside [0, 1] (rounding); they are clipped


def as_image(image: np.ndarray | str | Path | LoadedImage) -> LoadedImage:
    """A LoadedImage from a path or an array. Arrays are H x W or H x W x C (C = 1, 3 or 4 with
    alpha) of uint8 (0-255), uint16 (0-65535) or floats in [0, 1]; anything else is refused, since
    guessing a scale (is 200.0 a bright 8-bit pixel or an overflow?) would silently ruin the result."""
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, (str, Path)):
        return load_image(Path(image))
    if image is None:
        raise RestoreError("no image given")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise RestoreError(f"expected an H x W x C image with C in 1, 3, 4; got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise RestoreError(f"the image is empty ({arr.shape[1]} x {arr.shape[0]} pixels)")
    bit_depth = 16 if arr.dtype == np.uint16 else 8  # so that saving the result keeps 16-bit input 16-bit
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise RestoreError("the image holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -FLOAT_TOLERANCE or hi > 1 + FLOAT_TOLERANCE:
            hint = " (8-bit values? divide by 255, or pass a uint8 array)" if hi <= 255 + FLOAT_TOLERANCE else ""
            raise RestoreError(f"float pixels must lie in [0, 1]; this image's lie in [{lo:g}, {hi:g}]{hint}")
    else:
        raise RestoreError(f"unsupported pixel type {arr.dtype}: pass uint8 (0-255), uint16 (0-65535) "
                           "or floats in [0, 1]")
    alpha = None
    if arr.shape[2] == 4:
        arr, alpha = arr[:, :, :3], arr[:, :, 3]
    return LoadedImage(np.ascontiguousarray(np.clip(arr, 0, 1)), alpha, bit_depth)


def check_tile(tile: int | None) -> None:
    if tile is not None and not (MIN_TILE <= tile <= MAX_TILE):
        raise RestoreError(f"tile must lie in {MIN_TILE}..{MAX_TILE} pixels, got {tile}")


Converter = Callable[[np.ndarray], np.ndarray]


def fit_channels(px: np.ndarray, ckpt: Checkpoint, notes: list[str]) -> tuple[np.ndarray, Converter]:
    """Adapt the image's channels to the model's; returns the model input and the way back."""
    c_img, c_model = px.shape[2], ckpt.channels
    if c_img == c_model:
        return px, lambda y: y
    if c_img == 1 and c_model == 3:
        notes.append("grayscale image restored with a colour model: gray copied to R, G, B and the result "
                     "converted back to gray")
        return np.repeat(px, 3, axis=2), to_gray
    if c_img == 3 and c_model == 1:
        notes.append("colour image restored with a grayscale model: each of R, G, B restored on its own")
        return px, lambda y: y
    raise RestoreError(f"the model has {c_model} channels; images with {c_img} channels are not supported")


def per_channel(ckpt: Checkpoint, px: np.ndarray) -> bool:
    return ckpt.channels == 1 and px.shape[2] == 3


def to_tensor(px: np.ndarray, ckpt: Checkpoint, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(px.transpose(2, 0, 1)))[None]
    return ckpt.to_model_space(t).to(device)


def to_array(y: torch.Tensor, ckpt: Checkpoint) -> np.ndarray:
    return ckpt.from_model_space(y.float().cpu())[0].clamp(0, 1).permute(1, 2, 0).numpy()


def default_tile(device: torch.device) -> int:
    return 512 if device.type == "cuda" else 256


def autocast_on(device: torch.device) -> contextlib.AbstractContextManager:
    return autocast_for(device, "auto")()


def previewer(ckpt: Checkpoint,
               back: Callable[[np.ndarray], np.ndarray]) -> Callable[[torch.Tensor], np.ndarray]:
    """run_chain's preview hook: the predicted x_0 as an H x W x C float32 array in [0, 1] (for
    inpainting, of the region being computed; per-channel restoration previews one channel)."""
    return lambda x0: back(to_array(x0, ckpt))


# The 8 flips/rotations as (quarter turns, mirror): identity and mirror first, then the half turn.


def model_params(ckpt: Checkpoint) -> dict[str, Any]:
    return {"model": ckpt.name, "model_sha256": ckpt.meta["sha256"], "model_path": str(ckpt.folder.resolve()),
            "device": str(ckpt.diffusion.base_betas.device)}

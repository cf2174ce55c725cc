"""``--init-from``: start a run from another model's weights. From a plain model folder, its (EMA)
weights; from a training state (a run folder or a campaign's committed state), its raw weights,
EMA weights and optimizer moments, so that training continues rather than restarts. Where only the
image-channel count (or a paper network's covariance) differs, the weights are adapted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .checkpoint import CheckpointError, check_safetensors, load_checkpoint
from .diffusion import DiffusionConfig, GaussianDiffusion
from .train_config import TrainError


@dataclass
class FineTuneStart:
    """What a run starting from ``--init-from`` takes over, beyond the weights already loaded."""

    source_cfg: DiffusionConfig | None = None  # the starting model's diffusion settings
    ema: dict[str, torch.Tensor] | None = None  # the EMA's weights, when training continues a state
    optimizer: dict[str, torch.Tensor] = field(default_factory=dict)  # ``opt.<index>.<key>`` moments


def start_from(init_from: str, model: GaussianDiffusion) -> FineTuneStart:
    """Load ``init_from``'s weights into ``model`` (adapted where needed) and return what else carries over."""
    try:
        init = load_checkpoint(Path(init_from))
    except CheckpointError as e:
        raise TrainError(f"cannot fine-tune: {e}") from None
    continued = continued_state(init.folder)
    target = model.state_dict()
    if any(k.startswith("model.") and (k[6:] not in target or v.shape != target[k[6:]].shape)
           for k, v in continued.items()):
        continued = {}  # a changed network (channels, covariance): fine-tune from the EMA weights only
    source = {k[6:]: v for k, v in continued.items() if k.startswith("model.")} or init.diffusion.state_dict()
    try:
        grow = model.cfg.covariance == "channels" and init.diffusion.cfg.covariance == "diagonal"
        channels = (init.channels, getattr(model.net.cfg, "channels", init.channels))
        model.load_state_dict(adapt_channels(source, target, grow_readout=grow, channels=channels))
    except RuntimeError:
        raise TrainError(f"cannot fine-tune from {init_from}: its network differs from this run's "
                         "(use the same architecture, preset and channels)") from None
    return FineTuneStart(source_cfg=init.diffusion.cfg, ema=init.diffusion.state_dict() if continued else None,
                         optimizer={k: v for k, v in continued.items() if k.startswith("opt.")})


def continued_state(folder: Path) -> dict[str, torch.Tensor]:
    """A training state's raw weights (``model.*``) and optimizer moments (``opt.*``); empty for a
    plain model folder."""
    path = folder / "train_state.safetensors"
    if not path.is_file():
        return {}
    try:
        check_safetensors(path)
        tensors = load_file(str(path))
    except (CheckpointError, OSError, SafetensorError) as e:
        raise TrainError(f"cannot continue from {path}: {e}") from None
    return {k: v for k, v in tensors.items() if k.startswith(("model.", "opt."))}


def adapt_channels(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], *,
                   grow_readout: bool = False, channels: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
    """Fine-tune a grayscale model from a colour one (or back): where only the image-channel count
    differs, the first convolution's input weights are summed (a gray image fed to a colour network
    is the same gray in R, G and B) or spread, and the output channels (C values, then C
    variance fractions) are averaged or repeated. ``channels``: the source's and the target's image
    channels, needed where a network unshuffles its input (each colour then owns unshuffle^2
    consecutive input and output channels, the sub-pixels, which stay apart); without it the
    channel counts are read from the weights' shapes. ``grow_readout``: a paper network gaining a
    channel covariance keeps its function, its new readout rows (L's entries) start at zero, so
    L = I. Everything else must match exactly."""
    out = dict(source)
    readout = [k for k in target if k.startswith("net.dense_upper.")] if grow_readout else []
    for key in readout[-2:]:  # the last layer's weight and bias
        have, want = source.get(key), target[key]
        if have is not None and have.shape[0] < want.shape[0] and have.shape[1:] == want.shape[1:]:
            out[key] = torch.cat([have, have.new_zeros(want.shape[0] - have.shape[0], *have.shape[1:])])
    for key, want in target.items():
        have = source.get(key)
        if have is None or have.shape == want.shape or have.dim() != want.dim():
            continue
        if key.endswith("inp.weight") and have.shape[0] == want.shape[0]:  # (w, C_in x sub-pixels, k, k)
            c_in, c_want = channels or (have.shape[1], want.shape[1])
            per = have.view(have.shape[0], c_in, have.shape[1] // c_in, *have.shape[2:])
            per = per.sum(1, keepdim=True) if c_want == 1 else per.repeat(1, c_want // c_in, 1, 1, 1) / c_want
            out[key] = per.reshape(want.shape)
        elif key.startswith("net.out.") and have.shape[1:] == want.shape[1:]:  # (2C x sub-pixels, ...): eps, v
            c_have, c_want = channels or (have.shape[0] // 2, want.shape[0] // 2)
            halves = have.view(2, c_have, have.shape[0] // (2 * c_have), *have.shape[1:])
            if c_want == 1:
                out[key] = halves.mean(1, keepdim=True).reshape(want.shape)
            else:
                out[key] = halves.repeat_interleave(c_want // c_have, dim=1).reshape(want.shape)
    return out

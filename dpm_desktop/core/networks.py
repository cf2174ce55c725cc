"""Reverse-process networks. Both map (x_t, t) -> (B, 2C, H, W) and are fully convolutional.

* :class:`PaperNet`: the network of Sohl-Dickstein et al. (2015, App. D; ``regression.py`` of the
  authors' code): stacked multi-scale 3x3 convolutions (mean-pool per scale, convolve, upsample,
  sum) beside a per-pixel dense path, then per-pixel dense layers whose outputs are coefficients on
  J Gaussian "bump" functions of t. Read out at t they give (z_mu, z_sigma). The authors' lower
  dense layers see the whole (fixed-size) image; here they are per pixel, so that a model trained
  on patches runs on photos of any size.
* :class:`UNet`: a compact UNet with a sinusoidal time embedding (Ho et al. 2020), outputting
  (epsilon, v) for the modern parameterisation.

Networks pad their input to a multiple of their coarsest scale and crop the output back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def temporal_basis(T: int, J: int) -> torch.Tensor:
    """(T, J) Gaussian bumps over t, each row normalised to sum to 1 (authors' ``generate_temporal_basis``)."""
    xx = torch.linspace(-1, 1, T, dtype=torch.float64, device="cpu")
    centres = torch.linspace(-1, 1, J, dtype=torch.float64, device="cpu")
    width = (centres[1] - centres[0]) / 2 if J > 1 else torch.tensor(1.0, dtype=torch.float64)
    basis = torch.exp(-((xx[:, None] - centres[None, :]) ** 2) / (2 * width**2))
    return (basis / basis.sum(dim=1, keepdim=True)).float()


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if (ph < h and pw < w) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


@dataclass
class PaperNetConfig:
    channels: int = 1
    T: int = 1000
    n_temporal_basis: int = 10
    conv_width: int = 64
    conv_layers: int = 4
    scales: int = 4  # 1, 2, 4, 8 pixel scales; the receptive field grows with each
    dense_lower_width: int = 128
    dense_lower_layers: int = 2
    dense_lower_out: int = 32
    dense_upper_width: int = 128
    dense_upper_layers: int = 2
    upsample: str = "nearest"  # the authors repeat pixels; "bilinear" is smoother
    extra_outputs: int = 0  # per-pixel outputs after (z_mu, z_sigma), e.g. a channel covariance's L


class MultiScaleConv(nn.Module):
    """sum_s upsample(conv_s(meanpool_{2^s}(x))), then a leaky ReLU (authors' MultiScaleConvolution)."""

    def __init__(self, c_in: int, c_out: int, scales: int, upsample: str) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, padding=1) for _ in range(scales))
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        for s, conv in enumerate(self.convs):
            k = 2**s
            y = conv(F.avg_pool2d(x, k) if k > 1 else x)
            if k > 1:
                kwargs = {"align_corners": False} if self.upsample == "bilinear" else {}
                y = F.interpolate(y, size=x.shape[-2:], mode=self.upsample, **kwargs)
            out = out + y
        return F.leaky_relu(out / len(self.convs), 0.05)


def _pixel_mlp(c_in: int, width: int, layers: int, c_out: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Conv2d(c_in if i == 0 else width, width, 1), nn.LeakyReLU(0.05)]
    mods.append(nn.Conv2d(width if layers else c_in, c_out, 1))
    return nn.Sequential(*mods)


class PaperNet(nn.Module):
    """Outputs (B, 2C + extra, H, W): channels [0, C) are z_mu, [C, 2C) are z_sigma, then the extra
    outputs, all read out at t."""

    def __init__(self, cfg: PaperNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.conv = nn.Sequential(
            *(
                MultiScaleConv(c if i == 0 else cfg.conv_width, cfg.conv_width, cfg.scales, cfg.upsample)
                for i in range(cfg.conv_layers)
            )
        )
        self.dense_lower = _pixel_mlp(c, cfg.dense_lower_width, cfg.dense_lower_layers, cfg.dense_lower_out)
        conv_out = cfg.conv_width if cfg.conv_layers else c  # no conv layers: the conv path is the input
        self.dense_upper = _pixel_mlp(
            conv_out + cfg.dense_lower_out,
            cfg.dense_upper_width,
            cfg.dense_upper_layers,
            (2 * c + cfg.extra_outputs) * cfg.n_temporal_basis,
        )
        # A zero readout makes the untrained model the trivial one: mu = sqrt(1-b_t) x_t, Sigma = b_t.
        nn.init.zeros_(self.dense_upper[-1].weight)
        nn.init.zeros_(self.dense_upper[-1].bias)
        self.register_buffer("basis", temporal_basis(cfg.T, cfg.n_temporal_basis), persistent=False)

    @property
    def multiple(self) -> int:
        return 2 ** (self.cfg.scales - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, h, w = _pad_to_multiple(x, self.multiple)
        feats = torch.cat([self.conv(x), F.leaky_relu(self.dense_lower(x), 0.05)], dim=1)
        coeffs = self.dense_upper(feats)[..., :h, :w]
        b, _, hh, ww = coeffs.shape
        coeffs = coeffs.view(b, 2 * self.cfg.channels + self.cfg.extra_outputs, self.cfg.n_temporal_basis, hh, ww)
        weights = self.basis[t - 1].to(coeffs.dtype)  # (B, J)
        return torch.einsum("bkjhw,bj->bkhw", coeffs, weights)


@dataclass
class UNetConfig:
    channels: int = 3
    T: int = 1000
    width: int = 32
    mults: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    blocks_per_level: int = 1
    dropout: float = 0.0
    # Pixel-unshuffled input (FFDNet): the network runs at 1/unshuffle resolution on unshuffle^2 x more
    # channels, and the output is shuffled back. A wider network and a larger receptive field per FLOP.
    unshuffle: int = 1


def timestep_embedding(t: torch.Tensor, dim: int, T: int) -> torch.Tensor:
    """Sinusoidal embedding of t, with t rescaled to 0..1000 so that any T shares one frequency range."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * (1000.0 / T))[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class PixelNorm(nn.Module):
    """Layer norm over channels at each pixel. Unlike GroupNorm it uses no spatial statistics, so the
    network stays local: a tile gives the same output as the same region of the whole image, and
    64-px training crops behave like 24-megapixel photos."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One fused layer_norm over the channels of a channels-last view: the same maths as mean, variance
        # and affine written out, 3-17x faster forward and 5-10x with its backward on CPU (fp32).
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, 1e-5)
        return y.permute(0, 3, 1, 2)


def _norm(c: int) -> nn.Module:
    return PixelNorm(c)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """Outputs (B, 2C, H, W): channels [0, C) predict epsilon, [C, 2C) the variance interpolation v."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w, emb_dim = cfg.width, cfg.width * 4
        self.emb = nn.Sequential(nn.Linear(w, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        u2 = cfg.unshuffle**2
        self.inp = nn.Conv2d(cfg.channels * u2, w, 3, padding=1)
        self.down = nn.ModuleList()
        chans, c = [w], w
        for level, m in enumerate(cfg.mults):
            for _ in range(cfg.blocks_per_level):
                self.down.append(ResBlock(c, w * m, emb_dim, cfg.dropout))
                c = w * m
                chans.append(c)
            if level < len(cfg.mults) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                chans.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, emb_dim, cfg.dropout), ResBlock(c, c, emb_dim, cfg.dropout)])
        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(cfg.mults))):
            for _ in range(cfg.blocks_per_level + 1):
                self.up.append(ResBlock(c + chans.pop(), w * m, emb_dim, cfg.dropout))
                c = w * m
            if level > 0:
                up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1))
                self.up.append(up)
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, 2 * cfg.channels * u2, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def multiple(self) -> int:
        return self.cfg.unshuffle * 2 ** (len(self.cfg.mults) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, h, w = _pad_to_multiple(x, self.multiple)
        u = self.cfg.unshuffle
        if u > 1:
            x = F.pixel_unshuffle(x, u)
        emb = self.emb(timestep_embedding(t, self.cfg.width, self.cfg.T).to(x.dtype))
        hs = [self.inp(x)]
        for mod in self.down:
            hs.append(mod(hs[-1], emb) if isinstance(mod, ResBlock) else mod(hs[-1]))
        y = hs[-1]
        for mod in self.mid:
            y = mod(y, emb)
        for mod in self.up:
            y = mod(torch.cat([y, hs.pop()], dim=1), emb) if isinstance(mod, ResBlock) else mod(y)
        y = self.out(y)
        if u > 1:
            y = F.pixel_shuffle(y, u)
        return y[..., :h, :w]


ARCHS = {"paper": (PaperNet, PaperNetConfig), "unet": (UNet, UNetConfig)}


def build_network(arch: str, config: dict[str, Any]) -> nn.Module:
    """Build a network from its architecture name and a config dict (as stored in checkpoints)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    net_cls, cfg_cls = ARCHS[arch]
    known = set(cfg_cls.__dataclass_fields__)
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown {arch} network settings: {', '.join(sorted(unknown))}")
    return net_cls(cfg_cls(**config))


def network_config(net: nn.Module) -> dict[str, Any]:
    return asdict(net.cfg)

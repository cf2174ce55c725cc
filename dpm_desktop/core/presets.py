"""Named model sizes and per-dataset defaults, shared by the CLI, the trainer and the wizard."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "unet": {
        "tiny": {"width": 16, "mults": [1, 2], "blocks_per_level": 1},
        "small": {"width": 32, "mults": [1, 2, 2, 2], "blocks_per_level": 1},
        "base": {"width": 48, "mults": [1, 2, 2, 2], "blocks_per_level": 2},
    },
    "paper": {
        "tiny": {"conv_width": 16, "conv_layers": 2, "scales": 2, "dense_lower_width": 32, "dense_lower_out": 8,
                 "dense_upper_width": 32},
        "small": {"conv_width": 64, "conv_layers": 4, "scales": 4},
        "base": {"conv_width": 128, "conv_layers": 4, "scales": 5, "dense_lower_width": 256, "dense_upper_width": 256},
    },
}

# What each kind of data trains with unless told otherwise. The bound needs float32 ("amp": off):
# at small t the reverse step's std is ~1e-2, below bf16's resolution of values near 1.
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    # The paper's Swiss roll: T = 40, an MLP (the paper network on 1x1 "images") with a temporal readout.
    # As in the paper, b_2..b_T are learned on the bound (section 2.4.1); b_1 stays fixed and small.
    # b_1 must be small against the roll's thickness (std 0.0075): the bound cannot exceed E log q(x_1),
    # which is 1.58 bits at b_1 = 1e-4 but 2.31 bits at 1e-6 (the data's own log-density is 2.32).
    "swissroll": {"arch": "paper", "T": 40, "schedule": "paper", "step1_beta": 1e-6, "objective": "bound",
                  "learn_betas": True, "t_sampling": "importance", "amp": "off",
                  "parameterisation": "paper", "batch": 512, "lr": 1e-3, "steps": 20000,
                  "network": {"conv_layers": 0, "dense_lower_width": 128, "dense_lower_layers": 3,
                              "dense_lower_out": 64, "dense_upper_width": 128, "dense_upper_layers": 2,
                              "scales": 1}},
    # Dead leaves: the paper's multi-scale conv network, T = 1000, trained on the bound.
    "deadleaves": {"arch": "paper", "T": 1000, "schedule": "paper", "step1_beta": 1e-3, "objective": "bound",
                   "learn_betas": True, "t_sampling": "importance", "amp": "off",
                   "parameterisation": "paper", "batch": 32, "lr": 1e-3, "patch": 64, "steps": 20000},
    # Photos: the modern parameterisation.
    "folder": {"arch": "unet", "T": 1000, "schedule": "cosine", "step1_beta": 1e-3, "objective": "hybrid",
               "learn_betas": False, "t_sampling": "uniform",
               "parameterisation": "eps", "batch": 16, "lr": 2e-4, "patch": 64, "steps": 20000},
}


def network_settings(arch: str, preset: str, data_kind: str) -> dict[str, Any]:
    if arch not in PRESETS:
        raise ValueError(f"unknown architecture {arch!r}; choose paper or unet")
    if preset not in PRESETS[arch]:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[arch])}")
    settings = dict(PRESETS[arch][preset])
    defaults = DATA_DEFAULTS.get(data_kind, {})
    if defaults.get("arch") == arch:
        settings.update(defaults.get("network", {}))
    return settings

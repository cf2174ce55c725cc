"""The accepted range of every size-like setting, in one place (no torch: the command line checks
them while it parses, before anything heavy is imported; the engine checks them for API callers)."""

from __future__ import annotations

# The accepted range of every size-like training setting: the command line checks them as it parses,
# TrainConfig.resolved() for API callers. (lo, hi), inclusive; a float whose lo is 0 excludes it.
TRAIN_LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, 10**9), "minutes": (0.0, 10.0**6), "batch": (1, 4096), "patch": (8, 1024), "lr": (0.0, 1.0),
    "warmup": (0, 10**7), "ema_decay": (0.0, 1.0), "T": (2, 100_000), "step1_beta": (0.0, 0.5),
    "min_scale": (0.01, 1.0), "threads": (1, 1024), "checkpoint_every": (1, 10**9), "val_every": (1, 10**9),
    "seed": (0, 2**63 - 1), "val_count": (1, 100_000),
}
OPEN_LOW = {"minutes", "lr", "step1_beta"}  # must be > lo

# Tiles smaller than this spend more on their overlap than on their inside (and 1-px tiles never end);
# larger ones exceed what any device holds for a UNet's activations.
MIN_TILE, MAX_TILE = 32, 8192
MAX_SAMPLES, MAX_SAMPLE_SIZE = 4096, 4096
MAX_SAMPLE_PIXELS = 2**26  # n x size^2 of `dpm sample`: 64 megapixels (about 1.5 GB of chain state in float32)

# Every size field a checkpoint's model.json may hold, checked before any network is built: a folder
# asking for width 4096 must be refused by reading, not by trying to allocate ~95 GiB.
NETWORK_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "unet": {"channels": (1, 4), "T": (2, 100_000), "width": (1, 1024), "blocks_per_level": (1, 8),
             "unshuffle": (1, 8)},
    "paper": {"channels": (1, 4), "T": (2, 100_000), "n_temporal_basis": (1, 1000), "conv_width": (1, 1024),
              "conv_layers": (0, 32), "scales": (1, 10), "dense_lower_width": (1, 4096), "dense_lower_layers": (0, 16),
              "dense_lower_out": (1, 4096), "dense_upper_width": (1, 4096), "dense_upper_layers": (0, 16),
              "extra_outputs": (0, 16)},
}
MAX_UNET_LEVELS, MAX_UNET_MULT = 8, 16

# Every size field of a learned defect detector's detector.json (core/defect_net.py), checked before
# the network is built.
DETECTOR_LIMITS: dict[str, tuple[int, int]] = {"in_channels": (1, 4), "width1": (1, 256), "width2": (1, 256),
                                               "width3": (1, 512), "dilations": (0, 8), "max_dilation": (1, 64),
                                               "context": (0, 3)}

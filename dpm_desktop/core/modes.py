"""Every named choice of the engine, in one place (no torch): the engine checks against these, the
command line offers them as argparse choices, the app's task model builds its menus from them."""

from __future__ import annotations

from typing import Literal, get_args

DenoiseMode = Literal["mean", "sample", "paper"]
ClampMode = Literal["x0", "repaint", "paper"]  # see inpaint.ClampCondition
InpaintPreset = Literal["fast", "best"]  # see inpaint.PRESETS
Parameterisation = Literal["paper", "eps"]
Covariance = Literal["diagonal", "channels"]
Objective = Literal["bound", "hybrid"]
Schedule = Literal["paper", "linear", "cosine"]
TimestepSampling = Literal["uniform", "importance", "restoration"]
Amp = Literal["auto", "bf16", "off"]
LrDecay = Literal["cosine", "none"]
Arch = Literal["paper", "unet"]
NetworkPreset = Literal["tiny", "small", "base"]
DetectMethod = Literal["combined", "likelihood", "learned"]  # see detect.py; the first is the default

DENOISE_MODES: tuple[str, ...] = get_args(DenoiseMode)
CLAMP_MODES: tuple[str, ...] = get_args(ClampMode)
INPAINT_PRESETS: tuple[str, ...] = get_args(InpaintPreset)
PARAMETERISATIONS: tuple[str, ...] = get_args(Parameterisation)
COVARIANCES: tuple[str, ...] = get_args(Covariance)
OBJECTIVES: tuple[str, ...] = get_args(Objective)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
T_SAMPLINGS: tuple[str, ...] = get_args(TimestepSampling)
AMPS: tuple[str, ...] = get_args(Amp)
LR_DECAYS: tuple[str, ...] = get_args(LrDecay)
ARCHS: tuple[str, ...] = get_args(Arch)
NETWORK_PRESETS: tuple[str, ...] = get_args(NetworkPreset)
DETECT_METHODS: tuple[str, ...] = get_args(DetectMethod)
DEFAULT_DETECTOR = "defects-wide"  # the bundled defect detector used unless one is named (defect_net)

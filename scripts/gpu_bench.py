"""The GPU figures of the campaign's burst (issue 12 §3), as JSON on stdout: the device, one UNet call
of the shipped photo-rgb at 256 px in fp32 and bf16, a 512 x 512 denoise and a 96 px object removal
(fast preset) through the API, each after a warm-up. Runs on the CPU too (to test it)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dpm_desktop.core.model_cache import get_model
from dpm_desktop.core.restore import denoise, inpaint

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def main() -> int:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = ROOT / "models" / "photo-rgb"
    ckpt = get_model(model, channels=3, device=dev)
    net = ckpt.diffusion.net
    x = torch.randn(1, 3, 256, 256, device=dev)
    t = torch.full((1,), 100, device=dev)
    out: dict[str, object] = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                              "torch": torch.__version__}
    with torch.inference_mode():
        out["unet_256_fp32_ms"] = 1000 * timed(lambda: net(x, t))
        if dev.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out["unet_256_bf16_ms"] = 1000 * timed(lambda: net(x, t))
    rng = np.random.default_rng(0)
    photo = rng.random((512, 512, 3)).astype(np.float32)
    out["denoise_512_s"] = timed(lambda: denoise(photo, sigma=25, model=model, device=str(dev)), 2)
    mask = np.zeros((512, 512), bool)
    mask[208:304, 208:304] = True
    out["inpaint_fast_96px_s"] = timed(lambda: inpaint(photo, mask, model=model, device=str(dev)), 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

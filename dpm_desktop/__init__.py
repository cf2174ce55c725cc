"""DPM Desktop: photo restoration with diffusion probabilistic models (Sohl-Dickstein et al. 2015).

The Python API equals the command line::

    from dpm_desktop import denoise, inpaint, load_image, save_image
    result = denoise("noisy.png", sigma=25)
    save_image("clean.png", result.pixels)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["denoise", "estimate_sigma", "inpaint", "load_image", "save_image"]


def __getattr__(name: str) -> Any:  # lazy, so that `import dpm_desktop` does not import torch
    if name in ("denoise", "inpaint", "estimate_sigma"):
        from .core import restore

        return getattr(restore, name)
    if name in ("load_image", "save_image"):
        from .core import imaging

        return getattr(imaging, name)
    raise AttributeError(name)

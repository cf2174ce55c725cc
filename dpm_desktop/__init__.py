"""DPM Desktop: photo restoration with diffusion probabilistic models (Sohl-Dickstein et al. 2015).

The Python API equals the command line::

    from dpm_desktop import denoise, inpaint, load_image, save_image
    result = denoise("noisy.png", sigma=25)
    save_image("clean.png", result.pixels)
"""

from __future__ import annotations

import os
from typing import Any

# numpy advises the kernel to back large arrays with transparent huge pages. Where THP defrag is
# "madvise" (the usual Linux default) the first touch of a big photo's arrays can stall in page
# compaction: a whole 24 MP inpaint measured 25.5 s with it and 17.5 s without (system time 9 s -> 2 s),
# a 512 px one 16.6 -> 15.3 s. Only takes effect when numpy is imported after this package (the CLI, the
# app, the trainer); set NUMPY_MADVISE_HUGEPAGE=1 to keep numpy's choice.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

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

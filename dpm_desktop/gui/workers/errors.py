"""Turn any exception from a job into one clear sentence for the user (and details for a bug report)."""

from __future__ import annotations

import traceback

from dpm_desktop.core.checkpoint import CheckpointError
from dpm_desktop.core.errors import USER_ERRORS
from dpm_desktop.core.progress import Cancelled

from ..model.mask_ops import MaskError


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def describe(exc: BaseException) -> tuple[str, str]:
    """(message, details). Details hold the traceback only for unexpected errors."""
    if isinstance(exc, Cancelled):
        return "Cancelled.", ""
    if is_out_of_memory(exc):
        return ("Not enough memory for this job. Try the CPU instead of the GPU, fewer candidates or "
                "samples, or a smaller image. Nothing was changed."), ""
    if isinstance(exc, CheckpointError):
        return f"This model cannot be used: {exc}", ""
    if isinstance(exc, (*USER_ERRORS, MaskError)):
        return str(exc)[:1:].upper() + str(exc)[1:], ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Unexpected error ({type(exc).__name__}): {exc}", details

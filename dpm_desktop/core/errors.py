"""The errors that mean "bad input or environment", shown to users as one clear line."""

from __future__ import annotations

from .checkpoint import CheckpointError
from .datasets import DatasetError
from .imaging import ImageError
from .progress import Cancelled
from .restore import RestoreError
from .train import TrainError

USER_ERRORS: tuple[type[BaseException], ...] = (CheckpointError, DatasetError, ImageError, TrainError, Cancelled,
                                                 RestoreError,
                                                 FileNotFoundError, PermissionError, IsADirectoryError)

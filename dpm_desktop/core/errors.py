"""The errors that mean "bad input or environment", shown to users as one clear line."""

from __future__ import annotations

from .checkpoint import CheckpointError
from .datasets import DatasetError
from .device import DeviceError
from .imaging import ImageError
from .outputs import OutputError
from .progress import Cancelled
from .restore import RestoreError
from .train import TrainError

USER_ERRORS: tuple[type[BaseException], ...] = (CheckpointError, DatasetError, DeviceError, ImageError, OutputError,
                                                 TrainError, Cancelled, RestoreError,
                                                 FileNotFoundError, PermissionError, IsADirectoryError)

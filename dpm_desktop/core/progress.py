"""One progress + cancel protocol for every long job (restoration, sampling, training).

A job receives a :class:`Reporter`. It calls ``reporter.step(i, total, preview=...)`` once per unit
of work; that checks the cancel token (raising :class:`Cancelled`) and forwards a
:class:`Progress` to the callback. The CLI renders it as a text bar, the GUI turns it into Qt
signals, the trainer writes JSON lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised inside a job when its cancel token was set; the job leaves no partial output."""


class CancelToken:
    """Thread-safe flag; the GUI sets it, the worker checks it every step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


@dataclass
class PlacedPreview:
    """A preview of part of the image: ``pixels`` (H x W x C float in [0, 1]) show the region
    (x0, y0, x1, y1) of the whole image, at that region's size or smaller. Inpainting sends these, so
    an app can draw the fill where it will go while it is refined."""

    pixels: Any
    region: tuple[int, int, int, int]


@dataclass
class Progress:
    step: int
    total: int
    message: str = ""
    elapsed_s: float = 0.0
    eta_s: float | None = None
    preview: Any = None  # an HxWxC float array in [0, 1], or a PlacedPreview, when the job has one to show
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """What a job holds: report progress, check for cancellation, optionally sub-divide the work."""

    def __init__(self, callback: ProgressCallback | None = None, token: CancelToken | None = None,
                 *, offset: int = 0, total: int | None = None, message: str = "") -> None:
        self.callback = callback
        self.token = token or CancelToken()
        self._start = time.monotonic()
        self._offset = offset
        self._outer_total = total
        self.message = message

    def check(self) -> None:
        self.token.raise_if_cancelled()

    def step(self, i: int, total: int, *, preview: Any = None, message: str | None = None, **extra: Any) -> None:
        self.check()
        if self.callback is None:
            return
        step, all_steps = self._offset + i, self._outer_total or total
        elapsed = time.monotonic() - self._start
        eta = elapsed / step * (all_steps - step) if step > 0 else None
        self.callback(Progress(step, all_steps, message if message is not None else self.message,
                               elapsed, eta, preview, extra))

    def sub(self, offset: int, total: int, message: str = "") -> Reporter:
        """A reporter for one part of a larger job: its steps are shifted by ``offset`` of ``total``."""
        sub = Reporter(self.callback, self.token, offset=self._offset + offset,
                       total=self._outer_total or total, message=message or self.message)
        sub._start = self._start
        return sub


NULL_REPORTER = Reporter()

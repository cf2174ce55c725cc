"""What every ``dpm`` command shares, without torch: the error type, the progress line, signals.

Exit statuses (documented in ``dpm --help``): 0 success; 1 a failure the message explains; 2 a bad
argument (argparse); 128 + the signal's number when stopped by a signal: 130 Ctrl-C (SIGINT),
143 SIGTERM, 129 SIGHUP. A stopped command removes its temporary files and writes no output.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any


class CliError(Exception):
    pass


class Interrupted(BaseException):
    """A stop signal arrived while a command was working."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
_finished = False


def _on_signal(signum: int, _frame: Any) -> None:
    if not _finished:
        raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP all cancel the command the same way (cleanup, one line, 128 + n)."""
    global _finished
    _finished = False
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)


def outputs_complete() -> None:
    """From here on the command's work is done and on disk: a late signal is not a cancellation."""
    global _finished
    _finished = True


def int_in(lo: int, hi: int, what: str) -> Any:
    """An argparse ``type`` for an integer in [lo, hi], with a one-line message otherwise."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must lie in {lo}..{hi}, got {value}")
        return value

    return parse


def float_in(lo: float, hi: float, what: str, *, open_low: bool = False) -> Any:
    import argparse
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not math.isfinite(value) or value > hi or value < lo or (open_low and value == lo):
            bound = f"({lo:g}, {hi:g}]" if open_low else f"[{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"{what} must lie in {bound}, got {text}")
        return value

    return parse


class TextProgress:
    """Progress on stderr: on a terminal a one-line bar with ETA redrawn in place; in a log or a pipe
    (CI, ``2> file``) a plain line at each tenth of the work and at most every 10 s, never a ``\r``.

    (tqdm and rich were tried into a file: tqdm writes its ``\r``-redrawn bar there too, every 0.1 s;
    rich writes only the final state. Neither gives periodic plain lines, so this stays ours.)"""

    PLAIN_EVERY_S = 10.0

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label, self.stream, self.last = label, stream or sys.stderr, 0.0
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.tenth = -1

    def __call__(self, p: Any) -> None:
        if not self.interactive:
            self._plain(p)
            return
        now = time.monotonic()
        if now - self.last < 0.2 and p.step < p.total:
            return
        self.last = now
        width = 30
        filled = int(width * p.fraction)
        eta = f" ETA {fmt_s(p.eta_s)}" if p.eta_s is not None and p.step < p.total else ""
        msg = f" {p.message}" if p.message else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {p.step}/{p.total}{eta}{msg}   ")
        global _line_open
        _line_open = p.step < p.total
        if not _line_open:
            self.stream.write("\n")
        self.stream.flush()

    def _plain(self, p: Any) -> None:
        now, tenth = time.monotonic(), int(10 * p.fraction)
        done = p.step >= p.total
        if not done and tenth <= self.tenth and now - self.last < self.PLAIN_EVERY_S:
            return
        if done and self.tenth > 10:  # the end is written once
            return
        self.last, self.tenth = now, 11 if done else tenth
        eta = f", ETA {fmt_s(p.eta_s)}" if p.eta_s is not None and not done else ""
        msg = f" {p.message}" if p.message else ""
        self.stream.write(f"{self.label}: {p.step}/{p.total} ({100 * p.fraction:.0f}%){eta}{msg}\n")
        self.stream.flush()


_line_open = False  # a progress line without its newline is on stderr


def end_progress_line() -> None:
    """Before a message: end an unfinished progress line, so the message starts a line of its own."""
    global _line_open
    if _line_open:
        sys.stderr.write("\n")
        _line_open = False


def fmt_s(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__

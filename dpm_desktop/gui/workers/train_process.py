"""The trainer as a child process (``dpm train --progress jsonl``), so that a crash, Stop or
Cancel never takes the application down and the GPU memory of a run is freed when it ends.

Stop and keep creates the run folder's ``STOP`` file: the trainer finishes its step, writes a
checkpoint and exits (the same on every platform; Windows cannot send SIGTERM to a console child).
Pause is SIGSTOP / SIGCONT on POSIX, unless ``pause_by_signal`` is off (Windows, and runs measured
in minutes, whose clock would count a suspended process's time): then Pause is Stop and keep and
Resume starts the trainer again with ``--resume``, which continues exactly.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from dpm_desktop.core.train import PARENT_ENV, STOP_FILE

from ..model.training_run import parse_event

CAN_SUSPEND = hasattr(signal, "SIGSTOP")  # POSIX
STDERR_LINES = 200

# States: idle -> starting -> running <-> paused (via pausing / resuming) -> stopping | cancelling -> ended
ACTIVE = ("starting", "running", "pausing", "paused", "resuming", "stopping", "cancelling")


def trainer_command() -> list[str]:
    """How to run ``dpm train``: the packaged ``dpm`` executable beside this one, or this Python."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("dpm.exe" if os.name == "nt" else "dpm")), "train"]
    return [sys.executable, "-m", "dpm_desktop.cli", "train"]


@dataclass(frozen=True)
class Outcome:
    kind: str  # done | stopped (Stop and keep) | cancelled | crashed
    message: str = ""
    details: str = ""  # the trainer's last stderr lines

    @property
    def ok(self) -> bool:
        return self.kind in ("done", "stopped")


class TrainProcess(QObject):
    """One training run's child process (restarted with --resume when paused by stopping)."""

    event = Signal(dict)  # every trainer event, in order
    stateChanged = Signal(str)
    ended = Signal(object)  # Outcome, once, when the run is over

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = "idle"
        self.run_dir: Path | None = None
        self.args: list[str] = []
        self.pause_by_signal = CAN_SUSPEND
        self.outcome: Outcome | None = None
        self._proc: QProcess | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._intent: str | None = None  # pause | stop | cancel: why the process is ending
        self._held: list[dict[str, Any]] = []  # stopped/done of a pause-by-stopping, not forwarded
        self._last_error: str | None = None
        self._finished = False  # the trainer reported done

    # queries -------------------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def is_running(self) -> bool:
        """A child process exists (possibly suspended)."""
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        return int(self._proc.processId()) if self._proc is not None else None

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    # control -------------------------------------------------------------------------------------
    def start(self, args: list[str], run_dir: Path, *, resume: bool = False,
              pause_by_signal: bool | None = None) -> None:
        """Start ``dpm train ARGS --progress jsonl`` (ARGS include ``--out run_dir``)."""
        if self.is_active:
            raise RuntimeError("a training run is already active")
        self.run_dir, self.args = Path(run_dir), [a for a in args if a != "--resume"]
        self.pause_by_signal = CAN_SUSPEND if pause_by_signal is None else (pause_by_signal and CAN_SUSPEND)
        self.outcome, self._intent, self._held, self._last_error, self._finished = None, None, [], None, False
        self._stderr.clear()
        self._set_state("starting")
        self._launch(resume)

    def pause(self) -> None:
        if self.state not in ("starting", "running", "resuming") or self._proc is None:
            return
        if self.pause_by_signal:
            os.kill(int(self._proc.processId()), signal.SIGSTOP)
            self._set_state("paused")
        else:
            self._intent = "pause"
            self._request_stop()
            self._set_state("pausing")

    def resume(self) -> None:
        if self.state != "paused":
            return
        if self._proc is not None:  # suspended
            os.kill(int(self._proc.processId()), signal.SIGCONT)
            self._set_state("running")
        else:  # stopped with a checkpoint: continue it in a new process
            self._held = []
            self._intent = None
            self._set_state("resuming")
            self._launch(resume=True)

    def stop(self) -> None:
        """Stop and keep: a checkpoint at the current step, then the run ends as 'stopped'."""
        if self.state == "paused" and self._proc is None:
            self._forward_held()
            self._end(Outcome("stopped"))
            return
        if self.state not in ("starting", "running", "resuming", "pausing", "paused") or self._proc is None:
            return
        self._intent = "stop"
        self._request_stop()
        if self.state == "paused":
            os.kill(int(self._proc.processId()), signal.SIGCONT)
        self._set_state("stopping")

    def cancel(self) -> None:
        """Kill the trainer at once (nothing more is saved)."""
        if self._proc is None:
            if self.state == "paused":
                self._end(Outcome("cancelled", "Training was cancelled."))
            return
        self._intent = "cancel"
        self._set_state("cancelling")
        self._proc.kill()  # SIGKILL also ends a suspended process

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop and keep, waiting for the checkpoint (the application is closing); kill the trainer
        if it takes longer than ``timeout_ms``. True if it stopped cleanly."""
        proc = self._proc
        if proc is None:
            return True
        if self._intent != "cancel":
            self.stop()
        if proc.waitForFinished(timeout_ms):
            return self._intent != "cancel"
        proc.kill()
        proc.waitForFinished(10_000)
        return False

    # the process ---------------------------------------------------------------------------------
    def _launch(self, resume: bool) -> None:
        assert self.run_dir is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / STOP_FILE).unlink(missing_ok=True)
        program, *prefix = trainer_command()
        args = [*prefix, *self.args, "--progress", "jsonl", *(["--resume"] if resume else [])]
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        env.insert(PARENT_ENV, str(os.getpid()))  # if the app dies, the trainer stops with a checkpoint
        if not getattr(sys, "frozen", False):  # the child imports this very source tree
            root = str(Path(__file__).resolve().parents[3])
            env.insert("PYTHONPATH", os.pathsep.join(p for p in (root, env.value("PYTHONPATH")) if p))
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(self.run_dir))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc, self._buffer = proc, b""
        proc.start(program, args)

    def _request_stop(self) -> None:
        if self.run_dir is not None:
            (self.run_dir / STOP_FILE).touch()

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._buffer += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._handle_line(line)

    def _handle_line(self, line: bytes) -> None:
        e = parse_event(line)
        if e is None:
            if line.strip():
                self._stderr.append(line.decode("utf-8", errors="replace"))
            return
        kind = e["event"]
        if kind == "error":
            self._last_error = str(e.get("message", ""))
        if kind == "done" and not e.get("stopped"):
            self._finished = True
        if self._intent == "pause" and kind in ("stopped", "done") and e.get("stopped", True):
            self._held.append(e)  # a pause, not the end of the run
            return
        if kind in ("start", "resumed") and self.state in ("starting", "resuming"):
            self._set_state("running")
        self.event.emit(e)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        self._stderr.extend(line for line in text.splitlines() if line.strip())

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self._proc is None or self.sender() not in (None, self._proc):
            return
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            self._handle_line(self._buffer)
        proc, self._proc = self._proc, None
        proc.deleteLater()
        if self.run_dir is not None:
            (self.run_dir / STOP_FILE).unlink(missing_ok=True)
        crashed = status != QProcess.ExitStatus.NormalExit or code != 0
        if self._intent == "cancel":
            self._end(Outcome("cancelled", "Training was cancelled."))
        elif not crashed and self._intent == "pause" and self._held and not self._finished:
            self._set_state("paused")  # resumes with --resume
        elif not crashed and (self._finished or self._held or self._intent == "stop"):
            self._forward_held()
            self._end(Outcome("done" if self._finished else "stopped"))
        else:
            self._forward_held()
            self._end(Outcome("crashed", self._crash_message(code, status), self.stderr_tail()))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        proc = self._proc
        if error == QProcess.ProcessError.FailedToStart and proc is not None:
            message = f"Could not start the trainer ({proc.program()}): {proc.errorString()}"
            self._proc = None
            proc.deleteLater()
            self._end(Outcome("crashed", message))

    def _crash_message(self, code: int, status: QProcess.ExitStatus) -> str:
        if self._last_error:
            return f"Training failed: {self._last_error}"
        if status != QProcess.ExitStatus.NormalExit:
            return "The trainer stopped unexpectedly (its process was killed or crashed)."
        return f"The trainer stopped unexpectedly (exit code {code})."

    def _forward_held(self) -> None:
        held, self._held = self._held, []
        for e in held:
            self.event.emit(e)

    def _end(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._intent = None
        self._set_state("ended")
        self.ended.emit(outcome)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

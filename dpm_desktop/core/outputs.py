"""All the files one command writes, checked before any work and written as one unit.

An :class:`OutputSet` is told every output path first (the result, extra candidates, an
uncertainty map, a sidecar). It refuses, before anything is computed: two outputs that name the
same file, an output that is an input (unless explicitly allowed), an existing file without
``overwrite``, a missing folder, and a folder it cannot create a file in (probed with a real
temporary file, which also finds read-only mounts that permission bits do not show).

The outputs are then *staged*: each is written completely to a hidden temporary file beside its
target. Only when every one of them is staged are they renamed into place; any failure (a full
disk, an interrupt) removes the temporary files, so either all outputs exist or none was changed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from .atomic import _fsync_dir, _target_mode


class OutputError(Exception):
    """An output that cannot be written; the message names the file and says what exists."""


def _key(path: Path) -> str:
    """One spelling per file: absolute, symlinks of the folder resolved, case-folded where the OS folds."""
    p = Path(path)
    parent = p.parent.resolve() if p.parent.exists() else Path(os.path.abspath(p.parent))
    return os.path.normcase(str(parent / p.name))


def sidecar_path(output: Path) -> Path:
    """Where an output's settings sidecar goes: OUTPUT.json beside it (the CLI, the app, the batch)."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def same_file(a: Path, b: Path) -> bool:
    """True when a and b name one file: the same spelling, or (both existing) the same inode."""
    if _key(a) == _key(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


class OutputSet:
    def __init__(self, inputs: Iterable[Path] = (), *, overwrite: bool = False) -> None:
        self.inputs = [Path(p) for p in inputs]  # the first is the one an output may replace, when allowed
        self.overwrite = overwrite
        self.paths: list[Path] = []
        self.roles: dict[str, str] = {}
        self.staged: dict[Path, Path] = {}  # target -> temporary file
        self.committed = False

    # -- declaring -------------------------------------------------------------------------------
    def add(self, path: Path | str, role: str, *, replace_input: bool = False) -> Path:
        """Declare an output and check it now; raises :class:`OutputError`. ``replace_input``: this
        output may replace the first input (``--overwrite-input``); never any other input."""
        path = Path(path)
        key = _key(path)
        if key in self.roles:
            raise OutputError(f"{path}: named twice, as the {self.roles[key]} and as the {role}; "
                              "every output must be a different file")
        for other in self.paths:
            if same_file(path, other):
                raise OutputError(f"{path}: is the same file as {other} (the {self.roles[_key(other)]})")
        replacing = False
        for i, src in enumerate(self.inputs):
            if same_file(path, src):
                if not (replace_input and i == 0):
                    hint = " (pass --overwrite-input to allow)" if i == 0 and role == "result" else ""
                    raise OutputError(f"{path}: is an input file; refusing to overwrite it with the {role}{hint}")
                replacing = True
        if path.exists():
            if not path.is_file():
                raise OutputError(f"{path}: exists and is not a regular file")
            if not (self.overwrite or replacing):
                raise OutputError(f"{path}: exists already (pass --overwrite to replace it)")
        folder = path.parent
        if not folder.is_dir():
            raise OutputError(f"{path}: folder {folder} does not exist")
        self._probe(folder, path)
        self.roles[key] = role
        self.paths.append(path)
        return path

    @staticmethod
    def _probe(folder: Path, path: Path) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix=".dpm-probe.", dir=folder)
        except OSError as e:
            raise OutputError(f"{path}: cannot write in {folder} ({e.strerror or e})") from None
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)

    # -- writing ---------------------------------------------------------------------------------
    def stage(self, path: Path, data: bytes) -> None:
        """Write ``data`` completely to a temporary file beside ``path`` (not yet visible)."""
        path = Path(path)
        if path not in self.paths:
            raise ValueError(f"{path} was not declared as an output")
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        tmp = Path(name)
        self.staged[path] = tmp
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _target_mode(path))
        except OSError as e:
            self.abort()
            raise OutputError(f"{path}: could not write ({e.strerror or e}); nothing was written") from None

    def write(self, files: dict[Path, bytes]) -> list[Path]:
        """Stage every declared output's bytes, then commit: all of them land, or none does."""
        with self:
            for path, data in files.items():
                self.stage(path, data)
            return self.commit()

    def commit(self) -> list[Path]:
        """Rename every staged file into place. Every declared output must be staged."""
        missing = [p for p in self.paths if p not in self.staged]
        if missing:
            self.abort()
            raise ValueError(f"outputs not staged: {', '.join(map(str, missing))}")
        done: list[Path] = []
        for path in self.paths:
            try:
                os.replace(self.staged[path], path)
            except OSError as e:
                self.abort()
                written = ", ".join(map(str, done)) or "none"
                raise OutputError(f"{path}: could not be put in place ({e.strerror or e}); "
                                  f"written already: {written}") from None
            done.append(path)
            del self.staged[path]
        for folder in {p.parent for p in self.paths}:
            _fsync_dir(folder)
        self.committed = True
        return done

    def abort(self) -> None:
        """Remove every staged temporary file; declared targets are untouched."""
        for tmp in self.staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.staged.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()

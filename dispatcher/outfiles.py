"""Where a report goes: whatever the user named, written without destroying anything.

- `-`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N` are written to that
  open descriptor (so `--report-json /dev/stdout` in a pipeline, and `>(jq .)`, work; reopening
  `/dev/stdout` by name would truncate a file the shell redirected stdout to).
- A symlink is followed; a device, FIFO or terminal at the end of it is written to directly
  (`/dev/null` stays a device, as root too).
- Only a regular file (or a new one) is replaced atomically, through a temporary file beside
  the resolved target, keeping the old file's permission bits: a reader never sees half a report
  and an interrupted write leaves the old one whole.
- A directory, a socket, or a place that cannot be written is refused before the run.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from pathlib import Path

from .errors import ConfigError

_FD_PATH = re.compile(r"/dev/fd/(\d+)|/proc/self/fd/(\d+)")
_STD = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2}


def descriptor(path: Path | str) -> int | None:
    """The open file descriptor a path names directly, if it names one."""
    text = str(path)
    if text in _STD:
        return _STD[text]
    match = _FD_PATH.fullmatch(text)
    return int(match.group(1) or match.group(2)) if match else None


def to_stdout(path: Path | str | None) -> bool:
    return path is not None and descriptor(path) == 1


def check_target(path: Path, flag: str) -> Path:
    """Refuse, before any work, a report path that cannot be written (one line for the CLI)."""
    fd = descriptor(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise ConfigError(f"{flag} = '{path}': file descriptor {fd} is not open") from None
        return path
    resolved = path.resolve()
    try:
        mode: int | None = resolved.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{flag} = '{path}': cannot use it ({exc.strerror})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{flag} = '{path}': is a directory, not a file")
    if mode is not None and stat.S_ISSOCK(mode):
        raise ConfigError(f"{flag} = '{path}': is a socket, not a file")
    if mode is not None and not stat.S_ISREG(mode):
        if not os.access(resolved, os.W_OK):
            raise ConfigError(f"{flag} = '{path}': not writable")
        return path  # a device, FIFO or terminal: written to directly
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} = '{path}': cannot create its folder ({exc.strerror})") from None
    try:
        # Tried, not asked: os.access says yes to root even on /proc or a read-only mount.
        handle, probe = tempfile.mkstemp(dir=resolved.parent, prefix=f".{resolved.name}.")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag} = '{path}': cannot write there ({exc.strerror})") from None
    return path


def write(path: Path, text: str) -> None:
    """Write `text` to `path` by the rules above; a failure is a one-line ConfigError."""
    data = text.encode("utf-8")
    fd = descriptor(path)
    try:
        if fd is not None:
            _write_descriptor(fd, data)
            return
        resolved = path.resolve()
        try:
            mode: int | None = resolved.stat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            with open(resolved, "wb") as stream:  # a device or a FIFO: never replaced
                stream.write(data)
            return
        _replace_atomically(resolved, data, mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror or exc})") from None


def _write_descriptor(fd: int, data: bytes) -> None:
    # What the console printed first must come out first.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace_atomically(target: Path, data: bytes, old_mode: int | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if old_mode is not None:
            os.chmod(tmp, stat.S_IMODE(old_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # what open() would have made, not mkstemp's 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

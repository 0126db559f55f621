"""Writing files on a shared drive without ever leaving one half-written."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Write through a temporary file in the same folder and move it into place in one step.

    A run killed at any moment leaves the previous file untouched. When the target cannot be
    replaced (an analyst has it open in Excel on Windows), a timestamped file is written
    beside it and its path returned.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".~evalbatch-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private; others on the shared drive must be able to read it.
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.replace(tmp, target)
            return target
        except PermissionError:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            beside = target.with_name(f"{target.stem}_{stamp}{target.suffix}")
            os.replace(tmp, beside)
            return beside
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def unique_path(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`… when it exists (two runs in the same second)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate

"""Placing a submission in the inbox: complete when it appears, previous versions kept.

INBOX/<单位编码>/<单位编码>_<time>_<sha8><ext>: written under a temporary (hidden) name in the
same folder and moved into place with os.replace. The unit's earlier files move to
INBOX/<单位编码>/.previous/<time>/ (hidden: discovery never reads them). A marker file lists
what the server placed with its size and modification time; the night trusts those files as
complete without waiting out --settle (read/discover.py), and only while both still match.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path

from ..files import TMP_PREFIX, atomic_write, retrying, write_reason
from ..read.discover import PLACED_MARKER

log = logging.getLogger("evalbatch")
PREVIOUS_DIR = ".previous"
_SAFE_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def unit_folder(inbox: Path, unit: str) -> Path:
    """The unit's folder; a code that is not plain digits and letters never becomes a path."""
    if not _SAFE_CODE.match(unit):
        raise ValueError(f"单位编码不能用作文件夹名：{unit!r}")
    return Path(inbox) / unit


def _lock(unit: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(unit, threading.Lock())


def place(inbox: Path, unit: str, files: list[tuple[Path, str, str]], when: dt.datetime) -> list[str]:
    """Put `files` [(source, suffix, sha256)] into the unit's folder; their names in the inbox.

    The new files are in place before the old ones move away, so a night starting in between
    sees the unit's newest submission (supersession takes the newer), never none.
    """
    folder = unit_folder(inbox, unit)
    stamp = when.strftime("%Y%m%d-%H%M%S-%f")
    with _lock(unit):
        folder.mkdir(parents=True, exist_ok=True)
        old = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        placed = []
        for i, (src, suffix, sha) in enumerate(files, start=1):
            name = f"{unit}_{stamp}_{i}_{sha[:8]}{suffix}"
            tmp = folder / f"{TMP_PREFIX}{name}"
            shutil.copyfile(src, tmp)
            retrying(lambda t=tmp, n=name: os.replace(t, folder / n))
            placed.append(name)
        if old:
            keep = folder / PREVIOUS_DIR / stamp
            keep.mkdir(parents=True, exist_ok=True)
            for p in old:
                try:
                    retrying(lambda p=p: os.replace(p, keep / p.name))
                except OSError as exc:
                    # A night reading it on Windows holds it open: it stays beside the new file,
                    # which supersedes it (newer), and moves at the unit's next submission.
                    log.warning("提交的旧版本 %s 暂时无法移到 %s（%s）", p, keep, write_reason(exc))
        _mark(folder, placed)
    return placed


def _mark(folder: Path, names: list[str]) -> None:
    marks = {}
    for name in names:
        st = (folder / name).stat()
        marks[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    text = json.dumps({"version": 1, "files": marks}, ensure_ascii=False, indent=1)
    atomic_write(folder / PLACED_MARKER, lambda p: p.write_text(text, encoding="utf-8"))

"""One run at a time per output folder, held by the operating system.

The lock is an exclusive, non-blocking lock on `.evalbatch.lock` taken through portalocker:
LockFileEx on Windows, flock on POSIX. The operating system drops it when the holding
process ends in any way (a crash, Task Scheduler's 结束任务, kill -9), so there is no stale
lock to detect or take over and no process to probe. SMB servers honour both, so a run on
another machine or in another Windows logon session is refused too (a Linux CIFS mount sends
flock to the server unless it is mounted with `nobrl`). The lock file is never deleted:
deleting it would let a third run lock a new file while a second still waits on the old one.

Who holds the lock is written beside it in `.evalbatch.lock.json`, only to be shown when a
run is refused. It is a separate file because Windows locks are mandatory: a refused run
could not read the locked file. Whatever that file holds, it is only ever displayed.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path

import portalocker

from .files import FILE, OutputError, own_object, read_own_text, remove_quietly, write_reason

LOCK_NAME = ".evalbatch.lock"
HOLDER_NAME = ".evalbatch.lock.json"


class Locked(RuntimeError):
    """Another run holds the lock (exit code 3); the message is for the user."""


def _locker() -> portalocker.portalocker.BaseLocker:
    from portalocker import portalocker as impl

    return impl.Win32Locker() if os.name == "nt" else impl.FlockLocker()


class RunLock:
    def __init__(self, out_dir: str | Path, max_age_seconds: float = 6 * 3600):
        self.path = Path(out_dir) / LOCK_NAME
        self.holder_path = Path(out_dir) / HOLDER_NAME
        self.max_age = max_age_seconds
        self._file = None
        self._locker = _locker()

    def acquire(self) -> RunLock:
        """Take the lock or raise `Locked`; `OutputError` when the folder cannot hold one."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A FIFO, a device or a link planted under either name: exit 4 naming it, never a hang.
            own_object(self.path, FILE)
            own_object(self.holder_path, FILE)
            self._file = open(self.path, "a+b")  # noqa: SIM115 - held open for the whole run
        except OSError as exc:
            raise OutputError(f"无法在输出文件夹中创建运行锁 {self.path}：{write_reason(exc)}") from None
        try:
            self._locker.lock(self._file, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.AlreadyLocked:
            self._close()
            raise Locked(self._refusal()) from None
        except portalocker.LockException as exc:
            self._close()
            raise OutputError(f"无法在输出文件夹中加运行锁 {self.path}（{exc}）；该文件夹所在的文件系统可能不支持文件锁") from None
        try:
            self.holder_path.write_text(json.dumps(_me(), ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            self.release()
            raise OutputError(f"无法写入运行锁信息 {self.holder_path}：{write_reason(exc)}") from None
        return self

    def release(self) -> None:
        if self._file is None:
            return
        remove_quietly(self.holder_path)  # while still held: the next holder writes its own
        self._close()

    def _close(self) -> None:
        try:
            self._file.close()  # closing the handle is what releases the OS lock
        except OSError:
            pass
        self._file = None

    def _refusal(self) -> str:
        holder = _describe(_read_holder(self.holder_path))
        text = (f"另一个运行正在进行（主机 {holder['host']}，进程 {holder['pid']}，开始于 {holder['started']}）；"
                f"本次运行没有做任何改动，已退出")
        age = holder["age"]
        if age is not None and age > self.max_age:
            text += (f"。该运行已进行 {age / 3600:.1f} 小时，超过 {self.max_age / 3600:g} 小时，可能已停止响应："
                     f"请在主机 {holder['host']} 上检查进程 {holder['pid']}（任务管理器），结束它后下次运行即可正常进行")
        return text

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _me() -> dict:
    now = time.time()
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": now,
            "started_text": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))}


def _read_holder(path: Path) -> dict:
    try:
        data = json.loads(read_own_text(path, limit=1 << 16) or "{}")
    except (OSError, ValueError, RecursionError, OutputError):  # absent, being written, not JSON, nested without end, too long, a FIFO
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict) -> dict:
    """Host, pid, start time and age fit to print, whatever the holder file said."""
    started = holder.get("started")
    age = None
    shown = "?"
    if isinstance(started, (int, float)) and not isinstance(started, bool) and math.isfinite(started):
        try:
            shown = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
            age = max(0.0, time.time() - started)  # a clock ahead of ours is not a negative age
        except (OverflowError, OSError, ValueError):
            pass
    return {"host": _short(holder.get("host")), "pid": _short(holder.get("pid")), "started": shown, "age": age}


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text[:64] if text.strip() else "?"

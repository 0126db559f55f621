"""One run at a time per output folder, held by the operating system.

The lock is an exclusive, non-blocking lock on `.evalbatch.lock` taken with the standard
library only: msvcrt.locking (LockFile on its first byte) on Windows, flock on POSIX, so a
missing or broken pywin32 cannot stop a night. The operating system drops it when the holding
process ends in any way (a crash, Task Scheduler's 结束任务, kill -9), so there is no stale
lock to detect or take over and no process to probe. SMB servers honour both, so a run on
another machine or in another Windows logon session is refused too (a Linux CIFS mount sends
flock to the server unless it is mounted with `nobrl`). The lock file is never deleted:
deleting it would let a third run lock a new file while a second still waits on the old one.

Who holds the lock (host, process, run id) is written beside it in `.evalbatch.lock.json`,
to be shown when a run is refused. It is a separate file because Windows locks are
mandatory: a refused run could not read the locked file. Whatever that file holds, it is
only ever displayed, and compared with what the holder wrote (`verify`): a share that
dropped and came back may have let another run in, and a run that lost its lock must not
write outputs.

A DFS namespace with two targets (two servers replicating one folder) defeats any file lock:
each server locks its own copy. Point every machine at the same target (docs/operations.md).
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import socket
import time
from pathlib import Path

from .files import FILE, OutputError, own_object, read_own_text, remove_quietly, write_reason

LOCK_NAME = ".evalbatch.lock"
HOLDER_NAME = ".evalbatch.lock.json"


class Locked(RuntimeError):
    """Another run holds the lock (exit code 3); the message is for the user."""


class LockLost(OutputError):
    """The run no longer holds its lock (exit code 4): it must not write outputs."""


class _HeldElsewhere(Exception):
    pass


# What msvcrt.locking raises for a byte another handle has locked (EDEADLOCK is 36 on Windows).
_HELD_ERRNOS = {errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK), errno.EDEADLK, errno.EAGAIN}


def os_lock(file, system: str = os.name) -> None:
    """An exclusive lock on `file` without waiting; `_HeldElsewhere` when another process has it."""
    if system == "nt":
        import msvcrt

        file.seek(0)
        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)  # the first byte; locking beyond the end is allowed
        except OSError as exc:
            if exc.errno in _HELD_ERRNOS or getattr(exc, "winerror", None) == 33:
                raise _HeldElsewhere from exc
            raise
        return
    import fcntl

    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise _HeldElsewhere from exc


class RunLock:
    def __init__(self, out_dir: str | Path, max_age_seconds: float = 6 * 3600):
        self.path = Path(out_dir) / LOCK_NAME
        self.holder_path = Path(out_dir) / HOLDER_NAME
        self.max_age = max_age_seconds
        self._file = None
        self._me: dict = {}

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
            os_lock(self._file)
        except _HeldElsewhere:
            self._close()
            raise Locked(self._refusal()) from None
        except OSError as exc:
            self._close()
            raise OutputError(f"无法在输出文件夹中加运行锁 {self.path}（{exc}）；该文件夹所在的文件系统可能不支持文件锁") from None
        self._me = _me()
        try:
            self._write_holder()
        except OSError as exc:
            self.release()
            raise OutputError(f"无法写入运行锁信息 {self.holder_path}：{write_reason(exc)}") from None
        return self

    def note_run(self, run_id: int | None) -> None:
        """The run's id in the history, for whoever is refused while it runs."""
        self._me["run_id"] = run_id
        try:
            self._write_holder()
        except OSError as exc:
            raise LockLost(f"无法更新运行锁信息 {self.holder_path}：{write_reason(exc)}；本次没有写出任何输出") from None

    def _write_holder(self) -> None:
        self.holder_path.write_text(json.dumps(self._me, ensure_ascii=False), encoding="utf-8")

    def verify(self) -> None:
        """`LockLost` unless this run still holds its lock: the handle still works (a dropped
        share makes it fail) and the holder file still names this run (not one that got in
        while the share was away)."""
        stop = "本次运行就此停止，不再写出输出"
        if self._file is None:
            raise LockLost(f"运行锁已释放；{stop}")
        try:
            os.fstat(self._file.fileno())  # fails once the share that holds it is gone
        except OSError as exc:
            raise LockLost(f"运行锁已丢失：{write_reason(exc)}。输出文件夹所在的共享盘可能断开过；{stop}，请检查网络后重新运行") from None
        holder = _read_holder(self.holder_path)
        if not holder:
            raise LockLost(f"运行锁已丢失：无法读取运行锁信息 {self.holder_path}。输出文件夹所在的共享盘可能断开过；{stop}，"
                           f"请检查网络后重新运行")
        if holder.get("token") != self._me.get("token"):
            who = _describe(holder)
            raise LockLost(f"运行锁已丢失：运行锁信息现在指向主机 {who['host']} 的进程 {who['pid']}。输出文件夹所在的共享盘可能断开过，"
                           f"期间另一个运行开始了；{stop}")

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
        run = f"，运行编号 {holder['run_id']}" if holder["run_id"] != "?" else ""
        text = (f"另一个运行正在进行（主机 {holder['host']}，进程 {holder['pid']}，开始于 {holder['started']}{run}）；"
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
            "started_text": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)), "run_id": None,
            "token": secrets.token_hex(8)}


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
    return {"host": _short(holder.get("host")), "pid": _short(holder.get("pid")), "run_id": _short(holder.get("run_id")),
            "started": shown, "age": age}


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text[:64] if text.strip() else "?"

"""One run at a time per output folder.

The lock is a small JSON file created with O_EXCL (atomic on local disks and SMB shares):
it records host, pid and start time. A lock whose process is gone (same host) or that is
older than the allowed age is taken over, and the caller is told so it can log a 警告.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

LOCK_NAME = ".evalbatch.lock"


class Locked(RuntimeError):
    """Another run holds the lock; the message is for the user."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    except OSError:
        return False
    return True


class RunLock:
    def __init__(self, out_dir: str | Path, max_age_seconds: float = 6 * 3600):
        self.path = Path(out_dir) / LOCK_NAME
        self.max_age = max_age_seconds
        self.took_over: str = ""  # why a stale lock was taken over, for the log

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        info = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return True

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _stale_reason(self, holder: dict) -> str:
        started = float(holder.get("started") or 0)
        try:
            started = started or self.path.stat().st_mtime
        except OSError:
            return "锁文件已消失"
        age = time.time() - started
        if holder.get("host") == socket.gethostname() and holder.get("pid") and not _pid_alive(int(holder["pid"])):
            return f"上次运行（进程 {holder['pid']}）已不存在"
        if age > self.max_age:
            return f"锁已存在 {age / 3600:.1f} 小时，超过上限 {self.max_age / 3600:g} 小时"
        return ""

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return self
        holder = self._holder()
        reason = self._stale_reason(holder)
        if not reason:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started") or 0)))
            raise Locked(f"另一个运行正在进行（主机 {holder.get('host', '?')}，进程 {holder.get('pid', '?')}，开始于 {started}）；"
                         f"本次退出。如确认没有运行，可删除 {self.path}")
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        if not self._create():
            raise Locked("另一个运行刚刚取得了锁；本次退出")
        self.took_over = f"接管了遗留的运行锁：{reason}"
        return self

    def release(self) -> None:
        holder = self._holder()
        if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

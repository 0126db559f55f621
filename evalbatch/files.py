"""Writing files on a shared drive without ever leaving one half-written, and tidying up
after other programs without ever failing a run for it.

On Windows a file that Excel, WPS, an antivirus scanner or the search indexer has open
cannot be replaced or deleted (PermissionError, winerror 5 or 32). Scanners and indexers let
go within a moment, so every replace and delete here is retried briefly first; what is still
held after that is left alone with a warning in the log (or, for an output, written beside).
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("evalbatch")

TMP_PREFIX = ".~evalbatch-"
# Seconds between attempts on a file another program holds (about one second in all).
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5)
# Windows' "being used by another process" errors: ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
_IN_USE_WINERRORS = {32, 33}


class OutputError(RuntimeError):
    """An output could not be written (exit code 4); the message is for the user."""


# --- the output folder is ours ------------------------------------------------------------------
#
# The output folder is often a shared drive where anyone can place anything. Nothing in it is
# followed through a link or opened unless it is a regular file (or a folder) as evalbatch
# makes them: a FIFO at run.json would hang the run, a link to /dev/zero read without end,
# a feedback/ linked elsewhere have pruning delete files outside the folder. On Windows a
# symbolic link or a junction is a reparse point; os.lstat shows both.

FILE, FOLDER = "file", "folder"


def _oddity(st: os.stat_result) -> str | None:
    """What an object is when it is not a plain file or folder (in Chinese), else None."""
    if stat.S_ISLNK(st.st_mode) or getattr(st, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_REPARSE_POINT:
        return "链接（符号链接、快捷链接或联接点）"
    if stat.S_ISFIFO(st.st_mode):
        return "命名管道（FIFO）"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "设备文件"
    if stat.S_ISSOCK(st.st_mode):
        return "套接字"
    return None


def own_object(path: Path, kind: str = FILE) -> bool:
    """Whether `path` exists as a plain `kind` (FILE or FOLDER) evalbatch may open or replace.

    False when absent; `OutputError` (exit 4) naming it and what to do when it is a link, a
    FIFO, a device, or a folder where a file belongs (or the other way round)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise OutputError(f"无法检查输出文件夹中的 {path}：{write_reason(exc)}") from None
    what = _oddity(st)
    if what is None and kind == FILE and stat.S_ISDIR(st.st_mode):
        what = "文件夹（此处应为 evalbatch 生成的文件）"
    elif what is None and kind == FOLDER and not stat.S_ISDIR(st.st_mode):
        what = "文件（此处应为 evalbatch 生成的文件夹）"
    if what is not None:
        raise OutputError(f"输出文件夹中的 {path} 是{what}，不是 evalbatch 生成的{'文件' if kind == FILE else '文件夹'}；"
                          "为安全起见本次运行没有打开、跟随或改动它。请将它移走或删除后重新运行")
    return True


def plain_file(path: Path) -> bool:
    """A regular file that is no link (for pruning: never delete through a link or a device)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and _oddity(st) is None


def output_target(path: Path) -> None:
    """`OutputError` (exit 4) when an output path the user gave (template -o, history -o …) is
    a FIFO, a device or a socket: writing there would hang or feed a device."""
    try:
        st = os.stat(path)  # a link to a plain file is the user's choice, and is followed
    except OSError:
        return  # absent or unreachable: the write itself says why
    what = None if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else _oddity(st) or "特殊文件"
    if what is not None:
        raise OutputError(f"输出路径 {path} 是{what}，不是普通文件，未写入；请指定一个普通文件的路径（如 结果.xlsx）")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_own_text(path: Path, limit: int = 64 << 20) -> str | None:
    """The text of an output evalbatch wrote (run.json, the cache manifest, the lock holder);
    None when absent. Opened without following a link or blocking on a FIFO (O_NOFOLLOW,
    O_NONBLOCK where the system has them; the lstat check of `own_object` on Windows), and
    never read past `limit` bytes."""
    if not own_object(path, FILE):
        return None
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped for something else since the check
            raise OutputError(f"输出文件夹中的 {path} 不是普通文件；请将它移走或删除后重新运行")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} 超过 {limit >> 20} MB，不是 evalbatch 写的文件")
    return data.decode("utf-8-sig")


def in_use(exc: OSError) -> bool:
    """Whether Windows refused because another program has the file open."""
    return getattr(exc, "winerror", None) in _IN_USE_WINERRORS


def retrying(action: Callable[[], object]) -> object:
    """`action()`, tried again for about a second while Windows says the file is held."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return action()
        except PermissionError:
            if delay is None:
                raise
            time.sleep(delay)
    return None  # not reached


def remove_quietly(path: Path) -> bool:
    """Delete a file or folder that is only housekeeping; a warning, never an error, when it stays."""
    try:
        if path.is_dir() and not path.is_symlink():
            retrying(lambda: shutil.rmtree(path))
        else:
            retrying(lambda: path.unlink(missing_ok=True))
        return True
    except OSError as exc:
        log.warning("无法删除 %s（%s），留待以后清理", path, write_reason(exc))
        return False


def sweep_temporary(folder: Path) -> int:
    """Remove the temporary files that runs killed mid-write left in `folder`; how many went.

    Only call this while holding the run lock: another run's temporary files are live.
    """
    try:
        leftovers = [p for p in folder.iterdir() if p.name.startswith(TMP_PREFIX)]
    except OSError:
        return 0  # a folder that is not there has nothing to sweep
    return sum(remove_quietly(p) for p in leftovers)


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Write through a temporary file in the same folder and move it into place in one step.

    A run killed at any moment leaves the previous file untouched. When the target cannot be
    replaced (an analyst has it open in Excel on Windows), a timestamped file is written
    beside it and its path returned.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private; others on the shared drive must be able to read it.
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            retrying(lambda: os.replace(tmp, target))
            return target
        except PermissionError:
            beside = target.with_name(f"{target.stem}_{dt.datetime.now():%Y%m%d-%H%M%S}{target.suffix}")
            retrying(lambda: os.replace(tmp, beside))
            return beside
    finally:
        if tmp.exists():
            remove_quietly(tmp)


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


def os_error_of(exc: BaseException) -> OSError | None:
    """The operating-system error behind `exc`, also when a library wrapped it
    (xlsxwriter's FileCreateError carries the OSError as its argument)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):
            return exc
        inner = next((a for a in getattr(exc, "args", ()) if isinstance(a, OSError)), None)
        exc = inner or exc.__cause__ or exc.__context__
    return None


_WRITE_REASONS = {
    errno.ENOSPC: "磁盘已满",
    getattr(errno, "EDQUOT", -1): "超出磁盘配额",
    errno.EROFS: "文件夹是只读的",
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.ENOENT: "文件夹不存在",
    errno.ENOTDIR: "路径中有一项是文件而不是文件夹",
    errno.EEXIST: "已有同名的文件（不是文件夹）",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENAMETOOLONG: "文件名或路径过长",
    errno.EINVAL: "文件名或路径无效",
    errno.EBUSY: "文件正被使用",
}


def write_reason(exc: OSError) -> str:
    """Why writing failed, in Chinese where it is a common reason, with the system's own words."""
    if in_use(exc):
        return "文件正被其他程序（如 Excel、WPS 或杀毒软件）使用"
    # The system's own words stay in brackets for an administrator; the reason before them is Chinese.
    words = _WRITE_REASONS.get(exc.errno, "系统错误")
    return f"{words}（{exc.strerror or exc}）"

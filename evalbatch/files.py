"""Writing files on a shared drive without ever leaving one half-written, and tidying up
after other programs without ever failing a run for it.

On Windows a file that Excel, WPS, an antivirus scanner or the search indexer has open
cannot be replaced or deleted (PermissionError, winerror 5 or 32). Scanners and indexers let
go within a moment, so every replace and delete here is retried briefly first; what is still
held after that is left alone with a warning in the log (or, for an output, written beside).

Replacing an output tells three refusals apart (`atomic_write`): the target open in another
program (written beside, put back by a later run), our own temporary file held by a scanner
(retried with backoff for up to `Outputs.replace_wait` seconds) and a target we may not
write (read-only or denied: `OutputError`, exit 4). Every output written beside its name is
noted in the active `Outputs` so that the run can name it and try again next time.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import errno
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


@dataclass
class Outputs:
    """The outputs of one run: how long our own held temporary file is waited for, and
    which targets got their content written beside them (target → the file written)."""

    replace_wait: float = 30.0
    beside: dict[Path, Path] = field(default_factory=dict)
    guard: Callable[[], None] = lambda: None  # raises when the run may no longer write (its lock is lost)


_OUTPUTS: contextvars.ContextVar[Outputs | None] = contextvars.ContextVar("evalbatch_outputs", default=None)


@contextmanager
def outputs(replace_wait: float = 30.0, guard: Callable[[], None] | None = None) -> Iterator[Outputs]:
    """Collect what `atomic_write` could not put in place while the block runs; `guard()`
    before every output is written (it raises to stop the run)."""
    session = Outputs(replace_wait, guard=guard or (lambda: None))
    token = _OUTPUTS.set(session)
    try:
        yield session
    finally:
        _OUTPUTS.reset(token)


def current_outputs() -> Outputs:
    """The active `outputs()` session (a throwaway one outside any)."""
    return _OUTPUTS.get() or Outputs()


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

    A run killed at any moment leaves the previous file untouched. When the target is open in
    another program (an analyst's Excel, a mail client sending it), a timestamped file is
    written beside it, its path returned and noted in the active `outputs()`. A target that
    may not be written (read-only, denied) is `OutputError`.
    """
    current_outputs().guard()
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
        except PermissionError as exc:
            return _place_refused(tmp, target, exc)
    finally:
        if tmp.exists():
            remove_quietly(tmp)


def _place_refused(tmp: Path, target: Path, exc: PermissionError) -> Path:
    """Windows refused to replace `target` with `tmp` for longer than a moment: whose fault?"""
    denied = write_denied(target)
    if denied is not None:
        raise OutputError(f"无法替换 {target}：{denied}") from exc
    beside = target.with_name(f"{target.stem}_{dt.datetime.now():%Y%m%d-%H%M%S}{target.suffix}")
    try:
        os.replace(tmp, beside)  # moving our file elsewhere works: it is the target that is held
    except PermissionError:
        return _wait_for_own_file(tmp, target)
    current_outputs().beside[target] = beside
    return beside


def _wait_for_own_file(tmp: Path, target: Path) -> Path:
    """Our temporary file is held (a scanner on the server checking it): wait with backoff."""
    wait = current_outputs().replace_wait
    deadline, delay = time.monotonic() + wait, 0.1
    while True:
        try:
            os.replace(tmp, target)
            return target
        except PermissionError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OutputError(f"无法替换 {target}：刚写好的临时文件 {tmp.name} 被其他程序（通常是服务器上的杀毒软件）"
                                  f"占用超过 {wait:g} 秒；{write_reason(exc)}。请检查杀毒软件对输出文件夹的扫描设置后重新运行") from exc
            time.sleep(min(delay, left))
            delay = min(delay * 2, 2.0)


def write_denied(target: Path) -> str | None:
    """Why `target` may not be written (read-only, no permission), or None when it may, or is
    only held by another program. On Windows the winerror tells a sharing violation (32) from
    a denial (5), which share one errno."""
    try:
        st = os.stat(target)
    except OSError:
        return None  # not there: nothing of the target's own refuses
    if getattr(st, "st_file_attributes", 0) & getattr(stat, "FILE_ATTRIBUTE_READONLY", 1):
        return "文件设置了只读属性；请在文件属性中取消“只读”，或删除该文件后重新运行"
    try:
        with open(target, "r+b"):
            return None
    except PermissionError as exc:
        if in_use(exc):
            return None
        return f"没有写入该文件的权限（{exc.strerror or exc}）；请检查该文件的只读属性和共享盘权限（运行账户需要“修改”权限）"
    except OSError:
        return None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def file_time(st: os.stat_result, windows: bool = os.name == "nt") -> float:
    """When a file's content arrived here. A Windows copy (Explorer, robocopy, a mail client
    saving an attachment) keeps the original's modification time and gets a new creation time:
    a corrected file saved on a PC whose clock is behind would otherwise look older than the
    one it corrects, and a file still being copied would look settled. So on Windows the later
    of the two; elsewhere the modification time (ctime there is a metadata change)."""
    if not windows:
        return st.st_mtime
    created = getattr(st, "st_birthtime", None) or st.st_ctime  # st_ctime is the creation time on Windows before 3.12
    return max(st.st_mtime, created)


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


# Windows' own error codes say more than the errno Python maps them to (a dropped network
# share and a sharing violation both arrive as some generic errno): they decide first.
_WINDOWS_REASONS = {
    2: "文件不存在",
    3: "路径中的文件夹不存在",
    5: "拒绝访问：没有权限，或文件设置了只读属性；请检查共享盘权限（运行账户需要“修改”权限）",
    19: "介质有写保护",
    39: "磁盘已满；请腾出空间后重新运行",
    53: "找不到网络路径：服务器或共享盘无法访问；请检查网络连接、服务器是否开机和共享盘地址",
    59: "网络发生意外错误；请检查网络连接后重新运行",
    64: "网络连接已中断（指定的网络名不再可用）；请检查网络和服务器，恢复后重新运行",
    67: "找不到网络名：共享文件夹名称有误或已取消共享；请核对共享盘地址",
    112: "磁盘已满；请腾出空间后重新运行",
    123: "文件名、文件夹名或卷标语法不正确",
    206: "文件名或路径过长（超过 Windows 的 260 个字符限制）；请缩短文件夹或文件名，或把文件夹放到更短的路径下",
    1222: "网络不存在或尚未启动；请检查网络连接",
    1231: "无法访问网络位置；请检查网络连接",
    1295: "超出服务器上该账户的磁盘配额；请联系服务器管理员提高配额或清理空间",
    1450: "系统资源不足，无法完成该操作（共享盘上写入大文件时常见）；请稍后重新运行，如反复出现请联系服务器管理员",
}


def windows_reason(exc: OSError) -> str | None:
    """The Chinese reason for Windows' own error code, None when there is none or it is not known."""
    code = getattr(exc, "winerror", None)
    if code in _IN_USE_WINERRORS:
        return "文件正被其他程序（如 Excel、WPS 或杀毒软件）使用"
    return _WINDOWS_REASONS.get(code)


def write_reason(exc: OSError) -> str:
    """Why writing failed, in Chinese where it is a common reason, with the system's own words."""
    if in_use(exc):
        return "文件正被其他程序（如 Excel、WPS 或杀毒软件）使用"
    # The system's own words stay in brackets for an administrator; the reason before them is Chinese.
    words = windows_reason(exc) or _WRITE_REASONS.get(exc.errno, "系统错误")
    return f"{words}（{exc.strerror or exc}）"

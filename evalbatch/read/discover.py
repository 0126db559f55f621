"""Discover: which files of the input folder are submissions, and what is known of each
before it is opened (name, size, time, a problem seen from the name or the folder)."""


from __future__ import annotations

import datetime as dt
import json
import logging
import ntpath
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import schema as S
from ..files import file_time

log = logging.getLogger("evalbatch")

# What became of a file (运行信息 and run.json).
USED, REJECTED, HAS_ERROR, SUPERSEDED, PENDING = "已采用", "无法使用", "有错误", "被取代", "待下次处理"


@dataclass
class FileRecord:
    path: str
    name: str  # relative to the input folder, as users see it
    size: int
    mtime: float
    sha256: str = ""
    status: str = ""
    dept_code: str = ""
    layout: str = ""  # the layout(s) of the forms found in it (layouts.LAYOUTS)
    problem: tuple[str, str] | None = None  # (rule id, message): refused as found, never opened
    notes: list[tuple[str, str]] = field(default_factory=list)  # (rule id, message) found while listing
    # When the file was first seen (epoch seconds), set only for a modification time in the
    # future: such a time says nothing about which of two files is newer.
    seen: float | None = None

    @property
    def order_time(self) -> float:
        """The time that decides which of a department's files is the newest."""
        return self.seen if self.seen is not None else self.mtime


@dataclass
class Discovery:
    files: list[FileRecord]
    pending: list[FileRecord] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count


def _skip_reason(rel: Path) -> str | None:
    if any(part.startswith(".") for part in rel.parts):
        return "隐藏文件或文件夹"
    if rel.name.startswith("~$"):
        return "Office 锁定文件（~$）"
    if suffix_of(rel.name) not in S.SUBMISSION_SUFFIXES and _refused_by_name(rel.name) is None:
        return "非表格文件"
    return None


# Written by evalbatch serve in each unit's inbox folder: the files it placed (temporary name,
# then an atomic rename), with their size and modification time. Those are complete when they
# appear: no --settle wait for them while both still match (a copy over one by hand does not).
PLACED_MARKER = ".evalbatch-placed.json"


def _placed(folder: Path) -> dict[str, tuple[int, int]]:
    """name → (size, mtime_ns) from the folder's marker; {} when there is none or it is not ours."""
    try:
        data = json.loads((folder / PLACED_MARKER).read_text(encoding="utf-8"))
        return {str(name): (int(v["size"]), int(v["mtime_ns"])) for name, v in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# Files that look like a submission but are never read: each is named (an 错误 for its file),
# so a department that zipped its forms or sent a CSV hears about it instead of vanishing.
ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z")
OTHER_TABLE_SUFFIXES = {
    ".csv": "CSV 文本", ".xlt": "Excel 97-2003 模板", ".xltx": "Excel 模板", ".xltm": "Excel 启用宏的模板",
    ".xlw": "Excel 4.0 工作簿", ".ett": "WPS 表格模板", ".ots": "ODS 模板", ".fods": "ODS 平面 XML 表格",
    ".numbers": "Apple Numbers 表格",
}


def suffix_of(name: str) -> str:
    """The type a name says, also of "表.xlsx " or "表.xlsx." (names Windows itself would trim,
    made on a Linux or Mac share or by an archive tool): lower case, trailing spaces and dots off."""
    return Path(name.rstrip(" .")).suffix.lower()


def _refused_by_name(name: str) -> tuple[str, str] | None:
    suffix = suffix_of(name)
    if suffix in ARCHIVE_SUFFIXES:
        return "file.archive", f"文件是压缩包（{suffix}），本工具不读取压缩包中的文件；请解压后提交各表格"
    if suffix in OTHER_TABLE_SUFFIXES:
        return "file.unsupported", (f"文件是{OTHER_TABLE_SUFFIXES[suffix]}（{suffix}），不是本工具读取的工作簿格式，未读取；"
                                    "请在 Excel 或 WPS 中打开并“另存为”Excel 工作簿（.xlsx）后提交")
    return None


def printable(name: str) -> str:
    """`name` as valid text for every output (workbook, JSON, database, console).

    Bytes of a name that were not UTF-8 (what unzip leaves of a Windows zip's GBK names;
    Python keeps them as lone surrogates) are shown as \\xNN, other lone surrogates as
    \\uNNNN and control characters as \\xNN; the file itself is still opened by its real path.
    """
    if name.isprintable():
        return name
    return "".join(_escaped(ch) for ch in name)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of one byte
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return f"\\u{code:04x}"
    return f"\\x{code:02x}" if code < 0x20 or 0x7F <= code < 0xA0 else ch


MAX_PATH = 260  # Windows' classic path limit (characters, including the terminating NUL)


def extended_path(path: str, windows: bool = os.name == "nt") -> str:
    """On Windows, `path` in its extended-length form (\\\\?\\C:\\… or \\\\?\\UNC\\server\\share\\…), under
    which folders and files past MAX_PATH can still be listed and read; elsewhere `path` itself."""
    if not windows:
        return path
    full = ntpath.abspath(path)
    if full.startswith("\\\\?\\"):
        return full
    return "\\\\?\\UNC\\" + full[2:] if full.startswith("\\\\") else "\\\\?\\" + full


def local_time(timestamp: float) -> str:
    """A file time as local text; "" when the system cannot convert it (before 1970 or a
    FILETIME of 0 on Windows, far in the future), so no report fails on one odd file."""
    try:
        return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
    except (OSError, OverflowError, ValueError):
        return ""


def discover(input_dir: str | Path, settle_seconds: float = 0, now: float | None = None,
             exclude: Path | None = None) -> Discovery:
    """Submissions under `input_dir`, recursively; files younger than `settle_seconds` wait.

    `exclude` (the output folder, when it lies inside the input folder) is never entered:
    last night's workbook, history and feedback files are not submissions.
    """
    top = Path(extended_path(str(input_dir)))  # what is listed and opened; names are relative to it
    shown = os.path.abspath(input_dir)  # the folder as people see it (the length Windows counts)
    now = time.time() if now is None else now
    found = Discovery(files=[])
    unlistable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=unlistable.append):
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                found.skipped["隐藏文件或文件夹"] = found.skipped.get("隐藏文件或文件夹", 0) + 1
            elif not _same_folder(Path(dirpath) / d, exclude):
                kept.append(d)
        dirnames[:] = kept
        placed = _placed(Path(dirpath)) if PLACED_MARKER in filenames else {}
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            rel = p.relative_to(top)
            reason = _skip_reason(rel)
            if reason:
                found.skipped[reason] = found.skipped.get(reason, 0) + 1
                continue
            st = _status(p)
            if st is None:
                continue  # vanished between listing and stat: the next run sees it or not
            complete = placed.get(fn) == (st.st_size, st.st_mtime_ns)
            _place(found, _record(p, rel, st, shown), now, 0 if complete else settle_seconds)
    found.files += [_unlistable(exc, top, shown) for exc in unlistable]
    return found


def _same_folder(path: Path, other: Path | None) -> bool:
    """Whether two paths name one folder however each is written (extended-length, links, case)."""
    try:
        return other is not None and os.path.samefile(path, other)
    except OSError:
        return False


_UNKNOWN = os.stat_result((0,) * 10)


def _status(path: Path) -> os.stat_result | None:
    """The file's status, links followed; a dangling link's own (the reader refuses it by
    name); zeros when the system will not say (the read then names the reason); None when
    nothing is there any more."""
    for look in (path.stat, path.lstat):
        try:
            return look()
        except FileNotFoundError:
            continue
        except OSError:
            return _UNKNOWN
    return None


def _record(path: Path, rel: Path, st: os.stat_result, shown_root: str) -> FileRecord:
    name = rel.as_posix()
    rec = FileRecord(str(path), printable(name), st.st_size, file_time(st), problem=_refused_by_name(name))
    if rec.name != name:
        rec.notes.append(("file.name_escaped", "文件名中有无法识别的字符（常见于解压 Windows 压缩包时文件名编码不符），"
                                               "已按 \\xNN 形式显示；建议将文件改名后重新提交"))
    if name != name.rstrip(" ."):
        rec.notes.append(("file.name_trailing", f"文件名“{rec.name}”以空格或句点结尾，本次已读取；Windows 中这样的文件难以打开、改名或删除，"
                                                 "建议去掉末尾的空格或句点后重新提交"))
    length = len(os.path.join(shown_root, str(rel)))
    if length >= MAX_PATH:
        rec.notes.append(("file.long_path", f"文件完整路径长 {length} 个字符，超过 Windows 的 {MAX_PATH} 个字符限制；本次已读取，"
                                             "但 Excel 等程序可能无法打开它，建议缩短文件夹或文件名"))
    return rec


def _place(found: Discovery, rec: FileRecord, now: float, settle: float) -> None:
    """Read now, or wait while the file may still be copying. A time further ahead than the
    settle window is the file server's clock, not a copy in progress: waiting would never end."""
    age = now - rec.mtime
    if age < -settle:
        when = local_time(rec.mtime) or "无法识别"
        rec.notes.append(("file.clock_skew", f"文件修改时间（{when}）比本机当前时间晚 {_span(-age)}，可能是文件服务器与本机的"
                                              "时钟不一致；无法据此判断是否仍在复制，本次照常处理"))
        found.files.append(rec)
    else:
        (found.pending if age < settle else found.files).append(rec)


def _span(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} 分钟"
    return f"{seconds / 3600:.0f} 小时" if seconds < 2 * 86400 else f"{seconds / 86400:.0f} 天"


def _unlistable(exc: OSError, top: Path, shown_root: str) -> FileRecord:
    """A folder os.walk could not list, as a file that could not be used: its submissions
    are missing from the run, which must say so and not exit 0."""
    where = Path(exc.filename) if exc.filename else top
    try:
        rel = where.relative_to(top).as_posix()
    except ValueError:
        rel = str(where)
    name = printable(rel) + "/"
    length = len(os.path.join(shown_root, rel))
    if length >= MAX_PATH:
        why = f"路径长 {length} 个字符，超过 Windows 的 {MAX_PATH} 个字符限制"
    elif isinstance(exc, PermissionError):
        why = "没有读取权限"
    elif isinstance(exc, FileNotFoundError):
        why = "文件夹不存在（可能已被移走或改名）"
    else:
        why = f"系统错误：{exc.strerror or exc}"
    message = f"无法列出文件夹“{name}”中的文件（{why}），其中的提交文件本次均未处理；请检查共享盘上该文件夹的权限和路径"
    return FileRecord(str(where), name, 0, 0.0, problem=("folder.unreadable", message))


def records_for(paths: list[Path]) -> list[FileRecord]:
    """The records of files named one by one (`evalbatch check`, an upload), not found in a folder."""
    records = []
    for p, name in zip(paths, _check_names(paths)):
        st = _status(p) or _UNKNOWN
        records.append(FileRecord(extended_path(str(p)), name, st.st_size, file_time(st), problem=_refused_by_name(p.name)))
    return records


def _check_names(paths: list[Path]) -> list[str]:
    """The name each file goes by in `check`'s report: its own name, or the path as given when
    two files share a name (a/x.xlsx, b/x.xlsx); a file named twice gets （2）, （3）… Every
    result is keyed by it, so names must be unique."""
    bare = [p.name for p in paths]
    names = [printable(p.name if bare.count(p.name) == 1 else p.as_posix()) for p in paths]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name}（{seen[name]}）"
    return names

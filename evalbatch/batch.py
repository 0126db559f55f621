"""One batch: discover files → read each (in parallel) → normalise → assemble → cross-file
checks → vectorised scoring and ranking. Writing the workbook is report.py's job.

A broken file never stops the batch: whatever goes wrong with one file becomes one 错误
finding for that file, and the rest go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import multiprocessing
import ntpath
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import PARSER_VERSION, __version__
from . import findings as F
from . import schema as S
from .assemble import Frames, Parsed, assemble, concat
from .cache import ParseCache
from .checks import check_frames, check_scores
from .columns import INDICATORS
from .fileids import name_unread
from .funds import reconcile
from .layouts import FORMAT1
from .parse import Located, locate, parse_chunk, wanted_sheet
from .reader import FileProblem, open_workbook, read_bytes, sha256_of, sha256_of_file
from .rules import Rules
from .scoring import rank, score_all

if TYPE_CHECKING:
    from .review.apply import ReviewOutcome
    from .review.collect import Collected

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


@dataclass
class Discovery:
    files: list[FileRecord]
    pending: list[FileRecord] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count


@dataclass
class BatchResult:
    records: list[FileRecord]
    depts: pd.DataFrame
    indicators: pd.DataFrame
    projects: pd.DataFrame
    findings: pd.DataFrame
    meta: dict
    skipped: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    review: ReviewOutcome | None = None  # re-review (抽评): 抽评结果, adjustments and the review workbooks' findings

    @property
    def error_files(self) -> int:
        return sum(r.status in (REJECTED, HAS_ERROR) for r in self.records)


def _skip_reason(rel: Path) -> str | None:
    if any(part.startswith(".") for part in rel.parts):
        return "隐藏文件或文件夹"
    if rel.name.startswith("~$"):
        return "Office 锁定文件（~$）"
    if rel.suffix.lower() not in S.SUBMISSION_SUFFIXES and _refused_by_name(rel.name) is None:
        return "非表格文件"
    return None


# Files that look like a submission but are never read: each is named (an 错误 for its file),
# so a department that zipped its forms or sent a CSV hears about it instead of vanishing.
ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z")
OTHER_TABLE_SUFFIXES = {
    ".csv": "CSV 文本", ".xlt": "Excel 97-2003 模板", ".xltx": "Excel 模板", ".xltm": "Excel 启用宏的模板",
    ".xlw": "Excel 4.0 工作簿", ".ett": "WPS 表格模板", ".ots": "ODS 模板", ".fods": "ODS 平面 XML 表格",
    ".numbers": "Apple Numbers 表格",
}


def _refused_by_name(name: str) -> tuple[str, str] | None:
    suffix = Path(name).suffix.lower()
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
            _place(found, _record(p, rel, st, shown), now, settle_seconds)
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
    rec = FileRecord(str(path), printable(name), st.st_size, st.st_mtime, problem=_refused_by_name(name))
    if rec.name != name:
        rec.notes.append(("file.name_escaped", "文件名中有无法识别的字符（常见于解压 Windows 压缩包时文件名编码不符），"
                                               "已按 \\xNN 形式显示；建议将文件改名后重新提交"))
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


def load_one(path: str, name: str, rules: Rules, problem: tuple[str, str] | None = None) -> tuple[str, Located, str | None]:
    """(sha256, what was found in the file, traceback or None). Never raises for a bad file.

    A `problem` found while listing (FileRecord.problem) is the finding; the file is not read."""
    sha = ""
    if problem is not None:
        return sha256_of_file(Path(path)), _failed(name, *problem), None
    try:
        data = read_bytes(Path(path), rules)
        sha = sha256_of(data)
        return sha, locate(open_workbook(data, rules, wanted_sheet, name=name), name, rules), None
    except FileProblem as problem:
        sha = sha or sha256_of_file(Path(path))
        return sha, _failed(name, problem.rule_id, problem.message), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # anything unexpected (a Rust panic too): one 错误 for the file, the traceback to the log
        return sha, _failed(name, "file.internal", INTERNAL), traceback.format_exc()


INTERNAL = "处理此文件时发生内部错误，已跳过；详细信息见运行日志，请联系系统管理员"


def _failed(name: str, rule_id: str, message: str) -> Located:
    loc = Located(file=name)
    loc.add(rule_id, message)
    return loc


CHUNK_MIN, CHUNK_MAX = 100, 500


Item = tuple[str, str, tuple[str, str] | None]  # path, name, problem: what a worker needs of a FileRecord


def _load_chunk(items: list[Item], rules: Rules, tick: Callable[[], None] | None = None) -> tuple[Parsed, list[tuple[str, str]]]:
    """Read a chunk of files (in a worker) and parse them together before sending them back.

    `tick` is called after each file, when the chunk is read in this process."""
    done = []
    for path, name, problem in items:
        done.append(load_one(path, name, rules, problem))
        if tick:
            tick()
    tracebacks = [(item[1], tb) for item, (_, _, tb) in zip(items, done) if tb]
    located, shas = [loc for _, loc, _ in done], [sha for sha, _, _ in done]
    try:
        return parse_chunk(located, shas, rules), tracebacks
    except Exception:
        # One file the vectorised parse cannot take must not cost the others: parse alone.
        parts = []
        for loc, sha in zip(located, shas):
            try:
                parts.append(parse_chunk([loc], [sha], rules))
            except Exception:
                tracebacks.append((loc.file, traceback.format_exc()))
                parts.append(parse_chunk([_failed(loc.file, "file.internal", INTERNAL)], [sha], rules))
        return concat(parts), tracebacks


def load_all(records: list[FileRecord], rules: Rules, jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Read every file, in `jobs` processes, in batches; one `Parsed` in the order of `records`."""
    items = [(r.path, r.name, r.problem) for r in records]
    total = len(items)
    # Parsing a chunk costs ~0.3 s whatever its size plus a few ms a file, so chunks are
    # large: two per worker, 100 to 500 files each.
    size = min(CHUNK_MAX, max(CHUNK_MIN, math.ceil(total / (max(jobs, 1) * 2))))
    chunks = [items[i : i + size] for i in range(0, total, size)]
    if jobs <= 1 or len(chunks) < 2:
        done = iter(range(1, total + 1))
        tick = (lambda: progress(next(done), total)) if progress else None
        parts = _gather((_load_chunk(chunk, rules, tick) for chunk in chunks), chunks, total, None)
    else:
        with _pool(jobs) as pool:
            parts = _gather(pool.map(_load_chunk, chunks, [rules] * len(chunks)), chunks, total, progress)
    parsed = concat(parts)
    sha = parsed.files.set_index("file")["sha256"]
    for rec in records:
        rec.sha256 = rec.sha256 or str(sha.get(rec.name, ""))
    return parsed


# Windows waits on at most 63 handles at once: ProcessPoolExecutor refuses more than 61 workers there.
WINDOWS_MAX_WORKERS = 61


def worker_count(jobs: int) -> int:
    """`jobs` worker processes (0: one per core), within what the platform allows."""
    n = jobs if jobs > 0 else os.cpu_count() or 1
    return min(n, WINDOWS_MAX_WORKERS) if sys.platform == "win32" else n


def _pool(jobs: int) -> ProcessPoolExecutor:
    # Spawned, as on Windows, on every platform: a forked worker would inherit the run lock's
    # open file and keep the lock held after the run itself was killed.
    return ProcessPoolExecutor(max_workers=worker_count(jobs), mp_context=multiprocessing.get_context("spawn"))


def _gather(results, chunks, total: int, progress) -> list[Parsed]:
    parts, done = [], 0
    for chunk, (parsed, tracebacks) in zip(chunks, results):
        for name, tb in tracebacks:
            log.error("处理文件 %s 时发生内部错误：\n%s", name, tb)
        parts.append(parsed)
        done += len(chunk)
        if progress:
            progress(done, total)
    return parts


def supersede(records: list[FileRecord], parsed: Parsed) -> tuple[Parsed, pd.DataFrame, dict[str, str]]:
    """The same 单位编码 in several files: the newest file is used, each older one is named.

    Official forms are the exception: a department may send its projects' forms in several
    files. Those files are gathered into one department (the one with the department form,
    else the newest), and only a second department form (or format-1 workbook) supersedes.
    Returns the kept rows, the findings, and member file → the file it was gathered into.
    """
    mtime = pd.Series({r.name: r.mtime for r in records}, dtype="float64")
    info = parsed.info[["file", "dept_code", "dept_name", "cell_dept_code", "info_sheet", "layout", "has_dept_form"]].copy()
    info = info[info["dept_code"].fillna("") != ""]
    info["mtime"] = info["file"].map(mtime)
    # Department-level files first (newest first), then project-only forms: the first is the department's.
    info["projects_only"] = ~info["has_dept_form"].astype(bool)
    info = info.sort_values(["dept_code", "projects_only", "mtime", "file"], ascending=[True, True, False, False], kind="stable")
    head = info.drop_duplicates("dept_code", keep="first").set_index("dept_code")
    later = info[info.duplicated("dept_code", keep="first")].copy()
    gathered = later["projects_only"] & ~later["layout"].eq(FORMAT1) & ~later["dept_code"].map(head["layout"]).eq(FORMAT1)
    members = dict(zip(later.loc[gathered, "file"], later.loc[gathered, "dept_code"].map(head["file"])))
    older = later[~gathered]
    found = _superseded_findings(older, head, parsed.files.set_index("file")["sha256"])
    gone = set(older["file"])
    for rec in records:
        if rec.name in gone:
            rec.status = SUPERSEDED
    keep = ~parsed.files["file"].isin(gone)
    kept = parsed.select(pd.Series(keep.to_numpy(), index=parsed.files["file"]))
    return _gather_members(kept, members), found, members


def _superseded_findings(older: pd.DataFrame, head: pd.DataFrame, sha: pd.Series) -> pd.DataFrame:
    """Each older file is named. The same content twice is only noted; two different files
    from the same moment leave no way to tell which is meant: an 错误 for the code (the file
    used is named too), never a silent pick."""
    newest = older["dept_code"].map(head["file"])
    same_content = older["file"].map(sha).eq(newest.map(sha)) & older["file"].map(sha).ne("")
    same_time = ~same_content & older["mtime"].eq(older["dept_code"].map(head["mtime"]))
    superseded = ~same_content & ~same_time
    both = "“" + newest + "”与“" + older["file"] + "”"
    at_newest = older.assign(file=newest, info_sheet=older["dept_code"].map(head["info_sheet"]),
                             cell_dept_code=older["dept_code"].map(head["cell_dept_code"]))
    return F.concat([
        F.where(older, superseded, "file.superseded",
                "单位编码 " + older["dept_code"] + " 同时出现在较新的文件“" + newest + "”中；本文件未采用，以较新的文件为准",
                sheet=older["info_sheet"], cell=older["cell_dept_code"]),
        F.where(older, same_content, "file.identical",
                "本文件与“" + newest + "”内容完全相同（单位编码 " + older["dept_code"] + "），只采用一份",
                sheet=older["info_sheet"], cell=older["cell_dept_code"]),
        *(F.where(df, same_time, "file.same_time",
                  "单位编码 " + older["dept_code"] + " 出现在修改时间相同、内容不同的两个文件" + both + "中，无法判断以哪个为准；"
                  "本次暂用前者且不参与排名，请删除其中一个后重新运行", sheet=df["info_sheet"], cell=df["cell_dept_code"])
          for df in (at_newest, older)),
    ])


def _gather_members(parsed: Parsed, members: dict[str, str]) -> Parsed:
    """Rows of member files re-keyed to their department's file; each keeps its `source`."""
    if not members:
        return parsed
    tables = {}
    for name, df in parsed.tables.items():
        df = df.assign(source=df["file"])
        df["file"] = df["file"].map(members).fillna(df["file"]).astype("string")
        tables[name] = df
    info = parsed.info[~parsed.info["file"].isin(members)].reset_index(drop=True)
    return Parsed(parsed.files, info, tables, parsed.findings)


def _unit(findings: pd.DataFrame, members: dict[str, str]) -> pd.Series:
    """The department file each finding counts for (a member file's count for the file it joined)."""
    return findings["file"].map(members).fillna(findings["file"]) if members else findings["file"]


def _counts(depts: pd.DataFrame, findings: pd.DataFrame, members: dict[str, str]) -> pd.DataFrame:
    by = findings.groupby([_unit(findings, members), "level"]).size().unstack(fill_value=0)
    for level in (F.ERROR, F.WARNING, F.NOTE):
        col = {F.ERROR: "errors", F.WARNING: "warnings", F.NOTE: "notes"}[level]
        depts[col] = depts["file"].map(by[level] if level in by else pd.Series(dtype=int)).fillna(0).astype(int)
    return depts


def process(records: list[FileRecord], parsed: Parsed, rules: Rules, year: int | None,
            reviews: Collected | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict, ReviewOutcome]:
    """Everything after reading. Takes `parsed` over: its tables are dropped once assembled
    (callers pass it without keeping a reference), so a country's rows are not held twice.
    `reviews` (抽评) are applied before the indicators' parsed parts go: rescoring needs them."""
    from .review.apply import apply_reviews  # here: the review stage reads the history database, which imports this module

    t0 = time.perf_counter()
    usable = set(parsed.files.loc[parsed.files["usable"].astype(bool), "file"])
    codes = parsed.info.set_index("file")["dept_code"].astype(object).fillna("")
    layouts = parsed.info.set_index("file")["layout"].astype(object).fillna("")
    used, superseded, members = supersede(records, parsed)
    del parsed
    frames = assemble(used, [superseded])
    del used
    frames.findings = F.concat([frames.findings, reconcile(frames, rules)])
    findings, scored, depts = _isolated(frames, rules, year, members)
    depts, review = apply_reviews(scored, depts, reviews, rules, {r.name: r.sha256 for r in records})
    findings = F.concat([findings, review.findings])
    # Checked: what the outputs do not show (parsed parts, cell addresses) can go.
    for column in [c for c in scored.indicators.columns if c not in KEPT_INDICATOR_COLUMNS]:
        del scored.indicators[column]  # in place: a copy of the frame is what this avoids
    t1 = time.perf_counter()
    _fill_ids(findings, depts, members)
    errors = set(findings.loc[findings["level"] == F.ERROR, "file"])
    for rec in records:
        rec.dept_code = str(codes.get(rec.name, "")) if rec.name in usable else ""
        rec.layout = str(layouts.get(rec.name, "")) if rec.name in usable else ""
        if rec.status != SUPERSEDED:
            rec.status = REJECTED if rec.name not in usable else (HAS_ERROR if rec.name in errors else USED)
    return depts, scored.indicators, scored.projects, findings, {"check_score": t1 - t0}, review


def _check_and_score(frames: Frames, rules: Rules, year: int | None, members: dict[str, str]):
    """The checks and the scoring of all departments at once: (findings, scored, ranked depts)."""
    findings = F.relevel(F.concat([frames.findings, check_frames(frames, rules, year)]), rules.rule_levels)
    frames.depts["has_error"] = frames.depts["file"].isin(set(_unit(findings[findings["level"] == F.ERROR], members)))
    scored = score_all(frames, rules)
    findings = F.sort(F.relevel(F.concat([findings, check_scores(scored, rules)]), rules.rule_levels))
    scored.depts["has_error"] = scored.depts["file"].isin(set(_unit(findings[findings["level"] == F.ERROR], members)))
    return findings, scored, rank(_counts(scored.depts, findings, members), rules)


def _isolated(frames: Frames, rules: Rules, year: int | None, members: dict[str, str]):
    """`_check_and_score`, and if it fails, the departments that make it fail found by halving
    the batch, each left out with one 错误; every other department is scored as without them."""
    try:
        return _check_and_score(frames, rules, year, members)
    except Exception:
        log.error("复核评分时发生内部错误，正在查找引起错误的单位：\n%s", traceback.format_exc())
    bad = _failing(frames, list(frames.depts["file"]), rules, year, members)
    for file in bad:
        log.error("单位文件 %s 无法复核评分，已单独列为错误", file)
    listed = _unscored(frames.depts[frames.depts["file"].isin(bad)], rules)
    frames = frames.without(bad)
    failed = F.frame([F.one("file.internal", INTERNAL_SCORING, file=file) for file in bad])
    frames.findings = F.concat([frames.findings, failed])
    findings, scored, depts = _check_and_score(frames, rules, year, members)
    depts = pd.concat([depts, listed.reindex(columns=depts.columns)], ignore_index=True)
    return findings, scored, depts.astype({"rank": "Int64", "cat_rank": "Int64"})


INTERNAL_SCORING = "复核评分此单位时发生内部错误，本单位未评分、不参与排名；其他单位不受影响。详细信息见运行日志，请联系系统管理员"


def _failing(frames: Frames, files: list[str], rules: Rules, year: int | None, members: dict[str, str]) -> list[str]:
    """The files whose departments alone make checking and scoring fail (halving: a few tries
    per bad file, never one per department)."""
    try:
        _check_and_score(frames.only(files), rules, year, members)
        return []
    except Exception:
        if len(files) == 1:
            return files
    half = len(files) // 2
    return _failing(frames, files[:half], rules, year, members) + _failing(frames, files[half:], rules, year, members)


def _unscored(depts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Departments that could not be scored: listed with who they are, no figures, 未评级."""
    return depts[["file", "dept_code", "dept_name", "dept_category", "layout"]].assign(
        has_error=True, superseded=False, errors=1, warnings=0, notes=0, grade=rules.unrated)


# Indicator columns the outputs use (workbook, feedback, statistics, Parquet); the rest of a
# million-row frame is dropped once the checks have run.
KEPT_INDICATOR_COLUMNS = {c.source for c in INDICATORS} | {"file", "dept_category"}


def _fill_ids(findings: pd.DataFrame, depts: pd.DataFrame, members: dict[str, str]) -> None:
    """Cross-file findings carry the department's code and name too."""
    codes = depts.set_index("file")["dept_code"]
    names = depts.set_index("file")["dept_name"]
    unit = _unit(findings, members)
    missing = findings["dept_code"].fillna("").eq("")
    findings.loc[missing, "dept_code"] = unit[missing].map(codes).astype(object).fillna("")
    missing = findings["dept_name"].fillna("").eq("")
    findings.loc[missing, "dept_name"] = unit[missing].map(names).astype(object).fillna("")


def evaluate(records: list[FileRecord], rules: Rules, *, year: int | None = None, jobs: int = 1,
             progress: Callable[[int, int], None] | None = None, skipped: dict | None = None,
             pending: list[FileRecord] | None = None, held: list[FileRecord] | None = None,
             cache: ParseCache | None = None, reviews: Collected | None = None) -> BatchResult:
    """Read, check and score the given files; everything `run` and `check` need, no writing.

    With a `cache`, files whose content was parsed before are taken from it, and what the
    cache should hold next is staged in it (`ParseCache.commit` puts it in place). `pending`
    files are still being copied and only named; `held` ones are too, but are among `records`
    with the content the previous run used (the cache's), so their departments stay.
    """
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    parsed = [load_all(records, rules, jobs, progress) if cache is None else _load_cached(records, rules, jobs, progress, cache)]
    t1 = time.perf_counter()
    depts, indicators, projects, findings, split, review = process(records, parsed.pop(), rules, year, reviews)
    pending = pending or []
    for rec in pending:
        rec.status = PENDING
    wait = [F.one("file.pending", "文件刚被修改，可能仍在复制中，本次未处理，将在下次运行时处理", file=r.name) for r in pending]
    wait += [F.one("file.pending", f"文件刚被修改，可能仍在复制中；本次沿用上次采用的版本（SHA-256 {r.sha256[:12]}…），"
                                   "新版本将在下次运行时处理", file=r.name) for r in held or []]
    if wait:
        findings = F.concat([findings, F.frame(wait)])
    findings = F.concat([findings, listing_findings(records + pending, rules)])
    # A file that could not be read says whose it is by its name only (620101_省委编办.xlsx).
    name_unread(findings, [r.name for r in records if r.status == REJECTED])
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "version": __version__,
        "parser_version": PARSER_VERSION,
        "rules_source": rules.source,
        "rules_version": rules.version,
        "rules_digest": rules.digest,
        "year": year,
        "jobs": jobs,
    }
    return BatchResult(records + pending, depts, indicators, projects, findings, meta, dict(skipped or {}),
                       {"read": t1 - t0, **split}, review)


def listing_findings(records: list[FileRecord], rules: Rules) -> pd.DataFrame:
    """What discovery noticed about files it passed on (FileRecord.notes): never cached, as
    it depends on the name, place and time of the file, not on its content."""
    return F.relevel(F.frame([F.one(rule, message, file=r.name) for r in records for rule, message in r.notes]), rules.rule_levels)


def hash_files(records: list[FileRecord]) -> None:
    for rec in records:
        rec.sha256 = rec.sha256 or sha256_of_file(Path(rec.path))


def _load_cached(records, rules: Rules, jobs: int, progress, cache: ParseCache) -> Parsed:
    hash_files(records)
    known = cache.known()
    # A file refused as found is refused again, whatever its content parsed to elsewhere.
    hits = [r for r in records if r.problem is None and r.sha256 and r.sha256 in known]
    misses = [r for r in records if not (r.problem is None and r.sha256 and r.sha256 in known)]
    log.info("缓存命中 %d 个文件，需要读取 %d 个", len(hits), len(misses))
    if progress and hits:
        progress(len(hits), len(records))
    step = (lambda done, total: progress(len(hits) + done, len(records))) if progress else None
    fresh = load_all(misses, rules, jobs, step)
    cached = cache.rows_for(pd.DataFrame({"name": [r.name for r in hits], "sha256": [r.sha256 for r in hits]}))
    # What the cache keeps next: every current file's rows once per content, keyed by SHA-256.
    by_name = concat([cached, fresh])
    del cached, fresh
    first = by_name.files.drop_duplicates("sha256")
    cache.stage(by_name.rename(pd.DataFrame({"file": first["file"], "new": first["sha256"]})))
    return by_name


def check_paths(paths: list[str | Path], rules: Rules, year: int | None = None) -> BatchResult:
    """`evalbatch check`: the same pipeline over named files, nothing written."""
    paths = [Path(p) for p in paths]
    records = []
    for p, name in zip(paths, _check_names(paths)):
        st = _status(p) or _UNKNOWN
        records.append(FileRecord(extended_path(str(p)), name, st.st_size, st.st_mtime, problem=_refused_by_name(p.name)))
    return evaluate(records, rules, year=year)


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

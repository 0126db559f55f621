"""One batch: discover files → read each (in parallel) → normalise → assemble → cross-file
checks → vectorised scoring and ranking. Writing the workbook is report.py's job.

A broken file never stops the batch: whatever goes wrong with one file becomes one 错误
finding for that file, and the rest go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import PARSER_VERSION, __version__
from . import findings as F
from . import schema as S
from .assemble import Parsed, assemble, concat
from .cache import ParseCache
from .checks import check_frames, check_scores
from .columns import INDICATORS
from .funds import reconcile
from .layouts import FORMAT1
from .parse import Located, locate, parse_chunk, wanted_sheet
from .reader import FileProblem, open_workbook, read_bytes, sha256_of, sha256_of_file
from .rules import Rules
from .scoring import rank, score_all

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

    @property
    def error_files(self) -> int:
        return sum(r.status in (REJECTED, HAS_ERROR) for r in self.records)


def _skip_reason(rel: Path) -> str | None:
    if any(part.startswith(".") for part in rel.parts):
        return "隐藏文件或文件夹"
    if rel.name.startswith("~$"):
        return "Office 锁定文件（~$）"
    if rel.suffix.lower() not in S.SUBMISSION_SUFFIXES:
        return "非表格文件"
    return None


def discover(input_dir: str | Path, settle_seconds: float = 0, now: float | None = None,
             exclude: Path | None = None) -> Discovery:
    """Submissions under `input_dir`, recursively; files younger than `settle_seconds` wait.

    `exclude` (the output folder, when it lies inside the input folder) is never entered:
    last night's workbook, history and feedback files are not submissions.
    """
    root = Path(input_dir)
    now = time.time() if now is None else now
    found = Discovery(files=[])
    skip_dir = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(root):
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                found.skipped["隐藏文件或文件夹"] = found.skipped.get("隐藏文件或文件夹", 0) + 1
            elif skip_dir is None or (Path(dirpath) / d).resolve() != skip_dir:
                kept.append(d)
        dirnames[:] = kept
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            rel = p.relative_to(root)
            reason = _skip_reason(rel)
            if reason:
                found.skipped[reason] = found.skipped.get(reason, 0) + 1
                continue
            try:
                st = p.stat()
            except OSError:
                continue  # vanished between listing and stat: the next run sees it or not
            rec = FileRecord(str(p), rel.as_posix(), st.st_size, st.st_mtime)
            (found.pending if now - st.st_mtime < settle_seconds else found.files).append(rec)
    return found


def load_one(path: str, name: str, rules: Rules) -> tuple[str, Located, str | None]:
    """(sha256, what was found in the file, traceback or None). Never raises for a bad file."""
    sha = ""
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


def _load_chunk(items: list[tuple[str, str]], rules: Rules, tick: Callable[[], None] | None = None) -> tuple[Parsed, list[tuple[str, str]]]:
    """Read a chunk of files (in a worker) and parse them together before sending them back.

    `tick` is called after each file, when the chunk is read in this process."""
    done = []
    for path, name in items:
        done.append(load_one(path, name, rules))
        if tick:
            tick()
    tracebacks = [(name, tb) for (_, name), (_, _, tb) in zip(items, done) if tb]
    located, shas = [loc for _, loc, _ in done], [sha for sha, _, _ in done]
    try:
        return parse_chunk(located, shas), tracebacks
    except Exception:
        # One file the vectorised parse cannot take must not cost the others: parse alone.
        parts = []
        for loc, sha in zip(located, shas):
            try:
                parts.append(parse_chunk([loc], [sha]))
            except Exception:
                tracebacks.append((loc.file, traceback.format_exc()))
                parts.append(parse_chunk([_failed(loc.file, "file.internal", INTERNAL)], [sha]))
        return concat(parts), tracebacks


def load_all(records: list[FileRecord], rules: Rules, jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Read every file, in `jobs` processes, in batches; one `Parsed` in the order of `records`."""
    items = [(r.path, r.name) for r in records]
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
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            parts = _gather(pool.map(_load_chunk, chunks, [rules] * len(chunks)), chunks, total, progress)
    parsed = concat(parts)
    sha = parsed.files.set_index("file")["sha256"]
    for rec in records:
        rec.sha256 = rec.sha256 or str(sha.get(rec.name, ""))
    return parsed


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
    newest = head["file"]
    msg = "单位编码 " + older["dept_code"] + " 同时出现在较新的文件“" + older["dept_code"].map(newest) + "”中；本文件未采用，以较新的文件为准"
    found = F.where(older, pd.Series(True, index=older.index), "file.superseded", msg, sheet=older["info_sheet"], cell=older["cell_dept_code"])
    gone = set(older["file"])
    for rec in records:
        if rec.name in gone:
            rec.status = SUPERSEDED
    keep = ~parsed.files["file"].isin(gone)
    kept = parsed.select(pd.Series(keep.to_numpy(), index=parsed.files["file"]))
    return _gather_members(kept, members), found, members


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


def process(records: list[FileRecord], parsed: Parsed, rules: Rules, year: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Everything after reading. Takes `parsed` over: its tables are dropped once assembled
    (callers pass it without keeping a reference), so a country's rows are not held twice."""
    t0 = time.perf_counter()
    usable = set(parsed.files.loc[parsed.files["usable"].astype(bool), "file"])
    codes = parsed.info.set_index("file")["dept_code"].astype(object).fillna("")
    layouts = parsed.info.set_index("file")["layout"].astype(object).fillna("")
    used, superseded, members = supersede(records, parsed)
    del parsed
    frames = assemble(used, [superseded])
    del used
    findings = F.concat([frames.findings, reconcile(frames, rules), check_frames(frames, rules, year)])
    F.relevel(findings, rules.rule_levels)
    errors = set(findings.loc[findings["level"] == F.ERROR, "file"])
    frames.depts["has_error"] = frames.depts["file"].isin(set(_unit(findings[findings["level"] == F.ERROR], members)))
    t1 = time.perf_counter()
    scored = score_all(frames, rules)
    findings = F.sort(F.relevel(F.concat([findings, check_scores(scored, rules)]), rules.rule_levels))
    # Checked: what the outputs do not show (parsed parts, cell addresses) can go.
    for column in [c for c in scored.indicators.columns if c not in KEPT_INDICATOR_COLUMNS]:
        del scored.indicators[column]  # in place: a copy of the frame is what this avoids
    depts = rank(_counts(scored.depts, findings, members), rules)
    t2 = time.perf_counter()
    _fill_ids(findings, depts, members)
    for rec in records:
        rec.dept_code = str(codes.get(rec.name, "")) if rec.name in usable else ""
        rec.layout = str(layouts.get(rec.name, "")) if rec.name in usable else ""
        if rec.status != SUPERSEDED:
            rec.status = REJECTED if rec.name not in usable else (HAS_ERROR if rec.name in errors else USED)
    return depts, scored.indicators, scored.projects, findings, {"check": t1 - t0, "score": t2 - t1}


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
             pending: list[FileRecord] | None = None, cache: ParseCache | None = None) -> BatchResult:
    """Read, check and score the given files; everything `run` and `check` need, no writing.

    With a `cache`, files whose content was parsed before are taken from it, and what the
    cache should hold next is staged in it (`ParseCache.commit` puts it in place).
    """
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    parsed = [load_all(records, rules, jobs, progress) if cache is None else _load_cached(records, rules, jobs, progress, cache)]
    t1 = time.perf_counter()
    depts, indicators, projects, findings, split = process(records, parsed.pop(), rules, year)
    pending = pending or []
    for rec in pending:
        rec.status = PENDING
    if pending:
        wait = F.frame([F.one("file.pending", "文件刚被修改，可能仍在复制中，本次未处理，将在下次运行时处理", file=r.name) for r in pending])
        findings = F.concat([findings, wait])
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
                       {"read": t1 - t0, **split})


def hash_files(records: list[FileRecord]) -> None:
    for rec in records:
        rec.sha256 = rec.sha256 or sha256_of_file(Path(rec.path))


def _load_cached(records, rules: Rules, jobs: int, progress, cache: ParseCache) -> Parsed:
    hash_files(records)
    known = cache.known()
    hits = [r for r in records if r.sha256 and r.sha256 in known]
    misses = [r for r in records if not (r.sha256 and r.sha256 in known)]
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
    records = []
    for p in paths:
        p = Path(p)
        st = p.stat() if p.exists() else None
        records.append(FileRecord(str(p), p.name, st.st_size if st else 0, st.st_mtime if st else 0.0))
    return evaluate(records, rules, year=year)

"""Evaluate: from the files' parsed rows to checked, scored and ranked departments.

Supersession (the newest file of a department wins), assembly, funds reconciliation, the
checks, scoring and ranking, with a failing department isolated. `check` and `run` share it;
nothing here writes a file, and reviews (抽评) are applied by the runner, not here."""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import PARSER_VERSION, __version__
from .. import findings as F
from .. import schema as S
from ..layouts import FORMAT1
from ..read.assemble import Frames, Parsed, assemble
from ..read.cache import ParseCache
from ..read.discover import HAS_ERROR, PENDING, REJECTED, SUPERSEDED, USED, FileRecord, records_for
from ..read.fileids import name_unread
from ..read.load import load_all, load_cached
from ..rules import Rules
from .checks import MISMATCH_WORD, check_frames, check_scores, exec_mismatch, offer_computed
from .funds import reconcile
from .scoring import dept_ranks, project_rank, rank, score_all

log = logging.getLogger("evalbatch")


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
    # The re-review (抽评): 抽评结果, adjustments and the review workbooks' findings; set by
    # review.apply (a stage above this one, hence no type here).
    review: Any = None
    # The departments as scored, before ranking: where a review's rescoring starts. Dropped
    # with the indicators' parsed parts by `trim`.
    scored_depts: pd.DataFrame | None = None

    @property
    def error_files(self) -> int:
        return sum(r.status in (REJECTED, HAS_ERROR) for r in self.records)

    def trim(self, keep: set[str]) -> None:
        """Drop what no output shows (parsed parts, cell addresses) once checks and reviews
        are done: `keep` is the indicator columns the writers use."""
        for column in [c for c in self.indicators.columns if c not in keep]:
            del self.indicators[column]  # in place: a copy of a million-row frame is what this avoids
        self.scored_depts = None

    def part(self, records: list[FileRecord]) -> BatchResult:
        """The result of `records` alone, cut from this result of a batch that holds them and
        shares no department with them (no 单位编码 in both, by content or by file name): their
        files' rows and findings, and the ranks among their departments and projects only (the
        one figure that depends on the rest of a batch). The web check evaluates waiting checks
        together this way; it is what evaluating `records` alone gives."""
        names = {r.name for r in records}

        def own(df: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if df is None else df[df["file"].isin(names)].reset_index(drop=True)

        depts, projects = own(self.depts), own(self.projects)
        depts["rank"], depts["cat_rank"] = dept_ranks(depts)
        projects["rank"] = project_rank(projects)
        return BatchResult(list(records), depts, own(self.indicators), projects, own(self.findings), dict(self.meta),
                           timings=dict(self.timings), scored_depts=own(self.scored_depts))


def supersede(records: list[FileRecord], parsed: Parsed) -> tuple[Parsed, pd.DataFrame, dict[str, str]]:
    """The same 单位编码 in several files: the newest file is used, each older one is named.

    Official forms are the exception: a department may send its projects' forms in several
    files. Those files are gathered into one department (the one with the department form,
    else the newest), and only a second department form (or format-1 workbook) supersedes.
    Returns the kept rows, the findings, and member file → the file it was gathered into.
    """
    # The modification time, or when a file dated in the future was first seen (night/runner.py).
    mtime = pd.Series({r.name: r.order_time for r in records}, dtype="float64")
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
    """Rows of member files re-keyed to their department's file; each keeps its `source`.
    A project sent in two files (the .xlsx and its budget-system export) is one project: the
    first file's rows are used, the other copy's rows (funds, indicators) dropped and named."""
    if not members:
        return parsed
    tables = {}
    for name, df in parsed.tables.items():
        df = df.assign(source=df["file"])
        df["file"] = df["file"].map(members).fillna(df["file"]).astype("string")
        tables[name] = df
    tables, twins = _one_copy(tables)
    info = parsed.info[~parsed.info["file"].isin(members)].reset_index(drop=True)
    return Parsed(parsed.files, info, tables, F.concat([parsed.findings, twins]))


def _one_copy(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each project's rows from the first file that holds it; the copies in later files named."""
    projects = tables.get(S.PROJECT_SHEET)
    if projects is None or projects.empty or "project_code" not in projects:
        return tables, F.frame([])
    code = projects["project_code"].astype(object).fillna("")
    used = projects.assign(_code=code).drop_duplicates(["file", "_code"]).set_index(["file", "_code"])["source"]
    out = {}
    for name, df in tables.items():
        if "project_code" not in df or df.empty:
            out[name] = df
            continue
        key = pd.MultiIndex.from_arrays([df["file"], df["project_code"].astype(object).fillna("")])
        first = pd.Series(used.reindex(key).to_numpy(), index=df.index)
        out[name] = df[first.isna() | first.eq(df["source"]) | df["project_code"].astype(object).fillna("").eq("")]
    p = projects.assign(_code=code)
    copies = p[p["_code"].ne("") & p["source"].ne(pd.Series(used.reindex(pd.MultiIndex.from_arrays([p["file"], p["_code"]])).to_numpy(),
                                                             index=p.index))]
    first = pd.Series(used.reindex(pd.MultiIndex.from_arrays([copies["file"], copies["_code"]])).to_numpy(), index=copies.index)
    found = F.where(copies.assign(file=copies["source"]), pd.Series(True, index=copies.index), "project.twin",
                    "项目 " + copies["_code"].astype(str) + " 也在文件“" + first.astype(str) + "”中；两份视为同一项目，只采用“"
                    + first.astype(str) + "”中的一份（资金不重复相加）", sheet=copies["sheet"], cell=copies["cell_project_code"])
    return out, found


def _unit(findings: pd.DataFrame, members: dict[str, str]) -> pd.Series:
    """The department file each finding counts for (a member file's count for the file it joined)."""
    return findings["file"].map(members).fillna(findings["file"]) if members else findings["file"]


def _counts(depts: pd.DataFrame, findings: pd.DataFrame, members: dict[str, str]) -> pd.DataFrame:
    by = findings.groupby([_unit(findings, members), "level"]).size().unstack(fill_value=0)
    for level in (F.ERROR, F.WARNING, F.NOTE):
        col = {F.ERROR: "errors", F.WARNING: "warnings", F.NOTE: "notes"}[level]
        depts[col] = depts["file"].map(by[level] if level in by else pd.Series(dtype=int)).fillna(0).astype(int)
    return depts


def process(records: list[FileRecord], parsed: Parsed, rules: Rules, year: int | None):
    """Everything after reading. Takes `parsed` over: its tables are dropped once assembled
    (callers pass it without keeping a reference), so a country's rows are not held twice.
    Returns (ranked depts, scored, findings, timings)."""
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
    # 最终得分 is the recomputed score until a review (抽评, applied by the runner) says otherwise.
    scored.indicators["final_score"] = scored.indicators["score"]
    scored.projects["final_total"], scored.projects["review_total"] = scored.projects["total"], np.nan
    depts = depts.assign(final_total=depts["total"], review_total=np.nan)
    t1 = time.perf_counter()
    _fill_ids(findings, depts, members)
    errors = set(findings.loc[findings["level"] == F.ERROR, "file"])
    for rec in records:
        rec.dept_code = str(codes.get(rec.name, "")) if rec.name in usable else ""
        rec.layout = str(layouts.get(rec.name, "")) if rec.name in usable else ""
        if rec.status != SUPERSEDED:
            rec.status = REJECTED if rec.name not in usable else (HAS_ERROR if rec.name in errors else USED)
    return depts, scored, findings, {"check_score": t1 - t0}


def _check_and_score(frames: Frames, rules: Rules, year: int | None, members: dict[str, str]):
    """The checks and the scoring of all departments at once: (findings, scored, ranked depts)."""
    findings = F.relevel(F.concat([frames.findings, check_frames(frames, rules, year)]), rules.rule_levels)
    frames.depts["has_error"] = frames.depts["file"].isin(set(_unit(findings[findings["level"] == F.ERROR], members)))
    scored = score_all(frames, rules)
    # One row per thing to fix: findings about one cell that say the same thing merged (after
    # the bureau's levels, so the merged row keeps the most severe of them).
    findings = F.sort(F.merge_same(F.relevel(F.concat([findings, check_scores(scored, rules)]), rules.rule_levels)))
    findings = offer_computed(findings, scored.indicators, scored.depts)
    # 项目汇总 shows the flag beside the department's 原因说明 (analysts filter on it).
    scored.projects["mismatch"] = np.where(exec_mismatch(scored.projects, rules), MISMATCH_WORD, "")
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
             cache: ParseCache | None = None) -> BatchResult:
    """Read, check and score the given files; everything `run` and `check` need, no writing.

    With a `cache`, files whose content was parsed before are taken from it, and what the
    cache should hold next is staged in it (`ParseCache.commit` puts it in place). `pending`
    files are still being copied and only named; `held` ones are too, but are among `records`
    with the content the previous run used (the cache's), so their departments stay.
    """
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    parsed = [load_all(records, rules, jobs, progress) if cache is None else load_cached(records, rules, jobs, progress, cache)]
    t1 = time.perf_counter()
    depts, scored, findings, split = process(records, parsed.pop(), rules, year)
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
    return BatchResult(records + pending, depts, scored.indicators, scored.projects, findings, meta, dict(skipped or {}),
                       {"read": t1 - t0, **split}, scored_depts=scored.depts)


def listing_findings(records: list[FileRecord], rules: Rules) -> pd.DataFrame:
    """What discovery noticed about files it passed on (FileRecord.notes): never cached, as
    it depends on the name, place and time of the file, not on its content."""
    return F.relevel(F.frame([F.one(rule, message, file=r.name) for r in records for rule, message in r.notes]), rules.rule_levels)


def check_paths(paths: list[str | Path], rules: Rules, year: int | None = None) -> BatchResult:
    """`evalbatch check`: the same pipeline over named files, nothing written."""
    return evaluate(records_for([Path(p) for p in paths]), rules, year=year)

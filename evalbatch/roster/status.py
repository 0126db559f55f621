"""Where each roster unit stands tonight (报送情况): the answer to the evening's 催报 question
"who has not sent anything, who sent a file with errors".

One row per roster unit, plus the submissions on no roster line (at the end, said so); the
status counts for the console, run.json and the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import findings as F
from ..judge.evaluate import BatchResult
from ..read.discover import PENDING, REJECTED, local_time
from ..read.fileids import ids_from_name
from .read import Roster

MISSING, ERRORS, USED, PROJECTS_ONLY, UNVERIFIED = "未提交", "有错误", "已采用", "仅项目表", "未能复核"
# The order of 报送情况: what needs a telephone call first.
STATUSES = (MISSING, ERRORS, UNVERIFIED, PROJECTS_ONLY, USED)
# 报送情况's columns, in order (write/columns.py gives their headers and kinds).
COLUMNS = ["dept_code", "dept_name", "dept_category", "parent_dept", "status", "last_time", "files", "errors", "warnings",
           "final_total", "grade", "layout", "expected_projects", "project_count", "contact", "deadline", "note", "file"]


@dataclass
class RosterStatus:
    table: pd.DataFrame  # `COLUMNS`, roster units first (by status, then code), then units on no roster line
    counts: dict[str, int]  # status → roster units with it, every status present (0 too)
    units: int  # units on the roster
    sha256: str
    source: str  # the roster file, as the operator named it

    def line(self) -> str:
        """`名单 120 个单位：已采用 98，有错误 9，未提交 13` (statuses with no unit left out)."""
        parts = "，".join(f"{s} {self.counts[s]}" for s in (USED, ERRORS, UNVERIFIED, PROJECTS_ONLY, MISSING) if self.counts[s])
        return f"名单 {self.units} 个单位：{parts or '没有单位'}"

    def missing(self) -> pd.DataFrame:
        return self.table[self.table["status"].eq(MISSING) & self.table["on_roster"]]


def roster_status(result: BatchResult, roster: Roster, source: str) -> RosterStatus:
    """The status of every roster unit after the night's scoring and reviews."""
    units = roster.units
    depts = result.depts.drop_duplicates("dept_code")
    files = _files_by_unit(result)
    counts = result.findings.assign(dept_code=result.findings["dept_code"].astype(str)).pivot_table(
        index="dept_code", columns="level", values="rule_id", aggfunc="size", fill_value=0)
    listed = pd.DataFrame({
        "dept_code": units["code"].astype(object), "dept_name": units["name"].astype(object),
        "dept_category": units["category"].astype(object), "parent_dept": units["parent"].astype(object),
        "expected_projects": units["expected_projects"], "contact": units["contact"].astype(object),
        "deadline": units["deadline"], "on_roster": True,
    })
    extra = depts[~depts["dept_code"].isin(set(units["code"]))]
    extra = pd.DataFrame({c: extra[c].astype(object) for c in ("dept_code", "dept_name", "dept_category", "parent_dept")}).assign(on_roster=False)
    t = pd.concat([listed, extra], ignore_index=True)
    d = depts.set_index("dept_code")
    own = t["dept_code"].map(d["file"]).notna()
    for column in ("dept_name", "dept_category", "parent_dept"):  # the form's own words where the roster has none
        t[column] = t[column].where(t[column].notna(), t["dept_code"].map(d[column]) if column in d else None)
    for column in ("final_total", "grade", "layout", "project_count", "file", "has_error", "has_dept_form"):
        t[column] = t["dept_code"].map(d[column]) if column in d else np.nan
    t["files"] = t["dept_code"].map(files["files"]).fillna(0).astype(int)
    t["pending"] = t["dept_code"].map(files["pending"]).fillna(0).astype(int)
    t["last_time"] = t["dept_code"].map(files["last"]).map(lambda v: local_time(v) if v == v and v else "")
    t["errors"] = t["dept_code"].map(counts[F.ERROR] if F.ERROR in counts else pd.Series(dtype=int)).fillna(0).astype(int)
    t["warnings"] = t["dept_code"].map(counts[F.WARNING] if F.WARNING in counts else pd.Series(dtype=int)).fillna(0).astype(int)
    t["status"] = unit_status(t.assign(scored=own))
    t["note"] = _notes(t)
    order = t["status"].map({s: i for i, s in enumerate(STATUSES)})
    t = t.assign(_k=~t["on_roster"], _o=order).sort_values(["_k", "_o", "dept_code"], kind="stable").drop(columns=["_k", "_o"])
    on = t[t["on_roster"]]["status"].value_counts()
    return RosterStatus(t.reset_index(drop=True), {s: int(on.get(s, 0)) for s in STATUSES}, len(units), roster.sha256, source)


def unit_status(t: pd.DataFrame) -> pd.Series:
    """The one place a unit's status is decided (the recognise branch's own result status, once
    present, goes here as one more condition for 未能复核).

    `t`: scored (a department was assembled for the unit), files (files of the unit that were
    read or refused), errors (its 错误 findings), has_dept_form, final_total."""
    scored = t["scored"].astype(bool)
    sent = scored | t["files"].gt(0)
    has_form = t["has_dept_form"].where(scored, False).astype(bool)
    conditions = [~sent, t["errors"].gt(0) | (sent & ~scored), scored & ~has_form, scored & t["final_total"].isna()]
    return pd.Series(np.select(conditions, [MISSING, ERRORS, PROJECTS_ONLY, UNVERIFIED], USED), index=t.index)


def _files_by_unit(result: BatchResult) -> pd.DataFrame:
    """Per unit code: files read or refused (a refused file counts for the code in its name),
    files still being copied, and the newest modification time among them."""
    rows = []
    for rec in result.records:
        code = rec.dept_code or (ids_from_name(rec.name)[0] if rec.status == REJECTED else "")
        if code:
            rows.append((code, rec.status != PENDING, rec.status == PENDING, rec.mtime or np.nan))
    df = pd.DataFrame(rows, columns=["code", "files", "pending", "last"])
    return df.groupby("code").agg(files=("files", "sum"), pending=("pending", "sum"), last=("last", "max"))


def _notes(t: pd.DataFrame) -> pd.Series:
    note = pd.Series("", index=t.index, dtype=object)
    note = note.where(t["on_roster"], "不在名单中")
    waiting = t["pending"].gt(0)
    note = note.where(~waiting, note.where(note.eq(""), note + "；") + t["pending"].astype(str) + " 个文件仍在复制中，下次运行处理")
    few = t["expected_projects"].notna() & t["project_count"].notna() & (t["project_count"] < t["expected_projects"]).fillna(False)
    more = "已报项目 " + t["project_count"].astype("Int64").astype(str) + " 个，少于应报 " + t["expected_projects"].astype("Int64").astype(str) + " 个"
    return note.where(~few, note.where(note.eq(""), note + "；") + more)

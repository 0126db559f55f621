"""Filled review workbooks read back, every bad input a finding naming the workbook, sheet and cell.

Workbooks are read like submissions (reader.open_workbook: python-calamine, with the same
limits on hostile files, in a sandboxed worker: read/sandbox.py). One that cannot be read, is no review workbook, or belongs to no
draw of this output folder is one 错误 and nothing of it applies; workbooks of another year
are left for that year's run. Otherwise each row stands alone: a row whose item or indicator
the draw does not have, whose locked cells differ from what the draw stored (changed outside
the fill-in columns), or whose score is out of range is named and left out, and the rest of
the workbook applies. Reviews of the same indicator that disagree (two reviewers, a copied
workbook) are named and neither applies.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from .. import findings as F
from ..files import TMP_PREFIX
from ..read.load import open_sandboxed
from ..read.reader import FileProblem, sha256_of_file
from ..read.sandbox import SandboxFailure
from ..rules import Rules
from ..schema import SUBMISSION_SUFFIXES
from ..values import number_text, parse_score
from ..write.columns import Col
from ..write.history import HistoryError
from .identity import IDENTITY, texts
from .layout import (
    DRAW_LABEL,
    INSTRUCTIONS,
    ITEM_FIXED,
    ITEM_KEY,
    ITEMS,
    MARK_COLUMNS,
    MARK_FIXED,
    MARK_KEY,
    MARKS,
    REVIEWER_LABEL,
    RUBRIC_PREFIX,
    REST_OK,
    REST_OK_WORDS,
    SHEETS,
    TOKEN_LABEL,
    YEAR_LABEL,
    item_columns,
    rubric_columns,
)
from .store import Draws, draws_of_year

NUMERIC = ("score", "rate", "money", "int")
MARK_OUT = ["draw_id", "item_no", "seq", "review_score", "verified", "comment", "review_file", "reviewer", "sheet", "cell"]
GRADE_OUT = ["draw_id", "item_no", "rest_ok", "reviewer_name", "review_date", "comment", "review_file", "sheet", "cell", "has_input"]


@dataclass
class Collected:
    """What the review workbooks say, checked against the draws they belong to."""

    items: pd.DataFrame  # the drawn items of the draws in play (the latest of the year, and those workbooks name)
    indicators: pd.DataFrame  # their indicator rows as drawn
    marks: pd.DataFrame  # indicator reviews that may apply (MARK_OUT)
    grades: pd.DataFrame  # item reviews (rubric_0 …, 复核人, 复核日期, 综合意见) that may apply (GRADE_OUT + rubric)
    findings: pd.DataFrame
    fingerprint: dict[str, str] = field(default_factory=dict)  # what a run must notice has changed

    @classmethod
    def none(cls) -> Collected:
        empty = Draws.empty()
        return cls(empty.items.assign(rubric_n=0), empty.indicators, pd.DataFrame(columns=MARK_OUT), pd.DataFrame(columns=GRADE_OUT),
                   F.frame())


def review_files(folder: Path) -> list[Path]:
    """Workbooks directly in the review folder (作废/ and other subfolders are not read)."""
    try:
        found = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    return sorted(p for p in found if p.suffix.lower() in SUBMISSION_SUFFIXES and not p.name.startswith(("~$", ".", TMP_PREFIX)))


def collect(folder: Path, db: Path, year: int, rules: Rules) -> Collected:
    """Every review workbook in `folder` for `year`, checked; never raises for a bad workbook."""
    files = review_files(Path(folder))
    try:
        draws, trouble = draws_of_year(db, year), ""
    except HistoryError as exc:
        draws, trouble = Draws.empty(), str(exc)
    shown = Path(folder).name
    read = [_one(p, f"{shown}/{p.name}", draws, year, rules, trouble) for p in files]
    read = [r for r in read if r is not None]
    latest = draws.draws["id"].max() if len(draws.draws) else None
    in_play = sorted({int(r.draw_id) for r in read if r.draw_id is not None} | ({int(latest)} if latest is not None else set()))
    mine = draws.only(in_play)
    items = mine.items.assign(rubric_n=mine.items["draw_id"].map(mine.draws.set_index("id")["params"].map(lambda p: len(p["rubric"]))))
    marks = pd.concat([r.marks for r in read], ignore_index=True) if read else Collected.none().marks
    grades = pd.concat([r.grades for r in read], ignore_index=True) if read else Collected.none().grades
    marks, grades, clashes = _agreed(marks.reindex(columns=MARK_OUT), grades, mine)
    findings = F.relevel(F.concat([*(r.findings for r in read), clashes]), rules.rule_levels)
    prints = {f"\x00{r.name}": r.sha256 for r in read}
    if len(mine.draws):  # a new draw must reach the workbook (抽评结果) even before anything is filled in
        prints["\x00draws"] = ",".join(f"{i}:{t}" for i, t in zip(mine.draws["id"], mine.draws["token"]))
    return Collected(items, mine.indicators, marks, grades, findings, prints)


@dataclass
class _Read:
    name: str
    sha256: str
    draw_id: int | None
    marks: pd.DataFrame
    grades: pd.DataFrame
    findings: pd.DataFrame


def _failed(name: str, sha: str, message: str) -> _Read:
    return _Read(name, sha, None, pd.DataFrame(columns=MARK_OUT), pd.DataFrame(columns=GRADE_OUT),
                 F.frame([F.one("review.unreadable", message, file=name)]))


def _one(path: Path, name: str, draws: Draws, year: int, rules: Rules, trouble: str) -> _Read | None:
    """One workbook: its usable reviews and its findings; None for a workbook of another year."""
    try:
        sha, raw = open_sandboxed(path, rules, tuple(SHEETS))  # as untrusted as a submission
    except (FileProblem, SandboxFailure) as problem:
        return _failed(name, sha256_of_file(path), f"抽评表无法读取：{problem.message}；本表内容均未采用")
    missing = [s for s in SHEETS if s not in raw.sheets]
    if missing:
        return _failed(name, sha, f"不是 evalbatch 生成的抽评表（缺少工作表“{'”“'.join(missing)}”）；本表内容均未采用")
    info = _labelled(raw.sheets[INSTRUCTIONS])
    if _text(info.get(YEAR_LABEL)) not in ("", str(year)):
        return None
    draw = _draw_of(info, draws)
    if draw is None:
        why = trouble or (f"运行记录中没有 {year} 年度编号为 {_text(info.get(DRAW_LABEL)) or '（空）'}、校验码为"
                          f" {_text(info.get(TOKEN_LABEL)) or '（空）'} 的抽取；该表可能来自其他输出文件夹，或“填写说明”被修改")
        return _failed(name, sha, f"抽评表无法对应到抽取记录：{why}；本表内容均未采用")
    rubric = [tuple(r) for r in draw["params"]["rubric"]]
    items, item_at = _table(raw.sheets[ITEMS], item_columns(rubric))
    marks, mark_at = _table(raw.sheets[MARKS], MARK_COLUMNS)
    if items is None or marks is None:
        sheet, lost = (ITEMS, item_at) if items is None else (MARKS, mark_at)
        return _failed(name, sha, f"工作表“{sheet}”的表头被修改（缺少“{'”“'.join(lost)}”），无法确定各列内容；本表内容均未采用")
    draw_id, label = int(draw["id"]), _text(info.get(REVIEWER_LABEL))
    grades, found_g = _grades(items, item_at, draws.only([draw_id]).items, rubric, name)
    grades["draw_id"] = draw_id
    marks, found_m = _marks(marks, mark_at, draws.only([draw_id]).indicators, name)
    marks["draw_id"] = draw_id
    names = grades.drop_duplicates("item_no").set_index("item_no")["reviewer_name"] if len(grades) else pd.Series(dtype=object)
    marks["reviewer"] = marks["item_no"].map(names).where(lambda s: s.fillna("").ne(""), f"复核组{label}")
    return _Read(name, sha, draw_id, marks.reindex(columns=MARK_OUT), grades, F.concat([found_g, found_m]))


def _labelled(rows: list[list]) -> dict[str, object]:
    """Label (column A) → value (column B) of the instructions sheet."""
    return {_text(r[0]): (r[1] if len(r) > 1 else "") for r in rows if r and _text(r[0])}


def _draw_of(info: dict, draws: Draws) -> dict | None:
    try:
        draw_id = int(float(_text(info.get(DRAW_LABEL))))
    except ValueError:
        return None
    hit = draws.draws[draws.draws["id"].eq(draw_id) & draws.draws["token"].eq(_text(info.get(TOKEN_LABEL)))]
    return None if hit.empty else hit.iloc[0].to_dict()


def _text(v) -> str:
    """A cell as text, as the draw stored it: numbers without a trailing .0, dates as ISO dates."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    return str(v).strip()


def _table(rows: list[list], cols: list[Col]) -> tuple[pd.DataFrame | None, dict | list]:
    """The sheet's rows under the columns named by its header (values as read), each row's
    Excel row number in `_row`; and where each column is (its letter). None and the missing
    headers when the header was changed."""
    header = {_text(h): i for i, h in reversed(list(enumerate(rows[0] if rows else [])))}
    lost = [c.header for c in cols if c.header not in header]
    if lost:
        return None, lost
    body = rows[1:]
    df = pd.DataFrame({c.source: [r[header[c.header]] if header[c.header] < len(r) else "" for r in body] for c in cols}, dtype=object)
    df["_row"] = np.arange(2, len(body) + 2)
    blank = df.drop(columns="_row").map(lambda v: _text(v) == "").all(axis=1) if len(df) else pd.Series(dtype=bool)
    return df[~blank].reset_index(drop=True), {c.source: xl_col_to_name(header[c.header]) for c in cols}


def _cell(df: pd.DataFrame, at: dict, source: str) -> pd.Series:
    return at[source] + df["_row"].astype(str)


def _column_text(s: pd.Series) -> pd.Series:
    return pd.Series([_text(v) for v in s.to_numpy(dtype=object)], index=s.index, dtype=object)


def _numbers(s: pd.Series) -> pd.Series:
    return pd.to_numeric(_column_text(s).replace("", np.nan), errors="coerce").astype("float64")


# Ways a date is typed where the cell did not take it as one: 2022-03-01, 2022/3/1, 2022.3.1,
# 2022年3月1日, 20220301.
_DATE = re.compile(r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{2})(\d{2}))")


def review_dates(values: pd.Series) -> pd.Series:
    """复核日期 as ISO dates (2022-03-01): a date cell as it is, a date typed as text in the
    usual ways; None where the value is blank or no date (下周, 2022-13-01, 44621)."""
    return pd.Series([_date(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype=object)


def _date(v) -> str | None:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.strftime("%Y-%m-%d")
    m = _DATE.fullmatch(_text(v))
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5))
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _matched(df: pd.DataFrame, stored: pd.DataFrame, key: tuple[str, ...], fixed: list[Col]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The rows with what the draw stored for their key beside them (`*_drawn`), whether the
    key is the draw's, and the headers of the locked cells that differ from it ("" for none)."""
    df = df.copy()
    df["item_no"] = _column_text(df["item_no"])
    if "seq" in key:
        df["seq"] = _numbers(df["seq"])
    stored = stored.assign(seq=pd.to_numeric(stored["seq"], errors="coerce").astype("float64")) if "seq" in key else stored
    drawn = stored[[*key, *(c.source for c in fixed if c.source not in key)]].drop_duplicates(list(key))
    m = df.merge(drawn, on=list(key), how="left", suffixes=("", "_drawn"), indicator=True)
    known = m["_merge"].eq("both")
    differ = pd.Series("", index=m.index, dtype=object)
    for c in fixed:
        if c.source in key:
            continue
        mine, theirs = m[c.source], m[f"{c.source}_drawn"]
        if c.kind in NUMERIC:
            a, b = _numbers(mine), pd.to_numeric(theirs, errors="coerce").astype("float64")
            off = a.isna().ne(b.isna()) | ((a - b).abs() > 1e-6)
        else:
            off = _column_text(mine).ne(_column_text(theirs))
        differ = differ + np.where(known & off, c.header + "、", "")
    return m, known, differ.str.rstrip("、")


def _located(file: str, m: pd.DataFrame) -> pd.DataFrame:
    """Where findings go: the review workbook (never a department: a review's problems are the bureau's)."""
    return pd.DataFrame({"file": file}, index=m.index)


def _row_findings(file: str, sheet: str, m: pd.DataFrame, at: dict, known: pd.Series, differ: pd.Series, what: pd.Series) -> pd.DataFrame:
    where = _located(file, m)
    return F.concat([
        F.where(where, ~known, "review.unknown", what + " 不是本抽评表所属抽取中的抽评对象（可能是手工添加或改动了编号的行）；该行未采用",
                sheet=sheet, cell=_cell(m, at, "item_no")),
        F.where(where, differ.ne(""), "review.changed",
                "该行锁定的“" + differ.str.replace("、", "”“", regex=False) + "”与抽取时不一致（工作表保护被取消后改动过）；"
                "该行的抽评内容未采用，请在原抽评表中只填写黄色单元格", sheet=sheet, cell=_cell(m, at, "item_no")),
    ])


def _score_problems(values: pd.Series, bad: pd.Series, raw: pd.Series, top: pd.Series, what: str) -> tuple[pd.Series, pd.Series]:
    """Which scores are unusable (not a number, negative, above `top`) and why."""
    negative, over = values < 0, values > top + 1e-9
    why = pd.Series(np.select([bad, negative, over], [
        what + "“" + _column_text(raw) + "”不是数字",
        what + " " + number_text(values) + " 为负数",
        what + " " + number_text(values) + " 超过满分 " + number_text(top),
    ], ""), index=values.index)
    return (bad | negative | over).fillna(False), why + np.where(bad | negative | over, "；未采用", "")


def _marks(df: pd.DataFrame, at: dict, stored: pd.DataFrame, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    m, known, differ = _matched(df, stored, MARK_KEY, MARK_FIXED)
    what = "抽评编号“" + m["item_no"] + "”、指标序号 " + number_text(m["seq"])
    value, bad = parse_score(m["review_score"].where(_column_text(m["review_score"]).ne(""), None))
    weight = pd.to_numeric(m["weight_drawn"], errors="coerce").astype("float64")
    invalid, why = _score_problems(value, bad, m["review_score"], weight, "抽评得分")
    usable = known & differ.eq("")
    found = F.concat([_row_findings(file, MARKS, m, at, known, differ, what),
                      F.where(_located(file, m), usable & invalid, "review.score_invalid", why, sheet=MARKS, cell=_cell(m, at, "review_score"))])
    verified, comment = _column_text(m["verified"]), _column_text(m["comment"])
    out = pd.DataFrame({
        "item_no": m["item_no"], "seq": m["seq"].astype("Int64"), "review_score": value.where(~invalid),
        "verified": verified.where(verified.ne("") & ~invalid, None), "comment": comment.where(comment.ne(""), None),
        "review_file": file, "sheet": MARKS,
        "cell": _cell(m, at, "review_score").where(verified.eq("") | value.notna(), _cell(m, at, "verified")),
    })
    keep = usable & ~invalid & (value.notna() | verified.ne("") | comment.ne(""))
    return out[keep].reset_index(drop=True), found


def _grades(df: pd.DataFrame, at: dict, stored: pd.DataFrame, rubric: list[tuple[str, float]], file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    m, known, differ = _matched(df, stored, ITEM_KEY, ITEM_FIXED)
    what = "抽评编号“" + m["item_no"] + "”"
    usable = known & differ.eq("")
    found = [_row_findings(file, ITEMS, m, at, known, differ, what)]
    out = pd.DataFrame({"item_no": m["item_no"]})
    for col, (item, top) in zip(rubric_columns(rubric), rubric):
        value, bad = parse_score(m[col.source].where(_column_text(m[col.source]).ne(""), None))
        invalid, why = _score_problems(value, bad, m[col.source], pd.Series(top, index=m.index), f"“{item}”评分")
        found.append(F.where(_located(file, m), usable & invalid, "review.rubric_invalid", why, sheet=ITEMS, cell=_cell(m, at, col.source)))
        out[col.source] = value.where(~invalid)
    for key in ("reviewer_name", "review_date", "comment"):
        text = _column_text(m[key])
        out[key] = text.where(text.ne(""), None)
    date = review_dates(m["review_date"])
    wrong = _column_text(m["review_date"]).ne("") & date.isna()
    found.append(F.where(_located(file, m), usable & wrong, "review.date_invalid",
                         what + "的复核日期“" + _column_text(m["review_date"]) + "”不是日期；抽评内容照常采用，请改为如 2022-03-01 的日期",
                         sheet=ITEMS, cell=_cell(m, at, "review_date")))
    out["review_date"] = date.where(date.notna(), out["review_date"])  # as a date: 2022-03-01, whatever way it was typed
    # Workbooks drawn before the column existed have no 其余指标核实无误: every indicator is filled.
    rest = _column_text(m[REST_OK]) if REST_OK in m else pd.Series("", index=m.index)
    out[REST_OK] = rest.eq(REST_OK_WORDS[0]).where(rest.ne(""), None)
    out["review_file"], out["sheet"], out["cell"] = file, ITEMS, _cell(m, at, "item_no")
    values = out.drop(columns=["item_no", "review_file", "sheet", "cell"])
    out["has_input"] = values.notna().any(axis=1)
    return out[usable].reset_index(drop=True), F.concat(found)


# --- reviews that disagree ------------------------------------------------------------------


def _agreed(marks: pd.DataFrame, grades: pd.DataFrame, draws: Draws) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reviews of one indicator (or one item's rubric) that differ between rows, whoever gave
    them: each named, none applied. Identical ones stand (applied once)."""
    ids = draws.indicators.assign(seq=pd.to_numeric(draws.indicators["seq"]).astype("Int64"))
    m = marks.assign(seq=marks["seq"].astype("Int64")).merge(
        ids[["draw_id", "item_no", "seq", *IDENTITY]].assign(draw_id=lambda d: d["draw_id"].astype(int)),
        on=["draw_id", "item_no", "seq"], how="left")
    m["_value"] = number_text(m["review_score"], "{:.2f}") + "｜" + m["verified"].fillna("").astype(str)
    scored = m["review_score"].notna() | m["verified"].notna()
    clash_m = _clashing(m, scored, IDENTITY, "_value")
    rubric = [c for c in grades.columns if c.startswith(RUBRIC_PREFIX)]
    g = grades.merge(draws.items[["draw_id", "item_no", "kind", "dept_code", "project_code"]].assign(
        draw_id=lambda d: d["draw_id"].astype(int)), on=["draw_id", "item_no"], how="left")
    g["_value"] = g[rubric].apply(lambda col: number_text(col, "{:.2f}")).agg("｜".join, axis=1) if rubric and len(g) else ""
    clash_g = _clashing(g, g[rubric].notna().any(axis=1) if rubric else pd.Series(False, index=g.index),
                        ["kind", "dept_code", "project_code"], "_value")
    found = F.concat([
        _clash_findings(m, clash_m, IDENTITY, "同一指标（单位 " + texts(m["dept_code"]) + "，项目 " + texts(m["project_code"])
                        + "，「" + texts(m["l3"]) + "」）", "抽评得分或核实完成值"),
        _clash_findings(g, clash_g, ["kind", "dept_code", "project_code"],
                        "同一抽评对象（单位 " + texts(g["dept_code"]) + "，项目 " + texts(g["project_code"]) + "）", "质量评分"),
    ])
    marks = m.loc[~clash_m, MARK_OUT].reset_index(drop=True)
    if rubric:
        g.loc[clash_g, rubric] = np.nan
    return marks, g.drop(columns=["kind", "dept_code", "project_code", "_value"]), found


def _clashing(df: pd.DataFrame, given: pd.Series, key: list[str], value: str) -> pd.Series:
    if df.empty:
        return pd.Series(False, index=df.index)
    distinct = df[given].groupby(key, dropna=False)[value].transform("nunique")
    return (distinct.reindex(df.index).fillna(1) > 1).astype(bool)


def _clash_findings(df: pd.DataFrame, clash: pd.Series, key: list[str], what: pd.Series, kind: str) -> pd.DataFrame:
    if not clash.any():
        return F.frame()
    sub = df[clash]
    places = (sub["review_file"] + " " + sub["cell"] + "（" + sub["_value"].str.strip("｜") + "）").groupby(
        [sub[k] for k in key], dropna=False).transform(lambda s: "；".join(s))
    message = what[clash] + "在多处的" + kind + "不一致：" + places + "；均未采用，请复核人协商后只在一份抽评表中填写"
    return F.where(sub[["review_file"]].rename(columns={"review_file": "file"}), pd.Series(True, index=sub.index), "review.conflict",
                   message, sheet=sub["sheet"], cell=sub["cell"])

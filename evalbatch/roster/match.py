"""Submissions measured against the roster: which roster unit each scored department is.

By 单位编码 first (both normalised the same way); a form that printed no code (its code was
derived from names, `form.code_derived`) is matched by its exact 单位名称 to a roster line,
and then carries that line's code from here on, so the ranking, the history and the status
all use the bureau's code. A department on no roster line is a 警告 and is still scored.
The roster's 单位类别 and 主管部门 fill in what a form lacks; where both exist and differ
the form's own value stands (a 提示).
"""

from __future__ import annotations

import pandas as pd

from .. import findings as F
from ..judge.evaluate import BatchResult
from ..judge.scoring import rank
from ..rules import Rules
from .read import Roster

# Columns of a department the roster may fill: department column → roster column, and its name.
FILLED = {"dept_category": ("category", "单位类别"), "parent_dept": ("parent", "主管部门")}


def match_roster(result: BatchResult, roster: Roster, rules: Rules, roster_name: str) -> None:
    """In place on `result`, before reviews are applied: codes by name, filled categories,
    the matching findings (and the departments' counts of them), ranks in category again."""
    units = roster.units
    depts = result.depts
    by_name = _recode_by_name(result, units)
    on_roster = depts["dept_code"].isin(set(units["code"]))
    found = [by_name, _unknown(depts, ~on_roster, roster_name)]
    matched = depts[on_roster].merge(units, left_on="dept_code", right_on="code", how="left")
    matched.index = depts.index[on_roster]
    filled = False
    for column, (source, label) in FILLED.items():
        own = depts[column].astype(object).where(depts[column].notna() & depts[column].astype(str).str.strip().ne(""), None)
        listed = matched[source].astype(object).where(matched[source].notna(), None).reindex(depts.index)
        gap = own.isna() & listed.notna()
        if gap.any():
            depts[column] = own.where(~gap, listed)
            filled = filled or column == "dept_category"
        differs = own.notna() & listed.notna() & own.ne(listed)
        found.append(F.where(depts, differs, "roster.differs",
                             lambda s, label=label, listed=listed, column=column:
                             f"{label}填写为“" + s[column].astype(str) + "”，名单中为“" + listed[s.index].astype(str) + "”；以文件填写的为准",
                             sheet=depts["info_sheet"], cell=depts.get(f"cell_{column}", "")))
    new = F.relevel(F.concat(found), rules.rule_levels)
    _count(depts, new)
    result.findings = F.concat([result.findings, new])
    if filled:
        _categories_everywhere(result)
        result.depts = rank(depts, rules)


def _recode_by_name(result: BatchResult, units: pd.DataFrame) -> pd.DataFrame:
    """Departments whose form printed no code, matched by exact name to one roster line whose
    code no other department has: they take that code everywhere. Returns the 提示 findings."""
    depts = result.depts
    derived = set(result.findings.loc[result.findings["rule_id"].eq("form.code_derived"), "file"])
    names = units.assign(key=units["name"].str.strip()).drop_duplicates("key", keep=False).set_index("key")
    names = names[~names["code"].isin(set(depts["dept_code"]))]
    key = depts["dept_name"].astype(str).str.strip()
    hit = depts["file"].isin(derived) & key.isin(names.index)
    hit &= ~key.where(hit).duplicated(keep=False) | ~hit  # two files naming one line: neither is guessed
    if not hit.any():
        return F.frame()
    codes = dict(zip(depts.loc[hit, "dept_code"], names.loc[key[hit], "code"]))
    before = depts.loc[hit].copy()
    _recode(result, codes)
    line = names.loc[key[hit]]
    code, name = line["code"].to_numpy(dtype=object), line["name"].to_numpy(dtype=object)
    return F.where(
        before.assign(dept_code=depts.loc[hit, "dept_code"]), hit[hit], "roster.matched_by_name",
        "表中没有写单位编码，已按单位名称“" + key[hit] + "”对应名单中的“" + code + " " + name + "”，单位编码按名单计为 " + code
        + "（原自动生成的编码 " + before["dept_code"] + "）",
        sheet=before["info_sheet"], cell=before.get("cell_dept_name", ""))


def _recode(result: BatchResult, codes: dict[str, str]) -> None:
    """Derived codes → roster codes in every frame and file record of the batch."""
    for frame in (result.depts, result.indicators, result.projects, result.findings):
        if "dept_code" in frame and len(frame):
            frame["dept_code"] = _replaced(frame["dept_code"], codes)
    for rec in result.records:
        rec.dept_code = codes.get(rec.dept_code, rec.dept_code)
    if result.scored_depts is not None and "dept_code" in result.scored_depts:
        result.scored_depts["dept_code"] = _replaced(result.scored_depts["dept_code"], codes)


def _replaced(s: pd.Series, codes: dict[str, str]) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):  # a million indicator rows: rename the few categories
        taken = set(s.cat.categories)
        if not any(new in taken for new in codes.values()):
            return s.cat.rename_categories(lambda c: codes.get(c, c))
    return s.astype(object).map(lambda c: codes.get(c, c)).astype(s.dtype if not isinstance(s.dtype, pd.CategoricalDtype) else object)


def _unknown(depts: pd.DataFrame, mask: pd.Series, roster_name: str) -> pd.DataFrame:
    return F.where(depts, mask, "roster.unknown_unit",
                   lambda s: "单位编码 " + s["dept_code"].astype(str) + "（" + s["dept_name"].astype(str) + f"）不在名单（{roster_name}）中；"
                   "已照常评分。请核对单位编码是否填错，或请财政部门将该单位补入名单",
                   sheet=depts["info_sheet"], cell=depts.get("cell_dept_code", ""))


def _count(depts: pd.DataFrame, new: pd.DataFrame) -> None:
    """The departments' 警告数 and 提示 counts with the new findings (none of them is an 错误)."""
    for level, column in ((F.WARNING, "warnings"), (F.NOTE, "notes")):
        if column in depts and len(new):
            extra = new.loc[new["level"].eq(level), "file"].value_counts()
            depts[column] = depts[column].add(depts["file"].map(extra).fillna(0)).astype(int)


def _categories_everywhere(result: BatchResult) -> None:
    """The indicator and project rows carry their department's 单位类别 too (统计分析, Parquet)."""
    category = result.depts.drop_duplicates("file").set_index("file")["dept_category"]
    for frame in (result.indicators, result.projects):
        if "dept_category" in frame and len(frame):
            frame["dept_category"] = frame["file"].map(category).astype("category")

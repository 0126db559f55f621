"""All departments into a few long DataFrames, one row per department / indicator / project.

`Parsed` is the compact form of many normalised files: one frame for 基本信息 (a row per
file), one per table sheet, one of findings, one listing every file read. Workers build it
for their chunk of files and send it back whole (a few frames pickle far faster than
thousands); the cache stores it; `assemble` turns it into the `Frames` that checks and
scoring use.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import findings as F
from .. import schema as S
from ..values import INDICATOR_PARTS

FUNDS = "资金来源"

# What official forms carry beyond format 1's columns (docs/template.md stays the contract
# for format 1: these never appear in the template). Blank for format-1 files.
EXTRA_FIELDS: tuple[S.Field, ...] = (
    S.Field("部门预算总额", "budget_total", S.MONEY, False, "部门整体自评表的资金合计：全年预算数"),
    S.Field("部门执行总额", "spent_total", S.MONEY, False, "部门整体自评表的资金合计：全年执行数"),
    S.Field("金额单位", "money_unit", S.TEXT, False, "万元，或表中注明的元"),
)
INFO_FIELDS = S.FIELDS + EXTRA_FIELDS
_L1_POINTS = S.Column("一级指标分值", "l1_points", S.SCORE, False, "一级指标标签中注明的分值，如 产出指标(50分)")
_EXTRA_COLUMNS: dict[str, tuple[S.Column, ...]] = {
    S.DEPT_INDICATOR_SHEET: (_L1_POINTS,),
    S.PROJECT_INDICATOR_SHEET: (_L1_POINTS,),
    S.PROJECT_SHEET: (
        S.Column("执行率分值", "exec_weight", S.SCORE, False, "表中年度资金总额的分值（10 或 20）"),
        S.Column("表中执行率", "exec_rate_printed", S.INDICATOR, False),
        S.Column("自评执行率得分", "exec_self_score", S.SCORE, False),
        S.Column("金额单位", "money_unit", S.TEXT, False),
    ),
}
_FUNDS_COLUMNS = (
    S.Column("项目编码", "project_code", S.CODE, False),
    S.Column("资金项目", "label", S.TEXT, False),
    S.Column("类别", "kind", S.TEXT, False),
    S.Column("年初预算数", "initial_budget", S.MONEY, False),
    S.Column("全年预算数", "budget", S.MONEY, False),
    S.Column("全年执行数", "spent", S.MONEY, False),
    S.Column("金额单位", "money_unit", S.TEXT, False),
)
TABLE_SHEETS = tuple(s.name for s in S.SHEETS if s.kind == "table") + (FUNDS,)


def frame_columns(name: str) -> tuple[S.Column, ...]:
    """A table's columns in the frames: format 1's, then what other layouts add."""
    if name == FUNDS:
        return _FUNDS_COLUMNS
    return S.columns_of(name) + _EXTRA_COLUMNS.get(name, ())


_NUMERIC = (S.MONEY, S.SCORE, S.INTEGER)
# Per file: which layouts it held, the sheet its fields came from, whether it has a department score.
_FILE_COLUMNS = ["layout", "info_sheet"]
_FIELD_COLUMNS = ["file", *_FILE_COLUMNS, "has_dept_form"] + [f.key for f in INFO_FIELDS] + [f"cell_{f.key}" for f in INFO_FIELDS]


@dataclass
class Parsed:
    files: pd.DataFrame  # file, sha256, usable (got as far as 基本信息)
    info: pd.DataFrame  # one row per usable file: field values and their cells
    tables: dict[str, pd.DataFrame]  # sheet name → rows of all files
    findings: pd.DataFrame

    def select(self, keep: pd.Series) -> Parsed:
        """Only the rows of files for which `keep` (indexed by file) is True."""
        if keep.all():
            return self
        names = set(keep[keep].index)

        def pick(df: pd.DataFrame) -> pd.DataFrame:
            return df[df["file"].isin(names)].reset_index(drop=True)

        return Parsed(pick(self.files), pick(self.info), {k: pick(v) for k, v in self.tables.items()}, pick(self.findings))

    def rename(self, mapping: pd.DataFrame) -> Parsed:
        """Rows re-keyed through `mapping` (columns file → new); one key may map to many."""
        m = mapping[["file", "new"]].drop_duplicates()

        def remap(df: pd.DataFrame) -> pd.DataFrame:
            out = df.merge(m, on="file", how="inner")
            return out.assign(file=out["new"].astype("string")).drop(columns="new")

        return Parsed(remap(self.files), remap(self.info), {k: remap(v) for k, v in self.tables.items()}, remap(self.findings))


def typed_info(info: pd.DataFrame | None = None) -> pd.DataFrame:
    """基本信息 of many files with one dtype per column: numbers float64, text strings."""
    info = (info if info is not None else pd.DataFrame()).reindex(columns=_FIELD_COLUMNS)
    info["has_dept_form"] = info["has_dept_form"].fillna(True).astype(bool)
    for f in INFO_FIELDS:
        if f.type in _NUMERIC:
            info[f.key] = pd.to_numeric(info[f.key], errors="coerce").astype("float64")
        else:
            info[f.key] = info[f.key].astype("string")
    for key in _FIELD_COLUMNS:
        if key.startswith("cell_") or key in ("file", *_FILE_COLUMNS):
            info[key] = info[key].fillna("").astype("string")
    return info


def typed_table(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 and text as strings, whatever the parts were (an empty part is all
    object), so frames concatenate, compare and store the same way every time."""
    for c in frame_columns(name):
        if c.key not in df:
            df[c.key] = None
        if c.type in _NUMERIC:
            df[c.key] = pd.to_numeric(df[c.key], errors="coerce").astype("float64")
        elif c.type == S.INDICATOR:
            for part, kind in INDICATOR_PARTS.items():
                col = f"{c.key}_{part}"
                df[col] = (pd.to_numeric(df[col], errors="coerce") if kind == "float64" else df[col]) if col in df else None
                df[col] = df[col].fillna(False).astype(bool) if kind == "bool" else df[col].astype(kind)
            df[c.key] = df[c.key].astype("string")
        else:
            df[c.key] = df[c.key].astype("string")
    for col in df.columns:
        if col.startswith("cell_") or col in ("file", "sheet"):
            df[col] = df[col].astype("string")
    df["row"] = pd.to_numeric(df["row"], errors="coerce").astype("Int64")
    return df


def concat(parts: list[Parsed]) -> Parsed:
    parts = [p for p in parts if p is not None]
    if not parts:
        return empty()
    return Parsed(
        pd.concat([p.files for p in parts], ignore_index=True),
        typed_info(pd.concat([p.info for p in parts if not p.info.empty], ignore_index=True) if any(len(p.info) for p in parts) else None),
        {k: typed_table(k, pd.concat([p.tables[k] for p in parts], ignore_index=True)) for k in TABLE_SHEETS},
        F.concat([p.findings for p in parts]),
    )


def empty() -> Parsed:
    tables = {k: typed_table(k, pd.DataFrame(columns=["file", "sheet", "row"])) for k in TABLE_SHEETS}
    return Parsed(pd.DataFrame(columns=["file", "sha256", "usable"]), typed_info(), tables, F.frame())


@dataclass
class Frames:
    depts: pd.DataFrame  # one row per submission that got as far as 基本信息
    indicators: pd.DataFrame  # 整体指标 and 项目指标 rows; project_code "" for 整体指标
    projects: pd.DataFrame
    details: pd.DataFrame
    findings: pd.DataFrame
    funds: pd.DataFrame  # official forms' funding rows: 合计 and its sources, per project ("" for the department)

    def only(self, files: list[str]) -> Frames:
        """A copy holding only these departments' rows (findings included)."""
        keep = set(files)

        def pick(df: pd.DataFrame) -> pd.DataFrame:
            return df[df["file"].isin(keep)].copy()

        return Frames(pick(self.depts), pick(self.indicators), pick(self.projects), pick(self.details), pick(self.findings), pick(self.funds))

    def without(self, files: list[str]) -> Frames:
        return self.only([f for f in self.depts["file"] if f not in set(files)])


_DEPT_KEYS = ["file", "dept_code", "dept_name", "dept_category"]


def assemble(parsed: Parsed, extra_findings: list[pd.DataFrame] | None = None) -> Frames:
    depts = parsed.info.copy()
    for key in ("dept_code", "dept_name"):
        depts[key] = depts[key].fillna("").astype(str)
    depts["dept_category"] = depts["dept_category"].astype(object).where(depts["dept_category"].notna(), None)
    findings = F.concat([parsed.findings] + list(extra_findings or []))
    errors = set(findings.loc[findings["level"] == F.ERROR, "file"])
    depts["has_error"] = depts["file"].isin(errors)
    depts["superseded"] = False
    # Repeated on every indicator row: categories keep one copy of each name.
    ids = depts[_DEPT_KEYS].astype({k: "category" for k in _DEPT_KEYS[1:]})

    def table(name: str) -> pd.DataFrame:
        df = parsed.tables[name].drop(columns=[c for c in ("dept_code", "dept_name", "dept_category") if c in parsed.tables[name]])
        return df.merge(ids, on="file", how="left")

    dept_ind = table(S.DEPT_INDICATOR_SHEET).assign(project_code="")
    # A project row without 项目编码 (reported as 必填项为空) belongs to no project; it is
    # never counted as a department indicator.
    project_ind = table(S.PROJECT_INDICATOR_SHEET)
    project_ind = project_ind[project_ind["project_code"].fillna("").ne("")]
    indicators = pd.concat([dept_ind, project_ind], ignore_index=True)
    indicators["project_code"] = indicators["project_code"].fillna("").astype(str)
    return Frames(depts, indicators, table(S.PROJECT_SHEET), table(S.DETAIL_SHEET), findings, table(FUNDS))

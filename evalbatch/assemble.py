"""All departments into a few long DataFrames, one row per department / indicator / project."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import findings as F
from . import schema as S
from .parse import Submission


@dataclass
class Frames:
    depts: pd.DataFrame  # one row per submission that got as far as 基本信息
    indicators: pd.DataFrame  # 整体指标 and 项目指标 rows; project_code "" for 整体指标
    projects: pd.DataFrame
    details: pd.DataFrame
    findings: pd.DataFrame


_DEPT_KEYS = ("file", "dept_code", "dept_name", "dept_category")


def assemble(subs: list[Submission], extra_findings: list[pd.DataFrame] | None = None) -> Frames:
    usable = [s for s in subs if s.info]
    depts = pd.DataFrame([_dept_row(s) for s in usable], columns=_dept_columns())
    for f in S.FIELDS:
        if f.type in (S.MONEY, S.SCORE, S.INTEGER):
            depts[f.key] = pd.to_numeric(depts[f.key], errors="coerce").astype("float64")
    depts["has_error"] = pd.Series([s.has_error for s in usable], dtype=bool)
    depts["superseded"] = False
    ids = depts[list(_DEPT_KEYS)]

    def table(name: str) -> pd.DataFrame:
        parts = [s.tables[name] for s in usable if name in s.tables and len(s.tables[name])]
        if not parts:
            parts = [pd.DataFrame(columns=["file", "sheet", "row"] + [c.key for c in S.columns_of(name)])]
        df = pd.concat(parts, ignore_index=True)
        return _with_ids(_numeric(df, S.columns_of(name)), ids)

    dept_ind = table(S.DEPT_INDICATOR_SHEET).assign(project_code="")
    indicators = pd.concat([dept_ind, table(S.PROJECT_INDICATOR_SHEET)], ignore_index=True)
    indicators["project_code"] = indicators["project_code"].fillna("").astype(str)
    findings = F.concat([s.findings_frame() for s in subs] + list(extra_findings or []))
    return Frames(depts, indicators, table(S.PROJECT_SHEET), table(S.DETAIL_SHEET), findings)


def _dept_columns() -> list[str]:
    keys = [f.key for f in S.FIELDS]
    return ["file"] + keys + [f"cell_{k}" for k in keys]


def _dept_row(s: Submission) -> dict:
    row = {"file": s.file, **{f.key: s.info.get(f.key) for f in S.FIELDS}}
    row.update({f"cell_{f.key}": s.info_cells.get(f.key, "") for f in S.FIELDS})
    row["dept_code"] = row["dept_code"] or ""
    row["dept_name"] = row["dept_name"] or ""
    return row


_NUMERIC = (S.MONEY, S.SCORE, S.NUMBER, S.INTEGER)


def _numeric(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Numbers as float64 whatever the parts were (an empty part is all object)."""
    for c in columns:
        if c.type in _NUMERIC:
            df[c.key] = pd.to_numeric(df[c.key], errors="coerce").astype("float64")
        elif c.type == S.INDICATOR and f"{c.key}_value" in df:
            df[f"{c.key}_value"] = pd.to_numeric(df[f"{c.key}_value"], errors="coerce").astype("float64")
    df["row"] = pd.to_numeric(df["row"], errors="coerce").astype("Int64")
    return df


def _with_ids(df: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    df = df.drop(columns=[c for c in ("dept_code", "dept_name", "dept_category") if c in df.columns])
    return df.merge(ids, on="file", how="left")

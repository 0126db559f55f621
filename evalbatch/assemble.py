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

from . import findings as F
from . import schema as S

TABLE_SHEETS = tuple(s.name for s in S.SHEETS if s.kind == "table")
_NUMERIC = (S.MONEY, S.SCORE, S.INTEGER)
_FIELD_COLUMNS = ["file"] + [f.key for f in S.FIELDS] + [f"cell_{f.key}" for f in S.FIELDS]


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
    for f in S.FIELDS:
        if f.type in _NUMERIC:
            info[f.key] = pd.to_numeric(info[f.key], errors="coerce").astype("float64")
        else:
            info[f.key] = info[f.key].astype("string")
    for key in _FIELD_COLUMNS:
        if key.startswith("cell_") or key == "file":
            info[key] = info[key].fillna("").astype("string")
    return info


def typed_table(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 and text as strings, whatever the parts were (an empty part is all
    object), so frames concatenate, compare and store the same way every time."""
    for c in S.columns_of(name):
        if c.key not in df:
            df[c.key] = None
        if c.type in _NUMERIC:
            df[c.key] = pd.to_numeric(df[c.key], errors="coerce").astype("float64")
        elif c.type == S.INDICATOR:
            for part, kind in (("value", "float64"), ("pct", "bool"), ("blank", "bool"), ("op", "string"), ("text", "string")):
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
    indicators = pd.concat([dept_ind, table(S.PROJECT_INDICATOR_SHEET)], ignore_index=True)
    indicators["project_code"] = indicators["project_code"].fillna("").astype(str)
    return Frames(depts, indicators, table(S.PROJECT_SHEET), table(S.DETAIL_SHEET), findings)

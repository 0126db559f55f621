"""From workbooks as read to plain tables, in two steps.

`locate` works on one file: it finds the fields by label and the columns by header
(forgivingly: spaces, full-width forms, quote marks; never by position), and records every
value with its Excel row and column, plus the findings about the file's structure. It is
plain Python over a few hundred cells, so it costs little per file.

`parse_chunk` then turns the values of many files into numbers and checks them, one
vectorised call per column for the whole chunk: pandas' per-call overhead is paid once per
chunk, not once per file. Each parsed row keeps its cell address, so every message can
say `项目指标!I17`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from . import findings as F
from . import schema as S
from . import values as V
from .assemble import TABLE_SHEETS, Parsed, typed_info, typed_table
from .reader import RawWorkbook

# How far down a sheet the header row may be (a title row or two above it is tolerated).
_HEADER_SEARCH_ROWS = 10
# Columns whose cell address is kept per row for findings.
_CELL_KEYS = ("project_code", "method", "weight", "target", "actual", "self_score", "reason", "budget", "spent", "amount", "self_grade")
_BY_LABEL = {S.norm_label(f.label): f for f in S.FIELDS}
_PARSED_SHEETS = {S.norm_label(s.name) for s in S.SHEETS if s.kind != "info"}


def wanted_sheet(name: str) -> bool:
    """Only the sheets that are parsed are read (填报说明 is long text nobody needs here)."""
    return S.norm_label(name) in _PARSED_SHEETS


@dataclass
class Located:
    """One file's values, found but not yet read as numbers."""

    file: str
    fields: dict[str, tuple[object, str]] = field(default_factory=dict)  # key → (raw value, cell)
    rows: dict[str, list[list]] = field(default_factory=dict)  # sheet → [excel row, value per column]
    letters: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet → key → column letter
    findings: list[dict] = field(default_factory=list)
    usable: bool = False  # got as far as a readable 基本信息 of a known template version

    def add(self, rule_id: str, message: str, sheet: str = "", cell: str = "") -> None:
        self.findings.append(F.one(rule_id, message, file=self.file, sheet=sheet, cell=cell))


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v))


def _find_header(rows: list[list], wanted: dict[str, str]) -> tuple[int, dict[str, int]]:
    """The row (0-based) that holds most of the wanted headers, and key → column index."""
    best_row, best = -1, {}
    for r, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        found = {}
        for c, cell in enumerate(row):
            key = wanted.get(S.norm_label(cell)) if isinstance(cell, str) else None
            if key and key not in found:
                found[key] = c
        if len(found) > len(best):
            best_row, best = r, found
    return best_row, best


def locate(raw: RawWorkbook, file: str) -> Located:
    loc = Located(file=file)
    for rule_id, message in raw.notes:
        loc.add(rule_id, message)
    sheets = {S.norm_label(name): rows for name, rows in raw.sheets.items()}
    info = sheets.get(S.norm_label(S.INFO_SHEET))
    if info is None:
        loc.add("sheet.missing", f"缺少工作表「{S.INFO_SHEET}」；请使用模板（evalbatch template）填写，不要改动工作表名称", S.INFO_SHEET)
        return loc
    _locate_fields(loc, info)
    if not _version_ok(loc):
        return loc  # a wrong template version: nothing else in the file can be trusted
    loc.usable = True
    for sheet in S.SHEETS:
        if sheet.kind != "table":
            continue
        rows = sheets.get(S.norm_label(sheet.name))
        if rows is None:
            if sheet.required:
                loc.add("sheet.missing", f"缺少工作表「{sheet.name}」（{sheet.purpose}）；请使用模板填写，不要删除或改名工作表", sheet.name)
            continue
        _locate_table(loc, sheet, rows)
    return loc


def _locate_fields(loc: Located, rows: list[list]) -> None:
    sheet = S.INFO_SHEET
    row0, cols = _find_header(rows, {S.norm_label(h): h for h in S.INFO_HEADER})
    label_col, value_col = cols.get("项目"), cols.get("数值")
    if label_col is None or value_col is None:
        # Without a header, fall back to the template's own layout rather than give up.
        row0, label_col, value_col = 0, 0, 1
        loc.add("header.missing", f"「{sheet}」第 1 行应为表头“项目 | 数值 | 说明”；已按 A 列项目、B 列数值读取", sheet, "A1")
    letter = xl_col_to_name(value_col)
    for r in range(row0 + 1, len(rows)):
        row = rows[r]
        f = _BY_LABEL.get(S.norm_label(row[label_col])) if label_col < len(row) and isinstance(row[label_col], str) else None
        if f is None:
            continue
        if f.key in loc.fields:
            loc.add("field.duplicate", f"项目「{f.label}」出现了不止一次，只采用第一次出现的值；请删除多余的行", sheet, f"{xl_col_to_name(label_col)}{r + 1}")
            continue
        loc.fields[f.key] = (row[value_col] if value_col < len(row) else None, f"{letter}{r + 1}")
    for f in S.FIELDS:
        if f.required and f.key not in loc.fields and f.key != "template_version":
            loc.add("field.missing", f"缺少项目「{f.label}」这一行；请按模板补上该行并填写", sheet, f"A{len(rows) + 1}")


def _version_ok(loc: Located) -> bool:
    raw, cell = loc.fields.get("template_version", (None, "A2"))
    readable = "、".join(S.SUPPORTED_VERSIONS)
    if _blank(raw):
        loc.add("template.version", f"缺少「模板版本」；本工具读取模板版本 {readable}，请使用 evalbatch template 生成的模板填写", S.INFO_SHEET, cell)
        return False
    version = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip().removesuffix(".0")
    if version not in S.SUPPORTED_VERSIONS:
        loc.add("template.version", f"模板版本为 {version}，本工具只读取模板版本 {readable}；请使用最新模板重新填写", S.INFO_SHEET, cell)
        return False
    loc.fields["template_version"] = (version, cell)
    return True


def _locate_table(loc: Located, sheet: S.Sheet, rows: list[list]) -> None:
    row0, cols = _find_header(rows, {S.norm_label(c.header): c.key for c in sheet.columns})
    missing = [c for c in sheet.columns if c.required and c.key not in cols]
    header_row = f"{max(row0, 0) + 1}:{max(row0, 0) + 1}"
    for c in missing:
        loc.add("header.missing", f"「{sheet.name}」缺少表头列「{c.header}」；请使用模板的表头，不要删除或改名列", sheet.name, header_row)
    if missing:
        return
    positions = [cols.get(c.key) for c in sheet.columns]
    out = []
    for r in range(row0 + 1, len(rows)):
        row = rows[r]
        values = [row[p] if p is not None and p < len(row) else None for p in positions]
        if not all(_blank(v) for v in values):
            out.append([r + 1, *values])
    loc.rows[sheet.name] = out
    loc.letters[sheet.name] = {key: xl_col_to_name(i) for key, i in cols.items()}


# --- many files at once ------------------------------------------------------------------


def parse_chunk(located: list[Located], shas: list[str]) -> Parsed:
    """The located values of many files → one `Parsed`, checked, one call per column."""
    files = pd.DataFrame({"file": [x.file for x in located], "sha256": shas, "usable": [x.usable for x in located]})
    usable = [x for x in located if x.usable]
    found: list[pd.DataFrame] = [F.frame([f for x in located for f in x.findings])]
    info = _parse_fields(usable, found)
    tables = {name: _parse_table(usable, S.SHEET_BY_NAME[name], found) for name in TABLE_SHEETS}
    return Parsed(files, info, tables, _with_ids(F.concat(found), info))


def _with_ids(findings: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Every finding of a file carries the department's code and name."""
    ids = info.set_index("file")
    findings["dept_code"] = findings["file"].map(ids["dept_code"]).astype(object).fillna("")
    findings["dept_name"] = findings["file"].map(ids["dept_name"]).astype(object).fillna("")
    return findings


def _parse_fields(usable: list[Located], found: list) -> pd.DataFrame:
    keys = [f.key for f in S.FIELDS]
    raw = pd.DataFrame([[x.fields.get(k, (None, ""))[0] for k in keys] for x in usable], columns=keys, dtype=object)
    cells = pd.DataFrame([[x.fields.get(k, (None, ""))[1] for k in keys] for x in usable], columns=keys, dtype=object)
    raw.insert(0, "file", [x.file for x in usable])
    out = pd.DataFrame({"file": raw["file"]})
    for f in S.FIELDS:
        value, bad = _parser(f.type, f.enum)(raw[f.key])
        blank = V.is_blank(raw[f.key])
        present = cells[f.key].ne("")
        cell = cells[f.key]
        where = dict(sheet=S.INFO_SHEET, cell=cell)
        if f.required:
            found.append(F.where(raw, blank & present, "value.required", f"「{f.label}」为必填项，目前为空；请填写（{f.hint}）", **where))
        found.append(F.where(raw, bad, *_bad_message(f.label, f.type, f.enum, raw[f.key]), **where))
        if f.type in (S.MONEY, S.INTEGER):
            unit = "金额" if f.type == S.MONEY else "人数"
            msg = lambda d, f=f, unit=unit, value=value: f"「{f.label}」为负数（" + V.number_text(value.loc[d.index]) + f"），{unit}应不小于 0"  # noqa: E731
            found.append(F.where(raw, value < 0, "value.negative", msg, **where))
        out[f.key] = value.where(~bad)
        out[f"cell_{f.key}"] = cell
    out["other_income"] = out["other_income"].fillna(0.0)  # blank 其他收入 counts as 0, per the template
    return typed_info(out)


def _parser(type_: str, enum: tuple = ()):
    if type_ == S.ENUM:
        return lambda s: V.parse_enum(s, enum)
    return {
        S.MONEY: V.parse_money,
        S.SCORE: V.parse_score,
        S.INTEGER: V.parse_integer,
        S.CODE: V.parse_code,
        S.TEXT: V.parse_text,
        S.INDICATOR: V.parse_text,
    }[type_]


def _shown(raw: pd.Series) -> pd.Series:
    return raw.astype("string").fillna("").str.strip()


def _bad_message(label: str, type_: str, enum: tuple, raw: pd.Series):
    """(rule id, message of the matching rows) for a value that cannot be read."""
    if type_ == S.ENUM:
        return "value.enum", lambda d: f"「{label}」填写的“" + _shown(raw.loc[d.index]) + f"”不在可选范围内；只能填写：{'、'.join(enum)}"
    return "value.unreadable", lambda d: f"「{label}」填写的“" + _shown(raw.loc[d.index]) + f"”无法识别为{_type_word(type_)}；{_type_hint(type_)}"


def _type_word(type_: str) -> str:
    return {S.MONEY: "金额", S.INTEGER: "整数", S.SCORE: "分数"}.get(type_, "数值")


def _type_hint(type_: str) -> str:
    return {
        S.MONEY: "请填写以万元为单位的数字，如 1458.06",
        S.INTEGER: "请填写不带小数的整数，如 80",
        S.SCORE: "请填写数字，如 2.5",
    }.get(type_, "请按填报说明填写")


def _parse_table(usable: list[Located], sheet: S.Sheet, found: list) -> pd.DataFrame:
    keys = [c.key for c in sheet.columns]
    rows = [[x.file, *r] for x in usable for r in x.rows.get(sheet.name, ())]
    data = pd.DataFrame(rows, columns=["file", "row", *keys], dtype=object)
    out = pd.DataFrame({"file": data["file"], "sheet": sheet.name, "row": pd.to_numeric(data["row"]).astype("Int64")})
    row_text = out["row"].astype("string")
    for col in sheet.columns:
        letters = {x.file: x.letters[sheet.name].get(col.key, "?") for x in usable if sheet.name in x.letters}
        cell = data["file"].map(letters).astype("string") + row_text
        if col.key in _CELL_KEYS:
            out[f"cell_{col.key}"] = cell
        raw = data[col.key]
        if col.type == S.INDICATOR:
            parsed = V.parse_indicator(raw)
            out[col.key] = V.parse_text(raw)[0]
            for part in ("value", "op", "pct", "text", "blank"):
                out[f"{col.key}_{part}"] = parsed[part]
            continue
        value, bad = _parser(col.type, col.enum)(raw)
        out[col.key] = value
        found.append(_table_findings(out, sheet.name, col, raw, bad, value, cell))
    return typed_table(sheet.name, out)


def _table_findings(out, name: str, col, raw, bad, value, cell) -> pd.DataFrame:
    parts = []
    if col.required:
        msg = f"「{col.header}」为必填项，目前为空；请补充该行的{col.header}"
        parts.append(F.where(out, V.is_blank(raw), "value.required", msg, sheet=name, cell=cell))
    parts.append(F.where(out, bad, *_bad_message(col.header, col.type, col.enum, raw), sheet=name, cell=cell))
    if col.type == S.MONEY:
        msg = lambda d: f"「{col.header}」为负数（" + _shown(raw.loc[d.index]) + "），金额应不小于 0"  # noqa: E731
        parts.append(F.where(out, pd.to_numeric(value, errors="coerce") < 0, "value.negative", msg, sheet=name, cell=cell))
    return F.concat(parts)


# --- one file, for `check`-like callers and tests ---------------------------------------------


@dataclass
class Submission:
    """One file after normalisation, as plain Python: `info` values and `tables` frames."""

    file: str
    info: dict
    info_cells: dict
    tables: dict[str, pd.DataFrame]
    findings: pd.DataFrame

    def findings_frame(self) -> pd.DataFrame:
        return self.findings

    @property
    def has_error(self) -> bool:
        return bool((self.findings["level"] == F.ERROR).any())


def normalise(raw: RawWorkbook, file: str) -> Submission:
    """One workbook → `Submission`, through the same path a batch takes (a chunk of one)."""
    parsed = parse_chunk([locate(raw, file)], [""])
    info, cells = {}, {}
    if len(parsed.info):
        row = parsed.info.iloc[0]
        present = {k for k in row.index if k.startswith("cell_") and row[k]}
        for f in S.FIELDS:
            if f"cell_{f.key}" not in present:
                continue
            v = row[f.key]
            info[f.key] = None if pd.isna(v) else int(v) if f.type == S.INTEGER else float(v) if f.type in (S.MONEY, S.SCORE) else str(v)
            cells[f.key] = row[f"cell_{f.key}"]
    tables = {k: v.reset_index(drop=True) for k, v in parsed.tables.items()}
    return Submission(file, info, cells, tables, parsed.findings)


__all__ = ["Located", "Submission", "locate", "normalise", "parse_chunk"]

"""Normalise one workbook, as read, into plain tables plus the findings of its own structure.

Fields are found by label and columns by header (forgivingly: spaces, full-width forms,
quote marks), never by position. Each parsed row keeps its Excel row number and the cell
address of the columns a finding may point at, so every message can say `项目指标!I17`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from . import findings as F
from . import schema as S
from . import values as V
from .reader import RawWorkbook

# How far down a sheet the header row may be (a title row or two above it is tolerated).
_HEADER_SEARCH_ROWS = 10
# Columns whose cell address is kept per row for findings.
_CELL_KEYS = ("project_code", "method", "weight", "target", "actual", "self_score", "reason", "budget", "spent", "amount", "self_grade")


@dataclass
class Submission:
    """One department's file after normalisation."""

    file: str
    info: dict = field(default_factory=dict)  # field key → parsed value (None when blank)
    info_cells: dict = field(default_factory=dict)  # field key → "B12"
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # sheet name → parsed rows
    findings: list[pd.DataFrame] = field(default_factory=list)

    def add(self, rule_id: str, message: str, sheet: str = "", cell: str = "") -> None:
        self.findings.append(F.frame([F.one(rule_id, message, file=self.file, sheet=sheet, cell=cell)]))

    def findings_frame(self) -> pd.DataFrame:
        out = F.concat(self.findings)
        out["dept_code"] = self.info.get("dept_code") or ""
        out["dept_name"] = self.info.get("dept_name") or ""
        return out

    @property
    def has_error(self) -> bool:
        return any((f["level"] == F.ERROR).any() for f in self.findings)


def normalise(raw: RawWorkbook, file: str) -> Submission:
    sub = Submission(file=file)
    for rule_id, message in raw.notes:
        sub.add(rule_id, message)
    sheets = {S.norm_label(name): df for name, df in raw.sheets.items()}
    info_raw = sheets.get(S.norm_label(S.INFO_SHEET))
    if info_raw is None:
        sub.add("sheet.missing", f"缺少工作表「{S.INFO_SHEET}」；请使用模板（evalbatch template）填写，不要改动工作表名称", S.INFO_SHEET)
        return sub
    if not _parse_fields(sub, info_raw):
        return sub  # a wrong template version: nothing else in the file can be trusted
    for sheet in S.SHEETS:
        if sheet.kind != "table":
            continue
        raw_df = sheets.get(S.norm_label(sheet.name))
        if raw_df is None:
            if sheet.required:
                sub.add("sheet.missing", f"缺少工作表「{sheet.name}」（{sheet.purpose}）；请使用模板填写，不要删除或改名工作表", sheet.name)
            sub.tables[sheet.name] = _empty_table(sheet)
            continue
        sub.tables[sheet.name] = _parse_table(sub, sheet, raw_df)
    return sub


# --- 基本信息 -------------------------------------------------------------------------


def _find_header(raw: pd.DataFrame, wanted: dict[str, str]) -> tuple[int, dict[str, int]]:
    """The row (0-based) that holds most of the wanted headers, and key → column index."""
    best_row, best = -1, {}
    for r in range(min(_HEADER_SEARCH_ROWS, len(raw))):
        found = {}
        for c, cell in enumerate(raw.iloc[r].tolist()):
            key = wanted.get(S.norm_label(cell)) if isinstance(cell, str) else None
            if key and key not in found:
                found[key] = c
        if len(found) > len(best):
            best_row, best = r, found
    return best_row, best


def _parse_fields(sub: Submission, raw: pd.DataFrame) -> bool:
    sheet = S.INFO_SHEET
    row0, cols = _find_header(raw, {S.norm_label(h): h for h in S.INFO_HEADER})
    label_col, value_col = cols.get("项目"), cols.get("数值")
    if label_col is None or value_col is None:
        # Without a header, fall back to the template's own layout rather than give up.
        row0, label_col, value_col = 0, 0, 1
        sub.add("header.missing", f"「{sheet}」第 1 行应为表头“项目 | 数值 | 说明”；已按 A 列项目、B 列数值读取", sheet, "A1")
    if raw.shape[1] <= max(label_col, value_col):
        raw = raw.reindex(columns=range(max(label_col, value_col) + 1))
    labels = raw.iloc[row0 + 1 :, label_col].map(S.norm_label)
    by_label = {S.norm_label(f.label): f for f in S.FIELDS}
    keys = labels.map(lambda lab: by_label[lab].key if lab in by_label else None).dropna()
    dup = keys.duplicated()
    letter = xl_col_to_name(value_col)
    for idx in keys[dup].index:
        f = S.FIELD_BY_KEY[keys[idx]]
        sub.add("field.duplicate", f"项目「{f.label}」出现了不止一次，只采用第一次出现的值；请删除多余的行", sheet, f"A{idx + 1}")
    keys = keys[~dup]
    cells = {k: f"{letter}{idx + 1}" for idx, k in keys.items()}
    raw_values = pd.Series(raw.iloc[:, value_col].loc[keys.index].to_numpy(), index=keys.to_numpy(), dtype=object)
    sub.info_cells = cells

    if not _check_version(sub, raw_values, cells):
        return False
    for f in S.FIELDS:
        if f.key not in raw_values.index and f.required:
            sub.add("field.missing", f"缺少项目「{f.label}」这一行；请按模板补上该行并填写", sheet, f"A{len(raw) + 1}")
    parsed = _parse_by_type(raw_values, {k: S.FIELD_BY_KEY[k] for k in raw_values.index})
    for key in raw_values.index:
        f = S.FIELD_BY_KEY[key]
        value, blank, bad = parsed.loc[key, "value"], parsed.loc[key, "blank"], parsed.loc[key, "bad"]
        sub.info[key] = None if blank or bad else _plain(value)
        where = cells[key]
        if blank:
            if f.required:
                sub.add("value.required", f"「{f.label}」为必填项，目前为空；请填写（{f.hint}）", sheet, where)
        elif bad:
            sub.add(*_bad_value(f.label, f.type, f.enum, raw_values[key]), sheet, where)
        elif f.type in (S.MONEY, S.INTEGER) and value < 0:
            unit = "金额" if f.type == S.MONEY else "人数"
            sub.add("value.negative", f"「{f.label}」为负数（{value:g}），{unit}应不小于 0", sheet, where)
        if f.type == S.INTEGER and sub.info[key] is not None:
            sub.info[key] = int(sub.info[key])
    if sub.info.get("other_income") is None:
        sub.info["other_income"] = 0.0  # blank 其他收入 counts as 0, per the template
    return True


def _check_version(sub: Submission, raw_values: pd.Series, cells: dict) -> bool:
    cell = cells.get("template_version", "A2")
    raw = raw_values.get("template_version")
    version = V.parse_code(pd.Series([raw], dtype=object))[0].iloc[0]
    readable = "、".join(S.SUPPORTED_VERSIONS)
    if version is pd.NA or version is None or str(version).strip() == "":
        sub.add("template.version", f"缺少「模板版本」；本工具读取模板版本 {readable}，请使用 evalbatch template 生成的模板填写", S.INFO_SHEET, cell)
        return False
    version = str(version).strip().removesuffix(".0")
    if version not in S.SUPPORTED_VERSIONS:
        sub.add("template.version", f"模板版本为 {version}，本工具只读取模板版本 {readable}；请使用最新模板重新填写", S.INFO_SHEET, cell)
        return False
    sub.info["template_version"] = version
    return True


def _plain(value):
    """numpy scalars → Python scalars, so info dicts pickle and print plainly."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA:
        return None
    return value


def _parse_by_type(raw: pd.Series, specs: dict) -> pd.DataFrame:
    """Parse each value by its field/column type, one vectorised call per type."""
    out = pd.DataFrame({"value": pd.Series(None, index=raw.index, dtype=object), "bad": False, "blank": V.is_blank(raw)})
    groups: dict[tuple, list] = {}
    for key, spec in specs.items():
        groups.setdefault((spec.type, spec.enum), []).append(key)
    for (type_, enum), keys in groups.items():
        value, bad = _parser(type_, enum)(raw.loc[keys])
        out.loc[keys, "value"] = value.astype(object).where(value.notna(), None)
        out.loc[keys, "bad"] = bad.to_numpy()
    return out


def _parser(type_: str, enum: tuple = ()):
    if type_ == S.ENUM:
        return lambda s: V.parse_enum(s, enum)
    return {
        S.MONEY: V.parse_money,
        S.SCORE: V.parse_score,
        S.NUMBER: V.parse_number,
        S.INTEGER: V.parse_integer,
        S.CODE: V.parse_code,
        S.TEXT: V.parse_text,
        S.INDICATOR: V.parse_text,
    }[type_]


def _bad_value(label: str, type_: str, enum: tuple, raw) -> tuple[str, str]:
    shown = str(raw).strip()
    if type_ == S.ENUM:
        return "value.enum", f"「{label}」填写的“{shown}”不在可选范围内；只能填写：{'、'.join(enum)}"
    return "value.unreadable", f"「{label}」填写的“{shown}”无法识别为{_type_word(type_)}；{_type_hint(type_)}"


def _type_word(type_: str) -> str:
    return {S.MONEY: "金额", S.INTEGER: "整数", S.SCORE: "分数", S.NUMBER: "数字"}.get(type_, "数值")


def _type_hint(type_: str) -> str:
    return {
        S.MONEY: "请填写以万元为单位的数字，如 1458.06",
        S.INTEGER: "请填写不带小数的整数，如 80",
        S.SCORE: "请填写数字，如 2.5",
        S.NUMBER: "请填写数字",
    }.get(type_, "请按填报说明填写")


# --- tables -----------------------------------------------------------------------------


def _empty_table(sheet: S.Sheet) -> pd.DataFrame:
    cols = ["file", "sheet", "row"] + [c.key for c in sheet.columns]
    return pd.DataFrame(columns=cols)


def _parse_table(sub: Submission, sheet: S.Sheet, raw: pd.DataFrame) -> pd.DataFrame:
    wanted = {S.norm_label(c.header): c.key for c in sheet.columns}
    row0, cols = _find_header(raw, wanted)
    missing = [c for c in sheet.columns if c.key not in cols]
    if row0 < 0:
        row0 = 0
    for c in missing:
        level_rule = "header.missing"
        if c.required:
            sub.add(level_rule, f"「{sheet.name}」缺少表头列「{c.header}」；请使用模板的表头，不要删除或改名列", sheet.name, f"{row0 + 1}:{row0 + 1}")
    if any(c.required for c in missing):
        return _empty_table(sheet)
    body = raw.iloc[row0 + 1 :]
    by_key = {c.key: c for c in sheet.columns}
    data = pd.DataFrame({k: body.iloc[:, i].astype(object) for k, i in cols.items()}, index=body.index)
    for c in missing:
        data[c.key] = None
    blank = pd.DataFrame({k: V.is_blank(data[k]) for k in data.columns})
    data = data.loc[~blank.all(axis=1)]
    blank = blank.loc[data.index]
    excel_row = pd.Series(data.index + 1, index=data.index).astype(str)
    out = pd.DataFrame({"file": sub.file, "sheet": sheet.name, "row": (data.index + 1).astype(int)}, index=data.index)
    for key in data.columns:
        col = by_key[key]
        letter = xl_col_to_name(cols[key]) if key in cols else "?"
        cell = letter + excel_row
        if key in _CELL_KEYS:
            out[f"cell_{key}"] = cell
        if col.type == S.INDICATOR:
            parsed = V.parse_indicator(data[key])
            out[key] = V.parse_text(data[key])[0]
            for part in ("value", "op", "pct", "text", "blank"):
                out[f"{key}_{part}"] = parsed[part]
            continue
        value, bad = _parser(col.type, col.enum)(data[key])
        out[key] = value
        _table_findings(sub, sheet, out, col, data[key], blank[key], bad, value, cell)
    return out.reset_index(drop=True)


def _table_findings(sub, sheet, out, col, raw, blank, bad, value, cell) -> None:
    name = sheet.name
    if col.required:
        msg = f"「{col.header}」为必填项，目前为空；请补充该行的{col.header}"
        sub.findings.append(F.where(out, blank, "value.required", msg, sheet=name, cell=cell))
    shown = raw.astype("string").fillna("").str.strip()
    if col.type == S.ENUM:
        msg = f"「{col.header}」填写的“" + shown + f"”不在可选范围内；只能填写：{'、'.join(col.enum)}"
        sub.findings.append(F.where(out, bad, "value.enum", msg, sheet=name, cell=cell))
    else:
        msg = f"「{col.header}」填写的“" + shown + f"”无法识别为{_type_word(col.type)}；{_type_hint(col.type)}"
        sub.findings.append(F.where(out, bad, "value.unreadable", msg, sheet=name, cell=cell))
    if col.type == S.MONEY:
        negative = pd.to_numeric(value, errors="coerce") < 0
        msg = f"「{col.header}」为负数（" + shown + "），金额应不小于 0"
        sub.findings.append(F.where(out, negative, "value.negative", msg, sheet=name, cell=cell))

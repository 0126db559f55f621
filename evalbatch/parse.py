"""From workbooks as read to plain tables, in two steps.

`layouts.locate` works on one file: one locator per layout finds the fields by label and
the columns by header (forgivingly: spaces, full-width forms, quote marks; never by
position), and records every value with its cell, plus the findings about the file's
structure. It is plain Python over a few hundred cells, so it costs little per file.

`parse_chunk` then turns the values of many files into numbers and checks them, one
vectorised call per column for the whole chunk: pandas' per-call overhead is paid once per
chunk, not once per file. Each parsed row keeps its cell address, so every message can
say `项目指标!I17`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import findings as F
from . import schema as S
from . import values as V
from .assemble import INFO_FIELDS, TABLE_SHEETS, Parsed, frame_columns, typed_info, typed_table
from .layouts import FORM_B, FORMAT1, Located, locate, wanted_sheet
from .reader import RawWorkbook
from .rules import Rules

# Columns whose cell address is kept per row for findings.
_CELL_KEYS = ("project_code", "method", "weight", "target", "actual", "self_score", "reason", "budget", "spent", "amount", "self_grade",
              "l1", "initial_budget", "exec_weight", "exec_rate_printed", "exec_self_score", "label")
_MONEY_KEYS = [f.key for f in INFO_FIELDS if f.type == S.MONEY]


# --- many files at once ------------------------------------------------------------------


def parse_chunk(located: list[Located], shas: list[str]) -> Parsed:
    """The located values of many files → one `Parsed`, checked, one call per column."""
    files = pd.DataFrame({"file": [x.file for x in located], "sha256": shas, "usable": [x.usable for x in located]})
    usable = [x for x in located if x.usable]
    found: list[pd.DataFrame] = [F.frame([f for x in located for f in x.findings])]
    info = _parse_fields(usable, found)
    tables = {name: _parse_table(usable, name, found) for name in TABLE_SHEETS}
    return Parsed(files, info, tables, _with_ids(F.concat(found), info))


def _with_ids(findings: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Every finding of a file carries the department's code and name."""
    ids = info.set_index("file")
    findings["dept_code"] = findings["file"].map(ids["dept_code"]).astype(object).fillna("")
    findings["dept_name"] = findings["file"].map(ids["dept_name"]).astype(object).fillna("")
    return findings


def _parse_fields(usable: list[Located], found: list) -> pd.DataFrame:
    keys = [f.key for f in INFO_FIELDS]
    raw = pd.DataFrame([[x.fields.get(k, (None, ""))[0] for k in keys] for x in usable], columns=keys, dtype=object)
    cells = pd.DataFrame([[x.fields.get(k, (None, ""))[1] for k in keys] for x in usable], columns=keys, dtype=object)
    raw.insert(0, "file", [x.file for x in usable])
    sheet = pd.Series([x.info_sheet for x in usable], index=raw.index, dtype=object)
    out = pd.DataFrame({"file": raw["file"], "layout": [x.layout for x in usable], "info_sheet": sheet,
                        "has_dept_form": [bool(x.layouts.get(FORMAT1) or x.layouts.get(FORM_B)) for x in usable]})
    for f in INFO_FIELDS:
        value, bad = _parser(f.type, f.enum)(raw[f.key])
        blank = V.is_blank(raw[f.key])
        present = cells[f.key].ne("")
        cell = cells[f.key]
        where = dict(sheet=sheet, cell=cell)
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
    for key in _MONEY_KEYS:
        out[key] = to_wan(out[key], raw["money_unit"])
    return typed_info(out)


def to_wan(money: pd.Series, unit: pd.Series) -> pd.Series:
    """Amounts written in 元 → 万元, exactly: rounded to whole 分 first, then divided."""
    yuan = unit.astype("string").fillna("").str.strip().eq("元").to_numpy()
    if not yuan.any():
        return money
    fen = V.round_half_up(money.astype("float64") * 100, 0)
    return money.where(~yuan, fen / 1_000_000)


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


def _parse_table(usable: list[Located], name: str, found: list) -> pd.DataFrame:
    columns = frame_columns(name)
    keys = [c.key for c in columns]
    width = len(keys) + 1  # format-1 rows stop at the template's columns; the rest are blank
    rows = [[x.file, *r, *[None] * (width - len(r))] for x in usable for r in x.rows.get(name, ())]
    data = pd.DataFrame(rows, columns=["file", "row", *keys], dtype=object)
    where = [w for x in usable for w in (x.where.get(name) or [None] * len(x.rows.get(name, ())))]
    out = pd.DataFrame({"file": data["file"], "sheet": [w[0] if w else name for w in where],
                        "row": pd.to_numeric(data["row"]).astype("Int64")})
    row_text = out["row"].astype("string")
    for col in columns:
        letters = {x.file: x.letters[name].get(col.key, "?") for x in usable if name in x.letters}
        cell = data["file"].map(letters).astype("string") + row_text
        if any(where):  # official forms: each row says where its values are ("" where it has none)
            own = pd.Series([w[1].get(col.key, "") if w else pd.NA for w in where], index=data.index, dtype="string")
            cell = own.fillna(cell)
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
        if col.type == S.MONEY and "money_unit" in data:
            value = to_wan(value, data["money_unit"])
        out[col.key] = value
        found.append(_table_findings(out, col, raw, bad, value, cell))
    return typed_table(name, out)


def _table_findings(out, col, raw, bad, value, cell) -> pd.DataFrame:
    parts = []
    sheet = out["sheet"]
    if col.required:
        # A column a layout does not have (no cell address) cannot be asked for.
        msg = f"「{col.header}」为必填项，目前为空；请补充该行的{col.header}"
        parts.append(F.where(out, V.is_blank(raw) & cell.fillna("").ne(""), "value.required", msg, sheet=sheet, cell=cell))
    parts.append(F.where(out, bad, *_bad_message(col.header, col.type, col.enum, raw), sheet=sheet, cell=cell))
    if col.type == S.MONEY:
        msg = lambda d: f"「{col.header}」为负数（" + _shown(raw.loc[d.index]) + "），金额应不小于 0"  # noqa: E731
        parts.append(F.where(out, pd.to_numeric(value, errors="coerce") < 0, "value.negative", msg, sheet=sheet, cell=cell))
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


def normalise(raw: RawWorkbook, file: str, rules: Rules | None = None) -> Submission:
    """One workbook → `Submission`, through the same path a batch takes (a chunk of one)."""
    parsed = parse_chunk([locate(raw, file, rules)], [""])
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


__all__ = ["Located", "Submission", "locate", "normalise", "parse_chunk", "wanted_sheet"]

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

import numpy as np
import pandas as pd

from .. import findings as F
from .. import schema as S
from .. import values as V
from ..formats.base import CellIssue, RawWorkbook
from ..layouts import FORM_B, FORMAT1, Located, locate, wanted_sheet
from ..rules import Rules, load_rules
from .assemble import INFO_FIELDS, TABLE_SHEETS, Parsed, frame_columns, typed_info, typed_table

# Columns whose cell address is kept per row for findings.
_CELL_KEYS = ("project_code", "method", "weight", "target", "actual", "self_score", "reason", "budget", "spent", "amount", "self_grade",
              "l1", "initial_budget", "exec_weight", "exec_rate_printed", "exec_self_score", "label")


# --- many files at once ------------------------------------------------------------------


def parse_chunk(located: list[Located], shas: list[str], rules: Rules | None = None) -> Parsed:
    """The located values of many files → one `Parsed`, checked, one call per column."""
    rules = rules or load_rules()
    files = pd.DataFrame({"file": [x.file for x in located], "sha256": shas, "usable": [x.usable for x in located]})
    usable = [x for x in located if x.usable]
    found: list[pd.DataFrame] = [F.frame([f for x in located for f in x.findings])]
    info = _parse_fields(usable, found, rules)
    tables = {name: _parse_table(usable, name, found, rules) for name in TABLE_SHEETS}
    return Parsed(files, info, tables, _with_ids(F.concat(found), info))


def _with_ids(findings: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Every finding of a file carries the department's code and name."""
    ids = info.set_index("file")
    findings["dept_code"] = findings["file"].map(ids["dept_code"]).astype(object).fillna("")
    findings["dept_name"] = findings["file"].map(ids["dept_name"]).astype(object).fillna("")
    return findings


def _parse_fields(usable: list[Located], found: list, rules: Rules) -> pd.DataFrame:
    keys = [f.key for f in INFO_FIELDS]
    raw = pd.DataFrame([[x.fields.get(k, (None, ""))[0] for k in keys] for x in usable], columns=keys, dtype=object)
    cells = pd.DataFrame([[x.fields.get(k, (None, ""))[1] for k in keys] for x in usable], columns=keys, dtype=object)
    raw.insert(0, "file", [x.file for x in usable])
    sheet = pd.Series([x.info_sheet for x in usable], index=raw.index, dtype=object)
    out = pd.DataFrame({"file": raw["file"], "layout": [x.layout for x in usable], "info_sheet": sheet,
                        "has_dept_form": [bool(x.layouts.get(FORMAT1) or x.layouts.get(FORM_B)) for x in usable]})
    yuan = in_yuan(raw["money_unit"])
    for f in INFO_FIELDS:
        cell = cells[f.key]
        present = cell.ne("")
        value = _read(raw, raw[f.key], f, found, rules, sheet, cell, asked=present, yuan=yuan)
        if f.type == S.CODE:
            changed = V.code_normalised(raw[f.key], value)
            found.append(F.where(raw, changed, "value.code_normalised", lambda d, f=f, value=value: f"「{f.label}」“" + _shown(raw.loc[d.index, f.key])
                                 + "”含空格、全角数字、不可见字符或“.0”，已按“" + value.loc[d.index] + "”读取；请更正为纯编码", sheet=sheet, cell=cell))
        out[f.key] = value
        out[f"cell_{f.key}"] = cell
    out["other_income"] = out["other_income"].fillna(0.0)  # blank 其他收入 counts as 0, per the template
    return typed_info(out)


def in_yuan(unit: pd.Series) -> np.ndarray:
    """The rows whose amounts are written in 元 (their money unit), once for all their amounts."""
    return unit.astype("string").fillna("").str.strip().eq("元").to_numpy(dtype=bool)


def to_wan(money: pd.Series, yuan: np.ndarray) -> pd.Series:
    """Amounts written in 元 (rows `yuan`) → 万元, exactly: rounded to whole 分 first, then divided."""
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


# Excel holds at most this many characters in a cell; longer text cannot be written back.
EXCEL_CELL_CHARS = 32_767
_NUMERIC = (S.MONEY, S.SCORE, S.INTEGER)


def _read(df: pd.DataFrame, raw: pd.Series, col, found: list, rules: Rules, sheet, cell, asked: pd.Series,
          yuan: np.ndarray | None = None) -> pd.Series:
    """One column of many files read as its type, with every finding about its cells: blank
    where required, unreadable, TRUE/FALSE for a number, negative, beyond what such a value
    can be (rules' limits; the value is then dropped, never scored), text cut at Excel's limit.

    `col` is a schema Field or Column (label/header, type, enum, required); `asked` marks
    the rows whose layout has the cell at all (a blank there is the department's); `yuan`
    the rows whose money unit is 元 (`in_yuan`): amounts are in 万元 before any limit is judged."""
    label = getattr(col, "label", None) or col.header
    where = dict(sheet=sheet, cell=cell)
    raw, issues = _cell_issues(df, raw, label, found, where)
    if issues is not None:
        asked = asked & ~issues
    if col.type in (S.TEXT, S.INDICATOR):
        raw = _cut(df, raw, label, found, where)
    value, bad = (V.parse_year if col.key == "year" else _parser(col.type, col.enum))(raw)
    if col.required:
        msg = f"「{label}」为必填项，目前为空；" + (f"请填写（{col.hint}）" if hasattr(col, "label") else f"请补充该行的{label}")
        found.append(F.where(df, V.is_blank(raw) & asked, "value.required", msg, **where))
    booleans = V.is_bool(raw) & bad
    found.append(F.where(df, booleans, "value.boolean",
                         f"「{label}」填写的是逻辑值（TRUE/FALSE），不是{_type_word(col.type)}；{_type_hint(col.type)}", **where))
    found.append(F.where(df, bad & ~booleans, *_bad_message(label, col.type, col.enum, raw, col.key), **where))
    if col.type == S.CODE:
        found.append(_digits_lost(df, raw, label, where))
    if col.type not in _NUMERIC:
        return value if col.type != S.INDICATOR else raw
    value = value.where(~bad)
    if col.type == S.MONEY and yuan is not None:
        value = to_wan(value, yuan)
    what = {S.MONEY: "金额", S.INTEGER: "人数", S.SCORE: "分值和得分"}[col.type]
    negative = value < 0
    found.append(F.where(df, negative, "value.negative", lambda d: f"「{label}」为负数（" + _as_typed(raw.loc[d.index]) + f"），{what}应不小于 0", **where))
    if col.type == S.SCORE:  # a negative 分值 or 得分 is never scored (it would lower a total below what was read)
        value = value.where(~negative)
    limit = _limit(col.type, rules)
    beyond = value.abs() > limit
    found.append(F.where(df, beyond, "value.out_of_range", lambda d: f"「{label}」填写的 " + _as_typed(raw.loc[d.index])
                         + f" 超出{_type_word(col.type)}的合理范围（绝对值不超过 {limit:,.15g}），未采用；"
                         "请核对是否误填了其他数字（如身份证号、账号）", **where))
    return value.where(~beyond)


def _cell_issues(df: pd.DataFrame, raw: pd.Series, label: str, found: list, where: dict) -> tuple[pd.Series, pd.Series | None]:
    """Error values (#DIV/0!) and formulas saved without a result, each with what to do; the
    cells then count as holding nothing (never "为空": the department did fill them in).
    Returns the column and its cells with an issue (None when there is none)."""
    kinds = [getattr(v, "kind", "") if isinstance(v, CellIssue) else "" for v in raw.to_numpy(dtype=object)]
    if not any(kinds):
        return raw, None  # the usual case, without building the masks below
    kinds = pd.Series(kinds, index=raw.index)
    issues = kinds.ne("")
    found.append(F.where(df, kinds.eq("error"), "value.error_cell", lambda d: f"「{label}」是错误值“" + _shown(raw.loc[d.index])
                         + "”（公式计算出错），不是数值；请改正公式或直接填写数值", **where))
    found.append(F.where(df, kinds.eq("formula"), "value.formula_no_result",
                         f"「{label}」是公式，但文件中没有保存计算结果（常见于由其他软件生成的文件）；请在 Excel 或 WPS 中打开该文件、"
                         "保存后重新提交", **where))
    return raw.where(~issues, None), issues


# Excel keeps 15 significant digits of a number: a longer code typed as a number is already
# changed in the file (…000001 → …12288 after the round trip through a double).
_EXACT_DIGITS = 15


def _digits_lost(df: pd.DataFrame, raw: pd.Series, label: str, where: dict) -> pd.DataFrame:
    """Codes and IDs typed as numbers beyond 15 digits: the digits are gone, so the code
    cannot be trusted to match anything — an error, with how to keep them."""
    values = raw.to_numpy(dtype=object)
    long = [isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) >= 10**_EXACT_DIGITS for v in values]
    return F.where(df, pd.Series(long, index=raw.index), "value.digits_lost",
                   lambda d: f"「{label}」按数字填写了 " + _as_typed(raw.loc[d.index]) + f"，超过 {_EXACT_DIGITS} 位的数字 Excel 只保留前 "
                   f"{_EXACT_DIGITS} 位，后面的数字已经改变；请把该单元格设置为“文本”格式后重新输入完整编码", **where)


def _as_typed(raw: pd.Series) -> pd.Series:
    """A cell as the department sees it: 620102198001011234, not 6.20102198001011e+17."""
    return pd.Series([str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in raw.to_numpy(dtype=object)],
                     index=raw.index, dtype="string")


def _limit(type_: str, rules: Rules) -> float:
    return rules.limit({S.MONEY: "max_money_wan", S.INTEGER: "max_count", S.SCORE: "max_points"}[type_])


def _cut(df: pd.DataFrame, raw: pd.Series, label: str, found: list, where: dict) -> pd.Series:
    """Text beyond Excel's cell limit, cut (and marked) so that every output can hold it."""
    long = pd.Series([isinstance(v, str) and len(v) > EXCEL_CELL_CHARS for v in raw.to_numpy(dtype=object)], index=raw.index)
    if not long.any():
        return raw
    mark = "…（已截断）"
    found.append(F.where(df, long, "value.too_long", lambda d: f"「{label}」的文字有 " + raw.loc[d.index].str.len().astype(str)
                         + f" 个字符，超过 Excel 单元格上限 {EXCEL_CELL_CHARS}，已截断；请精简后重新提交", **where))
    return raw.where(~long, raw[long].str.slice(0, EXCEL_CELL_CHARS - len(mark)) + mark)


def _bad_message(label: str, type_: str, enum: tuple, raw: pd.Series, key: str = ""):
    """(rule id, message of the matching rows) for a value that cannot be read."""
    if key == "year":
        return "value.unreadable", lambda d: f"「{label}」填写的“" + _shown(raw.loc[d.index]) + "”无法识别为年份；请填写四位年份，如 2021"
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


def _parse_table(usable: list[Located], name: str, found: list, rules: Rules) -> pd.DataFrame:
    columns = frame_columns(name)
    keys = [c.key for c in columns]
    width = len(keys) + 1  # format-1 rows stop at the template's columns; the rest are blank
    rows = [[x.file, *r, *[None] * (width - len(r))] for x in usable for r in x.rows.get(name, ())]
    data = pd.DataFrame(rows, columns=["file", "row", *keys], dtype=object)
    where = [w for x in usable for w in (x.where.get(name) or [None] * len(x.rows.get(name, ())))]
    out = pd.DataFrame({"file": data["file"], "sheet": [w[0] if w else name for w in where],
                        "row": pd.to_numeric(data["row"]).astype("Int64")})
    files, sheet = data["file"].tolist(), out["sheet"]
    row_text = [None if v is pd.NA else str(v) for v in out["row"].tolist()]
    yuan = in_yuan(data["money_unit"]) if "money_unit" in data else None
    for col in (S.with_grades(c, rules.grade_names) for c in columns):
        letters = {x.file: x.letters[name].get(col.key, "?") for x in usable if name in x.letters}
        cells = _cells(col.key, files, row_text, where, letters)
        cell = pd.Series(cells, index=data.index, dtype="string")
        if col.key in _CELL_KEYS:
            out[f"cell_{col.key}"] = cell
        # A column a layout does not have (no cell address) cannot be asked for.
        asked = pd.Series([bool(c) for c in cells], index=data.index, dtype=bool)
        raw = _read(out, data[col.key], col, found, rules, sheet, cell, asked=asked, yuan=yuan)
        if col.type == S.INDICATOR:
            parsed = V.parse_indicator(raw)
            out[col.key] = V.parse_text(raw)[0]
            for part in V.INDICATOR_PARTS:
                out[f"{col.key}_{part}"] = parsed[part]
            continue
        out[col.key] = raw
    return typed_table(name, out)


def _cells(key: str, files: list, row_text: list, where: list, letters: dict) -> list[str | None]:
    """Each row's cell address of column `key`: where an official form's row says it is ("" where
    it has none), else the column's letter in the file's sheet and the row; None when neither
    is known. In plain Python, once per column: a check's rows are few, its columns many."""
    if None not in where:  # official forms only: each row says where its cells are
        return [w[1].get(key, "") for w in where]
    cells = []
    for file, row, w in zip(files, row_text, where):
        cell = w[1].get(key, "") if w else None
        if cell is None:
            letter = letters.get(file)
            cell = None if letter is None or row is None else letter + row
        cells.append(cell)
    return cells


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
    parsed = parse_chunk([locate(raw, file, rules)], [""], rules)
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

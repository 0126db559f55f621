"""The submission workbook: the blank template departments fill, and filled copies (samples).

Both come from one writer driven by `schema`, so the template and every sample always agree
with the reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import xlsxwriter

from . import schema as S
from .rules import Rules, load_rules

TEMPLATE_FILE_NAME = "绩效自评填报模板.xlsx"
# Data validation and formats reach this far down each table sheet.
TABLE_ROWS = 2000
# A fixed creation time keeps the generated template byte-stable, so the committed copy
# changes only when the template really changes.
_FIXED_TIME = dt.datetime(2024, 1, 1)

# Workbook options: text from anyone is written as text, never as a formula, link or number.
SAFE_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "等线", "font_size": 11, "valign": "vcenter"}
        self.header = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "border": 1, "align": "center", "text_wrap": True})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.wrap = wb.add_format({**base, "text_wrap": True})
        self.money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.integer = wb.add_format({**base, "num_format": "0"})
        self.score = wb.add_format({**base, "num_format": "0.00"})
        self.label = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.required = wb.add_format({**base, "bold": True, "bg_color": "#FCE4D6", "border": 1})
        self.hint = wb.add_format({**base, "font_color": "#7F7F7F", "text_wrap": True})
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.plain = wb.add_format(base)

    def for_type(self, type_: str):
        return {
            S.MONEY: self.money,
            S.INTEGER: self.integer,
            S.SCORE: self.score,
            S.CODE: self.text,
            S.INDICATOR: self.text,
        }.get(type_, self.plain)


def write_submission(path: str | Path, data: Mapping | None = None, *, year: int | None = None, rules: Rules | None = None) -> Path:
    """Write a submission workbook: blank (the template) when `data` is None, else filled.

    `data` has `info` (field key → value) and the row lists `indicators`, `projects`,
    `project_indicators`, `details` (each row a mapping of column key → value).
    """
    rules = rules or load_rules()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Small workbooks: building them in memory halves the time against xlsxwriter's temp files.
    wb = xlsxwriter.Workbook(str(path), {**SAFE_OPTIONS, "in_memory": True})
    wb.set_properties({"title": "预算绩效自评填报表", "created": _FIXED_TIME, "author": "evalbatch"})
    fmt = _Formats(wb)
    data = data or {}
    info = dict(data.get("info") or {})
    if data == {}:
        info = {"template_version": S.TEMPLATE_VERSION, **({"year": year} if year else {})}
    _instructions(wb, fmt, rules)
    _fields_sheet(wb, fmt, info)
    indicators = data.get("indicators") if data else _auto_rows(rules)
    _table_sheet(wb, fmt, S.DEPT_INDICATOR_SHEET, indicators or [])
    _table_sheet(wb, fmt, S.PROJECT_SHEET, data.get("projects") or [])
    _table_sheet(wb, fmt, S.PROJECT_INDICATOR_SHEET, data.get("project_indicators") or [])
    _table_sheet(wb, fmt, S.DETAIL_SHEET, data.get("details") or [])
    wb.close()
    return path


def _auto_rows(rules: Rules) -> list[dict]:
    rows = []
    for method, weight in rules.auto_weights.items():
        l1, l2, l3 = S.AUTO_ROW_LABELS[method]
        rows.append({"l1": l1, "l2": l2, "l3": l3, "method": method, "weight": weight})
    return rows


def _instructions(wb, fmt: _Formats, rules: Rules) -> None:
    ws = wb.add_worksheet("填报说明")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 100)
    lines: list[tuple[str, str]] = [
        ("模板版本", f"{S.TEMPLATE_VERSION}（请勿修改工作表名称、表头和“基本信息”的项目名称）"),
        ("金额单位", "万元，保留两位小数；可直接填数字，也可写“12.50万元”"),
        ("单位编码", "按文本填写，前导 0 会保留"),
        ("提交前自查", "可运行 evalbatch check 文件名 检查本表，错误和警告会指出工作表和单元格"),
        ("", ""),
    ]
    for sheet in S.SHEETS[1:]:
        need = "必填" if sheet.required else "选填"
        lines.append((f"工作表「{sheet.name}」", f"{sheet.purpose}（{need}）"))
        if sheet.kind == "table":
            lines.append(("", "列：" + "、".join(c.header for c in sheet.columns)))
    lines.append(("", ""))
    for method in S.METHODS:
        lines.append((f"计分方法「{method}」", _method_help(method, rules)))
    lines.append(("", ""))
    bounds = "；".join(f"{n} ≥ {b:g}" for n, b in zip(rules.grade_names, rules.grade_bounds))
    lines.append(("评价等级", bounds))
    ws.write_string(0, 0, "预算绩效自评填报说明", fmt.title)
    for i, (a, b) in enumerate(lines, start=2):
        ws.write_string(i, 0, a, fmt.label if a else fmt.plain)
        ws.write_string(i, 1, b, fmt.wrap)


def _method_help(method: str, rules: Rules) -> str:
    if method != "定性":
        return S.METHOD_HELP[method]
    by_share: dict[float, list[str]] = {}
    for word, share in rules.levels.items():
        by_share.setdefault(share, []).append(word)
    parts = [f"{'/'.join(words)} 得 {share:.0%}" for share, words in sorted(by_share.items(), reverse=True)]
    return "实际值填等级词：" + "；".join(parts) + "；其他文字沿用自评得分并提示人工复核"


def _fields_sheet(wb, fmt: _Formats, info: Mapping) -> None:
    ws = wb.add_worksheet(S.INFO_SHEET)
    ws.set_column(0, 0, 32)
    ws.set_column(1, 1, 40)
    ws.set_column(2, 2, 44)
    for c, head in enumerate(S.INFO_HEADER):
        ws.write_string(0, c, head, fmt.header)
    ws.freeze_panes(1, 0)
    for r, field in enumerate(S.FIELDS, start=1):
        ws.write_string(r, 0, field.label, fmt.required if field.required else fmt.label)
        cell_fmt = fmt.for_type(field.type)
        _write_value(ws, r, 1, info.get(field.key), cell_fmt, fmt)
        hint = ("必填。" if field.required else "选填。") + field.hint
        ws.write_string(r, 2, hint, fmt.hint)
        if field.type == S.ENUM:
            ws.data_validation(r, 1, r, 1, _list_validation(field.enum, field.label))
        elif field.type in (S.MONEY, S.INTEGER):
            ws.data_validation(r, 1, r, 1, _non_negative(field))


def _table_sheet(wb, fmt: _Formats, name: str, rows: Sequence[Mapping]) -> None:
    ws = wb.add_worksheet(name)
    columns = S.columns_of(name)
    for c, col in enumerate(columns):
        ws.set_column(c, c, col.width, fmt.for_type(col.type))
        ws.write_string(0, c, col.header, fmt.header)
        if col.hint:
            ws.write_comment(0, c, col.hint, {"author": "evalbatch", "x_scale": 2})
        if col.type == S.ENUM:
            ws.data_validation(1, c, TABLE_ROWS, c, _list_validation(col.enum, col.header))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 0, len(columns) - 1)
    for r, row in enumerate(rows, start=1):
        for c, col in enumerate(columns):
            _write_value(ws, r, c, row.get(col.key), fmt.for_type(col.type), fmt)


def _write_value(ws, r: int, c: int, value, cell_fmt, fmt: _Formats) -> None:
    if value is None or value == "":
        ws.write_blank(r, c, None, cell_fmt)
    elif isinstance(value, bool):
        ws.write_string(r, c, str(value), cell_fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(r, c, value, cell_fmt)
    else:
        ws.write_string(r, c, str(value), cell_fmt)


def _list_validation(words: Sequence[str], what: str) -> dict:
    return {
        "validate": "list",
        "source": list(words),
        "error_title": "请从列表中选择",
        "error_message": f"{what}只能填写：" + "、".join(words),
    }


def _non_negative(field: S.Field) -> dict:
    kind = "integer" if field.type == S.INTEGER else "decimal"
    return {
        "validate": kind,
        "criteria": ">=",
        "value": 0,
        "error_type": "warning",
        "error_title": "请检查数值",
        "error_message": f"{field.label}应为不小于 0 的{'整数' if kind == 'integer' else '数字'}",
    }


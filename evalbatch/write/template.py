"""The submission workbook: the blank template departments fill, and filled copies (samples).

Both come from one writer driven by `schema`, so the template and every sample always agree
with the reader.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from .. import schema as S
from ..judge.scoring import AUTO_PARTS, CEILING_METHODS, EXECUTION_METHODS
from ..rules import Rules, load_rules
from . import printing
from .book import Workbook

TEMPLATE_FILE_NAME = "绩效自评填报模板.xlsx"
# Data validation and formats reach this far down each table sheet.
TABLE_ROWS = 2000
# A fixed creation time keeps the generated template byte-stable, so the committed copy
# changes only when the template really changes.
_FIXED_TIME = dt.datetime(2024, 1, 1)



FONT_SIZE = 11


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "等线", "font_size": FONT_SIZE, "valign": "vcenter"}
        self.header = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "border": 1, "align": "center", "text_wrap": True})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.wrap = wb.add_format({**base, "text_wrap": True})
        self.money = wb.add_format({**base, "num_format": "#,##0.00"})
        self.integer = wb.add_format({**base, "num_format": "0"})
        self.score = wb.add_format({**base, "num_format": "0.00"})
        self.rate = wb.add_format({**base, "num_format": "0.00%"})
        self.label = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.label_wrap = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
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


def write_submission(path: str | Path, data: Mapping | None = None, *, year: int | None = None, rules: Rules | None = None,
                     formulas: bool | None = None) -> Path:
    """Write a submission workbook: blank (the template) when `data` is None, else filled.

    `data` has `info` (field key → value) and the row lists `indicators`, `projects`,
    `project_indicators`, `details` (each row a mapping of column key → value).
    `formulas` (default: only in the blank template) puts Excel formulas in the automatic
    indicators' 实际值 (the rate) and 自评得分, and in 自评总分, so that nobody computes them by hand.
    """
    rules = rules or load_rules()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Small workbooks: building them in memory halves the time against xlsxwriter's temp files.
    wb = Workbook(str(path), {"in_memory": True})
    wb.set_properties({"title": "预算绩效自评填报表", "created": _FIXED_TIME, "author": "evalbatch"})
    fmt = _Formats(wb)
    data = data or {}
    info = dict(data.get("info") or {})
    if data == {}:
        info = {"template_version": S.TEMPLATE_VERSION, **({"year": year} if year else {})}
    formulas = (data == {}) if formulas is None else formulas
    _instructions(wb, fmt, rules)
    _fields_sheet(wb, fmt, info, formulas)
    indicators = data.get("indicators") if data else _default_indicators(rules)
    _table_sheet(wb, fmt, S.DEPT_INDICATOR_SHEET, indicators or [], rules, formulas)
    _table_sheet(wb, fmt, S.PROJECT_SHEET, data.get("projects") or [], rules)
    _table_sheet(wb, fmt, S.PROJECT_INDICATOR_SHEET, data.get("project_indicators") or [], rules)
    _table_sheet(wb, fmt, S.DETAIL_SHEET, data.get("details") or [], rules)
    wb.close()
    return path


def _default_indicators(rules: Rules) -> list[dict]:
    """The blank template's 整体指标: the six automatic rows, then the rules' common ones."""
    rows = []
    for method, weight in rules.auto_weights.items():
        l1, l2, l3 = S.AUTO_ROW_LABELS[method]
        rows.append({"l1": l1, "l2": l2, "l3": l3, "method": method, "weight": weight})
    return rows + rules.template_indicators


# Both columns together: the page the instructions print on. The labels' column takes what
# its longest label needs (计分方法「基本支出执行率」), the text the rest.
_INSTRUCTION_WIDTH = 102
_LABEL_WIDTHS = (12, 36)


def instruction_widths(labels: Sequence[str]) -> tuple[float, float]:
    """(label column, text column): no label is cut at print, the page stays the same."""
    low, high = _LABEL_WIDTHS
    need = max((printing.text_width(a, FONT_SIZE) for a in labels), default=low) + 2
    first = float(min(max(math.ceil(need), low), high))
    return first, _INSTRUCTION_WIDTH - first


def _instructions(wb, fmt: _Formats, rules: Rules) -> None:
    ws = wb.add_worksheet("填报说明")
    lines = _instruction_lines(rules)
    widths = instruction_widths([a for a, _ in lines])
    for c, width in enumerate(widths):
        ws.set_column(c, c, width)
    ws.write_string(0, 0, f"预算绩效自评填报说明（模板版本 {S.TEMPLATE_VERSION}）", fmt.title)
    ws.set_row(0, 24)
    for i, (a, b) in enumerate(lines, start=2):
        ws.write_string(i, 0, a, fmt.label_wrap if a else fmt.plain)
        ws.write_string(i, 1, b, fmt.wrap)
        # Explicit heights: a wrapped cell keeps the default one line in some viewers, and
        # the next row's text then prints over it.
        ws.set_row(i, max(printing.row_height(b, widths[1], FONT_SIZE), printing.row_height(a, widths[0], FONT_SIZE)))
    printing.set_print_layout(ws, widths, title_rows=0)


def _instruction_lines(rules: Rules) -> list[tuple[str, str]]:
    """What a department's accountant needs, with the figures of the rules in force; nothing
    here asks for a tool they do not have."""
    auto = sum(rules.auto_weights.values())
    total, ind_total, exec_w = rules.department_total, rules.project_indicator_total, rules.project_execution_weight
    lines: list[tuple[str, str]] = [
        ("怎样填写", "在 Excel 或 WPS 中填写各工作表，保存为 Excel 工作簿（.xlsx）后按财政部门的通知提交，不需要安装其他软件。"
                     "建议文件名为“单位编码_单位名称.xlsx”；同一单位多次提交时，以最新的文件为准。"),
        ("不要改动", "工作表名称、各表第 1 行的表头、“基本信息”A 列的项目名称；不要删除工作表。可以增删数据行、调整列宽。"),
        ("数字和金额", "金额以万元为单位，保留两位小数（如 1458.06）；人数填整数；比例可写 95% 或 0.95。"
                       "单位编码、项目编码按文本填写，开头的 0 会保留。每列怎么填，见表头单元格的批注。"),
        ("", ""),
    ]
    for sheet in S.SHEETS[1:]:
        need = "必填" if sheet.required else "选填"
        lines.append((f"工作表「{sheet.name}」", f"{_sheet_help(sheet, rules)}（{need}）"))
        if sheet.kind == "table":
            lines.append(("", "列：" + "、".join(c.header for c in sheet.columns)))
    lines += [
        ("", ""),
        ("单位得分", f"部门整体得分＝“整体指标”各行得分之和，满分 {total:g} 分。模板已预置六项自动计算的指标（共 {auto:g} 分）"
                     f"和常用的部门管理、产出、效益、满意度指标（共 {total - auto:g} 分）：请按本单位的绩效目标修改指标名称、指标值和分值，"
                     f"删除不适用的行或增加行，保持分值合计 {total:g} 分。"),
        ("项目得分", f"每个项目＝预算执行率得分（{exec_w:g} 分 × 全年执行数 ÷ 全年预算数，最高 {exec_w:g} 分）＋“项目指标”中"
                     f"该项目各行得分之和（分值合计 {ind_total:g} 分），满分 {exec_w + ind_total:g} 分。"),
        ("每行得分", "按该行的“计分方法”由指标值和实际值计算，最高为该行分值，最低 0 分；“自评得分”填按同样方法算出的得分，"
                     "保留两位小数。没有选择计分方法的行，按指标值中的“≥”“≤”“=”推定。"),
    ]
    lines += [(f"计分方法「{method}」", _method_help(method, rules)) for method in S.METHODS]
    bounds = _grade_bands(rules.grade_names, rules.grade_bounds)
    t = rules.mismatch_threshold
    lines += [
        ("评价等级", f"{bounds}。“项目”表的“自评等级”从下拉列表中选择。"),
        ("偏差原因", "某项指标未达到指标值、或自评得分低于分值时，在该行“偏差原因及改进措施”中说明原因和改进措施；"
                     "项目执行率偏低、或绩效与预算执行不匹配时，在“项目”表的“原因说明”列说明。"),
        ("", ""),
        ("财政部门如何复核", "财政部门按本表的原始数据重新计算每一项比率和得分（复核得分），与自评得分逐项比较，并核对："
                             f"收入、支出、结转结余等金额的勾稽关系（相差 {rules.tolerance:g} 万元以内视为尾差）；分值合计；"
                             "自评得分不超过分值；未完成目标时是否说明了原因；项目的指标得分率是否明显高于预算执行率"
                             f"（高出 {t * 100:g}% 以上即需说明原因）。发现的问题会写明工作表和单元格，反馈给单位。"),
    ]
    return lines


def _grade_bands(names: Sequence[str], bounds: Sequence[float]) -> str:
    """优：90 分及以上；良：80 分至不满 90 分；…；差：不满 60 分."""
    parts = []
    for i, (name, low) in enumerate(zip(names, bounds)):
        if i == 0:
            parts.append(f"{name}：{low:g} 分及以上")
        elif i == len(names) - 1:
            parts.append(f"{name}：不满 {bounds[i - 1]:g} 分")
        else:
            parts.append(f"{name}：{low:g} 分至不满 {bounds[i - 1]:g} 分")
    return "；".join(parts)


def _sheet_help(sheet: S.Sheet, rules: Rules) -> str:
    if sheet.name == S.DEPT_INDICATOR_SHEET:
        return f"部门整体支出绩效指标，每行一个三级指标，分值合计 {rules.department_total:g} 分"
    if sheet.name == S.PROJECT_INDICATOR_SHEET:
        return f"项目绩效指标，每行一个三级指标，用项目编码对应“项目”表；每个项目分值合计 {rules.project_indicator_total:g} 分"
    if sheet.name == S.DETAIL_SHEET:
        return "项目支出的明细，每行一个支出项目；每个项目的金额合计应等于“项目”表的全年执行数"
    return sheet.purpose


def _method_help(method: str, rules: Rules) -> str:
    if method == "反向比例" and rules.reverse_formula == "linear":
        return f"实际值不超过指标值得满分，超过后线性递减，达到指标值的 {rules.reverse_zero_at:g} 倍时为 0 分，如成本"
    if method != "定性":
        return S.METHOD_HELP[method]
    by_share: dict[float, list[str]] = {}
    for word, share in rules.levels.items():
        by_share.setdefault(share, []).append(word)
    parts = [f"{'/'.join(words)} 得 {share:.0%}" for share, words in sorted(by_share.items(), reverse=True)]
    return "实际值填等级词：" + "；".join(parts) + "；其他文字沿用自评得分并提示人工复核"


_FIELD_WIDTHS = (32, 40, 44)


def _fields_sheet(wb, fmt: _Formats, info: Mapping, formulas: bool = False) -> None:
    ws = wb.add_worksheet(S.INFO_SHEET)
    for c, width in enumerate(_FIELD_WIDTHS):
        ws.set_column(c, c, width)
    printing.set_print_layout(ws, _FIELD_WIDTHS)
    for c, head in enumerate(S.INFO_HEADER):
        ws.write_string(0, c, head, fmt.header)
    ws.freeze_panes(1, 0)
    for r, field in enumerate(S.FIELDS, start=1):
        ws.write_string(r, 0, field.label, fmt.required if field.required else fmt.label)
        cell_fmt = fmt.for_type(field.type)
        if formulas and field.key == "self_total":
            ws.write_formula(r, 1, self_total_formula(), cell_fmt)
        else:
            _write_value(ws, r, 1, info.get(field.key), cell_fmt, fmt)
        hint = ("必填。" if field.required else "选填。") + field.hint
        ws.write_string(r, 2, hint, fmt.hint)
        if field.type == S.ENUM:
            ws.data_validation(r, 1, r, 1, _list_validation(field.enum, field.label))
        elif field.type in (S.MONEY, S.INTEGER):
            ws.data_validation(r, 1, r, 1, _non_negative(field))


def _table_sheet(wb, fmt: _Formats, name: str, rows: Sequence[Mapping], rules: Rules, formulas: bool = False) -> None:
    ws = wb.add_worksheet(name)
    columns = [S.with_grades(c, rules.grade_names) for c in S.columns_of(name)]
    for c, col in enumerate(columns):
        ws.set_column(c, c, col.width, fmt.for_type(col.type))
        ws.write_string(0, c, col.header, fmt.header)
        if col.hint:
            ws.write_comment(0, c, col.hint, {"author": "evalbatch", "x_scale": 2})
        if col.type == S.ENUM:
            ws.data_validation(1, c, TABLE_ROWS, c, _list_validation(col.enum, col.header))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 0, len(columns) - 1)
    printing.set_print_layout(ws, [c.width for c in columns])
    keys = [c.key for c in columns]
    for r, row in enumerate(rows, start=1):
        auto = auto_formulas(row.get("method"), r, keys, rules) if formulas else {}
        for c, col in enumerate(columns):
            if col.key in auto:
                ws.write_formula(r, c, auto[col.key], fmt.rate if col.key == "actual" else fmt.score)
            else:
                _write_value(ws, r, c, row.get(col.key), fmt.for_type(col.type), fmt)


# --- formulas of the automatic indicators ---------------------------------------------------
# The same arithmetic as judge/scoring.py (AUTO_PARTS, rates rounded to the rules' decimals,
# ROUND is half up as there): the accountant's figures then equal the 复核 ones. Only functions
# every spreadsheet has (ROUND, MIN, IF, AND, SUM): they work in Excel, WPS and LibreOffice.

def _info_cell(key: str) -> str:
    row = next(i for i, f in enumerate(S.FIELDS, start=1) if f.key == key)
    return f"'{S.INFO_SHEET}'!" + xl_rowcol_to_cell(row, 1, row_abs=True, col_abs=True)


def self_total_formula() -> str:
    col = xl_col_to_name([c.key for c in S.columns_of(S.DEPT_INDICATOR_SHEET)].index("self_score"))
    return f"=SUM('{S.DEPT_INDICATOR_SHEET}'!{col}2:{col}{TABLE_ROWS + 1})"


def auto_formulas(method, r: int, keys: list[str], rules: Rules) -> dict[str, str]:
    """The rate (实际值) and score (自评得分) formulas of an automatic row at 0-based row `r`;
    {} for any other row. A zero or blank denominator leaves the rate empty and scores 0."""
    if method not in AUTO_PARTS:
        return {}
    num_keys, den_keys, minus = AUTO_PARTS[method]
    num = "+".join(map(_info_cell, num_keys)) + (f"-{_info_cell(minus)}" if minus else "")
    den = "+".join(map(_info_cell, den_keys))
    rate, w = (xl_rowcol_to_cell(r, keys.index(k)) for k in ("actual", "weight"))
    d = rules.score_decimals
    if method in EXECUTION_METHODS:
        score = f"ROUND({w}*MIN({rate},1),{d})" if rules.execution_cap else f"ROUND({w}*{rate},{d})"
    elif method in CEILING_METHODS:
        score = f"IF({rate}<=1,{w},0)"
    else:  # 结转结余变动率: no carry-over at either end is full marks
        score = f"IF({rate}<=0,{w},0)"
    full_when_none = f"IF(AND({den}=0,{_info_cell('carryover_end')}=0),{w}," if method == "结转结余变动率" else "("
    return {
        "actual": f"=IF(({den})=0,\"\",ROUND(({num})/({den}),{rules.rate_decimals}))",
        "self_score": f"={full_when_none}IF({rate}=\"\",0,{score}))",
    }


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


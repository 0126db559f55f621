"""The review workbooks (抽评表) reviewers fill: one per reviewer of a draw, written atomically.

Three sheets: 填写说明 (which draw the workbook belongs to, how to fill it in, the rubric),
抽评项目 (a row per drawn item: its figures as submitted and as recomputed, then the quality
rubric, 复核人, 复核日期, 综合意见) and 抽评指标 (a row per indicator: as submitted and as
recomputed, then 抽评核实完成值, 抽评得分, 抽评意见). Only the fill-in cells are unlocked; every
sheet is protected without a password, so nothing else changes by accident (collect.py still
compares it with the draw). Scores are validated (0 ≤ score ≤ 分值 or the item's maximum).
Text from submissions is written as text (SAFE_OPTIONS): a 三级指标 of "=1+1" stays text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from ..files import atomic_write, remove_quietly
from ..rules import Rules
from ..write import printing
from ..write.columns import Col
from ..write.report import Formats, fit_rows, fit_widths, table_rows
from ..write.book import Workbook
from . import REVIEW_DIR
from .layout import (
    DRAW_LABEL,
    INSTRUCTIONS,
    ITEMS,
    MARK_COLUMNS,
    MARKS,
    REST_OK,
    REST_OK_WORDS,
    REVIEWER_LABEL,
    RUBRIC_PREFIX,
    TOKEN_LABEL,
    YEAR_LABEL,
    fills,
    item_columns,
)

FILL_COLOUR = "#FFF2CC"
# 复核日期's data validation: any date a review can carry.
FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
# Reviewers may filter and widen columns; nothing else on a protected sheet.
PROTECTION = {"autofilter": True, "format_columns": True, "format_rows": True, "select_locked_cells": True,
              "select_unlocked_cells": True, "sort": False}


def workbook_name(year: int, label: str) -> str:
    return f"抽评表_{year}_{label}.xlsx"


def write_workbooks(folder: Path, info: dict, items: pd.DataFrame, indicators: pd.DataFrame, rules: Rules) -> list[Path]:
    """One workbook per reviewer label of `items`; the paths written. When one cannot be
    written, those already written go too: a draw has all its workbooks or none."""
    written: list[Path] = []
    try:
        for label in sorted(items["reviewer"].unique(), key=lambda x: (len(x), x)):
            mine = items[items["reviewer"].eq(label)]
            rows = indicators[indicators["item_no"].isin(mine["item_no"])]
            target = folder / workbook_name(info["year"], label)
            written.append(atomic_write(target, lambda p, m=mine, r=rows, lb=label: write_workbook(p, info, lb, m, r, rules.rubric)))
    except BaseException:
        for p in written:
            remove_quietly(p)
        raise
    return written


def write_workbook(path: Path, info: dict, label: str, items: pd.DataFrame, indicators: pd.DataFrame,
                   rubric: Sequence[tuple[str, float]]) -> Path:
    wb = Workbook(str(path), {"in_memory": True})
    wb.set_properties({"title": f"预算绩效自评抽评表（{info['year']} 年度）", "author": "evalbatch", "created": dt.datetime.now()})
    fmt = Formats(wb)
    fill = {kind: wb.add_format({"font_name": "等线", "font_size": 10, "valign": "top", "locked": False, "bg_color": FILL_COLOUR,
                                 "border": 1, "border_color": "#BFBFBF", "text_wrap": kind == "wrap",
                                 "num_format": "@" if kind in ("text", "wrap") else f.num_format})
            for kind, f in fmt.kind.items()}
    _instructions(wb, fmt, info, label, items, indicators, rubric)
    title = f"预算绩效自评抽评表（{info['year']} 年度，复核组 {label}）"
    cols = item_columns(rubric)
    ws = _sheet(wb, fmt, fill, ITEMS, cols, items)
    for c, col in enumerate(cols):
        if col.source.startswith(RUBRIC_PREFIX):
            top = rubric[int(col.source[len(RUBRIC_PREFIX):])][1]
            _between(ws, c, len(items), top, f"“{col.header}”应为 0 到 {top:g} 之间的分数")
        if col.source == REST_OK and len(items):
            ws.data_validation(1, c, len(items), c, {"validate": "list", "source": list(REST_OK_WORDS),
                                                     "error_title": "请从列表中选择", "error_message": "只能填写“是”或“否”"})
        if col.source == "review_date" and len(items):  # a date Excel and WPS take as one (collect.py checks it again)
            ws.data_validation(1, c, len(items), c, {"validate": "date", "criteria": "between", "minimum": FIRST_DATE,
                                                     "maximum": LAST_DATE, "input_title": "复核日期",
                                                     "input_message": "填写日期，如 2022-03-01", "error_title": "复核日期无效",
                                                     "error_message": "请填写日期，如 2022-03-01"})
    ws = _sheet(wb, fmt, fill, MARKS, MARK_COLUMNS, indicators)
    weight = xl_col_to_name(next(i for i, c in enumerate(MARK_COLUMNS) if c.source == "weight"))
    score = next(i for i, c in enumerate(MARK_COLUMNS) if c.source == "review_score")
    _between(ws, score, len(indicators), f"=${weight}2", "抽评得分应为 0 到本行“分值”之间的分数")
    for sheet in wb.worksheets():  # every printed page says which workbook it is
        sheet.set_header("&C&B" + title.replace("&", "&&"))
    wb.close()
    return path


def _sheet(wb, fmt: Formats, fill: dict, name: str, cols: Sequence[Col], df: pd.DataFrame):
    """A protected table: locked figures, unlocked (coloured) fill-in cells on the table's rows only."""
    ws = wb.add_worksheet(name)
    cols = fit_widths(cols, df)
    editable = {c.source for c in fills(cols)}
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width)
        ws.write_string(0, c, col.header, fmt.header)
    ws.set_row(0, 30)
    fit_rows(ws, 1, cols, df)  # wrapped names, reasons and explanations shown whole, on screen and on paper
    for r, values in enumerate(table_rows(cols, df), start=1):
        for c, (value, col) in enumerate(zip(values, cols)):
            ws.write(r, c, value, (fill if col.source in editable else fmt.kind)[col.kind])
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)
    # As the other workbooks print: the page the columns need (抽评项目's 24 columns: A3 landscape),
    # one page wide, the header row on every page, page numbers in the footer.
    printing.set_print_layout(ws, [c.width for c in cols])
    ws.protect("", PROTECTION)
    return ws


def _between(ws, col: int, n: int, top, message: str) -> None:
    if n:
        ws.data_validation(1, col, n, col, {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": top,
                                            "error_title": "分数超出范围", "error_message": message})


# 填写说明's text column: its long lines wrap in it.
INSTRUCTION_WIDTH = 100


def _instructions(wb, fmt: Formats, info: dict, label: str, items: pd.DataFrame, indicators: pd.DataFrame,
                  rubric: Sequence[tuple[str, float]]) -> None:
    ws = wb.add_worksheet(INSTRUCTIONS)
    ws.set_column(0, 0, 20)
    ws.set_column(1, 1, INSTRUCTION_WIDTH)
    params = info["params"]
    how = "整个单位（整体支出及其全部项目）" if params["departments"] else f"各单位项目，每个单位至少 {params['min_per_dept']} 个"
    pairs = [
        (YEAR_LABEL, str(info["year"])),
        (DRAW_LABEL, str(info["id"])),
        (TOKEN_LABEL, info["token"]),
        (REVIEWER_LABEL, label),
        ("抽取依据", f"第 {info['run_id']} 次运行（{info['run_started']}）的复核结果"),
        ("抽取方式", f"{how}；随机抽取比例 {params['share']:.0%}；随机种子 {info['seed']}（相同种子、相同运行结果抽取结果相同）"),
        ("本表内容", f"{len(items)} 个抽评对象，{len(indicators)} 项指标"),
    ]
    top = sum(m for _, m in rubric)
    lines = [
        "本表由 evalbatch review draw 生成，请勿修改文件名、工作表名称和表头。黄色单元格为填写区；其余单元格已锁定"
        "（工作表保护，无密码），请勿取消保护或修改锁定内容：锁定内容被修改的行在汇总时不予采用。",
        "“抽评指标”：逐项核实指标的实际完成情况。填写“抽评核实完成值”（如 95%、24次、达成）的，按评分规则重新计分；"
        "直接给出“抽评得分”（0 至本行分值）的，以抽评得分为准。“抽评意见”写明核实情况和扣分理由。"
        "未填写的指标不必重复填报的数值：核实无误的，在“抽评项目”该对象的"
        "“其余指标核实无误”选“是”，未填写的指标即按复核得分计，该对象算作完成。",
        f"“抽评项目”：按下列质量评分表为每个抽评对象的自评质量打分（每项 0 至该项满分，合计满分 {top:g} 分），"
        "并填写复核人、复核日期（如 2022-03-01）和综合意见。",
        "抽评得分替代复核得分，重新计算项目和单位的最终得分，汇总排名按最终得分排列；抽评结果和抽评意见将反馈给被评单位。",
        f"填好后保存（文件名不变），放回输出文件夹的“{REVIEW_DIR}”子文件夹，下次运行 evalbatch run 时自动读取；"
        "有问题的单元格会列在汇总工作簿的“审核问题”中，其余内容照常采用。",
    ]
    rows = [(f"预算绩效自评抽评表（{info['year']} 年度，复核组 {label}）", None, fmt.title), None,
            *[(key, value, fmt.kind["wrap"]) for key, value in pairs], None,
            *[("填写方法" if i == 0 else "", f"{i + 1}. {line}", fmt.kind["wrap"]) for i, line in enumerate(lines)], None,
            ("质量评分表", "；".join(f"{name} {m:g} 分" for name, m in rubric) + f"；合计 {top:g} 分", fmt.kind["wrap"])]
    for r, row in enumerate(rows):
        if row is None:
            continue
        key, value, style = row
        if value is None:
            ws.write_string(r, 0, key, style)
            continue
        if printing.text_lines(value, INSTRUCTION_WIDTH) > 1:  # the whole text shows (and prints), not one line of it
            ws.set_row(r, printing.row_height(value, INSTRUCTION_WIDTH))
        ws.write_string(r, 0, key, fmt.key)
        ws.write_string(r, 1, value, style)
    # On one page, all of it: a reviewer reads the instructions whole before filling in.
    printing.set_print_layout(ws, (20, INSTRUCTION_WIDTH), title_rows=0, pages_high=1, gridlines=False)
    ws.protect("", PROTECTION)

"""The consolidated workbook analysts open (docs/scoring.md), written with xlsxwriter directly.

Each sheet is described once as data (header, source column, kind); one writer serves all.
Text from submissions is always written as text (no formulas, no links, no numbers from
text); NaN and inf never reach a cell: a missing figure is a blank cell.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from .. import findings as F
from ..judge import analysis
from ..judge.evaluate import BatchResult
from ..judge.scoring import RATE_COLUMNS
from ..read.discover import local_time
from ..rules import Rules, load_rules
from . import printing
from .book import Workbook
from .cells import MISSING, Formats, WriteError, cell_values, row_heights, table_rows, write_rows
from .parts import Helpers, Parts
from .columns import FINDINGS, INDICATORS, PROJECTS, RECORDS, REVIEW_RESULTS, SUBMISSIONS, SUMMARY, YEAR_OVER_YEAR, Col

# Excel's limit is 1,048,576 rows, header included; longer tables go on to 指标得分_2, …
EXCEL_MAX_ROWS = 1_048_576


CHART_COLOURS = {"优": "#70AD47", "良": "#5B9BD5", "中": "#FFC000", "差": "#C00000"}


def write_block(ws, fmt: Formats, first_row: int, cols: Sequence[Col], df: pd.DataFrame, title: str = "",
                first_col: int = 0) -> int:
    """A titled table inside a sheet (统计分析, 变动情况, 运行信息, 同比's chart figures) from
    `first_col`; returns the next free row."""
    if title:
        ws.write_string(first_row, first_col, title, fmt.title)
        first_row += 1
    for c, col in enumerate(cols, start=first_col):
        ws.write_string(first_row, c, col.header, fmt.header)
    for r, values in enumerate(table_rows(cols, df), start=first_row + 1):
        for c, (v, col) in enumerate(zip(values, cols), start=first_col):
            ws.write(r, c, v, fmt.column(col))
    return first_row + 1 + len(df) + 1


# Rows are turned into Python values a block at a time: a country's indicators as one list
# of tuples would hold some twenty million objects at once. A block of 50,000 rows was the
# peak of a 10,000-department run (about 100 MB of Python values); 20,000 costs no time.
ROW_BLOCK = 20_000


# Text columns widen to their longest value (budget-system project codes run to 21 characters
# and more), up to this width; a column never narrows below its own.
MAX_FITTED_WIDTH = 40
# The distinct values measured per column: enough for codes, cheap on a country's indicators.
MEASURED_VALUES = 5000


def fit_widths(cols: Sequence[Col], df: pd.DataFrame) -> list[Col]:
    """`cols` with each one-line text column as wide as its data needs (bounded)."""
    out = []
    for c in cols:
        if c.kind == "text" and c.source in df and len(df):
            values = pd.unique(df[c.source].dropna().astype(str))[:MEASURED_VALUES]
            need = math.ceil(max((printing.text_width(v) for v in values), default=0)) + 2
            c = replace(c, width=float(min(max(c.width, need), max(c.width, MAX_FITTED_WIDTH))))
        out.append(c)
    return out


def write_table(wb: xlsxwriter.Workbook, fmt: Formats, name: str, cols: Sequence[Col], df: pd.DataFrame,
                max_rows: int = EXCEL_MAX_ROWS, parts: Parts | None = None) -> list[str]:
    """Write `df` as a table sheet, continued on name_2, name_3, … past `max_rows` rows; the
    rows of a long one by helper processes when `parts` lends them (parts.py)."""
    cols = fit_widths(cols, df)
    per_sheet = max_rows - 1
    names = []
    for part in range(max(1, math.ceil(len(df) / per_sheet))):
        sheet_name = name if part == 0 else f"{name}_{part + 1}"
        rows = df.iloc[part * per_sheet : (part + 1) * per_sheet]
        ws = wb.add_worksheet(sheet_name)
        fitted = len(rows) <= FITTED_ROWS
        _lay_out(ws, fmt, cols, len(rows), fitted)
        here = rows.iloc[:0] if parts is not None and parts.take(ws, fmt, cols, rows, fitted) else rows
        for start in range(0, len(here), ROW_BLOCK):
            block = here.iloc[start : start + ROW_BLOCK]
            if fitted:
                fit_rows(ws, 1 + start, cols, block)
            write_rows(ws, 1 + start, table_rows(cols, block), cols)
        _colour(ws, fmt, cols, len(rows))
        names.append(sheet_name)
    return names


def _lay_out(ws, fmt: Formats, cols: Sequence[Col], n: int, wrap: bool = True) -> None:
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width, fmt.column(col, wrap))
        ws.write_string(0, c, col.header, fmt.header)
    ws.freeze_panes(1, frozen_columns(cols))
    ws.autofilter(0, 0, max(n, 1), len(cols) - 1)
    ws.set_row(0, 28)
    print_table(ws, cols, n)


# Above this many rows a sheet's rows get no heights of their own (a row's settings are kept
# in memory until the workbook is closed): its wrapped columns are written on one line instead.
FITTED_ROWS = 100_000
# Leading columns that say which department (and project) a row is: frozen with the header.
IDENTITY_SOURCES = ("rank", "cat_rank", "dept_code", "dept_name", "project_code")
# Columns left out of print at either end of a table: for looking things up, not for reading on
# paper (文件 only where 单位编码 says whose a row is: a feedback file prints it).
UNPRINTED_SOURCES = ("file", "rule_id")
# A table longer than this is a detail sheet: printed whole it is dozens of pages.
DETAIL_ROWS = 100
FOOT_ROWS = 3  # a blank row, 合计 and 平均 (write_foot)


def frozen_columns(cols: Sequence[Col]) -> int:
    """How many leading columns name the row's department or project (排名, 单位编码, 单位名称 …)."""
    return next((i for i, c in enumerate(cols) if c.source not in IDENTITY_SOURCES), len(cols))


def fit_rows(ws, first_row: int, cols: Sequence[Col], df: pd.DataFrame) -> None:
    """Heights for the rows of `df` (from `first_row`) whose wrapped text needs more than one line."""
    for r, height in row_heights(cols, df, first_row).items():
        ws.set_row(r, height)


def print_table(ws, cols: Sequence[Col], n: int) -> None:
    """A table's print layout: the page its printed columns need, the header on every page, and
    on a long (detail) sheet a note at the top of each page on printing only filtered rows."""
    unprinted = UNPRINTED_SOURCES if any(c.source == "dept_code" for c in cols) else ("rule_id",)
    keep = [i for i, c in enumerate(cols) if c.source not in unprinted]
    first, last = (keep[0], keep[-1]) if keep else (0, len(cols) - 1)
    note = (f"明细表，共 {n:,} 行：打印前请先用第 1 行的筛选按钮选出需要的行，只打印筛选出的行" if n > DETAIL_ROWS else "")
    part = (first, last) != (0, len(cols) - 1)
    # The rows too (openpyxl and some viewers do not take a range of whole columns), with room
    # for the rows write_foot adds below a blank one.
    printing.set_print_layout(ws, [c.width for c in cols[first : last + 1]], columns=(first, last) if part else None,
                              rows=(0, n + FOOT_ROWS) if part else None, note=note)


def _print_setup(ws, widths: Sequence[float]) -> None:
    """A sheet of titled blocks: the page its columns need, one page wide, no repeated rows, no gridlines."""
    printing.set_print_layout(ws, widths, title_rows=0, gridlines=False)


def _colour(ws, fmt: Formats, cols: Sequence[Col], n: int) -> None:
    if n == 0:
        return
    for c, col in enumerate(cols):
        if col.header == "评价等级" or col.header == "级别":
            for word, f in fmt.fills.items():
                ws.conditional_format(1, c, n, c, {"type": "cell", "criteria": "==", "value": f'"{word}"', "format": f})


def _records_frame(result: BatchResult) -> pd.DataFrame:
    rows = [
        {**vars(r), "modified": local_time(r.mtime) if r.mtime else ""}
        for r in result.records
    ]
    return pd.DataFrame(rows, columns=["name", "size", "modified", "sha256", "dept_code", "status", "layout"])


def layout_counts(records) -> dict[str, int]:
    """Files per layout (a file holding several kinds of form counts for each)."""
    from ..layouts import LAYOUTS

    return {k: sum(k in r.layout.split("、") for r in records) for k in LAYOUTS}


def minutes(stamp) -> str:
    """A run's time as a person reads it: 2026-12-02 20:29, not 2026-12-02T20:29:13.5+08:00."""
    try:
        return dt.datetime.fromisoformat(str(stamp)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(stamp or "")


def print_title(meta: dict) -> str:
    year = meta.get("year")
    return f"{year} 年度部门整体支出绩效自评复核排名" if year is not None else "部门整体支出绩效自评复核排名"


def print_headers(wb, meta: dict) -> None:
    """Every printed page says what it is: the title in the middle, the rules and the run's time
    on the right; a sheet's own note (how to print part of it) stays on the left."""
    right = f"{meta.get('rules_source', '')}  {minutes(meta.get('started', ''))}".strip()
    centre = "&C&B" + print_title(meta).replace("&", "&&") + "&R" + right.replace("&", "&&")
    for ws in wb.worksheets():
        left = ws.header if ws.header.startswith("&L") else ""
        room = 255 - len(centre)  # Excel's limit for a header
        ws.set_header((left if len(left) <= room else left[: max(room - 1, 0)] + "…") + centre)


def _run_info(wb, fmt: Formats, result: BatchResult) -> None:
    ws = wb.add_worksheet("运行信息")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 60)
    m = result.meta
    statuses = pd.Series([r.status for r in result.records], dtype=object).value_counts()
    pairs = [
        ("运行时间", minutes(m.get("started", ""))),
        ("完成时间", minutes(m.get("finished", ""))),
        ("evalbatch 版本", m.get("version", "")),
        ("评价年度", "" if m.get("year") is None else str(m["year"])),
        ("规则", f"{m.get('rules_source', '')}（版本 {m.get('rules_version', '')}，摘要 {m.get('rules_digest', '')}）"),
        ("发现文件数", str(len(result.records))),
        ("采用文件数", str(int(statuses.get("已采用", 0) + statuses.get("有错误", 0)))),
        ("无法使用文件数", str(int(statuses.get("无法使用", 0)))),
        ("被取代文件数", str(int(statuses.get("被取代", 0)))),
        ("待下次处理文件数", str(int(statuses.get("待下次处理", 0)))),
        *[(f"格式：{k}", f"{v} 个文件") for k, v in layout_counts(result.records).items()],
        *[(f"跳过：{k}", str(v)) for k, v in sorted(result.skipped.items())],
        ("错误 / 警告 / 提示", " / ".join(str(int((result.findings["level"] == lv).sum())) for lv in (F.ERROR, F.WARNING, F.NOTE))),
        *[("未能放回原名的输出", note) for note in m.get("not_in_place", [])],
    ]
    _print_pairs(ws, fmt, pairs)  # before the rows: heights must be set before a row is streamed
    for r, (k, v) in enumerate(pairs):
        ws.write_string(r, 0, k, fmt.key)
        ws.write_string(r, 1, v)
    for c, col in enumerate(RECORDS[2:], start=2):
        ws.set_column(c, c, col.width)
    write_block(ws, fmt, len(pairs) + 1, RECORDS, _records_frame(result), "输入文件")


def _print_pairs(ws, fmt: Formats, pairs: Sequence[tuple[str, str]]) -> None:
    """运行信息's label and value columns (A 22, B 60): long values wrapped, printed on one A4
    page; the list of input files below them is for looking up, not printed."""
    ws.set_column(1, 1, 60, fmt.kind["wrap"])
    for r, (_, v) in enumerate(pairs):
        if printing.text_lines(v, 60) > 1:
            ws.set_row(r, printing.row_height(v, 60))
    printing.set_print_layout(ws, (22, 60), title_rows=0, page=printing.PAGES[0], pages_high=1,
                              rows=(0, len(pairs) - 1), columns=(0, 1))


# Above this many rows in all, rows are streamed to disk (xlsxwriter's constant_memory) so a
# country's worth of indicators does not have to sit in memory as cell objects.
CONSTANT_MEMORY_ROWS = 200_000


def write_workbook(result: BatchResult, path: str | Path, *, rules: Rules | None = None,
                   changes: pd.DataFrame | None = None, year_over_year: pd.DataFrame | None = None,
                   max_rows: int = EXCEL_MAX_ROWS, submissions: pd.DataFrame | None = None,
                   status_changes: pd.DataFrame | None = None, project_changes: pd.DataFrame | None = None,
                   helpers: Helpers | None = None) -> Path:
    """Write the consolidated workbook to `path` (the caller moves it into place).

    `changes`, `project_changes` and `status_changes` (from history.py) fill the 变动情况 sheet
    when given; `year_over_year` (history.year_over_year) the 同比 sheet when it has rows.
    `submissions` (a roster's status table, roster/status.py, with `SUBMISSIONS`' columns and
    `on_roster`) adds 报送情况, and its units without a submission at the foot of 汇总排名.
    `helpers` (processes lent by the caller) write the rows of the long tables (parts.py).
    """
    parts = Parts(helpers, Path(path)) if helpers is not None else None
    try:
        _write_workbook(result, Path(path), rules or load_rules(), changes, year_over_year, max_rows, submissions,
                        status_changes, project_changes, parts)
        if parts is not None:
            parts.finish()
    finally:
        if parts is not None:
            parts.discard()
    return Path(path)


def _write_workbook(result: BatchResult, path: Path, rules: Rules, changes, year_over_year, max_rows: int, submissions,
                    status_changes, project_changes, parts: Parts | None) -> None:
    rows = len(result.depts) + len(result.indicators) + len(result.projects) + len(result.findings)
    # Every sheet is written row by row, top to bottom, which is what constant_memory needs.
    wb = Workbook(str(path), {"constant_memory": rows > CONSTANT_MEMORY_ROWS})
    wb.set_properties({"title": "预算绩效自评复核汇总", "author": "evalbatch", "created": dt.datetime.now()})
    fmt = Formats(wb)
    findings = F.sort(result.findings)
    _summary_sheet(wb, fmt, result.depts, rules, _missing_units(submissions))
    if submissions is not None:
        _submissions_sheet(wb, fmt, submissions)
    _analysis_sheet(wb, fmt, result, rules, submissions, max_rows)
    write_table(wb, fmt, "指标得分", INDICATORS, result.indicators, max_rows, parts)
    _projects_sheet(wb, fmt, result.projects, rules, max_rows, parts)
    write_table(wb, fmt, "审核问题", FINDINGS, findings, max_rows, parts)
    if result.review is not None and len(result.review.items):  # once a draw exists (evalbatch review draw)
        write_table(wb, fmt, "抽评结果", REVIEW_RESULTS, result.review.items, max_rows, parts)
    _changes_sheet(wb, fmt, changes, year_over_year, status_changes, project_changes)
    if year_over_year is not None and len(year_over_year):
        _yoy_sheet(wb, fmt, year_over_year)
    _run_info(wb, fmt, result)
    print_headers(wb, result.meta)
    wb.close()


def _missing_units(submissions: pd.DataFrame | None) -> pd.DataFrame | None:
    """Roster units without a submission, as 汇总排名 rows: named, not ranked, 未提交."""
    if submissions is None:
        return None
    missing = submissions[submissions["status"].eq(MISSING) & submissions["on_roster"].astype(bool)]
    return missing[["dept_code", "dept_name", "dept_category"]].assign(grade=MISSING)


def _submissions_sheet(wb, fmt: Formats, submissions: pd.DataFrame) -> None:
    """报送情况: every roster unit's status, coloured by it."""
    (name,) = write_table(wb, fmt, "报送情况", SUBMISSIONS, submissions)
    c = next(i for i, col in enumerate(SUBMISSIONS) if col.source == "status")
    if len(submissions):
        for word, f in fmt.status.items():
            wb.get_worksheet_by_name(name).conditional_format(1, c, len(submissions), c,
                                                              {"type": "cell", "criteria": "==", "value": f'"{word}"', "format": f})


def _summary_sheet(wb, fmt: Formats, depts: pd.DataFrame, rules: Rules, missing: pd.DataFrame | None = None) -> None:
    """汇总排名: the ranking, with data bars, flagged differences and a totals row; roster units
    without a submission below the departments, unranked."""
    listed = depts if missing is None or missing.empty else pd.concat([depts, missing], ignore_index=True)
    (name,) = write_table(wb, fmt, "汇总排名", SUMMARY, listed)
    ws = wb.get_worksheet_by_name(name)
    n = len(depts)
    col = {c.source: i for i, c in enumerate(SUMMARY)}
    if n:
        # The bar follows the score the ranking uses (最终得分: 复核得分 until a review changes it).
        ranked = col["final_total"]
        ws.conditional_format(1, ranked, n, ranked, {"type": "data_bar", "bar_color": "#63BE7B", "bar_solid": True,
                                                     "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 100})
        tol = rules.score_tolerance
        ws.conditional_format(1, col["diff"], n, col["diff"], {"type": "cell", "criteria": "not between", "minimum": -tol,
                                                              "maximum": tol, "format": fmt.red})
    # Below a blank row, outside the filter: 合计 (sums of money and counts, rates of the sums), 平均.
    write_foot(ws, fmt, SUMMARY, len(listed) + 2, [analysis.summary_total(depts, rules), analysis.summary_average(depts, rules)])
    # A3 landscape whatever the columns (write_table's layout: one page wide, the header row on
    # every page, 文件 not printed).
    ws.set_paper(printing.A3)
    ws.set_landscape()


def write_foot(ws, fmt: Formats, cols: Sequence[Col], first_row: int, rows: Sequence[dict]) -> None:
    """Bold rows under a table (合计, 平均), each a mapping of column source → value; blank where
    a row has no value for a column. Text stays text, and no NaN or inf reaches a cell."""
    for r, row in enumerate(rows, start=first_row):
        for c, col in enumerate(cols):
            # An average of a count (项目数 2.88) keeps its decimals, in a count's column too.
            kind = "score" if col.kind == "int" and _fractional(row.get(col.source)) else col.kind
            value = cell_values(pd.Series([row.get(col.source)], dtype=object), kind)[0]
            style = fmt.total[kind]
            if value is None:
                done = ws.write_blank(r, c, None, style)
            elif col.kind in ("text", "wrap"):
                done = ws.write_string(r, c, value, style)
            else:
                done = ws.write_number(r, c, value, style)
            if done == -1:
                raise WriteError(f"写入工作表 {ws.get_name()} 第 {r + 1} 行失败")


def _fractional(value) -> bool:
    return isinstance(value, (int, float, np.number)) and math.isfinite(value) and not float(value).is_integer()


def _projects_sheet(wb, fmt: Formats, projects: pd.DataFrame, rules: Rules, max_rows: int, parts: Parts | None = None) -> None:
    """项目汇总, with a 合计 row under the last part: projects, money, and their execution rate together."""
    names = write_table(wb, fmt, "项目汇总", PROJECTS, projects, max_rows, parts)
    in_last = len(projects) - (max_rows - 1) * (len(names) - 1)
    write_foot(wb.get_worksheet_by_name(names[-1]), fmt, PROJECTS, in_last + 2, [analysis.project_total(projects, rules)])


# 单位名称 first, in the sheet's wide first column; 单位类别 last, where long words can overflow.
SUMMARY_BRIEF = [Col("单位名称", "dept_name", "text", 30), Col("排名", "rank", "int", 6), Col("单位编码", "dept_code", "text", 12),
                 Col("复核得分", "total", "score", 10), Col("评价等级", "grade", "text", 9), Col("单位类别", "dept_category", "text", 16)]


def _cols_of(df: pd.DataFrame, kinds: dict[str, str]) -> list[Col]:
    return [Col(h, h, kinds.get(h, "rate" if h.endswith("占比") or h == "得分率" else "int" if df[h].dtype.kind in "iu" else "text"), 12)
            for h in df.columns]


def _analysis_sheet(wb, fmt: Formats, result: BatchResult, rules: Rules, submissions: pd.DataFrame | None = None,
                    max_rows: int = EXCEL_MAX_ROWS) -> None:
    """统计分析: grade counts, score bands, 一级指标 averages, execution bands, top and bottom 10,
    findings by rule, and with a roster the units by 报送状态.

    Printed in three parts, each starting a page: the distributions beside two charts; the top
    and bottom ten beside the scatter (a table never split from its header); the findings by rule."""
    ws = wb.add_worksheet("统计分析")
    _print_setup(ws, ANALYSIS_PRINT_WIDTHS)
    ws.set_column(0, 0, 30)
    ws.set_column(1, 10, 11)
    d = result.depts
    grades = analysis.grades_by_category(d, rules)
    hist = analysis.score_histogram(d, rules)
    level1 = analysis.level1_averages(d, result.indicators, rules)
    execution = analysis.execution_distribution(d, rules)
    top, bottom = analysis.top_bottom(d, rules)
    row = 0
    anchors = {}
    for key, title, df, kinds in [
        ("grades", "评价等级分布（按单位类别）", grades, {"类别": "text"}),
        ("hist", "复核得分分布（每 5 分一档，从有单位的最低一档起）", hist, {"得分区间": "text"}),
        ("level1", "一级指标平均得分（整体指标）", level1, {"一级指标": "text", "平均分值": "score", "平均得分": "score"}),
        ("exec", "预算执行率分布", execution, {"预算执行率": "text"}),
    ]:
        anchors[key] = (row + 2, len(df))  # first data row (0-based) and its length
        row = write_block(ws, fmt, row, _cols_of(df, kinds), df, title)
    # The ranking tables start a page, below the first two charts (rows 2–36), the two scatters
    # beside them; the findings by rule start the next page, below both.
    anchors["ranked"] = row = max(row, SECOND_PART_ROW)
    row = write_block(ws, fmt, row, SUMMARY_BRIEF, top, "复核得分前十名")
    row = write_block(ws, fmt, row, SUMMARY_BRIEF, bottom, "复核得分后十名")
    row = max(row, anchors["ranked"] + 2 * CHART_ROWS)
    breaks = [anchors["ranked"], row]
    row = findings_by_rule(ws, fmt, row, result.findings)
    if submissions is not None:
        counts = analysis.status_counts(submissions[submissions["on_roster"].astype(bool)]["status"])
        write_block(ws, fmt, row, _cols_of(counts, {"报送状态": "text"}), counts, f"报送情况（名单 {int(counts['单位数'].iloc[-1])} 个单位）")
    ws.set_h_pagebreaks(breaks)
    # Ranked departments come first on 汇总排名 (ranked order); the scatter plots only those.
    _charts(wb, ws, grades, anchors, rules, analysis.ranked(d))
    if len(result.projects):
        _project_scatter(wb, ws, result.projects, anchors["ranked"] + CHART_ROWS, max_rows)


# 统计分析's charts are 16 rows high (288 pixels × 1.1); each is given 18. The second printed
# part (前十名, 后十名 and the scatters) starts below the first two charts at the earliest.
CHART_ROWS = 18
SECOND_PART_ROW = 1 + 2 * CHART_ROWS
# 统计分析's columns (A 30, B–K 11) and its charts beside them (from L, 1.3 × 480 pixels wide).
ANALYSIS_PRINT_WIDTHS = (30, *[11] * 10, 89)
# The rule by its Chinese name: its id (score.exec_mismatch) is for looking up, in 审核问题's last column.
BY_RULE = [Col("规则", "规则", "text", 30), Col("级别", "级别", "text", 11), Col("问题数", "问题数", "int", 11),
           Col("涉及文件数", "涉及文件数", "int", 11), Col("占全部问题", "占全部问题", "rate", 11)]


def findings_by_rule(ws, fmt: Formats, row: int, findings: pd.DataFrame) -> int:
    """审核问题 counted by rule and level, 错误 first and coloured: a rare serious problem is not
    lost under a common warning. Returns the next free row."""
    counts = analysis.findings_by_rule(findings)
    title = f"审核问题按规则统计（共 {len(findings):,} 条，错误在前；明细见“审核问题”工作表）"
    first = row + 2
    row = write_block(ws, fmt, row, BY_RULE, counts, title)
    if len(counts):  # the rule and its level coloured by the level
        last = first + len(counts) - 1
        for word in (F.ERROR, F.WARNING, F.NOTE):
            ws.conditional_format(first, 0, last, 1, {"type": "formula", "criteria": f'=$B{first + 1}="{word}"', "format": fmt.fills[word]})
    return row


def _charts(wb, ws, grades: pd.DataFrame, anchors: dict, rules: Rules, ranked: pd.DataFrame) -> None:
    first, n = anchors["grades"]
    cats = n - 1  # without the 合计 row
    if cats > 0:
        bar = wb.add_chart({"type": "bar", "subtype": "stacked"})
        for i, g in enumerate(rules.grade_names):
            bar.add_series({"name": g, "categories": ["统计分析", first, 0, first + cats - 1, 0],
                            "values": ["统计分析", first, 2 + i, first + cats - 1, 2 + i],
                            "fill": {"color": CHART_COLOURS.get(g, "#A5A5A5")}})
        bar.set_title({"name": "各类别评价等级分布"})
        bar.set_x_axis({"name": "单位数"})
        ws.insert_chart("L2", bar, {"x_scale": 1.3, "y_scale": 1.1})
    first, n = anchors["hist"]
    if n:
        col = wb.add_chart({"type": "column"})
        col.add_series({"name": "单位数", "categories": ["统计分析", first, 0, first + n - 1, 0],
                        "values": ["统计分析", first, 1, first + n - 1, 1], "fill": {"color": "#5B9BD5"}, "gap": 30})
        col.set_title({"name": "复核得分分布"})
        col.set_legend({"none": True})
        ws.insert_chart("L20", col, {"x_scale": 1.3, "y_scale": 1.1})
    if len(ranked):
        _scatter(wb, ws, ranked, anchors["ranked"])


def _scatter(wb, ws, ranked: pd.DataFrame, row: int) -> None:
    """预算执行率 against 复核得分 of the ranked departments (汇总排名's first rows), beside the
    top and bottom ten."""
    col = {c.source: i for i, c in enumerate(SUMMARY)}
    _rate_against_score(wb, ws, row, Plot("汇总排名", col[RATE_COLUMNS["预算执行率"]], col["total"], len(ranked), "单位",
                                          "预算执行率", "复核得分", "#ED7D31", 5), ranked["total"])


def _project_scatter(wb, ws, projects: pd.DataFrame, row: int, max_rows: int) -> None:
    """Each project's 执行率 against its 复核得分 (项目汇总's columns; a project without
    either is left out by the chart; the first 项目汇总 sheet of a longer list): a project
    scoring high on little spending stands out at the left."""
    col = {c.source: i for i, c in enumerate(PROJECTS)}
    _rate_against_score(wb, ws, row, Plot("项目汇总", col["exec_rate"], col["total"], min(len(projects), max_rows - 1), "项目",
                                          "项目执行率", "项目复核得分", "#5B9BD5", 4), projects["total"])


@dataclass(frozen=True)
class Plot:
    """A scatter of a table's rate column (x) against its score column (y), rows 1 to n."""
    sheet: str
    x: int
    y: int
    n: int
    name: str
    x_name: str
    y_name: str
    colour: str
    size: int


def _rate_against_score(wb, ws, row: int, p: Plot, scores: pd.Series) -> None:
    """`p` on 统计分析 at `row` (column L), the score axis fitted to `scores` (85–100, not 0–100)."""
    low, high = analysis.axis_range(scores)
    chart = wb.add_chart({"type": "scatter"})
    chart.add_series({"name": p.name, "categories": [p.sheet, 1, p.x, p.n, p.x], "values": [p.sheet, 1, p.y, p.n, p.y],
                      "marker": {"type": "circle", "size": p.size, "fill": {"color": p.colour}, "border": {"none": True}}})
    chart.set_title({"name": f"{p.x_name}与{p.y_name.removeprefix('项目')}"})
    chart.set_x_axis({"name": p.x_name, "num_format": "0%", "min": 0})
    chart.set_y_axis({"name": p.y_name, "min": low, "max": high, "major_unit": 5 if high - low <= 40 else 10})
    chart.set_legend({"none": True})
    ws.insert_chart(row, 11, chart, {"x_scale": 1.3, "y_scale": 1.1})


CHANGE_KINDS = {"原得分": "score", "新得分": "score", "差异": "score", "复核得分": "score", "原最终得分": "score", "新最终得分": "score"}


def _changes_sheet(wb, fmt: Formats, changes: pd.DataFrame | None, year_over_year: pd.DataFrame | None,
                   status_changes: pd.DataFrame | None = None, project_changes: pd.DataFrame | None = None) -> None:
    """变动情况: what changed since the previous run of the year (units, projects a review scored
    differently, roster statuses), and where the comparison with last year is."""
    ws = wb.add_worksheet("变动情况")
    ws.set_column(0, 0, 10)
    ws.set_column(1, 8, 14)
    ws.set_column(9, 9, 60)
    _print_setup(ws, (10, *[14] * 8, 60))
    if changes is None:
        ws.write_string(0, 0, "本年度尚无可比较的上次运行（首次运行，或运行历史数据库不可用）", fmt.title)
        row = 2
    else:
        projects = project_changes is not None and not project_changes.empty
        none = "：没有单位的得分或文件发生变化" + ("（项目抽评的变动见下表）" if projects else "")
        title = "与上次运行相比的变动" + (none if changes.empty else f"（{len(changes)} 个单位）")
        cols = [Col(h, h, CHANGE_KINDS.get(h, "wrap" if h == "说明" else "text"), 14) for h in changes.columns]
        row = write_block(ws, fmt, 0, cols, changes, title)
        if projects:
            cols = [Col(h, h, CHANGE_KINDS.get(h, "wrap" if h == "说明" else "text"), 14) for h in project_changes.columns]
            row = write_block(ws, fmt, row, cols, project_changes, f"项目抽评变动（{len(project_changes)} 个项目）")
    if status_changes is not None and not status_changes.empty:
        cols = [Col(h, h, "wrap" if h == "说明" else "text", 14) for h in status_changes.columns]
        row = write_block(ws, fmt, row, cols, status_changes, f"报送状态变化（{len(status_changes)} 个单位）")
    if year_over_year is not None:  # the history was read: say where last year's comparison is, or why there is none
        ws.write_string(row, 0, "与上年同比：见“同比”工作表" if len(year_over_year) else
                        "运行历史中没有上一年度的评分运行，因此没有“同比”工作表", fmt.key)


# 同比's colours: a rise green, a fall red, a new unit blue, a unit gone grey.
YOY_COLOURS = {"上升": "#C6EFCE", "下降": "#FFC7CE", "本年新增": "#DDEBF7", "本年没有": "#D9D9D9"}
# The chart of the largest changes: this many units, of those whose 最终得分 moved.
YOY_CHART_UNITS = 10


def _yoy_sheet(wb, fmt: Formats, yoy: pd.DataFrame) -> None:
    """同比: each unit's 最终得分, grade and rank beside last year's (history.year_over_year),
    a line of counts, and a chart of the largest changes to the right of the table."""
    frame = yoy.rename(columns={c.header: c.source for c in YEAR_OVER_YEAR})
    (name,) = write_table(wb, fmt, "同比", YEAR_OVER_YEAR, frame)
    ws = wb.get_worksheet_by_name(name)
    n = len(frame)
    col = {c.source: i for i, c in enumerate(YEAR_OVER_YEAR)}
    for key in ("change", "rank_change"):  # up green, down red
        ws.conditional_format(1, col[key], n, col[key], {"type": "cell", "criteria": ">", "value": 0, "format": fmt.fills["优"]})
        ws.conditional_format(1, col[key], n, col[key], {"type": "cell", "criteria": "<", "value": 0, "format": fmt.fills["差"]})
    for key in ("last_grade", "this_grade"):
        for word, f in fmt.fills.items():
            ws.conditional_format(1, col[key], n, col[key], {"type": "cell", "criteria": "==", "value": f'"{word}"', "format": f})
    for word, colour in YOY_COLOURS.items():
        ws.conditional_format(1, col["yoy_kind"], n, col["yoy_kind"], {"type": "cell", "criteria": "==", "value": f'"{word}"',
                                                                       "format": wb.add_format({"bg_color": colour})})
    # Paper gets the table only: the chart and its figures are for the screen, beside it.
    ws.print_area(0, 0, n, len(YEAR_OVER_YEAR) - 1)
    _yoy_chart(wb, ws, fmt, yoy, len(YEAR_OVER_YEAR) + 1)


def yoy_summary(yoy: pd.DataFrame) -> str:
    """One line of counts: units each year, how those in both moved, and the new and the gone."""
    kind = yoy["同比情况"].value_counts()
    last, this = yoy.attrs.get("last_year", "上"), yoy.attrs.get("this_year", "本")
    new, gone = int(kind.get("本年新增", 0)), int(kind.get("本年没有", 0))
    n_last, n_this, both = len(yoy) - new, len(yoy) - gone, len(yoy) - new - gone
    moved = "、".join(f"{k} {int(kind.get(k, 0))} 个" for k in ("上升", "下降", "持平", "本年未评级", "上年未评级")
                     if k in ("上升", "下降", "持平") or kind.get(k, 0))
    return (f"{this} 年 {n_this} 个单位，{last} 年 {n_last} 个单位；两年都有 {both} 个（按最终得分：{moved}）；"
            f"本年新增 {new} 个，上年有、本年没有 {gone} 个")


def largest_changes(yoy: pd.DataFrame, n: int = YOY_CHART_UNITS) -> pd.DataFrame:
    """The `n` units whose 最终得分 moved most (either way), the largest rise first."""
    moved = yoy[yoy["得分变化"].abs().gt(0.005)]
    top = moved.assign(_abs=moved["得分变化"].abs()).sort_values(["_abs", "单位编码"], ascending=[False, True], kind="stable").head(n)
    return top.sort_values(["得分变化", "单位编码"], ascending=[False, True], kind="stable")[["单位名称", "得分变化"]].reset_index(drop=True)


def _yoy_chart(wb, ws, fmt: Formats, yoy: pd.DataFrame, at: int) -> None:
    """To the right of the table (column `at`): the year's line of counts, the chart of the
    largest changes, and below it the figures it draws (a chart needs them in cells)."""
    last, this = yoy.attrs.get("last_year", ""), yoy.attrs.get("this_year", "")
    ws.set_column(at, at, 30)
    ws.set_column(at + 1, at + 1, 10)
    ws.write_string(0, at, f"{this} 年与 {last} 年同比", fmt.title)
    ws.write_string(1, at, yoy_summary(yoy), fmt.key)
    top = largest_changes(yoy)
    first = 24  # the figures under the chart (rows 4–23)
    if top.empty:
        ws.write_string(3, at, "两年都有的单位最终得分均无变化", fmt.key)
        return
    write_block(ws, fmt, first - 1, [Col("单位名称", "单位名称", "text", 30), Col("得分变化", "得分变化", "score", 10)], top,
                f"得分变化最大的 {len(top)} 个单位（图表数据）", first_col=at)
    chart = wb.add_chart({"type": "bar"})
    points = [{"fill": {"color": CHART_COLOURS["优"] if v > 0 else CHART_COLOURS["差"]}} for v in top["得分变化"]]
    rows = (first + 1, first + len(top))  # data rows, below the block's title and header
    chart.add_series({"name": "得分变化", "categories": ["同比", rows[0], at, rows[1], at],
                      "values": ["同比", rows[0], at + 1, rows[1], at + 1], "points": points,
                      "data_labels": {"value": True, "num_format": "+0.00;-0.00"}})
    chart.set_title({"name": f"最终得分变化最大的 {len(top)} 个单位（{this} 年 − {last} 年）"})
    chart.set_x_axis({"name": "得分变化", "num_format": "+0;-0;0"})
    chart.set_y_axis({"reverse": True})  # the largest rise at the top, as listed
    chart.set_legend({"none": True})
    ws.insert_chart(3, at, chart, {"x_scale": 1.4, "y_scale": 1.3})


# The long tables for BI tools: the same columns and headers as the workbook's sheets.
PARQUET_TABLES = {"指标得分": INDICATORS, "项目汇总": PROJECTS, "审核问题": FINDINGS, "汇总排名": SUMMARY}


def write_parquet(result: BatchResult, folder: Path) -> list[Path]:
    from ..files import atomic_write

    sources = {"指标得分": result.indicators, "项目汇总": result.projects, "审核问题": F.sort(result.findings), "汇总排名": result.depts}
    written = []
    for name, cols in PARQUET_TABLES.items():
        df = sources[name]
        table = pd.DataFrame({c.header: (pd.to_numeric(df[c.source], errors="coerce") if c.kind in ("score", "rate", "money", "int")
                                         else df[c.source].astype("string")) if c.source in df else None for c in cols})
        written.append(atomic_write(folder / f"{name}.parquet", lambda p, t=table: t.to_parquet(p, index=False)))
    return written

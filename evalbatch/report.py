"""The consolidated workbook analysts open (docs/scoring.md), written with xlsxwriter directly.

Each sheet is described once as data (header, source column, kind); one writer serves all.
Text from submissions is always written as text (no formulas, no links, no numbers from
text); NaN and inf never reach a cell: a missing figure is a blank cell.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from . import findings as F
from .batch import BatchResult
from .scoring import RATE_COLUMNS
from .template import SAFE_OPTIONS

# Excel's limit is 1,048,576 rows, header included; longer tables go on to 指标得分_2, …
EXCEL_MAX_ROWS = 1_048_576


class WriteError(RuntimeError):
    """xlsxwriter refused a cell (it returns -1 rather than raising)."""


@dataclass(frozen=True)
class Col:
    header: str
    source: str
    kind: str = "text"  # text, score, rate, money, int
    width: float = 12


SUMMARY = [
    Col("排名", "rank", "int", 6), Col("类别排名", "cat_rank", "int", 8), Col("单位编码", "dept_code", "text", 12),
    Col("单位名称", "dept_name", "text", 30), Col("单位类别", "dept_category", "text", 16),
    Col("复核得分", "total", "score", 10), Col("自评得分", "self_total", "score", 10), Col("得分差异", "diff", "score", 10),
    Col("评价等级", "grade", "text", 9),
    *[Col(m, RATE_COLUMNS[m], "rate", 12) for m in RATE_COLUMNS],
    Col("项目数", "project_count", "int", 8), Col("项目平均得分", "project_avg", "score", 12),
    Col("错误数", "errors", "int", 8), Col("警告数", "warnings", "int", 8), Col("主要扣分项", "top_deductions", "wrap", 50),
    Col("文件", "file", "text", 30),
]
INDICATORS = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24), Col("项目编码", "project_code", "text", 16),
    Col("一级指标", "l1", "text", 12), Col("二级指标", "l2", "text", 14), Col("三级指标", "l3", "text", 28),
    Col("计分方法", "method_used", "text", 12), Col("分值", "weight", "score", 8), Col("指标值", "target", "text", 14),
    Col("实际值", "actual", "text", 14), Col("完成率", "rate", "rate", 10), Col("自评得分", "self_score", "score", 10),
    Col("复核得分", "score", "score", 10), Col("扣分", "deduction", "score", 8), Col("得分差异", "diff", "score", 10),
    Col("复核说明", "explain", "wrap", 44), Col("工作表", "sheet", "text", 10), Col("行号", "row", "int", 6),
]
PROJECTS = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24), Col("项目编码", "project_code", "text", 16),
    Col("项目名称", "project_name", "wrap", 36), Col("全年预算数", "budget", "money", 12), Col("全年执行数", "spent", "money", 12),
    Col("执行率", "exec_rate", "rate", 10), Col("执行率得分", "exec_score", "score", 10), Col("指标得分", "ind_score", "score", 10),
    Col("复核得分", "total", "score", 10), Col("自评得分", "self_score", "score", 10), Col("得分差异", "diff", "score", 10),
    Col("评价等级", "grade", "text", 9),
]
FINDINGS = [
    Col("文件", "file", "text", 30), Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24),
    Col("工作表", "sheet", "text", 12), Col("单元格", "cell", "text", 10), Col("级别", "level", "text", 7),
    Col("规则", "rule", "text", 18), Col("说明", "message", "wrap", 80), Col("规则编号", "rule_id", "text", 22),
]
RECORDS = [
    Col("文件", "name", "text", 40), Col("大小（字节）", "size", "int", 12), Col("修改时间", "modified", "text", 20),
    Col("SHA-256", "sha256", "text", 66), Col("单位编码", "dept_code", "text", 12), Col("处理结果", "status", "text", 12),
]

GRADE_COLOURS = {"优": "#C6EFCE", "良": "#DDEBF7", "中": "#FFEB9C", "差": "#FFC7CE", "未评级": "#D9D9D9"}
LEVEL_COLOURS = {F.ERROR: "#FFC7CE", F.WARNING: "#FFEB9C", F.NOTE: "#DDEBF7"}


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "等线", "font_size": 10, "valign": "top"}
        self.header = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "text_wrap": True, "valign": "vcenter", "border": 1})
        self.kind = {
            "text": wb.add_format(base),
            "wrap": wb.add_format({**base, "text_wrap": True}),
            "score": wb.add_format({**base, "num_format": "0.00"}),
            "rate": wb.add_format({**base, "num_format": "0.00%"}),
            "money": wb.add_format({**base, "num_format": "#,##0.00"}),
            "int": wb.add_format({**base, "num_format": "0"}),
        }
        self.fills = {k: wb.add_format({"bg_color": v}) for k, v in {**GRADE_COLOURS, **LEVEL_COLOURS}.items()}
        self.key = wb.add_format({**base, "bold": True})


def _cell_values(series: pd.Series, kind: str) -> list:
    """Python values for one column: None for missing, never NaN or inf."""
    if kind in ("score", "rate", "money", "int"):
        num = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
        ok = np.isfinite(num)
        if kind == "int":
            return [int(v) if k else None for v, k in zip(num, ok)]
        return [float(v) if k else None for v, k in zip(num, ok)]
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else str(v) for v in series.tolist()]


# Shared with the other workbook writers (feedback.py), so every output looks the same.
Formats, cell_values = _Formats, _cell_values


def write_table(wb: xlsxwriter.Workbook, fmt: _Formats, name: str, cols: Sequence[Col], df: pd.DataFrame,
                max_rows: int = EXCEL_MAX_ROWS) -> list[str]:
    """Write `df` as a table sheet, continued on name_2, name_3, … past `max_rows` rows."""
    columns = [_cell_values(df[c.source] if c.source in df else pd.Series([None] * len(df)), c.kind) for c in cols]
    rows = list(zip(*columns)) if len(df) else []
    per_sheet = max_rows - 1
    names = []
    for part in range(max(1, math.ceil(len(rows) / per_sheet))):
        sheet_name = name if part == 0 else f"{name}_{part + 1}"
        chunk = rows[part * per_sheet : (part + 1) * per_sheet]
        ws = wb.add_worksheet(sheet_name)
        _lay_out(ws, fmt, cols, len(chunk))
        for r, values in enumerate(chunk, start=1):
            if ws.write_row(r, 0, values) == -1:
                raise WriteError(f"写入工作表 {sheet_name} 第 {r + 1} 行失败")
        _colour(ws, fmt, cols, len(chunk))
        names.append(sheet_name)
    return names


def _lay_out(ws, fmt: _Formats, cols: Sequence[Col], n: int) -> None:
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width, fmt.kind[col.kind])
        ws.write_string(0, c, col.header, fmt.header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 1), len(cols) - 1)
    ws.set_row(0, 28)


def _colour(ws, fmt: _Formats, cols: Sequence[Col], n: int) -> None:
    if n == 0:
        return
    for c, col in enumerate(cols):
        if col.header == "评价等级" or col.header == "级别":
            for word, f in fmt.fills.items():
                ws.conditional_format(1, c, n, c, {"type": "cell", "criteria": "==", "value": f'"{word}"', "format": f})


def _records_frame(result: BatchResult) -> pd.DataFrame:
    rows = [
        {**vars(r), "modified": dt.datetime.fromtimestamp(r.mtime).strftime("%Y-%m-%d %H:%M:%S") if r.mtime else ""}
        for r in result.records
    ]
    return pd.DataFrame(rows, columns=["name", "size", "modified", "sha256", "dept_code", "status"])


def _run_info(wb, fmt: _Formats, result: BatchResult) -> None:
    ws = wb.add_worksheet("运行信息")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 60)
    m = result.meta
    statuses = pd.Series([r.status for r in result.records], dtype=object).value_counts()
    pairs = [
        ("运行时间", m.get("started", "")),
        ("完成时间", m.get("finished", "")),
        ("evalbatch 版本", m.get("version", "")),
        ("评价年度", "" if m.get("year") is None else str(m["year"])),
        ("规则", f"{m.get('rules_source', '')}（版本 {m.get('rules_version', '')}，摘要 {m.get('rules_digest', '')}）"),
        ("发现文件数", str(len(result.records))),
        ("采用文件数", str(int(statuses.get("已采用", 0) + statuses.get("有错误", 0)))),
        ("无法使用文件数", str(int(statuses.get("无法使用", 0)))),
        ("被取代文件数", str(int(statuses.get("被取代", 0)))),
        ("待下次处理文件数", str(int(statuses.get("待下次处理", 0)))),
        *[(f"跳过：{k}", str(v)) for k, v in sorted(result.skipped.items())],
        ("错误 / 警告 / 提示", " / ".join(str(int((result.findings["level"] == lv).sum())) for lv in (F.ERROR, F.WARNING, F.NOTE))),
    ]
    for r, (k, v) in enumerate(pairs):
        ws.write_string(r, 0, k, fmt.key)
        ws.write_string(r, 1, v)
    start = len(pairs) + 1
    records = _records_frame(result)
    for c, col in enumerate(RECORDS):
        ws.write_string(start, c, col.header, fmt.header)
    for r, values in enumerate(zip(*[_cell_values(records[c.source], c.kind) for c in RECORDS]), start=start + 1):
        ws.write_row(r, 0, values)
    for c, col in enumerate(RECORDS[2:], start=2):
        ws.set_column(c, c, col.width)


# Above this many rows in all, rows are streamed to disk (xlsxwriter's constant_memory) so a
# country's worth of indicators does not have to sit in memory as cell objects.
CONSTANT_MEMORY_ROWS = 200_000


def write_workbook(result: BatchResult, path: str | Path, max_rows: int = EXCEL_MAX_ROWS) -> Path:
    """Write the consolidated workbook to `path` (the caller moves it into place)."""
    path = Path(path)
    rows = len(result.depts) + len(result.indicators) + len(result.projects) + len(result.findings)
    # Every sheet is written row by row, top to bottom, which is what constant_memory needs.
    wb = xlsxwriter.Workbook(str(path), {**SAFE_OPTIONS, "constant_memory": rows > CONSTANT_MEMORY_ROWS})
    wb.set_properties({"title": "预算绩效自评复核汇总", "author": "evalbatch", "created": dt.datetime.now()})
    fmt = _Formats(wb)
    findings = F.sort(result.findings)
    write_table(wb, fmt, "汇总排名", SUMMARY, result.depts, max_rows)
    write_table(wb, fmt, "指标得分", INDICATORS, result.indicators, max_rows)
    write_table(wb, fmt, "项目汇总", PROJECTS, result.projects, max_rows)
    write_table(wb, fmt, "审核问题", FINDINGS, findings, max_rows)
    _run_info(wb, fmt, result)
    wb.close()
    return path


# The long tables for BI tools: the same columns and headers as the workbook's sheets.
PARQUET_TABLES = {"指标得分": INDICATORS, "项目汇总": PROJECTS, "审核问题": FINDINGS, "汇总排名": SUMMARY}


def write_parquet(result: BatchResult, folder: Path) -> list[Path]:
    from .files import atomic_write

    sources = {"指标得分": result.indicators, "项目汇总": result.projects, "审核问题": F.sort(result.findings), "汇总排名": result.depts}
    written = []
    for name, cols in PARQUET_TABLES.items():
        df = sources[name]
        table = pd.DataFrame({c.header: (pd.to_numeric(df[c.source], errors="coerce") if c.kind in ("score", "rate", "money", "int")
                                         else df[c.source].astype("string")) if c.source in df else None for c in cols})
        written.append(atomic_write(folder / f"{name}.parquet", lambda p, t=table: t.to_parquet(p, index=False)))
    return written

"""Cells: the formats every workbook evalbatch writes shares, and table rows turned into cells.

Used by the consolidated workbook (report.py), the feedback files, the review workbooks, and
the helper processes that write a large sheet's rows (parts.py): all of them format a column
the same way, so a row looks the same whoever wrote it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xlsxwriter

from .. import findings as F
from . import printing
from .columns import Col


class WriteError(RuntimeError):
    """xlsxwriter refused a cell (it returns -1 rather than raising)."""


GRADE_COLOURS = {"优": "#C6EFCE", "良": "#DDEBF7", "中": "#FFEB9C", "差": "#FFC7CE", "未评级": "#D9D9D9"}
LEVEL_COLOURS = {F.ERROR: "#FFC7CE", F.WARNING: "#FFEB9C", F.NOTE: "#DDEBF7"}
# 报送情况's statuses (roster/status.py): what needs a call in red, what needs a look in yellow.
MISSING = "未提交"
STATUS_COLOURS = {MISSING: "#FFC7CE", "有错误": "#FFEB9C", "未能复核": "#FFEB9C", "仅项目表": "#DDEBF7", "已采用": "#C6EFCE"}


class Formats:
    """The formats every workbook evalbatch writes shares (consolidated and feedback)."""

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
            "date": wb.add_format({**base, "num_format": "yyyy-mm-dd"}),  # a fill-in date (抽评表's 复核日期)
        }
        self.fills = {k: wb.add_format({"bg_color": v}) for k, v in {**GRADE_COLOURS, **LEVEL_COLOURS}.items()}
        self.status = {k: wb.add_format({"bg_color": v}) for k, v in STATUS_COLOURS.items()}
        self.key = wb.add_format({**base, "bold": True})
        self.title = wb.add_format({**base, "bold": True, "font_size": 12, "font_color": "#1F4E78"})
        total = {**base, "bold": True, "top": 1, "bg_color": "#F2F2F2"}
        self.total = {k: wb.add_format({**total, **({"num_format": f.num_format} if f.num_format else {})})
                      for k, f in self.kind.items()}
        self.red = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        # Ranks centred and codes indented, so a rank and the code beside it never read as one number.
        self.rank = wb.add_format({**base, "num_format": "0", "align": "center"})
        self.code = wb.add_format({**base, "num_format": "@", "align": "left", "indent": 1})
        # xlsxwriter numbers a format when a cell first uses it. Numbering the column formats
        # now, in this order, gives them the same numbers in every workbook made this way
        # (parts.py hands a workbook's own numbers to its helpers, so it no longer needs this;
        # it keeps the workbooks' styles in one order).
        for f in (*self.kind.values(), self.rank, self.code):
            f._get_xf_index()

    def column(self, col: Col, wrap: bool = True):
        """A column's default format: its kind's, but for ranks and codes (and wrapping only when `wrap`)."""
        if col.source in RANK_SOURCES:
            return self.rank
        if col.source in CODE_SOURCES:
            return self.code
        return self.kind[col.kind if wrap or col.kind != "wrap" else "text"]


RANK_SOURCES = ("rank", "cat_rank", "dept_rank")
CODE_SOURCES = ("dept_code", "project_code")


def cell_values(series: pd.Series, kind: str) -> list:
    """Python values for one column: None for missing, never NaN or inf."""
    if kind in ("score", "rate", "money", "int"):
        num = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
        ok = np.isfinite(num)
        if kind == "int":
            return [int(v) if k else None for v, k in zip(num, ok)]
        return [float(v) if k else None for v, k in zip(num, ok)]
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else str(v) for v in series.tolist()]


def cell_columns(cols: Sequence[Col], df: pd.DataFrame) -> list[list]:
    """`df` as one list of plain Python values per column of `cols` (missing columns blank)."""
    return [cell_values(df[c.source] if c.source in df else pd.Series([None] * len(df)), c.kind) for c in cols]


def table_rows(cols: Sequence[Col], df: pd.DataFrame) -> list[tuple]:
    """`df` as rows of plain Python values in the order of `cols` (missing columns blank)."""
    return list(zip(*cell_columns(cols, df))) if len(df) else []


def row_heights(cols: Sequence[Col], df: pd.DataFrame, first_row: int) -> dict[int, float]:
    """Row → height, from `first_row`, for the rows of `df` whose wrapped text needs more than one line."""
    wrapped = [(df[c.source], c.width) for c in cols if c.kind == "wrap" and c.source in df]
    return {r: h for r, h in enumerate(printing.row_heights(wrapped), start=first_row) if h == h}  # NaN: one line


def write_rows(ws, first_row: int, rows: Sequence[Sequence], cols: Sequence[Col] | None = None,
               heights: dict[int, float] | None = None) -> int:
    """Write rows from `first_row` on; a write xlsxwriter refuses (-1) is an error, not a loss.

    With `cols`, each cell goes straight to write_number or write_string by its column's
    kind, skipping write_row's per-cell type detection (a tenth of the write time on a
    country's indicators); missing values are left blank. `heights`: row → height, set as
    each row is reached (a streamed sheet takes a row's settings only before its cells).
    """
    writers = [ws.write_string if c.kind in ("text", "wrap") else ws.write_number for c in cols] if cols else None
    for r, values in enumerate(rows, start=first_row):
        if heights and r in heights:
            ws.set_row(r, heights[r])
        if writers is None:
            refused = ws.write_row(r, 0, values) == -1
        else:
            refused = any(write(r, c, v) == -1 for c, (write, v) in enumerate(zip(writers, values)) if v is not None and v != "")
        if refused:
            raise WriteError(f"写入工作表 {ws.get_name()} 第 {r + 1} 行失败")
    return first_row + len(rows)

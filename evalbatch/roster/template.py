"""`evalbatch roster template`: a blank roster the bureau fills in (Excel or WPS).

单位编码 is a text column (leading zeros stay), 单位类别 a dropdown of the categories
submissions use, 应报项目数 a whole number, 截止日期 a date; `read_roster` reads it back.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


from ..schema import DEPT_CATEGORIES
from ..write.book import Workbook
from ..write.template import _list_validation
from .read import HEADERS, REQUIRED

SHEET = "名单"
ROWS = 5000  # rows the dropdowns and checks cover
_WIDTHS = {"code": 14, "name": 36, "category": 20, "parent": 24, "expected_projects": 11, "contact": 12, "deadline": 12}
_NOTES = [
    "每行一个应报送自评的预算单位；第 1 行为表头，请勿修改表头文字。",
    "单位编码：财政部门下达的单位编码，与各单位填报表中的单位编码一致（按文本填写，保留前导 0）；不得重复。",
    "单位名称：单位全称。官方自评表没有单位编码时，按单位名称与本名单对应，请与自评表中的名称完全一致。",
    "单位类别：从下拉列表中选择；官方自评表没有单位类别，汇总时按本名单补上。",
    "主管部门：可选；官方自评表没有主管部门时按本名单补上。",
    "应报项目数、联系人、截止日期：可选；截止日期写作 2026-03-31。",
    "保存为 OUTPUT_DIR/名单.xlsx（evalbatch run 的输出文件夹），或运行时用 --roster 指定；evalbatch roster check 可检查本表。",
]


def write_roster_template(path: str | Path) -> Path:
    path = Path(path)
    wb = Workbook(str(path))
    base = {"font_name": "等线", "font_size": 11, "valign": "vcenter"}
    header = wb.add_format({**base, "bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "border": 1, "align": "center"})
    required = wb.add_format({**base, "bold": True, "bg_color": "#C00000", "font_color": "#FFFFFF", "border": 1, "align": "center"})
    kinds = {"code": wb.add_format({**base, "num_format": "@"}), "expected_projects": wb.add_format({**base, "num_format": "0"}),
             "deadline": wb.add_format({**base, "num_format": "yyyy-mm-dd"})}
    plain = wb.add_format(base)
    ws = wb.add_worksheet(SHEET)
    for c, (key, label) in enumerate(HEADERS.items()):
        ws.set_column(c, c, _WIDTHS[key], kinds.get(key, plain))
        ws.write_string(0, c, label, required if key in REQUIRED else header)
    ws.freeze_panes(1, 0)
    col = {key: c for c, key in enumerate(HEADERS)}
    ws.data_validation(1, col["category"], ROWS, col["category"], _list_validation(DEPT_CATEGORIES, "单位类别"))
    ws.data_validation(1, col["expected_projects"], ROWS, col["expected_projects"],
                       {"validate": "integer", "criteria": ">=", "value": 0, "error_title": "请检查数值",
                        "error_message": "应报项目数应为不小于 0 的整数"})
    ws.data_validation(1, col["deadline"], ROWS, col["deadline"],
                       {"validate": "date", "criteria": ">", "value": dt.date(1990, 1, 1), "error_type": "warning",
                        "error_title": "请检查日期", "error_message": "截止日期应为日期，如 2026-03-31"})
    notes = wb.add_worksheet("填写说明")
    notes.set_column(0, 0, 110, plain)
    for r, line in enumerate(_NOTES):
        notes.write_string(r, 0, line)
    ws.activate()
    wb.close()
    return path

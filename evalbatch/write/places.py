"""读取位置: which cell of a department's own form became which field, for its feedback file.

`evalbatch check --explain FILE` says it on the screen (layouts/explain.py); the feedback file
says it to the department, from the cell addresses the frames keep beside every value read
(`cell_*` columns): the head fields, each project's funds and printed points, and each
indicator's columns. A department that meets a value read from the wrong cell, or one that
was not read, sees it here; official forms only (format 1's cells are the template's).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..layouts.base import FORMAT1

# (key, what it is read as) in the order a form prints them.
DEPT_FIELDS = (("dept_name", "单位名称"), ("parent_dept", "主管部门"), ("year", "年度"), ("budget_total", "部门全年预算数"),
               ("spent_total", "部门全年执行数"), ("self_total", "自评总分"))
PROJECT_FIELDS = (("project_name", "项目名称"), ("initial_budget", "年初预算数"), ("budget", "全年预算数"), ("spent", "全年执行数"),
                  ("exec_weight", "预算执行率分值"), ("exec_rate_printed", "表中执行率"), ("exec_self_score", "预算执行率自评得分"),
                  ("self_score", "项目自评总分"))
INDICATOR_FIELDS = (("l1", "一级指标"), ("weight", "分值"), ("target", "指标值"), ("actual", "实际值"), ("self_score", "自评得分"),
                    ("reason", "偏差原因"))
# A project's name is read from the cell its code is taken from (a derived code points there).
_CELL_OF = {"project_name": "cell_project_code"}
COLUMNS = ["sheet", "cell", "field", "value", "owner"]


def shown(layout: object) -> bool:
    """Official forms get the sheet; evalbatch's own template does not."""
    return bool(layout) and str(layout) != FORMAT1


def read_places(dept: Mapping, projects: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """One row per value read: 工作表, 单元格, 读作, 读到的值, 所属."""
    rows = [(dept.get("info_sheet"), dept.get(f"cell_{k}"), name, dept.get(k), "部门") for k, name in DEPT_FIELDS]
    for p in projects.to_dict("records"):
        owner = f"项目 {_text(p.get('project_code'))}"
        rows += [(p.get("sheet"), p.get(_CELL_OF.get(k, f"cell_{k}")), name, p.get(k), owner) for k, name in PROJECT_FIELDS]
    for i in indicators.to_dict("records"):
        code = _text(i.get("project_code"))
        owner = (f"项目 {code}" if code else "整体") + f"：{_text(i.get('l3'))}"
        rows += [(i.get("sheet"), i.get(f"cell_{k}"), name, i.get(k), owner) for k, name in INDICATOR_FIELDS]
    kept = [(_text(s), _text(c), f, _text(v), o) for s, c, f, v, o in rows if _text(c) and _text(v)]
    return pd.DataFrame(kept, columns=COLUMNS)


def _text(v: object) -> str:
    """A value as read, as text: 97.6, 2022, "≥90%"; blank for nothing."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v).strip()

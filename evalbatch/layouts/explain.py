"""Which cell became which field: what `evalbatch check --explain FILE` prints, so a bureau
meeting a new variant of a form sees in a minute what was read from where (and, from the
提示 of cells the reader could not place, which [forms] words to add)."""

from __future__ import annotations

from .. import schema as S
from . import official
from .base import FORMAT1, Located, blank

# Names of the keys the official forms fill that format 1's schema does not name.
_NAMES = {
    "dept_code": "单位编码", "dept_name": "单位名称", "year": "年度", "parent_dept": "主管部门", "self_total": "自评总分",
    "budget_total": "部门预算总额", "spent_total": "部门执行总额", "money_unit": "金额单位", "project_code": "项目编码",
    "project_name": "项目名称", "initial_budget": "年初预算数", "budget": "全年预算数", "spent": "全年执行数",
    "self_score": "自评得分", "exec_weight": "执行率分值", "exec_rate_printed": "表中执行率", "exec_self_score": "自评执行率得分",
    "l1": "一级指标", "l2": "二级指标", "l3": "三级指标", "weight": "分值", "target": "指标值", "actual": "实际完成值",
    "reason": "偏差原因", "l1_points": "一级指标分值", "label": "资金项目", "kind": "类别",
}


def _name(key: str) -> str:
    if key in _NAMES:
        return _NAMES[key]
    field = S.FIELD_BY_KEY.get(key)
    return field.label if field is not None else key


def explain(loc: Located) -> list[str]:
    """One line per value read: 「sheet」cell → field = value, head fields first, then each
    table's rows in order; then the findings of what could not be read or placed."""
    lines = [f"文件“{loc.file}”：{loc.layout or '未识别'}"]
    for key, (value, where) in loc.fields.items():
        if where:
            lines.append(f"  「{loc.info_sheet}」{where} → {_name(key)} = {_show(value)}")
    for table, rows in loc.rows.items():
        keys = _keys(loc, table)
        places = loc.where.get(table, [])
        for i, row in enumerate(rows):
            sheet, cells = places[i] if i < len(places) else (table, {})
            if not cells and table in loc.letters:
                cells = {k: f"{letter}{row[0]}" for k, letter in loc.letters[table].items()}
            # A funds row's kind (合计, 来源, 收入, 支出 …) has no cell of its own but says which list it is in.
            parts = [f"{cells[k]} {_name(k)}={_show(v)}" if k != "kind" else f"{_name(k)}={_show(v)}"
                     for k, v in zip(keys, row[1:]) if (cells.get(k) or k == "kind") and not blank(v)]
            if parts:
                lines.append(f"  {table} 第 {row[0]} 行「{sheet}」：" + "；".join(parts))
    for f in loc.findings:
        if f.get("rule_id", "").startswith("form."):
            lines.append(f"  [{f.get('level', '')}] 「{f.get('sheet', '')}」{f.get('cell', '')} {f.get('message', '')}")
    return lines


def _keys(loc: Located, table: str) -> list[str]:
    """The keys of a table's row values, in the order `Located.rows` holds them."""
    if FORMAT1 not in loc.layouts and table in official.TABLE_KEYS:
        return list(official.TABLE_KEYS[table])
    return [c.key for c in S.columns_of(table)] if table in S.SHEET_BY_NAME else []


def _show(value) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= 30 else text[:29] + "…"

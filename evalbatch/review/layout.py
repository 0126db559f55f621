"""The review workbook's sheets and columns, as data: workbook.py writes them, collect.py
reads them back by header, so the two can never disagree."""

from __future__ import annotations

from collections.abc import Sequence

from ..write.columns import Col

INSTRUCTIONS, ITEMS, MARKS = "填写说明", "抽评项目", "抽评指标"
SHEETS = (INSTRUCTIONS, ITEMS, MARKS)

# Labels in column A of 填写说明 whose value (column B) ties a workbook to its draw.
YEAR_LABEL, DRAW_LABEL, TOKEN_LABEL, REVIEWER_LABEL = "评价年度", "抽取编号", "校验码", "复核组"

PROJECT, DEPARTMENT = "项目", "整体"  # kinds of drawn item: one project, or a department's own self-evaluation

ITEM_FIXED = [
    Col("抽评编号", "item_no", "text", 9), Col("类型", "kind", "text", 6), Col("单位编码", "dept_code", "text", 12),
    Col("单位名称", "dept_name", "wrap", 22), Col("项目编码", "project_code", "text", 18), Col("项目名称", "project_name", "wrap", 26),
    Col("抽取原因", "reasons", "wrap", 26), Col("全年预算数", "budget", "money", 12), Col("全年执行数", "spent", "money", 12),
    Col("执行率", "exec_rate", "rate", 9), Col("指标数", "n_indicators", "int", 7), Col("自评得分", "self_score", "score", 9),
    Col("复核得分", "total", "score", 9), Col("提交文件", "source", "text", 28),
]
# 其余指标核实无误 (是/否): 是 completes the object with the indicators not filled in as they are;
# nobody types the department's values again for hundreds of unchanged indicators.
REST_OK, REST_OK_WORDS = "rest_ok", ("是", "否")
ITEM_FILL = [Col("其余指标核实无误", REST_OK, "text", 10), Col("复核人", "reviewer_name", "text", 10),
             Col("复核日期", "review_date", "date", 12), Col("综合意见", "comment", "wrap", 32)]
MARK_FIXED = [
    Col("抽评编号", "item_no", "text", 9), Col("指标序号", "seq", "int", 7), Col("单位编码", "dept_code", "text", 12),
    Col("项目编码", "project_code", "text", 18), Col("一级指标", "l1", "text", 10), Col("二级指标", "l2", "text", 12),
    Col("三级指标", "l3", "wrap", 24), Col("分值", "weight", "score", 7), Col("指标值", "target", "text", 14),
    Col("实际值（填报）", "actual", "text", 14), Col("自评得分", "self_score", "score", 9), Col("复核得分", "score", "score", 9),
    Col("复核说明", "explain", "wrap", 36),
]
MARK_FILL = [Col("抽评核实完成值", "verified", "text", 16), Col("抽评得分", "review_score", "score", 10),
             Col("抽评意见", "comment", "wrap", 32)]
MARK_COLUMNS = MARK_FIXED + MARK_FILL
# Which item and indicator a row is: a row whose key is not in the draw is unknown, not changed.
ITEM_KEY, MARK_KEY = ("item_no",), ("item_no", "seq")
RUBRIC_PREFIX = "rubric_"


def rubric_columns(rubric: Sequence[tuple[str, float]]) -> list[Col]:
    """One fill-in column per rubric item, its maximum in the header."""
    return [Col(f"{name}（{top:g}分）", f"{RUBRIC_PREFIX}{i}", "score", 11) for i, (name, top) in enumerate(rubric)]


def item_columns(rubric: Sequence[tuple[str, float]]) -> list[Col]:
    return ITEM_FIXED + rubric_columns(rubric) + ITEM_FILL


def fills(cols: Sequence[Col]) -> list[Col]:
    """The columns a reviewer fills in (unlocked); the rest is locked and checked on reading."""
    fill = {c.source for c in ITEM_FILL + MARK_FILL}
    return [c for c in cols if c.source in fill or c.source.startswith(RUBRIC_PREFIX)]

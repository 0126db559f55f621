"""The columns of the consolidated workbook's sheets, as data: header, source column, kind.

The workbook, the feedback files, the Parquet export and the batch (which keeps only the
columns these use) all read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..judge.scoring import RATE_COLUMNS


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
    Col("抽评得分", "review_total", "score", 10), Col("最终得分", "final_total", "score", 10), Col("评价等级", "grade", "text", 9),
    Col("预算数（万元）", "dept_budget", "money", 13), Col("执行数（万元）", "dept_spent", "money", 13),
    *[Col(m, RATE_COLUMNS[m], "rate", 12) for m in RATE_COLUMNS],
    Col("项目数", "project_count", "int", 8), Col("项目平均得分", "project_avg", "score", 12),
    # 抽评 of the unit's projects (review/apply.py): how many were reviewed, their mean 抽评得分 − 复核得分.
    Col("抽评项目数", "reviewed_projects", "int", 9), Col("项目抽评平均变化", "review_change", "score", 12),
    Col("错误数", "errors", "int", 8), Col("警告数", "warnings", "int", 8), Col("主要扣分项", "top_deductions", "wrap", 50),
    Col("表式", "layout", "text", 22), Col("文件", "file", "text", 30),
]
# 报送情况: one row per roster unit (evalbatch/roster/status.py), then submissions on no roster line.
SUBMISSIONS = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 30), Col("单位类别", "dept_category", "text", 16),
    Col("主管部门", "parent_dept", "text", 20), Col("报送状态", "status", "text", 10), Col("最后提交时间", "last_time", "text", 19),
    Col("文件数", "files", "int", 7), Col("错误数", "errors", "int", 7), Col("警告数", "warnings", "int", 7),
    Col("最终得分", "final_total", "score", 9), Col("评价等级", "grade", "text", 9), Col("表式", "layout", "text", 22),
    Col("应报项目数", "expected_projects", "int", 9), Col("已报项目数", "project_count", "int", 9), Col("联系人", "contact", "text", 10),
    Col("截止日期", "deadline", "text", 11), Col("说明", "note", "wrap", 30), Col("文件", "file", "text", 30),
]
INDICATORS = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24), Col("项目编码", "project_code", "text", 16),
    Col("一级指标", "l1", "text", 12), Col("二级指标", "l2", "text", 14), Col("三级指标", "l3", "text", 28),
    Col("计分方法", "method_used", "text", 12), Col("分值", "weight", "score", 8), Col("指标值", "target", "text", 14),
    Col("实际值", "actual", "text", 14), Col("完成率", "rate", "rate", 10), Col("自评得分", "self_score", "score", 10),
    Col("复核得分", "score", "score", 10), Col("扣分", "deduction", "score", 8), Col("得分差异", "diff", "score", 10),
    Col("复核说明", "explain", "wrap", 44), Col("抽评核实完成值", "verified", "text", 14), Col("抽评得分", "review_score", "score", 10),
    Col("最终得分", "final_score", "score", 10), Col("抽评意见", "review_comment", "wrap", 30),
    Col("工作表", "sheet", "text", 10), Col("行号", "row", "int", 6),
]
# 读取位置 (feedback of an official form): which cell became which field (write/places.py).
PLACES = [
    Col("工作表", "sheet", "text", 16), Col("单元格", "cell", "text", 8), Col("读作", "field", "text", 16),
    Col("读到的值", "value", "wrap", 36), Col("所属", "owner", "wrap", 36),
]
PROJECTS = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24), Col("项目编码", "project_code", "text", 16),
    Col("项目名称", "project_name", "wrap", 36), Col("全年预算数", "budget", "money", 12), Col("全年执行数", "spent", "money", 12),
    Col("执行率", "exec_rate", "rate", 10), Col("执行率得分", "exec_score", "score", 10), Col("指标得分", "ind_score", "score", 10),
    Col("复核得分", "total", "score", 10), Col("自评得分", "self_score", "score", 10), Col("得分差异", "diff", "score", 10),
    Col("抽评得分", "review_total", "score", 10), Col("最终得分", "final_total", "score", 10),
    Col("评价等级", "grade", "text", 9), Col("排名", "rank", "int", 6), Col("部门内排名", "dept_rank", "int", 8),
    # After the figures, not among the frozen identity columns: what an analyst filters on.
    Col("单位类别", "dept_category", "text", 14), Col("绩效与执行", "mismatch", "text", 10), Col("原因说明", "reason", "wrap", 36),
]
# 抽评结果: every drawn item of the draws in play, reviewed or not (review/apply.py).
REVIEW_RESULTS = [
    Col("抽取编号", "draw_id", "int", 8), Col("抽评编号", "item_no", "text", 9), Col("类型", "kind", "text", 6),
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24), Col("项目编码", "project_code", "text", 16),
    Col("项目名称", "project_name", "wrap", 30), Col("抽取原因", "reasons", "wrap", 28), Col("复核组", "reviewer", "text", 8),
    Col("复核人", "reviewer_name", "text", 10), Col("复核日期", "review_date", "text", 11), Col("抽评表", "review_file", "text", 26),
    Col("自评得分", "self_score", "score", 9), Col("复核得分", "total", "score", 9), Col("抽评得分", "review_total", "score", 9),
    Col("最终得分", "final_total", "score", 9), Col("偏差（自评−抽评）", "self_minus_review", "score", 10),
    Col("已抽评指标", "marked", "text", 10), Col("质量得分", "quality_score", "score", 9), Col("质量等级", "quality_grade", "text", 8),
    Col("是否完成", "complete", "text", 8), Col("综合意见", "comment", "wrap", 36), Col("说明", "note", "wrap", 50),
]
# 同比: history.year_over_year's frame (its Chinese headers) under the sources the writer maps them to.
YEAR_OVER_YEAR = [
    Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 30), Col("单位类别", "dept_category", "text", 14),
    Col("上年最终得分", "last_total", "score", 12), Col("本年最终得分", "this_total", "score", 12), Col("得分变化", "change", "score", 10),
    Col("上年等级", "last_grade", "text", 9), Col("本年等级", "this_grade", "text", 9), Col("上年排名", "last_rank", "int", 9),
    Col("本年排名", "this_rank", "int", 9), Col("排名变化", "rank_change", "int", 9), Col("同比情况", "yoy_kind", "text", 11),
]
FINDINGS = [
    Col("文件", "file", "text", 30), Col("单位编码", "dept_code", "text", 12), Col("单位名称", "dept_name", "text", 24),
    Col("工作表", "sheet", "text", 12), Col("单元格", "cell", "text", 10), Col("级别", "level", "text", 7),
    Col("规则", "rule", "text", 18), Col("说明", "message", "wrap", 80), Col("规则编号", "rule_id", "text", 22),
]
RECORDS = [
    Col("文件", "name", "text", 40), Col("大小（字节）", "size", "int", 12), Col("修改时间", "modified", "text", 20),
    Col("SHA-256", "sha256", "text", 66), Col("单位编码", "dept_code", "text", 12), Col("处理结果", "status", "text", 12),
    Col("格式", "layout", "text", 30),
]

# Indicator columns the outputs use (workbook, feedback, statistics, Parquet); the rest of a
# million-row frame is dropped once checks and reviews are done (BatchResult.trim).
KEPT_INDICATOR_COLUMNS = {c.source for c in INDICATORS} | {"file", "dept_category"}

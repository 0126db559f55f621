"""Never grade what was not read: 未能复核 / 不计分 reach every output; twin submissions are
one project; a printed execution weight beyond the rules is an 错误; `check --explain`.

Forms are the national Form A of tests/test_official.py with one thing taken away.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from openpyxl import load_workbook
from test_official import form_a, form_b
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths
from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.samples.official import Grid, write_spreadsheetml, write_xlsx

RULES = load_rules()
NO_FUNDS = "未能复核（资金块未读取或金额空白，预算执行率无法计算）"


def without_funds() -> Grid:
    """Form A with its funds block (rows 5–9) gone: indicators only."""
    g = form_a()
    rows = g.rows[:4] + g.rows[9:]
    merges = [(a - 5 if a >= 9 else a, b, c - 5 if c >= 9 else c, e) for a, b, c, e in g.merges if not 4 <= a <= 8]
    return Grid(rows, merges)


def blank_amounts() -> Grid:
    """Form A whose funds rows print no amounts at all."""
    g = form_a(total=(None, None, None), source=(None, None, None))
    return g


def without_points() -> Grid:
    """Form A with its 分值 column emptied (header and values): a 目标自评表."""
    g = form_a()
    for r in range(11, 19):
        g.rows[r][6] = None
    return g


def targets_and_points_only() -> Grid:
    """Form A without its 实际完成值 and 得分 columns (header and values, the 总分 row's score too):
    a table of targets and points, as 宁晋县's 2019 绩效评价指标表 prints it."""
    g = form_a()
    for r in range(11, 20):
        g.rows[r][5] = g.rows[r][7] = None
    return g


def _project(r):
    return r.projects.iloc[0]


@pytest.mark.parametrize(("make", "cell"), [(without_funds, "B3"), (blank_amounts, "E6")], ids=["no_funds_block", "blank_amounts"])
def test_a_form_whose_funds_were_not_read_gets_no_total_and_no_grade(tmp_path, make, cell):
    """The finding names the blank 全年执行数 where the form has one, the project otherwise."""
    r = check_paths([write_xlsx({"表": make()}, tmp_path / "a.xlsx")], RULES)
    p = _project(r)
    assert p["read_status"] == "未能复核" and p["grade"] == NO_FUNDS
    assert math.isnan(p["total"]) and pd.isna(p["rank"]) and math.isnan(p["exec_score"])  # 无法计算, never 0
    f = r.findings[r.findings["rule_id"] == "result.unreviewed"]
    assert f[["level", "sheet", "cell"]].values.tolist() == [["警告", "表", cell]]
    assert f["message"].iloc[0].startswith("项目“农村人居环境整治”未能复核：资金块未读取或金额空白，预算执行率无法计算；不计算总分")


def test_a_form_without_points_is_read_and_marked_unscored(tmp_path):
    r = check_paths([write_xlsx({"表": without_points()}, tmp_path / "a.xlsx")], RULES)
    p = _project(r)
    assert (p["read_status"], p["grade"]) == ("不计分", "不计分（表中绩效指标没有分值，只记录目标与完成情况）")
    assert math.isnan(p["total"]) and pd.isna(p["rank"])
    ind = r.indicators.set_index("l3")
    assert ind.loc["整治自然村数量", ["target", "actual"]].tolist() == ["≥50个", "48个"]  # read all the same
    assert len(ind) == 5 and ind["weight"].isna().all()
    assert r.findings.loc[r.findings["rule_id"] == "result.unscored", "level"].tolist() == ["提示"]
    # said once, as 不计分: no "分值合计为 0" or "一级指标注明 50 分…合计为 0" beside it
    assert not r.findings["rule_id"].str.startswith("weight.").any()


def test_targets_and_points_without_any_completion_are_not_graded(tmp_path):
    """Nothing to recompute: not 差 from the execution's points alone, and the 总分 row's 100 under
    分值 is not the self total."""
    r = check_paths([write_xlsx({"表": targets_and_points_only()}, tmp_path / "a.xlsx")], RULES)
    p = _project(r)
    assert (p["read_status"], p["grade"]) == ("未能复核", "未能复核（绩效指标既没有实际完成值也没有自评得分，无法复核）")
    assert math.isnan(p["total"]) and pd.isna(p["rank"]) and math.isnan(p["self_score"])
    assert (p["exec_score"], len(r.indicators)) == (8.0, 5)  # the execution and the targets are read all the same
    f = r.findings[r.findings["rule_id"] == "result.unreviewed"]
    assert f[["level", "sheet", "cell"]].values.tolist() == [["警告", "表", "B3"]]


def test_not_graded_reaches_the_workbook_parquet_and_check_json(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_xlsx({"表": without_funds()}, src / "219001_棠溪镇.xlsx")
    out = tmp_path / "out"
    run(src, out, 2022, RULES, settle=0, parquet=True)
    book = next(out.glob("*.xlsx"))
    ws = load_workbook(book, read_only=True)["项目汇总"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = rows[0]
    row = next(r for r in rows[1:] if r[head.index("项目名称")] == "农村人居环境整治")
    assert row[head.index("评价等级")] == NO_FUNDS
    assert row[head.index("复核得分")] in (None, "") and row[head.index("排名")] in (None, "")
    pq = pd.read_parquet(out / "parquet" / "项目汇总.parquet")
    assert pq["评价等级"].tolist() == [NO_FUNDS] and pq["复核得分"].isna().all()
    res = CliRunner().invoke(app, ["check", str(src / "219001_棠溪镇.xlsx"), "--json"])
    data = json.loads(res.stdout)
    assert [(p["grade"], p["total"]) for p in data["projects"]] == [(NO_FUNDS, None)]
    res = CliRunner().invoke(app, ["check", str(src / "219001_棠溪镇.xlsx")])
    line = next(x for x in res.stdout.splitlines() if "农村人居环境整治" in x)
    assert "复核得分 —" in line and f"等级 {NO_FUNDS}" in line and "nan" not in res.stdout.lower()


def test_a_project_sent_twice_is_one_project_with_one_set_of_funds(tmp_path):
    """The .xlsx and the budget system's SpreadsheetML export of the same form: 120 / 96, not 240 / 192."""
    a = write_xlsx({"表": form_a()}, tmp_path / "棠溪镇.xlsx")
    b = write_spreadsheetml({"表": form_a()}, tmp_path / "棠溪镇_导出.xls")
    r = check_paths([a, b], RULES)
    assert len(r.projects) == 1
    p = _project(r)
    assert (p["budget"], p["spent"], p["exec_rate"], p["total"]) == (120, 96, 0.8, 96.64)
    assert len(r.indicators) == 5
    twin = r.findings[r.findings["rule_id"] == "project.twin"]
    assert twin[["file", "level"]].values.tolist() == [["棠溪镇_导出.xls", "提示"]]
    assert r.findings[r.findings["rule_id"] == "project.duplicate"].empty


def test_execution_points_beyond_the_rules_are_an_error_and_the_rules_weight_is_used(tmp_path):
    r = check_paths([write_xlsx({"表": form_a(exec_points=100)}, tmp_path / "a.xlsx")], RULES)
    f = r.findings[r.findings["rule_id"] == "form.exec_weight"]
    assert f[["level", "sheet", "cell"]].values.tolist() == [["错误", "表", "F6"]]
    assert "“100”" in f["message"].iloc[0] and "已按 10 分计" in f["message"].iloc[0]
    assert (_project(r)["exec_weight_used"], _project(r)["exec_score"]) == (10, 8.0)


def test_check_explain_names_the_cell_of_every_field(tmp_path):
    path = write_xlsx({"表": form_a()}, tmp_path / "a.xlsx")
    res = CliRunner().invoke(app, ["check", str(path), "--explain"])
    out = res.stdout
    assert "「表」F2 → 单位名称 = 池州市贵池区棠溪镇人民政府" not in out  # the unit is 实施单位's value, F4
    assert "「表」F4 → 单位名称 = 池州市贵池区棠溪镇人民政府" in out
    assert "D6 全年预算数=120" in out and "E6 全年执行数=96" in out and "F6 执行率分值=10" in out
    assert "D13 三级指标=整治自然村数量" in out and "G13 分值=20" in out and "E13 指标值=≥50个" in out


def _dept_form(rows_out: range, extra: list | None = None) -> Grid:
    g = form_b()
    rows = [r for i, r in enumerate(g.rows) if i not in rows_out]
    if extra:
        rows.insert(len(rows) - 1, extra)
    return Grid(rows, [(0, 0, 0, 8), (1, 1, 1, 8)])


def test_a_department_form_without_funds_is_unreviewed(tmp_path):
    """Form B with its task block (rows 3–6) gone: no 金额合计, no execution, no total."""
    r = check_paths([write_xlsx({"部门整体": _dept_form(range(2, 6))}, tmp_path / "b.xlsx")], RULES)
    d = r.depts.iloc[0]
    assert (d["read_status"], d["grade"]) == ("未能复核", NO_FUNDS)
    assert math.isnan(d["total"]) and pd.isna(d["rank"])
    f = r.findings[r.findings["rule_id"] == "result.unreviewed"]
    assert f["message"].tolist() == ["部门整体自评未能复核：资金块未读取或金额空白，预算执行率无法计算；不计算总分、不评等级、不参与排名。"
                                     "请补全后重新提交；如表中写法不同，请在规则 [forms] 中加上该写法"]


def test_execution_printed_as_an_indicator_row_is_the_departments_execution(tmp_path):
    """The same form with 预算执行率 as an indicator (10 points, ≥90%, 95%): read and graded,
    30 + 30 + 30 + 10 = 100."""
    row = ["产出指标", "预算执行", "预算执行率", 10, "≥90%", "95%", 10, None, None]
    r = check_paths([write_xlsx({"部门整体": _dept_form(range(2, 6), row)}, tmp_path / "b.xlsx")], RULES)
    d = r.depts.iloc[0]
    assert (d["read_status"], d["total"], d["grade"], d["rank"]) == ("", 100.0, "优", 1)


def test_feedback_of_an_unreviewed_department_says_why_and_never_scores_0(tmp_path):
    """Form B whose 金额合计 prints the budget but not the executed amount: the feedback says
    未排名（未能复核） with the reason (not “存在错误”: there is none), and the execution row is
    无法计算 with no 复核得分, never 0."""
    from evalbatch.write.feedback import write_feedback

    g = form_b()
    g.rows[5][4] = None  # 金额合计's 全年执行数
    r = check_paths([write_xlsx({"部门整体": g}, tmp_path / "b.xlsx")], RULES)
    [path] = write_feedback(r, tmp_path / "out", RULES)
    book = load_workbook(path)
    summary = {row[0]: row[1] for row in book["评价结果"].iter_rows(min_row=2, values_only=True) if row[0]}
    assert (summary["排名"], summary["类别排名"], summary["复核得分"]) == ("未排名（未能复核）", "未排名（未能复核）", None)
    lines = [row[1] for row in book["评价结果"].iter_rows(min_row=2, values_only=True)]
    assert "本单位的自评未能复核：资金块未读取或金额空白，预算执行率无法计算；不计算总分、不评等级、不参与排名。请按“审核问题”工作表的说明补全后重新提交。" \
           "“读取位置”工作表列出了表中每一项是从哪个单元格读到的。" in lines
    assert not any("存在错误" in str(v) for v in lines)
    ind = [row for row in book["指标复核"].iter_rows(values_only=True)]
    head, rate = ind[0], next(row for row in ind if row[3] == "预算执行率")
    assert (rate[head.index("复核得分")], rate[head.index("复核说明")]) == (None, "金额空白，预算执行率无法计算，不计分")


def nameless(total) -> Grid:
    g = form_a(total=total, source=total)
    g.rows[2][1] = None  # 项目名称 left blank, no code before it
    return g


def test_two_nameless_project_forms_stay_two_projects(tmp_path):
    """Neither form names its project: each is its own project (code from its place in the file),
    its funds and indicators its own, never one project of two."""
    r = check_paths([write_xlsx({"表一": nameless((100, 120, 96)), "表二": nameless((50, 60, 30))}, tmp_path / "a.xlsx")], RULES)
    p = r.projects.sort_values("budget")
    assert p["budget"].tolist() == [60, 120] and p["spent"].tolist() == [30, 96]
    assert p["project_code"].nunique() == 2 and all(c.startswith("219001-P") for c in p["project_code"])
    assert r.indicators.groupby("project_code").size().tolist() == [5, 5]
    assert "project.duplicate" not in set(r.findings["rule_id"])
    derived = r.findings[r.findings["rule_id"] == "project.code_derived"]
    assert derived["sheet"].tolist() == ["表一", "表二"]
    assert derived["message"].str.contains("没有项目编码和项目名称，已按单位编码与表格位置生成").all()

"""Official forms (项目支出绩效自评表, 部门整体支出绩效自评表) through the whole pipeline.

The forms here are laid out by hand, cell by cell, as docs/official-forms.md describes
them (merged 一级/二级 cells, wrapped headers, `≥50个`, `≥100百分比`, `达成预期指标`, a
placeholder row), then written as a person or a budget system would: xlsx by openpyxl,
SpreadsheetML and HTML under a .xls name, and LibreOffice's .xls and .ods. Every expected
figure is worked out in the comments.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import faults
import openpyxl
import pandas as pd
import pytest
from builders import reference, write

from evalbatch.judge.evaluate import check_paths, evaluate
from evalbatch.read.discover import discover
from evalbatch.rules import load_rules
from evalbatch.samples.official import Grid, write_html, write_spreadsheetml, write_xlsx

RULES = load_rules()
M = "项目资金（万元）"
DEPT = "219001-池州市贵池区棠溪镇人民政府"


def form_a(total=(100, 120, 96), source=(100, 120, 96), exec_points=10, self_total=97, unit_note=None, code=True) -> Grid:
    """Form A, national layout, nine columns A–I. Execution 96 / 120 = 80 % → 8.00 of 10."""
    t0, t1, t2 = total
    rows = [
        ["项目支出绩效自评表"] + [None] * 8,
        ["（2022年度）"] + [None] * 8,
        ["项目名称", ("34170222R000000001137-" if code else "") + "农村人居环境整治"] + [None] * 7,
        ["主管部门", "219-池州市贵池区棠溪镇人民政府", None, None, "实施单位", DEPT, None, None, None],
        [M if unit_note is None else unit_note, None, "年初\n预算数", "全年\n预算数", "全年\n执行数", "分值", "执行率", "得分", None],
        [None, "年度资金总额", t0, t1, t2, exec_points, 0.8, 8, None],
        [None, "其中：当年财政拨款", *source, "—", None, "—", None],
        [None, "上年结转资金", 0, 0, 0, "—", None, "—", None],
        [None, "其他资金", None, None, None, "—", None, "—", None],
        ["年度总体目标", "预期目标", None, None, None, "实际完成情况", None, None, None],
        [None, "完成50个自然村整治", None, None, None, "完成48个", None, None, None],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "年度\n指标值", "实际\n完成值", "分值", "得分", "偏差原因分析及改进措施"],
        # 48 / 50 = 96 % → 19.20 of 20 (self 20: full marks below target, no reason given)
        [None, "产出指标(50分)", "数量指标", "整治自然村数量", "≥50个", "48个", 20, 20, None],
        [None, None, None, "指标2", None, None, None, None, None],  # a leftover placeholder
        # ≥100百分比 is 100 %: 100 % → 20
        [None, None, "质量指标", "验收合格率", "≥100百分比", "100%", 20, 20, None],
        [None, None, "时效指标", "完成及时性", "按时完成", "达成预期指标", 10, 10, None],
        [None, "效益指标(30分)", "社会效益指标", "人居环境改善", "明显改善", "达成预期指标", 30, 30, None],
        [None, None, "经济效益指标", None, None, None, None, None, None],  # 二级 without 三级: a placeholder
        # 85 / 90 = 94.44 % → 9.44 of 10
        [None, "满意度指标(10分)", "服务对象满意度指标", "群众满意度", "≥90%", "85%", 10, 9, "个别群众对进度不满意"],
        ["总分", None, None, None, None, None, 100, self_total, None],
        ["填表人：张敏", None, None, None, "联系电话：0566-2620118", None, None, None, None],
    ]
    merges = [(0, 0, 0, 8), (1, 0, 1, 8), (2, 1, 2, 8), (3, 1, 3, 3), (3, 5, 3, 8), (4, 0, 8, 0), (9, 0, 10, 0),
              (9, 1, 9, 4), (9, 5, 9, 8), (10, 1, 10, 4), (10, 5, 10, 8), (11, 0, 18, 0), (12, 1, 15, 1), (12, 2, 13, 2),
              (16, 1, 17, 1), (19, 0, 19, 5)]
    return Grid(rows, merges, {(5, 6)})


def form_b(self_total=99) -> Grid:
    """Form B: tasks closed by 金额合计 (450 / 500 = 90 % → 9.00 of 10), then indicators with
    分值 BEFORE 指标值 and 全年实际值 / 评价得分说明. Indicators all met: 90. Total 99.00."""
    rows = [
        ["2022年度部门整体支出绩效自评表"] + [None] * 8,
        ["部门（单位）名称", DEPT] + [None] * 7,
        ["年度主要任务完成情况", "任务名称", "完成情况", "全年预算数", "全年执行数", "分值", "执行率", "得分", None],
        [None, "基层治理", "已完成", 300, 270, None, None, None, None],
        [None, "乡村振兴", "已完成", 200, 180, None, None, None, None],
        [None, "金额合计", None, 500, 450, 10, "90%", 9, None],
        ["年初设定目标", "完成年度基层治理任务", None, None, None, "年度总体目标完成情况综述", "已完成", None, None],
        ["一级指标", "二级指标", "三级指标", "分值", "年度指标值", "全年实际值", "得分", "评价得分说明", None],
        ["产出指标", "数量指标", "培训场次", 30, "≥10场", "12场", 30, None, None],
        ["效益指标", "社会效益指标", "群众满意度", 30, "≥90%", "92%", 30, None, None],
        ["管理指标", "预算管理", "三公经费控制率", 30, "≤100%", "96%", 30, None, None],
        ["总分", None, None, 100, None, None, self_total, None, None],
    ]
    return Grid(rows, [(0, 0, 0, 8), (1, 1, 1, 8), (2, 0, 5, 0)])


def _run(paths, year=2022, rules=RULES):
    return check_paths(paths, rules, year=year)


def _found(r, rule_id):
    f = r.findings[r.findings["rule_id"] == rule_id]
    return list(zip(f["level"], f["sheet"], f["cell"]))


def _scores(r):
    ind = r.indicators.sort_values(["project_code", "row"])
    return dict(zip(ind["l3"], ind["score"]))


# --- Form A -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def form_a_xlsx(tmp_path_factory) -> Path:
    return write_xlsx({"项目支出绩效自评表": form_a()}, tmp_path_factory.mktemp("a") / "棠溪镇.xlsx")


def test_form_a_recomputes_execution_and_every_indicator(form_a_xlsx):
    r = _run([form_a_xlsx])
    p = r.projects.iloc[0]
    assert (p["project_code"], p["project_name"]) == ("34170222R000000001137", "农村人居环境整治")
    assert (p["budget"], p["spent"], p["exec_rate"], p["exec_score"]) == (120, 96, 0.8, 8.0)
    assert _scores(r) == {"整治自然村数量": 19.2, "验收合格率": 20, "完成及时性": 10, "人居环境改善": 30, "群众满意度": 9.44}
    assert (p["ind_score"], p["total"], p["self_score"], p["diff"], p["grade"]) == (88.64, 96.64, 97, 0.36, "优")
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["dept_name"], d["year"], d["layout"]) == ("219001", "池州市贵池区棠溪镇人民政府", 2022, "项目支出绩效自评表")
    assert r.records[0].layout == "项目支出绩效自评表"


def test_form_a_findings_name_file_sheet_and_cell(form_a_xlsx):
    r = _run([form_a_xlsx])
    assert not (r.findings["level"] == "错误").any()
    assert _found(r, "form.placeholder") == [("提示", "项目支出绩效自评表", "D14"), ("提示", "项目支出绩效自评表", "D18")]
    # 群众满意度: self 9, recomputed 9.44 (the reason is given, so only the difference is reported)
    # H13's difference is said in its full-marks-below-target row (one row per cell, issue 20 point 6).
    assert _found(r, "score.diff") == [("警告", "项目支出绩效自评表", "H19")]
    assert _found(r, "score.full_below_target") == [("警告", "项目支出绩效自评表", "H13")]
    assert _found(r, "score.reason_missing") == [("警告", "项目支出绩效自评表", "I13")]
    assert _found(r, "score.total_diff") == [("警告", "项目支出绩效自评表", "H20")]
    assert _found(r, "weight.l1_declared") == []  # 50 = 20 + 20 + 10, 30, 10
    assert set(r.findings["file"]) == {"棠溪镇.xlsx"}
    # No 计分方法 column on the form: inferring the method is the rule, not a slip to report.
    assert _found(r, "score.method_inferred") == []


def test_a_note_merged_across_the_indicator_table_is_not_an_indicator(tmp_path):
    """说明 | 无 merged from the 一级 column across the target and the actual (衡山县's form closes
    so): a note, not a 三级 indicator named by the note with the note as target and actual. A
    三级 name merged down two rows is still its indicator."""
    g = form_a()
    g.rows.insert(19, ["说明", "本表数据以决算为准"] + [None] * 7)
    g.merges[:] = [(r0 + (r0 >= 19), c0, r1 + (r1 >= 19), c1) for r0, c0, r1, c1 in g.merges] + [(19, 1, 19, 5)]
    g.rows[13][3] = None  # 指标2's row: now covered by 整治自然村数量 merged down over it
    g.merges.append((12, 3, 13, 3))
    r = _run([write_xlsx({"表": g}, tmp_path / "note.xlsx")])
    scored = r.indicators.dropna(subset=["score"]).sort_values("row")
    assert list(zip(scored["l3"], scored["score"])) == [("整治自然村数量", 19.2), ("验收合格率", 20), ("完成及时性", 10),
                                                        ("人居环境改善", 30), ("群众满意度", 9.44)]
    assert "本表数据以决算为准" not in set(r.indicators["l3"])
    assert r.projects.iloc[0]["total"] == 96.64


@pytest.mark.parametrize("writer, name", [(write_xlsx, "m.xlsx"), (write_spreadsheetml, "m.xls"), (write_html, "m.xls")])
def test_a_name_merged_down_over_an_empty_row_is_one_indicator_without_findings_on_that_row(tmp_path, writer, name):
    """整治自然村数量 merged down over the next row, which holds nothing of its own (a wrapped
    name, a spacer): one indicator, not a second one with the same name whose blank 分值 and
    得分 would be 错误s the department never made."""
    g = form_a()
    g.rows[13][3] = None
    g.merges.append((12, 3, 13, 3))
    r = _run([writer({"表": g}, tmp_path / name)])
    assert list(r.indicators.sort_values("row")["row"]) == [13, 15, 16, 17, 19]
    assert not r.findings["cell"].str.endswith("14").any()
    assert _found(r, "value.required") == []
    assert r.projects.iloc[0]["total"] == 96.64


def test_a_name_merged_down_over_a_row_with_its_own_values_keeps_them(tmp_path):
    """The same merge over a row that prints a second target and actual of its own: those
    values are read (as a row of the indicator's name), never dropped."""
    g = form_a()
    g.rows[13][3:8] = [None, "≥10个", "10个", 5, 5]
    g.merges.append((12, 3, 13, 3))
    r = _run([write_xlsx({"表": g}, tmp_path / "merged.xlsx")])
    second = r.indicators[r.indicators["row"] == 14].iloc[0]
    assert (second["l3"], second["target"], second["actual"], second["weight"], second["score"]) == ("整治自然村数量", "≥10个", "10个", 5, 5)


_NOTES = Grid([["项目支出绩效自评表填表说明"], ["1. 本表由项目实施单位填写，金额单位为万元。"], ["2. 三级指标应与绩效目标申报表一致。"],
               ["池州市贵池区棠溪镇人民政府2022年度部门整体支出绩效自评表"], ["见附件2"]])


def test_a_sheet_of_instructions_naming_the_forms_is_no_second_form(tmp_path):
    """A 填表说明 sheet before the form whose lines name 项目支出绩效自评表 and (with a unit and a
    year) 部门整体支出绩效自评表: two titles with nothing under them. The file reads exactly as
    the form alone; each bare title is one 提示, not an unread project with 错误s nor a second
    部门整体 form."""
    alone = _run([write_xlsx({"表": form_a()}, tmp_path / "alone.xlsx")])
    r = _run([write_xlsx({"填表说明": _NOTES, "表": form_a()}, tmp_path / "notes.xlsx")])
    assert r.projects.drop(columns="file").equals(alone.projects.drop(columns="file"))
    assert r.indicators.drop(columns="file").equals(alone.indicators.drop(columns="file"))
    assert _found(r, "form.title_only") == [("提示", "填表说明", "A1"), ("提示", "填表说明", "A4")]
    def where(f):
        return sorted(zip(f["rule_id"], f["sheet"], f["cell"]))
    assert where(r.findings[r.findings["rule_id"] != "form.title_only"]) == where(alone.findings)


def test_a_file_of_bare_titles_alone_is_still_reported_as_unread_forms(tmp_path):
    """With no form anywhere, a bare title is not dropped: the file says what it could not read."""
    r = _run([write_xlsx({"填表说明": _NOTES}, tmp_path / "notes.xlsx")])
    assert _found(r, "form.title_only") == []
    assert set(r.findings["rule_id"]) >= {"form.no_funds", "form.no_indicators", "result.unreviewed"}


def _old_copy() -> Grid:
    """Last year's copy of the same project, other amounts and scores: never to be added in."""
    g = form_a(total=(80, 80, 40), source=(80, 80, 40), self_total=70)
    g.rows[1][0] = "（2021年度）"
    return g


@pytest.mark.parametrize("hidden_first", [True, False])
def test_a_hidden_old_copy_of_the_project_is_not_read_nor_added_in(tmp_path, hidden_first):
    """A person copied the form's sheet, hid the copy and filled the original: the project is read
    once, from the visible sheet wherever the hidden one stands, its funds and indicators never
    summed with the copy's (that gave 180 points and 200 万元 of sources); one 警告 names the copy."""
    sheets = {"表 (2)": _old_copy(), "表": form_a()} if hidden_first else {"表": form_a(), "表 (2)": _old_copy()}
    path = write_xlsx(sheets, tmp_path / "hidden.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["表 (2)"].sheet_state = "hidden"
    wb.save(path)
    alone = _run([write_xlsx({"表": form_a()}, tmp_path / "alone.xlsx")])
    r = _run([path])
    assert r.projects.drop(columns="file").equals(alone.projects.drop(columns="file"))
    assert r.projects.iloc[0]["total"] == 96.64
    assert r.indicators.drop(columns="file").equals(alone.indicators.drop(columns="file"))
    assert _found(r, "form.same_project") == [("警告", "表 (2)", "B3")]
    assert "（隐藏的工作表）" in r.findings.loc[r.findings["rule_id"] == "form.same_project", "message"].iloc[0]
    rest = r.findings[r.findings["rule_id"] != "form.same_project"]
    assert sorted(zip(rest["rule_id"], rest["sheet"], rest["cell"])) == sorted(zip(alone.findings["rule_id"], alone.findings["sheet"], alone.findings["cell"]))


def test_two_visible_forms_of_one_project_keep_the_first(tmp_path):
    r = _run([write_xlsx({"表": form_a(), "表 (2)": _old_copy()}, tmp_path / "two.xlsx")])
    assert (r.projects.iloc[0]["budget"], r.projects.iloc[0]["total"]) == (120, 96.64) and len(r.projects) == 1
    assert _found(r, "form.same_project") == [("警告", "表 (2)", "B3")]
    assert _found(r, "project.duplicate") == [] and _found(r, "funds.mismatch") == []


def test_the_self_evaluation_wins_over_the_projects_targets_sheet_before_it(tmp_path):
    """A workbook holding the project's 绩效目标申报表 (targets only, no funds header, no points)
    before its 自评表: the 自评表 is the one read, wherever it stands; the other is one 警告."""
    decl = Grid([["项目支出绩效目标申报表"], ["（2022年度）"], ["项目名称", "34170222R000000001137-农村人居环境整治"],
                 ["主管部门", "219-池州市贵池区棠溪镇人民政府", None, "实施单位", DEPT],
                 ["绩效指标", "一级指标", "二级指标", "三级指标", "指标值"],
                 [None, "产出指标", "数量指标", "整治自然村数量", "≥50个"], [None, "满意度指标", "服务对象满意度指标", "群众满意度", "≥90%"]])
    alone = _run([write_xlsx({"表": form_a()}, tmp_path / "alone.xlsx")])
    r = _run([write_xlsx({"申报表": decl, "表": form_a()}, tmp_path / "both.xlsx")])
    assert r.projects.drop(columns="file").equals(alone.projects.drop(columns="file"))
    assert r.indicators.drop(columns="file").equals(alone.indicators.drop(columns="file"))
    assert _found(r, "form.same_project") == [("警告", "申报表", "B3")]
    assert (r.findings["sheet"] == "申报表").sum() == 1


def test_the_department_form_read_is_the_full_one_not_a_targets_sheet_before_it(tmp_path):
    decl = Grid([["部门整体支出绩效目标申报表"], ["部门（单位）名称", DEPT],
                 ["一级指标", "二级指标", "三级指标", "指标值"], ["产出指标", "数量指标", "服务群众人次", "≥5000人次"]])
    alone = _run([write_xlsx({"部门": form_b()}, tmp_path / "alone.xlsx")])
    r = _run([write_xlsx({"申报表": decl, "部门": form_b()}, tmp_path / "both.xlsx")])
    assert r.depts.drop(columns=["file", "warnings"]).equals(alone.depts.drop(columns=["file", "warnings"]))
    assert r.depts.iloc[0]["total"] == 99 and r.depts.iloc[0]["warnings"] == alone.depts.iloc[0]["warnings"] + 1
    assert r.indicators.drop(columns="file").equals(alone.indicators.drop(columns="file"))
    assert _found(r, "form.extra_dept") == [("警告", "申报表", "A1")] and (r.findings["sheet"] == "申报表").sum() == 1


@pytest.mark.parametrize("title", ["项目支出绩效自评表", None])
def test_a_fill_date_or_a_year_inside_the_project_name_is_not_the_forms_year(tmp_path, title):
    """No year in the title (or no title at all), then 填报日期：2023年3月20日 and a project named
    2021年中央…: neither is the evaluation year, so neither is a year 错误 against the run's 2022."""
    g = form_a()
    g.rows[0][0] = title
    g.rows[1][0] = "填报日期：2023年3月20日"
    g.rows[2][1] = "34170222R000000001137-2021年中央农村人居环境整治补助"
    r = _run([write_xlsx({"表": g}, tmp_path / "y.xlsx")])
    assert r.depts["year"].isna().all() and _found(r, "value.year") == []
    assert r.projects.iloc[0]["total"] == 96.64


@pytest.mark.parametrize("title, year", [("2021年项目支出绩效自评表", 2021), ("项目支出绩效自评表", 2020)])
def test_a_year_without_du_is_read_from_the_title_or_a_cell_of_its_own(tmp_path, title, year):
    g = form_a()
    g.rows[0][0] = title
    g.rows[1][0] = "（2020年）" if year == 2020 else None
    r = _run([write_xlsx({"表": g}, tmp_path / "y.xlsx")], year=year)
    assert r.depts["year"].tolist() == [year] and _found(r, "value.year") == []


def test_zero_total_row_is_computed_from_its_sources(tmp_path):
    """The published 池州 slip: 0 / 0 / 0 over 90 / 89.974 / 89.974 → 100.00 %, 10.00 points."""
    path = write_xlsx({"表": form_a(total=(0, 0, 0), source=(90, 89.974, 89.974))}, tmp_path / "池州.xlsx")
    r = _run([path])
    p = r.projects.iloc[0]
    assert (p["budget"], p["spent"], p["exec_rate"], p["exec_score"]) == (89.974, 89.974, 1.0, 10.0)
    assert _found(r, "funds.from_sources") == [("警告", "表", "C6:E6")]
    msg = r.findings.loc[r.findings["rule_id"] == "funds.from_sources", "message"].iloc[0]
    assert "0 / 0 / 0" in msg and "90 / 89.974 / 89.974" in msg
    assert _found(r, "funds.mismatch") == []


def test_total_that_differs_from_its_sources_is_a_warning(tmp_path):
    path = write_xlsx({"表": form_a(source=(100, 110, 96))}, tmp_path / "a.xlsx")
    r = _run([path])
    assert _found(r, "funds.mismatch") == [("警告", "表", "D6")]
    assert r.projects.iloc[0]["budget"] == 120  # the total row stands; the difference is reported


def test_twenty_point_execution_leaves_eighty_to_indicators(tmp_path):
    """湖北-style: 分值 20 on 年度资金总额. Execution 80 % → 16.00; indicators should add up to 80.
    Here they still carry 90: an 错误, and the indicators' 88.64 is capped at 80 (total 96.00,
    never 104.64)."""
    path = write_xlsx({"表": form_a(exec_points=20)}, tmp_path / "hubei.xlsx")
    r = _run([path])
    p = r.projects.iloc[0]
    assert (p["exec_score"], p["indicator_total"], p["ind_score"], p["total"]) == (16.0, 80.0, 80.0, 96.0)
    f = r.findings[r.findings["rule_id"] == "weight.over"]
    assert f[["level", "cell"]].values.tolist() == [["错误", "G13:G19"]]
    assert f["message"].tolist() == ["项目 34170222R000000001137的分值合计为 90（加上预算执行率的 20 分，共 110 分，超过满分 100 分），"
                                     "应为 80，超过满分，复核得分按满分封顶、不参与排名；请调整各指标分值"]


def test_money_in_yuan_is_converted_to_wan_exactly(tmp_path):
    path = write_xlsx({"表": form_a(total=(1_000_000.37, 1_200_000.55, 960_000.44), source=(1_000_000.37, 1_200_000.55, 960_000.44),
                                     unit_note="项目资金（元）")}, tmp_path / "hebei.xlsx")
    r = _run([path])
    p = r.projects.iloc[0]
    assert (p["initial_budget"], p["budget"], p["spent"]) == (100.000037, 120.000055, 96.000044)
    assert p["exec_rate"] == 0.8


def test_project_without_a_code_gets_a_stable_derived_one(tmp_path):
    a = write_xlsx({"表": form_a(code=False)}, tmp_path / "a.xlsx")
    b = write_xlsx({"另一个表名": form_a(code=False)}, tmp_path / "b.xlsx")
    codes = [_run([p]).projects.iloc[0]["project_code"] for p in (a, b)]
    assert codes[0] == codes[1] and codes[0].startswith("219001-P")
    assert _found(_run([a]), "project.code_derived") == [("提示", "表", "B3")]


# --- the same form, as every format a department or a budget system sends -----------------

FORMAT_COLUMNS = {
    "projects": ["project_code", "project_name", "budget", "spent", "exec_rate", "exec_score", "ind_score", "total", "self_score", "grade"],
    "indicators": ["project_code", "l1", "l2", "l3", "method_used", "weight", "target", "actual", "rate", "self_score", "score", "row"],
}


def _rows(r):
    return {name: getattr(r, name)[cols].sort_values(cols[:4]).reset_index(drop=True).astype(str).values.tolist()
            for name, cols in FORMAT_COLUMNS.items()}


@pytest.fixture(scope="module")
def every_format(tmp_path_factory, form_a_xlsx):
    d = tmp_path_factory.mktemp("formats")
    sheets = {"项目支出绩效自评表": form_a()}
    made = {
        "xlsx": form_a_xlsx,
        "spreadsheetml": write_spreadsheetml(sheets, d / "系统导出.xls"),
        "html": write_html(sheets, d / "网页导出.xls"),
        "html_gbk": write_html(sheets, d / "网页导出_gbk.xls", encoding="gbk"),
    }
    if faults.have_libreoffice():
        made["lo_xls"] = faults.via_libreoffice(form_a_xlsx, "xls", d)
        made["lo_ods"] = faults.via_libreoffice(form_a_xlsx, "ods", d)
    return made


@pytest.mark.parametrize("kind", ["spreadsheetml", "html", "html_gbk", "lo_xls", "lo_ods"])
def test_every_format_gives_identical_rows(every_format, kind):
    if kind not in every_format:
        pytest.skip("LibreOffice (soffice) is not installed: .ci/run installs libreoffice-calc-nogui")
    expected = _rows(_run([every_format["xlsx"]]))
    got = _run([every_format[kind]])
    assert not (got.findings["level"] == "错误").any(), got.findings[["rule_id", "message"]].values.tolist()
    assert _rows(got) == expected


# --- Form B ------------------------------------------------------------------------------


def test_form_b_with_points_before_targets(tmp_path):
    path = write_xlsx({"部门整体": form_b()}, tmp_path / "b.xlsx")
    r = _run([path])
    d = r.depts.iloc[0]
    assert (d["dept_code"], d["total"], d["self_total"], d["diff"], d["grade"], d["rank"]) == ("219001", 99.0, 99.0, 0.0, "优", 1)
    assert d["rate_0"] == 0.9  # 预算执行率 from 金额合计
    ind = r.indicators.set_index("l3")
    assert ind.loc["预算执行率", ["weight", "score", "self_score"]].tolist() == [10, 9.0, 9.0]
    assert ind.loc["培训场次", ["weight", "target", "actual", "score"]].tolist() == [30, "≥10场", "12场", 30.0]
    assert ind.loc["三公经费控制率", "method_used"] == "反向达标"
    assert r.findings[r.findings["level"] != "提示"].empty, r.findings[["rule_id", "message"]].values.tolist()


def test_project_forms_without_a_department_form_are_listed_not_ranked(tmp_path):
    r = _run([write_xlsx({"表": form_a()}, tmp_path / "a.xlsx")])
    d = r.depts.iloc[0]
    assert pd.isna(d["total"]) and pd.isna(d["rank"]) and d["grade"] == "未评级（仅项目自评）"
    assert r.projects.iloc[0][["rank", "dept_rank"]].tolist() == [1, 1]


# --- several forms: stacked, in sheets, in files ------------------------------------------


def _stacked(*grids: Grid, gap: int = 2) -> Grid:
    rows, merges, offset = [], [], 0
    for g in grids:
        rows += g.rows + [[None] * 9] * gap
        merges += [(a + offset, b, c + offset, e) for a, b, c, e in g.merges]
        offset = len(rows)
    return Grid(rows, merges)


def _renamed(g: Grid, code: str, name: str) -> Grid:
    rows = [list(r) for r in g.rows]
    rows[2][1] = f"{code}-{name}"
    return Grid(rows, g.merges)


def test_stacked_forms_on_one_sheet_are_one_record_each(tmp_path):
    sheet = _stacked(form_a(), _renamed(form_a(), "34170222R000000002001", "乡村道路养护"), form_b())
    r = _run([write_spreadsheetml({"导出": sheet}, tmp_path / "export.xls")])
    assert sorted(r.projects["project_code"]) == ["34170222R000000001137", "34170222R000000002001"]
    assert r.records[0].layout == "项目支出绩效自评表、部门整体支出绩效自评表"
    assert len(r.depts) == 1 and r.depts.iloc[0]["total"] == 99.0
    # Each form's cells are its own: the second form starts 23 rows below the first.
    assert sorted(r.projects["cell_self_score"]) == ["H20", "H43"]


def test_forms_in_separate_files_are_gathered_into_one_department(tmp_path):
    write_xlsx({"部门": form_b()}, tmp_path / "219001_部门整体.xlsx")
    write_xlsx({"项目1": form_a()}, tmp_path / "219001_项目1.xlsx")
    write_xlsx({"项目2": _renamed(form_a(self_total=90), "34170222R000000002001", "乡村道路养护")}, tmp_path / "219001_项目2.xlsx")
    found = discover(tmp_path)
    r = evaluate(found.files, RULES, year=2022)
    assert len(r.depts) == 1
    d = r.depts.iloc[0]
    assert (d["file"], d["project_count"], d["total"], d["rank"]) == ("219001_部门整体.xlsx", 2, 99.0, 1)
    assert sorted(rec.status for rec in r.records) == ["已采用"] * 3
    # A finding about a project still names the file and cell it came from, and counts for the department.
    diff = r.findings[r.findings["rule_id"] == "score.total_diff"]
    assert sorted(diff[["file", "dept_code", "cell"]].values.tolist()) == [["219001_项目1.xlsx", "219001", "H20"], ["219001_项目2.xlsx", "219001", "H20"]]
    assert d["warnings"] == int((r.findings["level"] == "警告").sum())


def test_a_second_department_form_supersedes_the_older(tmp_path):
    old, new = tmp_path / "old.xlsx", tmp_path / "new.xlsx"
    write_xlsx({"部门": form_b(self_total=95)}, old)
    write_xlsx({"部门": form_b()}, new)
    import os
    os.utime(old, (1_600_000_000, 1_600_000_000))
    r = evaluate(discover(tmp_path).files, RULES, year=2022)
    assert [rec.status for rec in sorted(r.records, key=lambda x: x.name)] == ["已采用", "被取代"]
    assert _found(r, "file.superseded") == [("警告", "部门", "B2")]


# --- mixed with format 1, and what is not a form -----------------------------------------------


def test_one_folder_of_format1_and_official_forms_gives_one_workbook(tmp_path):
    from evalbatch.write.report import write_workbook

    inbox = tmp_path / "in"
    inbox.mkdir()
    write(inbox, reference(), "620101.xlsx")
    write_xlsx({"部门": form_b()}, inbox / "219001_部门.xlsx")
    write_spreadsheetml({"项目": form_a()}, inbox / "219001_项目.xls")
    r = evaluate(discover(inbox).files, RULES, year=None)
    ref = r.depts.set_index("dept_code").loc["620101"]
    assert (ref["total"], ref["grade"], ref["rank"]) == (90.56, "优", 2)
    own = r.findings[r.findings["file"] == "620101.xlsx"]
    assert sorted(own["rule_id"]) == ["arith.rounding", "arith.rounding", "score.exec_mismatch"]
    assert r.depts.set_index("dept_code").loc["219001", "rank"] == 1
    path = write_workbook(r, tmp_path / "out.xlsx", rules=RULES)
    wb = openpyxl.load_workbook(path, read_only=True)
    info = {row[0]: row[1] for row in wb["运行信息"].iter_rows(values_only=True) if row and row[0]}
    assert (info["格式：模板格式1"], info["格式：项目支出绩效自评表"], info["格式：部门整体支出绩效自评表"]) == ("1 个文件", "1 个文件", "1 个文件")
    projects = list(wb["项目汇总"].iter_rows(values_only=True))
    assert len(projects) == 5  # header, the reference project, the official one; a blank row and 合计 (issue 14)
    assert projects[4][3:6] == ("合计：2 个项目", 440, 341.77)  # 320 + 120 万元 budget, 245.77 + 96 spent


def test_a_workbook_without_any_form_is_one_error_naming_the_forms(tmp_path):
    path = tmp_path / "随便.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.active.append(["姓名", "电话"])
    wb.active.append(["张三", "123"])
    wb.save(path)
    r = _run([path])
    assert r.findings[["level", "rule_id"]].values.tolist() == [["错误", "form.unknown"]]
    msg = r.findings["message"].iloc[0]
    assert "「Sheet1」" in msg and "项目支出绩效自评表" in msg and "部门整体支出绩效自评表" in msg and "基本信息" in msg


def test_a_bureau_adds_a_synonym_in_its_rules_file(tmp_path):
    g = form_a()
    g.rows[11][5] = "核验数"  # a province's own header, no core word of any field
    path = write_xlsx({"表": g}, tmp_path / "a.xlsx")
    assert _scores(_run([path]))["整治自然村数量"] != 19.2  # no actual column: kept self score
    rules_file = tmp_path / "rules.toml"
    words = RULES.data["forms"]["actual"] + ["核验数"]
    rules_file.write_text("[forms]\nactual = [" + ", ".join(f'"{w}"' for w in words) + "]\n", encoding="utf-8")
    assert _scores(_run([path], rules=load_rules(rules_file)))["整治自然村数量"] == 19.2


def test_rule_levels_come_from_the_rules_file(tmp_path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text('[levels]\n"funds.from_sources" = "提示"\n', encoding="utf-8")
    path = write_xlsx({"表": form_a(total=(0, 0, 0))}, tmp_path / "a.xlsx")
    assert _found(_run([path], rules=load_rules(rules_file)), "funds.from_sources") == [("提示", "表", "C6:E6")]
    rules_file.write_text('[levels]\n"no.such.rule" = "提示"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no.such.rule"):
        load_rules(rules_file)


def test_sample_official_forms_all_read_without_errors(tmp_path):
    from evalbatch.samples.official import write_official_samples

    paths = write_official_samples(tmp_path, 6, seed=3, year=2021)
    r = evaluate(discover(tmp_path).files, RULES, year=None)
    errors = r.findings[r.findings["level"] == "错误"]
    assert errors.empty, errors[["file", "rule_id", "message"]].values.tolist()
    assert {rec.status for rec in r.records} == {"已采用"} and len(r.records) == len(paths)
    assert set(r.depts["dept_code"]) == {"219001"} | {str(720000 + i) for i in range(6)}
    shutil.rmtree(tmp_path)


# --- whatever a sheet holds, locating never raises ---------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from evalbatch.formats.base import RawWorkbook  # noqa: E402
from evalbatch.judge.evaluate import process  # noqa: E402
from evalbatch.layouts import locate  # noqa: E402
from evalbatch.read.discover import FileRecord  # noqa: E402
from evalbatch.read.parse import parse_chunk  # noqa: E402

_WORDS = ["项目支出绩效自评表", "部门整体支出绩效自评表", "项目名称", "实施单位", "主管部门", "部门（单位）名称", "年度资金总额",
          "金额合计", "其中：本年财政拨款", "全年预算数", "全年执行数", "分值", "执行率", "得分", "一级指标", "二级指标", "三级指标",
          "年度指标值", "指标性质", "指标值", "度量单位", "实际完成值", "总分", "合计", "填表人", "指标2", "……", "219001-单位",
          "≥50个", "达成预期指标", "（元）", "—", "产出指标(50分)", "2022年度"]
_CELL = st.one_of(st.none(), st.sampled_from(_WORDS), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                  st.text(max_size=8), st.booleans())


# Each example runs the whole check-and-score stage (a few hundred ms): few examples, many cells.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELL, min_size=3, max_size=10), min_size=5, max_size=30))
def test_locating_and_scoring_any_grid_never_raises(rows):
    loc = locate(RawWorkbook({"表": rows}, "xlsx"), "x.xlsx", RULES)
    assert loc.usable or loc.findings
    depts, *_ = process([FileRecord("x.xlsx", "x.xlsx", 1, 0.0)], parse_chunk([loc], [""]), RULES, 2022)
    assert len(depts) == int(loc.usable)


# --- province variants ------------------------------------------------------------------------


def sichuan_form() -> Grid:
    """四川: `预算执行情况(10分)` with 年初预算 / 调整后预算数 / 预算执行数 / 预算执行率 / 权重 / 得分,
    rows 总额 / 其中：财政资金 / 单位资金, `绩效指标(90分)`, split 指标性质 | 指标值 | 度量单位 under a
    two-row header with `﹦`, and `合计` in place of 总分. Execution 57 / 60 = 95 % → 9.50."""
    rows = [
        ["2022年度项目支出绩效自评表"] + [None] * 10,
        ["项目名称", "511000-乡村公路养护"] + [None] * 9,
        ["主管部门", "511-内江市交通运输局", None, None, None, "实施单位", "511001-内江市公路事务中心", None, None, None, None],
        ["预算执行情况(10分)", None, None, None, None, "年初预算", "调整后预算数", "预算执行数", "预算执行率", "权重", "得分"],
        [None, "总额", None, None, None, 60, 60, 57, "95%", 10, 9.5],
        [None, "其中：财政资金", None, None, None, 50, 50, 47, None, None, None],
        [None, "单位资金", None, None, None, 10, 10, 10, None, None, None],
        ["绩效指标(90分)", "一级指标", "二级指标", "三级指标", "年度指标值", None, None, "实际完成值", "分值", "得分", "偏差原因"],
        [None, None, None, None, "指标性质", "指标值", "度量单位", None, None, None, None],
        # ≥ 120 公里, actual 120 → 40; ﹦100 %, actual 100 % → 30; ≤ 15 天, actual 18 天 → 反向达标 0 of 20
        [None, "产出指标", "数量指标", "养护里程", "≥", 120, "公里", "120公里", 40, 40, None],
        [None, None, "质量指标", "验收合格率", "﹦", 100, "%", "100%", 30, 30, None],
        [None, "效益指标", "社会效益指标", "道路中断处置时间", "≤", 15, "天", "18天", 20, 15, "雨季塌方"],
        ["合计", None, None, None, None, None, None, None, 100, 94.5, None],
    ]
    merges = [(0, 0, 0, 10), (3, 0, 6, 0), (3, 1, 3, 4), (4, 1, 4, 4), (5, 1, 5, 4), (6, 1, 6, 4), (7, 0, 11, 0), (7, 1, 8, 1),
              (7, 2, 8, 2), (7, 3, 8, 3), (7, 4, 7, 6), (7, 7, 8, 7), (7, 8, 8, 8), (7, 9, 8, 9), (7, 10, 8, 10), (12, 0, 12, 7)]
    return Grid(rows, merges)


def test_sichuan_variant(tmp_path):
    r = _run([write_html({"表": sichuan_form()}, tmp_path / "sichuan.xls", encoding="gbk")])
    p = r.projects.iloc[0]
    assert (p["project_code"], p["budget"], p["spent"], p["exec_score"], p["self_score"]) == ("511000", 60, 57, 9.5, 94.5)
    ind = r.indicators.set_index("l3")
    assert ind["target"].to_dict() == {"养护里程": "≥120公里", "验收合格率": "﹦100%", "道路中断处置时间": "≤15天"}
    assert ind["score"].to_dict() == {"养护里程": 40, "验收合格率": 30, "道路中断处置时间": 0}
    assert ind.loc["验收合格率", "method_used"] == "正向达标"
    assert (p["ind_score"], p["total"], p["diff"]) == (70, 79.5, 15)
    assert r.depts.iloc[0]["dept_code"] == "511001"


def test_sichuan_bare_actuals_are_in_the_rows_unit(tmp_path):
    """四川's forms print 完成值 as a bare number beside the split target's 度量单位: the unit is the
    row's, for the actual as for the target. `= | 60 | 万元` with 60 is met (alone, 60 against
    600000 missed); `﹦ | 100 | %` with 100 is 100 %, with no 单位不一致 warning; a percent cell
    (100 % typed into Excel, 1.0) stays a fraction."""
    g = sichuan_form()
    g.rows[9][3:8] = ["养护资金", "=", 60, "万元", 60]
    g.rows[10][7] = 100
    g.rows[11][7] = 18
    r = _run([write_xlsx({"表": g}, tmp_path / "sichuan.xlsx")])
    ind = r.indicators.set_index("l3")
    assert ind["actual"].to_dict() == {"养护资金": "60万元", "验收合格率": "100%", "道路中断处置时间": "18天"}
    assert ind["score"].to_dict() == {"养护资金": 40, "验收合格率": 30, "道路中断处置时间": 0}
    assert _found(r, "value.unit") == [] and _found(r, "score.full_below_target") == []
    g.rows[10][7] = 1.0
    r = _run([write_xlsx({"表": g}, tmp_path / "percent_cell.xlsx")])
    assert _scores(r)["验收合格率"] == 30 and _found(r, "value.unit") == []


def form_with_group_points() -> Grid:
    """One 分值 and one 得分 per 二级 group, merged down the group's three indicators."""
    rows = [
        ["项目支出绩效自评表"] + [None] * 8,
        ["（2022年度）"] + [None] * 8,
        ["项目名称", "农村道路养护"] + [None] * 7,
        ["主管部门", "101-某县交通运输局", None, None, "实施单位", "101001-某县公路中心", None, None, None],
        ["项目资金\n（万元）", None, "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分", None],
        [None, "年度资金总额", 60, 60, 57, 10, "95%", 9.5, None],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"],
        [None, "产出指标", "数量指标", "养护里程", "≥100公里", "100公里", 30, 28, None],
        [None, None, None, "养护桥梁", "≥10座", "9座", None, None, "1座未完工"],
        [None, None, None, "养护涵洞", "≥20道", "20道", None, None, None],
        [None, None, "质量指标", "验收合格率", "≥95%", "98%", 20, 20, None],
        [None, "效益指标", "社会效益指标", "通行条件改善", "有效改善", "有效改善", 30, 30, None],
        [None, "满意度指标", "满意度指标", "群众满意度", "≥90%", "95%", 10, 10, None],
        ["总分", None, None, None, None, None, 100, 97.5, None],
    ]
    return Grid(rows, [(0, 0, 0, 8), (1, 0, 1, 8), (2, 1, 2, 8), (4, 0, 5, 0), (6, 0, 12, 0), (7, 1, 10, 1), (7, 2, 9, 2),
                       (7, 6, 9, 6), (7, 7, 9, 7)])


def test_points_merged_down_a_group_are_shared_among_its_indicators(tmp_path):
    """30 points and a 28 self score merged down three 数量指标: 10 each, the self score as their
    points (9.34, 9.33, 9.33). Left on the first row, 养护里程 alone carried the group (30 of 30)
    and the bridge missed (9 of 10) was never scored."""
    r = _run([write_xlsx({"表": form_with_group_points()}, tmp_path / "a.xlsx")])
    ind = r.indicators.set_index("l3")
    group = ["养护里程", "养护桥梁", "养护涵洞"]
    assert ind.loc[group, "weight"].tolist() == [10, 10, 10] and ind.loc[group, "self_score"].tolist() == [9.34, 9.33, 9.33]
    assert ind.loc[group, "score"].tolist() == [10, 9, 10]
    p = r.projects.iloc[0]
    assert (p["ind_score"], p["total"], p["self_score"]) == (89, 98.5, 97.5)
    assert _found(r, "form.group_points") == [("提示", "表", "G8"), ("提示", "表", "H8")]
    said = r.findings.loc[r.findings["rule_id"].eq("form.group_points"), "message"].tolist()
    assert said[0].endswith("的分值 30 合并在 G8:G10 共 3 项指标（养护里程 等），平均分配后逐项复核：10、10、10")
    assert _found(r, "weight.total") == [] and _found(r, "score.over_weight") == []


def test_cents_shared_add_up():
    from evalbatch.layouts.official import _cents_shared
    assert _cents_shared(20, [1, 1, 1]) == [6.67, 6.67, 6.66]
    assert _cents_shared(28, [10, 10, 10]) == [9.34, 9.33, 9.33]
    assert _cents_shared(9.5, [6, 3]) == [6.33, 3.17]
    assert sum(_cents_shared(0.01, [1, 1, 1])) == 0.01


@pytest.mark.parametrize("label", ["总分", "合  计", "总计", "总分(100分)", "自评总分", "得分合计"])
def test_total_row_read_under_its_usual_labels(tmp_path, label):
    """总计 (a usual word for a total) was read as a placeholder indicator row and the form had no self total."""
    g = form_a()
    total = next(row for row in g.rows if row[0] == "总分")
    total[0] = label
    r = _run([write_xlsx({"表": g}, tmp_path / "a.xlsx")])
    assert r.projects.iloc[0]["self_score"] == 97
    assert _found(r, "form.no_total") == []


def _with_head(head: list[list]) -> Grid:
    """A project form (funds, three indicators, 总分 99.5) under the given head rows."""
    N = None
    body = [
        ["项目资金（万元）", N, "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分", N],
        [N, "年度资金总额", 60, 60, 57, 10, "95%", 9.5, N],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"],
        [N, "产出指标", "数量指标", "养护里程", "≥100公里", "100公里", 50, 50, N],
        [N, "效益指标", "社会效益指标", "通行条件改善", "有效改善", "有效改善", 30, 30, N],
        [N, "满意度指标", "满意度指标", "群众满意度", "≥90%", "95%", 10, 10, N],
        ["总分", N, N, N, N, N, 100, 99.5, N],
    ]
    return Grid(head + body, [])


@pytest.mark.parametrize("head,unit,project,year", [
    # 项目名称：… and 实施单位：… in cells of one row: the project was read as the next cell's text.
    ([["项目支出绩效自评表（2022年度）"] + [None] * 8, ["项目名称：农村道路养护", None, None, None, "实施单位：101001-某县公路中心"] + [None] * 4],
     ("101001", "某县公路中心"), "农村道路养护", 2022),
    # The year as a head field (年度 | 2022), not in the title.
    ([["项目支出绩效自评表"] + [None] * 8, ["年度", 2022] + [None] * 7,
      ["项目名称", "农村道路养护", None, None, "实施单位", "101001-某县公路中心"] + [None] * 3],
     ("101001", "某县公路中心"), "农村道路养护", 2022),
    # The project named in the title after the unit, no 项目名称 row: the name was left blank (an 错误).
    ([["某县公路中心农村道路养护项目支出绩效自评表（2022年度）"] + [None] * 8,
      ["主管部门", "101-某县交通运输局", None, None, "实施单位", "101001-某县公路中心"] + [None] * 3],
     ("101001", "某县公路中心"), "农村道路养护", 2022),
    # A code and a space before the name, as budget systems print it.
    ([["项目支出绩效自评表（2022年度）"] + [None] * 8, ["预算单位名称", "101001 某县公路中心"] + [None] * 7, ["项目名称", "农村道路养护"] + [None] * 7],
     ("101001", "某县公路中心"), "农村道路养护", 2022),
])
def test_head_fields_as_forms_write_them(tmp_path, head, unit, project, year):
    r = _run([write_xlsx({"表": _with_head(head)}, tmp_path / "a.xlsx")])
    d, p = r.depts.iloc[0], r.projects.iloc[0]
    assert ((d["dept_code"], d["dept_name"]), p["project_name"], d["year"], p["total"]) == (unit, project, year, 99.5)
    assert _found(r, "form.unplaced") == [] and _found(r, "form.code_derived") == []


def test_adjusted_target_wins_over_the_initial_one(tmp_path):
    """山西: 年初指标值 and 调整后指标值; the adjusted one is the target."""
    g = form_a()
    g.rows[11][4] = "年初指标值"
    g.rows[11].insert(5, "调整后指标值")
    for r in range(len(g.rows)):
        if r != 11:
            g.rows[r].insert(5, "≥40个" if r == 12 else None)
    g.merges = [(a, b if b < 5 else b + 1, c, e if e < 5 else e + 1) for a, b, c, e in g.merges]
    r = _run([write_xlsx({"表": g}, tmp_path / "shanxi.xlsx")])
    assert _scores(r)["整治自然村数量"] == 20  # 48 against the adjusted 40, not the initial 50


# --- hostile and unreadable files, through the batch ---------------------------------------


@pytest.mark.parametrize("make,rule_id,words", [
    (lambda d: faults.et_like_ole(d), "file.unreadable", ("另存为", ".xlsx")),
    (lambda d: faults.hostile_spreadsheetml(d, "entity_bomb"), "file.suspicious", ("XML",)),
    (lambda d: faults.hostile_spreadsheetml(d, "external_entity"), "file.suspicious", ("XML",)),
])
def test_unreadable_or_hostile_file_is_one_error(tmp_path, make, rule_id, words):
    r = _run([make(tmp_path)])
    assert r.findings[["level", "rule_id"]].values.tolist() == [["错误", rule_id]]
    assert all(w in r.findings["message"].iloc[0] for w in words), r.findings["message"].iloc[0]
    assert r.depts.empty and r.records[0].status == "无法使用"


# --- 指标性质 / 指标方向 beside a whole target, and an empty 一级 column (内蒙古's 2024 layout) ---


def form_with_directions(directions=True) -> Grid:
    """A project form whose indicator rows print no 一级 label (the column is there, empty) and
    whose comparison sits in 指标性质 (正向 / 反向) and 指标方向 (大于等于 / 小于等于) columns beside
    a whole 年度指标值. Execution 21.5 / 21.8 = 98.62 % → 9.86 of 10."""
    rows = [
        ["项目支出绩效自评表"] + [None] * 10,
        ["（2024年度）"] + [None] * 10,
        ["项目名称", "口岸运行维护经费"] + [None] * 9,
        ["主管部门", "巴彦淖尔市自然资源局", None, None, "实施单位", "150801-甘其毛都口岸分局"] + [None] * 5,
        ["项目资金\n（万元）", None, "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分", None, None, None],
        [None, "年度资金总额", 20, 21.8, 21.5, 10, "98.62%", 9.86, None, None, None],
        [None, "其中：当年财政拨款", 20, 21.8, 21.5, "—", "98.62%", "—", None, None, None],
        ["绩效指标", "一级指标", "二级指标", "三级指标", "指标性质", "指标方向", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"],
        [None, None, "数量指标", "维护设施数量", "正向", "大于等于", "10个", "10个", 20, 20, None],
        [None, None, "质量指标", "设施完好率", "正向", "大于等于", "95%", "98%", 15, 15, None],
        [None, None, "时效指标", "维护及时率", "正向", "大于等于", "100%", "100%", 15, 15, None],
        # 21.5 ≤ 21.8: met, 10 of 10 (read as 21.5 / 21.8 without the 指标方向, 9.86 and a warning)
        [None, None, "成本指标", "维护成本", "反向", "小于等于", "21.8万元", "21.5万元", 10, 10, None],
        [None, None, "社会效益指标", "口岸通关效率", "正向", "大于等于", "提高", "提高", 20, 19, "部分时段拥堵"],
        [None, None, "满意度指标", "通关企业满意度", "正向", "大于等于", "90%", "92%", 10, 10, None],
        ["总分", None, None, None, None, None, None, None, 100, 98.86, None],
    ]
    if not directions:
        for row in rows[7:14]:
            row[4] = row[5] = None
    merges = [(0, 0, 0, 10), (1, 0, 1, 10), (2, 1, 2, 10), (3, 1, 3, 3), (3, 5, 3, 10), (4, 0, 6, 0), (7, 0, 13, 0)]
    return Grid(rows, merges)


def test_comparison_columns_beside_a_whole_target_and_an_empty_level1_column(tmp_path):
    r = _run([write_xlsx({"表": form_with_directions()}, tmp_path / "a.xlsx")], year=2024)
    p = r.projects.iloc[0]
    # 提高 against 提高 is the target's own words: met, 20 (the department's 19 stays its self score).
    assert _scores(r) == {"维护设施数量": 20, "设施完好率": 15, "维护及时率": 15, "维护成本": 10, "口岸通关效率": 20, "通关企业满意度": 10}
    assert (p["exec_score"], p["total"], p["self_score"], p["grade"]) == (9.86, 99.86, 98.86, "优")
    ind = r.indicators.set_index("l3")
    assert (ind.loc["维护成本", "target"], ind.loc["维护设施数量", "target"], ind.loc["口岸通关效率", "target"]) == ("小于等于21.8万元", "大于等于10个", "提高")
    assert _found(r, "form.no_level1") == [("提示", "表", "B8")]
    assert _found(r, "value.required") == [] and _found(r, "score.full_below_target") == []
    assert _found(r, "form.unplaced") == []  # 指标性质 and 指标方向 are known columns


def test_without_a_comparison_the_cost_target_is_read_as_written(tmp_path):
    """The same form with its 指标性质 / 指标方向 cells empty: 21.5 / 21.8 as a forward ratio."""
    r = _run([write_xlsx({"表": form_with_directions(directions=False)}, tmp_path / "a.xlsx")], year=2024)
    assert _scores(r)["维护成本"] == 9.86
    assert _found(r, "score.full_below_target") == [("警告", "表", "J12")]

"""Checks of one file: structure, values, arithmetic within tolerance, weights, projects."""

import openpyxl
import pytest
from builders import indicator, reference, write

from evalbatch.judge.evaluate import check_paths
from evalbatch.rules import load_rules


def run(tmp_path, data, year=2021):
    return check_paths([write(tmp_path, data)], load_rules(), year=year)


def found(result, rule_id=None):
    f = result.findings
    if rule_id:
        f = f[f["rule_id"] == rule_id]
    return list(zip(f["level"], f["sheet"], f["cell"]))


def messages(result, rule_id):
    return result.findings.loc[result.findings["rule_id"] == rule_id, "message"].tolist()


def test_basic_split_beyond_tolerance_is_a_warning(tmp_path):
    r = run(tmp_path, reference(personnel_spent=1072.58))
    assert found(r, "arith.mismatch") == [("警告", "基本信息", "B16")]
    assert messages(r, "arith.mismatch") == [
        "人员经费＋公用经费＝1,457.55 万元，基本支出执行数为 1,458.06 万元，相差 0.51 万元，超过容差 0.01 万元；请核对并更正相关数字"]
    assert found(r, "arith.rounding") == [("提示", "项目", "E2")]


def test_sangong_parts(tmp_path):
    r = run(tmp_path, reference(car_spent=15.98))
    assert ("提示", "基本信息", "B22") in found(r, "arith.rounding")
    r = run(tmp_path, reference(car_spent=14.99))
    assert found(r, "arith.mismatch") == [("警告", "基本信息", "B22")]


def test_income_equals_budget_and_carryover(tmp_path):
    r = run(tmp_path, reference(appropriation=2890.6))
    cells = found(r, "arith.mismatch")
    assert ("警告", "基本信息", "B15") in cells  # 收入合计 ≠ 预算合计
    assert ("警告", "基本信息", "B26") in cells  # 年末结转结余 ≠ 收入 − 支出


def test_tolerance_comes_from_the_rules(tmp_path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text("[checks]\ntolerance = 1.0\n", encoding="utf-8")
    r = check_paths([write(tmp_path, reference(personnel_spent=1072.58))], load_rules(rules_file), year=2021)
    assert found(r, "arith.mismatch") == []
    assert ("提示", "基本信息", "B16") in found(r, "arith.rounding")


def test_projects_exceed_project_spending(tmp_path):
    data = reference(project_spent=200)
    r = run(tmp_path, data)
    assert any("各项目全年执行数合计 245.77 万元，超过项目支出执行数 200.00 万元" in m for m in messages(r, "arith.mismatch"))


def test_weights_and_self_score_range(tmp_path):
    data = reference()
    data["indicators"][-1]["weight"] = 4  # 98 in all
    data["indicators"][-1]["self_score"] = 4
    data["project_indicators"][0]["self_score"] = 3.5  # above its weight of 3
    r = run(tmp_path, data)
    assert found(r, "weight.total") == [("警告", "整体指标", "E2:E31")]
    assert messages(r, "weight.total") == ["整体指标的分值合计为 98，应为 100；请调整各指标分值"]
    # Deployed imports refuse a self score above the row's maximum: an 错误 (rules [levels] may lower it).
    assert found(r, "score.over_weight") == [("错误", "项目指标", "I2")]
    # One row for the cell: the recomputed score (score.diff) said inside it, not in a row of its own.
    assert messages(r, "score.over_weight") == ["「第三方服务机构数」自评得分 3.5 超过分值 3，得分不能高于分值；复核得分 3.00"
                                                "（完成率 100.00%，得分＝3×min(完成率,100%)＝3.00）；请更正"]
    assert found(r, "score.diff") == []


def test_project_weights_must_add_to_90(tmp_path):
    data = reference()
    data["project_indicators"] = data["project_indicators"][:-1]
    r = run(tmp_path, data)
    assert messages(r, "weight.total") == ["项目 620101-2021-01的分值合计为 87，应为 90；请调整各指标分值"]


def test_unknown_project_codes(tmp_path):
    data = reference()
    data["project_indicators"][3]["project_code"] = "999"
    data["details"][0]["project_code"] = "999"
    r = run(tmp_path, data)
    assert found(r, "project.unknown") == [("警告", "项目指标", "A5"), ("警告", "项目支出明细", "A2")]


def test_required_enum_negative_and_unreadable(tmp_path):
    data = reference(dept_category="行政单位", dept_name="", basic_budget=-1, staff_quota="八十")
    data["projects"][0]["spent"] = -245.77
    data["indicators"][7]["weight"] = "三分"
    data["indicators"][8]["method"] = "正比例"
    r = run(tmp_path, data)
    f = r.findings[r.findings["level"] == "错误"]
    got = sorted(zip(f["rule_id"], f["sheet"], f["cell"]))
    assert got == sorted([
        ("value.enum", "基本信息", "B6"),
        ("value.required", "基本信息", "B5"),
        ("value.negative", "基本信息", "B15"),
        ("value.unreadable", "基本信息", "B10"),
        ("value.negative", "项目", "E2"),
        ("value.unreadable", "整体指标", "E9"),
        ("value.enum", "整体指标", "D10"),
    ])
    assert "只能填写：党委部门、政府部门、人大政协及司法机关、民主党派及群团组织、事业单位、其他" in messages(r, "value.enum")[0]
    assert r.depts["grade"].tolist() == ["未评级"]
    assert r.error_files == 1
    assert r.projects["exec_score"].tolist() == [0.0]  # capped at 0, never negative


def test_wrong_and_missing_template_version(tmp_path):
    r = run(tmp_path, reference(template_version="2"))
    assert found(r, "template.version") == [("错误", "基本信息", "B2")]
    assert messages(r, "template.version") == ["模板版本为 2，本工具只读取模板版本 1；请使用最新模板重新填写"]
    r = run(tmp_path, reference(template_version=None))
    assert found(r, "template.version") == [("错误", "基本信息", "B2")]


def test_missing_sheet_and_header(tmp_path):
    path = write(tmp_path, reference())
    wb = openpyxl.load_workbook(path)
    del wb["项目支出明细"]  # optional: no finding
    wb["项目"].title = "项目表"
    wb["整体指标"]["E1"] = "权重"
    wb.save(path)
    r = check_paths([path], load_rules(), year=2021)
    errors = r.findings[r.findings["level"] == "错误"]
    assert sorted(zip(errors["rule_id"], errors["sheet"], errors["cell"])) == [
        ("header.missing", "整体指标", "1:1"),
        ("sheet.missing", "项目", ""),
    ]
    assert "缺少表头列「分值」" in messages(r, "header.missing")[0]


def test_labels_found_forgivingly_whatever_the_row_order(tmp_path):
    path = write(tmp_path, reference())
    wb = openpyxl.load_workbook(path)
    ws = wb["基本信息"]
    ws["A17"] = " 其中 : 人员经费 "  # spaces and a half-width colon
    ws["A22"] = "三公经费执行数"
    ws.move_range("A2:C27", rows=30)  # rows moved down, with a gap: order never matters
    ws["A1"], ws["B1"] = "项 目", "数　值"
    wb["整体指标"]["F1"] = "指标值 "
    wb.save(path)
    r = check_paths([path], load_rules(), year=2021)
    assert r.depts["total"].tolist() == [90.56]
    assert r.depts["personnel_spent"].tolist() == [1073.08]
    assert found(r, "arith.rounding")[0] == ("提示", "基本信息", "B46")
    assert not (r.findings["level"] == "错误").any()


def test_duplicate_field_label(tmp_path):
    path = write(tmp_path, reference())
    wb = openpyxl.load_workbook(path)
    wb["基本信息"].append(["单位名称", "别的名字"])
    wb.save(path)
    r = check_paths([path], load_rules(), year=2021)
    assert found(r, "field.duplicate") == [("警告", "基本信息", "A28")]
    assert r.depts["dept_name"].tolist() == ["中共甘肃省委机构编制委员会办公室"]


@pytest.mark.parametrize("reason,expected", [(None, 1), ("调研减少", 0)])
def test_missed_target_needs_a_reason(tmp_path, reason, expected):
    data = reference()
    data["project_indicators"][6]["reason"] = reason
    assert len(found(run(tmp_path, data), "score.reason_missing")) == expected


def test_full_marks_below_target(tmp_path):
    data = reference()
    data["project_indicators"][6]["self_score"] = 3
    data["projects"][0]["self_score"] = 97.68
    r = run(tmp_path, data)
    assert found(r, "score.full_below_target") == [("警告", "项目指标", "I8")]
    # score.diff says the same of the same cell: one row, led by the reason, with the figures.
    assert messages(r, "score.full_below_target") == [
        "「形成调研报告数量」实际值“11篇”未达到指标值“15篇”，自评却得满分；自评得分 3，复核得分 2.20"
        "（完成率 73.33%，得分＝3×min(完成率,100%)＝2.20）；请按实际完成情况打分"]
    assert found(r, "score.diff") == []
    assert found(r, "score.total_diff") == [("警告", "项目", "F2")]


def test_self_total_differs(tmp_path):
    r = run(tmp_path, reference(self_total=95))
    assert messages(r, "score.total_diff") == ["自评总分 95，复核总分 90.56，相差 +4.44；请按复核结果核对各指标得分"]
    assert found(r, "score.total_diff") == [("警告", "基本信息", "B27")]


def test_year_is_checked_only_when_given(tmp_path):
    assert found(run(tmp_path, reference(year=2020), year=None), "value.year") == []
    assert found(run(tmp_path, reference(year=2020)), "value.year") == [("错误", "基本信息", "B3")]


def test_indicator_row_needs_an_indicator(tmp_path):
    data = reference()
    data["indicators"].append(indicator("", "定性", 0, "达成", "达成", None))
    r = run(tmp_path, data)
    assert sorted(found(r, "value.required")) == [("错误", "整体指标", "C32"), ("错误", "整体指标", "H32")]

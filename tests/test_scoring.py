"""Every 计分方法, its boundaries, zero denominators, grades and ranks, through real files."""

import math

import pandas as pd
import pytest
from builders import dept, indicator, reference, write

from evalbatch.judge.evaluate import check_paths
from evalbatch.judge.scoring import grade
from evalbatch.rules import load_rules

# l3 → (method, weight, target, actual, self_score, expected rate, expected score)
CASES = {
    "正向比例-部分": ("正向比例", 4, "100", "90", 3.6, 0.9, 3.6),
    "正向比例-报告": ("正向比例", 3, "15篇", "11篇", 2.2, 0.7333, 2.2),
    "正向比例-超额": ("正向比例", 4, "≥95%", "96%", 4, 1.0105, 4.0),
    "正向比例-单位": ("正向比例", 4, "95%", "90", 3.79, 0.9474, 3.79),
    # A bare actual under a target written in 万 is in 万 (45 of ≥50万元), unless it is as large
    # as the target's value itself (12000 against ≥1万人次).
    "正向比例-万": ("正向比例", 4, "≥50万元", "45", 3.6, 0.9, 3.6),
    "反向达标-万": ("反向达标", 4, "≤50万元", "57", 0, 0.8772, 0.0),
    "正向比例-万不换": ("正向比例", 4, "≥1万人次", "12000", 4, 1.2, 4.0),
    "正向达标-未达": ("正向达标", 4, "20次", "19次", 0, 0.95, 0.0),
    "正向达标-恰好": ("正向达标", 4, "20次", "20次", 4, 1.0, 4.0),
    "反向比例-超支": ("反向比例", 4, "≤100万元", "125万元", 3.2, 0.8, 3.2),
    "反向比例-节约": ("反向比例", 4, "100", "80", 4, 1.25, 4.0),
    "反向比例-为零": ("反向比例", 4, "2", "0", 4, None, 4.0),
    "反向达标-超时": ("反向达标", 4, "≤2日", "3日", 0, 0.6667, 0.0),
    "反向达标-恰好": ("反向达标", 4, "≤2日", "2日", 4, 1.0, 4.0),
    "定性-基本达成": ("定性", 4, "达成", "基本达成", 3.2, 0.8, 3.2),
    "定性-部分达成": ("定性", 4, "达成", "部分达成", 2.4, 0.6, 2.4),
    "定性-未完成": ("定性", 4, "完成", "未完成", 0, 0.0, 0.0),
    "定性-空格": ("定性", 4, "达成", " 达 成 ", 4, 1.0, 4.0),
    "推定-反向": (None, 4, "≤5天", "4天", 4, 1.25, 4.0),
    "推定-正向": (None, 4, "10", "8", 3.2, 0.8, 3.2),
    "超出分值": ("正向比例", 4, "10", "10", 5, 1.0, 4.0),
    # A deadline is met or missed, never a ratio (no rate): 11月 against 12月底 was 11 / 12 of 4.
    # A year not written is the form's (2021): 2022年1月 is late for 12月底前.
    "推定-期限内": (None, 4, "12月底前完成", "于11月完成", 4, None, 4.0),
    "推定-逾期": (None, 4, "2021年6月30日前", "2021年7月15日", 4, None, 0.0),
    "推定-跨年逾期": (None, 4, "12月底前", "2022年1月", 4, None, 0.0),
    "推定-同月": (None, 4, "6月15日前", "6月", 4, None, 4.0),
    # A target of nothing (0起) is 反向达标: 0 meets it, where it was a zero denominator scoring 0.
    "推定-零目标": (None, 4, "0起", "0", 4, None, 4.0),
    "推定-零目标未达": (None, 4, "0次", "1次", 0, 0.0, 0.0),
    # 已完成98% is 98 %, not the level word 完成 (which read as full).
    "推定-前置文字": (None, 4, "100%", "已完成98%", 4, 0.98, 3.92),
    # Words no level reads, against the target's own words.
    "定性-同指标值": ("定性", 4, "全覆盖", "全覆盖", 4, 1.0, 4.0),
    "定性-否定指标值": ("定性", 4, "达标", "未达标", 0, 0.0, 0.0),
}
# Rows whose score cannot be recomputed: the self score is kept (capped).
KEPT = {
    "定性-未知词": ("定性", 4, "达成", "还行", 3, None, 3.0),
    # A mark in both cells is no word the same as the target's: nothing to read, the self score stays.
    "定性-斜杠": ("定性", 4, "/", "/", 3, None, 3.0),
    "正向比例-文字": ("正向比例", 4, "很多", "很多", 2.5, None, 2.5),
}
ZERO = {"正向比例-零目标": ("正向比例", 4, "0", "5", 0, None, 0.0)}


def _rows(cases):
    return [indicator(l3, m, w, t, a, s, reason="已说明") for l3, (m, w, t, a, s, _r, _e) in cases.items()]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    data = reference()
    data["indicators"] = data["indicators"][:6] + _rows({**CASES, **KEPT, **ZERO})
    path = write(tmp_path_factory.mktemp("methods"), data)
    return check_paths([path], load_rules(), year=2021)


def _row(result, l3):
    return result.indicators.set_index("l3").loc[l3]


@pytest.mark.parametrize("l3", list(CASES) + list(KEPT) + list(ZERO))
def test_method_rate_and_score(scored, l3):
    _m, _w, _t, _a, _s, rate, score = {**CASES, **KEPT, **ZERO}[l3]
    row = _row(scored, l3)
    assert row["score"] == score
    if rate is None:
        assert math.isnan(row["rate"])
    else:
        assert row["rate"] == rate


def _findings(result, rule_id):
    f = result.findings
    return f[f["rule_id"] == rule_id]


def test_zero_target_is_a_warning_and_no_inf(scored):
    f = _findings(scored, "score.zero_denominator")
    assert f["level"].tolist() == ["警告"]
    assert "正向比例-零目标" in f["message"].iloc[0]
    numbers = scored.indicators[["rate", "score", "deduction", "diff"]].to_numpy(dtype=float)
    assert not (numbers == math.inf).any() and not (numbers == -math.inf).any()


def test_unit_mismatch_warned(scored):
    f = _findings(scored, "value.unit")
    f = f.set_index(f["message"].str.extract(r"「(.+?)」")[0])
    assert sorted(f.index) == ["反向达标-万", "正向比例-万", "正向比例-单位"] and set(f["level"]) == {"警告"}
    assert f.loc["正向比例-单位", "message"] == "「正向比例-单位」指标值“95%”与实际值“90”一个带 %、一个不带，已按百分数比较；请统一单位"
    assert f.loc["正向比例-万", "message"] == "「正向比例-万」指标值“≥50万元”与实际值“45”一个带“万”、一个不带，已按“万”为单位比较；请统一单位"


def test_unverifiable_keeps_self_score_with_warning(scored):
    f = _findings(scored, "score.unverifiable")
    assert len(f) == 1 and "正向比例-文字" in f["message"].iloc[0]
    n = _findings(scored, "score.level_unknown")
    assert sorted(n["message"].str.extract(r"「(.+?)」")[0]) == ["定性-斜杠", "定性-未知词"] and set(n["level"]) == {"提示"}


def test_inferred_method_noted(scored):
    f = _findings(scored, "score.method_inferred")
    inferred = sorted(f["message"].str.extract(r"「(.+?)」")[0])
    assert inferred == sorted(k for k, v in CASES.items() if v[0] is None)
    assert {k: _row(scored, k)["method_used"] for k in inferred} == {
        **{k: "反向达标" for k in inferred}, "推定-正向": "正向比例", "推定-前置文字": "正向比例"}


def test_deadline_and_target_words_explained(scored):
    said = {k: _row(scored, k)["explain"] for k in ("推定-期限内", "推定-跨年逾期", "定性-同指标值")}
    assert said == {"推定-期限内": "实际日期不晚于指标值，按期完成，得满分 4.00", "推定-跨年逾期": "实际日期晚于指标值，未按期完成，得 0.00",
                    "定性-同指标值": "实际值“全覆盖”与指标值相同，按达成计，得 4.00"}
    negated = _findings(scored, "score.level_negated")
    assert negated["message"].str.contains("「定性-否定指标值」").sum() == 1


def test_self_score_above_weight(scored):
    f = _findings(scored, "score.over_weight")
    assert len(f) == 1 and f["level"].iloc[0] == "错误"
    assert f["message"].iloc[0].startswith("「超出分值」自评得分 5 超过分值 4，得分不能高于分值；复核得分 4.00")
    assert f["cell"].iloc[0] == "H" + str(_row(scored, "超出分值")["row"])
    # The difference is said in that one row for the cell, not in a score.diff row of its own.
    diff = _findings(scored, "score.diff")
    assert diff["message"].str.contains("「超出分值」").sum() == 0


def test_strict_mode_scores_unverifiable_zero(tmp_path):
    data = reference()
    data["indicators"] = data["indicators"][:6] + _rows(KEPT)
    path = write(tmp_path, data)
    strict = load_rules()
    strict = type(strict)({**strict.data, "scoring": {**strict.data["scoring"], "strict": True}}, "strict")
    result = check_paths([path], strict, year=2021)
    assert _row(result, "正向比例-文字")["score"] == 0
    assert _row(result, "定性-未知词")["score"] == 3.0  # an unknown level word is a 提示, not strict


def _with(data_changes: dict, **info):
    data = reference(**info)
    data.update(data_changes)
    return data


@pytest.mark.parametrize(
    "info,method,rate,score",
    [
        ({"sangong_budget": 0, "sangong_spent": 0, "car_spent": 0, "reception_spent": 0}, "三公经费控制率", None, 0.0),
        ({"sangong_spent": 24.2, "car_spent": 15.99, "reception_spent": 8.21}, "三公经费控制率", 1.0004, 0.0),
        ({"sangong_spent": 24.19, "car_spent": 15.99, "reception_spent": 8.2}, "三公经费控制率", 1.0, 3.0),
        ({"carryover_begin": 0, "carryover_end": 0, "appropriation": 3007.2}, "结转结余变动率", None, 3.0),
        ({"carryover_begin": 0, "appropriation": 3007.2}, "结转结余变动率", None, 0.0),
        ({"carryover_end": 117.6}, "结转结余变动率", 0.0, 3.0),
        ({"staff_quota": 0}, "在职人员控制率", None, 0.0),
        ({"staff_actual": 81}, "在职人员控制率", 1.0125, 0.0),
        ({"staff_actual": 80}, "在职人员控制率", 1.0, 3.0),
        ({"basic_budget": 0, "project_budget": 0}, "预算执行率", None, 0.0),
        ({"basic_spent": 1500.0}, "基本支出执行率", 1.0235, 3.0),
    ],
)
def test_automatic_rates_and_zero_denominators(tmp_path, info, method, rate, score):
    result = check_paths([write(tmp_path, reference(**info))], load_rules(), year=2021)
    row = result.indicators[result.indicators["method_used"] == method].iloc[0]
    assert row["score"] == score
    if rate is None:
        assert math.isnan(row["rate"])
        zero = _findings(result, "score.zero_denominator")
        # Only 结转结余变动率 from 0 to 0 is a full score without a warning.
        assert zero["message"].str.contains(method).any() == (score == 0)
    else:
        assert row["rate"] == rate


def test_carryover_zero_to_zero_is_full_without_warning(tmp_path):
    info = {"carryover_begin": 0, "carryover_end": 0, "appropriation": 3007.2}
    result = check_paths([write(tmp_path, reference(**info))], load_rules(), year=2021)
    assert _findings(result, "score.zero_denominator").empty


def test_execution_over_100_percent_warned(tmp_path):
    result = check_paths([write(tmp_path, reference(basic_spent=1500.0))], load_rules(), year=2021)
    assert "基本支出执行率 102.35%" in _findings(result, "exec.over")["message"].iloc[0]


def test_grade_bands():
    s = pd.Series([100, 90.0, 89.99, 80.0, 79.99, 60.0, 59.99, 0.0, float("nan")])
    assert grade(s, load_rules()).tolist() == ["优", "优", "良", "良", "中", "中", "差", "差", "未评级"]


def test_boundary_grades_ties_and_ranks(tmp_path):
    files = [
        write(tmp_path, dept("000003", "甲", "86.13%"), "a.xlsx"),  # 90.00 → 优
        write(tmp_path, dept("000002", "乙", "86.13%"), "b.xlsx"),  # 90.00, tie
        write(tmp_path, dept("000001", "丙", "85.975%"), "c.xlsx"),  # 89.99 → 良
        write(tmp_path, dept("000004", "丁", "大于95%", category="政府部门"), "d.xlsx"),  # 90.56
        write(tmp_path, dept("000005", "戊", "大于95%", category="政府部门", year=2020), "e.xlsx"),  # wrong year: 错误
    ]
    result = check_paths(files, load_rules(), year=2021)
    d = result.depts
    got = list(zip(d["dept_code"], d["total"], d["grade"], d["rank"].astype(object), d["cat_rank"].astype(object)))
    assert got == [
        ("000004", 90.56, "优", 1, 1),
        ("000002", 90.0, "优", 2, 1),
        ("000003", 90.0, "优", 2, 1),
        ("000001", 89.99, "良", 4, 3),
        ("000005", 90.56, "未评级", pd.NA, pd.NA),
    ]
    assert _findings(result, "value.year")["file"].tolist() == ["e.xlsx"]

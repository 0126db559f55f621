"""Issue 22 point 4: units before limits. Money limits are judged in 万元 after an amount in
元 is converted; `9分` and `97.85分` are numbers wherever points are read; a negative 分值 or
得分 is an 错误 and never scored."""

from __future__ import annotations

import pandas as pd
from builders import reference, write
from test_official import form_a

from evalbatch.judge.evaluate import check_paths
from evalbatch.read.discover import HAS_ERROR
from evalbatch.rules import load_rules
from evalbatch.samples.official import write_xlsx

RULES = load_rules()


def _found(r, rule_id):
    f = r.findings[r.findings["rule_id"] == rule_id]
    return list(zip(f["level"], f["sheet"], f["cell"], f["message"]))


def _set_row(grid, r: int, c: int, value):
    grid.rows[r][c] = value
    return grid


def test_amounts_in_yuan_above_the_wan_limit_are_converted_before_the_limit(tmp_path):
    """1,500,000,000,000 元 is 150,000,000 万元 after conversion: above the limit of 100,000,000 万元
    only once converted would it be judged — 15 亿元 (150,000 万元) is well inside it."""
    yuan = (1_000_000_000.0, 1_500_000_000.0, 1_200_000_000.0)  # 10 亿, 15 亿, 12 亿 元
    path = write_xlsx({"表": form_a(total=yuan, source=yuan, unit_note="项目资金（元）")}, tmp_path / "县教育局.xlsx")
    r = check_paths([path], RULES, year=2022)
    assert _found(r, "value.out_of_range") == []
    p = r.projects.iloc[0]
    assert (p["initial_budget"], p["budget"], p["spent"], p["exec_rate"]) == (100_000.0, 150_000.0, 120_000.0, 0.8)
    assert (p["total"], p["grade"]) == (96.64, "优")
    assert not (r.findings["level"] == "错误").any()


def test_an_amount_in_yuan_beyond_the_limit_after_conversion_is_still_refused(tmp_path):
    huge = (2e12, 2e12, 2e12)  # 2 万亿元 = 200,000,000 万元: beyond 100,000,000 万元
    path = write_xlsx({"表": form_a(total=huge, source=huge, unit_note="项目资金（元）")}, tmp_path / "a.xlsx")
    r = check_paths([path], RULES, year=2022)
    refused = {(lv, cell) for lv, _, cell, _ in _found(r, "value.out_of_range")}
    assert refused == {("错误", c) for c in ("C6", "D6", "E6", "C7", "D7", "E7")}


def test_points_written_with_fen_are_numbers_in_official_forms(tmp_path):
    g = form_a()
    _set_row(g, 12, 6, "20分")  # 整治自然村数量's 分值
    _set_row(g, 19, 7, "97.85分")  # 总分's 得分
    r = check_paths([write_xlsx({"表": g}, tmp_path / "a.xlsx")], RULES, year=2022)
    ind = r.indicators.set_index("l3")
    assert ind.loc["整治自然村数量", "weight"] == 20 and ind.loc["整治自然村数量", "score"] == 19.2
    assert _found(r, "form.placeholder")[0][2] == "D14"  # only the form's own placeholders
    assert len(_found(r, "form.placeholder")) == 2
    assert r.projects.iloc[0]["self_score"] == 97.85
    assert r.projects.iloc[0]["total"] == 96.64


def test_points_written_with_fen_are_numbers_in_format1(tmp_path):
    data = reference()
    row = next(r for r in data["indicators"] if r["l3"] == "财务管理制度健全性")
    row["weight"] = f"{row['weight']:g}分"
    r = check_paths([write(tmp_path, data)], RULES, year=2021)
    assert r.depts.iloc[0]["total"] == 90.56
    assert _found(r, "value.unreadable") == []


def test_a_negative_weight_is_an_error_and_never_ranked(tmp_path):
    g = form_a()
    _set_row(g, 15, 6, -10)  # 完成及时性's 分值
    r = check_paths([write_xlsx({"表": g}, tmp_path / "a.xlsx")], RULES, year=2022)
    assert _found(r, "value.negative") == [("错误", "表", "G16", "「分值」为负数（-10），分值和得分应不小于 0")]
    ind = r.indicators.set_index("l3")
    assert pd.isna(ind.loc["完成及时性", "weight"])  # never scored as -10
    assert r.records[0].status == HAS_ERROR


def test_a_negative_self_score_in_format1_is_an_error_and_unranks(tmp_path):
    data = reference()
    data["indicators"][0]["self_score"] = -2
    r = check_paths([write(tmp_path, data)], RULES, year=2021)
    found = _found(r, "value.negative")
    assert [(lv, sheet, msg) for lv, sheet, _, msg in found] == [("错误", "整体指标", "「自评得分」为负数（-2），分值和得分应不小于 0")]
    d = r.depts.iloc[0]
    assert pd.isna(d["rank"]) and d["grade"] == "未评级"

"""Scoring variants of deployed systems as rules settings, and the shipped profiles.

Every expected figure is worked out by hand in the comments, at and around each boundary.
"""

from __future__ import annotations

import pandas as pd
import pytest
from builders import indicator, reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths, evaluate
from evalbatch.read.discover import discover
from evalbatch.rules import RulesError, load_rules, profiles

NATIONAL, HUBEI, DEPLOYED = load_rules("national"), load_rules("hubei"), load_rules("deployed")


def rules_with(tmp_path, text: str):
    f = tmp_path / "rules.toml"
    f.write_text(text, encoding="utf-8")
    return load_rules(f)


def run(tmp_path, data, rules, name="dept.xlsx"):
    return check_paths([write(tmp_path, data, name)], rules, year=2021)


def score_of(r, l3: str) -> float:
    return r.indicators.set_index("l3").loc[l3, "score"]


def with_row(*rows) -> dict:
    """The reference case with rows added to 整体指标 (their weights are what the test needs)."""
    data = reference()
    data["indicators"] += list(rows)
    return data


# --- the shipped profiles on the reference case ---------------------------------------------


def test_profiles_are_listed():
    assert list(profiles()) == ["national", "deployed", "hubei"]


def test_reference_case_under_national_is_unchanged(tmp_path):
    r = run(tmp_path, reference(), NATIONAL)
    assert (r.depts.iloc[0]["total"], r.depts.iloc[0]["grade"], r.projects.iloc[0]["total"]) == (90.56, "优", 96.88)


def test_reference_case_under_hubei(tmp_path):
    """20-point execution: 20 × 76.80 % = 15.36. The project's indicators still carry 90 of the
    80 this profile leaves them (an 错误, weight.over): 89.20 counts as 80.00 → 95.36. The
    department's rows are all met or 达成: 90.56 as nationally, but unranked for the 错误."""
    r = run(tmp_path, reference(), HUBEI)
    p = r.projects.iloc[0]
    assert (p["exec_score"], p["ind_score"], p["total"]) == (15.36, 80.0, 95.36)
    assert r.findings.loc[r.findings["rule_id"] == "weight.over", "level"].tolist() == ["错误"]
    d = r.depts.iloc[0]
    assert (d["total"], d["grade"]) == (90.56, "未评级")


def test_reference_case_under_deployed(tmp_path):
    """Department: 单位获奖情况 4 项 against ≥2 项 is 200 % (> 130 %): 偏离, 3 − 2 = 1, so 88.56
    before the cap; 预算执行率 59.43 % < 60 % caps the total at 69 → 69.00, 中 on 80/70/60.
    Project: 76.80 % < 80 % caps 96.88 at 89 → 89.00, 优 (≥ 80)."""
    r = run(tmp_path, reference(), DEPLOYED)
    assert score_of(r, "单位获奖情况") == 1.0
    d = r.depts.iloc[0]
    assert (d["uncapped_total"], d["total"], d["grade"]) == (88.56, 69.0, "中")
    p = r.projects.iloc[0]
    assert (p["total"], p["grade"]) == (89.0, "优")
    capped = r.findings[r.findings["rule_id"] == "score.capped_by_execution"]
    assert capped["message"].tolist() == [
        "部门整体 预算执行率 59.43%，按规则总分最高 69 分；复核得分由 88.56 封顶为 69.00",
        "项目 620101-2021-01 预算执行率 76.80%，按规则总分最高 89 分；复核得分由 96.88 封顶为 89.00",
    ]


# --- each setting at its boundaries ----------------------------------------------------------


@pytest.mark.parametrize("spent,total", [(255.968, 89.0), (256.0, 97.2), (255.999, 97.2)])
def test_total_cap_at_the_execution_boundary(tmp_path, spent, total):
    """Budget 320: 255.968 → 79.99 %, 256 → 80.00 %, 255.999 → 80.00 % (rates are rounded to
    0.01 % first). Below 80 % the project's 8.00 + 89.20 = 97.20 is capped at 89."""
    data = reference()
    data["projects"][0]["spent"] = spent
    assert run(tmp_path, data, DEPLOYED).projects.iloc[0]["total"] == total


@pytest.mark.parametrize("actual,score", [("130次", 3.0), ("131次", 1.0), ("129次", 3.0)])
def test_deviation_penalty_beyond_thirty_percent(tmp_path, actual, score):
    """Target 100: 130 is exactly 30 % above (no 偏离), 131 is beyond it: 3 − 2 = 1."""
    r = run(tmp_path, with_row(indicator("走访次数", "正向比例", 3, "100次", actual, 3)), DEPLOYED)
    assert score_of(r, "走访次数") == score


def test_deviation_never_goes_below_zero(tmp_path):
    rules = rules_with(tmp_path, 'extends = "deployed"\n[scoring.deviation]\nthreshold = 0.3\npoints = 5\n')
    r = run(tmp_path, with_row(indicator("走访次数", "正向比例", 3, "100次", "200次", 3)), rules)
    assert score_of(r, "走访次数") == 0.0


@pytest.mark.parametrize("actual,national,deployed", [
    ("10天", 4.0, 4.0),     # at the target: full either way
    ("15天", 2.67, 2.0),    # ratio 10/15 → 4 × 0.6667; linear (2 − 1.5) / (2 − 1) = 0.5 → 2
    ("20天", 2.0, 0.0),     # ratio 10/20 → 2; linear: 0 at twice the target
    ("30天", 1.33, 0.0),
])
def test_reverse_ratio_and_linear(tmp_path, actual, national, deployed):
    row = indicator("办结时限", "反向比例", 4, "≤10天", actual, 4)
    assert score_of(run(tmp_path, with_row(row), NATIONAL), "办结时限") == national
    assert score_of(run(tmp_path, with_row(row), DEPLOYED, "b.xlsx"), "办结时限") == deployed


def test_forward_credit_cap_bounds_the_rate_not_the_score(tmp_path):
    row = indicator("培训人次", "正向比例", 3, "100人次", "125人次", 3)
    assert run(tmp_path, with_row(row), NATIONAL).indicators.set_index("l3").loc["培训人次", "rate"] == 1.25
    r = run(tmp_path, with_row(row), rules_with(tmp_path, "[scoring]\nforward_rate_cap = 1.2\n"), "b.xlsx")
    assert r.indicators.set_index("l3").loc["培训人次", ["rate", "score"]].tolist() == [1.2, 3.0]


@pytest.mark.parametrize("word,national,hubei", [
    ("达成", 5.0, 5.0), ("基本达成", 4.0, 4.0), ("部分达成", 3.0, 2.5), ("未达成", 0.0, 0.0),
])
def test_qualitative_tier_edges(tmp_path, word, national, hubei):
    """Weight 5: 部分达成 sits at the bottom of its tier: 60 % nationally, 50 % on 湖北 forms."""
    row = indicator("制度健全性", "定性", 5, "健全", word, 5)
    assert score_of(run(tmp_path, with_row(row), NATIONAL), "制度健全性") == national
    assert score_of(run(tmp_path, with_row(row), HUBEI, "b.xlsx"), "制度健全性") == hubei


def test_a_level_word_may_land_in_the_middle_of_its_tier(tmp_path):
    rules = rules_with(tmp_path, '[qualitative.levels]\n"部分达成" = "部分达成@middle"\n"尚可" = 0.75\n')
    assert rules.levels["部分达成"] == pytest.approx(0.7) and rules.levels["尚可"] == 0.75


def test_execution_cap_off_lets_execution_exceed_its_points_but_not_the_total(tmp_path):
    data = reference(basic_spent=1465.6 * 1.5, personnel_spent=None, operating_spent=None)
    rules = rules_with(tmp_path, "[scoring]\nexecution_cap = false\n")
    capped, uncapped = run(tmp_path, data, NATIONAL), run(tmp_path, data, rules, "b.xlsx")
    assert score_of(capped, "基本支出预算执行率") == 3.0
    assert score_of(uncapped, "基本支出预算执行率") == 4.5  # 150 % × 3
    assert uncapped.depts.iloc[0]["total"] <= 100


def test_three_grade_scale(tmp_path):
    rules = rules_with(tmp_path, '[grades]\nnames = ["好", "合格", "不合格"]\nlower_bounds = [90, 60, 0]\n')
    data = reference()
    data["projects"][0]["self_grade"] = "好"  # the grade words in force are the ones a department can choose
    r = run(tmp_path, data, rules)
    assert (r.depts.iloc[0]["grade"], r.projects.iloc[0]["grade"]) == ("好", "好")


# --- rules files that extend a profile, and bad ones --------------------------------------------


def test_a_bureau_file_extends_a_profile_and_overrides_keys(tmp_path):
    rules = rules_with(tmp_path, 'extends = "hubei"\n[grades]\nlower_bounds = [85, 75, 60, 0]\n')
    assert (rules.project_execution_weight, rules.levels["部分达成"], rules.grade_bounds) == (20, 0.5, [85, 75, 60, 0])


@pytest.mark.parametrize("text,key", [
    ('extends = "guangxi"\n', "extends"),
    ('[scoring]\nreverse_formula = "exp"\n', "scoring.reverse_formula"),
    ('[scoring]\nreverse_zero_at = 1\n', "scoring.reverse_zero_at"),
    ('[scoring]\nforward_rate_cap = 0.9\n', "scoring.forward_rate_cap"),
    ("[scoring.total_cap]\nbelow = [0.7, 0.8]\ncaps = [79, 89]\n", "scoring.total_cap"),
    ("[scoring.total_cap]\nbelow = [0.8]\ncaps = []\n", "scoring.total_cap"),
    ('[scoring.deviation]\nthreshold = -0.3\n', "scoring.deviation"),
    ('[qualitative.tiers]\n"达成" = [1.0, 0.8]\n', "qualitative.tiers.达成"),
    ('[qualitative.levels]\n"达成" = "优秀@top"\n', "qualitative.levels.达成"),
    ('[scoring.deviation]\nlimit = 3\n', "scoring.deviation.limit"),
])
def test_a_malformed_setting_is_exit_2_naming_the_key(tmp_path, text, key):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=key.replace(".", r"\.")):
        load_rules(f)
    r = CliRunner().invoke(app, ["rules", "--rules", str(f)])
    assert r.exit_code == 2 and key in r.output and "Traceback" not in r.output


def test_rules_command_lists_and_prints_profiles():
    runner = CliRunner()
    listed = runner.invoke(app, ["rules", "--list"])
    assert listed.exit_code == 0 and [line.split()[0] for line in listed.output.splitlines()] == ["national", "deployed", "hubei"]
    shown = runner.invoke(app, ["rules", "deployed"])
    assert shown.exit_code == 0 and "出处" in shown.output and 'reverse_formula = "linear"' in shown.output
    assert runner.invoke(app, ["rules", "guangxi"]).exit_code == 2


def test_each_profile_has_its_own_digest():
    assert len({r.digest for r in (NATIONAL, HUBEI, DEPLOYED)}) == 3


# --- comparing two rule sets ------------------------------------------------------------------


def test_compare_rules_differences_are_the_two_runs_subtracted(tmp_path):
    from evalbatch.samples.format1 import write_samples
    from evalbatch.samples.official import write_official_samples

    inbox = tmp_path / "in"
    write_samples(inbox, 6, seed=2)
    write_official_samples(inbox, 2, seed=2)
    out = tmp_path / "对比.xlsx"
    r = CliRunner().invoke(app, ["compare-rules", str(inbox), "--rules", "national", "--rules", "deployed", "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_excel(out, sheet_name="单位对比", dtype={"单位编码": str}, engine="calamine")
    files = discover(inbox).files
    a = evaluate(files, NATIONAL).depts.set_index("dept_code")["total"]
    b = evaluate(discover(inbox).files, DEPLOYED).depts.set_index("dept_code")["total"]
    expected = (b - a).round(2)
    diff = got.set_index("单位编码")["差异（乙－甲）"]
    assert diff.sort_index().fillna(-1).tolist() == expected.reindex(diff.index).sort_index().fillna(-1).tolist()
    assert (diff.dropna() != 0).any()
    projects = pd.read_excel(out, sheet_name="项目对比", engine="calamine")
    assert len(projects) == len(evaluate(discover(inbox).files, NATIONAL).projects)

"""Rules settings and their units: every setting says its unit, `evalbatch rules` shows it,
a value written in the wrong unit is refused with the value meant, and the default
绩效与预算执行不匹配 threshold is the one docs/scoring.md measures."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import evaluate
from evalbatch.read.discover import discover
from evalbatch.rules import load_rules
from evalbatch.samples.format1 import write_samples
from evalbatch.samples.official import write_official_samples

ROOT = Path(__file__).resolve().parents[1]
SCORING = ROOT / "docs" / "scoring.md"


def rules_with(tmp_path: Path, text: str):
    f = tmp_path / "r.toml"
    f.write_text(text, encoding="utf-8")
    return CliRunner().invoke(app, ["rules", "--rules", str(f)]), f


@pytest.mark.parametrize("text,meant", [
    ("[checks]\nmismatch_threshold = 5\n",
     "checks.mismatch_threshold 是比例（0.25 即 25%），不能大于 1，实际为 5；如果指的是百分数，请写 mismatch_threshold = 0.05"),
    ("[scoring.deviation]\nthreshold = 30\n",
     "scoring.deviation.threshold 是比例（0.25 即 25%），不能大于 1，实际为 30；如果指的是百分数，请写 threshold = 0.3"),
    ("[scoring.total_cap]\nbelow = [80, 70]\ncaps = [89, 79]\n",
     "scoring.total_cap.below 是比例（0.25 即 25%），不能大于 1，实际为 [80, 70]；如果指的是百分数，请写 below = [0.8, 0.7]"),
    ("[checks]\ntolerance = 500\n",
     "checks.tolerance 的单位是万元，500 万元远超要比较的金额；如果指的是 500 元，请写 tolerance = 0.05"),
])
def test_a_value_in_the_wrong_unit_is_exit_2_with_the_value_meant(tmp_path, text, meant):
    r, f = rules_with(tmp_path, text)
    assert r.exit_code == 2
    assert r.output.strip() == f"规则错误：规则 {f}：{meant}"


@pytest.mark.parametrize("text", ["[checks]\nmismatch_threshold = 1\n", "[checks]\ntolerance = 100\n",
                                  "[scoring.deviation]\nthreshold = 0.3\n"])
def test_values_in_range_are_accepted(tmp_path, text):
    assert rules_with(tmp_path, text)[0].exit_code == 0


def test_template_rows_must_add_up_to_the_total(tmp_path):
    r, f = rules_with(tmp_path, '[template]\ndepartment_indicators = [["产出指标", "数量指标", "办件量", "正向比例", 70, "≥100件"]]\n')
    assert r.exit_code == 2
    assert r.output.strip() == (f"规则错误：规则 {f}：template.department_indicators 的分值合计 70 加上 scoring.auto_weights 的 25 共 95 分，"
                                "应等于 scoring.department_total（100 分）；请调整分值")


def test_template_rows_name_a_method_a_department_can_use(tmp_path):
    r, f = rules_with(tmp_path, '[template]\ndepartment_indicators = [["产出指标", "数量指标", "办件量", "预算执行率", 75, ""]]\n')
    assert r.exit_code == 2 and "第 1 行应为 [一级指标, 二级指标, 三级指标, 计分方法, 分值, 指标值]" in r.output


def test_rules_command_shows_each_setting_with_its_unit():
    r = CliRunner().invoke(app, ["rules"])
    assert r.exit_code == 0
    body = r.output.split("\n", 1)[1]
    assert tomllib.loads(body) == load_rules().data  # the comments change nothing
    lines = body.splitlines()
    assert "# 金额勾稽容差（万元）：差额不超过容差记“尾差”提示，超过记警告。0.01 万元即 100 元；大于 100 万元的值会报错" in lines
    assert "tolerance = 0.01  # 单位：万元" in lines
    assert "mismatch_threshold = 0.25  # 单位：比例（相对幅度，0.25 即 25%）" in lines
    numbers = [line for line in lines if re.match(r'^("[^"]+"|\w+) = (-?[\d.]+|\[[\d., -]*\])(\s|$)', line)]
    assert len(numbers) > 30
    assert [line for line in numbers if "# 单位：" not in line] == []


def test_rules_command_names_the_default_of_a_changed_setting(tmp_path):
    r, _ = rules_with(tmp_path, "[checks]\ntolerance = 0.05\n")
    assert "tolerance = 0.05  # 单位：万元；默认值为 0.01" in r.output.splitlines()


def test_profile_is_shown_with_the_default_comments():
    out = CliRunner().invoke(app, ["rules", "hubei"]).output
    assert "project_execution_weight = 20  # 单位：分；默认值为 10" in out.splitlines()


# --- the default threshold of 绩效与预算执行不匹配, measured (docs/scoring.md) ---------------

THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.50, 1.00)


def measured_table(folder: Path) -> tuple[str, int]:
    """docs/scoring.md's table of projects flagged at each threshold, and the findings at the default."""
    result = evaluate(discover(folder, 0).files, load_rules(), year=2021, jobs=1)
    p = result.projects[result.projects["exec_rate"].notna()]
    share = p["ind_score"] / p["indicator_total"]  # as checks.exec_mismatch compares them
    warnings = result.findings[result.findings["level"] == "警告"]
    others = int((warnings["rule_id"] != "score.exec_mismatch").sum())
    rows = ["| 阈值 | 标记的项目 | 占项目 | 占全部警告 |", "|---|---|---|---|"]
    for t in THRESHOLDS:
        n = int((share > p["exec_rate"] * (1 + t)).sum())
        rows.append(f"| {t:.2f} | {n} / {len(p)} | {n / len(p):.1%} | {n / (n + others):.1%} |")
    return "\n".join(rows), int((result.findings["rule_id"] == "score.exec_mismatch").sum())


@pytest.fixture(scope="module")
def samples_200(tmp_path_factory) -> Path:
    """`evalbatch sample --layout mixed --count 200` (seed 1, 2021), as docs/scoring.md says."""
    folder = tmp_path_factory.mktemp("samples200")
    write_samples(folder, 100, seed=1, year=2021)
    write_official_samples(folder, 100, seed=1, year=2021)
    return folder


def test_default_threshold_numbers_are_the_documented_ones(samples_200):
    table, flagged = measured_table(samples_200)
    assert table in SCORING.read_text(encoding="utf-8"), f"docs/scoring.md should hold:\n{table}"
    at_default = next(line for line in table.splitlines() if line.startswith(f"| {load_rules().mismatch_threshold:.2f} |"))
    assert at_default.split(" | ")[1].split(" / ")[0] == str(flagged)  # the check flags exactly what was measured
    share = float(at_default.split(" | ")[3].rstrip("% |"))
    assert share < 50, "the warning must mark the unusual, not the majority"

"""The reference case (docs/reference-case.md) gives exactly its published results."""

import pytest
from builders import reference, write

from evalbatch.judge.evaluate import check_paths
from evalbatch.samples.reference import PROJECT_CODE


@pytest.fixture(scope="module")
def result(tmp_path_factory, ):
    from evalbatch.rules import load_rules

    path = write(tmp_path_factory.mktemp("ref"), reference(), "620101.xlsx")
    return check_paths([path], load_rules(), year=2021)


def test_department_rates_and_total(result):
    d = result.depts.iloc[0]
    assert [d[f"rate_{i}"] for i in range(6)] == [0.5943, 0.9949, 0.2135, 0.6858, 9.3736, 0.8875]
    assert d["total"] == 90.56
    assert d["self_total"] == 90.56
    assert d["diff"] == 0
    assert d["grade"] == "优"
    assert d["rank"] == 1 and d["cat_rank"] == 1


def test_department_row_scores(result):
    own = result.indicators[result.indicators["project_code"] == ""]
    assert own["score"].tolist()[:6] == [5.94, 2.98, 0.64, 3.0, 0.0, 3.0]
    assert own["score"].sum() == pytest.approx(90.56)
    by_level = own.groupby("l1", sort=False)["score"].sum().round(2).to_dict()
    assert by_level == {"预算执行率": 5.94, "部门管理": 24.62, "履职效果": 39.0, "能力建设": 15.0, "服务对象满意度": 6.0}


def test_project(result):
    p = result.projects.iloc[0]
    assert p["project_code"] == PROJECT_CODE
    assert p["exec_rate"] == 0.768
    assert p["exec_score"] == 7.68
    assert p["ind_score"] == 89.2
    assert p["total"] == 96.88
    assert p["grade"] == "优"
    row = result.indicators[result.indicators["l3"] == "形成调研报告数量"].iloc[0]
    assert row["rate"] == 0.7333 and row["score"] == 2.2


def test_exactly_the_three_expected_findings(result):
    f = result.findings
    got = sorted(zip(f["level"], f["rule"], f["sheet"], f["cell"]))
    assert got == sorted([
        ("提示", "尾差", "基本信息", "B16"),
        ("提示", "尾差", "项目", "E2"),
        ("警告", "绩效与预算执行不匹配", "项目", "E2"),
    ])
    assert "1,458.05" in f.loc[f["cell"] == "B16", "message"].iloc[0]
    assert "245.76" in f.loc[(f["rule"] == "尾差") & (f["sheet"] == "项目"), "message"].iloc[0]
    assert not (f["level"] == "错误").any()
    assert result.error_files == 0

"""The analysts' workbook: 统计分析 with charts, 汇总排名 polish, 变动情况 across runs,
feedback files and the run history, from real runs."""

import re
import zipfile

import openpyxl
import pytest
from builders import dept, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.night.runner import run
from evalbatch.rules import load_rules

QUALITATIVE = ("财务管理制度健全性", "资金使用规范性", "政府采购规范性", "资产管理规范性", "重点工作管理制度健全性")


def weak(code, name, category):
    """69.56: five 定性 rows of 部门管理 not achieved (−15) and no satisfaction (−6)."""
    data = dept(code, name, "0%", category)
    for row in data["indicators"]:
        if row["l3"] in QUALITATIVE:
            row["actual"], row["self_score"], row["reason"] = "未完成", 0, "制度尚在修订"
    data["indicators"][-1]["self_score"] = 0
    data["info"]["self_total"] = 69.56
    return data


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    write(src, dept("000001", "甲单位"), "a.xlsx")                           # 90.56 优
    write(src, dept("000002", "乙单位", "86.13%", self_total=90), "b.xlsx")   # 90.00 优
    write(src, dept("000003", "丙单位", "85.975%", "政府部门", self_total=89.99), "c.xlsx")  # 89.99 良
    write(src, dept("000004", "丁单位", "0%", "政府部门", self_total=84.56), "d.xlsx")       # 84.56 良
    write(src, dept("000005", "戊单位", category="事业单位", year=2020), "e.xlsx")  # wrong year: 未评级
    write(src, weak("000006", "己单位", "事业单位"), "f.xlsx")                 # 69.56 中
    out = tmp_path_factory.mktemp("out")
    return src, out, run(src, out, 2021, load_rules(), settle=0)


def rows(path, sheet):
    return [r for r in openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True)]


def block(sheet_rows, title):
    """The table under `title` on a sheet of titled blocks: header + rows up to a blank row."""
    i = next(k for k, r in enumerate(sheet_rows) if r[0] == title)
    head = [h for h in sheet_rows[i + 1] if h is not None]
    body = []
    for r in sheet_rows[i + 2 :]:
        if all(v is None for v in r):
            break
        body.append(list(r[: len(head)]))
    return head, body


def test_grade_counts_and_shares(first):
    head, body = block(rows(first[2].workbook, "统计分析"), "评价等级分布（按单位类别）")
    assert head == ["类别", "单位数", "优", "良", "中", "差", "优占比", "良占比", "中占比", "差占比"]
    assert body == [
        ["事业单位", 1, 0, 0, 1, 0, 0, 0, 1, 0],
        ["党委部门", 2, 2, 0, 0, 0, 1, 0, 0, 0],
        ["政府部门", 2, 0, 2, 0, 0, 0, 1, 0, 0],
        ["合计", 5, 2, 2, 1, 0, 0.4, 0.4, 0.2, 0],
    ]


def test_score_bands_execution_and_level1_averages(first):
    sheet = rows(first[2].workbook, "统计分析")
    _, hist = block(sheet, "复核得分分布（每 5 分一档，从有单位的最低一档起）")
    # From the lowest band that holds a department to 95–100 (issue 20): no empty bands below.
    assert hist == [["65–70", 1], ["70–75", 0], ["75–80", 0], ["80–85", 1], ["85–90", 1], ["90–95", 2], ["95–100", 0]]
    _, execution = block(sheet, "预算执行率分布")
    assert {band: n for band, n in execution if n} == {"50%–60%": 5}
    head, level1 = block(sheet, "一级指标平均得分（整体指标）")
    assert head == ["一级指标", "单位数", "平均分值", "平均得分", "得分率"]
    by = {r[0]: r[1:] for r in level1}
    assert by["预算执行率"] == [5, 10, 5.94, pytest.approx(0.594)]
    assert by["部门管理"] == [5, 30, 21.62, pytest.approx(21.62 / 30)]
    assert by["服务对象满意度"] == [5, 6, 3.37, pytest.approx(3.374 / 6)]


def test_top_and_bottom_ten(first):
    sheet = rows(first[2].workbook, "统计分析")
    _, top = block(sheet, "复核得分前十名")
    _, bottom = block(sheet, "复核得分后十名")
    assert [(r[1], r[2], r[3], r[4]) for r in top] == [
        (1, "000001", 90.56, "优"), (2, "000002", 90.0, "优"), (3, "000003", 89.99, "良"),
        (4, "000004", 84.56, "良"), (5, "000006", 69.56, "中")]
    assert [r[2] for r in bottom] == ["000006", "000004", "000003", "000002", "000001"]
    assert top[0][0] == "甲单位" and top[0][5] == "党委部门"


def test_native_charts_beside_the_tables(first):
    with zipfile.ZipFile(first[2].workbook) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = {n: z.read(n).decode() for n in charts}
        book = z.read("xl/workbook.xml").decode()
        sheet_no = re.findall(r'<sheet name="([^"]+)"', book).index("统计分析") + 1
        rels = z.read(f"xl/worksheets/_rels/sheet{sheet_no}.xml.rels").decode()
    assert len(charts) == 4 and "drawing" in rels
    kinds = sorted(("scatter" if "<c:scatterChart>" in x else re.search(r'<c:barDir val="(\w+)"', x).group(1)
                    + ("-stacked" if '<c:grouping val="stacked"' in x else "")) for x in xml.values())
    assert kinds == ["bar-stacked", "col", "scatter", "scatter"]
    scatter, projects = (x for x in xml.values() if "<c:scatterChart>" in x)
    # 预算执行率 is N: after 抽评得分, 最终得分 (issue 11) and 预算数, 执行数 (issue 14).
    assert "汇总排名!$N$2:$N$6" in scatter and "汇总排名!$F$2:$F$6" in scatter
    # Issue 20: every project's 执行率 (G) against its 复核得分 (J), six projects
    assert "项目汇总!$G$2:$G$7" in projects and "项目汇总!$J$2:$J$7" in projects


def test_summary_formats_and_totals_row(first):
    ws = openpyxl.load_workbook(first[2].workbook)["汇总排名"]
    rules = {(str(rng.sqref), r.type, r.operator) for rng in ws.conditional_formatting for r in rng.rules}
    assert ("J2:J7", "dataBar", None) in rules  # on 最终得分, the column the ranking uses (issue 20)
    assert ("H2:H7", "cellIs", "notBetween") in rules
    assert ("K2:K7", "cellIs", "equal") in rules  # grade colours (after 抽评得分 and 最终得分, issue 11)
    data = list(ws.iter_rows(values_only=True))
    head, total, average = data[0], dict(zip(data[0], data[8])), dict(zip(data[0], data[9]))
    assert data[7] == (None,) * len(head)
    # Issue 14: 合计 sums (counts, money) and never averages scores; 平均 holds the averages.
    assert total["单位名称"] == "合计：6 个单位，5 个参评"
    assert total["复核得分"] is None and total["错误数"] == 1
    assert average["单位名称"] == "平均：5 个参评单位"
    assert average["复核得分"] == 84.93  # (90.56 + 90.00 + 89.99 + 84.56 + 69.56) ÷ 5 = 84.934
    assert ws["D9"].font.b and ws["D10"].font.b


def test_top_deductions_name_three_with_points(first):
    data = list(openpyxl.load_workbook(first[2].workbook)["汇总排名"].iter_rows(values_only=True))
    row = dict(zip(data[0], next(r for r in data if r[2] == "000006")))
    # Equal deductions keep the order of the department's own sheet.
    assert row["主要扣分项"] == "服务对象满意度 −6.00；预算执行率 −4.06；结转结余变动率 −3.00"


def test_changes_between_two_runs_name_exactly_the_changed_department(first, tmp_path):
    src, out, before = first
    sheet = rows(before.workbook, "变动情况")
    assert sheet[0][0].startswith("本年度尚无可比较的上次运行")
    write(src, dept("000004", "丁单位", "90%", "政府部门", self_total=89.68), "d.xlsx")  # 84.56 → 90.24
    after = run(src, out, 2021, load_rules(), settle=0)
    head, body = block(rows(after.workbook, "变动情况"), "与上次运行相比的变动（1 个单位）")
    got = dict(zip(head, body[0]))
    assert len(body) == 1
    assert (got["变动"], got["单位编码"], got["原得分"], got["新得分"], got["文件是否变化"]) == ("变化", "000004", 84.56, 90.24, "是")
    runs = CliRunner().invoke(app, ["history", str(out)])
    assert runs.exit_code == 0 and runs.output.count("2021") >= 2
    from evalbatch.write.history import db_path_for, list_runs

    assert list_runs(db_path_for(out))["运行编号"].tolist() == [1, 2]


def test_run_with_feedback_and_history_export(tmp_path):
    src = tmp_path / "in"
    write(src, dept("000001", "甲单位"), "a.xlsx")
    write(src, dept("000002", "../../逃逸:单位"), "b.xlsx")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--year", "2021", "--settle", "0", "--feedback", "--quiet"])
    assert r.exit_code == 0, r.output
    made = sorted(p.relative_to(out).as_posix() for p in (out / "feedback").rglob("*.xlsx"))
    assert made == ["feedback/000001_甲单位_复核结果.xlsx", "feedback/000002_逃逸_单位_复核结果.xlsx"]
    export = tmp_path / "h.xlsx"
    r = CliRunner().invoke(app, ["history", str(out), "--dept", "000001", "-o", str(export)])
    assert r.exit_code == 0
    data = list(openpyxl.load_workbook(export).active.iter_rows(values_only=True))
    assert data[0][:5] == ("运行编号", "开始时间", "年度", "单位名称", "复核得分") and data[1][4] == 90.56

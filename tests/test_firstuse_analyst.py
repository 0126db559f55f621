"""Issue 20, the analyst: the consolidated workbook as first use finds it."""

from __future__ import annotations

import math

import openpyxl
import pytest
import xlsxwriter
from builders import dept, reference, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write.columns import SUMMARY
from evalbatch.write.report import Formats, write_foot


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    write(src, reference(), "620101.xlsx")
    write(src, reference(dept_code="620102", dept_name="第二个单位"), "620102.xlsx")
    return run(src, tmp_path_factory.mktemp("out"), 2021, load_rules(), settle=0)


# --- 9. the data bar follows the score the ranking uses --------------------------------------

def test_data_bar_is_on_the_ranking_column(outcome):
    ws = openpyxl.load_workbook(outcome.workbook)["汇总排名"]
    header = [c.value for c in ws[1]]
    letter = openpyxl.utils.get_column_letter(header.index("最终得分") + 1)
    bars = [str(cf.sqref) for cf in ws.conditional_formatting if any(r.type == "dataBar" for r in cf.rules)]
    assert bars == [f"{letter}2:{letter}3"]


# --- 13. the 平均 row keeps an average count's decimals --------------------------------------

def test_average_of_a_count_keeps_its_decimals(tmp_path):
    path = tmp_path / "foot.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("汇总排名")
    write_foot(ws, Formats(wb), SUMMARY, 1, [{"project_count": 23}, {"project_count": 2.875, "errors": 0}])
    wb.close()
    sheet = openpyxl.load_workbook(path)["汇总排名"]
    at = [c.source for c in SUMMARY].index("project_count") + 1
    total, average = sheet.cell(2, at), sheet.cell(3, at)
    assert (total.value, total.number_format) == (23, "0")
    assert (average.value, average.number_format) == (2.875, "0.00")


# --- 10. every printed sheet has a title, the rules and the date -----------------------------

def test_every_sheet_prints_a_title_the_rules_and_the_date(outcome):
    import re
    import zipfile

    with zipfile.ZipFile(outcome.workbook) as z:
        sheets = [n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
        headers = [re.search(r"<oddHeader>(.*?)</oddHeader>", z.read(n).decode("utf-8")) for n in sheets]
    wb = openpyxl.load_workbook(outcome.workbook)
    info = {r[0]: r[1] for r in wb["运行信息"].iter_rows(values_only=True) if r[0]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", info["运行时间"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", info["完成时间"])
    assert len(headers) == len(wb.sheetnames) and all(headers)
    for h in headers:
        assert f"&amp;C&amp;B2021 年度部门整体支出绩效自评复核排名&amp;R默认规则（national）  {info['运行时间']}" in h.group(1)


# --- 11. columns sized from the data -----------------------------------------------------------

def test_long_codes_widen_their_column_bounded():
    import pandas as pd

    from evalbatch.write import printing
    from evalbatch.write.columns import PROJECTS
    from evalbatch.write.report import MAX_FITTED_WIDTH, fit_widths

    code = "34170222R000000001137-01"  # a budget system's project code: 24 characters
    df = pd.DataFrame({"project_code": [code, "620101-2021-01"], "dept_code": ["620101", "620102"],
                       "project_name": ["名" * 200, "短"]})
    before = {c.source: c.width for c in PROJECTS}
    after = {c.source: c.width for c in fit_widths(PROJECTS, df)}
    assert after["project_code"] == math.ceil(printing.text_width(code)) + 2 > before["project_code"]
    assert after["dept_code"] == before["dept_code"]  # never narrower than its own
    assert after["project_name"] == before["project_name"]  # wrapped text keeps its width
    huge = pd.DataFrame({"project_code": ["X" * 500]})
    assert {c.source: c.width for c in fit_widths(PROJECTS, huge)}["project_code"] == MAX_FITTED_WIDTH


def test_workbook_project_code_column_fits_the_code(outcome):
    from evalbatch.write import printing

    ws = openpyxl.load_workbook(outcome.workbook)["项目汇总"]
    header = [c.value for c in ws[1]]
    letter = openpyxl.utils.get_column_letter(header.index("项目编码") + 1)
    assert ws.column_dimensions[letter].width >= printing.text_width("620101-2021-01") + 2


# --- 14. 项目汇总 carries 单位类别, the mismatch flag and the department's reason ---------------

def test_projects_sheet_has_category_mismatch_and_reason(outcome):
    ws = openpyxl.load_workbook(outcome.workbook)["项目汇总"]
    rows = list(ws.iter_rows(values_only=True))
    head = list(rows[0])
    assert head[:3] == ["单位编码", "单位名称", "项目编码"] and head[-3:] == ["单位类别", "绩效与执行", "原因说明"]
    got = [dict(zip(head, r)) for r in rows[1:3]]
    # the reference project: indicators 99.11 % against execution 76.80 % (no reason given)
    assert [(p["单位编码"], p["单位类别"], p["绩效与执行"], p["原因说明"]) for p in got] == [
        ("620101", "党委部门", "不匹配", None), ("620102", "党委部门", "不匹配", None)]


# --- 12. 同比: this year beside last year, from the run history -------------------------------

@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    """2020: 甲 84.56, 乙 90.56, 丙 90.00, 戊 90.56, 己 90.56. 2021: 甲 90.56 (up), 乙 84.56 (down),
    丙 90.00 (same), 丁 89.99 (new), 己 87.72 (satisfaction 50 % of ≥95 %: 3.16 of 6); 戊 gone."""
    out, last, this = (tmp_path_factory.mktemp(n) for n in ("out", "2020", "2021"))
    write(last, dept("000001", "甲单位", "0%", year=2020), "a.xlsx")
    write(last, dept("000002", "乙单位", year=2020), "b.xlsx")
    write(last, dept("000003", "丙单位", "86.13%", year=2020), "c.xlsx")
    write(last, dept("000005", "戊单位", year=2020), "e.xlsx")
    write(last, dept("000006", "己单位", category="事业单位", year=2020), "f.xlsx")
    run(last, out, 2020, load_rules(), settle=0)
    write(this, dept("000001", "甲单位"), "a.xlsx")
    write(this, dept("000002", "乙单位", "0%"), "b.xlsx")
    write(this, dept("000003", "丙单位", "86.13%"), "c.xlsx")
    write(this, dept("000004", "丁单位", "85.975%", "政府部门"), "d.xlsx")
    write(this, dept("000006", "己单位", "50%", category="事业单位"), "f.xlsx")
    return run(this, out, 2021, load_rules(), settle=0)


def test_year_over_year_sheet_puts_each_unit_beside_last_year(two_years):
    wb = openpyxl.load_workbook(two_years.workbook)
    assert wb.sheetnames[-3:] == ["变动情况", "同比", "运行信息"]
    ws = wb["同比"]
    rows = [r[:12] for r in ws.iter_rows(max_row=7, values_only=True)]
    assert rows == [
        ("单位编码", "单位名称", "单位类别", "上年最终得分", "本年最终得分", "得分变化", "上年等级", "本年等级",
         "上年排名", "本年排名", "排名变化", "同比情况"),
        # this year's ranking; 2020's three at 90.56 shared rank 1
        ("000001", "甲单位", "党委部门", 84.56, 90.56, 6, "良", "优", 5, 1, 4, "上升"),
        ("000003", "丙单位", "党委部门", 90, 90, 0, "优", "优", 4, 2, 2, "持平"),
        ("000004", "丁单位", "政府部门", None, 89.99, None, None, "良", None, 3, None, "本年新增"),
        ("000006", "己单位", "事业单位", 90.56, 87.72, -2.84, "优", "良", 1, 4, -3, "下降"),
        ("000002", "乙单位", "党委部门", 90.56, 84.56, -6, "优", "良", 1, 5, -4, "下降"),
        ("000005", "戊单位", "党委部门", 90.56, None, None, "优", None, 1, None, None, "本年没有"),  # gone: last
    ]
    assert ws.max_row == 28  # nothing below the table but the chart's figures
    assert (ws["A2"].data_type, ws["F2"].number_format, ws["J2"].number_format) == ("s", "0.00", "0")
    assert ws["N1"].value == "2021 年与 2020 年同比"
    assert ws["N2"].value == ("2021 年 5 个单位，2020 年 5 个单位；两年都有 4 个（按最终得分：上升 1 个、下降 2 个、持平 1 个）；"
                              "本年新增 1 个，上年有、本年没有 1 个")
    assert (ws.freeze_panes, ws.auto_filter.ref, ws.print_area, ws.print_title_rows) == ("C2", "A1:L7", "'同比'!$A$1:$L$7", "$1:$1")
    rules = {(str(rng.sqref), r.operator, r.formula[0] if r.formula else None) for rng in ws.conditional_formatting for r in rng.rules}
    assert {("F2:F7", "greaterThan", "0"), ("F2:F7", "lessThan", "0"), ("K2:K7", "greaterThan", "0"),
            ("K2:K7", "lessThan", "0"), ("L2:L7", "equal", '"本年新增"')} <= rules


def test_year_over_year_chart_shows_the_largest_changes(two_years):
    ws = openpyxl.load_workbook(two_years.workbook)["同比"]
    figures = [r[13:15] for r in ws.iter_rows(min_row=24, max_row=28, values_only=True)]
    assert figures == [("得分变化最大的 3 个单位（图表数据）", None), ("单位名称", "得分变化"),
                       ("甲单位", 6), ("己单位", -2.84), ("乙单位", -6)]  # 丙 did not move: not drawn
    (chart,) = ws._charts
    assert (type(chart).__name__, chart.type, chart.barDir) == ("BarChart", "bar", "bar")
    assert (chart.anchor._from.col, chart.anchor._from.row) == (13, 3)  # N4, beside the table
    (series,) = chart.series
    assert (series.cat.strRef.f, series.val.numRef.f) == ("同比!$N$26:$N$28", "同比!$O$26:$O$28")
    # a rise green, a fall red, point by point
    assert [p.spPr.solidFill.srgbClr for p in series.dPt] == ["70AD47", "C00000", "C00000"]
    assert chart.title.tx.rich.p[0].r[0].t == "最终得分变化最大的 3 个单位（2021 年 − 2020 年）"


def test_no_year_over_year_sheet_without_last_year(outcome):
    wb = openpyxl.load_workbook(outcome.workbook)
    assert "同比" not in wb.sheetnames
    rows = [r[0] for r in wb["变动情况"].iter_rows(values_only=True)]
    assert rows[-1] == "运行历史中没有上一年度的评分运行，因此没有“同比”工作表"


# --- 13. 平均 and 统计分析 ----------------------------------------------------------------------

def test_average_row_counts_projects_to_two_decimals():
    import pandas as pd

    from evalbatch.judge.analysis import summary_average

    depts = pd.DataFrame({"grade": ["优"] * 8, "total": [90.0] * 8, "project_count": [3, 3, 2, 3, 3, 3, 3, 3]})
    assert summary_average(depts, load_rules())["project_count"] == 2.88  # 23 ÷ 8 = 2.875, half up


@pytest.fixture(scope="module")
def with_unranked(tmp_path_factory):
    """2022: 甲 90.56, 丙 90.00, 乙 84.56, and 棠溪镇's project form alone (未评级（仅项目自评）, no rank)."""
    import test_official as O

    from evalbatch.samples.official import write_xlsx

    src = tmp_path_factory.mktemp("in")
    write(src, dept("000001", "甲单位", year=2022), "a.xlsx")
    write(src, dept("000002", "乙单位", "0%", year=2022), "b.xlsx")
    write(src, dept("000003", "丙单位", "86.13%", year=2022), "c.xlsx")
    write_xlsx({"项目支出绩效自评表": O.form_a()}, src / "棠溪镇.xlsx")
    return run(src, tmp_path_factory.mktemp("out"), 2022, load_rules(), settle=0)


def _blocks(ws) -> dict[str, tuple[int, list]]:
    """统计分析's titled blocks: title → (its 0-based row, its data rows)."""
    rows = list(ws.iter_rows(values_only=True))
    out = {}
    for i, r in enumerate(rows):
        if isinstance(r[0], str) and r[1] is None and i + 1 < len(rows) and rows[i + 1][0] is not None:
            body = []
            for data in rows[i + 2:]:
                if data[0] is None:
                    break
                body.append(data)
            out[r[0]] = (i, body)
    return out


def test_analysis_lists_ranked_units_only_and_fits_its_charts(with_unranked):
    ws = openpyxl.load_workbook(with_unranked.workbook)["统计分析"]
    blocks = _blocks(ws)
    top_row, top = blocks["复核得分前十名"]
    _, bottom = blocks["复核得分后十名"]
    assert [(r[1], r[2], r[3]) for r in top] == [(1, "000001", 90.56), (2, "000003", 90), (3, "000002", 84.56)]
    assert [(r[1], r[2], r[3]) for r in bottom] == [(3, "000002", 84.56), (2, "000003", 90), (1, "000001", 90.56)]
    _, hist = blocks["复核得分分布（每 5 分一档，从有单位的最低一档起）"]
    assert [r[:2] for r in hist] == [("80–85", 1), ("85–90", 0), ("90–95", 2), ("95–100", 0)]
    bar, column, scatter, projects = ws._charts
    assert [(c.anchor._from.row, c.anchor._from.col) for c in ws._charts] == [(1, 11), (19, 11), (top_row, 11), (top_row + 18, 11)]
    assert (column.series[0].cat.strRef.f, column.series[0].val.numRef.f) == ("统计分析!$A$8:$A$11", "统计分析!$B$8:$B$11")
    (points,) = scatter.series  # the three ranked units, the first rows of 汇总排名; the y axis fitted to 84.56–90.56
    assert (points.xVal.numRef.f, points.yVal.numRef.f) == ("汇总排名!$N$2:$N$4", "汇总排名!$F$2:$F$4")
    assert (scatter.y_axis.scaling.min, scatter.y_axis.scaling.max, scatter.y_axis.majorUnit) == (80, 95, 5)
    # 14: every project's 执行率 against its 复核得分, below it: three at 76.80 % → 96.88 and 棠溪镇's 80 % → 96.64
    (points,) = projects.series
    assert (points.xVal.numRef.f, points.yVal.numRef.f) == ("项目汇总!$G$2:$G$5", "项目汇总!$J$2:$J$5")
    assert (projects.y_axis.scaling.min, projects.y_axis.scaling.max, projects.x_axis.scaling.min) == (95, 100, 0)
    assert projects.title.tx.rich.p[0].r[0].t == "项目执行率与复核得分"


def test_analysis_prints_its_tables_whole_with_rule_names(with_unranked):
    import re

    ws = openpyxl.load_workbook(with_unranked.workbook)["统计分析"]
    blocks = _blocks(ws)
    rules_title = next(t for t in blocks if t.startswith("审核问题按规则统计"))
    # The ranking tables start a page (below the first two charts), and so does the rules table.
    assert [b.id for b in ws.row_breaks.brk] == [blocks["复核得分前十名"][0], blocks[rules_title][0]]
    assert blocks["复核得分前十名"][0] >= 37
    assert [c.value for c in ws[blocks[rules_title][0] + 2]][:6] == ["规则", "级别", "问题数", "涉及文件数", "占全部问题", None]
    ids = [v for row in ws.iter_rows(values_only=True) for v in row if isinstance(v, str) and re.fullmatch(r"[a-z]+\.[a-z_]+", v)]
    assert ids == []


@pytest.mark.libreoffice
def test_analysis_prints_on_three_pages(with_unranked, tmp_path):
    from faults import have_libreoffice
    from pdfpages import page_count, render_pdf, sheet_alone

    if not have_libreoffice():
        pytest.skip("LibreOffice (soffice) is not installed")
    alone = sheet_alone(with_unranked.workbook, "统计分析", tmp_path / "统计分析.xlsx")
    # distributions and two charts; 前十名 and 后十名 beside the scatter; the findings by rule
    assert page_count(render_pdf(alone, tmp_path / "pdf")) == 3

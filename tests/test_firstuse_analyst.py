"""Issue 20, the analyst: the consolidated workbook as first use finds it."""

from __future__ import annotations

import math

import openpyxl
import pytest
import xlsxwriter
from builders import reference, write

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

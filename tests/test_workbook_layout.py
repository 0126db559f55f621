"""The analyst's workbook (issue 14, point 5): what stays in view, how every sheet prints, and
汇总排名's 合计 and 平均 rows, checked with exact figures worked out by hand from a small folder.

The folder: 甲, 乙, 丙 carry the reference case's money (预算 1465.6 + 1541.6 = 3007.2, 执行
1458.06 + 329.2 = 1787.26); 丁 has 1000 + 1000 and 1000 + 500; 戊 (wrong year: an 错误,
unranked) 500 + 500 and 400 + 100; broken.xlsx is no workbook.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from builders import dept, write
from faults import have_libreoffice
from pdfpages import page_count, render_pdf, sheet_alone

from evalbatch.findings import RULES
from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write import printing

MONEY_D = {"basic_budget": 1000, "basic_spent": 1000, "personnel_spent": 600, "operating_spent": 400,
           "project_budget": 1000, "project_spent": 500, "self_total": 93}
MONEY_E = {"basic_budget": 500, "basic_spent": 400, "personnel_spent": 300, "operating_spent": 100,
           "project_budget": 500, "project_spent": 100, "year": 2020}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    write(src, dept("000001", "甲单位"), "a.xlsx")                        # 90.56
    write(src, dept("000002", "乙单位", "86.13%"), "b.xlsx")               # 90.00 (自评 90.56)
    write(src, dept("000003", "丙单位", carryover_begin=0), "c.xlsx")      # 90.56; 结转结余变动率 blank
    write(src, dept("000004", "丁单位", **MONEY_D), "d.xlsx")              # 93.00: 7.50 + 3.00 + 1.50 for execution
    write(src, dept("000005", "戊单位", **MONEY_E), "e.xlsx")              # 评价年度 2020: unranked
    (src / "broken.xlsx").write_bytes(b"not a workbook")
    out = tmp_path_factory.mktemp("out")
    return run(src, out, 2021, load_rules(), settle=0)


def _book(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():  # openpyxl does not keep data bars' extensions: not what is tested here
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def _rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def _foot(night) -> tuple[dict, dict]:
    rows = _rows(_book(night.workbook)["汇总排名"])
    head = rows[0]
    assert rows[6] == (None,) * len(head)  # a blank row between the table and its foot
    return dict(zip(head, rows[7])), dict(zip(head, rows[8]))


def test_totals_row_sums_money_and_counts_and_takes_rates_from_the_sums(night):
    total, _ = _foot(night)
    assert total["单位名称"] == "合计：5 个单位，4 个参评"
    assert total["预算数（万元）"] == 12021.6  # 3 × 3007.2 + 2000 + 1000
    assert total["执行数（万元）"] == 7361.78  # 3 × 1787.26 + 1500 + 500
    assert total["预算执行率"] == 0.6124  # 7361.78 ÷ 12021.6, not an average of rates
    assert total["基本支出执行率"] == 0.9792  # (3 × 1458.06 + 1000 + 400) ÷ (3 × 1465.6 + 1000 + 500)
    assert total["项目支出执行率"] == 0.2592  # (3 × 329.2 + 500 + 100) ÷ (3 × 1541.6 + 1000 + 500)
    assert total["三公经费控制率"] == 0.6858  # 5 × 16.59 ÷ (5 × 24.19)
    assert total["结转结余变动率"] == 11.967  # (5 × 1219.94 − 4 × 117.6 − 0) ÷ (4 × 117.6)
    assert total["在职人员控制率"] == 0.8875  # 5 × 71 ÷ (5 × 80)
    assert total["项目数"] == 5 and total["错误数"] == 1
    ws_rows = _rows(_book(night.workbook)["汇总排名"])
    assert total["警告数"] == sum(r[ws_rows[0].index("警告数")] for r in ws_rows[1:6])
    for score in ("复核得分", "自评得分", "得分差异", "最终得分", "项目平均得分"):
        assert total[score] is None, score  # scores are averaged on 平均, never summed


def test_average_row_holds_plain_averages_of_the_ranked(night):
    _, average = _foot(night)
    assert average["单位名称"] == "平均：4 个参评单位"  # 戊 (an 错误) moves no average
    assert average["复核得分"] == 91.03  # (90.56 + 90.00 + 90.56 + 93.00) ÷ 4
    assert average["自评得分"] == 91.17  # (3 × 90.56 + 93) ÷ 4
    assert average["得分差异"] == 0.14  # (0 + 0.56 + 0 + 0) ÷ 4
    assert average["预算数（万元）"] == 2755.4  # (3 × 3007.2 + 2000) ÷ 4
    assert average["执行数（万元）"] == 1715.45  # (3 × 1787.26 + 1500) ÷ 4 = 1715.445
    assert average["预算执行率"] == 0.6332  # (3 × 0.5943 + 0.75) ÷ 4 = 0.633225
    assert average["基本支出执行率"] == 0.9962  # (3 × 0.9949 + 1) ÷ 4
    assert average["项目支出执行率"] == 0.2851  # (3 × 0.2135 + 0.5) ÷ 4 = 0.285125
    assert average["结转结余变动率"] == 9.3736  # 丙's is blank (年初结转结余 0): the other three
    assert average["项目数"] == 1 and average["项目平均得分"] == 96.88
    assert average["错误数"] is None and average["警告数"] is None


def test_each_department_shows_its_budget_and_spending(night):
    rows = _rows(_book(night.workbook)["汇总排名"])
    by_code = {r[2]: dict(zip(rows[0], r)) for r in rows[1:6]}
    assert (by_code["000004"]["预算数（万元）"], by_code["000004"]["执行数（万元）"], by_code["000004"]["预算执行率"]) == (2000, 1500, 0.75)
    assert by_code["000004"]["复核得分"] == 93 and by_code["000005"]["排名"] is None
    assert (by_code["000001"]["预算数（万元）"], by_code["000001"]["执行数（万元）"]) == (3007.2, 1787.26)


def test_project_summary_has_a_total_row(night):
    rows = _rows(_book(night.workbook)["项目汇总"])
    head, total = rows[0], dict(zip(rows[0], rows[-1]))
    assert rows[-2] == (None,) * len(head)
    assert total["项目名称"] == "合计：5 个项目"
    assert (total["全年预算数"], total["全年执行数"], total["执行率"]) == (1600, 1228.85, 0.768)  # 5 × 245.77 ÷ (5 × 320)
    assert total["复核得分"] is None


def test_first_columns_and_header_stay_in_view_codes_are_text(night):
    wb = _book(night.workbook)
    assert [wb[s].freeze_panes for s in ("汇总排名", "指标得分", "项目汇总", "审核问题")] == ["E2", "D2", "D2", "A2"]
    ws = wb["汇总排名"]
    head = [c.value for c in ws[1]]
    code, rank = ws.cell(2, head.index("单位编码") + 1), ws.cell(2, head.index("排名") + 1)
    assert code.value == "000004" and code.data_type == "s"  # 丁, 93.00, first
    assert code.alignment.horizontal == "left" and code.alignment.indent == 1
    assert rank.value == 1 and rank.alignment.horizontal == "center"


def _print_setup(ws) -> tuple:
    ps = ws.page_setup
    return ps.paperSize, ps.orientation, ws.sheet_properties.pageSetUpPr.fitToPage, ps.fitToWidth or 1, ps.fitToHeight


def test_every_sheet_prints_one_page_wide_with_its_header(night):
    wb = _book(night.workbook)
    A3, A4 = printing.A3, printing.A4
    expected = {  # paper, orientation, fit to page, pages wide, pages high (0: as many as needed)
        "汇总排名": (A3, "landscape", True, 1, 0),
        "统计分析": (A3, "landscape", True, 1, 0),
        "指标得分": (A3, "landscape", True, 1, 0),
        "项目汇总": (A3, "landscape", True, 1, 0),
        "审核问题": (A4, "landscape", True, 1, 0),
        "变动情况": (A4, "landscape", True, 1, 0),
        "运行信息": (A4, "portrait", True, 1, None),  # None: 1, Excel's default, left out of the file
    }
    assert wb.sheetnames == list(expected)
    for ws in wb:
        assert _print_setup(ws) == expected[ws.title], ws.title
        assert "&P" in ws.oddFooter.right.text and ws.oddFooter.left.text == "&A", ws.title
    tables = ("汇总排名", "指标得分", "项目汇总", "审核问题")
    assert all(wb[s].print_title_rows == "$1:$1" for s in tables)
    assert all(wb[s].print_options.gridLines for s in tables)
    # Columns for looking up, not for paper: 文件 (汇总排名's last, 审核问题's first) and 规则编号.
    assert wb["汇总排名"].print_area == "'汇总排名'!$A$1:$AA$9"  # AA: 表式 (issue 18), before 文件
    assert wb["审核问题"].print_area.startswith("'审核问题'!$B$1:$H$")
    # 运行信息: its labels and values, on one page; the list of input files below is not printed.
    pairs = [r for r in _rows(wb["运行信息"]) if r[0]]
    end = next(i for i, r in enumerate(_rows(wb["运行信息"])) if r[0] is None)
    assert wb["运行信息"].print_area == f"'运行信息'!$A$1:$B${end}" and pairs[0][0] == "运行时间"


def test_a_long_detail_sheet_says_how_to_print_part_of_it(night):
    wb = _book(night.workbook)
    assert len(_rows(wb["指标得分"])) > 100
    assert "筛选" in wb["指标得分"].oddHeader.left.text and "共 300 行" in wb["指标得分"].oddHeader.left.text
    assert not wb["汇总排名"].oddHeader.left.text


def test_wrapped_text_gets_room(night):
    wb = _book(night.workbook)
    ws = wb["汇总排名"]
    head = [c.value for c in ws[1]]
    top = ws.cell(2, head.index("主要扣分项") + 1).value
    # Heights are stored in whole pixels: within 0.75 points of what was asked.
    assert printing.text_lines(top, 50) == 2 and ws.row_dimensions[2].height == pytest.approx(printing.row_height(top, 50), abs=0.75)
    ws = wb["审核问题"]
    for r in range(2, ws.max_row + 1):
        text = ws.cell(r, 8).value or ""
        lines = printing.text_lines(text, 80)
        assert (ws.row_dimensions[r].height or 0) == pytest.approx(printing.row_height(text, 80) if lines > 1 else 0, abs=0.75), r


def test_findings_counted_by_rule_serious_first(night):
    rows = _rows(_book(night.workbook)["统计分析"])
    i = next(k for k, r in enumerate(rows) if str(r[0]).startswith("审核问题按规则统计"))
    head = rows[i + 1][:6]
    # The rule by its Chinese name only (issue 20): no id such as score.exec_mismatch on the sheet.
    assert head == ("规则", "级别", "问题数", "涉及文件数", "占全部问题", None)
    body = [dict(zip(head, r[:5])) for r in rows[i + 2 :] if r[0]]
    findings = night.result.findings
    assert sum(b["问题数"] for b in body) == len(findings)
    assert [b["级别"] for b in body] == sorted((b["级别"] for b in body), key=["错误", "警告", "提示"].index)
    id_of = {title: rule_id for rule_id, (_, title) in RULES.items()}  # titles are unique
    for b in body:
        b["规则编号"] = id_of[b["规则"]]
    by_rule = {b["规则编号"]: b for b in body}
    assert (by_rule["file.not_spreadsheet"]["级别"], by_rule["file.not_spreadsheet"]["问题数"]) == ("错误", 1)
    assert by_rule["value.year"]["问题数"] == 1 and by_rule["score.zero_denominator"]["涉及文件数"] == 1
    for b in body:
        assert b["问题数"] == int((findings["rule_id"] == b["规则编号"]).sum())
        assert b["占全部问题"] == pytest.approx(b["问题数"] / len(findings))


def test_no_nan_no_formula_in_the_foot_rows(night):
    with zipfile.ZipFile(night.workbook) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and not re.search(r"<v>(nan|inf|-inf)</v>", xml, re.I)


@pytest.mark.libreoffice
@pytest.mark.skipif(not have_libreoffice(), reason="LibreOffice (soffice) is not installed; install libreoffice-calc-nogui to render the workbook")
def test_printed_by_libreoffice_the_pages_are_sensible(night, tmp_path):
    whole = render_pdf(night.workbook, tmp_path / "whole")
    # 5 departments: 汇总排名 1, 统计分析 1–2, 指标得分 (300 rows) a few, the rest one each.
    assert 7 <= page_count(whole) <= 16
    for sheet, most in (("汇总排名", 1), ("运行信息", 1), ("项目汇总", 1), ("审核问题", 3)):
        alone = render_pdf(sheet_alone(night.workbook, sheet, tmp_path / f"{sheet}.xlsx"), tmp_path / sheet)
        assert 1 <= page_count(alone) <= most, sheet

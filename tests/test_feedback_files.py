"""Feedback that says exactly what to fix (issue 14, point 4): every finding points at the
figure that is wrong, every department that sent anything gets a feedback file (also when
its file could not be read), feedback files are named as such, and each sheet prints well."""

from __future__ import annotations

import warnings
from pathlib import Path

import openpyxl
import pytest
from builders import dept, write
from faults import have_libreoffice
from pdfpages import page_count, render_pdf, sheet_alone

from evalbatch.night.runner import run
from evalbatch.read.fileids import FROM_NAME, ids_from_name
from evalbatch.rules import load_rules
from evalbatch.write import printing
from evalbatch.write.feedback import FEEDBACK_DIR, RESUBMIT

CORRUPT = "620101_省委编办.xlsx"  # not a workbook, and no department 620101 sent anything else
NO_CODE = "broken.xlsx"  # a truncated zip, its name says nothing of whose it is
ARCHIVE = "000001_甲单位_附件.zip"  # refused unread; 000001 also sent a good file


def _zero_target():
    data = dept("000004", "丁单位")
    data["indicators"][11]["target"] = "≥0场次"  # 会议培训次数, 正向比例: 整体指标 row 13, 指标值 in column F
    return data


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    write(src, dept("000001", "甲单位"), "000001_甲单位.xlsx")
    write(src, dept("000002", "乙单位", carryover_begin=0), "000002_乙单位.xlsx")  # 年初结转结余 B12
    write(src, dept("000003", "丙单位", project_budget=0), "000003_丙单位.xlsx")  # 项目支出预算数 B19
    write(src, _zero_target(), "000004_丁单位.xlsx")
    (src / CORRUPT).write_bytes(b"not a workbook")
    (src / NO_CODE).write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (src / ARCHIVE).write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    out = tmp_path_factory.mktemp("out")
    outcome = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    return {"src": src, "out": out, "outcome": outcome, "folder": out / FEEDBACK_DIR}


def _book(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def _table(path: Path, sheet: str) -> list[dict]:
    rows = list(_book(path)[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _summary(path: Path) -> list[tuple]:
    return [r[:2] for r in _book(path)["评价结果"].iter_rows(min_row=2, values_only=True)]


def _zero(path: Path) -> list[dict]:
    return [r for r in _table(path, "审核问题") if r["规则"] == "分母为零"]


def test_a_zero_carryover_points_at_basic_info_b12(night):
    (found,) = _zero(night["folder"] / "000002_乙单位_复核结果.xlsx")
    assert (found["工作表"], found["单元格"], found["级别"]) == ("基本信息", "B12", "警告")
    assert "基本信息" in found["说明"] and "“年初结转结余”（B12）为 0" in found["说明"]
    assert "结转结余变动率" in found["说明"] and "请核对年初结转结余" in found["说明"]
    rows = _table(night["outcome"].workbook, "审核问题")
    assert [(r["单位编码"], r["工作表"], r["单元格"]) for r in rows if r["规则"] == "分母为零" and r["单位编码"] == "000002"] == \
        [("000002", "基本信息", "B12")]


def test_a_zero_project_budget_points_at_its_cell(night):
    (found,) = _zero(night["folder"] / "000003_丙单位_复核结果.xlsx")
    assert (found["工作表"], found["单元格"]) == ("基本信息", "B19")
    assert "“项目支出预算数”（B19）为 0" in found["说明"] and "项目支出执行率" in found["说明"]
    assert "请填写项目支出预算数" in found["说明"]


def test_a_zero_target_points_at_the_target_cell(night):
    (found,) = _zero(night["folder"] / "000004_丁单位_复核结果.xlsx")
    assert (found["工作表"], found["单元格"]) == ("整体指标", "F13")
    assert found["说明"].startswith("「会议培训次数」的指标值“≥0场次”为 0") and "请填写实际的目标值" in found["说明"]


def test_every_sender_gets_a_feedback_file_named_as_feedback(night):
    names = sorted(p.name for p in night["folder"].iterdir())
    assert names == ["000001_甲单位_复核结果.xlsx", "000002_乙单位_复核结果.xlsx", "000003_丙单位_复核结果.xlsx",
                     "000004_丁单位_复核结果.xlsx", "620101_省委编办_复核结果.xlsx", "broken_复核结果.xlsx"]
    submitted = {p.name for p in night["src"].iterdir()}
    assert not submitted & set(names)


def test_a_corrupt_file_gets_feedback_that_says_so(night):
    path = night["folder"] / "620101_省委编办_复核结果.xlsx"
    assert _book(path).sheetnames == ["评价结果", "审核问题"]
    summary = dict((k, v) for k, v in _summary(path) if k)
    assert summary["单位"] == f"省委编办{FROM_NAME}" and summary["单位编码"] == f"620101{FROM_NAME}"
    assert summary["提交文件"] == CORRUPT
    assert summary["处理结果"].startswith("提交的文件无法读取，本次没有复核评分")
    assert summary["问题"].startswith(f"{CORRUPT}：") and "不是 Excel" in summary["问题"]
    how = [v for k, v in _summary(path)[_summary(path).index(("怎样重新提交", RESUBMIT[0])):]][: len(RESUBMIT)]
    assert how == RESUBMIT
    (finding,) = _table(path, "审核问题")
    assert (finding["文件"], finding["级别"], finding["规则"]) == (CORRUPT, "错误", "不是电子表格")


def test_unreadable_files_carry_code_and_name_from_their_names_marked(night):
    rows = _table(night["outcome"].workbook, "审核问题")
    by_file = {r["文件"]: r for r in rows if r["文件"] in (CORRUPT, NO_CODE, ARCHIVE)}
    assert (by_file[CORRUPT]["单位编码"], by_file[CORRUPT]["单位名称"]) == ("620101", f"省委编办{FROM_NAME}")
    assert (by_file[ARCHIVE]["单位编码"], by_file[ARCHIVE]["单位名称"]) == ("000001", f"甲单位{FROM_NAME}")
    assert not by_file[NO_CODE]["单位编码"] and not by_file[NO_CODE]["单位名称"]
    summary = dict((k, v) for k, v in _summary(night["folder"] / "broken_复核结果.xlsx") if k)
    assert summary["单位"].startswith("（文件名中没有单位编码") and summary["提交文件"] == NO_CODE
    assert "损坏" in summary["问题"] or "不完整" in summary["问题"]


def test_an_unreadable_file_of_a_known_department_is_in_its_feedback(night):
    rows = _table(night["folder"] / "000001_甲单位_复核结果.xlsx", "审核问题")
    assert [(r["文件"], r["规则"]) for r in rows if r["级别"] == "错误"] == [(ARCHIVE, "压缩包")]


def _print_setup(ws) -> tuple:
    ps = ws.page_setup
    return ps.paperSize, ps.orientation, ws.sheet_properties.pageSetUpPr.fitToPage, ps.fitToWidth or 1, ps.fitToHeight


def test_every_feedback_sheet_prints_one_page_wide(night):
    wb = _book(night["folder"] / "000002_乙单位_复核结果.xlsx")
    A3, A4 = printing.A3, printing.A4
    expected = {
        "评价结果": (A4, "portrait", True, 1, None),  # one page: None is 1, Excel's default, left out of the file
        "指标复核": (A3, "landscape", True, 1, 0),
        "项目": (A4, "landscape", True, 1, 0),
        "审核问题": (A4, "landscape", True, 1, 0),
    }
    assert wb.sheetnames == list(expected)
    for ws in wb:
        assert _print_setup(ws) == expected[ws.title], ws.title
        assert ws.print_title_rows == "$1:$1" and ws.oddFooter.left.text == "&A" and "&P" in ws.oddFooter.right.text
    assert wb["审核问题"].print_area.startswith("'审核问题'!$A$1:$F$")  # 文件 printed; 规则编号 not
    unread = _book(night["folder"] / "620101_省委编办_复核结果.xlsx")
    assert [_print_setup(ws) for ws in unread] == [expected["评价结果"], expected["审核问题"]]


def test_wrapped_lines_of_the_result_sheet_get_room(night):
    ws = _book(night["folder"] / "620101_省委编办_复核结果.xlsx")["评价结果"]
    for r in range(2, ws.max_row + 1):
        text = str(ws.cell(r, 2).value or "")
        if printing.text_lines(text, 90) > 1:
            assert ws.row_dimensions[r].height == pytest.approx(printing.row_height(text, 90), abs=0.75), r


@pytest.mark.libreoffice
@pytest.mark.skipif(not have_libreoffice(), reason="LibreOffice (soffice) is not installed; install libreoffice-calc-nogui to render feedback files")
def test_printed_by_libreoffice_each_feedback_is_a_few_pages(night, tmp_path):
    path = night["folder"] / "000002_乙单位_复核结果.xlsx"
    assert 4 <= page_count(render_pdf(path, tmp_path / "whole")) <= 6  # 评价结果 1, 指标复核 1–2, 项目 1, 审核问题 1–2
    alone = render_pdf(sheet_alone(path, "评价结果", tmp_path / "result.xlsx"), tmp_path / "result")
    assert page_count(alone) == 1
    assert page_count(render_pdf(night["folder"] / "620101_省委编办_复核结果.xlsx", tmp_path / "unread")) == 2


@pytest.mark.parametrize("name, expected", [
    ("620101_省委编办.xlsx", ("620101", "省委编办")),
    ("620101省委编办.xlsx", ("620101", "省委编办")),
    ("620101 省委编办 2021年自评.xlsx", ("620101", "省委编办")),
    ("620101-2021年自评.xlsx", ("620101", "")),
    ("620101.xlsx", ("620101", "")),
    ("６２０１０１－财政厅.xls", ("620101", "财政厅")),  # full-width digits and dash
    ("620101_省委编办/自评表.xlsx", ("620101", "省委编办")),  # the folder's name, when the file's says nothing
    ("2021年自评表.xlsx", ("", "")),  # a year is no code
    ("2021_自评.xlsx", ("", "")),
    ("12_单位.xlsx", ("", "")),  # too short for a code
    ("broken.xlsx", ("", "")),
    ("文件夹/", ("", "")),
])
def test_ids_from_file_names(name, expected):
    assert ids_from_name(name) == expected

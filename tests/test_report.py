"""The consolidated workbook, read back as analysts' tools would read it."""

import math
import shutil
import subprocess

import openpyxl
import pytest
from builders import reference, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    write(src, reference(), "620101.xlsx")
    hostile = reference(dept_code="000777", dept_name='=HYPERLINK("http://x.example","点我")', sangong_budget=0,
                        sangong_spent=0, car_spent=0, reception_spent=0)
    hostile["indicators"][10]["l3"] = "=1+1"
    hostile["indicators"][11]["actual"] = "@SUM(A1)"
    hostile["projects"][0]["project_name"] = "http://example.com/项目"
    write(src, hostile, "000777.xlsx")
    (src / "broken.xlsx").write_bytes(b"not a workbook")
    out = tmp_path_factory.mktemp("out")
    outcome = run(src, out, 2021, load_rules(), settle=0)
    return outcome


def _sheet(path, name):
    ws = openpyxl.load_workbook(path)[name]
    rows = list(ws.iter_rows(values_only=True))
    return ws, rows[0], rows[1:]


def test_sheets_and_headers(workbook):
    wb = openpyxl.load_workbook(workbook.workbook)
    assert wb.sheetnames == ["汇总排名", "统计分析", "指标得分", "项目汇总", "审核问题", "变动情况", "运行信息"]
    _, head, _ = _sheet(workbook.workbook, "汇总排名")
    # 抽评得分 and 最终得分 (issue 11): the ranking is by 最终得分, which is 复核得分 where nothing was re-reviewed.
    # 预算数 and 执行数 (issue 14): each department's money, before the rates computed from it.
    # 抽评项目数 and 项目抽评平均变化 (issue 20): the unit's projects a review scored, and by how much.
    assert list(head[:26]) == ["排名", "类别排名", "单位编码", "单位名称", "单位类别", "复核得分", "自评得分", "得分差异",
                               "抽评得分", "最终得分", "评价等级", "预算数（万元）", "执行数（万元）",
                               "预算执行率", "基本支出执行率", "项目支出执行率", "三公经费控制率", "结转结余变动率",
                               "在职人员控制率", "项目数", "项目平均得分", "抽评项目数", "项目抽评平均变化", "错误数", "警告数",
                               "主要扣分项"]
    _, head, _ = _sheet(workbook.workbook, "审核问题")
    assert list(head[:8]) == ["文件", "单位编码", "单位名称", "工作表", "单元格", "级别", "规则", "说明"]
    _, head, _ = _sheet(workbook.workbook, "项目汇总")
    # 单位类别, 绩效与执行 and 原因说明: issue 20
    assert list(head) == ["单位编码", "单位名称", "项目编码", "项目名称", "全年预算数", "全年执行数", "执行率", "执行率得分",
                          "指标得分", "复核得分", "自评得分", "得分差异", "抽评得分", "最终得分", "评价等级", "排名", "部门内排名",
                          "单位类别", "绩效与执行", "原因说明"]


def test_exact_values_and_formats(workbook):
    ws, head, rows = _sheet(workbook.workbook, "汇总排名")
    ref = dict(zip(head, next(r for r in rows if r[2] == "620101")))
    assert ref["复核得分"] == 90.56 and ref["评价等级"] == "优" and ref["排名"] == 1
    assert [ref[k] for k in ("预算执行率", "基本支出执行率", "项目支出执行率", "三公经费控制率", "结转结余变动率", "在职人员控制率")] == \
        [0.5943, 0.9949, 0.2135, 0.6858, 9.3736, 0.8875]
    assert ws.cell(2, head.index("预算执行率") + 1).number_format == "0.00%"
    assert ws.cell(2, head.index("复核得分") + 1).number_format == "0.00"
    assert ws.freeze_panes == "E2" and ws.auto_filter.ref  # 排名 to 单位名称 stay in view (issue 14)
    _, head, rows = _sheet(workbook.workbook, "项目汇总")
    p = dict(zip(head, next(r for r in rows if r[0] == "620101")))
    assert (p["执行率"], p["执行率得分"], p["指标得分"], p["复核得分"], p["评价等级"]) == (0.768, 7.68, 89.2, 96.88, "优")


def test_text_from_submissions_stays_text(workbook):
    wb = openpyxl.load_workbook(workbook.workbook)
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [c for c in cells if c.data_type == "f"], "no formula anywhere"
    names = [c for c in cells if c.value == '=HYPERLINK("http://x.example","点我")']
    assert names and all(c.data_type == "s" for c in names)
    assert any(c.value == "=1+1" and c.data_type == "s" for c in cells)
    assert any(c.value == "@SUM(A1)" for c in cells)
    assert not any(ws._hyperlinks for ws in wb)


def test_zero_denominator_is_a_blank_cell_never_inf_or_nan(workbook):
    _, head, rows = _sheet(workbook.workbook, "汇总排名")
    hostile = dict(zip(head, next(r for r in rows if r[2] == "000777")))
    assert hostile["三公经费控制率"] is None
    wb = openpyxl.load_workbook(workbook.workbook)
    for ws in wb:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                assert not (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))
                assert v not in ("nan", "inf", "NaN", "<NA>")


def test_findings_sheet_names_the_broken_file(workbook):
    _, head, rows = _sheet(workbook.workbook, "审核问题")
    broken = [dict(zip(head, r)) for r in rows if r[0] == "broken.xlsx"]
    assert [(b["级别"], b["规则"]) for b in broken] == [("错误", "不是电子表格")]
    assert workbook.exit_code == 1


def test_run_info_lists_files_with_hashes(workbook):
    ws, _, rows = _sheet(workbook.workbook, "运行信息")
    values = {r[0]: r[1] for r in rows if r and r[0]}
    assert values["发现文件数"] == "3" and values["无法使用文件数"] == "1"
    hashes = [r[3] for r in rows if r and r[0] in ("620101.xlsx", "000777.xlsx", "broken.xlsx")]
    assert len(hashes) == 3 and all(len(h) == 64 for h in hashes)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed; .ci/run installs libreoffice-calc-nogui")
def test_libreoffice_opens_it(workbook, tmp_path):
    proc = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "pdf", "--outdir",
         str(tmp_path), str(workbook.workbook)],
        capture_output=True, timeout=180)
    pdf = tmp_path / (workbook.workbook.stem + ".pdf")
    assert proc.returncode == 0, proc.stderr
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000

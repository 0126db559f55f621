"""Scale limits: tables past Excel's row limit continue on numbered sheets, and streamed
(constant_memory) workbooks hold exactly what the in-memory ones hold."""

import openpyxl
import pytest
from builders import dept, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write import report


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    for i in range(3):
        write(src, dept(f"{i:06d}", f"单位{i}"), f"{i}.xlsx")
    return run(src, tmp_path_factory.mktemp("out"), 2021, load_rules(), settle=0)


def values(path, sheet):
    return [r for r in openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True)]


def test_excel_limit_is_the_default():
    assert report.EXCEL_MAX_ROWS == 1_048_576


def test_long_table_continues_on_numbered_sheets(outcome, tmp_path):
    path = report.write_workbook(outcome.result, tmp_path / "split.xlsx", max_rows=50)  # 49 data rows a sheet
    names = openpyxl.load_workbook(path).sheetnames
    assert [n for n in names if n.startswith("指标得分")] == ["指标得分", "指标得分_2", "指标得分_3", "指标得分_4"]
    parts = [values(path, n) for n in ("指标得分", "指标得分_2", "指标得分_3", "指标得分_4")]
    assert all(p[0] == parts[0][0] for p in parts), "every part has the header"
    assert [len(p) - 1 for p in parts] == [49, 49, 49, 33]
    whole = values(outcome.workbook, "指标得分")
    assert [r for p in parts for r in p[1:]] == whole[1:]


def test_streamed_workbook_equals_the_in_memory_one(outcome, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "CONSTANT_MEMORY_ROWS", 0)
    streamed = report.write_workbook(outcome.result, tmp_path / "streamed.xlsx")
    a, b = openpyxl.load_workbook(streamed), openpyxl.load_workbook(outcome.workbook)
    assert a.sheetnames == b.sheetnames
    for name in a.sheetnames:
        if name in ("运行信息", "变动情况"):
            continue  # times and the history differ between the two writes
        assert list(a[name].iter_rows(values_only=True)) == list(b[name].iter_rows(values_only=True)), name


def test_a_refused_write_is_an_error_not_a_silent_loss(tmp_path):
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    ws = wb.add_worksheet("t")
    with pytest.raises(report.WriteError, match="写入工作表 t 第 1048578 行失败"):
        report.write_rows(ws, 1_048_577, [("太多",)])
    wb.close()


def test_rows_converted_block_by_block_are_the_same(outcome, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROW_BLOCK", 7)
    blocks = report.write_workbook(outcome.result, tmp_path / "blocks.xlsx")
    assert values(blocks, "指标得分") == values(outcome.workbook, "指标得分")

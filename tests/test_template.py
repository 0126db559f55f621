"""The blank template: what a department gets from `evalbatch template`."""

import re
from pathlib import Path

import openpyxl
import pytest

from evalbatch import schema as S
from evalbatch.batch import check_paths
from evalbatch.rules import load_rules
from evalbatch.template import TEMPLATE_FILE_NAME, write_submission

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "input_templates" / TEMPLATE_FILE_NAME
SHARED_DOCS = ROOT.parent / "shared" / "docs"


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    return write_submission(tmp_path_factory.mktemp("tpl") / "t.xlsx")


def test_committed_template_is_in_sync(blank):
    # Byte-stable output (fixed creation time) makes this an exact comparison.
    assert COMMITTED.read_bytes() == blank.read_bytes(), "run `make template` and commit input_templates/"


def test_sheets_headers_and_labels(blank):
    wb = openpyxl.load_workbook(blank)
    assert wb.sheetnames == [s.name for s in S.SHEETS]
    info = wb[S.INFO_SHEET]
    assert [c.value for c in info[1]] == list(S.INFO_HEADER)
    assert [info.cell(r, 1).value for r in range(2, 2 + len(S.FIELDS))] == [f.label for f in S.FIELDS]
    assert all(info.cell(r, 3).value for r in range(2, 2 + len(S.FIELDS))), "every field has a hint"
    for sheet in S.SHEETS:
        if sheet.kind == "table":
            ws = wb[sheet.name]
            assert [c.value for c in ws[1]] == list(S.headers_of(sheet.name))
            assert ws.freeze_panes == "A2"
    assert info["B2"].value == "1"


def test_code_cells_are_text_and_money_formatted(blank):
    wb = openpyxl.load_workbook(blank)
    info = wb[S.INFO_SHEET]
    row = {f.key: i + 2 for i, f in enumerate(S.FIELDS)}
    assert info.cell(row["dept_code"], 2).number_format == "@"
    assert info.cell(row["basic_spent"], 2).number_format == "#,##0.00"
    assert wb["项目"].column_dimensions["A"].width > 0


def test_dropdowns(blank):
    wb = openpyxl.load_workbook(blank)

    def lists(ws):
        return {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}

    assert lists(wb[S.INFO_SHEET]) == {"B6": '"' + ",".join(S.DEPT_CATEGORIES) + '"'}
    assert lists(wb["整体指标"]) == {"D2:D2001": '"' + ",".join(S.METHODS) + '"'}
    assert lists(wb["项目指标"]) == {"E2:E2001": '"' + ",".join(S.METHODS) + '"'}
    assert lists(wb["项目"]) == {"G2:G2001": '"优,良,中,差"'}


def test_automatic_rows_prefilled(blank):
    ws = openpyxl.load_workbook(blank)["整体指标"]
    rows = [tuple(c.value for c in r[:5]) for r in ws.iter_rows(min_row=2, max_row=7)]
    assert [(m, w) for *_, m, w in rows] == [("预算执行率", 10), ("基本支出执行率", 3), ("项目支出执行率", 3),
                                              ("三公经费控制率", 3), ("结转结余变动率", 3), ("在职人员控制率", 3)]


def test_instructions_explain_every_sheet_and_method(blank):
    ws = openpyxl.load_workbook(blank)["填报说明"]
    text = "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)
    for sheet in S.SHEETS[1:]:
        assert f"工作表「{sheet.name}」" in text
    for method in S.METHODS:
        assert f"计分方法「{method}」" in text
    assert re.search(r"基本达成/[^得]*较好[^得]* 得 80%", text)


def test_year_prefilled(tmp_path):
    ws = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx", year=2022))[S.INFO_SHEET]
    assert ws["B3"].value == 2022


def test_blank_template_reads_with_required_field_errors_only(blank):
    result = check_paths([blank], load_rules())
    f = result.findings
    assert set(f.loc[f["level"] == "错误", "rule_id"]) == {"value.required"}
    assert f.loc[f["level"] != "错误", "rule_id"].tolist() == ["weight.total"]  # 6 rows of 25 points


@pytest.mark.skipif(not (SHARED_DOCS / "template.md").exists(), reason="shared/docs/template.md is not beside the project")
def test_schema_agrees_with_the_contract():
    doc = (SHARED_DOCS / "template.md").read_text(encoding="utf-8")
    rows = [line.split("|") for line in doc.splitlines() if line.startswith("| ") and "|" in line[2:]]
    fields = {cells[1].strip(): cells[2].strip() for cells in rows if len(cells) > 5 and cells[2].strip().isidentifier()}
    fields.pop("项目 (label)", None)
    assert fields == {f.label: f.key for f in S.FIELDS}
    for word in S.DEPT_CATEGORIES:
        assert word in doc
    for sheet in S.SHEETS:
        if sheet.kind == "table":
            assert " | ".join(S.headers_of(sheet.name)) in doc.replace("`", "")

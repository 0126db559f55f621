"""The blank template: what a department gets from `evalbatch template`."""

import re
from pathlib import Path

import openpyxl
import pytest
from builders import reference, write

from evalbatch import schema as S
from evalbatch.judge.evaluate import check_paths
from evalbatch.rules import load_rules
from evalbatch.write import printing
from evalbatch.write.template import TEMPLATE_FILE_NAME, write_submission

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "input_templates" / TEMPLATE_FILE_NAME
CONTRACT = ROOT / "docs" / "template.md"


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


THREE_GRADES = '[grades]\nnames = ["优秀", "合格", "不合格"]\nlower_bounds = [90, 60, 0]\n'


def test_grade_dropdown_and_reader_follow_the_rules_in_force(tmp_path):
    rules_file = tmp_path / "r.toml"
    rules_file.write_text(THREE_GRADES, encoding="utf-8")
    rules = load_rules(rules_file)
    wb = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx", rules=rules))
    dv = next(dv for dv in wb["项目"].data_validations.dataValidation if dv.type == "list")
    assert (str(dv.sqref), dv.formula1, dv.error) == ("G2:G2001", '"优秀,合格,不合格"', "自评等级只能填写：优秀、合格、不合格")
    assert "优秀：90 分及以上；合格：60 分至不满 90 分；不合格：不满 60 分" in _text(wb["填报说明"])

    data = reference()
    data["projects"][0]["self_grade"] = "优秀"
    ok = check_paths([write(tmp_path, data, "ok.xlsx")], rules).findings
    assert "value.enum" not in set(ok["rule_id"])
    data["projects"][0]["self_grade"] = "优"
    bad = check_paths([write(tmp_path, data, "bad.xlsx")], rules).findings
    assert bad.loc[bad["rule_id"] == "value.enum", "message"].tolist() == ["「自评等级」填写的“优”不在可选范围内；只能填写：优秀、合格、不合格"]


def _text(ws) -> str:
    return "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)


# Sheet → orientation: every sheet fits one page width, the wide ones landscape.
PRINT = {"填报说明": "portrait", "基本信息": "portrait", "整体指标": "landscape", "项目": "landscape", "项目指标": "landscape",
         "项目支出明细": "portrait"}


def test_every_sheet_prints_on_one_page_width(blank):
    wb = openpyxl.load_workbook(blank)
    assert set(PRINT) == set(wb.sheetnames)
    for ws in wb:
        ps = ws.page_setup
        assert (ws.title, ps.orientation, ps.paperSize) == (ws.title, PRINT[ws.title], 9)  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        # fitToWidth is left out of the file when it is 1 (its default); 0 pages high = as many as needed.
        assert (ps.fitToWidth or 1, ps.fitToHeight) == (1, 0)
        assert ws.print_title_rows == (None if ws.title == "填报说明" else "$1:$1")
        assert (ws.oddFooter.left.text, ws.oddFooter.right.text) == ("&A", "第 &P 页，共 &N 页")  # sheet name, page numbers


def test_instruction_rows_are_tall_enough_for_their_text(blank):
    """Every row's height is set for its wrapped text (LibreOffice would show one line and print the next row over it)."""
    ws = openpyxl.load_workbook(blank)["填报说明"]
    width = ws.column_dimensions["B"].width
    heights = {row[1].value: ws.row_dimensions[row[0].row].height for row in ws.iter_rows(min_row=3)}
    # Heights are stored in whole pixels (0.75 point steps).
    assert heights == {text: pytest.approx(printing.row_height(text or "", width, 11), abs=0.75) for text in heights}
    assert max(heights.values()) == heights[next(t for t in heights if t and t.startswith("实际值填等级词"))] > 3 * printing.LINE_POINTS


def test_automatic_rows_prefilled(blank):
    ws = openpyxl.load_workbook(blank)["整体指标"]
    rows = [tuple(c.value for c in r[:5]) for r in ws.iter_rows(min_row=2, max_row=7)]
    assert [(m, w) for *_, m, w in rows] == [("预算执行率", 10), ("基本支出执行率", 3), ("项目支出执行率", 3),
                                              ("三公经费控制率", 3), ("结转结余变动率", 3), ("在职人员控制率", 3)]


def test_common_indicators_prefilled_from_the_rules_adding_up_to_100(blank):
    ws = openpyxl.load_workbook(blank)["整体指标"]
    rows = [tuple(c.value for c in r[:6]) for r in ws.iter_rows(min_row=8) if r[0].value is not None]
    assert rows == [(r["l1"], r["l2"], r["l3"], r["method"], r["weight"], r["target"]) for r in load_rules().template_indicators]
    assert {r[0] for r in rows} == {"部门管理", "产出指标", "效益指标", "满意度指标"}
    assert sum(r[4] for r in rows) == 75
    weights = [r[4].value for r in ws.iter_rows(min_row=2) if r[4].value is not None]
    assert sum(weights) == 100 and len(weights) == 16


def test_common_indicators_follow_a_rules_file(tmp_path):
    rules_file = tmp_path / "r.toml"
    rules_file.write_text('[template]\ndepartment_indicators = [["履职效果", "部门履职目标", "办件量", "正向比例", 75, "≥100件"]]\n',
                          encoding="utf-8")
    ws = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx", rules=load_rules(rules_file)))["整体指标"]
    assert [c.value for c in ws[8][:6]] == ["履职效果", "部门履职目标", "办件量", "正向比例", 75, "≥100件"]
    assert ws["A9"].value is None


def test_instructions_explain_every_sheet_and_method(blank):
    text = _text(openpyxl.load_workbook(blank)["填报说明"])
    for sheet in S.SHEETS[1:]:
        assert f"工作表「{sheet.name}」" in text
    for method in S.METHODS:
        assert f"计分方法「{method}」" in text
    assert re.search(r"基本达成/[^得]*较好[^得]* 得 80%", text)


def test_instructions_need_no_tool_and_say_how_points_add_up(blank):
    text = _text(openpyxl.load_workbook(blank)["填报说明"])
    assert "evalbatch" not in text and "不需要安装其他软件" in text
    assert "满分 100 分。模板已预置六项自动计算的指标（共 25 分）和常用的部门管理、产出、效益、满意度指标（共 75 分）" in text
    assert "每个项目＝预算执行率得分（10 分 × 全年执行数 ÷ 全年预算数，最高 10 分）＋“项目指标”中该项目各行得分之和（分值合计 90 分）" in text
    assert "财政部门按本表的原始数据重新计算每一项比率和得分" in text and "高出 25% 以上即需说明原因" in text
    assert "“项目”表的“原因说明”列" in text


def test_year_prefilled(tmp_path):
    ws = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx", year=2022))[S.INFO_SHEET]
    assert ws["B3"].value == 2022


def test_blank_template_reads_with_required_field_errors_only(blank):
    result = check_paths([blank], load_rules())
    f = result.findings
    assert set(f.loc[f["level"] == "错误", "rule_id"]) == {"value.required"}
    # The prefilled rows await their 实际值; their weights add up to 100, so no weight.total.
    assert f.loc[f["level"] != "错误", "rule_id"].value_counts().to_dict() == {"score.level_unknown": 6, "score.unverifiable": 4}


def test_project_reason_column_is_read_and_quoted(tmp_path):
    data = reference()
    data["projects"][0]["reason"] = "疫情影响，部分采购延至次年"
    sub = check_paths([write(tmp_path, data, "r.xlsx")], load_rules())
    assert sub.projects.columns.tolist().count("self_grade") == 1
    found = sub.findings[sub.findings["rule_id"] == "score.exec_mismatch"]
    assert found["message"].tolist() == [
        "项目 620101-2021-01 指标得分率 99.11%（89.2÷90），预算执行率仅 76.80%，得分率是执行率的 1.29 倍（高出 29.05%），"
        "超过允许的 25%（按执行率的倍数计，不是百分点），绩效与预算执行不匹配；"
        "单位说明：“疫情影响，部分采购延至次年”，请人工复核"]


def test_mismatch_without_a_reason_says_where_to_give_one(tmp_path):
    sub = check_paths([write(tmp_path, reference(), "r.xlsx")], load_rules())
    message = sub.findings.loc[sub.findings["rule_id"] == "score.exec_mismatch", "message"].item()
    assert message.endswith("绩效与预算执行不匹配；请在「项目」表“原因说明”列说明原因")


def test_schema_agrees_with_the_contract():
    doc = CONTRACT.read_text(encoding="utf-8")
    rows = [line.split("|") for line in doc.splitlines() if line.startswith("| ") and "|" in line[2:]]
    fields = {cells[1].strip(): cells[2].strip() for cells in rows if len(cells) > 5 and cells[2].strip().isidentifier()}
    fields.pop("项目 (label)", None)
    assert fields == {f.label: f.key for f in S.FIELDS}
    for word in S.DEPT_CATEGORIES:
        assert word in doc
    for sheet in S.SHEETS:
        if sheet.kind == "table":
            assert " | ".join(S.headers_of(sheet.name)) in doc.replace("`", "")


def test_a_file_without_the_reason_column_still_reads(tmp_path):
    """Files filled from the template before 原因说明 existed: the column is optional."""
    path = write(tmp_path, reference(), "old.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["项目"].delete_cols(S.headers_of("项目").index("原因说明") + 1)
    wb.save(path)
    sub = check_paths([path], load_rules())
    # sheet by sheet, then cell, then level (issue 20): 基本信息 B16, then 项目 E2 (警告 before 提示)
    assert sub.findings["rule_id"].tolist() == ["arith.rounding", "score.exec_mismatch", "arith.rounding"]
    assert sub.projects["total"].tolist() == [96.88]
    assert sub.findings.loc[1, "message"].endswith("；请在「项目」表“原因说明”列说明原因")  # the mismatch, now second


@pytest.mark.libreoffice
def test_libreoffice_prints_each_blank_sheet_on_one_page(tmp_path, blank):
    """Rendered as an accountant would print it: each sheet one page wide, so the blank template
    prints on a page a sheet, the instructions on at most two (a sheet spread one column a page
    would take three pages for 基本信息 and nine or more for each table)."""
    import faults
    from conftest import NO_LIBREOFFICE

    if not faults.have_libreoffice():
        pytest.skip(NO_LIBREOFFICE)
    pdf = faults.via_libreoffice(blank, "pdf", tmp_path)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())
    assert len(S.SHEETS) <= len(pages) <= len(S.SHEETS) + 1

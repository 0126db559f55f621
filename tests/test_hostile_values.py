"""Issue: no single value, sheet or table layout may stop, hang or distort the batch.

Each case is a department file as a careless or hostile department would send it, run
through `check_paths` (the same pipeline as a night's run). The promise each time: one
clear finding for that department, naming the cell; nothing above the maximum; every other
department scored exactly as without it.
"""

from __future__ import annotations

import os

import openpyxl
import pandas as pd
import pytest
from builders import dept, indicator, reference, write

from evalbatch.judge import scoring
from evalbatch.judge.evaluate import check_paths, evaluate
from evalbatch.read.discover import discover
from evalbatch.rules import load_rules

RULES = load_rules()


def run(paths, year=2021):
    return check_paths(paths, RULES, year=year)


def found(r, rule_id):
    f = r.findings[r.findings["rule_id"] == rule_id]
    return list(zip(f["level"], f["sheet"], f["cell"]))


def ref_row(r):
    return r.depts.set_index("dept_code").loc["620101"]


# --- values -----------------------------------------------------------------------------


def test_id_card_number_in_a_money_cell_is_one_error(tmp_path):
    r = run([write(tmp_path, reference(project_spent="620102198001011234"))])
    assert found(r, "value.out_of_range") == [("错误", "基本信息", "B20")]
    msg = r.findings.loc[r.findings["rule_id"] == "value.out_of_range", "message"].iloc[0]
    assert "620102198001011234" in msg and "身份证号" in msg
    d = ref_row(r)
    assert pd.isna(d["rank"]) and d["grade"] == "未评级"


def test_id_card_number_as_a_weight_or_score_never_crashes(tmp_path):
    data = reference()
    data["indicators"][5]["weight"] = 620102198001011234
    data["project_indicators"][0]["self_score"] = 620102198001011234
    r = run([write(tmp_path, data)])
    assert [lv for lv, *_ in found(r, "value.out_of_range")] == ["错误", "错误"]
    assert r.depts["total"].max() <= 100 and r.projects["total"].max() <= 100


def _set(path, sheet: str, cell: str, value):
    """A cell as Excel or WPS saves it (the template writer would write text)."""
    wb = openpyxl.load_workbook(path)
    wb[sheet][cell] = value
    wb.save(path)
    return path


def test_true_in_a_money_cell_is_not_one(tmp_path):
    r = run([_set(write(tmp_path, reference()), "基本信息", "B14", True)])
    assert found(r, "value.boolean") == [("错误", "基本信息", "B14")]
    assert "逻辑值" in r.findings.loc[r.findings["rule_id"] == "value.boolean", "message"].iloc[0]


def test_text_beyond_excels_cell_limit_is_cut_and_reported(tmp_path):
    # Excel and openpyxl stop at 32,767 characters; a budget system's XML export does not.
    from test_official import form_a

    from evalbatch.samples.official import write_spreadsheetml

    grid = form_a()
    grid.rows[12][8] = "原因" * 20_000
    r = run([write_spreadsheetml({"表": grid}, tmp_path / "export.xls")], year=2022)
    assert found(r, "value.too_long") == [("警告", "表", "I13")]
    assert "40000 个字符" in r.findings.loc[r.findings["rule_id"] == "value.too_long", "message"].iloc[0]
    from evalbatch.read.parse import normalise
    from evalbatch.read.reader import open_workbook

    sub = normalise(open_workbook((tmp_path / "export.xls").read_bytes(), RULES), "export.xls", RULES)
    reason = sub.tables["项目指标"].set_index("l3").loc["整治自然村数量", "reason"]
    assert len(reason) == 32_767 and reason.endswith("…（已截断）")


# --- bounded scores ----------------------------------------------------------------------


def test_a_weight_beyond_any_form_is_an_error_and_never_a_score(tmp_path):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "资金使用规范性")
    row["weight"], row["self_score"] = 903, 903
    r = run([write(tmp_path, data)])
    assert found(r, "value.out_of_range") == [("错误", "整体指标", "E8"), ("错误", "整体指标", "H8")]
    d = ref_row(r)
    assert d["total"] <= 100 and pd.isna(d["rank"]) and d["grade"] == "未评级"


def test_weights_adding_up_beyond_100_cap_the_total_and_unrank(tmp_path):
    data = reference()
    data["indicators"] += [indicator(f"额外指标{i}", "定性", 3, "达成", "达成", 3) for i in range(20)]
    r = run([write(tmp_path, data)])
    assert found(r, "weight.over") == [("错误", "整体指标", "E2:E51")]
    d = ref_row(r)
    assert (d["total"], d["grade"]) == (100, "未评级") and pd.isna(d["rank"])


def test_a_total_row_at_the_bottom_is_not_an_indicator(tmp_path):
    data = reference()
    data["indicators"].append({"l1": "合计", "weight": 100, "self_score": 90.56})
    r = run([write(tmp_path, data)])
    d = ref_row(r)
    assert (d["total"], d["grade"], d["rank"]) == (90.56, "优", 1)
    assert found(r, "table.total_row") == [("提示", "整体指标", "E32")]
    assert found(r, "weight.total") == [] and found(r, "weight.over") == []


def test_a_total_row_that_does_not_add_up_is_a_warning(tmp_path):
    data = reference()
    data["indicators"].append({"l1": "合计", "weight": 98, "self_score": 90.56})
    r = run([write(tmp_path, data)])
    assert found(r, "table.total_mismatch") == [("警告", "整体指标", "E32")]
    assert ref_row(r)["total"] == 90.56


# --- sheets and identity ---------------------------------------------------------------------


def _add_hidden_info(path, name="基本 信息", state="hidden"):
    wb = openpyxl.load_workbook(path)
    ws = wb.copy_worksheet(wb["基本信息"])
    ws.title = name
    ws.sheet_state = state
    for row in ws.iter_rows():
        if row[0].value == "单位名称":
            row[1].value = "冒名单位"
    wb.save(path)


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_twin_sheet_never_replaces_the_visible_one(tmp_path, state):
    path = write(tmp_path, reference())
    _add_hidden_info(path, state=state)
    r = run([path])
    assert ref_row(r)["dept_name"] == "中共甘肃省委机构编制委员会办公室"
    assert found(r, "sheet.hidden_ignored") == [("警告", "基本 信息", "")]


def test_two_visible_twin_sheets_are_an_error_naming_both(tmp_path):
    path = write(tmp_path, reference())
    _add_hidden_info(path, state="visible")
    r = run([path])
    f = r.findings[r.findings["rule_id"] == "sheet.ambiguous"]
    assert f["level"].tolist() == ["错误"] and "「基本信息」「基本 信息」" in f["message"].iloc[0]


@pytest.mark.parametrize("typed", ["620 101", "620\u200b101", "620101.0", "６２０１０１"])
def test_unit_codes_are_normalised_with_a_note(tmp_path, typed):
    r = run([write(tmp_path, reference(dept_code=typed))])
    assert ref_row(r)["total"] == 90.56
    assert found(r, "value.code_normalised") == [("提示", "基本信息", "B4")]


def test_the_same_code_written_two_ways_is_one_department(tmp_path):
    write(tmp_path, reference(dept_code="620 101"), "a.xlsx")
    write(tmp_path, reference(), "b.xlsx")
    os.utime(tmp_path / "a.xlsx", (1_600_000_000, 1_600_000_000))
    r = evaluate(discover(tmp_path).files, RULES, year=2021)
    assert r.depts["dept_code"].tolist() == ["620101"]
    assert found(r, "file.superseded") == [("警告", "基本信息", "B4")]


def test_two_different_files_from_the_same_moment_are_an_error_naming_both(tmp_path):
    write(tmp_path, reference(), "a.xlsx")
    write(tmp_path, reference(contact="另一人"), "b.xlsx")
    for name in ("a.xlsx", "b.xlsx"):
        os.utime(tmp_path / name, (1_600_000_000, 1_600_000_000))
    r = evaluate(discover(tmp_path).files, RULES, year=2021)
    f = r.findings[r.findings["rule_id"] == "file.same_time"]
    assert sorted(f["file"]) == ["a.xlsx", "b.xlsx"] and set(f["level"]) == {"错误"}  # each file is told
    assert all("“b.xlsx”与“a.xlsx”" in m for m in f["message"])
    assert pd.isna(ref_row(r)["rank"])


def test_the_same_file_twice_is_used_once_with_a_note(tmp_path):
    write(tmp_path, reference(), "a.xlsx")
    (tmp_path / "副本.xlsx").write_bytes((tmp_path / "a.xlsx").read_bytes())
    r = evaluate(discover(tmp_path).files, RULES, year=2021)
    assert found(r, "file.identical") == [("提示", "基本信息", "B4")]
    assert (ref_row(r)["total"], ref_row(r)["rank"]) == (90.56, 1)


# --- tables as people lay them out -------------------------------------------------------------


def _merge_down(path, sheet: str, col: str):
    """Merge each run of equal values in `col` the way a person tidies a table in Excel:
    the value stays in the first cell only."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    rows = list(range(2, ws.max_row + 1))
    start = rows[0]
    for r in rows[1:] + [None]:
        if r is None or ws[f"{col}{r}"].value != ws[f"{col}{start}"].value:
            last = (r or ws.max_row + 1) - 1
            if last > start:
                ws.merge_cells(f"{col}{start}:{col}{last}")
            start = r
    wb.save(path)


def test_merged_level_and_project_code_cells_are_read_as_excel_shows_them(tmp_path):
    path = write(tmp_path, reference())
    _merge_down(path, "整体指标", "A")
    _merge_down(path, "项目指标", "A")
    _merge_down(path, "项目指标", "B")
    r = run([path])
    assert found(r, "value.required") == []
    assert (ref_row(r)["total"], r.projects.iloc[0]["total"]) == (90.56, 96.88)


def test_a_project_row_without_a_code_is_an_error_never_a_department_indicator(tmp_path):
    data = reference()
    data["project_indicators"][3]["project_code"] = None
    r = run([write(tmp_path, data)])
    assert found(r, "value.required") == [("错误", "项目指标", "A5")]
    own = r.indicators[r.indicators["project_code"] == ""]
    assert len(own) == 30 and ref_row(r)["total"] == 90.56


@pytest.mark.parametrize("actual,share", [("未达成（受疫情影响）", 0.0), ("已达成", 1.0), ("基本完成", 0.8), ("不及时", 0.0), ("待定", None)])
def test_level_words_longest_first(tmp_path, actual, share):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "资金使用规范性")
    row["actual"] = actual
    r = run([write(tmp_path, data)])
    got = r.indicators.set_index("l3").loc["资金使用规范性"]
    if share is None:
        assert got["score"] == 3 and found(r, "score.level_unknown") == [("提示", "整体指标", "G8")]
    else:
        assert got["score"] == round(3 * share, 2)


def test_spending_far_above_a_project_budget_is_a_warning(tmp_path):
    data = reference(project_spent=20_000)
    data["projects"][0]["spent"] = 320 * 64.87
    r = run([write(tmp_path, data)])
    assert ("警告", "项目", "E2") in found(r, "exec.over")
    assert "6487.00%" in " ".join(r.findings.loc[r.findings["rule_id"] == "exec.over", "message"])
    assert r.projects.iloc[0]["exec_score"] == 10


# --- isolation: a failure in the vectorised stages costs one department, not the night ------


def test_a_department_that_breaks_scoring_is_one_error_and_the_rest_is_unchanged(tmp_path, monkeypatch):
    clean = [write(tmp_path, dept(f"62{i:04d}", f"单位{i}", satisfaction=s), f"{i}.xlsx")
             for i, s in enumerate(["86.13%", "85.975%", "大于95%"])]
    before = run(clean)
    bad = write(tmp_path, dept("666666", "出错的单位"), "bad.xlsx")
    real = scoring.score_depts

    def breaks_on_666666(depts, *args):
        if (depts["dept_code"] == "666666").any():
            raise TypeError("boom")
        return real(depts, *args)

    monkeypatch.setattr(scoring, "score_depts", breaks_on_666666)
    after = run(clean + [bad])
    errors = after.findings[after.findings["level"] == "错误"]
    assert errors[["file", "dept_code", "rule_id"]].values.tolist() == [["bad.xlsx", "666666", "file.internal"]]
    cols = ["dept_code", "total", "grade", "rank"]
    kept = after.depts[after.depts["dept_code"] != "666666"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before.depts[cols].reset_index(drop=True))
    assert after.depts.set_index("dept_code").loc["666666", "grade"] == "未评级"


# --- error values and formulas saved without a result (calamine shows both as empty) ----------


@pytest.mark.parametrize("cell,value,rule_id,words", [
    ("B20", "#DIV/0!", "value.error_cell", ("#DIV/0!", "改正公式")),
    ("B20", "#N/A", "value.error_cell", ("#N/A",)),
    ("B20", "=B19*0.5", "value.formula_no_result", ("没有保存计算结果", "保存后重新提交")),
])
def test_error_cells_and_formulas_without_a_result_are_not_blank(tmp_path, cell, value, rule_id, words):
    path = write(tmp_path, reference())
    wb = openpyxl.load_workbook(path)
    wb["基本信息"][cell] = value
    if value.startswith("#"):
        wb["基本信息"][cell].data_type = "e"
    wb.save(path)  # openpyxl saves a formula without its result, as some generators do
    r = run([path])
    assert found(r, rule_id) == [("错误", "基本信息", cell)]
    msg = r.findings.loc[r.findings["rule_id"] == rule_id, "message"].iloc[0]
    assert all(w in msg for w in words)
    assert found(r, "value.required") == []


# --- text that xlsxwriter would take for its own rich-string XML -------------------------------

RICH_LOOKALIKE = "<r><t>甲</t></r></si><si><t>乙</t></r>"


@pytest.mark.parametrize("streamed", [False, True])
def test_text_shaped_like_rich_string_xml_is_written_as_text(tmp_path, monkeypatch, streamed):
    """xlsxwriter copies a text "<r>…</r>" into the file unescaped (it takes it for a rich
    string of its own): as 单位名称 or 三级指标 it would break the shared strings of the whole
    workbook. Written by evalbatch it is one cell holding exactly that text, in the
    consolidated workbook (shared strings, and streamed: inline strings) and the feedback file."""
    from python_calamine import CalamineWorkbook

    from evalbatch.night.runner import run
    from evalbatch.write import report

    monkeypatch.setattr(report, "CONSTANT_MEMORY_ROWS", 0 if streamed else report.CONSTANT_MEMORY_ROWS)
    d = dept("730101", RICH_LOOKALIKE)
    d["indicators"][0]["l3"] = "<r>预算执行率</r>"
    src = tmp_path / "in"
    src.mkdir()
    write(src, d, "x.xlsx")
    out = run(src, tmp_path / "out", 2021, load_rules(), settle=0, feedback=True)
    book = openpyxl.load_workbook(out.workbook)  # a broken shared-string table fails here
    (row,) = book["汇总排名"].iter_rows(min_row=2, max_row=2, values_only=True)
    assert RICH_LOOKALIKE in row
    assert RICH_LOOKALIKE in CalamineWorkbook.from_path(str(out.workbook)).get_sheet_by_name("汇总排名").to_python()[1]
    indicators = [c for row in book["指标得分"].iter_rows(values_only=True) for c in row]
    assert "<r>预算执行率</r>" in indicators and RICH_LOOKALIKE in indicators
    (feedback,) = (tmp_path / "out" / "feedback").rglob("*.xlsx")
    cells = [c for ws in openpyxl.load_workbook(feedback) for row in ws.iter_rows(values_only=True) for c in row]
    assert "<r>预算执行率</r>" in cells

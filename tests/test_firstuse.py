"""Issue 20: what first use as accountant, analyst, reviewer and operator still finds.

Each test names the point of the issue it shows.
"""

from __future__ import annotations

import pandas as pd
import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths
from evalbatch.rules import load_rules

RULES = load_rules()


def run(paths, year=2021, rules=RULES):
    return check_paths(paths, rules, year=year)


def found(r, rule_id):
    f = r.findings[r.findings["rule_id"] == rule_id]
    return list(zip(f["level"], f["sheet"], f["cell"], f["message"]))


# --- 1. level words ----------------------------------------------------------------------
# (actual written by the department, share of 分值 with the default rules, note rule or None)
LEVEL_WORDS = [
    ("规范", 1.0, None),
    ("基本规范", 0.8, None),
    ("基本健全", 0.8, None),
    ("完善", 1.0, None),
    ("基本完善", 0.8, None),
    ("基本及时", 0.8, None),
    ("基本达成", 0.8, None),
    ("不规范", 0.0, "score.level_negated"),
    ("不健全", 0.0, "score.level_negated"),
    ("不及时", 0.0, "score.level_negated"),
    ("未规范", 0.0, "score.level_negated"),
    ("尚未健全", 0.0, "score.level_negated"),
    ("未完成", 0.0, None),
    ("优", 1.0, None),
    ("优秀", 1.0, "score.level_approximate"),
    ("良好", 0.8, "score.level_approximate"),
]


@pytest.mark.parametrize("actual,share,note", LEVEL_WORDS)
def test_level_words_score_their_share(tmp_path, actual, share, note):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "资金使用规范性")
    row["actual"] = actual
    r = run([write(tmp_path, data)])
    got = r.indicators.set_index("l3").loc["资金使用规范性"]
    assert got["score"] == round(3 * share, 2)
    notes = [rid for rid in ("score.level_negated", "score.level_approximate") if found(r, rid)]
    assert notes == ([note] if note else [])
    if note == "score.level_negated":
        assert found(r, note) == [("提示", "整体指标", "G8",
                                   f"「资金使用规范性」为定性指标，实际值“{actual}”是否定的说法，按未达成记 0 分；请人工确认")]
    if actual == "优秀":
        assert found(r, note) == [("提示", "整体指标", "G8",
                                   "「资金使用规范性」为定性指标，实际值“优秀”按等级“优”计 100%；"
                                   "如不妥请改写为等级词（如 达成、基本达成、部分达成、未达成）")]


def test_honest_basic_self_score_is_not_told_to_raise_it(tmp_path):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "资金使用规范性")
    row["actual"], row["self_score"] = "基本规范", 2.4
    r = run([write(tmp_path, data)])
    assert [m for *_, m in found(r, "score.diff") if "资金使用规范性" in m] == []


def test_basic_share_follows_the_rules(tmp_path):
    (tmp_path / "r.toml").write_text("[qualitative]\nbasic = 0.5\n", encoding="utf-8")
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "资金使用规范性")
    row["actual"] = "基本规范"
    r = run([write(tmp_path, data)], rules=load_rules(tmp_path / "r.toml"))
    assert r.indicators.set_index("l3").loc["资金使用规范性", "score"] == 1.5


def test_basic_share_outside_0_1_names_the_key(tmp_path):
    from evalbatch.rules import RulesError

    (tmp_path / "r.toml").write_text("[qualitative]\nbasic = 8\n", encoding="utf-8")
    with pytest.raises(RulesError, match="qualitative.basic 应在 0 到 1 之间"):
        load_rules(tmp_path / "r.toml")


# --- 3. check says why a department is not graded ------------------------------------------

def test_check_says_why_unrated(tmp_path):
    path = write(tmp_path, reference(basic_budget=-1, staff_quota="八十"), "620101.xlsx")
    r = CliRunner().invoke(app, ["check", str(path)])
    assert r.exit_code == 1
    assert "复核得分 88.64  等级 未评级（2 个错误，改正后评级）" in r.output


def test_check_graded_department_keeps_its_grade(tmp_path):
    r = CliRunner().invoke(app, ["check", str(write(tmp_path, reference(), "620101.xlsx"))])
    assert r.exit_code == 0 and "复核得分 90.56  等级 优\n" in r.output


# --- 5. no configuration words in department-facing text -----------------------------------

def test_mismatch_message_in_plain_words(tmp_path):
    r = run([write(tmp_path, reference())])
    (msg,) = [m for *_, m in found(r, "score.exec_mismatch")]
    assert "mismatch_threshold" not in msg and "checks." not in msg
    assert "超过允许的 25%（按执行率的倍数计，不是百分点），绩效与预算执行不匹配" in msg


# --- 6. findings sheet by sheet, cell by cell ------------------------------------------------

def test_findings_sorted_by_sheet_then_cell_then_level():
    from evalbatch import findings as F

    rows = F.frame([
        F.one("score.diff", "c", file="a.xlsx", sheet="整体指标", cell="G10"),
        F.one("value.required", "b", file="a.xlsx", sheet="整体指标", cell="G9"),
        F.one("score.level_unknown", "e", file="a.xlsx", sheet="项目", cell="B2"),
        F.one("value.unreadable", "d", file="a.xlsx", sheet="项目", cell="B2"),
        F.one("arith.rounding", "a", file="a.xlsx", sheet="基本信息", cell="B16"),
        F.one("file.macro", "0", file="a.xlsx"),
        F.one("score.diff", "f", file="a.xlsx", sheet="整体指标", cell="AA9"),
        F.one("file.empty", "z", file="b.xlsx"),
    ])
    got = F.sort(rows)
    assert got["message"].tolist() == ["0", "a", "b", "f", "c", "d", "e", "z"]


def test_findings_without_a_cell_sort_first_whatever_marks_the_blank():
    """A missing cell may arrive as None, NaN or pd.NA (frames of checks are nullable)."""
    from evalbatch import findings as F

    rows = F.frame([F.one("score.diff", m, file="a.xlsx", sheet="项目指标", cell=c)
                    for m, c in (("g", "$AB$12"), ("f", "AA12"), ("e", "B12"), ("d", "C3"), ("a", None))])
    rows.loc[len(rows)] = rows.iloc[-1]
    rows.loc[len(rows) - 1, ["message", "cell"]] = ["b", pd.NA]
    assert F.sort(rows)["message"].tolist() == ["a", "b", "d", "e", "f", "g"]


def test_messages_about_one_cell_that_say_the_same_thing_are_one_row():
    from evalbatch import findings as F

    rows = F.frame([
        F.one("score.diff", "「甲」自评得分 2，复核得分 3.00（完成率 100.00%，得分＝3.00）；请核对", file="a.xlsx", sheet="整体指标", cell="H9"),
        F.one("score.deducted_met", "「甲」实际值“5次”已达到指标值“5次”，自评却扣分（自评 2 / 分值 3），且未说明原因；请核对自评得分或说明扣分原因",
              file="a.xlsx", sheet="整体指标", cell="H9"),
        F.one("arith.rounding", "尾差", file="a.xlsx", sheet="基本信息", cell="B16"),
        F.one("arith.rounding", "尾差", file="a.xlsx", sheet="基本信息", cell="B16"),  # the same message twice
        F.one("arith.rounding", "尾差", file="a.xlsx", sheet="基本信息", cell="B17"),  # another cell
        F.one("file.macro", "宏", file="a.xlsx"),
        F.one("file.macro", "宏", file="a.xlsx"),  # no cell: not merged
        F.one("score.diff", "「乙」自评得分 1，复核得分 3.00；请核对", file="b.xlsx", sheet="整体指标", cell="H9"),  # another file
        F.one("value.unit", "「甲」单位", file="a.xlsx", sheet="整体指标", cell="H9"),  # says something else
    ])
    got = F.merge_same(rows)
    assert list(zip(got["file"], got["cell"], got["level"], got["rule_id"], got["message"])) == [
        # 达标却扣分 (a 提示) leads and says why; the row keeps score.diff's 警告 and its figures.
        ("a.xlsx", "H9", "警告", "score.deducted_met", "「甲」实际值“5次”已达到指标值“5次”，自评却扣分（自评 2 / 分值 3），且未说明原因；"
         "自评得分 2，复核得分 3.00（完成率 100.00%，得分＝3.00）；请核对自评得分或说明扣分原因"),
        ("a.xlsx", "B16", "提示", "arith.rounding", "尾差"),
        ("a.xlsx", "B17", "提示", "arith.rounding", "尾差"),
        ("a.xlsx", "", "警告", "file.macro", "宏"),
        ("a.xlsx", "", "警告", "file.macro", "宏"),
        ("b.xlsx", "H9", "警告", "score.diff", "「乙」自评得分 1，复核得分 3.00；请核对"),
        ("a.xlsx", "H9", "警告", "value.unit", "「甲」单位"),
    ]
    assert got["rule"].iloc[0] == "达标却扣分"


def test_check_feedback_and_workbook_show_one_row_for_a_cell(tmp_path):
    import openpyxl

    from evalbatch.night.runner import run as run_night

    data = reference()
    row = next(x for x in data["project_indicators"] if x["l3"] == "形成调研报告数量")
    row["self_score"] = 3  # 11 of 15 reports: 2.20 recomputed, full marks claimed
    src = tmp_path / "in"
    src.mkdir()
    write(src, data, "620101.xlsx")
    want = ("「形成调研报告数量」实际值“11篇”未达到指标值“15篇”，自评却得满分；自评得分 3，复核得分 2.20"
            "（完成率 73.33%，得分＝3×min(完成率,100%)＝2.20）；请按实际完成情况打分")
    r = run([src / "620101.xlsx"])
    assert [(lv, c, m) for lv, s, c, m in found(r, "score.full_below_target")] == [("警告", "I8", want)]
    assert found(r, "score.diff") == []
    out = CliRunner().invoke(app, ["check", str(src / "620101.xlsx"), "--year", "2021"])
    assert out.output.count("形成调研报告数量") == 1 and "自评得分 3，复核得分 2.20" in out.output
    outcome = run_night(src, tmp_path / "out", 2021, RULES, settle=0, feedback=True)
    sheet = openpyxl.load_workbook(outcome.workbook)["审核问题"]
    cells = [(r[3], r[4], r[7]) for r in sheet.iter_rows(min_row=2, values_only=True) if r[4] == "I8"]
    assert cells == [("项目指标", "I8", want)]
    (feedback,) = (tmp_path / "out" / "feedback").glob("*.xlsx")
    sheet = openpyxl.load_workbook(feedback)["审核问题"]
    head = [c.value for c in sheet[1]]
    rows = [dict(zip(head, r)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(x["工作表"], x["说明"]) for x in rows if x["单元格"] == "I8"] == [("项目指标", want)]


def test_reason_missing_never_says_a_score_below_an_equal_weight(tmp_path):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "考察调研次数")
    row["actual"], row["self_score"] = "18次", 2.9999999  # target ≥20次; 3 as written to two decimals
    r = run([write(tmp_path, data)])
    (msg,) = [m for *_, m in found(r, "score.reason_missing") if "考察调研次数" in m]
    assert msg == "「考察调研次数」未完成目标（实际值“18次”，指标值“≥20次”），但偏差原因为空；请说明偏差原因和改进措施"
    row["self_score"] = 2.994  # 2.99 against 3: below, and said so with two decimals
    r = run([write(tmp_path, data, "b.xlsx")])
    (msg,) = [m for *_, m in found(r, "score.reason_missing") if "考察调研次数" in m]
    assert msg == "「考察调研次数」得分低于分值（自评 2.99 / 分值 3），但偏差原因为空；请说明偏差原因和改进措施"


def test_scoring_md_lists_every_level_word_and_its_share():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "scoring.md").read_text(encoding="utf-8")
    table = text.split("<!-- level-words:", 1)[1].split("<!-- level-words: end -->", 1)[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("| ") and "等级词" not in line]
    documented = {w.strip(): v.strip() for w, v in rows}
    assert documented == {w: f"{v * 100:g}%" for w, v in RULES.levels.items()}
    assert documented["基本达成"] == "80%" and documented["优"] == "100%"
    assert f"默认 {RULES.basic_share * 100:g}%" in text


# --- 4. a long code typed as a number ------------------------------------------------------

def test_long_code_typed_as_number_is_an_error(tmp_path):
    import openpyxl

    path = write(tmp_path, reference(), "620101.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb["项目"]["A2"].value == "620101-2021-01"
    wb["项目"]["A2"].value = 62021920210100000001  # what Excel keeps of a 20-digit code typed as a number
    wb.save(path)
    r = run([path])
    msgs = found(r, "value.digits_lost")
    assert msgs == [("错误", "项目", "A2",
                     "「项目编码」按数字填写了 62021920210100002816，超过 15 位的数字 Excel 只保留前 15 位，后面的数字已经改变；"
                     "请把该单元格设置为“文本”格式后重新输入完整编码")]
    assert r.error_files == 1


def test_reason_missing_at_full_score_names_the_target_not_the_score(tmp_path):
    data = reference()
    row = next(x for x in data["indicators"] if x["l3"] == "考察调研次数")
    row["actual"] = "18次"  # target ≥20次, self score kept at the full 3
    r = run([write(tmp_path, data)])
    (msg,) = [m for *_, m in found(r, "score.reason_missing") if "考察调研次数" in m]
    assert msg == "「考察调研次数」未完成目标（实际值“18次”，指标值“≥20次”），但偏差原因为空；请说明偏差原因和改进措施"
    assert "自评 3 / 分值 3" not in "".join(r.findings["message"])


# --- 7. official-form hints worded for a person --------------------------------------------

def test_placeholder_rows_said_without_empty_quotes_or_the_form_name(tmp_path):
    import test_official as O
    from evalbatch.samples.official import write_xlsx

    path = write_xlsx({"项目支出绩效自评表": O.form_a()}, tmp_path / "棠溪镇.xlsx")
    r = run([path], year=2022)
    f = r.findings[r.findings["rule_id"] == "form.placeholder"]
    assert f["message"].tolist() == [
        "第 14 行三级指标为“指标2”，没有填分值，看起来是表样中的占位行，未计入指标；如确为指标，请填写三级指标名称和分值",
        "第 18 行二级指标“经济效益指标”下没有三级指标，没有填分值，看起来是表样中的占位行，未计入指标；如确为指标，请填写三级指标名称和分值",
    ]


# --- 8. the template's 填报说明 labels are not cut at print ----------------------------------

def test_instruction_labels_fit_their_column(tmp_path):
    import openpyxl

    from evalbatch.write import printing
    from evalbatch.write.template import FONT_SIZE, write_submission

    ws = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx"))["填报说明"]
    width = ws.column_dimensions["A"].width
    labels = [c.value for c in ws["A"][2:] if c.value]
    assert "计分方法「基本支出执行率」" in labels
    assert [a for a in labels if printing.text_width(a, FONT_SIZE) + 1 > width] == []
    # the page it prints on is unchanged (xlsxwriter stores each width with 0.71 of padding)
    assert width + ws.column_dimensions["B"].width == pytest.approx(102 + 2 * 0.7109375)


# --- 2. the template computes the six automatic indicators and 自评总分 -----------------------

_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def _recalculated_by_libreoffice(path, tmp_path):
    """The workbook as LibreOffice computes it (a profile that always recalculates on load:
    otherwise the results xlsxwriter stores, 0, are kept)."""
    import shutil
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: the template's formulas cannot be evaluated here")
    profile = tmp_path / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_RECALC, encoding="utf-8")
    out = tmp_path / "recalculated"
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "xlsx", "--outdir", str(out), str(path)], check=True, capture_output=True, timeout=180)
    return out / path.name


@pytest.mark.parametrize("info", [{}, {"sangong_budget": 0, "sangong_spent": 0, "carryover_begin": 0, "carryover_end": 0}],
                         ids=["reference", "zero-denominators"])
def test_template_formulas_equal_the_recomputation(tmp_path, info):
    from evalbatch import schema as S
    from evalbatch.write.template import write_submission

    data = reference(**info)
    for row in data["indicators"]:
        if row["method"] in S.AUTO_METHODS:
            row["self_score"] = None  # left to the formula
    path = write_submission(tmp_path / "620101.xlsx", data, formulas=True)
    r = run([_recalculated_by_libreoffice(path, tmp_path)])
    auto = r.indicators[r.indicators["method_used"].isin(S.AUTO_METHODS)]
    assert len(auto) == 6
    assert auto["self_score"].tolist() == auto["score"].tolist()
    d = r.depts.iloc[0]
    assert d["self_total"] == d["total"]
    if not info:
        assert auto.set_index("method_used")["self_score"].to_dict() == {
            "预算执行率": 5.94, "基本支出执行率": 2.98, "项目支出执行率": 0.64, "三公经费控制率": 3, "结转结余变动率": 0, "在职人员控制率": 3}
        assert d["total"] == 90.56
    assert [rid for rid in r.findings["rule_id"] if rid in ("score.diff", "score.total_diff", "value.required")] == []


def test_blank_template_carries_the_formulas(tmp_path):
    import openpyxl

    from evalbatch.write.template import write_submission

    wb = openpyxl.load_workbook(write_submission(tmp_path / "t.xlsx"))
    ws = wb["整体指标"]
    assert ws["D2"].value == "预算执行率"
    assert ws["G2"].value == ("=IF(('基本信息'!$B$15+'基本信息'!$B$19)=0,\"\","
                              "ROUND(('基本信息'!$B$16+'基本信息'!$B$20)/('基本信息'!$B$15+'基本信息'!$B$19),4))")
    assert ws["H2"].value == '=(IF(G2="",0,ROUND(E2*MIN(G2,1),2)))'
    assert [ws.cell(r, 8).value.startswith("=") for r in range(2, 8)] == [True] * 6
    assert ws["H8"].value is None  # 定性 rows are the department's
    assert wb["基本信息"]["B27"].value == "=SUM('整体指标'!H2:H2001)"


def test_blank_automatic_scores_are_offered_their_computed_value(tmp_path):
    from evalbatch import schema as S

    data = reference(self_total=None)
    for row in data["indicators"]:
        if row["method"] in S.AUTO_METHODS:
            row["self_score"] = None
    r = run([write(tmp_path, data)])
    f = r.findings[r.findings["rule_id"] == "value.required"]
    assert list(zip(f["sheet"], f["cell"], f["message"])) == [
        ("基本信息", "B27", "「自评总分」为必填项，目前为空；请填写（0–100，整体指标自评得分合计）；"
                           "按本表填报的数据计算为 90.56 分（模板中此格有公式，自动计算）"),
        *((("整体指标", cell, f"「自评得分」为必填项，目前为空；请补充该行的自评得分；按本表填报的数据计算为 {v} 分（模板中此格有公式，自动计算）")
           for cell, v in [("H2", "5.94"), ("H3", "2.98"), ("H4", "0.64"), ("H5", "3.00"), ("H6", "0.00"), ("H11", "3.00")])),
    ]


def test_level_reading_of_a_column_without_any_text():
    """A form with no 实际值 column gives an all-missing column (Arrow-typed): no crash."""
    import pandas as pd

    from evalbatch.judge.scoring import level_reading

    empty = level_reading(pd.Series([None, None], dtype="string[pyarrow]"), RULES.levels, RULES.basic_share)
    assert empty["how"].tolist() == ["", ""] and empty["share"].isna().all()
    some = level_reading(pd.Series([None, "基本规范"], dtype="string[pyarrow]"), RULES.levels, RULES.basic_share)
    assert some["how"].tolist() == ["", "基本"] and some["share"].tolist()[1] == 0.8

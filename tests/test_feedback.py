"""Feedback workbooks (结果反馈), one per department, from a real batch over real files."""

import math
import re
from pathlib import Path

import openpyxl
import pytest
from builders import reference, write

from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write.feedback import FEEDBACK_DIR, clean_part, feedback_names, file_stem, unique_stems, write_feedback

REF_NAME = "620101_中共甘肃省委机构编制委员会办公室_复核结果.xlsx"  # never the submission's own name (issue 14)
FORMULA = "=cmd|' /C calc'!A0"
LONG = "很长的单位名称" * 30

# submission file → (基本信息 overrides, expected feedback file name or None when checked otherwise)
DEPARTMENTS = {
    "620101.xlsx": ({}, REF_NAME),
    "escape.xlsx": ({"dept_code": "700001", "dept_name": "../../逃逸单位"}, "700001_逃逸单位_复核结果.xlsx"),
    "slash.xlsx": ({"dept_code": "700002", "dept_name": "a/b单位"}, "700002_a_b单位_复核结果.xlsx"),
    "backslash.xlsx": ({"dept_code": "700003", "dept_name": "a\\b单位"}, "700003_a_b单位_复核结果.xlsx"),
    "colon.xlsx": ({"dept_code": "700004", "dept_name": "C:单位"}, "700004_C_单位_复核结果.xlsx"),
    "con_name.xlsx": ({"dept_code": "700005", "dept_name": "CON"}, "700005_CON_复核结果.xlsx"),
    "formula.xlsx": ({"dept_code": "700006", "dept_name": FORMULA}, "700006_=cmd_' _C calc'!A0_复核结果.xlsx"),
    "traversal.xlsx": ({"dept_code": "../../../tmp/evil", "dept_name": "/etc/passwd"}, "tmp_evil_etc_passwd_复核结果.xlsx"),
    "device.xlsx": ({"dept_code": "CON", "dept_name": ""}, "_CON_复核结果.xlsx"),  # a blank name is an 错误: unranked
    "无编码 提交.xlsx": ({"dept_code": "", "dept_name": "无编码单位"}, "无编码 提交_无编码单位_复核结果.xlsx"),
    "collide_a.xlsx": ({"dept_code": "../700007", "dept_name": "同名单位"}, "700007_同名单位_复核结果.xlsx"),
    "collide_b.xlsx": ({"dept_code": "..\\700007", "dept_name": "同名单位"}, "700007_同名单位_2_复核结果.xlsx"),
    "long.xlsx": ({"dept_code": "700008", "dept_name": LONG}, None),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    src, out = root / "in", root / "out"
    src.mkdir()
    for name, (info, _) in DEPARTMENTS.items():
        data = reference(**info)
        if name == "escape.xlsx":
            data["indicators"][11]["self_score"] = 2  # 会议培训次数: 自评 2, 复核 3 → 得分差异 −1
        write(src, data, name)
    (src / "broken.xlsx").write_bytes(b"not a workbook")  # unreadable: a feedback file of its own (issue 14)
    rules = load_rules()
    outcome = run(src, out, 2021, rules, settle=0)
    before = {p for p in root.rglob("*") if p.is_file()}
    paths = write_feedback(outcome.result, out, rules)
    after = {p for p in root.rglob("*") if p.is_file()}
    return {"root": root, "out": out, "outcome": outcome, "paths": paths, "new": after - before, "rules": rules}


def _by_name(batch) -> dict[str, Path]:
    return {p.name: p for p in batch["paths"]}


def _file_of(batch, submission: str) -> Path:
    """The feedback file of the department that came from `submission`."""
    depts = batch["outcome"].result.depts.reset_index(drop=True)
    i = depts.index[depts["file"] == submission][0]
    return batch["paths"][i]


def _table(path: Path, sheet: str) -> list[dict]:
    rows = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _summary(path: Path) -> dict:
    ws = openpyxl.load_workbook(path)["评价结果"]
    return {r[0]: r[1] for r in ws.iter_rows(min_row=2, values_only=True) if r[0]}


def test_one_file_per_department_all_inside_feedback(batch):
    result = batch["outcome"].result
    folder = (batch["out"] / FEEDBACK_DIR).resolve()
    assert len(result.depts) == len(DEPARTMENTS)  # broken.xlsx has no department
    assert len(batch["paths"]) == len(DEPARTMENTS) + 1 == len(set(batch["paths"]))  # + broken_复核结果.xlsx
    assert batch["paths"][-1].name == "broken_复核结果.xlsx"
    for p in batch["paths"]:
        assert p.resolve().is_relative_to(folder) and p.resolve().parent == folder
        assert p.is_file() and p.stat().st_size > 0
    # Nothing was written anywhere else (no escape, no temporary file left behind).
    assert batch["new"] == set(batch["paths"])
    assert {p for p in folder.iterdir()} == {p.resolve() for p in batch["paths"]}


def test_file_names_are_sanitised_as_expected(batch):
    for submission, (_, expected) in DEPARTMENTS.items():
        name = _file_of(batch, submission).name
        if expected is not None:
            assert name == expected, submission
        assert not re.search(r'[<>:"/\\|?*\x00-\x1f]', name) and ".." not in name
        assert len(name.encode("utf-8")) <= 200
    long = _file_of(batch, "long.xlsx").name
    assert long.startswith("700008_很长的单位名称") and long.endswith(".xlsx") and len(long) < 100


def test_reference_department_results(batch):
    path = _by_name(batch)[REF_NAME]
    assert openpyxl.load_workbook(path).sheetnames == ["评价结果", "指标复核", "项目", "审核问题"]
    s = _summary(path)
    assert s["单位"] == "中共甘肃省委机构编制委员会办公室" and s["单位编码"] == "620101"
    assert s["评价年度"] == 2021
    assert s["复核得分"] == 90.56 and s["自评得分"] == 90.56 and s["得分差异"] == 0
    assert s["评价等级"] == "优"
    ranked = int(batch["outcome"].result.depts["rank"].notna().sum())
    assert ranked == len(DEPARTMENTS) - 2  # device.xlsx and 无编码 提交.xlsx have an 错误
    assert s["排名"] == f"第 1 名 / 共 {ranked} 个参评单位"
    assert s["类别排名"] == f"第 1 名 / 共 {ranked} 个“党委部门”类参评单位"
    assert [s[k] for k in ("预算执行率", "基本支出执行率", "项目支出执行率", "三公经费控制率", "结转结余变动率", "在职人员控制率")] == \
        [0.5943, 0.9949, 0.2135, 0.6858, 9.3736, 0.8875]
    assert s["主要扣分项"].startswith("预算执行率 −4.06")
    assert "重新计算" in s["复核方法"] and "未参与排名" not in str(list(s.values()))
    ws = openpyxl.load_workbook(path)["评价结果"]
    cells = {r[0].value: r[1] for r in ws.iter_rows(min_row=2) if r[0].value}
    assert cells["复核得分"].number_format == "0.00" and cells["预算执行率"].number_format == "0.00%"


def test_reference_indicators_with_reasons(batch):
    rows = _table(_by_name(batch)[REF_NAME], "指标复核")
    assert len(rows) == 30 + 30  # 整体指标 then 项目指标
    assert all(not r["项目编码"] for r in rows[:30]) and all(r["项目编码"] == "620101-2021-01" for r in rows[30:])
    report = next(r for r in rows if r["三级指标"] == "形成调研报告数量")
    assert (report["分值"], report["复核得分"], report["自评得分"], report["扣分"], report["得分差异"]) == (3, 2.2, 2.2, 0.8, 0)
    assert report["复核说明"] == "完成率 73.33%，得分＝3×min(完成率,100%)＝2.20"
    assert report["完成率"] == 0.7333 and report["工作表"] == "项目指标"
    first = rows[0]
    assert first["三级指标"] == "预算执行率" and first["扣分"] == 4.06 and first["复核说明"].startswith("完成率 59.43%")
    projects = _table(_by_name(batch)[REF_NAME], "项目")
    assert [(p["项目编码"], p["执行率"], p["复核得分"], p["评价等级"]) for p in projects] == [("620101-2021-01", 0.768, 96.88, "优")]


def test_reference_findings_say_where_and_what(batch):
    rows = _table(_by_name(batch)[REF_NAME], "审核问题")
    assert all(r["文件"] == "620101.xlsx" for r in rows)
    rounding = [r for r in rows if r["规则"] == "尾差"]
    assert sorted((r["工作表"], r["单元格"], r["级别"]) for r in rounding) == [("基本信息", "B16", "提示"), ("项目", "E2", "提示")]
    assert all(r["说明"] for r in rows)
    # sheet by sheet, cell by cell down the sheet, then 错误 / 警告 / 提示 in one cell (issue 20)
    sheets = ["", "基本信息", "整体指标", "项目", "项目指标", "项目支出明细"]

    def where(r):
        m = re.match(r"([A-Z]+)(\d+)$", r["单元格"] or "")
        return (sheets.index(r["工作表"] or ""), int(m.group(2)) if m else 0, m.group(1) if m else "", ["错误", "警告", "提示"].index(r["级别"]))

    assert [where(r) for r in rows] == sorted(where(r) for r in rows)
    assert [(r["工作表"], r["单元格"], r["级别"]) for r in rows][0] == ("基本信息", "B16", "提示")


def test_differences_are_highlighted(batch):
    path = _file_of(batch, "escape.xlsx")
    rows = _table(path, "指标复核")
    diff = [r for r in rows if r["得分差异"]]
    assert [(r["三级指标"], r["自评得分"], r["复核得分"], r["得分差异"]) for r in diff] == [("会议培训次数", 2, 3, -1)]
    ws = openpyxl.load_workbook(path)["指标复核"]
    rules = [(str(cf.sqref), rule.formula) for cf in ws.conditional_formatting for rule in cf.rules]
    col = next(c.column_letter for c in ws[1] if c.value == "得分差异")
    assert any(ref.startswith("A2:") and ref.endswith(str(len(rows) + 1)) and f"ABS(${col}2)" in f[0] for ref, f in rules)


def test_unranked_department_is_told_why(batch):
    s = _summary(_file_of(batch, "device.xlsx"))
    assert s["排名"] == "未排名（存在错误）" and s["类别排名"] == "未排名（存在错误）" and s["评价等级"] == "未评级"
    method = [v for v in _summary_rows_text(_file_of(batch, "device.xlsx"))]
    assert any("未参与排名" in v for v in method)
    errors = [r for r in _table(_file_of(batch, "device.xlsx"), "审核问题") if r["级别"] == "错误"]
    assert [(r["工作表"], r["规则"]) for r in errors] == [("基本信息", "必填项为空")]
    assert errors[0]["单元格"] and "单位名称" in errors[0]["说明"]
    nocode = _summary(_file_of(batch, "无编码 提交.xlsx"))
    assert nocode["单位编码"] is None and nocode["排名"] == "未排名（存在错误）"


def _summary_rows_text(path: Path) -> list[str]:
    ws = openpyxl.load_workbook(path)["评价结果"]
    return [str(r[1]) for r in ws.iter_rows(min_row=2, values_only=True) if r[1] is not None]


def test_text_stays_text_no_formulas_no_links(batch):
    s_path = _file_of(batch, "formula.xlsx")
    wb = openpyxl.load_workbook(s_path)
    name_cell = next(r[1] for r in wb["评价结果"].iter_rows(min_row=2) if r[0].value == "单位")
    assert name_cell.value == FORMULA and name_cell.data_type == "s"
    for path in batch["paths"]:
        wb = openpyxl.load_workbook(path)
        for ws in wb:
            assert not ws._hyperlinks
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", (path.name, ws.title, c.coordinate)
                    assert not (isinstance(c.value, float) and (math.isnan(c.value) or math.isinf(c.value)))
                    assert c.value not in ("nan", "inf", "NaN", "<NA>", "None")
                    if isinstance(c.value, str) and c.value.startswith("="):
                        assert c.data_type == "s"


def test_rewriting_keeps_the_same_names(batch):
    again = write_feedback(batch["outcome"].result, batch["out"], batch["rules"])
    assert again == batch["paths"]
    assert len(list((batch["out"] / FEEDBACK_DIR).iterdir())) == len(DEPARTMENTS) + 1


@pytest.mark.parametrize("code, name, file, expected", [
    ("620101", "单位", "x.xlsx", "620101_单位"),
    ("..", "..", "../../x.xlsx", "x"),
    ("", "", "sub/dir/报表.xlsx", "sub_dir_报表"),
    ("", "", "CON.xlsx", "_CON"),
    ("nul", "", "", "_nul"),
    ("COM1 ", "", "", "_COM1"),
    ("LPT9.", "", "", "_LPT9"),
    ("aux.txt", "", "", "_aux.txt"),
    ("COM¹", "", "", "_COM¹"),
    ("CONSOLE", "", "", "CONSOLE"),
    ("700001", "单位. . .", "", "700001_单位"),
    ("700001", " .隐藏", "", "700001_隐藏"),
    ("700001", "a\x00b\x1fc\td\ne", "", "700001_a b c d e"),
    ("700001", "发票\u202excod.exe", "", "700001_发票xcod.exe"),  # bidi override removed
    ("700001", 'a<b>c:d"e|f?g*h', "", "700001_a_b_c_d_e_f_g_h"),
    ("C:\\Windows\\System32", "x", "", "C_Windows_System32_x"),
    ("", "", "", "未命名单位"),
    (None, float("nan"), None, "未命名单位"),
    ("...", "///", "....xlsx", "未命名单位"),
])
def test_file_stem(code, name, file, expected):
    assert file_stem(code, name, file) == expected


def test_long_names_fit():
    stem = file_stem("7" * 100, "单" * 500, "")
    assert len(stem.encode("utf-8")) <= 180 and stem.startswith("7" * 40 + "_单")
    assert clean_part("a" * 100, 80) == "a" * 80
    assert clean_part("a" * 79 + " .b", 81) == "a" * 79  # no trailing dot or space after cutting


def test_unique_stems_case_insensitive():
    assert unique_stems(["A", "a", "B", "A"]) == ["A", "a_2", "B", "A_3"]


def test_names_do_not_depend_on_rank():
    import pandas as pd

    depts = pd.DataFrame({"dept_code": ["1", "1/"], "dept_name": ["同名", "同名"], "file": ["b.xlsx", "a.xlsx"]})
    assert feedback_names(depts) == ["1_同名_2_复核结果.xlsx", "1_同名_复核结果.xlsx"]
    assert feedback_names(depts.iloc[::-1].reset_index(drop=True)) == ["1_同名_复核结果.xlsx", "1_同名_2_复核结果.xlsx"]

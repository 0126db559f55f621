"""The roster in a night's run: matching, 报送情况, the status command, and the inbox guard
(an empty, missing or shrunken inbox never replaces good results)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from builders import dept, write
from test_official import form_a, form_b
from test_roster import write_xlsx
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths
from evalbatch.night.runner import EXIT_INPUT, run
from evalbatch.roster import ROSTER_NAME, read_roster
from evalbatch.roster.match import match_roster
from evalbatch.roster.status import unit_status
from evalbatch.roster.template import write_roster_template
from evalbatch.samples.official import write_xlsx as write_form
from evalbatch.write import history as H

WORKBOOK = "绩效自评汇总_2021.xlsx"
OFFICIAL = "池州市贵池区棠溪镇人民政府"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def sheet_rows(path: Path, sheet: str) -> list[tuple]:
    ws = openpyxl.load_workbook(path, read_only=True)[sheet]
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def official_without_code(folder: Path) -> Path:
    """部门整体支出绩效自评表 naming its unit without a code (the code is derived from the name)."""
    grid = form_b()
    grid.rows[1][1] = OFFICIAL
    folder.mkdir(parents=True, exist_ok=True)
    return write_form({"表": grid}, folder / "棠溪镇.xlsx")


# --- the blank roster ------------------------------------------------------------------------

def test_template_round_trip(tmp_path, rules):
    path = write_roster_template(tmp_path / ROSTER_NAME)
    wb = openpyxl.load_workbook(path)
    ws = wb["名单"]
    assert [c.value for c in ws[1]] == ["单位编码", "单位名称", "单位类别", "主管部门", "应报项目数", "联系人", "截止日期"]
    lists = [v for v in ws.data_validations.dataValidation if v.type == "list"]
    assert [(str(v.sqref), v.formula1) for v in lists] == [("C2:C5001", '"党委部门,政府部门,人大政协及司法机关,民主党派及群团组织,事业单位,其他"')]
    assert ws.column_dimensions["A"].number_format == "@"  # codes typed into it stay text
    assert read_roster(path, rules).units.empty
    ws.append(["001001", "省教育厅", "政府部门", "省政府", 4, "张三", dt.datetime(2026, 3, 31)])
    ws.append(["001002", "省科协", "民主党派及群团组织", None, None, None, None])
    wb.save(path)
    roster = read_roster(path, rules)
    assert roster.findings.empty
    u = roster.units.astype(object).where(roster.units.notna(), None)
    assert u.values.tolist() == [["001001", "省教育厅", "政府部门", "省政府", 4, "张三", "2026-03-31"],
                                 ["001002", "省科协", "民主党派及群团组织", None, None, None, None]]


def test_roster_check_command(tmp_path):
    path = write_xlsx(tmp_path / ROSTER_NAME, [["001", "甲"], ["001", "乙"]])
    r = invoke("roster", "check", path)
    assert r.exit_code == 1
    assert "名单 名单.xlsx：1 个单位" in r.output and "名单单位编码重复" in r.output and "错误 1 个，警告 0 个，提示 0 个" in r.output
    assert invoke("roster", "check", write_xlsx(tmp_path / "ok.xlsx", [["001", "甲"]])).exit_code == 0
    made = invoke("roster", "template", "-o", tmp_path / "空白名单.xlsx")
    assert made.exit_code == 0 and (tmp_path / "空白名单.xlsx").is_file()


# --- matching --------------------------------------------------------------------------------

def test_matching_by_code_by_name_and_a_unit_not_on_the_roster(tmp_path, rules):
    src = tmp_path / "in"
    on_roster = write(src, dept("620101", "省委编办", category="党委部门"), "620101.xlsx")
    stranger = write(src, dept("620199", "不在名单的单位"), "620199.xlsx")
    official = official_without_code(src)
    roster = read_roster(write_xlsx(tmp_path / ROSTER_NAME, [
        ["620101", "省委编办", "政府部门", "省委"],
        ["219001", OFFICIAL, "政府部门", "贵池区人民政府"],
    ]), rules)
    result = check_paths([on_roster, stranger, official], rules)
    derived = result.depts.set_index("dept_name").loc[OFFICIAL, "dept_code"]
    assert derived != "219001" and pd.isna(result.depts.set_index("dept_name").loc[OFFICIAL, "dept_category"])

    match_roster(result, roster, rules, ROSTER_NAME)

    d = result.depts.set_index("dept_code")
    # By name: the bureau's code everywhere, and the roster's 单位类别 and 主管部门 where the form has none.
    assert d.loc["219001", ["dept_name", "dept_category", "parent_dept"]].tolist() == [OFFICIAL, "政府部门", "贵池区人民政府"]
    assert set(result.indicators.loc[result.indicators["file"].eq("棠溪镇.xlsx"), "dept_code"].astype(str)) == {"219001"}
    assert derived not in set(result.findings["dept_code"]) and [r.dept_code for r in result.records if r.name == "棠溪镇.xlsx"] == ["219001"]
    # The form's own category stands where it differs from the roster's.
    assert d.loc["620101", "dept_category"] == "党委部门"
    assert d.loc["620199", "total"] == d.loc["620101", "total"] == 90.56  # the stranger is still scored
    assert d.loc["219001", "cat_rank"] == 1 and d.loc["620199", "cat_rank"] == 1  # 政府部门 and 党委部门 (default category)
    f = result.findings[result.findings["rule_id"].str.startswith("roster.")]
    assert sorted(zip(f["rule_id"], f["level"], f["file"], f["dept_code"], f["sheet"], f["cell"], f["message"])) == sorted([
        ("roster.matched_by_name", "提示", "棠溪镇.xlsx", "219001", "表", "B2",
         f"表中没有写单位编码，已按单位名称“{OFFICIAL}”对应名单中的“219001 {OFFICIAL}”，单位编码按名单计为 219001"
         f"（原自动生成的编码 {derived}）"),
        ("roster.unknown_unit", "警告", "620199.xlsx", "620199", "基本信息", "B4",
         "单位编码 620199（不在名单的单位）不在名单（名单.xlsx）中；已照常评分。请核对单位编码是否填错，或请财政部门将该单位补入名单"),
        ("roster.differs", "提示", "620101.xlsx", "620101", "基本信息", "B6", "单位类别填写为“党委部门”，名单中为“政府部门”；以文件填写的为准"),
    ])
    assert d.loc["620199", "warnings"] == 1 + check_paths([stranger], rules).depts["warnings"].iloc[0]


def test_a_name_on_two_roster_lines_is_not_guessed(tmp_path, rules):
    official = official_without_code(tmp_path / "in")
    roster = read_roster(write_xlsx(tmp_path / ROSTER_NAME, [["219001", OFFICIAL], ["219002", OFFICIAL]]), rules)
    result = check_paths([official], rules)
    match_roster(result, roster, rules, ROSTER_NAME)
    assert result.findings["rule_id"].isin(["roster.unknown_unit"]).sum() == 1
    assert not result.findings["rule_id"].eq("roster.matched_by_name").any()


# --- 报送情况 --------------------------------------------------------------------------------

@pytest.fixture
def night(tmp_path) -> tuple[Path, Path]:
    """One folder with each status: 已采用 (620101), 有错误 (620102, not a spreadsheet), 仅项目表
    (219001, a project form only), 未提交 (620104); and 620199, on no roster line. Year 2022."""
    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("620101", "省委编办", year=2022), "620101_省委编办.xlsx")
    (src / "620102_省档案局.xlsx").write_text("不是表格", encoding="utf-8")
    write_form({"表": form_a()}, src / "219001_棠溪镇项目.xlsx")
    write(src, dept("620199", "名单外单位", year=2022), "620199.xlsx")
    out.mkdir()
    write_xlsx(out / ROSTER_NAME, [
        ["620101", "省委编办", "党委部门", None, None, "王五"],
        ["620102", "省档案局", "政府部门", None, None, "赵六"],
        ["219001", OFFICIAL, "政府部门", None, 2, "李四"],
        ["620104", "省地方志办", "事业单位", None, None, "张三 0931-8888888", "2022-03-31"],
    ])
    return src, out


def test_status_sheet_has_every_roster_unit_with_its_status(night, rules):
    src, out = night
    outcome = run(src, out, 2022, rules, settle=0)
    assert outcome.roster.line() == "名单 4 个单位：已采用 1，有错误 1，仅项目表 1，未提交 1"
    rows = sheet_rows(outcome.workbook, "报送情况")
    assert rows[0][:11] == ("单位编码", "单位名称", "单位类别", "主管部门", "报送状态", "最后提交时间", "文件数", "错误数", "警告数", "最终得分", "评价等级")
    picked = [(r[0], r[1], r[2], r[4], r[6], r[7], r[9], r[10], r[12], r[13], r[14], r[16]) for r in rows[1:]]
    assert picked == [
        ("620104", "省地方志办", "事业单位", "未提交", 0, 0, None, None, None, None, "张三 0931-8888888", None),
        ("620102", "省档案局", "政府部门", "有错误", 1, 1, None, None, None, None, "赵六", None),
        ("219001", OFFICIAL, "政府部门", "仅项目表", 1, 0, None, "未评级（仅项目自评）", 2, 1, "李四", "已报项目 1 个，少于应报 2 个"),
        ("620101", "省委编办", "党委部门", "已采用", 1, 0, 90.56, "优", None, 1, "王五", None),
        ("620199", "名单外单位", "党委部门", "已采用", 1, 0, 90.56, "优", None, 1, None, "不在名单中"),
    ]
    assert all(r[5] for r in rows[2:])  # a time for every unit that sent a file
    assert openpyxl.load_workbook(outcome.workbook, read_only=True).sheetnames[:3] == ["汇总排名", "报送情况", "统计分析"]
    summary = sheet_rows(outcome.workbook, "汇总排名")
    head = summary[0]
    assert "表式" in head
    last = [r for r in summary[1:] if r[head.index("单位编码")] == "620104"]
    assert [(r[head.index("排名")], r[head.index("单位名称")], r[head.index("评价等级")]) for r in last] == [(None, "省地方志办", "未提交")]
    assert {r[head.index("表式")] for r in summary[1:3]} == {"模板格式1"}
    stats = [r[:3] for r in sheet_rows(outcome.workbook, "统计分析") if r[0] in ("报送状态", "未提交", "有错误", "仅项目表", "已采用")]
    assert stats[-5:] == [("报送状态", "单位数", "占比"), ("未提交", 1, 0.25), ("有错误", 1, 0.25), ("仅项目表", 1, 0.25), ("已采用", 1, 0.25)]
    listed = json.loads((out / "run.json").read_text(encoding="utf-8"))["roster"]
    assert listed["counts"] == {"未提交": 1, "有错误": 1, "未能复核": 0, "仅项目表": 1, "已采用": 1}
    assert listed["missing"] == [{"dept_code": "620104", "dept_name": "省地方志办", "contact": "张三 0931-8888888", "deadline": "2022-03-31"}]


def test_unverified_is_decided_in_one_place():
    t = pd.DataFrame({"scored": [False, False, True, True, True, True], "files": [0, 1, 1, 1, 1, 1], "errors": [0, 1, 2, 0, 0, 0],
                      "has_dept_form": [None, None, True, False, True, True], "final_total": [None, None, 80.0, None, None, 91.0]})
    assert unit_status(t).tolist() == ["未提交", "有错误", "有错误", "仅项目表", "未能复核", "已采用"]


def test_status_command_prints_the_counts_and_who_is_missing(night, rules):
    src, out = night
    run(src, out, 2022, rules, settle=0)
    r = invoke("status", out)
    assert r.exit_code == 0
    assert r.output.startswith("名单 4 个单位：已采用 1，有错误 1，仅项目表 1，未提交 1（运行时间 ")
    missing = invoke("status", out, "--missing")
    assert missing.exit_code == 0 and "620104" in missing.output and "省地方志办" in missing.output and "张三 0931-8888888" in missing.output
    assert "620101" not in missing.output
    r = invoke("status", out.parent / "in")
    assert r.exit_code == 2 and "run.json" in r.output


def test_history_records_the_roster_and_status_changes(night, rules):
    src, out = night
    first = run(src, out, 2022, rules, settle=0)
    write(src, dept("620104", "省地方志办", category="事业单位", year=2022), "620104.xlsx")
    second = run(src, out, 2022, rules, settle=0)
    assert second.roster.counts["未提交"] == 0
    sha = read_roster(out / ROSTER_NAME, rules).sha256
    with sqlite3.connect(H.db_path_for(out)) as conn:
        runs = conn.execute("SELECT id, roster_sha256, roster_counts FROM runs ORDER BY id").fetchall()
        statuses = conn.execute("SELECT dept_code, status FROM roster_status WHERE run_id = ? ORDER BY dept_code", (first.run_id,)).fetchall()
    assert [(i, s) for i, s, _ in runs] == [(first.run_id, sha), (second.run_id, sha)]
    assert json.loads(runs[1][2]) == {"未提交": 0, "有错误": 1, "未能复核": 0, "仅项目表": 1, "已采用": 2}
    assert statuses == [("219001", "仅项目表"), ("620101", "已采用"), ("620102", "有错误"), ("620104", "未提交")]
    changed = H.status_changes(H.db_path_for(out), second.run_id)
    assert changed.values.tolist() == [["620104", "省地方志办", "未提交", "已采用"]]
    rows = sheet_rows(second.workbook, "变动情况")
    at = rows.index(next(r for r in rows if r[0] == "报送状态变化（1 个单位）"))
    assert rows[at + 1][:4] == ("单位编码", "单位名称", "原状态", "新状态") and rows[at + 2][:4] == ("620104", "省地方志办", "未提交", "已采用")


def test_without_a_roster_everything_is_as_before(tmp_path, rules):
    src = tmp_path / "in"
    write(src, dept("620101", "省委编办"), "620101.xlsx")
    outcome = run(src, tmp_path / "out", 2021, rules, settle=0)
    assert outcome.roster is None and outcome.exit_code == 0
    assert "报送情况" not in openpyxl.load_workbook(outcome.workbook, read_only=True).sheetnames
    assert "roster" not in json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert not outcome.result.findings["rule_id"].str.startswith("roster.").any()


def test_the_rosters_own_problems_are_no_departments(tmp_path, rules):
    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("620101", "省委编办"), "620101.xlsx")
    out.mkdir()
    write_xlsx(out / ROSTER_NAME, [["620101", "省委编办"], ["620101", "省委编办（重复）"]])
    outcome = run(src, out, 2021, rules, settle=0, feedback=True)
    f = outcome.result.findings[outcome.result.findings["rule_id"].eq("roster.duplicate")]
    assert list(zip(f["file"], f["dept_code"], f["sheet"], f["cell"])) == [(ROSTER_NAME, "", "名单", "A3")]
    assert outcome.exit_code == 0 and outcome.roster.line() == "名单 1 个单位：已采用 1"
    (feedback,) = (out / "feedback").iterdir()
    texts = {c for row in sheet_rows(feedback, openpyxl.load_workbook(feedback, read_only=True).sheetnames[-1]) for c in row if c}
    assert not any("名单" in str(t) for t in texts)


def test_an_unusable_roster_is_said_and_the_run_goes_on(tmp_path, rules):
    src = tmp_path / "in"
    write(src, dept("620101", "省委编办"), "620101.xlsx")
    given = tmp_path / "名单.csv"
    given.write_text("编号,名字\n620101,省委编办\n", encoding="utf-8")
    outcome = run(src, tmp_path / "out", 2021, rules, settle=0, roster=given)
    assert outcome.exit_code == 0 and outcome.roster is None
    assert outcome.notes == [f"名单 {given} 中没有可用的单位（原因见“审核问题”中该文件的行），本次不按名单统计报送情况"]
    assert outcome.result.findings["rule_id"].tolist().count("roster.header") == 1


# --- the inbox guard -------------------------------------------------------------------------

@pytest.fixture
def ten_scored(tmp_path, rules) -> tuple[Path, Path]:
    """A night with ten departments scored, with feedback files."""
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(10):
        write(src, dept(f"6201{i:02d}", f"单位{i}"), f"6201{i:02d}.xlsx")
    assert run(src, out, 2021, rules, settle=0, feedback=True).exit_code == 0
    return src, out


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in [out / WORKBOOK, out / "run.json", *sorted((out / "feedback").iterdir())]}


def _last_attempt(out: Path) -> tuple:
    runs = H.list_runs(H.db_path_for(out))
    last = runs.iloc[-1]
    units = None if pd.isna(last["单位数"]) else int(last["单位数"])  # none scored: no count, not 0
    return last["结果"], int(last["退出码"]), units, len(runs)


@pytest.mark.parametrize("inbox", ["empty", "missing", "shrunk"])
def test_an_empty_missing_or_shrunken_inbox_replaces_nothing(ten_scored, rules, inbox):
    src, out = ten_scored
    before = _outputs(out)
    if inbox == "empty":
        for p in src.iterdir():
            p.unlink()
    elif inbox == "missing":
        src.rename(src.with_name("moved"))
    else:
        for p in sorted(src.iterdir())[3:]:  # 3 of 10 left: 30 %
            p.unlink()
    r = invoke("run", src, "--out", out, "--year", "2021", "--settle", "0", "--feedback", "--findings-exit", "0", "--quiet")
    assert r.exit_code == EXIT_INPUT == 6
    expected = {
        "missing": "",
        "empty": f"收件文件夹 {src} 中没有任何提交文件（共享盘未挂载，或文件被移走？）",
        "shrunk": "收件文件夹中只有 3 个单位的文件，不到上次评分运行（10 个单位）的 50%（规则 roster.min_share），"
                  "可能共享盘未挂载完整或文件夹被误移",
    }[inbox]
    hint = "；确属单位减少时加 --allow-shrink 重新运行" if inbox == "shrunk" else ""
    said = expected + "；本次没有评分，汇总工作簿、反馈文件和运行历史中的得分都未改动。请检查收件文件夹" + hint
    if inbox == "missing":  # found before the lock is taken (issue 23), with the system's reason
        said = f"无法打开收件文件夹 {src}：文件夹不存在，或共享盘未连接；请检查路径和网络连接；本次没有做任何改动"
    assert " ".join(r.output.split()) == " ".join(said.split())
    assert _outputs(out) == before
    assert _last_attempt(out) == ("未评分：收件文件夹为空、缺失或单位过少", 6, None, 2)
    assert H.last_unit_count(H.db_path_for(out), 2021) == 10


def test_allow_shrink_accepts_a_real_shrink(ten_scored, rules):
    src, out = ten_scored
    for p in sorted(src.iterdir())[3:]:
        p.unlink()
    outcome = run(src, out, 2021, rules, settle=0, feedback=True, allow_shrink=True)
    assert outcome.exit_code == 0 and len(outcome.result.depts) == 3
    assert len(list((out / "feedback").iterdir())) == 3
    assert _last_attempt(out) == ("已评分", 0, 3, 2)


def test_unreadable_files_count_as_units_on_both_sides(tmp_path, rules):
    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("620101", "省委编办"), "620101.xlsx")
    for code in ("620102", "620103", "620104"):
        (src / f"{code}.xlsx").write_text("不是表格", encoding="utf-8")
    assert run(src, out, 2021, rules, settle=0).exit_code == 1
    assert H.last_unit_count(H.db_path_for(out), 2021) == 4
    for code in ("620102", "620103"):
        (src / f"{code}.xlsx").unlink()
    assert run(src, out, 2021, rules, settle=0).exit_code == 1  # 2 of 4: not below half
    (src / "620104.xlsx").unlink()
    assert run(src, out, 2021, rules, settle=0).exit_code == 0  # 1 of 2, and no file with an error left
    (src / "620101.xlsx").unlink()
    assert run(src, out, 2021, rules, settle=0).exit_code == 6  # empty


def test_the_roster_is_the_measure_before_any_scored_run(tmp_path, rules):
    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("620101", "省委编办"), "620101.xlsx")
    out.mkdir()
    write_xlsx(out / ROSTER_NAME, [[f"6201{i:02d}", f"单位{i}"] for i in range(3)])
    outcome = run(src, out, 2021, rules, settle=0)
    assert outcome.exit_code == 6 and outcome.notes[0].startswith("收件文件夹中只有 1 个单位的文件，不到名单（3 个单位）的 50%")
    assert not (out / WORKBOOK).exists()

"""The roster (名单): reading the bureau's list of units that must submit."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import pytest
import xlsxwriter

from evalbatch.roster import COLUMNS, ROSTER_NAME, find_roster, read_roster

HEAD = ["单位编码", "单位名称", "单位类别", "主管部门", "应报项目数", "联系人", "截止日期"]


def write_xlsx(path: Path, rows: list[list], head: list = HEAD, title: str | None = None) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("名单")
    r = 0
    if title:
        ws.write(0, 0, title)
        r = 1
    ws.write_row(r, 0, head)
    for i, row in enumerate(rows, start=r + 1):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(i, c, v)
    wb.close()
    return path


def found(roster) -> list[tuple]:
    f = roster.findings
    return list(zip(f["rule_id"], f["level"], f["sheet"], f["cell"], f["message"]))


def test_find_roster(tmp_path):
    assert find_roster(tmp_path) is None
    (tmp_path / ROSTER_NAME).write_bytes(b"x")
    assert find_roster(tmp_path) == tmp_path / ROSTER_NAME
    given = tmp_path / "other.csv"
    assert find_roster(tmp_path, given) == given


def test_reads_units_with_codes_normalised_as_submissions(tmp_path, rules):
    path = write_xlsx(tmp_path / ROSTER_NAME, [
        ["001001", "省教育厅", "政府部门", None, 3, "张三", "2026-03-31"],
        [620101, "省财政厅", "政府部门", "省政府", None, None, None],
        ["６２０１０２ ", "省科协", "民主党派及群团组织", None, None, "李四", "2026年4月1日"],
    ], title="2026 年预算单位名单")
    roster = read_roster(path, rules)
    assert list(roster.units.columns) == COLUMNS
    u = roster.units
    assert u["code"].tolist() == ["001001", "620101", "620102"]
    assert u["name"].tolist() == ["省教育厅", "省财政厅", "省科协"]
    assert u["category"].tolist() == ["政府部门", "政府部门", "民主党派及群团组织"]
    assert u["parent"].tolist()[1] == "省政府" and pd.isna(u["parent"].iloc[0])
    assert u["expected_projects"].tolist()[0] == 3 and pd.isna(u["expected_projects"].iloc[1])
    assert u["deadline"].tolist() == ["2026-03-31", None, "2026-04-01"]
    assert roster.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert found(roster) == [("value.code_normalised", "提示", "名单", "A5", "名单中的单位编码“６２０１０２ ”含空格或全角字符，已按“620102”读取")]


def test_duplicate_codes_blank_names_and_bad_values_are_findings(tmp_path, rules):
    path = write_xlsx(tmp_path / ROSTER_NAME, [
        ["001", "甲单位", "政府部门"],
        ["002", None, "事业单位"],
        [None, "无编码单位", None],
        ["001", "甲单位（重复）", None],
        ["003", "丙单位", "企业", None, "三个", None, "下周"],
    ])
    roster = read_roster(path, rules)
    assert roster.units["code"].tolist() == ["001", "002", "003"]
    assert roster.units["name"].tolist()[0] == "甲单位"
    assert pd.isna(roster.units["category"].iloc[2]) and pd.isna(roster.units["expected_projects"].iloc[2])
    assert sorted(found(roster)) == sorted([
        ("roster.code_blank", "错误", "名单", "A4", "名单中这一行没有单位编码，未列入名单；请填写财政部门下达的单位编码"),
        ("roster.name_blank", "错误", "名单", "B3", "名单中这个单位没有单位名称；请填写单位全称"),
        ("roster.value", "警告", "名单", "C6",
         "单位类别“企业”不是可选的类别（党委部门、政府部门、人大政协及司法机关、民主党派及群团组织、事业单位、其他），按未填处理"),
        ("roster.value", "警告", "名单", "E6", "应报项目数“三个”不是非负整数，按未填处理"),
        ("roster.value", "警告", "名单", "G6", "截止日期“下周”不是日期（如 2026-03-31），按未填处理"),
        ("roster.duplicate", "错误", "名单", "A5", "名单中单位编码 001 重复，与第 2 行相同；本行未采用，请删除重复行"),
    ])
    assert set(roster.findings["file"]) == {ROSTER_NAME}


def test_csv_in_gbk_with_only_the_required_columns(tmp_path, rules):
    path = tmp_path / "名单.csv"
    path.write_bytes("单位编码,单位名称\n001001,省教育厅\n 001002 ,省卫健委\n".encode("gbk"))
    roster = read_roster(path, rules)
    assert roster.units["code"].tolist() == ["001001", "001002"]
    assert roster.units["name"].tolist() == ["省教育厅", "省卫健委"]
    assert roster.units["category"].isna().all() and roster.units["deadline"].isna().all()
    assert found(roster) == []  # spaces around a code are dropped silently, as in 基本信息


def test_no_header_and_unreadable_files_are_one_error_each(tmp_path, rules):
    headless = write_xlsx(tmp_path / "a.xlsx", [["001", "甲"]], head=["编号", "名字"])
    assert found(read_roster(headless, rules)) == [
        ("roster.header", "错误", "", "", "名单 a.xlsx 中没有找到表头（需要“单位编码”和“单位名称”两列）；请用 evalbatch roster template 生成的模板填写")]
    empty = tmp_path / "b.xlsx"
    empty.write_bytes(b"")
    roster = read_roster(empty, rules)
    assert roster.units.empty and list(roster.units.columns) == COLUMNS
    assert found(roster) == [("roster.unreadable", "错误", "", "", "名单 b.xlsx 无法读取：文件是空的（0 字节），可能复制未完成或保存失败，请重新提交")]
    missing = read_roster(tmp_path / "none.xlsx", rules)
    assert [f[0] for f in found(missing)] == ["roster.unreadable"] and missing.sha256 == ""


@pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX")
def test_a_roster_that_kills_its_reader_is_one_error_and_no_roster(tmp_path, rules, monkeypatch):
    """The roster is read in the sandbox like every file on the share (issue 22): a reader that
    dies on it costs the roster, never the run."""
    from evalbatch.read import sandbox

    path = write_xlsx(tmp_path / ROSTER_NAME, [["620101", "省财政厅", "政府部门", None, None, None, None]])
    monkeypatch.setenv(sandbox.TEST_FAULT, f"{ROSTER_NAME}=SIGKILL")
    sandbox._close_shared()
    monkeypatch.setattr(sandbox, "_SHARED", None)
    try:
        roster = read_roster(path, rules)
    finally:
        sandbox._close_shared()
    assert roster.units.empty
    assert found(roster) == [("roster.unreadable", "错误", "", "",
                              f"名单 {ROSTER_NAME} 无法读取：读取该文件的进程意外退出（被信号 SIGKILL 终止），文件可能损坏或包含异常内容；"
                              "请重新保存为 .xlsx 后提交")]
    monkeypatch.delenv(sandbox.TEST_FAULT)
    assert read_roster(path, rules).units["code"].tolist() == ["620101"]  # the next read works

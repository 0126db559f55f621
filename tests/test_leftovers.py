"""Issue 22 point 7, the four leftovers of the last pass: an --out path with `[/]` printed
literally; 评价年度 `2021年` / `2021年度` read as 2021; file names ending in a space or a dot
read and shown; a file dated in the future never supersedes a file first seen later."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from builders import dept, reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths
from evalbatch.night.runner import run
from evalbatch.rules import load_rules

RULES = load_rules()


def _aged(*paths):
    for p in paths:
        os.utime(p, (time.time() - 3600,) * 2)


def test_an_out_path_with_markup_is_printed_literally(tmp_path):
    src = tmp_path / "in"
    _aged(write(src, reference(), "620101.xlsx"))
    out = str(tmp_path / "输出[") + "/]2021[bold]"
    r = CliRunner().invoke(app, ["run", str(src), "--out", out, "--year", "2021", "--settle", "0"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert f"汇总工作簿：{out}/绩效自评汇总_2021.xlsx" in r.output
    assert os.path.exists(f"{out}/绩效自评汇总_2021.xlsx")


@pytest.mark.parametrize("typed", ["2021年", "2021年度", "２０２１年度", " 2021 年 "])
def test_a_year_written_with_nian_is_2021(tmp_path, typed):
    r = check_paths([write(tmp_path, reference(year=typed))], RULES, year=2021)
    assert r.findings[r.findings["rule_id"].isin(["value.unreadable", "value.year"])].empty
    d = r.depts.iloc[0]
    assert (d["year"], d["total"], d["grade"]) == (2021, 90.56, "优")


def test_an_unreadable_year_asks_for_a_year_not_a_count(tmp_path):
    r = check_paths([write(tmp_path, reference(year="二〇二一年"))], RULES, year=2021)
    f = r.findings[r.findings["rule_id"] == "value.unreadable"]
    assert f[["level", "sheet", "message"]].values.tolist() == [
        ["错误", "基本信息", "「评价年度」填写的“二〇二一年”无法识别为年份；请填写四位年份，如 2021"]]


def test_names_ending_in_a_space_or_a_dot_are_read_and_shown(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("620201", "空格结尾"), "620201.xlsx ")
    write(src, dept("620202", "句点结尾"), "620202.xlsx.")
    _aged(*src.iterdir())
    outcome = run(src, out, 2021, RULES, settle=0)
    r = outcome.result
    assert sorted(r.depts["dept_code"]) == ["620201", "620202"]
    assert {rec.name: rec.status for rec in r.records} == {"620201.xlsx ": "已采用", "620202.xlsx.": "已采用"}
    notes = r.findings[r.findings["rule_id"] == "file.name_trailing"].sort_values("file")
    assert notes[["file", "level"]].values.tolist() == [["620201.xlsx ", "提示"], ["620202.xlsx.", "提示"]]
    assert notes["message"].iloc[0] == ("文件名“620201.xlsx ”以空格或句点结尾，本次已读取；Windows 中这样的文件难以打开、改名或删除，"
                                        "建议去掉末尾的空格或句点后重新提交")
    assert outcome.exit_code == 0


def test_a_file_dated_in_the_future_never_supersedes_one_first_seen_later(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    old = write(src, dept("620301", "时钟超前", satisfaction="85.975%"), "旧.xlsx")
    future = time.time() + 5 * 365 * 86400
    os.utime(old, (future, future))
    first = run(src, out, 2021, RULES, settle=0)
    assert first.result.depts.iloc[0]["total"] == 89.99
    time.sleep(1.1)  # the history database keeps start times to the second
    write(src, dept("620301", "时钟超前", satisfaction="86.13%"), "更正.xlsx")  # the corrected file, dated now
    second = run(src, out, 2021, RULES, settle=0)
    status = {rec.name: rec.status for rec in second.result.records}
    assert status == {"更正.xlsx": "已采用", "旧.xlsx": "被取代"}
    assert second.result.depts.iloc[0]["total"] == 90.0
    superseded = second.result.findings[second.result.findings["rule_id"] == "file.superseded"]
    assert superseded["file"].tolist() == ["旧.xlsx"]


def test_without_a_history_a_future_file_counts_as_seen_now(tmp_path):
    """No run has seen either file: the future-dated one counts as first seen now, newer than a
    file modified an hour ago (the previous behaviour for a new folder)."""
    src = tmp_path / "in"
    a = write(src, dept("620302", "甲", satisfaction="85.975%"), "a.xlsx")
    b = write(src, dept("620302", "甲", satisfaction="86.13%"), "b.xlsx")
    os.utime(a, (time.time() + 86400 * 30,) * 2)
    _aged(b)
    r = run(src, tmp_path / "out", 2021, RULES, settle=0).result
    assert {rec.name: rec.status for rec in r.records} == {"a.xlsx": "已采用", "b.xlsx": "被取代"}
    assert not pd.isna(r.depts.iloc[0]["total"])

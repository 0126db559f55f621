"""What evalbatch prints and writes carries department text literally (issue 12 point 7):
console markup in a 单位名称 or 实际值 is neither interpreted nor a crash, every CSV defuses
cells a spreadsheet would evaluate, and `check` keeps files of the same name apart.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write.csvsafe import FORMULA_START, defuse, write_csv

cli = CliRunner()
RULES = load_rules()
MARKUP_NAME = "[/]省委[bold]x[/bold]编办:smile:"
MARKUP_ACTUAL = "[/]待[red]定"  # no level word in it: quoted back in a score.level_unknown note
HYPERLINK = '=HYPERLINK("http://example.com/x","点此查看")'


def markup_department() -> dict:
    data = reference(dept_name=MARKUP_NAME)
    row = next(r for r in data["indicators"] if r["l3"] == "财务管理制度健全性")
    row["actual"] = MARKUP_ACTUAL
    return data


def invoke(*args: str):
    result = cli.invoke(app, list(args), env={"COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def aged(*paths: Path) -> None:
    for p in paths:
        os.utime(p, (time.time() - 3600,) * 2)


# --- the console prints department text as it is --------------------------------------------------------------


def test_check_prints_markup_in_a_name_and_an_actual_value_literally(tmp_path):
    path = write(tmp_path, markup_department(), "620101.xlsx")
    r = invoke("check", str(path))
    assert r.exit_code == 0, r.output
    assert MARKUP_NAME in r.output  # also no emoji: ":smile:" stays as typed
    assert MARKUP_ACTUAL in r.output and "定性等级无法识别" in r.output
    assert "Traceback" not in r.output


def test_history_dept_prints_markup_literally(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    aged(write(src, markup_department(), "620101.xlsx"))
    run(src, out, 2021, RULES, settle=0)
    r = invoke("history", str(out), "--dept", "620101")
    assert r.exit_code == 0, r.output
    assert MARKUP_NAME in r.output and "90.56" in r.output


def test_history_prints_a_markup_dept_argument_literally(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    aged(write(src, reference(), "620101.xlsx"))
    run(src, out, 2021, RULES, settle=0)
    r = invoke("history", str(out), "--dept", "[/]")
    assert r.exit_code == 0 and "没有单位编码 [/] 的记录" in r.output


# --- CSV: no cell a spreadsheet would evaluate -------------------------------------------------------------------


@pytest.mark.parametrize("start", FORMULA_START)
def test_defuse_quotes_every_formula_start(start):
    assert defuse(f"{start}1+1") == f"'{start}1+1"


def test_defuse_leaves_plain_text_and_numbers():
    assert defuse("中共甘肃省委机构编制委员会办公室") == "中共甘肃省委机构编制委员会办公室"
    assert defuse("a=b") == "a=b"
    assert defuse(-3.5) == -3.5 and defuse(None) is None


def test_write_csv_defuses_text_and_headers_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame({"单位名称": [HYPERLINK, "@SUM(A1)", "正常"], "差异": [-1.5, 2.0, None], "=列": ["-1", "+1", "\tx"]})
    write_csv(frame, tmp_path / "x.csv")
    rows = list(csv.reader((tmp_path / "x.csv").open(encoding="utf-8-sig")))
    assert rows == [
        ["单位名称", "差异", "'=列"],
        ["'" + HYPERLINK, "-1.5", "'-1"],
        ["'@SUM(A1)", "2.0", "'+1"],
        ["正常", "", "'\tx"],
    ]


def _evaluated(cell: str) -> bool:
    """Whether Excel, WPS or LibreOffice would take the cell for a formula."""
    return cell.startswith(FORMULA_START) and not _number(cell)


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("dept", [True, False], ids=["dept-history", "runs"])
def test_history_csv_export_has_no_cell_a_spreadsheet_would_evaluate(tmp_path, dept):
    """Acceptance: a history holding =HYPERLINK(...) names (a 单位名称, a file name) exports a
    CSV whose every text cell is inert."""
    src, out = tmp_path / "in", tmp_path / "out"
    aged(write(src, reference(dept_name=HYPERLINK), "=HYPERLINK(1).xlsx"), write(src, reference(dept_code="620102"), "-b.xlsx"))
    run(src, out, 2021, RULES, settle=0)
    target = tmp_path / "x.csv"
    r = invoke("history", str(out), *(["--dept", "620101"] if dept else []), "--export", str(target))
    assert r.exit_code == 0, r.output
    cells = [c for row in csv.reader(target.open(encoding="utf-8-sig")) for c in row]
    assert [c for c in cells if _evaluated(c)] == []
    if dept:
        assert "'" + HYPERLINK in cells and "'=HYPERLINK(1).xlsx" in cells


# --- check: files of the same name from different folders -------------------------------------------------------


def test_check_keeps_files_of_the_same_name_apart(tmp_path):
    a = write(tmp_path / "a", reference(), "x.xlsx")
    b = write(tmp_path / "b", reference(dept_code="620102", dept_name="第二单位"), "x.xlsx")
    r = invoke("check", str(a), str(b), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    names = [a.as_posix(), b.as_posix()]
    assert [f["file"] for f in data["files"]] == names
    assert [(s["file"], s["dept_code"], s["total"]) for s in data["scores"]] == [(names[0], "620101", 90.56), (names[1], "620102", 90.56)]
    assert {f["file"] for f in data["findings"]} == set(names)
    text = invoke("check", str(a), str(b))
    assert text.exit_code == 0 and "单位 620101" in text.output and "单位 620102 第二单位" in text.output


def test_check_names_one_file_given_twice_distinctly(tmp_path):
    a = write(tmp_path, reference(), "x.xlsx")
    data = json.loads(invoke("check", str(a), str(a), "--json").output)
    assert [f["file"] for f in data["files"]] == [a.as_posix(), a.as_posix() + "（2）"]


def test_run_still_names_files_by_their_path_in_the_folder(tmp_path):
    src = tmp_path / "in"
    aged(write(src / "a", reference(), "x.xlsx"), write(src / "b", reference(dept_code="620102"), "x.xlsx"))
    outcome = run(src, tmp_path / "out", 2021, RULES, settle=0)
    assert [r.name for r in outcome.result.records] == ["a/x.xlsx", "b/x.xlsx"]

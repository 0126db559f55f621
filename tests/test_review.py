"""Re-review (抽评, issue 11): the draw, the review workbooks, reviewed scores applied, bad input.

Everything runs on the demo samples (`evalbatch sample --layout mixed`), run once into an
output folder that each test copies: a draw needs the run's database and cache beside it.
Reviewers are played with openpyxl writing only into the unlocked cells, as Excel would let them.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import faults
import openpyxl
import pytest

from evalbatch.night.runner import run
from evalbatch.review.draw import DrawParams, draw
from evalbatch.review.store import review_trail
from evalbatch.rules import load_rules
from evalbatch.values import round_half_up
from evalbatch.write.history import changes

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2021
RULES = load_rules()


def evalbatch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalbatch", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300)


@dataclass
class Demo:
    src: Path
    out: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    base = tmp_path_factory.mktemp("review")
    made = evalbatch("sample", "-o", base / "in", "--layout", "mixed", "--count", 20, "--seed", 1, "--year", YEAR)
    assert made.returncode == 0, made.stderr
    run(base / "in", base / "out", YEAR, RULES, settle=0)
    return Demo(base / "in", base / "out")


def copy_out(demo: Demo, tmp_path: Path, name: str = "out") -> Path:
    return Path(shutil.copytree(demo.out, tmp_path / name))


def sheet(path: Path, name: str) -> list[dict]:
    rows = list(openpyxl.load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:] if any(v is not None for v in r)]


def drawn(out: Path, draw_id: int) -> list[tuple]:
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        return conn.execute("SELECT kind, dept_code, project_code, reasons FROM review_items WHERE draw_id = ? ORDER BY item_no",
                            (draw_id,)).fetchall()


def review_findings(workbook: Path) -> list[tuple]:
    return [(r["规则编号"], r["级别"], r["文件"], r["工作表"], r["单元格"]) for r in sheet(workbook, "审核问题")
            if str(r["规则编号"]).startswith("review.")]


# --- the draw -------------------------------------------------------------------------------


def test_same_seed_same_draw_also_with_the_files_renamed_and_reordered(demo, tmp_path):
    out = copy_out(demo, tmp_path)
    first = evalbatch("review", "draw", out, "--year", YEAR, "--share", "20%", "--seed", 1)
    again = evalbatch("review", "draw", out, "--year", YEAR, "--share", "20%", "--seed", 1, "--force")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert drawn(out, 1) == drawn(out, 2) and len(drawn(out, 1)) > 0
    assert sorted(p.name for p in (out / "抽评" / "作废").iterdir())[0].endswith("_抽评表_2021_1.xlsx")  # replaced, kept
    with sqlite3.connect(out / "evalbatch.sqlite") as conn:
        seeds = conn.execute("SELECT seed, params FROM review_draws ORDER BY id").fetchall()
    assert [s for s, _ in seeds] == [1, 1] and '"share": 0.2' in seeds[0][1]
    # The same submissions under other names, in another order and other folders: the same draw.
    src = tmp_path / "renamed"
    for i, p in enumerate(sorted(demo.src.iterdir(), reverse=True)):
        target = src / f"组{i % 3}" / f"{i:02d}_{p.name[::-1]}{p.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    other = tmp_path / "out2"
    run(src, other, YEAR, RULES, settle=0)
    third = evalbatch("review", "draw", other, "--year", YEAR, "--share", "20%", "--seed", 1)
    assert third.returncode == 0, third.stderr
    assert drawn(other, 1) == drawn(out, 1)


def test_every_flagged_project_is_drawn_with_its_reason(demo, tmp_path):
    out = copy_out(demo, tmp_path)
    # --must-draw all: every must-draw on top of the share (the default bounds the draw, issue 20)
    outcome = draw(out, DrawParams(YEAR, 0.2, seed=1, must_draw="all"), RULES)
    workbook = out / f"绩效自评汇总_{YEAR}.xlsx"
    mismatch = {re.match(r"项目 (\S+) ", r["说明"]).group(1) for r in sheet(workbook, "审核问题") if r["规则编号"] == "score.exec_mismatch"}
    projects = [p for p in sheet(workbook, "项目汇总") if p["项目编码"]]
    big = {p["项目编码"] for p in projects if abs(p["得分差异"] or 0) > RULES.review_flag_diff}
    poor = {p["项目编码"] for p in projects if p["评价等级"] in RULES.review_flag_grades}
    assert mismatch and big  # the demo has both kinds
    reasons = dict(zip(outcome.items["project_code"], outcome.items["reasons"]))
    for code in mismatch:
        assert "绩效与预算执行不匹配" in reasons[code]
    for code in big:
        assert "得分差异" in reasons[code]
    for code in poor:
        assert "评价等级为差" in reasons[code]
    # Every department has at least one project drawn (--min-per-dept 1), the rest at random.
    assert {p["单位编码"] for p in projects} <= set(outcome.items["dept_code"])
    assert set(outcome.items["reasons"]) - {r for r in outcome.items["reasons"] if r.startswith("必抽：")} == {"随机抽取"}


# --- filling in and applying ----------------------------------------------------------------


def fill(ws, row: int, header: str, value) -> None:
    """What a reviewer can do in Excel: type into an unlocked cell of the protected sheet."""
    head = [c.value for c in ws[1]]
    cell = ws.cell(row, head.index(header) + 1)
    assert ws.protection.sheet and cell.protection.locked is False, (ws.title, header)
    cell.value = value


def rows_of(ws, item_no: str) -> list[int]:
    return [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == item_no]


def column(ws, row: int, header: str):
    return ws.cell(row, [c.value for c in ws[1]].index(header) + 1).value


def grade_item(ws, item_no: str, marks: list[float], who: str = "李四") -> float:
    """Fill the rubric, 复核人, 复核日期 and 综合意见 of an item; the quality score."""
    (row,) = rows_of(ws, item_no)
    rubric = [h for h in (c.value for c in ws[1]) if h and h.endswith("分）")]
    for header, mark in zip(rubric, marks):
        fill(ws, row, header, mark)
    fill(ws, row, "复核人", who)
    fill(ws, row, "复核日期", "2022-03-01")
    fill(ws, row, "综合意见", f"{item_no} 已核实")
    return sum(marks)


def score_all(ws, item_no: str, score=lambda w: w) -> dict[int, float]:
    """抽评得分 for every indicator of an item; the scores given by row."""
    given = {}
    for r in rows_of(ws, item_no):
        given[r] = score(column(ws, r, "分值"))
        fill(ws, r, "抽评得分", given[r])
        fill(ws, r, "抽评意见", "已核实")
    return given


def halve_one(ws, item_no: str, given: dict[int, float]) -> int:
    """Replace one 正向比例 indicator's score by a verified value of half its target: the
    rules rescore it to half its 分值. The row changed."""
    for r in rows_of(ws, item_no):
        m = re.fullmatch(r"≥(\d+(?:\.\d+)?)(\D*)", str(column(ws, r, "指标值")))
        if m and str(column(ws, r, "复核说明")).startswith("完成率"):
            fill(ws, r, "抽评得分", None)
            fill(ws, r, "抽评核实完成值", f"{float(m.group(1)) / 2:g}{m.group(2)}")
            given[r] = float(round_half_up(column(ws, r, "分值") * 0.5, 2))
            return r
    raise AssertionError(f"no 正向比例 indicator in item {item_no}")


def expected_project(before: dict, given: dict[int, float]) -> float:
    """A project's 最终得分 by hand: its execution score (unchanged) plus its indicators' final scores (at most 90)."""
    return float(round_half_up(before["执行率得分"] + min(round(sum(given.values()), 2), 90), 2))


@pytest.fixture(scope="module")
def reviewed(demo, tmp_path_factory):
    """Departments drawn whole; reviewer 1 and 2 fill two items and the run applies them."""
    out = copy_out(demo, tmp_path_factory.mktemp("reviewed"))
    before = {d["单位编码"]: d for d in sheet(out / f"绩效自评汇总_{YEAR}.xlsx", "汇总排名")}
    top = next(code for code, d in before.items() if d["排名"] == 1)
    outcome = draw(out, DrawParams(YEAR, 0.2, seed=7, reviewers=2, departments=True, include=(top, "620201")), RULES)
    items = outcome.items
    own = items[(items["kind"] == "整体") & (items["dept_code"] == top)].iloc[0]
    project = items[(items["kind"] == "项目") & (items["dept_code"] == "620201")].iloc[0]
    projects_before = {p["项目编码"]: p for p in sheet(out / f"绩效自评汇总_{YEAR}.xlsx", "项目汇总")}
    expected = {}
    for item, how in ((own, "half"), (project, "full")):
        path = out / "抽评" / item["workbook"]
        wb = openpyxl.load_workbook(path)
        ws = wb["抽评指标"]
        if how == "half":  # the top department's own self-evaluation: every indicator at half its 分值
            given = score_all(ws, item["item_no"], lambda w: float(round_half_up(w / 2, 2)))
            expected["dept"] = round(sum(given.values()), 2)
        else:  # a project: full marks but one point off one indicator, and one rescored from a verified value
            given = score_all(ws, item["item_no"])
            first = rows_of(ws, item["item_no"])[0]
            given[first] = given[first] - 1
            fill(ws, first, "抽评得分", given[first])
            halve_one(ws, item["item_no"], given)
            expected["project"] = expected_project(projects_before[item["project_code"]], given)
        expected[how + "_quality"] = grade_item(wb["抽评项目"], item["item_no"], [15, 14, 13, 12, 11, 10, 9])
        wb.save(path)
    result = run(demo.src, out, YEAR, RULES, settle=0, feedback=True)
    return out, outcome, own, project, expected, result, top


def test_reviewed_scores_give_the_hand_computed_final_scores(reviewed):
    out, _, own, project, expected, result, top = reviewed
    workbook = out / f"绩效自评汇总_{YEAR}.xlsx"
    p = next(r for r in sheet(workbook, "项目汇总") if r["项目编码"] == project["project_code"])
    assert p["抽评得分"] == p["最终得分"] == expected["project"] != p["复核得分"]
    d = next(r for r in sheet(workbook, "汇总排名") if r["单位编码"] == top)
    assert d["抽评得分"] == d["最终得分"] == expected["dept"] and d["复核得分"] > d["最终得分"]
    assert review_findings(workbook) == []
    assert result.exit_code == 0


def test_the_ranking_follows_the_final_scores(reviewed):
    out, *_, top = reviewed
    ranked = [r for r in sheet(out / f"绩效自评汇总_{YEAR}.xlsx", "汇总排名") if r["排名"] is not None]
    finals = [r["最终得分"] for r in ranked]
    assert finals == sorted(finals, reverse=True)
    assert all(r["排名"] == 1 + sum(f > r["最终得分"] for f in finals) for r in ranked)
    assert next(r for r in ranked if r["单位编码"] == top)["排名"] > 1  # was first on 复核得分
    unreviewed = [r for r in ranked if r["抽评得分"] is None]
    assert unreviewed and all(r["最终得分"] == r["复核得分"] for r in unreviewed)


def test_review_results_list_every_drawn_item(reviewed):
    out, outcome, own, project, expected, *_ = reviewed
    rows = sheet(out / f"绩效自评汇总_{YEAR}.xlsx", "抽评结果")
    assert sorted((r["抽取编号"], r["抽评编号"]) for r in rows) == sorted((outcome.draw_id, n) for n in outcome.items["item_no"])
    done = {r["抽评编号"]: r for r in rows if r["是否完成"] == "是"}
    assert set(done) == {own["item_no"], project["item_no"]}
    p = done[project["item_no"]]
    assert (p["最终得分"], p["质量得分"], p["质量等级"], p["复核人"]) == (expected["project"], 84, "良", "李四")
    assert p["偏差（自评−抽评）"] == pytest.approx(p["自评得分"] - expected["project"])
    assert p["抽取原因"] and p["已抽评指标"] == f"{project['n_indicators']}/{project['n_indicators']}"
    pending = [r for r in rows if r["是否完成"] == "否"]
    assert pending and all(r["说明"] for r in pending)


def test_adjustments_are_in_the_history_and_the_feedback(reviewed):
    out, outcome, own, project, expected, result, top = reviewed
    trail = review_trail(out / "evalbatch.sqlite", "620201")
    assert len(trail) == project["n_indicators"] and set(trail["复核人"]) == {"李四"}
    assert trail["方式"].str.startswith("按抽评核实完成值重新计分").sum() == 1
    found = changes(out / "evalbatch.sqlite", result.run_id)
    assert found.loc[found["单位编码"] == top, "变动原因"].tolist() == ["抽评"]
    feedback = next((out / "feedback").glob(f"{top}_*.xlsx"))
    mine = sheet(feedback, "抽评结果")
    assert [r["抽评编号"] for r in mine if r["是否完成"] == "是"] == [own["item_no"]]
    assert {r["抽评意见"] for r in sheet(feedback, "指标复核") if r["项目编码"] is None} == {"已核实"}


# --- bad review input -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn_base(demo, tmp_path_factory):
    """An output folder with a draw of two reviewers; two items of reviewer 1 to play with."""
    out = copy_out(demo, tmp_path_factory.mktemp("bad"))
    outcome = draw(out, DrawParams(YEAR, 0.2, seed=1, reviewers=2), RULES)
    mine = outcome.items[outcome.items["reviewer"] == "1"]
    good = mine[mine["dept_code"].str.startswith("6202")].iloc[0]  # a template-format project: 90 indicator points
    other = mine[mine["item_no"] != good["item_no"]].iloc[0]
    return out, good, other


def bad_case(drawn_base, tmp_path, demo, spoil) -> tuple[Path, list[tuple], float, dict, object]:
    """A copy of the drawn folder; `good` fully reviewed (one point off its first indicator),
    then `spoil(ws_marks, ws_items, good_rows, other_rows, out, src)`; the run's review findings,
    the good project's expected and actual rows."""
    base, good, other = drawn_base
    out = Path(shutil.copytree(base, tmp_path / "out"))
    src = Path(shutil.copytree(demo.src, tmp_path / "in"))
    before = {p["项目编码"]: p for p in sheet(out / f"绩效自评汇总_{YEAR}.xlsx", "项目汇总")}
    path = out / "抽评" / good["workbook"]
    wb = openpyxl.load_workbook(path)
    marks = wb["抽评指标"]
    given = score_all(marks, good["item_no"])
    first = rows_of(marks, good["item_no"])[0]
    given[first] -= 1
    fill(marks, first, "抽评得分", given[first])
    grade_item(wb["抽评项目"], good["item_no"], [15, 15, 15, 15, 15, 15, 10])
    expected = spoil(wb, good, other, given, out, src)
    wb.save(path)
    result = run(src, out, YEAR, RULES, settle=0)
    workbook = out / f"绩效自评汇总_{YEAR}.xlsx"
    after = {p["项目编码"]: p for p in sheet(workbook, "项目汇总")}
    want = expected_project(before[good["project_code"]], expected if isinstance(expected, dict) else given)
    return workbook, review_findings(workbook), want, after, result


def _over(wb, good, other, given, out, src):
    ws = wb["抽评指标"]
    r = rows_of(ws, other["item_no"])[0]
    fill(ws, r, "抽评得分", column(ws, r, "分值") + 5)
    return ("review.score_invalid", "错误", "抽评指标", f"O{r}")


def _negative(wb, good, other, given, out, src):
    ws = wb["抽评指标"]
    r = rows_of(ws, other["item_no"])[0]
    fill(ws, r, "抽评得分", -1)
    return ("review.score_invalid", "错误", "抽评指标", f"O{r}")


def _rubric(wb, good, other, given, out, src):
    ws = wb["抽评项目"]
    (r,) = rows_of(ws, other["item_no"])
    fill(ws, r, "完整准确（15分）", 16)
    return ("review.rubric_invalid", "错误", "抽评项目", f"O{r}")


def _unknown_project(wb, good, other, given, out, src):
    ws = wb["抽评项目"]
    r = ws.max_row + 1  # a row typed below the table (the sheet's protection taken off)
    ws.cell(r, 1).value, ws.cell(r, 15).value = "999", 12
    return ("review.unknown", "错误", "抽评项目", f"A{r}")


def _unknown_indicator(wb, good, other, given, out, src):
    ws = wb["抽评指标"]
    r = ws.max_row + 1
    ws.cell(r, 1).value, ws.cell(r, 2).value, ws.cell(r, 15).value = other["item_no"], 999, 1
    return ("review.unknown", "错误", "抽评指标", f"A{r}")


def _changed(wb, good, other, given, out, src):
    ws = wb["抽评指标"]
    r = rows_of(ws, other["item_no"])[0]
    fill(ws, r, "抽评得分", 0)
    ws.cell(r, 8).value = column(ws, r, "分值") + 1  # 分值, a locked cell
    return ("review.changed", "错误", "抽评指标", f"A{r}")


def _stale(wb, good, other, given, out, src):
    submission = openpyxl.load_workbook(src / good["source"])
    info = submission["基本信息"]
    phone = next(r for r in range(1, info.max_row + 1) if info.cell(r, 1).value == "联系电话")
    info.cell(phone, 2).value = "0931-0000000"  # the department resubmitted: nothing scored changed
    submission.save(src / good["source"])
    (r,) = rows_of(wb["抽评项目"], good["item_no"])
    return ("review.stale", "警告", "抽评项目", f"A{r}")


def _unreadable(wb, good, other, given, out, src):
    (out / "抽评" / f"抽评表_{YEAR}_9.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    return ("review.unreadable", "错误", f"抽评/抽评表_{YEAR}_9.xlsx", None, None)  # the whole file: no sheet, no cell


BAD = {"score above 分值": _over, "negative score": _negative, "rubric above its maximum": _rubric,
       "unknown project": _unknown_project, "unknown indicator": _unknown_indicator, "row changed outside the fill-in columns": _changed,
       "submission changed after the draw": _stale, "unreadable workbook": _unreadable}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_review_input_gives_exactly_its_finding(case, drawn_base, demo, tmp_path):
    _, good, other = drawn_base
    spoilt = {}

    def spoil(wb, *args):
        spoilt["finding"] = BAD[case](wb, *args)
        return None

    workbook, found, want, after, result = bad_case(drawn_base, tmp_path, demo, spoil)
    expected = spoilt["finding"]
    file = expected[2] if case == "unreadable workbook" else f"抽评/{good['workbook']}"
    sheet_name, cell = (expected[3], expected[4]) if case == "unreadable workbook" else expected[2:]
    assert found == [(expected[0], expected[1], file, sheet_name, cell)]
    assert after[good["project_code"]]["最终得分"] == want  # the rest of the workbook still applies
    if case in ("score above 分值", "negative score", "row changed outside the fill-in columns"):
        assert after[other["project_code"]]["最终得分"] == after[other["project_code"]]["复核得分"]
    assert result.exit_code == (0 if expected[1] == "警告" else 1)


@pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX")
def test_a_review_workbook_that_kills_its_reader_is_one_error(drawn_base, demo, tmp_path, monkeypatch):
    from evalbatch.read import sandbox

    name = f"抽评表_{YEAR}_9.xlsx"
    monkeypatch.setenv(sandbox.TEST_FAULT, f"{name}=SIGKILL")  # its reader dies as on a calamine abort
    sandbox._close_shared()
    monkeypatch.setattr(sandbox, "_SHARED", None)

    def spoil(wb, good, other, given, out, src):
        wb.save(out / "抽评" / name)  # a copy of the good workbook: were it read, the two would clash
        return None

    try:
        _, found, want, after, result = bad_case(drawn_base, tmp_path, demo, spoil)
    finally:
        sandbox._close_shared()
    assert found == [("review.unreadable", "错误", f"抽评/{name}", None, None)]
    _, good, _ = drawn_base
    assert after[good["project_code"]]["最终得分"] == want  # the good workbook still applies
    assert result.exit_code == 1


def test_two_reviewers_scoring_one_indicator_differently(drawn_base, demo, tmp_path):
    _, good, _ = drawn_base
    copy = {}

    def spoil(wb, good, other, given, out, src):
        ws = wb["抽评指标"]
        first = rows_of(ws, good["item_no"])[0]
        wb.save(out / "抽评" / f"抽评表_{YEAR}_1_副本.xlsx")  # a second reviewer's copy of the same items …
        twin = openpyxl.load_workbook(out / "抽评" / f"抽评表_{YEAR}_1_副本.xlsx")
        fill(twin["抽评指标"], first, "抽评得分", given[first] - 1)  # … scoring one indicator differently
        twin.save(out / "抽评" / f"抽评表_{YEAR}_1_副本.xlsx")
        copy["row"] = first
        return {**given, first: column(ws, first, "复核得分")}  # neither applies: that indicator keeps its 复核得分

    workbook, found, want, after, result = bad_case(drawn_base, tmp_path, demo, spoil)
    cell = f"O{copy['row']}"
    assert sorted(found) == [("review.conflict", "警告", f"抽评/{good['workbook']}", "抽评指标", cell),
                             ("review.conflict", "警告", f"抽评/抽评表_{YEAR}_1_副本.xlsx", "抽评指标", cell)]
    assert after[good["project_code"]]["最终得分"] == want


# --- the review workbook itself -------------------------------------------------------------


@pytest.mark.libreoffice
def test_review_workbook_is_protected_and_opens_in_libreoffice(drawn_base, tmp_path):
    if not faults.have_libreoffice():
        pytest.skip("LibreOffice (soffice) is not installed; install libreoffice-calc-nogui to convert review workbooks to PDF")
    base, good, _ = drawn_base
    path = base / "抽评" / good["workbook"]
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["填写说明", "抽评项目", "抽评指标"]
    fills = {"抽评项目": {"其余指标核实无误", "复核人", "复核日期", "综合意见"}, "抽评指标": {"抽评核实完成值", "抽评得分", "抽评意见"}}
    for ws in wb:
        assert ws.protection.sheet is True and not ws.protection.password
        if ws.title not in fills:
            continue
        head = [c.value for c in ws[1]]
        unlocked = {h for h in head if h in fills[ws.title] or h.endswith("分）")}
        for c, h in enumerate(head, start=1):
            assert ws.cell(2, c).protection.locked is (h not in unlocked), (ws.title, h)
    marks = wb["抽评指标"]
    (dv,) = [v for v in marks.data_validations.dataValidation if "O2" in str(v.sqref)]
    assert (dv.type, dv.formula1, dv.formula2) == ("decimal", "0", "$H2")  # 0 ≤ 抽评得分 ≤ 分值 of the row
    assert isinstance(marks["G2"].value, str)
    pdf = faults.via_libreoffice(path, "pdf", tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    again = openpyxl.load_workbook(faults.via_libreoffice(path, "xlsx", tmp_path / "lo"))
    assert all(ws.protection.sheet for ws in again)
    assert again["抽评指标"]["O2"].protection.locked is False and again["抽评指标"]["A2"].protection.locked is True

"""A long sheet's rows written by helper processes (write/parts.py) make the same workbook as
rows written in one process: every cell's value and style, row heights, filters, frozen panes,
conditional colours and the range each sheet declares; a part a helper failed is written
here; the night's run lends its workers; LibreOffice reads the result as Excel would."""

from __future__ import annotations

import functools
import re
import zipfile
from pathlib import Path

import faults
import openpyxl
import pytest
from builders import dept, write
from python_calamine import CalamineWorkbook

from evalbatch.night import runner
from evalbatch.night.runner import run
from evalbatch.read import sandbox
from evalbatch.rules import load_rules
from evalbatch.write import parts as P
from evalbatch.write import report

# What a department may type into a text cell, as far as the XML of a cell is concerned.
ODD_TEXTS = ["甲\x01乙\x1f丙", "_x0041_ 与 _x005F_", "<r>预算执行率</r>", "  前后空格  ", "第一行\n第二行\n第三行\n第四行" * 5]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    for i in range(4):
        write(src, dept(f"{i:06d}", f"单位{i}"), f"{i}.xlsx")
    result = run(src, tmp_path_factory.mktemp("out"), 2021, load_rules(), settle=0).result
    ind = result.indicators
    for i, text in enumerate(ODD_TEXTS):  # spread over rows that will fall in different parts
        ind.loc[ind.index[i * 7], "l3"] = text
        ind.loc[ind.index[i * 7 + 1], "reason"] = text
    return result


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 2 rows, each built a row at a time, and every table of 4 rows or more cut (项目汇总
    too): many parts from a few departments."""
    monkeypatch.setattr(P, "PART_ROWS", 2)
    monkeypatch.setattr(P, "PARALLEL_ROWS", 4)
    monkeypatch.setattr(P, "XML_ROWS", 1)


def here(fn, calls, on_done=None):
    """Helpers in this process, as a sandbox's map calls them."""
    results = []
    for i in range(len(calls)):
        results.append(fn(*calls[i]))
        if on_done:
            on_done(i, results[-1])
    return results


def styles(cell) -> tuple:
    f, a = cell.font, cell.alignment
    return (cell.number_format, f.b, f.name, f.sz, f.color.rgb if f.color else None, cell.fill.fgColor.rgb,
            a.wrap_text, a.horizontal, a.vertical, a.indent, cell.border.top.style)


def declared_ranges(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {name: re.search(rb'<dimension ref="([^"]*)"', z.read(member)).group(1).decode()
                for name, member in P.sheet_members(z).items()}


def values(path: Path, sheet: str) -> list[list]:
    # calamine, as Excel and LibreOffice do, reads "_xHHHH_" escapes in a cell's own text too;
    # openpyxl reads them only in the shared strings.
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def assert_rows_in_order(path: Path) -> None:
    """Excel refuses (and offers to repair) a sheet whose rows are out of order; calamine and
    openpyxl would place them anyway."""
    with zipfile.ZipFile(path) as z:
        for name, member in P.sheet_members(z).items():
            rows = [int(r) for r in re.findall(rb'<row r="(\d+)"', z.read(member))]
            assert rows == sorted(set(rows)), name


def assert_same_workbook(a_path: Path, b_path: Path) -> None:
    a, b = openpyxl.load_workbook(a_path), openpyxl.load_workbook(b_path)
    assert a.sheetnames == b.sheetnames
    assert declared_ranges(a_path) == declared_ranges(b_path)
    assert_rows_in_order(b_path)
    for name in a.sheetnames:
        assert values(a_path, name) == values(b_path, name), name
        x, y = a[name], b[name]
        assert (x.max_row, x.max_column) == (y.max_row, y.max_column), name
        for rx, ry in zip(x.iter_rows(), y.iter_rows(), strict=True):
            for cx, cy in zip(rx, ry, strict=True):
                assert styles(cx) == styles(cy), (name, cx.coordinate)
        assert (x.freeze_panes, x.auto_filter.ref, x.print_title_rows) == (y.freeze_panes, y.auto_filter.ref, y.print_title_rows), name
        assert {r: d.height for r, d in x.row_dimensions.items() if d.height} == {r: d.height for r, d in y.row_dimensions.items() if d.height}, name
        assert [str(c.sqref) for c in x.conditional_formatting] == [str(c.sqref) for c in y.conditional_formatting], name


def inline_rows(path: Path, sheet: str) -> bool:
    """Whether rows of `sheet` were written as a streamed sheet writes them (by a helper)."""
    with zipfile.ZipFile(path) as z:
        return b't="inlineStr"' in z.read(P.sheet_members(z)[sheet])


def test_rows_written_by_helpers_make_the_same_workbook(outcome, tmp_path, small_parts):
    alone = report.write_workbook(outcome, tmp_path / "alone.xlsx")
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=here)
    assert inline_rows(helped, "指标得分") and inline_rows(helped, "项目汇总") and not inline_rows(alone, "指标得分")
    assert_same_workbook(alone, helped)
    texts = [c for row in values(helped, "指标得分") for c in row]
    assert all(t in texts for t in ODD_TEXTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.xlsx", "helped.xlsx"], "no part file is left behind"


def test_the_project_total_stays_below_the_rows_helpers_wrote(outcome, tmp_path, small_parts):
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=here)
    rows = values(helped, "项目汇总")
    assert len(rows) == 1 + len(outcome.projects) + 2  # the header, the projects, a blank row and 合计
    assert "合计：4 个项目" in rows[-1] and rows[-2] == [""] * len(rows[-2])


def test_a_sheet_too_short_to_cut_is_written_here(outcome, tmp_path, monkeypatch):
    monkeypatch.setattr(P, "PARALLEL_ROWS", len(outcome.indicators) + 1)
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=here)
    assert not inline_rows(helped, "指标得分")


def failing_every_other(fn, calls, on_done=None):
    return [RuntimeError("辅助进程异常") if i % 2 else fn(*calls[i]) for i in range(len(calls))]


def helpers_that_fail(fn, calls, on_done=None):
    raise OSError("无法启动辅助进程")


def helpers_that_fail_half_way(fn, calls, on_done=None):
    here(fn, [calls[i] for i in range(len(calls) // 2)], on_done)
    raise OSError("辅助进程中途退出")


@pytest.mark.parametrize("helpers", [failing_every_other, helpers_that_fail, helpers_that_fail_half_way])
def test_a_part_a_helper_did_not_write_is_written_here(outcome, tmp_path, small_parts, helpers, caplog):
    alone = report.write_workbook(outcome, tmp_path / "alone.xlsx")
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=helpers)
    assert_same_workbook(alone, helped)
    said = re.findall(r"辅助进程未能写出工作表“指标得分”第 (\d+) 部分（第 (\d+) 行起；[^）]*），改由主进程写出", caplog.text)
    assert said and all(int(row) == 2 + (int(part) - 1) * P.PART_ROWS for part, row in said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.xlsx", "helped.xlsx"]


def test_sandboxed_workers_write_the_parts(outcome, tmp_path, small_parts):
    box = sandbox.Sandbox(2, sandbox.Limits())
    try:
        helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=functools.partial(box.map, workers=2))
    finally:
        box.close()
    assert inline_rows(helped, "指标得分")
    assert_same_workbook(report.write_workbook(outcome, tmp_path / "alone.xlsx"), helped)


def test_the_run_lends_its_workers_to_the_workbook(tmp_path, small_parts, monkeypatch, caplog):
    """With two workers the run's sandbox builds the parts; with one, this process does
    (parts.in_process): the same workbook either way."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        write(src, dept(f"{i:06d}", f"单位{i}"), f"{i}.xlsx")
    lent_here = []
    monkeypatch.setattr(runner, "in_process", lambda fn, calls, on_done=None: lent_here.append(len(calls)) or P.in_process(fn, calls, on_done))
    one = run(src, tmp_path / "one", 2021, load_rules(), settle=0, jobs=1)
    assert lent_here, "one worker: the parts are built in this process"
    lent_here.clear()
    two = run(src, tmp_path / "two", 2021, load_rules(), settle=0, jobs=2)
    assert not lent_here and "辅助进程未能写出" not in caplog.text, "two workers: the sandbox's workers build every part"
    assert inline_rows(one.workbook, "指标得分") and inline_rows(two.workbook, "指标得分")
    for name in ("汇总排名", "指标得分", "项目汇总", "审核问题"):
        assert values(one.workbook, name) == values(two.workbook, name), name
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.is_file()) == sorted(
        p.name for p in (tmp_path / "one").iterdir() if p.is_file())


@pytest.mark.skipif(not faults.have_libreoffice(), reason="LibreOffice (soffice) is not installed")
def test_libreoffice_reads_the_spliced_workbook_as_the_one_written_here(outcome, tmp_path, small_parts):
    """(LibreOffice drops control characters from any cell: both are compared as it saves them.)"""
    alone = report.write_workbook(outcome, tmp_path / "alone.xlsx")
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=here)
    theirs = {p.stem: faults.via_libreoffice(p, "ods", tmp_path / "lo") for p in (alone, helped)}
    for name in ("指标得分", "项目汇总"):
        assert values(theirs["helped"], name) == values(theirs["alone"], name), name
        assert len(values(theirs["helped"], name)) == len(values(alone, name))


def test_part_files_carry_the_temporary_name_the_next_run_sweeps(outcome, tmp_path, small_parts):
    """A run killed while parts are written leaves them in the output folder: they are named
    after the workbook's temporary file, which the next run removes (files.sweep_temporary)."""
    from evalbatch.files import TMP_PREFIX, atomic_write, sweep_temporary

    written = []

    def keeping(fn, calls, on_done=None):
        written.extend(calls.paths)
        return here(fn, calls, on_done)

    target = tmp_path / "绩效自评汇总_2021.xlsx"
    atomic_write(target, lambda p: report.write_workbook(outcome, p, helpers=keeping))
    assert written and all(Path(p).name.startswith(TMP_PREFIX) for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    for p in written:
        Path(p).write_bytes(b"<row/>")
    assert sweep_temporary(tmp_path) == len(written) and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_workbook_held_a_moment_by_a_scanner_is_still_spliced(outcome, tmp_path, small_parts, monkeypatch):
    """Windows refuses to replace a file another program holds (an antivirus scanning the share
    just after it was written): the splice tries again, as every output does (files.retrying)."""
    real, refused = P.os.replace, []

    def held_once(src, dst):
        if not refused:
            refused.append(dst)
            raise PermissionError(13, "另一个程序正在使用此文件")
        return real(src, dst)

    monkeypatch.setattr(P.os, "replace", held_once)
    helped = report.write_workbook(outcome, tmp_path / "helped.xlsx", helpers=here)
    assert refused and inline_rows(helped, "指标得分")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helped.xlsx"]

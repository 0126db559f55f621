"""The pre-scans match parts as the reader resolves them, and every parsing step is bounded
and linear (issue 22 point 2): BIFF cell places and DIMENSIONS, xlsx parts found in any letter
case, with backslashes, beside a decoy or through a bare `id=`; only the text encodings real
exports use; HTML sheet naming linear; per-cell text and nesting depth limited in every format.

Each case asserts the exact finding; tests/test_hostile_night.py runs them all in one night.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
from faults import _CONTENT_TYPES, _ROOT_RELS, _WORKBOOK, _WORKBOOK_RELS, ole_file
from test_hostile_files import _biff, _rules, refused, zipped

from evalbatch.formats.base import FileProblem
from evalbatch.read.reader import open_workbook, read_bytes
from evalbatch.rules import load_rules

RULES = load_rules()
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
FAR = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
NEAR = '<row r="2"><c r="B2"><v>7</v></c></row>'
FAR_MESSAGE = "工作表「基本信息」范围达 1,048,576 行 × 16,384 列，远超正常填报表，疑似异常文件，不予读取"


# --- builders ---------------------------------------------------------------------------------


def xls_cells(path: Path, cells: list[tuple[int, int]], dims: tuple[int, int, int, int] | None = None) -> Path:
    """A BIFF8 workbook of one sheet: NUMBER records at `cells` (row, column: 16-bit each, as
    calamine reads them), and a DIMENSIONS record (first row, end row, first column, end
    column) if given. The stream is padded to 4 KB, outside the mini stream."""
    bof = struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06)
    name = b"\x06\x00Sheet1"
    globals_ = _biff(0x0809, bof) + _biff(0x0042, struct.pack("<H", 1200))
    start = len(globals_) + len(_biff(0x0085, bytes(6) + name)) + len(_biff(0x000A))
    sheet = _biff(0x0809, bof[:2] + struct.pack("<H", 0x0010) + bof[4:])
    if dims:
        sheet += _biff(0x0200, struct.pack("<IIHHH", *dims, 0))
    sheet += b"".join(_biff(0x0203, struct.pack("<HHHd", r, c, 0, 1.5)) for r, c in cells) + _biff(0x000A)
    stream = globals_ + _biff(0x0085, struct.pack("<IBB", start, 0, 0) + name) + _biff(0x000A) + sheet
    path.write_bytes(ole_file("Workbook", stream + bytes(max(4096 - len(stream), 0))))
    return path


def _sheet_xml(cells: str) -> str:
    return f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>{cells}</sheetData></worksheet>'


def xlsx_variant(path: Path, cells: str, how: str) -> Path:
    """A one-sheet workbook whose sheet part is reached as calamine reaches it but not by its
    exact name: "upper" (SHEET1.xml), "backslash" (xl\\worksheets\\sheet1.xml), "decoy" (a
    harmless sheet1.xml beside Sheet1.xml) or "bare_id" (<sheet id=…> without the r: prefix)."""
    parts = {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS, "xl/workbook.xml": _WORKBOOK,
             "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS}
    sheet = {"upper": "xl/worksheets/SHEET1.xml", "backslash": "xl\\worksheets\\sheet1.xml", "decoy": "xl/worksheets/Sheet1.xml",
             "bare_id": "xl/worksheets/sheet1.xml"}[how]
    if how == "decoy":
        parts["xl/worksheets/sheet1.xml"] = _sheet_xml(NEAR)
    if how == "bare_id":
        parts["xl/workbook.xml"] = _WORKBOOK.replace('r:id="rId1"', 'id="rId1"')
    parts[sheet] = _sheet_xml(cells)
    return zipped(path, parts)


# --- .xls: cell places and DIMENSIONS bounded before calamine ----------------------------------


def test_two_far_number_records_in_a_small_xls_are_refused(tmp_path):
    path = xls_cells(tmp_path / "far.xls", [(0, 0), (65535, 65535)])
    assert path.stat().st_size == 5632  # the 5.6 KB: calamine alone asks for 137 GB
    problem = refused(path)
    assert (problem.rule_id, problem.message) == (
        "file.suspicious", "工作表「Sheet1」范围达 65,536 行 × 65,536 列，远超正常填报表，疑似异常文件，不予读取")


def test_a_dimensions_record_of_2_to_the_32_rows_is_refused(tmp_path):
    problem = refused(xls_cells(tmp_path / "dim.xls", [(0, 0)], dims=(0, 2**32 - 1, 0, 256)))
    assert (problem.rule_id, problem.message) == (
        "file.suspicious", "工作表「Sheet1」范围达 4,294,967,295 行 × 256 列，远超正常填报表，疑似异常文件，不予读取")


def test_an_xls_within_the_limits_reads_as_before(tmp_path):
    wb = open_workbook(read_bytes(xls_cells(tmp_path / "ok.xls", [(0, 0), (3, 2)], dims=(0, 4, 0, 3)), RULES), RULES)
    assert wb.sheets == {"Sheet1": [[1.5, "", ""], ["", "", ""], ["", "", ""], ["", "", 1.5]]}


# --- .xlsx: parts as calamine finds them -----------------------------------------------------


@pytest.mark.parametrize("how", ["upper", "backslash", "bare_id"])
def test_calamine_reads_a_sheet_reached_so(tmp_path, how):
    # Not vacuous: the reader really takes this part, so the pre-scan must measure it.
    wb = open_workbook(read_bytes(xlsx_variant(tmp_path / "x.xlsx", NEAR, how), RULES), RULES)
    assert wb.sheets["基本信息"] == [["", ""], ["", 7.0]]


@pytest.mark.parametrize("how", ["upper", "backslash", "decoy", "bare_id"])
def test_the_far_cell_bomb_is_refused_however_its_part_is_reached(tmp_path, how):
    problem = refused(xlsx_variant(tmp_path / "x.xlsx", FAR, how))
    assert (problem.rule_id, problem.message) == ("file.suspicious", FAR_MESSAGE)


def test_shared_strings_stored_with_a_backslash_count_against_the_limit(tmp_path):
    rules = _rules(tmp_path, "max_shared_strings_mb = 0.01")
    items = "".join(f"<si><t>{s}</t></si>" for s in ["单位名称" * 1000, "x"])
    path = zipped(tmp_path / "ss.xlsx", {
        "[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS, "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS, "xl/worksheets/sheet1.xml": _sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
        "xl\\sharedStrings.xml": f'<?xml version="1.0"?><sst xmlns="{_MAIN}">{items}</sst>'})
    problem = refused(path, rules)
    assert (problem.rule_id, problem.message) == (
        "file.suspicious", "文件的共享字符串表解压后达 0.0 MB，超过上限 0 MB，远超正常填报表，疑似恶意文件，不予读取")


# --- text encodings ---------------------------------------------------------------------------

_PUNYCODE = ("文件声明的文字编码“punycode”不是表格导出使用的编码（支持 UTF-8、UTF-16、GB18030/GBK/GB2312、Big5），"
             "未读取；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交")


def spreadsheetml(body: str, encoding: str = "utf-8") -> bytes:
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    return (head + '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">'
            f'<Worksheet ss:Name="基本信息"><Table>{body}</Table></Worksheet></Workbook>').encode("utf-8")


def html_page(body: str, charset: str = "utf-8") -> bytes:
    return f'<html><head><meta charset="{charset}"></head><body>{body}</body></html>'.encode()


@pytest.mark.parametrize("kind", ["xml", "html"])
def test_a_punycode_declaration_is_an_error_naming_it_at_once(tmp_path, kind):
    filler = "a" * 1_000_000  # 137 s of punycode decoding in the last round
    data = spreadsheetml(f"<Row><Cell><Data ss:Type=\"String\">{filler}</Data></Cell></Row>", "punycode") if kind == "xml" \
        else html_page(f"<table><tr><td>{filler}</td></tr></table>", "punycode")
    start = time.monotonic()
    problem = refused(_write(tmp_path / "p.xls", data))
    assert (problem.rule_id, problem.message) == ("file.encoding", _PUNYCODE)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("encoding", ["gb2312", "GBK", "gb18030", "big5", "utf-8", "windows-1252"])
def test_the_encodings_of_real_exports_are_read(tmp_path, encoding):
    text = "单位" if "big5" not in encoding and "1252" not in encoding else ("單位" if encoding == "big5" else "Unit")
    data = html_page(f"<table><tr><td>{text}</td></tr></table>", encoding)
    data = data.decode("utf-8").encode(encoding)
    wb = open_workbook(read_bytes(_write(tmp_path / "e.xls", data), RULES), RULES)
    assert list(wb.sheets.values()) == [[[text]]]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- linear in the input; per-cell text and depth in every format -----------------------------


def test_six_thousand_tables_sharing_one_caption_are_named_in_linear_time(tmp_path):
    page = html_page("".join("<table><caption>指标</caption><tr><td>1</td></tr></table>" for _ in range(6000)))
    start = time.monotonic()
    wb = open_workbook(read_bytes(_write(tmp_path / "t.xls", page), RULES), RULES)
    assert time.monotonic() - start < 20  # past 120 s in the last round
    assert list(wb.sheets)[:3] == ["指标", "指标(2)", "指标(3)"] and list(wb.sheets)[-1] == "指标(6000)"
    assert len(wb.sheets) == 6000


def test_a_caption_repeated_with_its_numbered_names_taken_still_gets_unique_names():
    from evalbatch.formats.html import _sheet_names, _Table
    tables = [_Table(caption=c) for c in ["A", "A(2)", "A", "A", "A(3)"]]
    assert _sheet_names(tables, "") == ["A", "A(2)", "A(3)", "A(4)", "A(3)(2)"]



@pytest.mark.parametrize("kind", ["xml", "html"])
def test_a_ten_million_character_cell_is_refused(tmp_path, kind):
    text = "名" * 10_000_000
    data = spreadsheetml(f'<Row><Cell><Data ss:Type="String">{text}</Data></Cell></Row>') if kind == "xml" \
        else html_page(f"<table><caption>基本信息</caption><tr><td>{text}</td></tr></table>")
    problem = refused(_write(tmp_path / "c.xls", data))
    assert (problem.rule_id, problem.message) == (
        "file.suspicious", "工作表「基本信息」中有单元格文字长达 10,000,000 个字符，超过上限 100,000（Excel 单元格最多 32,767 个字符），疑似异常文件，不予读取")


def test_an_overlong_html_cell_is_counted_whole_but_not_kept():
    """libxml2 hands a cell's text in pieces: the reader counts them all (the message names the
    whole length) and keeps none past the cell limit. Holding them cost as much again as the page."""
    from evalbatch.formats.base import Limits
    from evalbatch.formats.html import read_html
    page = html_page("<table><tr><td>" + "a" * 30_000_000 + "</td></tr></table>")
    tracemalloc.start()
    try:
        with pytest.raises(FileProblem) as refused_:
            read_html(page, lambda _: True, Limits(max_text_chars=10**9))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "长达 30,000,000 个字符" in refused_.value.message
    assert peak < 45 * 2**20  # the decoded page is 30 MB; with the pieces kept it was 58


_TOO_DEEP = "文件内部元素层层嵌套超过 100 层，正常表格不会如此，疑似恶意文件，不予读取"


def test_a_cells_value_is_its_own_data_not_its_notes_nor_a_second_one(tmp_path):
    # The reader keeps no tree: which <Data> is the value is decided as the tags come.
    data = spreadsheetml('<Row><Cell><Comment><Data>批注：请复核</Data></Comment><Data ss:Type="Number">97.5</Data>'
                         '<Data ss:Type="String">又一个</Data></Cell>'
                         '<Cell ss:MergeAcross="1"><Data ss:Type="String">产出<B>指标</B>（50分）</Data></Cell>'
                         '<Cell><Data ss:Type="Boolean">1</Data></Cell></Row>'
                         '<Row ss:Span="2"/><Row><Cell ss:Index="2"><Data ss:Type="DateTime">2022-03-10T00:00:00</Data></Cell></Row>')
    wb = open_workbook(read_bytes(_write(tmp_path / "v.xls", data), RULES), RULES)
    blank = ["", "", "", ""]  # ss:Span="2": the empty row stands for two more like it
    assert wb.sheets["基本信息"] == [[97.5, "产出指标（50分）", "产出指标（50分）", True], blank, blank, blank, ["", datetime(2022, 3, 10), "", ""]]
    assert wb.merges["基本信息"] == [(0, 1, 0, 2)]


def test_one_and_a_half_million_nested_tags_are_refused_at_depth_100(tmp_path):
    n = 1_500_000
    data = spreadsheetml(f'<Row><Cell><Data ss:Type="String">{"<B>" * n}x{"</B>" * n}</Data></Cell></Row>')
    problem = refused(_write(tmp_path / "n.xls", data))
    assert (problem.rule_id, problem.message) == ("file.suspicious", _TOO_DEEP)


def test_tables_nested_past_the_depth_limit_are_refused(tmp_path):
    page = html_page("<table><tr><td>" * 150 + "x" + "</td></tr></table>" * 150)
    problem = refused(_write(tmp_path / "n.xls", page))
    assert (problem.rule_id, problem.message) == ("file.suspicious", _TOO_DEEP)


def test_the_nesting_limit_is_a_rule(tmp_path):
    rules = _rules(tmp_path, "max_nesting_depth = 5")
    problem = refused(_write(tmp_path / "n.xls", html_page("<table><tr><td>" * 6 + "x" + "</td></tr></table>" * 6)), rules)
    assert problem.message == "文件内部元素层层嵌套超过 5 层，正常表格不会如此，疑似恶意文件，不予读取"

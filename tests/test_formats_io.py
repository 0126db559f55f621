"""The format layer against real files: what budget systems export (Excel 2003 XML, HTML
tables named .xls), what departments save (.xls, .ods, .xlsb, WPS .et), and hostile files.

The promise: every format comes back as the same dense grid (row 0 = Excel row 1, column 0
= column A) with every merged range holding its top-left value, the merges recorded; a bad
file raises one `FileProblem` with a Chinese message, quickly and without allocating what
it claims.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import faults
import pytest
from conftest import NO_LIBREOFFICE

from evalbatch import schema as S
from evalbatch.read.reader import FileProblem, open_workbook, read_bytes, sniff
from evalbatch.rules import load_rules

CJK = re.compile(r"[\u4e00-\u9fff]")
_MB = 1024 * 1024


def refused(data: bytes, rules, name: str = "") -> FileProblem:
    with pytest.raises(FileProblem) as info:
        open_workbook(data, rules, name=name)
    exc = info.value
    assert exc.message and CJK.search(exc.message), f"message is not Chinese: {exc.message!r}"
    assert str(exc) == exc.message
    return exc


def refused_quickly(data: bytes, rules, rule_id: str) -> FileProblem:
    """Refused with `rule_id` in under 2 s and 50 MB of Python memory: nothing expanded or
    allocated to the size the file claims."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        exc = refused(data, rules)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.rule_id == rule_id, f"{exc.rule_id}: {exc.message}"
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert peak < 50 * _MB, f"Python peak {peak / 1e6:.0f} MB"
    return exc


# --- Excel 2003 XML Spreadsheet -------------------------------------------------------------

TITLE, YEAR, NAME, FUNDS = "项目支出绩效自评表", "（2022年度）", "乡村道路维修", "项目资金（万元）"
SSML_FORM = [
    [TITLE] * 6,
    [YEAR] * 6,
    ["项目名称"] + [NAME] * 5,
    [""] * 6,  # row 4 is skipped by ss:Index="5"
    [FUNDS, "年度资金总额", 90.0, 89.974, True, dt.datetime(2022, 12, 31)],
    [FUNDS, "其中：当年财政拨款", 90.0, 89.974, False, ""],
    [FUNDS, "上年结转资金", "", 0.0, "", ""],  # C7 skipped by ss:Index="4"; F7 styled but empty
    ["总分（100分）", "", "", "", "", 100.0],  # rich text without its comment; a formula's value
    ["填表人", "填表人", "张三", "", "", ""],  # the cell after MergeAcross follows the range
]
FORM_MERGES = [(0, 0, 0, 5), (1, 0, 1, 5), (2, 1, 2, 5), (4, 0, 6, 0), (8, 0, 8, 1)]


def test_spreadsheetml_named_xls_reads_exactly(tmp_path, rules):
    path = faults.spreadsheetml_as_xls(tmp_path)
    data = read_bytes(path, rules)
    assert path.name == "x.xls" and data.startswith(b"\xef\xbb\xbf")
    assert sniff(data) == "xml"
    wb = open_workbook(data, rules)
    assert wb.kind == "xml" and wb.notes == []
    assert list(wb.sheets) == [TITLE, "填报说明", "Sheet3"]
    assert wb.sheets[TITLE] == SSML_FORM
    assert wb.sheets["填报说明"] == [["", "", ""], ["", "", "金额单位：万元"]]
    assert wb.sheets["Sheet3"] == []
    assert wb.merges == {TITLE: FORM_MERGES, "填报说明": [], "Sheet3": []}
    values = [v for row in wb.sheets[TITLE] for v in row]
    assert {type(v) for v in values} == {str, float, bool, dt.datetime}


def test_spreadsheetml_in_gb2312_reads_the_same(tmp_path, rules):
    path = faults.spreadsheetml_as_xls(tmp_path, encoding="gb2312")
    data = path.read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="gb2312"?>')
    assert sniff(data) == "xml"
    assert open_workbook(data, rules).sheets[TITLE] == SSML_FORM


def test_spreadsheetml_reads_only_wanted_sheets(tmp_path, rules):
    data = faults.spreadsheetml_as_xls(tmp_path).read_bytes()
    wb = open_workbook(data, rules, lambda name: name == "填报说明")
    assert list(wb.sheets) == ["填报说明"] and list(wb.merges) == ["填报说明"]


@pytest.mark.parametrize("what", ["entity_bomb", "external_entity", "doctype"])
def test_spreadsheetml_with_a_dtd_is_refused_unexpanded(what, tmp_path, rules):
    data = faults.hostile_spreadsheetml(tmp_path, what).read_bytes()
    assert sniff(data) == "xml"
    exc = refused_quickly(data, rules, "file.suspicious")
    assert "恶意" in exc.message
    assert "root:" not in exc.message  # /etc/passwd never read


def test_truncated_spreadsheetml_is_truncated(tmp_path, rules):
    src = faults.spreadsheetml_as_xls(tmp_path)
    for frac in (0.25, 0.5, 0.75, 0.95, 0.999):
        cut = faults.cut(src, tmp_path, frac, name=f"cut_{frac}.xls")
        exc = refused(cut.read_bytes(), rules)
        assert exc.rule_id == "file.truncated", (frac, exc.message)
        assert "不完整" in exc.message


def test_spreadsheetml_cell_at_excels_last_cell_is_refused_unallocated(tmp_path, rules):
    data = faults.hostile_spreadsheetml(tmp_path, "far_cell").read_bytes()
    exc = refused_quickly(data, rules, "file.suspicious")
    assert exc.message == "工作表「表1」范围达 1,048,576 行 × 16,384 列，远超正常填报表，疑似异常文件，不予读取"


def test_plain_xml_is_not_a_spreadsheet(tmp_path, rules):
    data = faults.xml_not_spreadsheet(tmp_path).read_bytes()
    assert sniff(data) == "other"
    assert refused(data, rules).rule_id == "file.not_spreadsheet"


def test_limits_come_from_the_rules(tmp_path):
    data = faults.spreadsheetml_as_xls(tmp_path).read_bytes()
    small = tmp_path / "rules.toml"
    small.write_text("[limits]\nmax_sheet_cells = 50\n", encoding="utf-8")
    exc = refused(data, load_rules(small))
    assert exc.rule_id == "file.suspicious" and "9 行 × 6 列" in exc.message  # 54 cells > 50
    few = tmp_path / "few.toml"
    few.write_text("[limits]\nmax_xml_elements = 40\n", encoding="utf-8")
    exc = refused(data, load_rules(few))
    assert exc.rule_id == "file.suspicious" and "元素超过 40 个" in exc.message
    xlsx = faults.merged_xlsx(tmp_path).read_bytes()  # 6 rows × 4 columns
    tiny = tmp_path / "tiny.toml"
    tiny.write_text("[limits]\nmax_sheet_cells = 23\n", encoding="utf-8")
    assert "6 行 × 4 列" in refused(xlsx, load_rules(tiny)).message
    assert open_workbook(xlsx, load_rules(small)).kind == "xlsx"


# --- HTML tables saved as .xls --------------------------------------------------------------

HTML_FORM = [
    [TITLE] * 6,
    [YEAR] * 6,
    ["项目名称"] + ["乡村道路 维修 （华堃）"] * 5,  # source line breaks and &nbsp; are spaces
    [""] * 6,  # an empty <tr>
    ["项目资金\n（万元）", "年度资金总额", "90", "89.974", "是", "2022-12-31"],
    ["项目资金\n（万元）", "其中：\n当年财政拨款", "90", "89.974", "否", ""],  # placed after the rowspan
    ["项目资金\n（万元）", "上年结转资金", "", "0", "", "内嵌 表格"],  # a nested table is text
    ["总分（100分）", "", "", "", "", "100"],
    ["填表人", "填表人", "张三", "", "", ""],
]


@pytest.mark.parametrize(
    "encoding, meta, bom",
    [("utf-8", "http-equiv", False), ("utf-8", None, True), ("gbk", "http-equiv", False), ("gbk", "charset", False), ("gbk", None, False)],
)
def test_html_table_named_xls_reads_exactly(encoding, meta, bom, tmp_path, rules):
    path = faults.html_table_as_xls(tmp_path, encoding, meta, bom)
    data = path.read_bytes()
    assert path.suffix == ".xls"
    if encoding == "gbk":
        data.decode("gbk")  # really GBK, with 堃 outside GB2312
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    assert sniff(data) == "html"
    wb = open_workbook(data, rules)
    assert wb.kind == "html" and wb.notes == []
    assert list(wb.sheets) == [TITLE]  # named by its <caption>
    assert wb.sheets[TITLE] == HTML_FORM
    assert wb.merges == {TITLE: FORM_MERGES}


def test_the_old_html_fault_is_now_read(tmp_path, rules):
    """faults.html_as_xls (a system's "导出 Excel"): one table, no caption or title → 表1."""
    for bom in (False, True):
        wb = open_workbook(faults.html_as_xls(tmp_path, bom=bom).read_bytes(), rules)
        assert wb.kind == "html"
        assert wb.sheets == {"表1": [["项目", "数值", "说明"], ["单位编码", "620101", ""], ["财政拨款收入", "2889.60", "万元"]]}
        assert wb.merges == {"表1": []}


def test_html_page_without_a_table_is_a_web_page(tmp_path, rules):
    data = faults.html_page_as_xls(tmp_path).read_bytes()
    assert sniff(data) == "html"
    exc = refused(data, rules)
    assert exc.rule_id == "file.not_spreadsheet" and "网页" in exc.message


_LOL_HTML = ('<!DOCTYPE html [<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10))
    + '<!ENTITY x SYSTEM "file:///etc/passwd">]>')


def test_an_html_pages_dtd_expands_nothing_and_reads_no_file(rules):
    """A page's DOCTYPE may declare entities; HTML knows only its own (&amp; &#20013; &nbsp;),
    so a declared one stays as typed: no billion laughs, no /etc/passwd."""
    page = _LOL_HTML + "<html><body><table><tr><td>&lol9;</td><td>&x;</td><td>&amp;&lt;&#20013;&#x6587;&nbsp;b</td></tr></table></body></html>"
    wb = open_workbook(page.encode(), rules)
    assert wb.sheets == {"表1": [["&lol9;", "&x;", "&<中文 b"]]}


def test_html_markup_as_a_browser_reads_it(rules):
    """Unclosed cells and rows, comments, scripts and styles inside cells, CDATA, text between
    tables, a <td> without its <tr>: the cells a browser shows, nothing else."""
    page = ('<html><body><table><caption>表</caption><tr><td>a<!-- 注释 -->b<td rowspan=2>c<script>var t="<td>x</td>";</script>'
            "<tr><td>d<style>td{}</style><![CDATA[e]]>f</table>后文<table><td>g</td></table>")
    wb = open_workbook(page.encode(), rules)
    assert wb.sheets == {"表": [["ab", "c"], ["df", "c"]], "表2": [["g"]]}
    assert wb.merges == {"表": [(0, 1, 1, 1)], "表2": []}


def test_an_html_colspan_over_an_earlier_rowspan_stops_before_it(rules):
    """Found by tests/test_html_reader.py: a colspan running into columns that rowspans from the
    row above still hold (browsers draw the cells overlapping) was refused as a file of
    overlapping merges. The cell keeps its place and covers the free columns only."""
    page = ("<html><body><table><tr><td>a</td><td rowspan=2>b</td><td rowspan=2>c</td><td>d</td></tr>"
            "<tr><td colspan=3>预算</td><td>e</td></tr></table></body></html>")
    wb = open_workbook(page.encode(), rules)
    assert wb.sheets == {"表1": [["a", "b", "c", "d"], ["预算", "b", "c", "e"]]}
    assert wb.merges == {"表1": [(0, 1, 1, 1), (0, 2, 1, 2)]}


def test_html_colspan_bomb_is_clamped_without_allocating(tmp_path, rules):
    """colspan="100000": clamped as browsers clamp it (1,000), so the next cell lands in
    column 1,001 and the grid is 1 × 1,001, not 1 × 100,001."""
    data = faults.html_colspan_bomb(tmp_path).read_bytes()
    tracemalloc.start()
    try:
        wb = open_workbook(data, rules)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert wb.sheets == {"表1": [["x"] * 1000 + ["y"]]}
    assert wb.merges == {"表1": [(0, 0, 0, 999)]}
    assert peak < 50 * _MB


def test_html_past_excels_last_column_is_refused(tmp_path, rules):
    cells = '<td colspan="1000">x</td>' * 17
    data = f"<html><body><table><tr>{cells}</tr></table></body></html>".encode()
    exc = refused(data, rules)
    assert exc.rule_id == "file.suspicious" and "超出 Excel 工作表范围" in exc.message


# --- what calamine reads: merges filled alike in every container ----------------------------

MERGED_FORM = [
    ["项目支出绩效自评表"] * 4,
    ["绩效指标", "产出指标", "数量指标", 50],
    ["绩效指标", "产出指标", "质量指标", 30],
    ["绩效指标", "效益指标", "社会效益", 20],
    ["总分", "总分", "总分", 100],
    ["总分", "总分", "总分", "备注"],
]
MERGED = [(0, 0, 0, 3), (1, 0, 3, 0), (4, 0, 5, 2)]


def test_xlsx_merges_are_filled_and_recorded(tmp_path, rules):
    wb = open_workbook(faults.merged_xlsx(tmp_path).read_bytes(), rules)
    assert wb.kind == "xlsx"
    assert wb.sheets == {"自评表": MERGED_FORM}
    assert wb.merges == {"自评表": MERGED}


def test_hand_made_xlsb_reads_with_its_merges(tmp_path, rules):
    """python-calamine reads .xlsb values but reports no merges for it; they come from the
    sheet's BrtMergeCell records."""
    data = faults.xlsb_workbook(tmp_path).read_bytes()
    assert sniff(data) == "zip"
    wb = open_workbook(data, rules)
    assert wb.kind == "xlsb"
    assert wb.sheets == {"自评表": MERGED_FORM}
    assert wb.merges == {"自评表": MERGED}


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt, kind", [("xls", "xls"), ("ods", "ods")])
def test_libreoffice_formats_fill_merges_alike(fmt, kind, tmp_path, rules):
    if not faults.have_libreoffice():
        pytest.skip(NO_LIBREOFFICE)
    data = faults.via_libreoffice(faults.merged_xlsx(tmp_path), fmt, tmp_path / fmt).read_bytes()
    wb = open_workbook(data, rules)
    assert wb.kind == kind
    assert wb.sheets == {"自评表": MERGED_FORM}
    assert wb.merges == {"自评表": MERGED}


@pytest.mark.libreoffice
def test_libreoffice_reads_the_hand_made_xlsb_the_same(tmp_path, rules):
    """LibreOffice cannot write .xlsb, but it reads it: the hand-made file is a real one."""
    if not faults.have_libreoffice():
        pytest.skip(NO_LIBREOFFICE)
    data = faults.via_libreoffice(faults.xlsb_workbook(tmp_path), "xlsx", tmp_path / "lo").read_bytes()
    wb = open_workbook(data, rules)
    assert wb.sheets == {"自评表": MERGED_FORM}
    assert wb.merges == {"自评表": MERGED}


def test_xlsx_with_its_only_cell_at_xfd1048576_is_refused_fast(tmp_path, rules):
    data = faults.far_cell_xlsx(tmp_path).read_bytes()
    exc = refused_quickly(data, rules, "file.suspicious")
    assert "1,048,576 行 × 16,384 列" in exc.message


_CHILD = r"""
import sys
from pathlib import Path
from evalbatch.read.reader import FileProblem, open_workbook
from evalbatch.rules import load_rules
try:
    open_workbook(Path(sys.argv[1]).read_bytes(), load_rules())
    print("ACCEPTED")
except FileProblem as e:
    print("REFUSED", e.rule_id)
"""


def test_xlsx_spanning_a1_to_xfd1048576_is_refused_before_calamine(tmp_path):
    """calamine alone builds A1:XFD1048576 as one 500 GB block and aborts the process (no
    exception to catch), so the sheet must be measured before calamine opens it. Run in a
    child process: a regression must fail this test, not kill the test run."""
    path = faults.far_cells_xlsx(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "REFUSED file.suspicious"


# --- WPS .et and other OLE files that hold no workbook -------------------------------------


@pytest.mark.parametrize("name, wps", [("自评表.et", True), ("自评表.xls", False), ("", False)])
def test_et_like_ole_asks_to_save_as_xlsx(name, wps, tmp_path, rules):
    path = faults.et_like_ole(tmp_path)
    data = path.read_bytes()
    assert sniff(data) == "ole"
    exc = refused(data, rules, name=name)
    assert exc.rule_id == "file.unreadable"
    assert "另存为" in exc.message and ".xlsx" in exc.message and "WPS" in exc.message
    assert ("WPS 表格（.et）格式" in exc.message) == wps  # the name only words the message


def test_olefile_sees_the_et_like_file_as_valid(tmp_path):
    """The kit itself: the hand-made compound file is well formed, just not a workbook."""
    olefile = pytest.importorskip("olefile")
    ole = olefile.OleFileIO(str(faults.et_like_ole(tmp_path)))
    assert ole.listdir() == [["WpsETContent"]]
    assert not ole.exists("Workbook") and not ole.exists("Book")


def test_new_suffixes_are_discovered():
    assert {".xlsb", ".et"} <= set(S.SUBMISSION_SUFFIXES)


# --- far cells in every calamine format, measured before calamine allocates them -----------

_FAR = {
    "lower_case": '<row r="1"><c r="a1"><v>1</v></c><c r="xfd1048576"><v>2</v></c></row>',
    "spaces": '<row r="1"><c r = "A1"><v>1</v></c><c t="n" r=\'XFD1048576\'><v>2</v></c></row>',
    "prefixed": '<row r="1"><c r="A1"><v>1</v></c><x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'r="XFD1048576"><x:v>2</x:v></x:c></row>',
    "no_reference": '<row r="1"><c r="XFD1"><v>1</v></c></row><row r="1048576"><c><v>1</v></c></row>',
}

_FAR_CHILD = r"""
import sys
from pathlib import Path
from evalbatch.read.reader import FileProblem, open_workbook
from evalbatch.rules import load_rules
for path in sys.argv[1:]:
    try:
        open_workbook(Path(path).read_bytes(), load_rules())
        print(Path(path).name, "ACCEPTED")
    except FileProblem as e:
        print(Path(path).name, "REFUSED", e.rule_id)
"""


def test_far_cells_in_any_spelling_are_refused_before_calamine(tmp_path):
    """Each of these would make calamine ask for Excel's whole grid at once (the process
    aborts), so all run in one child process."""
    paths = [faults.xlsx_with_sheet_data(tmp_path, body, f"{case}.xlsx") for case, body in _FAR.items()]
    paths.append(faults.xlsb_workbook(tmp_path, "far.xlsb", far=True))
    proc = subprocess.run([sys.executable, "-c", _FAR_CHILD, *map(str, paths)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [f"{p.name} REFUSED file.suspicious" for p in paths]


def test_formatting_only_far_cell_does_not_count(tmp_path, rules):
    """`<c r="XFD1048576" s="1"/>` is formatting, which calamine leaves out: no refusal."""
    body = '<row r="1"><c r="A1" t="inlineStr"><is><t>单位编码</t></is></c></row><row r="1048576"><c r="XFD1048576" s="1"/></row>'
    wb = open_workbook(faults.xlsx_with_sheet_data(tmp_path, body).read_bytes(), rules)
    assert wb.sheets == {"表1": [["单位编码"]]}


def test_unusual_but_small_references_read(tmp_path, rules):
    """Lower case, spaces and a prefix take the careful path and still read."""
    body = ('<row r="1"><c r="a1" t="inlineStr"><is><t>甲</t></is></c><c r = "B1"><v>2</v></c></row>'
            '<row r="3"><x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="C3"><x:v>3</x:v></x:c></row>')
    wb = open_workbook(faults.xlsx_with_sheet_data(tmp_path, body).read_bytes(), rules)
    assert wb.sheets == {"表1": [["甲", 2.0, ""], ["", "", ""], ["", "", 3.0]]}


@pytest.mark.libreoffice
def test_ods_with_a_far_cell_is_refused_before_calamine(tmp_path):
    if not faults.have_libreoffice():
        pytest.skip(NO_LIBREOFFICE)
    ods = faults.via_libreoffice(faults.far_cells_xlsx(tmp_path), "ods", tmp_path / "ods")
    proc = subprocess.run([sys.executable, "-c", _FAR_CHILD, str(ods)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"{ods.name} REFUSED file.suspicious"

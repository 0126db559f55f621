"""The rows write/rowxml.py builds are, byte for byte, the rows xlsxwriter's streamed writer
writes for the same values, column formats and row heights: texts of every kind (control
characters, "_xHHHH_" look-alikes, edge whitespace, XML specials, line breaks, characters
beyond U+FFFF, texts past Excel's limit), numbers of every size, blanks, heights."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from evalbatch.write.book import Workbook, looks_like_rich_xml
from evalbatch.write.cells import Formats, WriteError, write_rows
from evalbatch.write.columns import Col
from evalbatch.write.rowxml import EXCEL_ROWS, TEXT_MAX, inline_text, rows_xml

KINDS = ["text", "wrap", "score", "rate", "money", "int"]


def by_xlsxwriter(path: Path, kinds: list[str], columns: list[list], first_row: int, heights: dict) -> tuple[str, list[int]]:
    """What xlsxwriter writes for these rows (between <sheetData> and </sheetData>), and the
    cell format number of each column, as the workbook writer lays a streamed sheet out."""
    wb = Workbook(str(path), {"constant_memory": True})
    fmt = Formats(wb)
    ws = wb.add_worksheet()
    cols = [Col(f"列{c}", f"c{c}", kind) for c, kind in enumerate(kinds)]
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width, fmt.column(col))
    write_rows(ws, first_row, list(zip(*columns)), cols, heights)
    wb.close()
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    data = xml[xml.index("<sheetData") :]
    inner = "" if data.startswith("<sheetData/>") else data[len("<sheetData>") : data.index("</sheetData>")]
    return inner, [fmt.column(col)._get_xf_index() for col in cols]


special_texts = st.sampled_from([
    "甲\x01乙\x1f丙", "_x0041_", "_X00fF_ 与 _x005F_", "  前后空格  ", " 前", "后\t", "\n", "a\n", "第一行\n第二行",
    "&<>\"'", "\x00", "\ufffe\uffff", "\u3000全角空格", "😀表情", "=1+1", "+86", "-", "0", "@", "\r\n",
])
texts = st.one_of(special_texts, st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)).filter(
    lambda t: not looks_like_rich_xml(t))
numbers = {
    "int": st.integers(-(10**18), 10**18),
    **{k: st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1e-300, 1e20, 0.1 + 0.2, 95.875])
       for k in ("score", "rate", "money")},
}


@st.composite
def tables(draw):
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    count = draw(st.integers(1, 12))
    first_row = draw(st.sampled_from([1, 2, 40_001, EXCEL_ROWS - 12]))
    columns = []
    for kind in kinds:
        value = texts if kind in ("text", "wrap") else numbers[kind]
        columns.append(draw(st.lists(st.one_of(st.none(), st.just(""), value) if kind in ("text", "wrap") else st.none() | value,
                                     min_size=count, max_size=count)))
    rows_with_cells = [first_row + i for i in range(count) if any(col[i] not in (None, "") for col in columns)]
    chosen = draw(st.lists(st.sampled_from(rows_with_cells), unique=True)) if rows_with_cells else []
    heights = {r: draw(st.sampled_from([15.0, 12.75, 27.0, 409.5]) | st.floats(1, 409)) for r in chosen}
    return kinds, columns, first_row, heights


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tables())
def test_rows_are_byte_for_byte_what_xlsxwriter_streams(tmp_path, table):
    kinds, columns, first_row, heights = table
    expected, styles = by_xlsxwriter(tmp_path / "ref.xlsx", kinds, columns, first_row, heights)
    assert rows_xml(columns, kinds, styles, first_row, heights) == expected


def test_a_text_past_excels_limit_is_cut_where_xlsxwriter_cuts_it(tmp_path):
    long = ["甲" * (TEXT_MAX + 5), "😀" * (TEXT_MAX // 2 + 3), "a" * (TEXT_MAX - 1) + "😀"]
    expected, styles = by_xlsxwriter(tmp_path / "ref.xlsx", ["text"], [long], 1, {})
    assert rows_xml([long], ["text"], styles, 1, {}) == expected
    assert inline_text(long[0]) == "<t>" + "甲" * TEXT_MAX + "</t>"


def test_a_text_shaped_like_rich_string_xml_is_written_as_the_text_it_is(tmp_path):
    """xlsxwriter would copy it raw (book.py guards its own sheets); here it is escaped, and the
    cell reads back as it was sent."""
    text = "<r><t>甲</t></r></si><si><t>乙</t></r>"
    path = tmp_path / "rich.xlsx"
    wb = Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "表头")
    wb.close()
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    members["xl/worksheets/sheet1.xml"] = sheet.replace("</row>", "</row>" + rows_xml([[text, "后"]], ["text"], [0], 1), 1).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Sheet1").to_python() == [["表头"], [text], ["后"]]


def test_rows_beyond_excels_last_row_are_refused_as_xlsxwriter_refuses_them(tmp_path):
    with pytest.raises(WriteError):
        rows_xml([["a", "b"]], ["text"], [0], EXCEL_ROWS - 1)
    with pytest.raises(WriteError):
        by_xlsxwriter(tmp_path / "ref.xlsx", ["text"], [["a", "b"]], EXCEL_ROWS - 1, {})
    assert rows_xml([["a"]], ["text"], [0], EXCEL_ROWS - 1).startswith(f'<row r="{EXCEL_ROWS}">')


def test_rows_without_cells_are_left_out_and_heights_kept_on_the_others():
    xml = rows_xml([["甲", None, "", "乙"], [1.5, None, None, None]], ["wrap", "score"], [7, 9], 3, {3: 30.0, 4: 30.0, 6: 15.0})
    assert xml == ('<row r="4" ht="30" customHeight="1"><c r="A4" s="7" t="inlineStr"><is><t>甲</t></is></c>'
                   '<c r="B4" s="9"><v>1.5</v></c></row>'
                   '<row r="7"><c r="A7" s="7" t="inlineStr"><is><t>乙</t></is></c></row>')

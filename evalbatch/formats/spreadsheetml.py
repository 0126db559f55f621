"""Excel 2003 XML Spreadsheet ("SpreadsheetML"): what budget systems export under a .xls
name. Excel and WPS open it silently; calamine does not read it.

Parsed by expat, DTDs forbidden as defusedxml forbids them: a DOCTYPE, an entity or an
external reference is refused at once, never expanded or fetched. Expat calls the reader for
each tag and text directly (ElementTree's parser adds a Python call of its own per tag,
a quarter of the reading): no element tree is built, so memory follows the cells, not the file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from xml.parsers import expat

from .base import (EXCEL_COLS, EXCEL_ROWS, FileProblem, Limits, Merge, SheetData, beyond_excel, cell_too_long, check_extent, dense,
                   text_codec, too_deep, too_many_elements, too_much_text)

NS = "urn:schemas-microsoft-com:office:spreadsheet"
# Expat names a namespaced tag or attribute "namespace}name" (the separator set below).
_WORKBOOK, _WORKSHEET, _TABLE, _ROW, _CELL, _DATA = (f"{NS}}}{t}" for t in ("Workbook", "Worksheet", "Table", "Row", "Cell", "Data"))

# Encodings expat decodes itself; anything else (GB2312 from older systems) is transcoded first,
# because expat refuses multi-byte encodings it does not know.
_EXPAT_NATIVE = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "ascii"}
_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def read_spreadsheetml(data: bytes, wanted: Callable[[str], bool], limits: Limits) -> dict[str, SheetData]:
    reader = _Reader(wanted, limits)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True  # a cell's text in one call, not one per line
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = reader.start, reader.end, reader.data
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    try:
        parser.Parse(_expat_ready(data), True)
    except (expat.ExpatError, ValueError, OverflowError):
        raise FileProblem("file.truncated", "文件不完整或已损坏（XML 表格内容无法解析），可能导出或复制中断，请重新导出或另存为 .xlsx 后提交") from None
    if not reader.seen_root:
        raise FileProblem("file.truncated", "文件不完整或已损坏（XML 表格内容无法解析），可能导出或复制中断，请重新导出或另存为 .xlsx 后提交")
    return reader.sheets


def _refuse_dtd(*_) -> None:
    raise FileProblem("file.suspicious", "文件内含 XML 文档类型声明或实体定义（DOCTYPE/ENTITY），正常导出的表格不会有，疑似恶意文件，不予读取")


def _expat_ready(data: bytes) -> bytes:
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return data  # a BOM says it all, and expat reads it
    m = _DECLARATION.match(data[:512])
    if not m:
        return data
    codec = text_codec(m.group(1).decode("ascii"))  # only what exports use; GB2312/GBK read as GB18030
    if codec in _EXPAT_NATIVE:
        return data
    text = data.decode(codec, errors="replace")
    return _redeclare(text, m.group(0).decode("ascii")).encode("utf-8")


def _redeclare(text: str, decl: str) -> str:
    """`text` with its encoding declaration saying utf-8 (what it is about to become)."""
    head = re.sub(r"""encoding\s*=\s*["'][^"']*["']""", 'encoding="utf-8"', decl, count=1)
    return text.replace(decl, head, 1)


_QUALIFIED = {n: f"{NS}}}{n}" for n in ("Index", "MergeAcross", "MergeDown", "Span", "Type", "Name")}


def _attr(attrib: dict, name: str) -> str | None:
    # Exporters write ss:Index; a few write a bare Index, which is in no namespace.
    value = attrib.get(_QUALIFIED[name])
    return attrib.get(name) if value is None else value


def _int_attr(attrib: dict, name: str, default: int = 0) -> int:
    if not attrib:
        return default
    value = _attr(attrib, name)
    return default if value is None or not value.strip() else int(value)


class _Reader:
    """The parser's target: start tags, text and end tags of one document → the wanted
    worksheets as grids. No tree is built; a cell's value is kept when its end tag comes."""

    def __init__(self, wanted: Callable[[str], bool], limits: Limits):
        self.wanted, self.limits = wanted, limits
        self.sheets: dict[str, SheetData] = {}
        self.seen_root = False
        self.elements = 0
        self.depth = 0
        self.chars = 0
        self.sheet_no = 0
        self._sheet: str | None = None  # the worksheet being kept, None while skipping one
        self._cells: dict[tuple[int, int], object] = {}
        self._merges: list[Merge] = []
        self._row = self._col = -1
        self._span = 0  # ss:Span of the open row
        self._extent = (0, 0)
        self._cell_depth = 0  # depth of the open <Cell>, 0 outside one
        self._cell_at = (0, 0)
        self._value: object = ""
        self._data: list[str] | None = None  # text of the cell's <Data> (rich text nests tags in it)
        self._data_depth = 0
        self._type: str | None = None

    def start(self, tag: str, attrib: dict) -> None:
        self.depth += 1
        if self.depth > self.limits.max_nesting_depth:
            raise too_deep(self.limits.max_nesting_depth)
        self.elements += 1
        if self.elements > self.limits.max_xml_elements:
            raise too_many_elements(self.limits.max_xml_elements)
        if self._data is not None:
            self._data_depth += 1  # markup inside the value: its text is the value's
        elif not self.seen_root:
            if tag != _WORKBOOK:
                raise FileProblem("file.not_spreadsheet", "文件是 XML 文本，但不是 Excel XML 表格；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交")
            self.seen_root = True
        elif tag == _CELL:
            self._open_cell(attrib)
        elif tag == _DATA and self._cell_depth and self.depth == self._cell_depth + 1 and self._type is None:
            # the cell's own value; a <Data> inside its <Comment> is the note's
            self._data, self._data_depth, self._type = [], 1, _attr(attrib, "Type") or ""
        elif tag == _ROW:
            self._row = _int_attr(attrib, "Index", self._row + 2) - 1
            self._col = -1
            self._span = _int_attr(attrib, "Span")  # a spanned row stands for Span more rows like it
        elif tag == _WORKSHEET:
            self.sheet_no += 1
            name = _attr(attrib, "Name") or f"Sheet{self.sheet_no}"
            self._sheet = name if name not in self.sheets and self.wanted(name) else None
            self._cells, self._merges, self._row, self._extent = {}, [], -1, (0, 0)

    def data(self, text: str) -> None:
        if self._data is not None:
            self._data.append(text)  # counted once joined (its length is the message's): the file's bytes bound it

    def end(self, tag: str) -> None:
        self.depth -= 1
        if self._data is not None:
            self._data_depth -= 1
            if self._data_depth == 0:
                self._value = _value("".join(self._data), self._type or "")
                self._data = None
        elif tag == _CELL and self._cell_depth:
            self._close_cell()
        elif tag == _ROW:
            self._row += self._span
        elif tag == _WORKSHEET:
            self._end_sheet()

    def _open_cell(self, attrib: dict) -> None:
        self._col = _int_attr(attrib, "Index", self._col + 2) - 1
        across, down = _int_attr(attrib, "MergeAcross"), _int_attr(attrib, "MergeDown")
        self._cell_at, self._cell_depth, self._type, self._value = (self._row, self._col), self.depth, None, ""
        self._col += max(across, 0)  # the next cell without an index follows the merged range
        r, c = self._cell_at
        if self._sheet is None:
            return
        if not (0 <= r < EXCEL_ROWS and 0 <= c < EXCEL_COLS):
            raise beyond_excel(self._sheet, r, c)
        if across > 0 or down > 0:
            self._merges.append((r, c, r + max(down, 0), c + max(across, 0)))

    def _close_cell(self) -> None:
        (r, c), value = self._cell_at, self._value
        self._cell_depth, self._type = 0, None
        if self._sheet is None:
            return
        if isinstance(value, str):
            self._count(len(value))
        if value == "":
            return
        rows, cols = max(self._extent[0], r + 1), max(self._extent[1], c + 1)
        if (rows, cols) != self._extent:
            check_extent(self._sheet, rows, cols, self.limits)
            self._extent = (rows, cols)
        self._cells[(r, c)] = value

    def _count(self, chars: int) -> None:
        if chars > self.limits.max_cell_chars:
            raise cell_too_long(self._sheet or "", chars, self.limits.max_cell_chars)
        self.chars += chars
        if self.chars > self.limits.max_text_chars:
            raise too_much_text(self.chars, self.limits.max_text_chars)

    def _end_sheet(self) -> None:
        if self._sheet is not None:
            self.sheets[self._sheet] = dense(self._sheet, self._cells, self._merges, self.limits)
        self._sheet, self._cells, self._merges = None, {}, []


def _value(text: str, kind: str):
    """A cell's value as calamine would give it: float, str, datetime, bool."""
    if kind == "Number":
        return _number(text)
    if kind == "DateTime":
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return text
    if kind == "Boolean":
        return {"1": True, "0": False, "true": True, "false": False}.get(text.strip().lower(), text)
    if kind == "Error":
        return ""  # as calamine reads error cells (#DIV/0!)
    return text


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text

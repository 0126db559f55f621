"""An HTML page holding `<table>`s, saved as .xls: what some budget and OA systems call
"导出 Excel". Excel and WPS open it as a sheet; calamine does not read it.

Tokenised by libxml2's HTML parser (lxml), in C, as a stream of events to a target: no tree
is built, and it knows no DTDs, entities beyond HTML's own, or network (`no_network`; HTML
has no external entities). The standard library's `html.parser` did the same in Python at
about six times the cost, which made an HTML export the dearest submission to read. Each
top-level `<table>` becomes one sheet, laid out the way a browser lays it out (a cell skips
the columns that row-spanning cells from earlier rows occupy); `rowspan`/`colspan` become
merges. Cell values stay text: the parse layer reads numbers written as text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .base import (EXCEL_COLS, EXCEL_ROWS, FileProblem, Limits, Merge, SheetData, beyond_excel, cell_too_long, check_extent, dense,
                   text_codec, too_deep, too_many_elements, too_much_text)

# The HTML standard's own clamps (what browsers apply), so a hostile span costs no more than
# a browser would spend on it.
MAX_COLSPAN = 1000
MAX_ROWSPAN = 65534

_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._-]+)""", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def read_html(data: bytes, wanted: Callable[[str], bool], limits: Limits) -> dict[str, SheetData]:
    target = _TableParser(limits)
    # recover: a page as a browser reads it, unclosed tags and all; a limit the target raises
    # (FileProblem) stops the parse and comes out of feed() or close() as itself.
    parser = etree.HTMLParser(target=target, recover=True, no_network=True, remove_comments=True, remove_pis=True,
                              compact=False, collect_ids=False)
    parser.feed(decode(data))
    tables = parser.close()
    if not tables:
        raise FileProblem("file.not_spreadsheet", "文件是网页，其中没有表格，只是扩展名为表格；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交")
    sheets: dict[str, SheetData] = {}
    for name, table in zip(_sheet_names(tables, target.title), tables):
        if wanted(name):
            sheets[name] = dense(name, table.cells, table.merges, limits)
    return sheets


def decode(data: bytes) -> str:
    """The page's text: by its BOM, else its declared charset (only one a real export uses:
    `text_codec`), else UTF-8, else GB18030."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    tried = []
    m = _CHARSET.search(data[:4096])
    if m:
        tried.append(text_codec(m.group(1).decode("ascii")))
    for codec in [*tried, "utf-8", "gb18030"]:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue  # a page saved in the system code page while claiming utf-8 is common
    return data.decode("gb18030", errors="replace")


def _sheet_names(tables: list[_Table], title: str) -> list[str]:
    """A table's caption; else the page title when there is one table; else 表1, 表2 …;
    a repeated name gets (2), (3) … In linear time: thousands of tables may share a caption,
    so each name's next number is remembered rather than searched for again."""
    names: list[str] = []
    used: set[str] = set()
    next_k: dict[str, int] = {}
    for i, table in enumerate(tables, start=1):
        base = table.caption or (title if len(tables) == 1 and title else f"表{i}")
        name, k = base, next_k.get(base, 2)
        while name in used:
            name, k = f"{base}({k})", k + 1
        next_k[base] = k
        used.add(name)
        names.append(name)
    return names


def _span(value: str | None, clamp: int) -> int:
    try:
        n = int(str(value).strip()) if value is not None else 1
    except ValueError:
        return 1
    if n == 0 and clamp == MAX_ROWSPAN:
        return MAX_ROWSPAN  # rowspan=0: to the end of the table; clipped to it later
    return min(max(n, 1), clamp)


def _text(parts: list[str]) -> str:
    """A cell's text: its <br>s as line breaks, white space collapsed within each line."""
    text = "".join(parts)
    if "\n" not in text:
        return _SPACES.sub(" ", text).strip()  # most cells: one line
    lines = text.split("\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in lines).strip()


@dataclass
class _Table:
    caption: str = ""
    cells: dict[tuple[int, int], str] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)
    row: int = -1
    col: int = 0
    busy_until: dict[int, int] = field(default_factory=dict)  # column → first row it is free again
    extent: tuple[int, int] = (0, 0)  # of every cell's place, spans included


class _TableParser:
    """Tables, rows and cells of a page, as parser events come (an lxml parser target);
    inner tables count as text of their outer cell."""

    _SKIP = {"script", "style", "title"}

    def __init__(self, limits: Limits):
        self.limits = limits
        self.elements = 0
        self.tables: list[_Table] = []
        self.title = ""
        self._depth = 0  # how many <table>s are open
        self._cell: list[str] | None = None  # text of the open top-level cell
        self._open_chars = 0  # characters of the open cell or caption, kept or not
        self._all_chars = 0
        self._cell_at: tuple[int, int] = (0, 0)
        self._caption: list[str] | None = None
        self._skip: str | None = None
        self._title: list[str] | None = None

    # --- parser events (void and self-closed tags come as a start and an end)
    def start(self, tag, attrs):
        self.elements += 1
        if self.elements > self.limits.max_xml_elements:
            raise too_many_elements(self.limits.max_xml_elements)
        if tag == "title" and self._depth == 0:
            self._title = []
        if tag in self._SKIP:
            self._skip = tag
            return
        if tag == "table":
            self._depth += 1
            if self._depth > self.limits.max_nesting_depth:
                raise too_deep(self.limits.max_nesting_depth)
            if self._depth == 1:
                self.tables.append(_Table())
            else:
                self._text(" ")
        elif self._depth != 1:
            if tag in ("br", "tr", "p", "div"):
                self._text("\n")
            elif tag in ("td", "th"):
                self._text(" ")
        elif tag == "tr":
            self._close_cell()
            self._new_row()
        elif tag in ("td", "th"):
            self._close_cell()
            self._open_cell(attrs)
        elif tag == "br":
            self._text("\n")
        elif tag == "caption":
            self._close_cell()
            self._caption, self._open_chars = [], 0

    def end(self, tag):
        if tag == self._skip:
            self._skip = None
        if tag == "title" and self._title is not None:
            self.title = _text(self._title)
            self._title = None
        if tag == "table" and self._depth:
            if self._depth == 1:
                self._close_cell()
            self._depth -= 1
        elif self._depth == 1 and tag in ("td", "th", "tr"):
            self._close_cell()
        elif self._depth == 1 and tag == "caption" and self._caption is not None:
            self.tables[-1].caption = self._closed(self._caption)
            self._caption = None

    def data(self, data):
        if self._title is not None:
            self._title.append(data)
        if self._skip is None:
            # A newline in the source is a space; only <br> breaks a line. Other white space is
            # collapsed when the cell closes (counted before: high, never low).
            self._text(_SPACES.sub(" ", data) if "\n" in data else data)

    def close(self) -> list[_Table]:
        self._close_cell()
        return self.tables

    def _text(self, s: str) -> None:
        parts = self._cell if self._cell is not None else self._caption
        if parts is None:
            return
        # Counted as it comes, kept only within the cell limit: an overlong cell is refused when
        # it closes, with its whole length (libxml2 hands text in pieces), without holding it.
        self._open_chars += len(s)
        if self._open_chars <= self.limits.max_cell_chars:
            parts.append(s)

    def _closed(self, parts: list[str]) -> str:
        """A cell's or caption's text, within the per-cell and whole-file limits (white space is
        collapsed later, so the count is a little high, never low)."""
        chars = self._open_chars
        if chars > self.limits.max_cell_chars:
            raise cell_too_long(self._name(), chars, self.limits.max_cell_chars)
        self._all_chars += chars
        if self._all_chars > self.limits.max_text_chars:
            raise too_much_text(self._all_chars, self.limits.max_text_chars)
        return _text(parts)

    # --- layout
    def _new_row(self) -> None:
        t = self.tables[-1]
        t.row += 1
        t.col = 0

    def _open_cell(self, attrs: dict) -> None:
        t = self.tables[-1]
        if t.row < 0:
            self._new_row()  # a <td> before any <tr>: browsers open the row for it
        while t.busy_until.get(t.col, 0) > t.row:
            t.col += 1
        rowspan = colspan = 1
        if attrs:
            attrs = dict(attrs)  # one lookup each in a plain dict, not lxml's mapping
            rowspan, colspan = _span(attrs.get("rowspan"), MAX_ROWSPAN), _span(attrs.get("colspan"), MAX_COLSPAN)
        r, c = t.row, t.col
        # A colspan running into a column an earlier rowspan still holds (a table-model error
        # browsers draw as overlapping cells) stops before it: a sheet's merges never overlap.
        if colspan > 1 and t.busy_until:
            colspan = next((j - c for j in range(c + 1, c + colspan) if t.busy_until.get(j, 0) > r), colspan)
        if r >= EXCEL_ROWS or c + colspan > EXCEL_COLS:
            raise beyond_excel(self._name(), r, c + colspan - 1)
        # Sized by every cell's place, empty or not: that bounds the column scans above and
        # the span bookkeeping below by the grid the limit allows.
        if r >= t.extent[0] or c + colspan > t.extent[1]:
            rows, cols = max(t.extent[0], r + 1), max(t.extent[1], c + colspan)
            check_extent(self._name(), rows, cols, self.limits)
            t.extent = (rows, cols)
        if rowspan > 1:
            for j in range(c, c + colspan):
                t.busy_until[j] = r + rowspan
        if rowspan > 1 or colspan > 1:
            t.merges.append((r, c, r + rowspan - 1, c + colspan - 1))
        t.col += colspan
        self._cell, self._cell_at, self._open_chars = [], (r, c), 0

    def _close_cell(self) -> None:
        if self._cell is None:
            return
        parts, (r, c) = self._cell, self._cell_at
        self._cell = None
        text = self._closed(parts)
        if text:
            self.tables[-1].cells[(r, c)] = text

    def _name(self) -> str:
        return self.tables[-1].caption or f"表{len(self.tables)}"

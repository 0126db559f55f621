"""Sizing the sheets of zip-based workbooks before python-calamine opens them.

calamine builds each sheet as one dense block from its first to its last cell, in Rust:
a sheet with a value in A1 and another in XFD1048576 asks for 500 GB and aborts the whole
process (not an exception: the batch dies with it). So the extent of every wanted sheet is
measured first, from the part itself, and a sheet past `max_sheet_cells` is refused.

For .xlsx a byte scan of the cell references is enough and costs a fraction of the read.
For .ods and .xlsb the same pass also collects the merged ranges, which python-calamine
0.9.1 does not report for those formats (`merged_cell_ranges` is None for .ods).
"""

from __future__ import annotations

import codecs
import html
import io
import posixpath
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from itertools import zip_longest
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from .base import EXCEL_COLS, EXCEL_ROWS, CellIssue, FileProblem, Limits, Merge, cell_too_long, check_extent, too_deep, too_many_elements, too_much_text

_CHUNK = 1 << 20
_MB = 1024 * 1024
_LONGEST_TAG = 1 << 20  # no tag of a real workbook comes near; a longer one is crafted

# How every writer seen writes a cell: `<c r="B7" ...>`, reference first, upper case. When
# every cell tag of a part is written so and none lies past column ZZ or row 999, the sheet
# is at most 999 × 702 cells: the common case, told by one search for a cell tag that is not
# (one pass over the bytes; each further pass costs as much as the search).
_NOT_SMALL = re.compile(rb'<c(?! r="[A-Z]{1,2}[0-9]{1,3}"[ />])[\s>]')
SMALL = (999, 702)
# Exactly the cells calamine places: start tags with content (not self-closing), with their
# reference, or ("", "") without one (the cell then follows the previous one). calamine
# accepts lower-case references and any namespace prefix, so these do too.
_CELL = re.compile(rb"""<c(?=[\s>])(?:\s[^>]*?\br\s*=\s*["']([A-Za-z]+)([0-9]+)["'])?[^>]*(?<!/)>""")
_CELL_PREFIXED = re.compile(rb"""<(?:\w+:)?c(?=[\s>])(?:\s[^>]*?\br\s*=\s*["']([A-Za-z]+)([0-9]+)["'])?[^>]*(?<!/)>""")
_ROW_REF = re.compile(rb"""<(?:\w+:)?row\s[^>]*?\br\s*=\s*["'][A-Za-z]*([0-9]+)["']""")
_ROW_ANY = re.compile(rb"""<(?:\w+:)?row[\s>/]""")
# Sheet names and relationship targets, read with patterns rather than an XML parser: this
# runs for every file and needs two attributes (an XML parse cost more than the scan).
_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\s[^>]*>")
_REL_TAG = re.compile(rb"<(?:\w+:)?Relationship\s[^>]*>")

def _broken() -> FileProblem:
    return FileProblem("file.truncated", "文件不完整或已损坏，无法读取；请在 Excel/WPS 中打开检查并重新保存后提交")


def part_key(name: str) -> str:
    """A member's name as calamine matches it: backslashes as slashes, no leading slash, any
    letter case. Every member with the same key may be the one it reads, so all are measured."""
    return name.replace("\\", "/").lstrip("/").lower()


def members_by_key(zf: zipfile.ZipFile) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in zf.namelist():
        out.setdefault(part_key(name), []).append(name)
    return out


def _read_each(zf: zipfile.ZipFile, members: dict[str, list[str]], key: str) -> list[bytes]:
    return [_read_all(zf, name) for name in members.get(key, [])]


def _relationships(zf: zipfile.ZipFile, members: dict[str, list[str]], rels_key: str) -> dict[str, list[str]]:
    """Relationship id → every target written for it, in every member the rels part may be."""
    rels: dict[str, list[str]] = {}
    for part in _read_each(zf, members, rels_key):
        for tag in _REL_TAG.findall(part):
            rid, target = _xml_attr(tag, b"Id"), _xml_attr(tag, b"Target")
            if rid is not None and target is not None:
                rels.setdefault(rid, []).append(target)
    return rels


def _parts_of(targets: list[str], members: dict[str, list[str]]) -> list[str]:
    """The zip members relationship targets can name. calamine versions resolve targets
    differently ("/xl/x", "xl/x", "x" under xl/, backslashes, any case), so every reading is measured."""
    found: list[str] = []
    for target in targets:
        t = target.replace("\\", "/")
        for part in (t, f"xl/{t}", f"xl{t}", posixpath.normpath(f"xl/{t}")):
            for name in members.get(part_key(part), []):
                if name not in found:
                    found.append(name)
    return found


def _worksheet_members(members: dict[str, list[str]], suffix: str) -> list[str]:
    return sorted(n for key, names in members.items() if key.startswith("xl/worksheets/") and key.endswith(suffix) for n in names)


def _read_member(zf: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """A member's bytes in chunks. zipfile stops at the declared size and checks the CRC,
    so a member that lies about its size cannot inflate past it."""
    try:
        with zf.open(part) as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except (KeyError, zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, NotImplementedError):
        raise _broken() from None  # KeyError: a member the workbook names is missing


# --- xlsx ---------------------------------------------------------------------------------


def xlsx_parts(zf: zipfile.ZipFile) -> dict[str, list[str]]:
    """Sheet name → the worksheet parts it may be read from, by xl/workbook.xml and its
    relationships (found as calamine finds them); {} if the workbook does not say."""
    members = members_by_key(zf)
    books = _read_each(zf, members, "xl/workbook.xml")
    rels = _relationships(zf, members, "xl/_rels/workbook.xml.rels")
    if not books or not rels:
        return {}
    parts: dict[str, list[str]] = {}
    for tag in (tag for book in books for tag in _SHEET_TAG.findall(book)):
        name = _xml_attr(tag, b"name")
        if name is not None:
            targets = [t for rid in _ids(tag) for t in rels.get(rid, [])]
            parts[name] = list(dict.fromkeys(parts.get(name, []) + _parts_of(targets, members)))
    # A sheet whose part cannot be found where a reader might look: every worksheet part counts.
    for name, found in parts.items():
        if not found:
            parts[name] = _worksheet_members(members, ".xml")
    return parts


# The relationship id of a <sheet>: calamine takes r:id, any prefix, or a bare id.
_ID = re.compile(rb"""(?<![\w.-])(?:\w+:)?id\s*=\s*(["'])(.*?)\1""")


def _ids(tag: bytes) -> list[str]:
    return [html.unescape(m.group(2).decode("utf-8", errors="replace")) for m in _ID.finditer(tag)]


_ATTRS = {
    name: re.compile(rb"(?<![\w:])" + name + rb"""\s*=\s*(["'])(.*?)\1""")
    for name in (b"Id", b"Target", b"name")
}


def _xml_attr(tag: bytes, name: bytes) -> str | None:
    m = _ATTRS[name].search(tag)
    return html.unescape(m.group(2).decode("utf-8", errors="replace")) if m else None


def _read_all(zf: zipfile.ZipFile, part: str) -> bytes:
    return b"".join(_read_member(zf, part))


def check_xlsx(data: bytes, wanted: Callable[[str], bool], limits: Limits, zf: zipfile.ZipFile | None = None) -> dict[str, list[str]]:
    """Refuse a workbook whose wanted sheets are too large or hold too much text; its
    `xlsx_parts`, for `xlsx_cell_issues` (reading them costs a pass over two members)."""
    zf = zf or zipfile.ZipFile(io.BytesIO(data))
    parts = xlsx_parts(zf)
    if parts:
        todo = [(name, part) for name, found in parts.items() if wanted(name) for part in found]
    else:
        todo = [(m, m) for m in _worksheet_members(members_by_key(zf), ".xml")]
    strings = _shared_strings(zf, "xl/sharedstrings.xml", limits, _xlsx_string_lengths)
    sizes = [zf.getinfo(part).file_size for _, part in todo]
    # Counting every cell's text costs a pass of regular expressions; needed only when the
    # most the parts could hold (all their bytes as text, every cell a reference to the
    # longest shared string) passes the limit, which no ordinary form comes near.
    text = Text(limits) if sum(_most_text(size, strings) for size in sizes) > limits.max_text_chars else None
    small_enough = SMALL[0] * SMALL[1] <= limits.max_sheet_cells
    for (name, part), size in zip(todo, sizes):
        small = _scan_part(zf, part, name, small_enough, _Runs(name, limits) if size > limits.max_cell_chars else None, text, strings)
        if not small:
            check_extent(name, *_xlsx_extent(zf, part, name), limits)
    return parts


def _scan_part(zf: zipfile.ZipFile, part: str, name: str, small_enough: bool, runs: _Runs | None, text: Text | None,
               strings: list[int]) -> bool:
    """One pass over a worksheet part: whether every cell is written plainly and within SMALL
    (else its extent is measured), with the text its cells hold checked on the way."""
    small = small_enough
    for buf in _whole_tags(zf, part, name):
        if small and (b":c " in buf or b":c>" in buf or _NOT_SMALL.search(buf)):  # a prefixed, odd or distant cell
            small = False
        if runs is not None:
            runs.feed(buf)
        if text is not None:
            text.add(_chars(buf.decode("utf-8", errors="ignore")) + _referenced(buf, strings))
        if not (small or runs or text):
            break
    return small


# --- cells calamine reads as "": error values and formulas saved without a result --------

_ISSUE_CELL = re.compile(rb"""<c\s([^>]*?)(?:/>|>(.*?)</c>)""", re.S)
_REF = re.compile(rb"""\br\s*=\s*["']([A-Za-z]+)([0-9]+)["']""")
_ERROR_TYPE = re.compile(rb"""\bt\s*=\s*["']e["']""")
_VALUE = re.compile(rb"<v\s*>([^<]*)</v\s*>")
# Parts larger than this are not searched: no form is that large, and a huge part must not
# be held in memory for a courtesy message.
_ISSUE_PART_BYTES = 8 * _MB


def xlsx_cell_issues(data: bytes, wanted: Callable[[str], bool], zf: zipfile.ZipFile | None = None,
                     parts: dict[str, list[str]] | None = None) -> dict[str, list[tuple[int, int, CellIssue]]]:
    """Per wanted sheet, (row, column, issue) of every error cell (#DIV/0!, #N/A …) and every
    formula saved without its result, 0-based. calamine shows both as empty cells, which
    would report a figure the department did fill in as "为空". `parts`: `xlsx_parts`, if known."""
    zf = zf or zipfile.ZipFile(io.BytesIO(data))
    out: dict[str, list[tuple[int, int, CellIssue]]] = {}
    for name, found in (xlsx_parts(zf) if parts is None else parts).items():
        for part in found if wanted(name) else ():
            if zf.getinfo(part).file_size > _ISSUE_PART_BYTES:
                continue
            found = _issues(_read_all(zf, part))
            if found:
                out.setdefault(name, []).extend(found)
    return out


# Where a cell may hold an issue: a formula's <f> or an error type, found as plain bytes.
# Only the cells around these are parsed; a form has thousands of cells and a few dozen
# formulas at most.
_MARKS = (b"<f", b't="e"', b"t='e'")
_CELL_START = re.compile(rb"<c\s")


def _issues(xml: bytes) -> list[tuple[int, int, CellIssue]]:
    out = []
    start, done, last = -1, -1, 0
    for at in sorted(_positions(xml)):
        # The cell around `at` starts at the last "<c " before it; searching only back to the
        # previous mark keeps the whole scan linear, whatever the file repeats.
        start = _cell_start(xml, last, at, start)
        last = at
        if start < 0 or start == done:
            continue  # before any cell, or a second mark in a cell already looked at
        done = start
        m = _ISSUE_CELL.match(xml, start)
        if m is None or m.end() <= at:
            continue  # a <formula1> of a data validation, not inside a cell
        issue = _cell_issue(m.group(1), m.group(2) or b"")
        if issue is not None:
            out.append(issue)
    return out


def _positions(xml: bytes):
    for mark in _MARKS:
        at = xml.find(mark)
        while at >= 0:
            yield at
            at = xml.find(mark, at + 1)


def _cell_start(xml: bytes, lo: int, at: int, before: int) -> int:
    """Where the last <c …> that starts in xml[lo:at] starts; `before` (the previous mark's)
    when none does."""
    start = xml.rfind(b"<c", lo, at)
    while start >= 0 and not _CELL_START.match(xml, start):
        start = xml.rfind(b"<c", lo, start)
    return start if start >= 0 else before


def _cell_issue(attrs: bytes, body: bytes) -> tuple[int, int, CellIssue] | None:
    ref = _REF.search(attrs)
    if ref is None:
        return None
    at = (int(ref.group(2)) - 1, _column_number(ref.group(1)) - 1)
    value = _VALUE.search(body)
    if _ERROR_TYPE.search(attrs):
        return (*at, CellIssue(value.group(1).decode("utf-8", "replace").strip() if value else "#错误", "error"))
    if b"<f" in body and not (value and value.group(1).strip()):
        return (*at, CellIssue("（公式，无计算结果）", "formula"))
    return None


# --- text: what the cells hold once shared strings are expanded ---------------------------

_TAG = re.compile(r"<[^>]*>")
# Shared strings: <si>…</si> (or an empty <si/>) in order; the index of a cell is its place here.
_SI_OPEN = re.compile(r"<(?:\w+:)?si[\s>/]")
_SI = re.compile(r"<(?:\w+:)?si(?:\s[^>]*)?(?:/>|>(.*?)</(?:\w+:)?si\s*>)", re.S)
# A cell of type "s" and, when written plainly, the index in its <v>.
_SHARED_CELL = re.compile(rb"""<(?:\w+:)?c\s[^>]*?\bt\s*=\s*["']s["'][^>]*(?<!/)>(?:\s*<(?:\w+:)?v\s*>\s*([0-9]{1,10})\s*<)?""")
_SMALLEST_SHARED_CELL = len(b'<c t="s"><v>0</v>')


def _shared_strings(zf: zipfile.ZipFile, part: str, limits: Limits, lengths_of: Callable[[bytes, int], list[int]]) -> list[int]:
    """The length of each shared string (`lengths_of(the part, max_cell_chars)`), refusing a
    table too large or a string too long. calamine finds the part by its name in any letter
    case, with backslashes too; where several names match, each index counts at its longest."""
    lengths: list[int] = []
    for info in zf.infolist():
        if part_key(info.filename) != part:
            continue
        if info.file_size > limits.max_shared_strings_bytes:
            raise FileProblem("file.suspicious", f"文件的共享字符串表解压后达 {info.file_size / _MB:,.1f} MB，超过上限 "
                                                 f"{limits.max_shared_strings_bytes / _MB:,.0f} MB，远超正常填报表，疑似恶意文件，不予读取")
        found = lengths_of(_read_all(zf, info.filename), limits.max_cell_chars)
        lengths = [max(pair) for pair in zip_longest(lengths, found, fillvalue=0)] if lengths else found
    longest = max(lengths, default=0)
    if longest > limits.max_cell_chars:
        raise cell_too_long("", longest, limits.max_cell_chars)
    return lengths


def _xlsx_string_lengths(part: bytes, limit: int) -> list[int]:
    """A length is the characters of the string's markup (a dozen more than its text: taking
    the tags out of every string costs more than the rest of the scan), and of its text
    alone when that passes `limit`. Splitting at "<si" finds the strings at the speed of a
    search; a table where that would miscount (prefixed or look-alike tags, which would
    shift every index) is read with the full pattern."""
    data = _xml_text(part)
    pieces = data.split("<si")[1:]
    if len(pieces) != len(_SI_OPEN.findall(data)):
        pieces = [m.group(1) or "" for m in _SI.finditer(data)]
    return [len(p) if len(p) <= limit else _chars(p) for p in pieces]


def _xml_text(data: bytes) -> str:
    """An XML part as text: UTF-16 when its byte-order mark says so (calamine 0.9 refuses such
    a part, a later one may not: the count must not depend on it), else UTF-8, bytes that are
    neither replaced."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF8, "utf-8")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    return data.decode("utf-8", errors="replace")


def _chars(markup: str) -> int:
    return len(_TAG.sub("", markup))


def _most_text(size: int, strings: list[int]) -> int:
    """The most text a worksheet part of `size` bytes can give: its own text is at most its
    bytes, and it holds at most one shared-string cell per shortest such cell's bytes."""
    return size + size // _SMALLEST_SHARED_CELL * max(strings, default=0)


def _referenced(buf: bytes, strings: list[int]) -> int:
    """Characters of the shared strings the cells in `buf` point at; a cell whose index is not
    written plainly counts as the longest string (calamine may still find one)."""
    if not strings:
        return 0
    longest, total = max(strings), 0
    for index in _SHARED_CELL.findall(buf):
        i = int(index) if index else -1
        total += strings[i] if 0 <= i < len(strings) else (longest if not index else 0)
    return total


class Text:
    """The characters of cell text a reader will build, counted against the limits as they come."""

    def __init__(self, limits: Limits):
        self.limits, self.total = limits, 0

    def cell(self, sheet: str, chars: int, times: int = 1) -> None:
        if chars > self.limits.max_cell_chars:
            raise cell_too_long(sheet, chars, self.limits.max_cell_chars)
        self.add(chars * times)

    def add(self, chars: int) -> None:
        self.total += chars
        if self.total > self.limits.max_text_chars:
            raise too_much_text(self.total, self.limits.max_text_chars)


class _Runs:
    """Finds a text run (between '>' and '<') longer than max_cell_chars in a part read in
    chunks, without visiting every tag: a run of K or more bytes covers some multiple of K/2
    with K/2 bytes free of '<' after it, so probing those points is enough to find one."""

    def __init__(self, sheet: str, limits: Limits):
        self.sheet, self.limit = sheet, limits.max_cell_chars
        self.step = max(self.limit // 2, 1)
        self.carry = 0  # bytes of a run still open at the end of the previous chunk

    def feed(self, buf: bytes) -> None:
        first = buf.find(b"<")
        if first == -1:
            self._check(self.carry + len(buf))
            self.carry += len(buf)
            return
        self._check(self.carry + first)
        for probe in range(0, len(buf), self.step):
            end = buf.find(b"<", probe)
            if end - probe >= self.step and buf.rfind(b">", 0, probe + 1) > buf.rfind(b"<", 0, probe + 1):
                start = buf.rfind(b">", 0, probe + 1) + 1
                self._check(len(buf[start:end].decode("utf-8", errors="ignore")))
        last_open, last_close = buf.rfind(b"<"), buf.rfind(b">")
        self.carry = len(buf) - last_close - 1 if last_close > last_open else 0

    def _check(self, chars: int) -> None:
        if chars > self.limit:
            raise cell_too_long(self.sheet, chars, self.limit)


def _xlsx_extent(zf: zipfile.ZipFile, part: str, name: str) -> tuple[int, int]:
    """(rows, columns) of the grid calamine would build for this worksheet part. Cells
    without a reference follow one another: each counts as one more column, and every row
    element as a possible row."""
    max_row = max_col = unreferenced = row_elements = max_row_attr = 0
    for buf in _whole_tags(zf, part, name):
        cells = (_CELL_PREFIXED if b":c " in buf or b":c>" in buf else _CELL).findall(buf)
        if cells:
            letters, numbers = zip(*cells)
            unreferenced += letters.count(b"")
            max_row = max([max_row, *map(int, set(numbers) - {b""})])
            max_col = max([max_col, *map(_column_number, set(letters) - {b""})])
        if unreferenced:
            row_elements += len(_ROW_ANY.findall(buf))
            max_row_attr = max([max_row_attr, *map(int, _ROW_REF.findall(buf))])
    if unreferenced:
        # A row without a reference follows the last one: at worst after the highest.
        max_row = max(max_row, max_row_attr + row_elements)
        max_col = max(max_col, unreferenced)
    return max_row, max_col


def _whole_tags(zf: zipfile.ZipFile, part: str, name: str) -> Iterator[bytes]:
    """The part in chunks that each end between tags."""
    tail = b""
    for chunk in _read_member(zf, part):
        buf = tail + chunk
        cut = buf.rfind(b"<")
        if cut != -1 and buf.find(b">", cut) == -1:
            buf, tail = buf[:cut], buf[cut:]  # an unfinished tag waits for the next chunk
            if len(tail) > _LONGEST_TAG:
                raise FileProblem("file.suspicious", f"工作表「{name}」内部有超长标记，正常表格不会如此，疑似恶意文件，不予读取")
        else:
            tail = b""
        yield buf
    if tail:
        yield tail


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


# --- ods ----------------------------------------------------------------------------------

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def scan_ods(data: bytes, wanted: Callable[[str], bool], limits: Limits, zf: zipfile.ZipFile | None = None) -> dict[str, list[Merge]]:
    """Check the extent of each wanted table of content.xml and return its merged ranges
    (`table:number-rows-spanned` / `number-columns-spanned`)."""
    zf = zf or zipfile.ZipFile(io.BytesIO(data))
    scan = _OdsScan(wanted, limits)
    try:
        for event, elem in iterparse(_ChunkReader(_read_member(zf, "content.xml")), events=("start", "end"), forbid_dtd=True):
            scan.on(event, elem)
    except DefusedXmlException:
        raise FileProblem("file.suspicious", "文件内含 XML 文档类型声明或实体定义（DOCTYPE/ENTITY），正常表格不会有，疑似恶意文件，不予读取") from None
    except (ParseError, ValueError, OverflowError):
        raise _broken() from None
    return scan.merges


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks, for iterparse."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._buf:
            self._buf = next(self._chunks, b"")
            if not self._buf:
                return b""
        size = len(self._buf) if size is None or size < 0 else size
        out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _repeat(elem, attr: str) -> int:
    value = elem.get(f"{_TABLE}{attr}")
    return 1 if value is None else max(int(value), 1)


_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def _ods_chars(cell) -> int:
    """The characters a reader makes of an ODS cell: its text, the text of its paragraphs and
    spans, and the spaces that <text:s text:c="n"/> stands for (n of them: a few bytes can
    ask for millions). A string value given as an attribute counts too."""
    chars = len(cell.get(f"{_OFFICE}string-value") or "")
    for sub in cell.iter():
        chars += len(sub.text or "") + (len(sub.tail or "") if sub is not cell else 0)
        if sub.tag == f"{_TEXT}s":
            chars += _count(sub.get(f"{_TEXT}c"))
    return chars


def _count(value: str | None) -> int:
    try:
        return max(int(value), 1) if value is not None else 1
    except ValueError:
        return 1


class _OdsScan:
    def __init__(self, wanted: Callable[[str], bool], limits: Limits):
        self.wanted, self.limits = wanted, limits
        self.merges: dict[str, list[Merge]] = {}
        self.elements = 0
        self.open = 0  # elements open: their depth
        self._depth = 0  # open tables: a table inside a cell is not a sheet
        self._name: str | None = None
        self._row = self._col = 0
        self._row_repeat = 1
        self._extent = (0, 0)
        self.text = Text(limits)

    def on(self, event: str, elem) -> None:
        tag = elem.tag
        self.open += 1 if event == "start" else -1
        if event == "start":
            self.elements += 1
            if self.elements > self.limits.max_xml_elements:
                raise too_many_elements(self.limits.max_xml_elements)
            if self.open > self.limits.max_nesting_depth:
                raise too_deep(self.limits.max_nesting_depth)
            if tag == f"{_TABLE}table":
                self._depth += 1
                if self._depth == 1:
                    self._start_table(elem.get(f"{_TABLE}name", ""))
            elif tag == f"{_TABLE}table-row" and self._depth == 1:
                self._row_repeat, self._col = _repeat(elem, "number-rows-repeated"), 0
            return
        if tag == f"{_TABLE}table":
            self._depth -= 1
            elem.clear()
        elif self._depth != 1:
            return
        elif tag in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
            self._cell(elem)
            elem.clear()
        elif tag == f"{_TABLE}table-row":
            self._row += self._row_repeat
            elem.clear()

    def _start_table(self, name: str) -> None:
        self._name = name if self.wanted(name) else None
        if self._name is not None:
            self.merges[name] = []
        self._row, self._extent = 0, (0, 0)

    def _cell(self, elem) -> None:
        repeat = _repeat(elem, "number-columns-repeated")
        r, c = self._row, self._col
        self._col += repeat
        if self._name is None:
            return
        self.text.cell(self._name, _ods_chars(elem), repeat * self._row_repeat)
        down, across = _repeat(elem, "number-rows-spanned"), _repeat(elem, "number-columns-spanned")
        if (down > 1 or across > 1) and r < EXCEL_ROWS and c < EXCEL_COLS:
            self.merges[self._name].append((r, c, r + down - 1, c + across - 1))
        if elem.get(f"{_OFFICE}value-type") is None and len(elem) == 0:
            return  # empty (formatting only): calamine leaves it out of the sheet
        rows = max(self._extent[0], r + self._row_repeat)
        cols = max(self._extent[1], c + repeat)
        if (rows, cols) != self._extent:
            check_extent(self._name, rows, cols, self.limits)
            self._extent = (rows, cols)


# --- xlsb ---------------------------------------------------------------------------------

_BRT_ROW_HDR, _BRT_END_SHEET_DATA, _BRT_MERGE_CELL = 0x0000, 0x0092, 0x00B0
_BRT_BUNDLE_SH, _BRT_END_BUNDLE_SHS = 0x009C, 0x0090
_BRT_CELLS = frozenset(range(0x0002, 0x000C))  # BrtCellRk … BrtFmlaError: cells with a value


def _records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(record type, payload) of a BIFF12 part: type and size are 7-bit varints."""
    pos, end = 0, len(data)
    while pos < end:
        typ, pos = _varint(data, pos, 2)
        size, pos = _varint(data, pos, 4)
        if pos + size > end:
            raise _broken()
        yield typ, data[pos : pos + size]
        pos += size


def _varint(data: bytes, pos: int, most: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(most):
        if pos >= len(data):
            raise _broken()
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def _wide_str(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, pos)
    if n == 0xFFFFFFFF:
        return "", pos + 4
    end = pos + 4 + 2 * n
    if end > len(buf):
        raise _broken()
    return buf[pos + 4 : end].decode("utf-16-le", errors="replace"), end


def xlsb_parts(zf: zipfile.ZipFile) -> dict[str, list[str]]:
    """Sheet name → the worksheet parts it may be read from, by xl/workbook.bin (BrtBundleSh)."""
    members = members_by_key(zf)
    rels = _relationships(zf, members, "xl/_rels/workbook.bin.rels")
    out: dict[str, list[str]] = {}
    try:
        for book in _read_each(zf, members, "xl/workbook.bin") or [_read_all(zf, "xl/workbook.bin")]:
            for typ, buf in _records(book):
                if typ == _BRT_BUNDLE_SH:
                    rel_id, pos = _wide_str(buf, 8)
                    name, _ = _wide_str(buf, pos)
                    out[name] = _parts_of(rels.get(rel_id, []), members) or _worksheet_members(members, ".bin")
                elif typ == _BRT_END_BUNDLE_SHS:
                    break
    except (struct.error, KeyError):
        raise _broken() from None
    return out


def scan_xlsb(data: bytes, wanted: Callable[[str], bool], limits: Limits, zf: zipfile.ZipFile | None = None) -> dict[str, list[Merge]]:
    """Check the extent of each wanted xlsb worksheet and return its merged ranges."""
    zf = zf or zipfile.ZipFile(io.BytesIO(data))
    merges: dict[str, list[Merge]] = {}
    text = _XlsbText(_shared_strings(zf, "xl/sharedstrings.bin", limits, _xlsb_string_lengths), limits)
    for name, found in xlsb_parts(zf).items():
        if wanted(name):
            for part in found:
                merges[name] = merges.get(name, []) + _xlsb_sheet(_read_all(zf, part), name, limits, text)
    return merges


_BRT_SST_ITEM, _BRT_CELL_ST, _BRT_CELL_ISST, _BRT_FMLA_STRING = 0x0013, 0x0006, 0x0007, 0x0008


def _xlsb_string_lengths(part: bytes, limit: int) -> list[int]:
    """Characters of each BrtSSTItem of xl/sharedStrings.bin: flags, then an XLWideString."""
    try:
        return [struct.unpack_from("<I", buf, 1)[0] for typ, buf in _records(part) if typ == _BRT_SST_ITEM]
    except struct.error:
        raise _broken() from None


class _XlsbText(Text):
    """Text of xlsb cells: inline strings (BrtCellSt, BrtFmlaString) and shared ones (BrtCellIsst)."""

    def __init__(self, strings: list[int], limits: Limits):
        super().__init__(limits)
        self.strings = strings

    def record(self, sheet: str, typ: int, buf: bytes) -> None:
        if typ in (_BRT_CELL_ST, _BRT_FMLA_STRING):
            self.cell(sheet, min(struct.unpack_from("<I", buf, 8)[0], (len(buf) - 12) // 2))
        elif typ == _BRT_CELL_ISST:
            (i,) = struct.unpack_from("<I", buf, 8)
            self.add(self.strings[i] if i < len(self.strings) else 0)


def _xlsb_sheet(data: bytes, name: str, limits: Limits, text: _XlsbText) -> list[Merge]:
    row, extent, merges = 0, (0, 0), []
    try:
        for count, (typ, buf) in enumerate(_records(data)):
            text.record(name, typ, buf)
            if count > limits.max_xml_elements:
                raise too_many_elements(limits.max_xml_elements)
            if typ == _BRT_ROW_HDR:
                (row,) = struct.unpack_from("<I", buf)
            elif typ in _BRT_CELLS:
                (col,) = struct.unpack_from("<I", buf)
                grown = (max(extent[0], row + 1), max(extent[1], col + 1))
                if grown != extent:
                    check_extent(name, *grown, limits)
                    extent = grown
            elif typ == _BRT_MERGE_CELL:
                r0, r1, c0, c1 = struct.unpack_from("<IIII", buf)
                merges.append((r0, c0, r1, c1))
    except struct.error:
        raise _broken() from None
    return merges

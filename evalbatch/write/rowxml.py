"""A long sheet's rows as the XML xlsxwriter writes for them, built a column at a time.

xlsxwriter spends some 7 µs of Python on each cell it streams, most of a country's write
time. The rows of a long table (parts.py) are built here instead: each column's cells are
formatted in one pass, a text escaped once however often it repeats, and the row elements
joined from them. The result is, byte for byte, what xlsxwriter's streamed (constant_memory)
writer gives for the same values, column formats and row heights (tests/test_rowxml.py
compares the two on generated texts and numbers), so a sheet reads the same whoever wrote
its rows. One case differs on purpose: a text shaped like xlsxwriter's rich-string XML
(book.py) is written here as the plain text it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from xlsxwriter.utility import xl_col_to_name

from .cells import WriteError

EXCEL_ROWS = 1_048_576
# Excel's limit for a cell's text, in UTF-16 units; xlsxwriter cuts a longer text there.
TEXT_MAX = 32_767
# xlsxwriter's default row height in pixels (15 points): a row of that height is written plain.
DEFAULT_ROW_PIXELS = 20
TEXT_KINDS = ("text", "wrap")

# xlsxwriter's escaping of cell text, in its order: a literal "_xHHHH_" is protected, control
# characters become _xHHHH_, then whitespace at either end asks for xml:space, then & < >.
_ESCAPED_LOOKING = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_EDGE_SPACE = re.compile(r"^\s|\s$")
# Whether a text needs any of that: most do not, and are written as they are.
_NEEDS_WORK = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")


def rows_xml(columns: Sequence[Sequence], kinds: Sequence[str], styles: Sequence[int], first_row: int,
             heights: Mapping[int, float] | None = None) -> str:
    """The `<row>` elements of sheet rows `first_row`… (0-based) whose cells are `columns`
    (one list of values per column, None or "" for an empty cell; texts in the columns whose
    kind is text or wrap, numbers in the others), each column in the cell format numbered
    `styles[c]`; `heights`: row → height in points, for the rows that have one."""
    count = len(columns[0]) if columns else 0
    if first_row < 0 or first_row + count > EXCEL_ROWS:
        raise WriteError(f"第 {first_row + 1}–{first_row + count} 行超出工作表的行数上限")
    numbers = [str(r) for r in range(first_row + 1, first_row + count + 1)]
    cells = [_column_cells(values, kind, xl_col_to_name(c), style, numbers)
             for c, (values, kind, style) in enumerate(zip(columns, kinds, styles))]
    heights = heights or {}
    out = []
    for i, row in enumerate(zip(*cells)):
        body = "".join(row)
        # A row without cells is left out, as xlsxwriter's streamed writer leaves it.
        if body:
            out.append(f'<row r="{numbers[i]}"{_height_attributes(heights.get(first_row + i))}>{body}</row>')
    return "".join(out)


def _column_cells(values: Sequence, kind: str, letter: str, style: int, numbers: Sequence[str]) -> list[str]:
    """One column's `<c>` elements, "" for an empty cell."""
    if kind not in TEXT_KINDS:
        return ["" if v is None or v == "" else f'<c r="{letter}{n}" s="{style}"><v>{v:.16G}</v></c>'
                for v, n in zip(values, numbers)]
    texts: dict[str, str] = {}
    out = []
    for v, n in zip(values, numbers):
        if v is None or v == "":
            out.append("")
            continue
        t = texts.get(v)
        if t is None:
            t = texts[v] = inline_text(v)
        out.append(f'<c r="{letter}{n}" s="{style}" t="inlineStr"><is>{t}</is></c>')
    return out


def inline_text(text: str) -> str:
    """The `<t>` element of an inline-string cell holding `text`, as xlsxwriter writes it."""
    if len(text) > TEXT_MAX // 2:
        text = _utf16_cut(text, TEXT_MAX)
    if not _NEEDS_WORK.search(text):
        return f"<t>{text}</t>"
    text = _ESCAPED_LOOKING.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<t{space}>{text}</t>"


def _utf16_cut(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 units, never inside a character beyond U+FFFF."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def _height_attributes(height: float | None) -> str:
    """A row's height attributes as xlsxwriter's set_row gives them (pixels, rounded)."""
    if height is None:
        return ""
    pixels = int(height * 4.0 / 3.0 + 0.5)
    if pixels <= 0:
        raise WriteError(f"行高 {height} 无效")
    if pixels == DEFAULT_ROW_PIXELS:
        return ""
    return f' ht="{pixels * 0.75:.16g}" customHeight="1"'

"""What every format reader shares: the one error a bad file raises, the limits that keep a
hostile file from being allocated, and the dense grid every reader hands back.

A grid is a list of rows, row 0 being Excel's row 1 and column 0 its column A, empty cells
as "" (what python-calamine's `to_python(skip_empty_area=False)` gives), rectangular as
read; consumers must still accept ragged rows.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Excel's sheet: nothing a department fills in lies beyond it, so a position past it is a
# crafted file, not a large one.
EXCEL_ROWS = 1_048_576
EXCEL_COLS = 16_384

Merge = tuple[int, int, int, int]  # first_row, first_col, last_row, last_col; 0-based, inclusive


@dataclass
class RawWorkbook:
    """The sheets as read: rows of cell values, positions preserved (row 0 is Excel's row 1,
    column 0 its column A), every merged range filled with its top-left value."""

    sheets: dict[str, list[list]]
    kind: str  # "xlsx", "xls", "ods", "xlsb", "xml" (Excel 2003 XML Spreadsheet) or "html"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (rule_id, message) warnings
    # sheet → merged ranges within its grid: (first_row, first_col, last_row, last_col), 0-based inclusive
    merges: dict[str, list[Merge]] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)  # sheets hidden (or very hidden) in the workbook



class FileProblem(Exception):
    """A submission that cannot be used. `rule_id` and `message` go straight into a finding."""

    def __init__(self, rule_id: str, message: str):
        super().__init__(message)
        self.rule_id = rule_id
        self.message = message

    def __reduce__(self):  # raised in a sandbox worker, raised again in the parent
        return FileProblem, (self.rule_id, self.message)


@dataclass(frozen=True)
class Limits:
    """The `[limits]` of the rules that the readers enforce themselves."""

    max_sheet_cells: int = 2_000_000
    max_xml_elements: int = 2_000_000
    max_shared_strings_bytes: int = 20 * 1024 * 1024
    max_cell_chars: int = 100_000
    # All the text a reader would build, a shared string counted at each cell that uses it:
    # what bounds the memory of a file whose cells all point at one long string.
    max_text_chars: int = 20_000_000
    # Elements open inside one another (SpreadsheetML, ODS, tables inside HTML tables): a real
    # export nests a dozen deep; a parser holds every open one, so depth is memory.
    max_nesting_depth: int = 100

    @classmethod
    def from_rules(cls, rules) -> Limits:
        return cls(
            max_sheet_cells=int(rules.limit("max_sheet_cells")),
            max_xml_elements=int(rules.limit("max_xml_elements")),
            max_shared_strings_bytes=int(rules.limit("max_shared_strings_mb") * 1024 * 1024),
            max_cell_chars=int(rules.limit("max_cell_chars")),
            max_text_chars=int(rules.limit("max_text_chars")),
            max_nesting_depth=int(rules.limit("max_nesting_depth")),
        )


class CellIssue(str):
    """A cell that is not empty but holds no usable value, as calamine would hide it (it reads
    both as ""): an error value such as #DIV/0! ("error"), or a formula saved without its
    result ("formula", what some tools write and Excel computes only when it opens the file)."""

    def __new__(cls, text: str, kind: str):
        obj = super().__new__(cls, text)
        obj.kind = kind
        return obj

    def __reduce__(self):  # pickled between processes with its kind
        return CellIssue, (str(self), self.kind)


@dataclass
class SheetData:
    rows: list[list]
    merges: list[Merge]
    hidden: bool = False  # hidden or very hidden in the workbook: never preferred over a visible twin


def check_extent(sheet: str, n_rows: int, n_cols: int, limits: Limits) -> None:
    """Refuse a sheet whose dense grid would be too large, before anything allocates it."""
    if n_rows > EXCEL_ROWS or n_cols > EXCEL_COLS or n_rows * n_cols > limits.max_sheet_cells:
        raise FileProblem(
            "file.suspicious",
            f"工作表「{sheet}」范围达 {n_rows:,} 行 × {n_cols:,} 列，远超正常填报表，疑似异常文件，不予读取",
        )


def beyond_excel(sheet: str, row: int, col: int) -> FileProblem:
    return FileProblem(
        "file.suspicious",
        f"工作表「{sheet}」有单元格位于第 {row + 1:,} 行第 {col + 1:,} 列，超出 Excel 工作表范围，疑似异常文件，不予读取",
    )


def cell_too_long(sheet: str, chars: int, limit: int) -> FileProblem:
    where = f"工作表「{sheet}」中" if sheet else ""
    return FileProblem(
        "file.suspicious",
        f"{where}有单元格文字长达 {chars:,} 个字符，超过上限 {limit:,}（Excel 单元格最多 32,767 个字符），疑似异常文件，不予读取",
    )


def too_much_text(chars: int, limit: int) -> FileProblem:
    return FileProblem(
        "file.suspicious",
        f"文件中单元格文字合计至少 {chars:,} 个字符，超过上限 {limit:,}，远超正常填报表（常见于同一段文字被大量单元格重复引用），"
        "疑似恶意文件，不予读取",
    )


def too_deep(limit: int) -> FileProblem:
    return FileProblem("file.suspicious", f"文件内部元素层层嵌套超过 {limit:,} 层，正常表格不会如此，疑似恶意文件，不予读取")


# The encodings real exports declare: Unicode, the Chinese national and Windows code pages
# (GB18030 ⊃ GBK ⊃ GB2312; Big5 from Traditional Chinese systems), and the single-byte ones an
# English-language exporter writes. All decode in linear time; some codecs Python also knows
# do not (punycode: a 1 MB page took 137 s), and no budget system writes them.
TEXT_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "gb18030", "gbk", "gb2312", "big5", "big5hkscs",
                            "cp950", "ascii", "iso8859-1", "cp1252"})


def text_codec(declared: str) -> str:
    """The Python codec for an encoding a file declares, GB2312 and GBK read as their superset
    GB18030; a `FileProblem` naming any other."""
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        codec = ""
    if codec not in TEXT_ENCODINGS:
        shown = declared if len(declared) <= 40 else declared[:40] + "…"
        raise FileProblem("file.encoding", f"文件声明的文字编码“{shown}”不是表格导出使用的编码（支持 UTF-8、UTF-16、GB18030/GBK/GB2312、Big5），"
                                           "未读取；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交")
    return "gb18030" if codec in ("gb2312", "gbk") else codec


def too_many_elements(limit: int) -> FileProblem:
    return FileProblem("file.suspicious", f"文件内部元素超过 {limit:,} 个，远超正常填报表，疑似异常文件，不予读取")


def clip_merges(merges: Iterable[Merge], n_rows: int, n_cols: int) -> list[Merge]:
    """The merges inside the grid, cut to it; ranges left with one cell (or none) dropped.

    Cutting loses nothing a reader needs: outside the grid there is no other value, and a
    whole row merged A1:XFD1 must not widen every sheet to 16,384 columns.
    """
    out = []
    for r0, c0, r1, c1 in merges:
        r0, c0 = max(r0, 0), max(c0, 0)
        r1, c1 = min(r1, n_rows - 1), min(c1, n_cols - 1)
        if r0 <= r1 and c0 <= c1 and (r0, c0) != (r1, c1):
            out.append((r0, c0, r1, c1))
    return sorted(out)  # formats list merges in their own order; report them in one


def fill_merges(rows: list[list], merges: Iterable[Merge]) -> None:
    """Give each merged range its top-left value, as the merged cell shows it. The merges
    must already be clipped to the grid; short (ragged) rows are padded as needed."""
    for r0, c0, r1, c1 in merges:
        top_left = _at(rows, r0, c0)
        for r in range(r0, r1 + 1):
            row = rows[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            row[c0 : c1 + 1] = [top_left] * (c1 + 1 - c0)


def _at(rows: list[list], r: int, c: int):
    row = rows[r]
    return row[c] if c < len(row) else ""


def dense(sheet: str, cells: Mapping[tuple[int, int], object], merges: Iterable[Merge], limits: Limits) -> SheetData:
    """Sparse non-empty cells → the rectangular grid over them, merges clipped and filled.

    The extent is that of the non-empty values (as calamine's), checked before allocating.
    """
    if not cells:
        return SheetData([], [])
    n_rows = 1 + max(r for r, _ in cells)
    n_cols = 1 + max(c for _, c in cells)
    check_extent(sheet, n_rows, n_cols, limits)
    rows: list[list] = [[""] * n_cols for _ in range(n_rows)]
    for (r, c), value in cells.items():
        rows[r][c] = value
    kept = clip_merges(merges, n_rows, n_cols)
    check_merges(sheet, kept, n_rows, n_cols)
    fill_merges(rows, kept)
    return SheetData(rows, kept)


def check_merges(sheet: str, merges: list[Merge], n_rows: int, n_cols: int) -> None:
    """Refuse merges (already clipped) that overlap wholesale: Excel never lets merges
    overlap, so together they cover at most the grid; filling thousands of overlapping
    sheet-sized ranges would take hours."""
    area = sum((r1 - r0 + 1) * (c1 - c0 + 1) for r0, c0, r1, c1 in merges)
    if area > n_rows * n_cols:
        raise FileProblem("file.suspicious", f"工作表「{sheet}」的合并单元格大量相互重叠，正常表格不会如此，疑似异常文件，不予读取")

"""Published, filled self-evaluation forms re-keyed cell by cell (tests/data/real/).

Each JSON file holds one form as its public copy prints it: the grid (`rows`, `merges` in A1
notation, `sheet`) and what a correct reader must get from it (`expect`). The files are data,
not code: README.md in that folder lists where each copy was published and what is special
about its layout. This module loads them and writes them the way a person's or a budget
system's file would look, reusing the writers of the synthetic official forms so the real and
the synthetic corpora arrive in the same shapes (.xlsx with merges and widths; SpreadsheetML
saved as .xls).
"""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl.utils.cell import range_boundaries

from evalbatch.samples.official import Grid, write_html, write_spreadsheetml, write_xlsx

DATA = Path(__file__).resolve().parent / "data" / "real"

KINDS = ("项目", "部门整体")


def all_forms() -> list[Path]:
    """The corpus, in file order (`NN_<place>_<xm|bm>.json`)."""
    return sorted(DATA.glob("[0-9][0-9]_*.json"))


def load(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def merge_box(ref: str) -> tuple[int, int, int, int]:
    """`B3:E4` -> (2, 1, 3, 4): 0-based (first_row, first_col, last_row, last_col) as Grid keeps them."""
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return (min_row - 1, min_col - 1, max_row - 1, max_col - 1)


def grid(spec: dict) -> Grid:
    """The form's cells as the synthetic writers take them; rows may be ragged."""
    return Grid(rows=[list(r) for r in spec["rows"]], merges=[merge_box(m) for m in spec["merges"]])


def build_xlsx(spec: dict, path, *, wrap: bool = True) -> Path:
    """An .xlsx of the form: merged ranges merged, column widths, and header text with line
    breaks wrapped; `wrap=False` keeps the line breaks but drops the wrap flag, as a file typed
    without formatting does."""
    path = write_xlsx({spec["sheet"]: grid(spec)}, path)
    if not wrap:
        _unwrap(path)
    return path


def build_spreadsheetml(spec: dict, path) -> Path:
    """The form as an Excel 2003 XML Spreadsheet, as budget systems export it under .xls."""
    return write_spreadsheetml({spec["sheet"]: grid(spec)}, path)


def build_html(spec: dict, path) -> Path:
    """The form as an HTML table saved as .xls, as other budget and OA systems export it
    (rowspan / colspan for the merges)."""
    return write_html({spec["sheet"]: grid(spec)}, path)


def _unwrap(path: Path) -> None:
    from openpyxl import load_workbook
    from openpyxl.styles import Alignment

    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.alignment.wrap_text:
                    cell.alignment = Alignment()
    wb.save(path)

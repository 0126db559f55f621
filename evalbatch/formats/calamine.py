"""Workbooks python-calamine reads: .xlsx/.xlsm, .xls (BIFF), .ods and .xlsb.

python-calamine is the engine pandas' `calamine` reader uses, called directly: going
through `pd.read_excel` builds a DataFrame per sheet per file, which cost 4 times the read
itself (docs/excel-io-notes.md); the frames are built once per chunk of files instead
(parse.parse_chunk).

What calamine 0.9.1 reports as merged (`sheet.merged_cell_ranges`): a list of
((first_row, first_col), (last_row, last_col)), 0-based inclusive, for .xlsx and .xls; None
for .ods (and .xlsb), whose merges zipscan reads from the file itself.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from . import biffscan, zipscan
from .base import Limits, Merge, SheetData, check_extent, check_merges, clip_merges, fill_merges


def read_calamine(
    data: bytes, kind: str, wanted: Callable[[str], bool], limits: Limits, zf: zipfile.ZipFile | None = None
) -> dict[str, SheetData]:
    """Every wanted worksheet in one open, each measured before calamine builds it. `zf`:
    the container already opened to inspect it, if any (opening it again costs)."""
    if kind == "xlsx":
        own_merges, parts = None, zipscan.check_xlsx(data, wanted, limits, zf)
        issues = zipscan.xlsx_cell_issues(data, wanted, zf, parts)
    else:
        own_merges, issues = _check_before_open(data, kind, wanted, limits, zf), {}
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        out = {}
        for meta in wb.sheets_metadata:
            if meta.typ == SheetTypeEnum.WorkSheet and wanted(meta.name):
                out[meta.name] = _sheet(wb, meta.name, own_merges, limits)
                out[meta.name].hidden = meta.visible != SheetVisibleEnum.Visible
                _mark(out[meta.name].rows, issues.get(meta.name, ()))
        return out
    finally:
        wb.close()


def _check_before_open(
    data: bytes, kind: str, wanted: Callable[[str], bool], limits: Limits, zf: zipfile.ZipFile | None
) -> dict[str, list[Merge]] | None:
    """Refuse an oversized sheet before calamine allocates it; the merges calamine does
    not report (None where it does). An xlsx is checked in `read_calamine`, which keeps
    the sheets' parts for the cell-issue scan."""
    if kind == "ods":
        return zipscan.scan_ods(data, wanted, limits, zf)
    elif kind == "xlsb":
        return zipscan.scan_xlsb(data, wanted, limits, zf)
    elif kind == "xls":
        # BIFF8 caps a sheet at 65,536 × 256, so calamine's block stays bounded (the extent is
        # checked below, before the Python grid is built); its shared strings do not.
        biffscan.check_xls(data, limits)
    return None


def _sheet(wb: CalamineWorkbook, name: str, own_merges: dict[str, list[Merge]] | None, limits: Limits) -> SheetData:
    sheet = wb.get_sheet_by_name(name)
    end = sheet.end
    n_rows, n_cols = (end[0] + 1, end[1] + 1) if end is not None else (0, 0)
    check_extent(name, n_rows, n_cols, limits)
    rows = sheet.to_python(skip_empty_area=False)
    merges = own_merges.get(name, []) if own_merges is not None else _calamine_merges(sheet)
    n_cols = max((len(r) for r in rows), default=0)
    kept = clip_merges(merges, len(rows), n_cols)
    check_merges(name, kept, len(rows), n_cols)
    fill_merges(rows, kept)
    return SheetData(rows, kept)


def _mark(rows: list[list], issues) -> None:
    """Error cells and formulas without a result in place of the "" calamine gives them."""
    for r, c, issue in issues:
        if r < len(rows) and c < len(rows[r]) and rows[r][c] in ("", None):
            rows[r][c] = issue


def _calamine_merges(sheet) -> list[Merge]:
    ranges = sheet.merged_cell_ranges or []
    return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges]

"""One module per input format, each turning a file's bytes into dense grids of cells:

- `calamine`: .xlsx/.xlsm, .xls (BIFF), .ods, .xlsb, read by python-calamine;
- `spreadsheetml`: Excel 2003 XML Spreadsheet, as budget systems export it under .xls;
- `html`: an HTML page of `<table>`s saved as .xls.

`base` holds what they share: `FileProblem`, the limits, and the grid builder that gives
every merged range its top-left value. `evalbatch.read.reader` decides which one to call.
"""

from .base import EXCEL_COLS, EXCEL_ROWS, FileProblem, Limits, Merge, SheetData

__all__ = ["EXCEL_COLS", "EXCEL_ROWS", "FileProblem", "Limits", "Merge", "SheetData"]

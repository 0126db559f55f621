"""The workbook every evalbatch file is written with: xlsxwriter, text always written as text.

xlsxwriter's options keep a text from becoming a formula, a link or a number. One more case
needs a guard: a text that begins with "<r>" and ends with "</r>" is taken by xlsxwriter for
rich-string XML it made itself and is copied into the file unescaped, so a submitted 指标名称
such as "<r>…</r></si><si>…" would corrupt the consolidated workbook. Such a text is written
as a rich string of plain pieces instead, which xlsxwriter escapes: the cell reads the same.
"""

from __future__ import annotations

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

# Workbook options: text from anyone is written as text, never as a formula, link or number.
SAFE_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def looks_like_rich_xml(text: str) -> bool:
    """Whether xlsxwriter would copy `text` into the file as XML (its test, exactly)."""
    return text.startswith("<r>") and text.endswith("</r>")


class TextSafeWorksheet(Worksheet):
    # Every string write (write, write_row, write_string, …) ends in _write_string.
    def _write_string(self, row, col, string, cell_format=None):
        if isinstance(string, str) and looks_like_rich_xml(string):
            # Three plain pieces (xlsxwriter wants more than two) are joined again when read.
            pieces = (string[:1], string[1:2], string[2:])
            return self.write_rich_string(row, col, *pieces, *((cell_format,) if cell_format else ()))
        return super()._write_string(row, col, string, cell_format)


class Workbook(xlsxwriter.Workbook):
    """xlsxwriter's Workbook with `SAFE_OPTIONS` under the caller's options and text-safe sheets."""

    def __init__(self, filename, options: dict | None = None):
        super().__init__(filename, {**SAFE_OPTIONS, **(options or {})})

    def add_worksheet(self, name: str | None = None, worksheet_class=None) -> Worksheet:
        return super().add_worksheet(name, worksheet_class or TextSafeWorksheet)

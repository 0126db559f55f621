"""Print layouts and row heights for every workbook evalbatch writes (the consolidated workbook,
the feedback files, the template), so that each sheet prints the way a reader expects.

- `set_print_layout(ws, widths, ...)`: paper and orientation chosen from the columns' widths
  (A4 portrait, A4 landscape, else A3 landscape), all columns on one page width, header rows
  repeated on every page, gridlines printed, the sheet's name and page numbers in the footer;
  optionally only some columns printed, a fixed number of pages, and a note in the header.
- `row_height(text, width)` and `row_heights(columns)`: points a row needs so that wrapped
  text shows whole. xlsxwriter stores no row heights of its own, and LibreOffice (and Excel
  for a file it did not save) shows a wrapped cell one line high unless the height is set.

Widths are Excel's column widths (characters of the default 11-point font, 7 pixels each);
in 10-point text a CJK character takes about 1.9 of them and a digit or letter 0.85. The
estimate errs on the generous side: a row a little too high, never text cut off. Everything
here works on an xlsxwriter worksheet and needs nothing else of evalbatch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

A4, A3 = 9, 8  # xlsxwriter's (and Excel's) paper codes


@dataclass(frozen=True)
class Page:
    paper: int
    landscape: bool
    width_inches: float  # the paper's width in this orientation


PAGES = (Page(A4, False, 8.27), Page(A4, True, 11.69), Page(A3, True, 16.54))
# Left and right margins, inches; top and bottom leave room for the header and the footer.
MARGIN_SIDE, MARGIN_TOP, MARGIN_BOTTOM = 0.4, 0.6, 0.6
# The smallest scale a page may print at before the next larger page is taken: text of 10
# points prints at 7.5 points or more. Wider sheets print on A3 landscape at what fits.
MIN_SCALE = 0.75
# Column-width units a character of 10-point text takes (wide: CJK and the like), points per
# line of 10-point text (等线, or what a viewer substitutes for it); other sizes scale. Excel's
# highest row.
WIDE_UNITS, NARROW_UNITS, LINE_POINTS = 1.9, 0.85, 14.0
ROW_PADDING, MAX_ROW_POINTS = 4.0, 409.0
FOOTER = "&L&A&R第 &P 页，共 &N 页"  # the sheet's name; page numbers


def printed_pixels(widths: Sequence[float]) -> float:
    """Pixels at 100 % (96 dpi) of columns of these widths: 7 per character and 5 of padding."""
    return float(sum(7 * w + 5 for w in widths))


def printable_pixels(page: Page) -> float:
    return (page.width_inches - 2 * MARGIN_SIDE) * 96


def fit_scale(page: Page, widths: Sequence[float]) -> float:
    """The scale at which columns of `widths` fill one page width (at most 1)."""
    return min(1.0, printable_pixels(page) / max(printed_pixels(widths), 1.0))


def choose_page(widths: Sequence[float]) -> Page:
    """The smallest page on which the columns print at MIN_SCALE or larger; else A3 landscape."""
    return next((p for p in PAGES if fit_scale(p, widths) >= MIN_SCALE), PAGES[-1])


def set_print_layout(ws, widths: Sequence[float], *, title_rows: int = 1, page: Page | None = None,
                     pages_high: int = 0, columns: tuple[int, int] | None = None, rows: tuple[int, int] | None = None,
                     note: str = "", gridlines: bool = True) -> Page:
    """Lay out `ws` for printing; returns the page chosen.

    `widths`: the printed columns' widths (`columns` given: those columns' widths only).
    `title_rows`: rows repeated at the top of every page (0: none). `page`: this page rather
    than the one `choose_page` picks. `pages_high`: pages tall at the most (0: as many as
    needed; 1 with one page wide puts the sheet on one page). `columns` (first, last, 0-based)
    and `rows`: print only these columns (every row) or this block. `note`: a line at the top
    of every page (say what a long sheet is and how to print only part of it). `gridlines`:
    printed (a table's body has no borders of its own), or not (a sheet of charts and blocks).
    """
    page = page or choose_page(widths)
    ws.set_paper(page.paper)
    if page.landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(1, pages_high)
    if title_rows:
        ws.repeat_rows(0, title_rows - 1)
    if columns is not None or rows is not None:
        first_col, last_col = columns if columns is not None else (0, len(widths) - 1)
        first_row, last_row = rows if rows is not None else (0, 1_048_575)  # every row: a column range ($B:$H)
        ws.print_area(first_row, first_col, last_row, last_col)
    ws.set_margins(left=MARGIN_SIDE, right=MARGIN_SIDE, top=MARGIN_TOP, bottom=MARGIN_BOTTOM)
    ws.hide_gridlines(0 if gridlines else 1)  # 0: shown and printed; 1: shown only
    ws.set_footer(FOOTER)
    if note:
        ws.set_header("&L" + note.replace("&", "&&"))
    return page


# --- row heights --------------------------------------------------------------------------

# Characters that print about two columns wide: everything past Latin and its diacritics
# (CJK, full-width forms, and the curly quotes and dashes a Chinese font draws wide).
_WIDE = re.compile(r"[^\x00-\u02ff]")


def text_width(text: str, font_size: float = 10) -> float:
    """Column-width units `text` takes on one line in `font_size`-point text."""
    wide = len(_WIDE.findall(text))
    return (WIDE_UNITS * wide + NARROW_UNITS * (len(text) - wide)) * font_size / 10


def text_lines(text: str, width: float, font_size: float = 10) -> int:
    """Lines `text` takes wrapped in a column `width` wide (its own line breaks kept)."""
    room = max(width - 1, 1)
    return sum(max(1, math.ceil(text_width(part, font_size) / room)) for part in str(text).split("\n"))


def height_of(lines, font_size: float = 10):
    """Points for `lines` lines of `font_size`-point text (at most Excel's highest row); for a
    number or an array of them."""
    return np.minimum(LINE_POINTS * font_size / 10 * np.asarray(lines, dtype="float64") + ROW_PADDING, MAX_ROW_POINTS)


def row_height(text: str, width: float, font_size: float = 10) -> float:
    """Points a row needs for `text` wrapped in a column `width` wide."""
    return float(height_of(text_lines(text, width, font_size), font_size))


def row_heights(columns: Sequence[tuple[pd.Series, float]], font_size: float = 10) -> np.ndarray:
    """For rows of several wrapped columns ((texts, width) each, aligned): the points each row
    needs, NaN where one line is enough (the default height). Vectorised over the rows."""
    if not columns:
        return np.array([])
    lines = None
    for texts, width in columns:
        s = texts.astype("object").where(texts.notna(), "").astype(str)
        wide = s.str.count(_WIDE.pattern).to_numpy(dtype="float64")
        units = (WIDE_UNITS * wide + NARROW_UNITS * (s.str.len().to_numpy(dtype="float64") - wide)) * font_size / 10
        n = np.maximum(np.ceil(units / max(width - 1, 1)), 1)
        broken = s.str.contains("\n", regex=False).to_numpy()
        if broken.any():  # explicit line breaks: each part wraps on its own
            n[broken] = [text_lines(t, width, font_size) for t in s[broken]]
        lines = n if lines is None else np.maximum(lines, n)
    return np.where(lines > 1, height_of(lines, font_size), np.nan)

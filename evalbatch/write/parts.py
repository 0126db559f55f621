"""A large sheet's rows written by helper processes while this one writes the rest.

Turning cells into worksheet XML is most of a country's write time. When the caller lends
helpers (the run lends its reading workers), a sheet of many rows is laid out here (columns,
header, filter, print settings) and its rows are cut into parts; each part's `<row>` elements
are built by a helper (rowxml.py: the XML xlsxwriter would write for them, in the column
formats of this workbook) into a file of its own. Once this process has closed the workbook,
the parts are put into their sheet in order (`splice`). A part a helper could not write is
written here, so the workbook is the same whoever wrote which rows.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from ..files import retrying
from .cells import Formats, cell_columns, row_heights
from .columns import Col
from .rowxml import rows_xml

log = logging.getLogger("evalbatch")

# Rows per part: a helper holds one part as Python values while it builds its XML (about
# 20 MB for the indicators' 22 columns). A sheet of fewer rows than PARALLEL_ROWS is written
# here by xlsxwriter: it costs little there, and a spliced sheet's texts are inline strings,
# which make a larger file than xlsxwriter's shared ones.
PART_ROWS = 20_000
PARALLEL_ROWS = 10_000
# Rows whose XML is built and written at a time (about 2 MB of text).
XML_ROWS = 2_000

# (fn, calls, on_done) → per call its result or the exception it ended with, `on_done(i, result)`
# called as each call ends (read/sandbox.Sandbox.map).
Helpers = Callable[..., list]


def in_process(fn: Callable, calls: Sequence[tuple], on_done: Callable[[int, object], None] | None = None) -> list:
    """Helpers that are this process (one core, or a worker itself): the parts are built on
    the lending thread while the rest of the workbook is written, still far faster than
    xlsxwriter would write their cells."""
    results = []
    for i in range(len(calls)):
        try:
            results.append(fn(*calls[i]))
        except Exception as exc:  # as a sandbox's map reports it: the part is written again in `written`
            results.append(exc)
        if on_done:
            on_done(i, results[-1])
    return results


def write_part(cols: list[Col], styles: list[int], block: pd.DataFrame, first_row: int, wrap: bool, out: str) -> str:
    """Rows `first_row`… of a sheet with columns `cols` (in the cell formats numbered `styles`,
    wrapped text given its height when `wrap`), holding `block`, as the `<row>` elements of its
    XML in the file `out` (in a helper). The file carries the output's temporary name, so a run
    killed meanwhile leaves nothing the next run does not sweep away."""
    heights = row_heights(cols, block, first_row) if wrap else {}
    columns, kinds = cell_columns(cols, block), [c.kind for c in cols]
    with open(out, "wb") as f:
        # A few thousand rows' XML at a time: the part's text is never all in memory at once.
        for start in range(0, len(block), XML_ROWS):
            piece = [values[start : start + XML_ROWS] for values in columns]
            f.write(rows_xml(piece, kinds, styles, first_row + start, heights).encode("utf-8"))
    return out


class _Calls(Sequence):
    """One sheet's parts as `write_part` calls, each built when a helper takes it: a country's
    rows are never all Python values at once. Each part's end is kept as it comes, so the
    parts can be put into the sheet while later ones are still being written."""

    def __init__(self, sheet: str, cols: Sequence[Col], styles: list[int], df: pd.DataFrame, wrap: bool, stem: str,
                 alive: Callable[[], bool]):
        self.sheet, self.cols, self.styles, self.df, self.wrap, self.alive = sheet, list(cols), styles, df, wrap, alive
        self.sources = list(dict.fromkeys(c.source for c in cols if c.source in df))
        self.paths = [f"{stem}.{i}" for i in range(-(-len(df) // PART_ROWS))]
        self.results: list = [None] * len(self.paths)
        self.ended = [threading.Event() for _ in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple:
        # The block goes as a frame of the columns written: pickled as whole arrays, it costs
        # this process a fifth of what its cells as Python values would.
        block = self.df.iloc[i * PART_ROWS : (i + 1) * PART_ROWS][self.sources]
        return self.cols, self.styles, block, 1 + i * PART_ROWS, self.wrap, self.paths[i]

    def end(self, i: int, result) -> None:
        if not self.ended[i].is_set():
            self.results[i] = result
            self.ended[i].set()

    def written(self, i: int) -> str:
        """Part `i`'s file once its helper has ended; written here if the helper did not write it."""
        while not self.ended[i].wait(1.0) and self.alive():
            pass
        if self.results[i] != self.paths[i] or not Path(self.paths[i]).is_file():
            log.warning("辅助进程未能写出工作表“%s”第 %d 部分（第 %d 行起；%s），改由主进程写出", self.sheet, i + 1,
                        2 + i * PART_ROWS, self.results[i])
            write_part(*self[i])
        return self.paths[i]


class Parts:
    """The sheets whose rows helpers write, for one workbook at `path`."""

    def __init__(self, helpers: Helpers, path: Path):
        self.helpers, self.path = helpers, Path(path)
        self.sheets: list[tuple[str, str, _Calls]] = []  # name, dimension, calls
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def take(self, ws, fmt: Formats, cols: Sequence[Col], df: pd.DataFrame, wrap: bool) -> bool:
        """Whether the rows of `df` (below the header of `ws`, in the column formats `fmt`
        gives with `wrap`) are left to the helpers."""
        if len(df) < PARALLEL_ROWS:
            return False
        styles = [fmt.column(c, wrap)._get_xf_index() for c in cols]
        calls = _Calls(ws.get_name(), cols, styles, df, wrap, f"{self.path}.rows{len(self.sheets)}", self._lending)
        self.sheets.append((calls.sheet, "A1:" + xl_rowcol_to_cell(len(df), len(cols) - 1), calls))
        self._queue.put(calls)
        if self._thread is None:
            # Helpers are waited on from a thread, so that this one goes on writing meanwhile.
            self._thread = threading.Thread(target=self._lend, name="evalbatch-parts", daemon=True)
            self._thread.start()
        return True

    def _lending(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _lend(self) -> None:
        while (calls := self._queue.get()) is not None:
            try:
                results = self.helpers(write_part, calls, on_done=calls.end)
            except Exception as exc:  # the helpers themselves failed: the parts not done are written here
                results = [exc] * len(calls)
            for i, result in enumerate(results):
                calls.end(i, result)

    def finish(self) -> None:
        """Once the workbook is closed: every part in its sheet, in order, each as soon as it
        is written (a failed one written here)."""
        self._queue.put(None)  # no more sheets
        splice(self.path, {name: (rows, len(calls), calls.written) for name, rows, calls in self.sheets})
        self._wait()

    def _wait(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def discard(self) -> None:
        """Remove the parts' files (after `finish`, or when the workbook was not written)."""
        self._wait()
        for _, _, calls in self.sheets:
            for p in calls.paths:
                Path(p).unlink(missing_ok=True)


_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"/>')
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def sheet_members(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its XML's name inside the workbook `z` (from workbook.xml and its rels)."""
    targets = {r.get("Id"): r.get("Target") for r in ET.fromstring(z.read("xl/_rels/workbook.xml.rels")).iter(f"{_RELS}Relationship")}
    sheets = ET.fromstring(z.read("xl/workbook.xml")).iter(f"{_MAIN}sheet")
    return {s.get("name"): "xl/" + targets[s.get(_REL_ID)].lstrip("/").removeprefix("xl/") for s in sheets}


def splice(path: Path, parts: dict[str, tuple[str, int, Callable[[int], str]]]) -> None:
    """Put each sheet's parts (name → (the range they cover, how many, part number → its file
    of `<row>` elements)) after the rows the workbook at `path` already has in that sheet
    (its header)."""
    spliced = path.with_name(path.name + ".spliced")
    try:
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(spliced, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zout:
            wanted = {member: parts[name] for name, member in sheet_members(zin).items() if name in parts}
            for info in zin.infolist():
                if info.filename in wanted:
                    _spliced_sheet(zin.read(info), zout, info, *wanted[info.filename])
                else:
                    zout.writestr(info, zin.read(info))
        retrying(lambda: os.replace(spliced, path))  # a scanner on the share may hold the file a moment
    finally:
        spliced.unlink(missing_ok=True)


def _spliced_sheet(xml: bytes, zout: zipfile.ZipFile, info: zipfile.ZipInfo, rows: str, count: int, part: Callable[[int], str]) -> None:
    """The sheet `xml` with its `count` parts (`part(i)`: the file of part i, covering with the
    others the range `rows`) after its header row, before any row this process wrote below
    them (a 合计 foot)."""
    found = _DIMENSION.search(xml)
    dimension = _union(found.group(1).decode(), rows) if found else rows
    if b"<sheetData/>" in xml:
        xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    data = xml.index(b"<sheetData>") + len(b"<sheetData>")
    header_end = xml.find(b"</row>", data)
    at = header_end + len(b"</row>") if 0 <= header_end < xml.index(b"</sheetData>") else data
    head = _DIMENSION.sub(f'<dimension ref="{dimension}"/>'.encode(), xml[:at], count=1)
    member = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    member.compress_type = zipfile.ZIP_DEFLATED
    with zout.open(member, "w", force_zip64=True) as out:
        out.write(head)
        for i in range(count):
            with open(part(i), "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
        out.write(xml[at:])


def _union(a: str, b: str) -> str:
    """The smallest range holding the ranges `a` and `b` ("A1:V9", or one cell "A1")."""
    corners = [xl_cell_to_rowcol(c) for ref in (a, b) for c in ref.split(":")]
    rows, cols = [r for r, _ in corners], [c for _, c in corners]
    return xl_rowcol_to_cell(min(rows), min(cols)) + ":" + xl_rowcol_to_cell(max(rows), max(cols))

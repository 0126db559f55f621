"""Workbooks printed to PDF by LibreOffice, and their pages counted: what an analyst or a
department's accountant gets on paper (issue 14).

`sheet_alone` keeps one sheet of a workbook for printing (the others hidden, their print
areas and titles dropped: LibreOffice prints a hidden sheet that has a print area), so the
pages of one sheet can be counted; `page_count` counts a PDF's pages without a PDF library.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from faults import via_libreoffice


def render_pdf(src: Path, folder: Path) -> Path:
    """`src` printed to PDF by LibreOffice, in `folder`."""
    return via_libreoffice(Path(src), "pdf", Path(folder))


def page_count(pdf: Path) -> int:
    """Pages of a PDF LibreOffice wrote (its page objects are not compressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", Path(pdf).read_bytes()))


def sheet_alone(src: Path, sheet: str, dst: Path) -> Path:
    """A copy of workbook `src` at `dst` in which only `sheet` prints: every other sheet hidden,
    its defined names (print area, print titles) dropped, `sheet` the active one. Nothing
    else of the file changes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = _only(data.decode("utf-8"), sheet).encode("utf-8")
            zout.writestr(item, data)
    return Path(dst)


def _only(xml: str, sheet: str) -> str:
    names = re.findall(r'<sheet name="([^"]+)"', xml)
    keep = names.index(sheet)
    xml = re.sub(r'<sheet name="([^"]+)"', lambda m: m.group(0) if m.group(1) == sheet else f'<sheet state="hidden" name="{m.group(1)}"', xml)
    xml = re.sub(r'<definedName [^>]*localSheetId="(\d+)"[^>]*>[^<]*</definedName>',
                 lambda m: m.group(0) if int(m.group(1)) == keep else "", xml)
    if "activeTab=" in xml:
        return re.sub(r'activeTab="\d+"', f'activeTab="{keep}"', xml)
    return xml.replace("<workbookView ", f'<workbookView activeTab="{keep}" ', 1)

"""Fault injection: factories for the files departments (and their systems) really send.

Each factory writes one file into `dir` and returns its Path. They are plain functions, so a
test, a benchmark or a person at a prompt can make any of them:

    from faults import good, truncated, zip_bomb
    good(tmp_path)

Nothing here imports the reader: the faults are built from the outside, the way a user's
machine would produce them, so they stay honest when the reader changes.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from evalbatch import schema as S
from evalbatch.reference import reference_case
from evalbatch.template import write_submission

LIBREOFFICE_TIMEOUT = 120
_MB = 1024 * 1024

__all__ = [
    "good",
    "truncated",
    "empty",
    "text_as_xlsx",
    "html_as_xls",
    "pdf_as_xlsx",
    "encrypted",
    "zip_bomb",
    "lying_zip_bomb",
    "many_entries_zip",
    "not_a_workbook_zip",
    "macro_xlsm",
    "lock_file",
    "oversized",
    "cut",
    "renamed",
    "have_libreoffice",
    "via_libreoffice",
    "filled_by_hand",
    "rows_by_header",
    "entity_bomb",
]


def _scratch(what: str) -> Path:
    """A private folder for a fault's source file, so the folder a test hands out holds only
    the fault itself (a batch run over it must not find a spare good copy)."""
    path = Path(tempfile.mkdtemp(prefix=f"evalbatch-{what}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


# --- the good file and simple damage --------------------------------------------------------


def good(dir: Path, name: str = "good.xlsx", data: Mapping | None = None) -> Path:
    """The reference case (or `data`), written by the package's own template writer."""
    return write_submission(Path(dir) / name, reference_case() if data is None else data)


def cut(src: Path, dir: Path, fraction: float = 0.5, name: str | None = None) -> Path:
    """A copy of `src` holding only its first `fraction` of bytes (an interrupted copy)."""
    data = Path(src).read_bytes()
    out = Path(dir) / (name or f"cut_{Path(src).name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def truncated(dir: Path) -> Path:
    """The good workbook cut to half its bytes, as a copy interrupted half way leaves it."""
    src = good(_scratch("truncated"))
    return cut(src, dir, 0.5, name="truncated.xlsx")


def empty(dir: Path) -> Path:
    """0 bytes: a save that failed, or a copy that has not started writing."""
    out = Path(dir) / "empty.xlsx"
    out.write_bytes(b"")
    return out


def renamed(src: Path, dir: Path, name: str) -> Path:
    """`src`'s bytes under another name (a .xls someone renamed to .xlsx, and so on)."""
    out = Path(dir) / name
    shutil.copyfile(src, out)
    return out


def oversized(dir: Path, mb: float = 51) -> Path:
    """A sparse file of `mb` MB (no disk used): what must be refused before it is read."""
    out = Path(dir) / "oversized.xlsx"
    with open(out, "wb") as f:
        f.truncate(int(mb * _MB))
    return out


# --- not a spreadsheet at all ---------------------------------------------------------------


def text_as_xlsx(dir: Path) -> Path:
    """A plain UTF-8 text file (e.g. a CSV export) someone named .xlsx."""
    out = Path(dir) / "text.xlsx"
    out.write_text("项目,数值\n单位编码,620101\n单位名称,中共甘肃省委机构编制委员会办公室\n", encoding="utf-8")
    return out


def html_as_xls(dir: Path, bom: bool = False) -> Path:
    """An HTML table saved as .xls: what many finance/OA systems call "导出 Excel"."""
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">\n'
        '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>\n'
        "<body><table border=1>\n"
        "<tr><td>项目</td><td>数值</td><td>说明</td></tr>\n"
        "<tr><td>单位编码</td><td style=\"mso-number-format:'\\@'\">620101</td><td></td></tr>\n"
        "<tr><td>财政拨款收入</td><td>2889.60</td><td>万元</td></tr>\n"
        "</table></body></html>\n"
    )
    out = Path(dir) / ("html_bom.xls" if bom else "html.xls")
    out.write_bytes((b"\xef\xbb\xbf" if bom else b"") + html.encode("utf-8"))
    return out


def pdf_as_xlsx(dir: Path) -> Path:
    """A small but well-formed one-page PDF named .xlsx (the printed form, sent by mistake)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
    ]
    stream = b"BT /F1 12 Tf 72 770 Td (evalbatch) Tj ET"
    objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    body = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        body += b"%010d 00000 n \n" % off
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    out = Path(dir) / "printed.xlsx"
    out.write_bytes(bytes(body))
    return out


def lock_file(dir: Path, owner: str = "zhangsan") -> Path:
    """`~$good.xlsx`: the 165-byte owner file Excel leaves beside a workbook it has open.

    Layout as Excel writes it: a length byte, the user name in ANSI padded with spaces to 54
    bytes, then the name again in UTF-16 and padding up to 165 bytes.
    """
    name = owner.encode("ascii")[:53]
    head = bytes([len(name)]) + name
    head = head.ljust(54, b" ")
    wide = owner.encode("utf-16-le")
    body = head + b"\x00\x00" + wide
    body = body.ljust(165, b"\x20")[:165]
    out = Path(dir) / "~$good.xlsx"
    out.write_bytes(body)
    return out


# --- containers that are not what they seem -------------------------------------------------


def encrypted(dir: Path, password: str = "2021") -> Path:
    """The good workbook with an opening password (Excel: 文件 → 信息 → 用密码进行加密).

    Encrypted OOXML is an OLE compound file with EncryptionInfo / EncryptedPackage streams.
    """
    from msoffcrypto.format.ooxml import OOXMLFile

    src = good(_scratch("encrypted"))
    out = Path(dir) / "encrypted.xlsx"
    with open(src, "rb") as f, open(out, "wb") as o:
        OOXMLFile(f).encrypt(password, o)
    return out


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="基本信息" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)


def _stream_zeros(zf: zipfile.ZipFile, name: str, mb: int) -> None:
    """Write `mb` MB of zeros into one member, 1 MB at a time: never held in memory whole."""
    chunk = bytes(_MB)
    with zf.open(name, "w", force_zip64=True) as w:
        for _ in range(mb):
            w.write(chunk)


def zip_bomb(dir: Path, uncompressed_mb: int = 500) -> Path:
    """A .xlsx that looks like a workbook ([Content_Types].xml, xl/workbook.xml, ...) and
    whose one worksheet inflates to `uncompressed_mb` MB of zeros. About 1 KB on disk per MB
    inflated (deflate's ceiling is ~1030:1), so 500 MB is ~0.5 MB on disk.
    """
    out = Path(dir) / f"bomb_{uncompressed_mb}mb.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        _stream_zeros(zf, "xl/worksheets/sheet1.xml", uncompressed_mb)
    return out


def lying_zip_bomb(dir: Path, uncompressed_mb: int = 300, declared_bytes: int = 4000) -> Path:
    """The good workbook whose 基本信息 sheet is replaced by `uncompressed_mb` MB of
    well-formed XML (whitespace inside <sheetData>), with the member's uncompressed size in
    the central directory and local header patched down to `declared_bytes`: a bomb that a
    check of the declared sizes alone would let through.
    """
    src = good(_scratch("lying")).read_bytes()
    target = "xl/worksheets/sheet2.xml"  # 基本信息, the second sheet the writer adds
    buf = io.BytesIO()
    zin = zipfile.ZipFile(io.BytesIO(src))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename != target:
                zout.writestr(info, zin.read(info.filename))
                continue
            with zout.open(target, "w", force_zip64=True) as w:
                w.write(
                    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                chunk = b" " * _MB
                for _ in range(uncompressed_mb):
                    w.write(chunk)
                w.write(b"</sheetData></worksheet>")
    data = bytearray(buf.getvalue())
    _patch_sizes(data, target, declared_bytes)
    out = Path(dir) / "lying_bomb.xlsx"
    out.write_bytes(bytes(data))
    return out


def _patch_sizes(data: bytearray, member: str, size: int) -> None:
    """Overwrite `member`'s uncompressed size in the central directory and local header."""
    import struct

    end = data.rfind(b"PK\x05\x06")
    p = data.find(b"PK\x01\x02")
    while 0 <= p < end:
        nlen, xlen, clen = struct.unpack("<HHH", data[p + 28 : p + 34])
        name = bytes(data[p + 46 : p + 46 + nlen]).decode("utf-8")
        if name == member:
            data[p + 24 : p + 28] = struct.pack("<I", size)
            local = struct.unpack("<I", data[p + 42 : p + 46])[0]
            data[local + 22 : local + 26] = struct.pack("<I", size)
            lnlen, lxlen = struct.unpack("<HH", data[local + 26 : local + 30])
            x = local + 30 + lnlen
            while x < local + 30 + lnlen + lxlen:
                hid, hsize = struct.unpack("<HH", data[x : x + 4])
                if hid == 1 and hsize >= 8:  # zip64: uncompressed size comes first
                    data[x + 4 : x + 12] = struct.pack("<Q", size)
                x += 4 + hsize
            return
        p = data.find(b"PK\x01\x02", p + 46 + nlen + xlen + clen)
    raise ValueError(f"{member} not in zip")


def many_entries_zip(dir: Path, entries: int = 5000) -> Path:
    """A workbook-looking zip with thousands of tiny members (a directory-walk bomb)."""
    out = Path(dir) / "many_entries.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        for i in range(entries):
            zf.writestr(f"xl/media/pad{i}.bin", b"")
    return out


def not_a_workbook_zip(dir: Path) -> Path:
    """A valid zip named .xlsx that holds only a text file (a zipped-up attachment)."""
    out = Path(dir) / "zipped.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("说明.txt", "附件为2021年度绩效自评表，请查收。\n")
    return out


def macro_xlsm(dir: Path) -> Path:
    """The good workbook re-zipped with an `xl/vbaProject.bin` member and the macro-enabled
    content types, named .xlsm (what Excel writes for 启用宏的工作簿)."""
    src = good(_scratch("macro")).read_bytes()
    out = Path(dir) / "good.xlsm"
    zin = zipfile.ZipFile(io.BytesIO(src))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                text = data.decode("utf-8")
                text = text.replace(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
                text = text.replace(
                    "</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'
                )
                data = text.encode("utf-8")
            zout.writestr(info, data)
        # An OLE header followed by filler: enough to look like a VBA project to anything
        # that checks; nothing here ever runs it.
        zout.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088))
    return out


# --- LibreOffice ----------------------------------------------------------------------------


def have_libreoffice() -> bool:
    return _soffice() is not None


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


_PROFILE = Path(tempfile.gettempdir()) / f"lo-profile-{os.getpid()}"


@atexit.register
def _drop_profile() -> None:
    shutil.rmtree(_PROFILE, ignore_errors=True)


def via_libreoffice(src: Path, fmt: str, dir: Path) -> Path:
    """`src` opened and saved by LibreOffice as `fmt` (xls, ods or xlsx), in `dir`.

    Each process uses its own LibreOffice profile, so parallel test runs do not clash. The
    conversion happens in a private folder and the result is moved into `dir`, so converting
    x.xlsx to xlsx into x.xlsx's own folder never overwrites the source.
    """
    soffice = _soffice()
    if soffice is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    src, dir = Path(src), Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lo-out-", dir=dir))
    try:
        cmd = [
            soffice,
            f"-env:UserInstallation={_PROFILE.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            fmt,
            "--outdir",
            str(work),
            str(src),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=LIBREOFFICE_TIMEOUT)
        made = work / f"{src.stem}.{fmt}"
        if proc.returncode != 0 or not made.exists():
            raise RuntimeError(f"LibreOffice could not convert {src.name} to {fmt}: rc={proc.returncode} {proc.stdout} {proc.stderr}")
        out = dir / made.name
        if out.resolve() == src.resolve():
            out = dir / f"{src.stem}_lo.{fmt}"
        shutil.move(str(made), out)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- the blank template, filled in by a person ----------------------------------------------


def _norm(text: object) -> str:
    """What a person sees as "the same label": no spaces, half-width forms."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))) if text is not None else ""


def rows_by_header(sheet: str, rows: Sequence[Mapping]) -> list[dict]:
    """Rows keyed by column key (as in `reference_case()`) → rows keyed by header text."""
    cols = S.columns_of(sheet)
    return [{c.header: row.get(c.key) for c in cols} for row in rows]


def filled_by_hand(
    dir: Path,
    values: Mapping[str, object],
    name: str = "filled_by_hand.xlsx",
    tables: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
) -> Path:
    """A copy of the BLANK template, filled with openpyxl the way a person fills it.

    `values`: 基本信息 entries keyed by label (单位编码) or field key (dept_code). Each label is
    found in column A (after normalising spaces) and the value typed into column B of that
    row; None and "" are left blank. Values keep the type given: 80 is a number, "100%" and
    "012345" are text (a code typed into the template's text-formatted cell stays text).

    `tables`: sheet name → rows keyed by header text (see `rows_by_header`); each row is typed
    under the first empty row below the existing ones, columns found by header text.
    """
    import openpyxl

    blank = write_submission(Path(dir) / "_blank" / "template.xlsx")
    wb = openpyxl.load_workbook(blank)

    ws = wb[S.INFO_SHEET]
    row_of = {}
    for (cell,) in ws.iter_rows(min_col=1, max_col=1):
        row_of.setdefault(_norm(cell.value), cell.row)
    for key, value in values.items():
        label = S.FIELD_BY_KEY[key].label if key in S.FIELD_BY_KEY else key
        r = row_of.get(_norm(label))
        if r is None:
            raise KeyError(f"label {label!r} not found in column A of {S.INFO_SHEET}")
        if value is None or value == "":
            continue
        ws.cell(row=r, column=2, value=value)

    for sheet, rows in (tables or {}).items():
        ws = wb[sheet]
        header_row, col_of = _find_header(ws)
        last = header_row
        for row in ws.iter_rows(min_row=header_row + 1):
            if any(c.value not in (None, "") for c in row):
                last = row[0].row
        for i, row in enumerate(rows, start=1):
            for header, value in row.items():
                if value is None or value == "":
                    continue
                c = col_of.get(_norm(header))
                if c is None:
                    raise KeyError(f"header {header!r} not found on sheet {sheet}")
                ws.cell(row=last + i, column=c, value=value)

    out = Path(dir) / name
    wb.save(out)
    return out


def _find_header(ws, search_rows: int = 10) -> tuple[int, dict[str, int]]:
    """The row among the first few with the most non-empty text cells: the header row."""
    best_row, best = 1, {}
    for row in ws.iter_rows(min_row=1, max_row=search_rows):
        found = {_norm(c.value): c.column for c in row if isinstance(c.value, str) and c.value.strip()}
        if len(found) > len(best):
            best_row, best = row[0].row, found
    return best_row, best


def entity_bomb(dir: Path) -> Path:
    """The good workbook whose shared strings declare "billion laughs" XML entities (nine
    levels of ten: 10⁹ copies of "lol" if a parser expanded them) and use the last one."""
    lol = '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10)) + "]>"
    src = zipfile.ZipFile(good(_scratch("entities")))
    out = Path(dir) / "entities.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                body = data.decode("utf-8").split("?>", 1)[1]
                data = (lol + body.replace("<t>", "<t>&lol9;", 1)).encode("utf-8")
            z.writestr(info, data)
    return out

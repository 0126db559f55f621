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
from evalbatch.rules import load_rules
from evalbatch.samples.reference import reference_case
from evalbatch.write.template import write_submission

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
    "spreadsheetml_as_xls",
    "hostile_spreadsheetml",
    "html_table_as_xls",
    "html_page_as_xls",
    "html_colspan_bomb",
    "xml_not_spreadsheet",
    "merged_xlsx",
    "far_cell_xlsx",
    "far_cells_xlsx",
    "et_like_ole",
    "ole_file",
    "xlsb_workbook",
    "xlsx_with_sheet_data",
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
        if sheet == S.DEPT_INDICATOR_SHEET:
            # The person replaces the template's example indicators with the department's own.
            ws.delete_rows(2 + len(S.AUTO_METHODS), len(load_rules().template_indicators))
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


# --- other formats departments and budget systems send (evalbatch/formats/) ------------------

_SS = "urn:schemas-microsoft-com:office:spreadsheet"

# The form as a budget system's "导出 Excel" writes it in Excel 2003 XML: rows and cells skip
# positions with ss:Index (1-based), titles merged across, a label merged down, typed data,
# rich text, a comment and a formula's cached value.
_SPREADSHEETML_SHEET = (
    '<Worksheet ss:Name="项目支出绩效自评表">\n'
    ' <Table ss:ExpandedColumnCount="6" ss:ExpandedRowCount="9" x:FullColumns="1" x:FullRows="1">\n'
    '  <Column ss:Width="120"/><Column ss:AutoFitWidth="0" ss:Width="90" ss:Span="4"/>\n'
    '  <Row ss:Height="24"><Cell ss:MergeAcross="5" ss:StyleID="title"><Data ss:Type="String">项目支出绩效自评表</Data></Cell></Row>\n'
    '  <Row><Cell ss:MergeAcross="5"><Data ss:Type="String">（2022年度）</Data></Cell></Row>\n'
    '  <Row><Cell><Data ss:Type="String">项目名称</Data></Cell>'
    '<Cell ss:MergeAcross="4"><Data ss:Type="String">乡村道路维修</Data></Cell></Row>\n'
    '  <Row ss:Index="5"><Cell ss:MergeDown="2"><Data ss:Type="String">项目资金（万元）</Data></Cell>'
    '<Cell><Data ss:Type="String">年度资金总额</Data></Cell><Cell ss:StyleID="num"><Data ss:Type="Number">90</Data></Cell>'
    '<Cell><Data ss:Type="Number">89.974</Data></Cell><Cell><Data ss:Type="Boolean">1</Data></Cell>'
    '<Cell ss:StyleID="date"><Data ss:Type="DateTime">2022-12-31T00:00:00.000</Data></Cell></Row>\n'
    '  <Row><Cell ss:Index="2"><Data ss:Type="String">其中：当年财政拨款</Data></Cell>'
    '<Cell><Data ss:Type="Number">90</Data></Cell><Cell><Data ss:Type="Number">89.974</Data></Cell>'
    '<Cell><Data ss:Type="Boolean">0</Data></Cell></Row>\n'
    '  <Row><Cell ss:Index="2"><Data ss:Type="String">上年结转资金</Data></Cell>'
    '<Cell ss:Index="4"><Data ss:Type="Number">0</Data></Cell><Cell ss:StyleID="empty"/></Row>\n'
    '  <Row><Cell><ss:Data ss:Type="String" xmlns="http://www.w3.org/TR/REC-html40"><B>总分</B>'
    '<Font html:Color="#FF0000">（100分）</Font></ss:Data>'
    '<Comment ss:Author="审核"><ss:Data xmlns="http://www.w3.org/TR/REC-html40"><B>批注：</B>请复核</ss:Data></Comment></Cell>'
    '<Cell ss:Index="6" ss:Formula="=SUM(R[-4]C:R[-2]C)"><Data ss:Type="Number">100</Data></Cell></Row>\n'
    '  <Row><Cell ss:MergeAcross="1"><Data ss:Type="String">填表人</Data></Cell>'
    '<Cell><Data ss:Type="String">张三</Data></Cell></Row>\n'
    ' </Table>\n'
    ' <WorksheetOptions xmlns="urn:schemas-microsoft-com:office:excel"><Selected/><ProtectObjects>False</ProtectObjects></WorksheetOptions>\n'
    '</Worksheet>\n'
)
_SPREADSHEETML_OTHERS = (
    '<Worksheet ss:Name="填报说明"><Table>'
    '<Row ss:Index="2"><Cell ss:Index="3"><Data ss:Type="String">金额单位：万元</Data></Cell></Row>'
    '</Table></Worksheet>\n'
    '<Worksheet ss:Name="Sheet3"><Table ss:ExpandedColumnCount="1" ss:ExpandedRowCount="1"/></Worksheet>\n'
)


def _spreadsheetml(sheets: str, prolog: str = "", encoding: str = "UTF-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n' + prolog + '<?mso-application progid="Excel.Sheet"?>\n'
        f'<Workbook xmlns="{_SS}" xmlns:o="urn:schemas-microsoft-com:office:office" '
        f'xmlns:x="urn:schemas-microsoft-com:office:excel" xmlns:ss="{_SS}" xmlns:html="http://www.w3.org/TR/REC-html40">\n'
        ' <DocumentProperties xmlns="urn:schemas-microsoft-com:office:office"><Author>预算管理一体化系统</Author>'
        '<Created>2023-03-01T08:00:00Z</Created></DocumentProperties>\n'
        ' <ExcelWorkbook xmlns="urn:schemas-microsoft-com:office:excel"><WindowHeight>9000</WindowHeight></ExcelWorkbook>\n'
        ' <Styles>\n'
        '  <Style ss:ID="Default" ss:Name="Normal"><Alignment ss:Vertical="Center"/><Font ss:FontName="宋体" x:CharSet="134" ss:Size="11"/></Style>\n'
        '  <Style ss:ID="title"><Font ss:FontName="黑体" ss:Size="16" ss:Bold="1"/></Style>\n'
        '  <Style ss:ID="num"><NumberFormat ss:Format="0.00"/></Style>\n'
        '  <Style ss:ID="date"><NumberFormat ss:Format="yyyy/m/d"/></Style>\n'
        '  <Style ss:ID="empty"><Interior ss:Color="#FFFF00" ss:Pattern="Solid"/></Style>\n'
        ' </Styles>\n' + sheets + '</Workbook>\n'
    )


def spreadsheetml_as_xls(dir: Path, name: str = "x.xls", encoding: str = "utf-8") -> Path:
    """An Excel 2003 XML Spreadsheet as budget systems export it: UTF-8 with a BOM, the
    mso-application instruction, styles, three worksheets, saved under a .xls name. With
    `encoding="gb2312"`: no BOM, declared gb2312, written as GBK (as older systems do)."""
    out = Path(dir) / name
    sheets = _SPREADSHEETML_SHEET + _SPREADSHEETML_OTHERS
    if encoding.lower() in ("utf-8", "utf8"):
        out.write_bytes(b"\xef\xbb\xbf" + _spreadsheetml(sheets).encode("utf-8"))
    else:
        out.write_bytes(_spreadsheetml(sheets, encoding=encoding).encode("gbk" if encoding.lower() == "gb2312" else encoding))
    return out


_LOL = '<!DOCTYPE Workbook [<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10)) + "]>\n"


def hostile_spreadsheetml(dir: Path, what: str) -> Path:
    """SpreadsheetML that a safe parser must refuse or bound, named .xls. `what`:
    "entity_bomb" (billion laughs: 10⁹ "lol"s if expanded), "external_entity" (a cell that
    would pull in /etc/passwd), "doctype" (a harmless DOCTYPE: still not what exporters
    write), "far_cell" (one cell at row 1,048,576, column 16,384 via ss:Index)."""
    cell = '<Worksheet ss:Name="表1"><Table><Row><Cell><Data ss:Type="String">{}</Data></Cell></Row></Table></Worksheet>\n'
    if what == "entity_bomb":
        text = _spreadsheetml(cell.format("&lol9;"), prolog=_LOL)
    elif what == "external_entity":
        text = _spreadsheetml(cell.format("&x;"), prolog='<!DOCTYPE Workbook [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n')
    elif what == "doctype":
        text = _spreadsheetml(cell.format("单位编码"), prolog="<!DOCTYPE Workbook>\n")
    elif what == "far_cell":
        text = _spreadsheetml('<Worksheet ss:Name="表1"><Table><Row ss:Index="1048576"><Cell ss:Index="16384">'
                              '<Data ss:Type="Number">1</Data></Cell></Row></Table></Worksheet>\n')
    else:
        raise ValueError(what)
    out = Path(dir) / f"ssml_{what}.xls"
    out.write_text(text, encoding="utf-8")
    return out


_HTML_TABLE = (
    "<table border=1>\n"
    "<caption>项目支出绩效自评表</caption>\n"
    "<tr><td colspan=6>项目支出绩效自评表</td></tr>\n"
    "<tr><td colspan=\"6\">（2022年度）</td></tr>\n"
    "<tr><th>项目名称</th><td colspan=5>  乡村道路\n   维修&nbsp;（{unit}） </td></tr>\n"
    "<tr></tr>\n"
    "<tr><td rowspan=3>项目资金<br>（万元）</td><td>年度资金总额</td><td>90</td>"
    "<td style=\"mso-number-format:'0.00'\">89.974</td><td>是</td><td>2022-12-31</td></tr>\n"
    "<tr><td>其中：<br/>当年财政拨款</td><td>90</td><td>89.974</td><td>否</td>\n"  # no </tr>: browsers close it
    "<tr><td>上年结转资金</td><td></td><td>0</td><td></td><td><table><tr><td>内嵌</td><td>表格</td></tr></table></td></tr>\n"
    "<tr><td><b>总分</b><font color=red>（100分）</font></td><td></td><td></td><td></td><td></td><td>100</td></tr>\n"
    "<tr><td colspan=2>填表人</td><td>张三</td></tr>\n"
    "</table>\n"
)


def html_table_as_xls(dir: Path, encoding: str = "utf-8", meta: str | None = "http-equiv", bom: bool = False) -> Path:
    """The same form as an HTML table saved as .xls (rowspan, colspan, <br>, a nested table),
    encoded in `encoding` and declared by `meta`: "http-equiv" (`content="text/html;
    charset=..."`, gb2312 for GBK files as those systems write it), "charset" (`<meta
    charset=...>`) or None (undeclared)."""
    declared = "gb2312" if encoding.lower() in ("gbk", "gb18030") else encoding
    head = {
        "http-equiv": f'<meta http-equiv="Content-Type" content="text/html; charset={declared}">',
        "charset": f'<meta charset="{declared}">',
        None: "",
    }[meta]
    # 堃 is in GBK but not in GB2312: a page labelled gb2312 must still decode it.
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">\n'
        f"<head>{head}<title>导出</title><style>td {{ mso-number-format:\\@; }}</style></head>\n<body>\n"
        + _HTML_TABLE.replace("{unit}", "华堃") + "</body></html>\n"
    )
    out = Path(dir) / f"html_{encoding}_{meta}.xls"
    out.write_bytes((b"\xef\xbb\xbf" if bom else b"") + html.encode(encoding))
    return out


def html_page_as_xls(dir: Path, bom: bool = False) -> Path:
    """A web page with no table at all saved as .xls (a system's error or login page)."""
    html = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>登录超时</title></head>\n"
        "<body><h1>会话已过期</h1><p>请重新登录预算管理一体化系统后再导出。</p></body></html>\n"
    )
    out = Path(dir) / ("page_bom.xls" if bom else "page.xls")
    out.write_bytes((b"\xef\xbb\xbf" if bom else b"") + html.encode("utf-8"))
    return out


def html_colspan_bomb(dir: Path, colspan: int = 100_000) -> Path:
    """An HTML table whose first cell claims `colspan` columns, followed by one more cell."""
    out = Path(dir) / "colspan.xls"
    out.write_text(f'<html><body><table><tr><td colspan="{colspan}">x</td><td>y</td></tr></table></body></html>', encoding="utf-8")
    return out


def xml_not_spreadsheet(dir: Path) -> Path:
    """A generic XML data export (not SpreadsheetML) named .xls; it even has a <table>."""
    out = Path(dir) / "export.xls"
    out.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<export><table name="自评"><row><dept>620101</dept></row></table></export>\n',
                   encoding="utf-8")
    return out


def merged_xlsx(dir: Path, name: str = "merged.xlsx") -> Path:
    """A small form with merged cells (title across, a label down, a block), by openpyxl."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "自评表"
    ws["A1"] = "项目支出绩效自评表"
    ws.merge_cells("A1:D1")
    ws["A2"], ws["B2"], ws["C2"] = "绩效指标", "产出指标", "数量指标"
    ws["D2"] = 50
    ws.merge_cells("A2:A4")
    ws["B3"], ws["C3"], ws["D3"] = "产出指标", "质量指标", 30
    ws["B4"], ws["C4"], ws["D4"] = "效益指标", "社会效益", 20
    ws["A5"] = "总分"
    ws.merge_cells("A5:C6")
    ws["D5"] = 100
    ws["D6"] = "备注"
    wb.save(Path(dir) / name)
    return Path(dir) / name


def far_cell_xlsx(dir: Path) -> Path:
    """A one-cell workbook whose only value sits at XFD1048576, Excel's last cell."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["XFD1048576"] = 1
    out = Path(dir) / "far_cell.xlsx"
    wb.save(out)
    return out


def far_cells_xlsx(dir: Path) -> Path:
    """A1 and XFD1048576 both filled: calamine alone would ask for one 500 GB block."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "单位编码"
    wb.active["XFD1048576"] = 1
    out = Path(dir) / "far_cells.xlsx"
    wb.save(out)
    return out


def et_like_ole(dir: Path, name: str = "自评表.et") -> Path:
    """An OLE compound file with no "Workbook" or "Book" stream, as a WPS .et that is not
    BIFF-compatible looks to a reader (LibreOffice cannot write .et). Built by hand: a
    version-3 compound file with one FAT sector, one directory sector and one 4 KB stream."""
    stream = ("WPS 表格专有格式 ".encode("utf-16-le") * 200)[:4096]
    out = Path(dir) / name
    out.write_bytes(ole_file("WpsETContent", stream))
    return out


def ole_file(stream_name: str, stream: bytes) -> bytes:
    """A version-3 compound file holding one stream (of 4 KB or more, so outside the mini
    stream): the allocation table first, then one directory sector, then the stream."""
    import struct

    free, end_of_chain, fat_sect, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    stream += bytes(-len(stream) % 512)
    n_stream = len(stream) // 512
    n_fat = 1
    while -(-(n_fat + 1 + n_stream) // 128) > n_fat:  # the table must also map its own sectors
        n_fat += 1
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x003E, 0x0003, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, n_fat, n_fat, 0, 4096, end_of_chain, 0, end_of_chain, 0)
    difat = [*range(n_fat)] + [free] * (109 - n_fat)  # the FAT is sectors 0 … n_fat - 1
    struct.pack_into("<109I", header, 76, *difat)
    first = n_fat + 1
    fat = [fat_sect] * n_fat + [end_of_chain] + [first + i + 1 for i in range(n_stream - 1)] + [end_of_chain]
    fat += [free] * (128 * n_fat - len(fat))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        e = bytearray(128)
        raw = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        e[0 : len(raw)] = raw
        struct.pack_into("<HBB", e, 64, len(raw), kind, 1)
        struct.pack_into("<III", e, 68, no_stream, no_stream, child)
        struct.pack_into("<II", e, 116, start, size)
        return bytes(e)

    directory = entry("Root Entry", 5, 1, end_of_chain, 0) + entry(stream_name, 2, no_stream, first, len(stream))
    directory += entry("", 0, no_stream, 0, 0) * 2
    return bytes(header) + struct.pack(f"<{len(fat)}I", *fat) + directory + stream


def _brt(typ: int, payload: bytes = b"") -> bytes:
    """One BIFF12 record: type and size as 7-bit varints, then the payload."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    return varint(typ) + varint(len(payload)) + payload


def _wide(text: str) -> bytes:
    import struct

    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb_workbook(dir: Path, name: str = "merged.xlsb", far: bool = False) -> Path:
    """A minimal Excel binary workbook (.xlsb) holding `merged_xlsx`'s form, records written
    by hand after MS-XLSB (LibreOffice reads .xlsb but cannot write it): one sheet with
    inline strings, numbers and the same merged ranges. `far`: one more value at
    XFD1048576, so the sheet spans all of Excel's grid."""
    import struct

    rows = {
        0: [(0, "项目支出绩效自评表")],
        1: [(0, "绩效指标"), (1, "产出指标"), (2, "数量指标"), (3, 50.0)],
        2: [(1, "产出指标"), (2, "质量指标"), (3, 30.0)],
        3: [(1, "效益指标"), (2, "社会效益"), (3, 20.0)],
        4: [(0, "总分"), (3, 100.0)],
        5: [(3, "备注")],
        **({1_048_575: [(16_383, 1.0)]} if far else {}),
    }
    merges = [(0, 0, 0, 3), (1, 0, 3, 0), (4, 0, 5, 2)]  # first_row, first_col, last_row, last_col
    sheet = _brt(0x0081) + _brt(0x0094, struct.pack("<IIII", 0, 5, 0, 3)) + _brt(0x0091)
    for r, cells in rows.items():
        sheet += _brt(0x0000, struct.pack("<IIHBBBI", r, 0, 300, 0, 0, 0, 0))  # BrtRowHdr
        for c, value in cells:
            if isinstance(value, str):
                sheet += _brt(0x0006, struct.pack("<II", c, 0) + _wide(value))  # BrtCellSt
            else:
                sheet += _brt(0x0005, struct.pack("<IId", c, 0, value))  # BrtCellReal
    sheet += _brt(0x0092) + _brt(0x00B1, struct.pack("<I", len(merges)))
    for r0, c0, r1, c1 in merges:
        sheet += _brt(0x00B0, struct.pack("<IIII", r0, r1, c0, c1))  # BrtMergeCell: RfX
    sheet += _brt(0x00B2) + _brt(0x0082)
    book = (_brt(0x0083) + _brt(0x008F)  # BrtBeginBook, BrtBeginBundleShs
            + _brt(0x009C, struct.pack("<II", 0, 1) + _wide("rId1") + _wide("自评表"))  # BrtBundleSh
            + _brt(0x0090) + _brt(0x009D, bytes(26)) + _brt(0x0084))  # BrtEndBundleShs, BrtCalcProp, BrtEndBook
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/>'
          '<Override PartName="/xl/worksheets/sheet1.bin" ContentType="application/vnd.ms-excel.worksheet"/></Types>')
    root_rels = _ROOT_RELS.replace("xl/workbook.xml", "xl/workbook.bin")
    book_rels = _WORKBOOK_RELS.replace("worksheets/sheet1.xml", "worksheets/sheet1.bin")
    out = Path(dir) / name
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", ct)
        zf.writestr("_rels/.rels", root_rels)
        zf.writestr("xl/workbook.bin", book)
        zf.writestr("xl/_rels/workbook.bin.rels", book_rels)
        zf.writestr("xl/worksheets/sheet1.bin", sheet)
    return out


def xlsx_with_sheet_data(dir: Path, sheet_data: str, name: str = "odd.xlsx") -> Path:
    """A one-sheet workbook whose <sheetData> is `sheet_data` verbatim: cell references in
    the forms other writers (or an attacker) use: lower case, spaces around "=", a
    namespace prefix, no reference at all."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "表1"
    src = io.BytesIO()
    wb.save(src)
    zin = zipfile.ZipFile(src)
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{sheet_data}</sheetData></worksheet>"
    )
    out = Path(dir) / name
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = sheet.encode("utf-8") if info.filename == "xl/worksheets/sheet1.xml" else zin.read(info.filename)
            zout.writestr(info, data)
    return out

"""Opening one submission safely: tell the real format from the first bytes, refuse what is
broken or hostile before any parser sees it, then read every sheet in one open.

Nothing here raises anything but `FileProblem` for a bad file; the message is for the user.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_calamine import CalamineWorkbook, SheetTypeEnum

from .rules import Rules

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MB = 1024 * 1024


class FileProblem(Exception):
    """A submission that cannot be used. `rule_id` and `message` go straight into a finding."""

    def __init__(self, rule_id: str, message: str):
        super().__init__(message)
        self.rule_id = rule_id
        self.message = message


@dataclass
class RawWorkbook:
    """The sheets as read, untouched: rows of cell values, positions preserved (row 0 is
    Excel's row 1, column 0 its column A)."""

    sheets: dict[str, list[list]]
    kind: str  # "xlsx", "xls" or "ods"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (rule_id, message) warnings


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: Path) -> str:
    """The hash of a file never read whole (too large, or refused early); "" if unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def read_bytes(path: Path, rules: Rules) -> bytes:
    """The file's bytes, refusing empty and oversized files before reading them whole."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileProblem("file.unreadable", f"无法访问文件：{_os_reason(exc)}") from None
    if size == 0:
        raise FileProblem("file.empty", "文件是空的（0 字节），可能复制未完成或保存失败，请重新提交")
    if size > rules.limit("max_file_mb") * _MB:
        raise FileProblem("file.too_large", f"文件大小 {size / _MB:.1f} MB，超过上限 {rules.limit('max_file_mb'):g} MB，不予读取")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileProblem("file.unreadable", f"无法读取文件：{_os_reason(exc)}") from None


def _os_reason(exc: OSError) -> str:
    """The operating system's reason, in Chinese where it is a common one."""
    if isinstance(exc, FileNotFoundError):
        return "文件不存在（可能已被移走或改名）"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件"
    if isinstance(exc, PermissionError):
        return "没有读取权限，请检查共享盘的文件权限"
    return f"系统错误（{exc.strerror or exc}）"


def sniff(data: bytes) -> str:
    """'zip', 'ole' or 'other', from the first bytes, whatever the file name says."""
    if data.startswith(ZIP_MAGIC) or data.startswith(EMPTY_ZIP_MAGIC):
        return "zip"
    if data.startswith(OLE_MAGIC):
        return "ole"
    return "other"


def inspect_zip(data: bytes, rules: Rules) -> tuple[str, list[tuple[str, str]]]:
    """Check the zip's central directory (never inflating anything) and name the format."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise FileProblem("file.truncated", "文件不完整或已损坏（压缩包目录无法读取），可能复制中断，请重新保存后提交") from None
    if len(infos) > rules.limit("max_zip_entries"):
        raise FileProblem("file.suspicious", f"文件内部条目数 {len(infos)} 远超正常填报表，疑似恶意文件，不予读取")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > rules.limit("max_uncompressed_mb") * _MB:
        raise FileProblem("file.suspicious", f"文件解压后达 {total / _MB:,.0f} MB，远超正常填报表，疑似压缩炸弹，不予读取")
    if total / packed > rules.limit("max_compression_ratio"):
        raise FileProblem("file.suspicious", f"文件压缩比 {total / packed:,.0f}:1 异常，疑似压缩炸弹，不予读取")
    names = {i.filename for i in infos}
    notes = []
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        notes.append(("file.macro", "文件含宏（VBA）代码；本工具不运行宏，只读取单元格数值，请确认数值不依赖宏计算"))
    if "xl/workbook.xml" in names:
        return "xlsx", notes
    if "content.xml" in names and "mimetype" in names:
        return "ods", notes
    raise FileProblem("file.not_spreadsheet", "文件是压缩包，但不是 Excel 或 ODS 工作簿，请用模板另存为 .xlsx 后提交")


def _has_ole_stream(data: bytes, name: str) -> bool:
    """Whether an OLE compound file has a directory entry called `name`.

    Directory entries are 128 bytes, in sectors after the 512-byte header, and start with
    the UTF-16 name followed by its byte length (terminator included) at offset 64. Checking
    the position and the length keeps cell text that merely contains the word from counting.
    """
    wanted = name.encode("utf-16-le") + b"\x00\x00"
    size = len(wanted).to_bytes(2, "little")
    start = data.find(wanted)
    while start != -1:
        if start >= 512 and (start - 512) % 128 == 0 and data[start + 64 : start + 66] == size:
            return True
        start = data.find(wanted, start + 1)
    return False


def inspect_ole(data: bytes) -> str:
    if _has_ole_stream(data, "EncryptionInfo"):
        raise FileProblem("file.encrypted", "文件设置了打开密码（已加密），无法读取；请取消密码后重新保存提交")
    return "xls"


def open_workbook(data: bytes, rules: Rules, wanted: Callable[[str], bool] = lambda name: True) -> RawWorkbook:
    """The worksheets of a workbook for which `wanted(name)` holds, read in one open."""
    kind = sniff(data)
    notes: list[tuple[str, str]] = []
    if kind == "zip":
        kind, notes = inspect_zip(data, rules)
    elif kind == "ole":
        kind = inspect_ole(data)
    else:
        raise FileProblem("file.not_spreadsheet", _not_spreadsheet_message(data))
    try:
        sheets = _read_sheets(data, wanted)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine's errors carry no stable type, and a Rust panic is a BaseException
        raise FileProblem(*_classify_read_error(exc)) from None
    return RawWorkbook(sheets=sheets, kind=kind, notes=notes)


def _read_sheets(data: bytes, wanted: Callable[[str], bool] = lambda name: True) -> dict[str, list[list]]:
    """Every worksheet in one open, with python-calamine: the engine pandas' `calamine`
    reader uses, called directly. Going through `pd.read_excel` builds a DataFrame per sheet
    per file, which cost 4 times the read itself (docs/excel-io-notes.md); the frames are
    built once per chunk of files instead (parse.parse_chunk)."""
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        return {
            m.name: wb.get_sheet_by_name(m.name).to_python(skip_empty_area=False)
            for m in wb.sheets_metadata
            if m.typ == SheetTypeEnum.WorkSheet and wanted(m.name)
        }
    finally:
        wb.close()


def _not_spreadsheet_message(data: bytes) -> str:
    head = data[:512].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:5].lower() in (b"<html", b"<!doc") or head[:5] == b"<?xml":
        return "文件是网页或 XML 文本，只是扩展名为表格；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交"
    if head.startswith(b"%PDF"):
        return "文件是 PDF，不是电子表格；请提交填好的 Excel 模板"
    return "文件不是 Excel 或 ODS 电子表格（内容与扩展名不符），请用模板填写并另存为 .xlsx 后提交"


def _classify_read_error(exc: Exception) -> tuple[str, str]:
    text = str(exc).lower()
    if "password" in text or "encrypt" in text:
        return "file.encrypted", "文件设置了密码（已加密），无法读取；请取消密码后重新保存提交"
    # Anything else the parser refuses is a damaged file as far as the department can act on it.
    return "file.truncated", "文件不完整或已损坏，无法读取；请在 Excel/WPS 中打开检查并重新保存后提交"

"""Opening one submission safely: tell the real format from the first bytes, refuse what is
broken or hostile before any parser sees it, then read every sheet in one open with the
reader for that format (evalbatch/formats/).

Nothing here raises anything but `FileProblem` for a bad file; the message is for the user.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import re
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..files import in_use, windows_reason
from ..formats.base import FileProblem, Limits, RawWorkbook, SheetData
from ..formats.calamine import read_calamine
from ..formats.html import read_html
from ..formats.spreadsheetml import read_spreadsheetml
from ..rules import Rules

__all__ = ["FileProblem", "RawWorkbook", "open_workbook", "read_bytes", "sha256_of", "sha256_of_file", "sniff"]

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MB = 1024 * 1024


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: Path) -> str:
    """The hash of a file never read whole (too large, or refused early); "" if unreadable."""
    h = hashlib.sha256()
    try:
        with open_regular(path) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, FileProblem):
        return ""
    return h.hexdigest()


def read_bytes(path: Path, rules: Rules) -> bytes:
    """The file's bytes, refusing what is no regular file, empty and oversized files before reading them whole."""
    size = regular_status(path).st_size
    if size == 0:
        raise FileProblem("file.empty", "文件是空的（0 字节），可能复制未完成或保存失败，请重新提交")
    if size > rules.limit("max_file_mb") * _MB:
        raise FileProblem("file.too_large", f"文件大小 {size / _MB:.1f} MB，超过上限 {rules.limit('max_file_mb'):g} MB，不予读取")
    try:
        with open_regular(path) as f:
            return f.read()
    except OSError as exc:
        raise FileProblem("file.unreadable", f"无法读取文件：{_os_reason(exc)}") from None


def regular_status(path: Path) -> os.stat_result:
    """The status of the file `path` names (links followed), or a `FileProblem` when it is no
    regular file. Asked before anything opens it: a FIFO, or a link to one, blocks a read
    forever and a device such as /dev/zero never ends, so neither may ever be opened."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):  # dangling, or a loop of links
            raise FileProblem("file.not_regular", "不是普通文件：这是一个链接，它指向的文件不存在或无法解析，未读取；请提交表格文件本身") from None
        raise FileProblem("file.unreadable", f"无法访问文件：{_os_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileProblem("file.unreadable", f"无法读取文件：{_os_reason(IsADirectoryError())}")
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(st.st_mode, os.path.islink(path))
    return st


def open_regular(path: Path):
    """`path` opened for reading in binary, only if it is a regular file (`regular_status`).

    Opened without blocking and checked again on the open handle: a FIFO put in its place
    between the check and the open is refused, not waited on."""
    regular_status(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode, False)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_SPECIAL_KINDS = ((stat.S_ISFIFO, "命名管道（FIFO）"), (stat.S_ISCHR, "字符设备"), (stat.S_ISBLK, "块设备"), (stat.S_ISSOCK, "套接字"))


def _not_regular(mode: int, via_link: bool) -> FileProblem:
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "特殊文件")
    what = f"一个链接，指向{kind}" if via_link else kind
    return FileProblem("file.not_regular", f"不是普通文件：这是{what}，不是表格文件，未读取；请提交表格文件本身")


def _os_reason(exc: OSError) -> str:
    """The operating system's reason, in Chinese where it is a common one."""
    if in_use(exc):
        return "文件正被其他程序（如 Excel、WPS 或杀毒软件）使用；请关闭该文件，下次运行时会重新读取"
    # Windows' code next: a dropped share or a long path arrives as FileNotFoundError too. Missing
    # files (2) and denials (5) keep the reader's own words below.
    if getattr(exc, "winerror", None) not in (None, 2, 5) and windows_reason(exc):
        return windows_reason(exc)
    if isinstance(exc, FileNotFoundError):
        return "文件不存在（可能已被移走或改名）"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件"
    if isinstance(exc, PermissionError):
        return "没有读取权限，请检查共享盘的文件权限"
    return f"系统错误（{exc.strerror or exc}）"


# SpreadsheetML announces itself on its root element, within the first few KB.
_SPREADSHEETML = re.compile(r"<(?:[\w.-]+:)?Workbook\b[^>]*urn:schemas-microsoft-com:office:spreadsheet")
_HTML_TAG = re.compile(r"<(?:html|table)\b")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff(data: bytes) -> str:
    """What the first bytes say the file is, whatever its name says: 'zip', 'ole', 'xml'
    (an Excel 2003 XML Spreadsheet), 'html' (a web page) or 'other'."""
    if data.startswith(ZIP_MAGIC) or data.startswith(EMPTY_ZIP_MAGIC):
        return "zip"
    if data.startswith(OLE_MAGIC):
        return "ole"
    head = _text_head(data)
    if not head.startswith("<"):
        return "other"
    if _SPREADSHEETML.search(head):
        return "xml"
    low = head.lower()
    if low.startswith("<?xml"):
        return "html" if "<html" in low else "other"  # XHTML is a page; any other XML is not a sheet
    if low.startswith("<!doctype html") or _HTML_TAG.search(low):
        return "html"
    return "other"


def _text_head(data: bytes, size: int = 8192) -> str:
    """The first bytes as text, BOM removed, leading white space dropped; bytes past ASCII
    kept one-to-one (tags are ASCII whatever the encoding)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) : size].decode(codec, errors="ignore").lstrip()
    return data[:size].decode("latin-1").lstrip()


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise FileProblem("file.truncated", "文件不完整或已损坏（压缩包目录无法读取），可能复制中断，请重新保存后提交") from None


def inspect_zip(data: bytes, rules: Rules, zf: zipfile.ZipFile | None = None) -> tuple[str, list[tuple[str, str]]]:
    """Check the zip's central directory (never inflating anything) and name the format."""
    infos = (zf or open_zip(data)).infolist()
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
    if "xl/workbook.bin" in names:
        return "xlsb", notes
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


def inspect_ole(data: bytes, name: str = "") -> str:
    """'xls' for an OLE file holding an Excel workbook stream; a `FileProblem` otherwise."""
    if _has_ole_stream(data, "EncryptionInfo"):
        raise FileProblem("file.encrypted", "文件设置了打开密码（已加密），无法读取；请取消密码后重新保存提交")
    # BIFF8 keeps the workbook in "Workbook", BIFF5 (Excel 95) in "Book". A WPS .et file
    # with neither, or a Word/PowerPoint file, is nothing calamine can read.
    if _has_ole_stream(data, "Workbook") or _has_ole_stream(data, "Book"):
        return "xls"
    if not _ole_tables_present(data):
        # An interrupted copy loses the directory (often written last) with the rest.
        raise FileProblem("file.truncated", "文件不完整或已损坏（文件目录缺失），可能复制中断，请重新保存后提交")
    raise FileProblem("file.unreadable", _resave_message(name))


def _ole_tables_present(data: bytes) -> bool:
    """Whether the sectors the header points at (allocation table, directory) lie in the file."""
    if len(data) < 512:
        return False
    shift, = struct.unpack_from("<H", data, 30)
    n_fat, first_dir = struct.unpack_from("<II", data, 44)
    if not 7 <= shift <= 16:
        return False
    size = 1 << shift
    sectors = [first_dir, *struct.unpack_from(f"<{min(n_fat, 109)}I", data, 76)]
    return all((sector + 2) * size <= len(data) for sector in sectors)


def _resave_message(name: str) -> str:
    # The extension only words the message: the bytes decided what the file is.
    if Path(name).suffix.lower() == ".et":
        return "文件是 WPS 表格（.et）格式，本工具无法读取；请在 WPS 或 Excel 中打开并“另存为”Excel 工作簿（.xlsx）后提交"
    return ("文件是 Office 复合文档，但其中没有 Excel 工作簿（可能是 WPS 表格 .et 或其他格式），本工具无法读取；"
            "请在 WPS 或 Excel 中打开并“另存为”Excel 工作簿（.xlsx）后提交")


def open_workbook(
    data: bytes, rules: Rules, wanted: Callable[[str], bool] = lambda name: True, *, name: str = ""
) -> RawWorkbook:
    """The worksheets of a workbook for which `wanted(name)` holds, read in one open.

    `name` (the file's name) is used only to word a message, never to decide the format.
    """
    if len(data) > rules.limit("max_file_mb") * _MB:
        raise FileProblem("file.too_large", f"文件大小 {len(data) / _MB:.1f} MB，超过上限 {rules.limit('max_file_mb'):g} MB，不予读取")
    kind = sniff(data)
    notes: list[tuple[str, str]] = []
    zf = None
    if kind == "zip":
        zf = open_zip(data)
        kind, notes = inspect_zip(data, rules, zf)
    elif kind == "ole":
        kind = inspect_ole(data, name)
    elif kind == "other":
        raise FileProblem("file.not_spreadsheet", _not_spreadsheet_message(data))
    sheets = _read_sheets(data, kind, wanted, Limits.from_rules(rules), name, zf)
    return RawWorkbook(
        sheets={n: s.rows for n, s in sheets.items()},
        kind=kind,
        notes=notes,
        merges={n: s.merges for n, s in sheets.items()},
        hidden={n for n, s in sheets.items() if s.hidden},
    )


def _read_sheets(
    data: bytes, kind: str, wanted: Callable[[str], bool], limits: Limits, name: str, zf: zipfile.ZipFile | None
) -> dict[str, SheetData]:
    try:
        if kind == "xml":
            return read_spreadsheetml(data, wanted, limits)
        if kind == "html":
            return read_html(data, wanted, limits)
        return read_calamine(data, kind, wanted, limits, zf)
    except FileProblem:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise  # out of memory is the sandbox's to tell (read/sandbox.py), not a damaged file
    except BaseException as exc:  # calamine's errors carry no stable type, and a Rust panic is a BaseException
        raise FileProblem(*_classify_read_error(exc, name)) from None


def _not_spreadsheet_message(data: bytes) -> str:
    head = data[:512].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:5].lower() in (b"<html", b"<!doc") or head[:5] == b"<?xml":
        return "文件是网页或 XML 文本，只是扩展名为表格；请在 Excel/WPS 中“另存为”Excel 工作簿（.xlsx）后提交"
    if head.startswith(b"%PDF"):
        return "文件是 PDF，不是电子表格；请提交填好的 Excel 模板"
    return "文件不是 Excel 或 ODS 电子表格（内容与扩展名不符），请用模板填写并另存为 .xlsx 后提交"


def _classify_read_error(exc: BaseException, name: str = "") -> tuple[str, str]:
    text = str(exc).lower()
    if "password" in text or "encrypt" in text:
        return "file.encrypted", "文件设置了密码（已加密），无法读取；请取消密码后重新保存提交"
    if Path(name).suffix.lower() == ".et":
        return "file.truncated", "WPS 表格（.et）文件无法读取（格式不兼容或已损坏）；请在 WPS 或 Excel 中打开并“另存为”Excel 工作簿（.xlsx）后提交"
    # Anything else the parser refuses is a damaged file as far as the department can act on it.
    return "file.truncated", "文件不完整或已损坏，无法读取；请在 Excel/WPS 中打开检查并重新保存后提交"

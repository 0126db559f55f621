"""Sizing and counting the text of an Excel 97-2003 workbook (.xls, BIFF8) before
python-calamine reads it.

calamine builds each sheet as one dense block from its first to its last cell, and a BIFF
cell record carries a 16-bit column (not BIFF8's 256): two NUMBER records at A1 and at row
65,536 column 65,536 ask for 137 GB, and a DIMENSIONS record claiming 2^32 rows for 44 TB,
and the allocation failure aborts the process. So every cell record's place and every
DIMENSIONS record are measured against `max_sheet_cells` first.

A LABELSST record is 14 bytes and names a shared string by its index; calamine gives every
such cell its own copy of the string. A 1.4 MB .xls whose 100,000 cells all point at one
32,000-character string asks for 9 GB. So the shared string table (SST) is measured and the
references counted first, against the same limits as .xlsx (zipscan.Text).

The workbook stream is taken from the OLE compound file by its allocation table. A stream
under the mini-stream cutoff (4 KB) is read from the mini stream: two cell records fit in
40 bytes. Where the container or the records cannot be
followed the file is left to calamine, which refuses what is broken (and the sandbox holds
what it cannot refuse); an SST that cannot be followed counts every reference at the longest
length it could have.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .base import EXCEL_COLS, EXCEL_ROWS, FileProblem, Limits, check_extent
from .zipscan import Text

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREE, _END = 0xFFFFFFFF, 0xFFFFFFFE
_SST, _CONTINUE, _LABEL_SST, _LABEL, _RSTRING, _STRING = 0x00FC, 0x003C, 0x00FD, 0x0204, 0x00D6, 0x0207
_LONGEST_BIFF_STRING = 0xFFFF  # a 16-bit character count
_BOF, _EOF, _BOUNDSHEET, _DIMENSIONS = 0x0809, 0x000A, 0x0085, 0x0200
# Records that place one cell: row, then column, as 16-bit numbers (NUMBER, RK, LABELSST,
# LABEL, RSTRING, BOOLERR, FORMULA, BLANK); MULRK and MULBLANK place a run of them, their
# last column in the last two bytes.
_CELL_RECORDS = frozenset((0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006, 0x0201))
_MULTI_RECORDS = frozenset((0x00BD, 0x00BE))


def check_xls(data: bytes, limits: Limits) -> None:
    """Refuse (FileProblem) a workbook whose cells would hold more text than the limits allow."""
    stream = workbook_stream(data)
    if stream is None:
        return
    check_extents(stream, limits)
    text = Text(limits)
    strings = _sst_lengths(stream)
    if strings:
        text.cell("", max(strings), 0)  # a shared string past the cell limit, referenced or not
    for typ, pos, size in _records(stream):
        if typ == _LABEL_SST and size >= 10:
            text.add(_shared(strings, struct.unpack_from("<I", stream, pos + 6)[0]))
        elif typ in (_LABEL, _RSTRING) and size >= 8:
            text.cell("", struct.unpack_from("<H", stream, pos + 6)[0])
        elif typ == _STRING and size >= 2:
            text.cell("", struct.unpack_from("<H", stream, pos)[0])


def check_extents(stream: bytes, limits: Limits) -> None:
    """Refuse a sheet whose cells or DIMENSIONS reach past `max_sheet_cells` (or Excel's grid)."""
    names = _sheet_names(stream)
    name, rows, cols = "", 0, 0
    for typ, pos, size in _records(stream):
        if typ == _BOF:
            name, rows, cols = names.get(pos - 4, name), 0, 0
        elif typ in _CELL_RECORDS and size >= 4:
            row, col = struct.unpack_from("<HH", stream, pos)
            rows, cols = _grown(name, rows, cols, row + 1, col + 1, limits)
        elif typ in _MULTI_RECORDS and size >= 6:
            (row,) = struct.unpack_from("<H", stream, pos)
            (last,) = struct.unpack_from("<H", stream, pos + size - 2)
            rows, cols = _grown(name, rows, cols, row + 1, last + 1, limits)
        elif typ == _DIMENSIONS and size >= 10:
            fmt = "<IIHH" if size >= 14 else "<HHHH"  # BIFF8: 32-bit rows; BIFF5: 16-bit
            first_row, end_row, first_col, end_col = struct.unpack_from(fmt, stream, pos)
            _refuse_past(name, end_row, end_col, limits)
            check_extent(name, max(end_row - first_row, 0), max(end_col - first_col, 0), limits)


def _grown(name: str, rows: int, cols: int, row: int, col: int, limits: Limits) -> tuple[int, int]:
    if row <= rows and col <= cols:
        return rows, cols
    rows, cols = max(rows, row), max(cols, col)
    check_extent(name, rows, cols, limits)
    return rows, cols


def _refuse_past(name: str, rows: int, cols: int, limits: Limits) -> None:
    if rows > EXCEL_ROWS or cols > EXCEL_COLS:
        check_extent(name, rows, cols, limits)


def _sheet_names(stream: bytes) -> dict[int, str]:
    """Where each sheet's BOF record starts → its name (BOUNDSHEET: lbPlyPos, state, type,
    then a short string: length, flags, characters)."""
    names = {}
    for typ, pos, size in _records(stream):
        if typ == _BOUNDSHEET and size >= 8:
            (start,), length, wide = struct.unpack_from("<I", stream, pos), stream[pos + 6], stream[pos + 7] & 1
            raw = stream[pos + 8 : pos + 8 + length * (2 if wide else 1)]
            names[start] = raw.decode("utf-16-le" if wide else "latin-1", errors="replace")
    return names


def _shared(strings: list[int] | None, index: int) -> int:
    if strings is None:
        return _LONGEST_BIFF_STRING
    return strings[index] if index < len(strings) else 0  # calamine has nothing to copy


# --- the OLE container ------------------------------------------------------------------------


def workbook_stream(data: bytes) -> bytes | None:
    """The "Workbook" (BIFF8) or "Book" (BIFF5) stream, or None where it cannot be followed."""
    try:
        return _OleFile(data).stream(("Workbook", "Book"))
    except (struct.error, ValueError, IndexError):
        return None


class _OleFile:
    def __init__(self, data: bytes):
        if not data.startswith(_OLE_MAGIC):
            raise ValueError("not an OLE file")
        self.data = data
        (shift,) = struct.unpack_from("<H", data, 30)
        if not 7 <= shift <= 16:
            raise ValueError("sector size")
        self.size = 1 << shift
        self.sectors = max((len(data) - 512) // self.size, 0)
        n_fat, self.first_dir = struct.unpack_from("<II", data, 44)
        (self.cutoff,) = struct.unpack_from("<I", data, 56)
        if self.cutoff != 0x1000:  # fixed by the format; another value moves streams where only some readers look
            raise FileProblem("file.suspicious", "文件内部结构异常（复合文档的小数据流上限不是 4096 字节），正常表格不会如此，疑似恶意文件，不予读取")
        first_difat, n_difat = struct.unpack_from("<II", data, 68)
        fat_sectors = list(struct.unpack_from("<109I", data, 76))
        for sector in self._chain_of_difat(first_difat, n_difat):
            fat_sectors += struct.unpack_from(f"<{self.size // 4 - 1}I", self._sector(sector))
        self.fat = [entry for sector in fat_sectors[:n_fat] for entry in struct.unpack(f"<{self.size // 4}I", self._sector(sector))]

    def _sector(self, n: int) -> bytes:
        if n >= self.sectors:
            raise ValueError("sector past the end")
        start = 512 + n * self.size
        return self.data[start : start + self.size]

    def _chain_of_difat(self, sector: int, count: int) -> Iterator[int]:
        for _ in range(min(count, self.sectors)):
            if sector in (_FREE, _END):
                return
            yield sector
            (sector,) = struct.unpack_from("<I", self._sector(sector), self.size - 4)

    def _chain(self, sector: int) -> Iterator[int]:
        for _ in range(self.sectors):  # a loop in the table ends here, not never
            if sector >= len(self.fat) or sector in (_FREE, _END):
                return
            yield sector
            sector = self.fat[sector]

    def stream(self, names: tuple[str, ...]) -> bytes | None:
        """The first of `names` present as a stream (None if none is, or it is a small one)."""
        directory = b"".join(self._sector(s) for s in self._chain(self.first_dir))
        entries = {}
        for pos in range(0, len(directory) - 127, 128):
            entry = directory[pos : pos + 128]
            (length,) = struct.unpack_from("<H", entry, 64)
            if entry[66] == 2:
                entries.setdefault(entry[: max(length - 2, 0)].decode("utf-16-le", errors="replace"), entry)
        entry = next((entries[n] for n in names if n in entries), None)
        if entry is None:
            return None
        start, size = struct.unpack_from("<II", entry, 116)
        if size < self.cutoff:
            return self._mini_stream(directory, start, size)
        return b"".join(self._sector(s) for s in self._chain(start))[:size]

    def _mini_stream(self, directory: bytes, start: int, size: int) -> bytes:
        """A small stream: 64-byte sectors inside the root entry's stream, chained by the mini FAT."""
        root_start, root_size = struct.unpack_from("<II", directory, 116)
        container = b"".join(self._sector(s) for s in self._chain(root_start))[:root_size]
        (first_minifat,) = struct.unpack_from("<I", self.data, 60)
        minifat_bytes = b"".join(self._sector(s) for s in self._chain(first_minifat))
        minifat = struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes[: len(minifat_bytes) // 4 * 4])
        out, sector = [], start
        for _ in range(len(minifat)):  # a loop in the table ends here, not never
            if sector >= len(minifat) or sector in (_FREE, _END):
                break
            out.append(container[sector * 64 : sector * 64 + 64])
            sector = minifat[sector]
        return b"".join(out)[:size]


# --- BIFF records ---------------------------------------------------------------------------


def _records(stream: bytes) -> Iterator[tuple[int, int, int]]:
    """(record type, start of its data, size of its data), without copying the data."""
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        typ, size = struct.unpack_from("<HH", stream, pos)
        yield typ, pos + 4, min(size, end - pos - 4)
        pos += 4 + size


def _sst_lengths(stream: bytes) -> list[int] | None:
    """The character count of each shared string, [] without an SST, None where the SST
    cannot be followed."""
    parts: list[bytes] = []
    for typ, pos, size in _records(stream):
        if (typ == _SST and not parts) or (typ == _CONTINUE and parts):
            parts.append(stream[pos : pos + size])
        elif parts:
            break
    if not parts:
        return []
    try:
        return _Strings(parts).lengths()
    except (struct.error, IndexError, ValueError):
        return None


class _Strings:
    """XLUnicodeRichExtendedStrings read across CONTINUE records: where the characters of a
    string cross into the next record, that record starts with a new flags byte (the width
    of the rest); everything else simply runs on."""

    def __init__(self, parts: list[bytes]):
        self.parts, self.part, self.pos = parts, 0, 8  # past cstTotal and cstUnique

    def lengths(self) -> list[int]:
        (unique,) = struct.unpack_from("<I", self.parts[0], 4)
        out = []
        for _ in range(unique):
            (cch,) = struct.unpack("<H", self._take(2))
            flags = self._take(1)[0]
            runs = struct.unpack("<H", self._take(2))[0] if flags & 0x08 else 0
            ext = struct.unpack("<I", self._take(4))[0] if flags & 0x04 else 0
            self._skip_chars(cch, 2 if flags & 0x01 else 1)
            self._take(4 * runs + ext)
            out.append(cch)
        return out

    def _take(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            if self.pos >= len(self.parts[self.part]):
                self.part, self.pos = self.part + 1, 0
                if self.part >= len(self.parts):
                    raise ValueError("SST ends early")
            piece = self.parts[self.part][self.pos : self.pos + n - len(got)]
            got += piece
            self.pos += len(piece)
        return got

    def _skip_chars(self, cch: int, width: int) -> None:
        while cch:
            here = len(self.parts[self.part]) - self.pos
            if here <= 0:
                self.part, self.pos = self.part + 1, 0
                if self.part >= len(self.parts):
                    raise ValueError("SST ends early")
                width = 2 if self.parts[self.part][0] & 0x01 else 1
                self.pos = 1
                continue
            n = min(cch, here // width)
            if n == 0:
                raise ValueError("a character split across records")
            self.pos += n * width
            cch -= n

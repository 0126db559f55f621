"""Files no department should send, and folders the nightly run must not lose (issue 12 point 3,
issue 13 points 5 and 7): FIFOs, devices, sockets and links never opened; names that are not
text; shared-string and text bombs refused before parsing, in bounded memory; folders that
cannot be listed, archives, long paths and odd file times named, never silently dropped.

Everything that could hang (a FIFO opened for reading) runs in a child process with a timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import evalbatch.read.discover as B
import openpyxl
import pytest
from builders import reference, write
from faults import _CONTENT_TYPES, _ROOT_RELS, _WORKBOOK, _WORKBOOK_RELS, _brt, _wide, ole_file

from evalbatch.formats.base import FileProblem
from evalbatch.judge.evaluate import evaluate
from evalbatch.night.runner import run
from evalbatch.read.discover import discover, extended_path, local_time, printable
from evalbatch.read.load import load_one
from evalbatch.read.reader import open_workbook, read_bytes
from evalbatch.rules import RulesError, load_rules
from evalbatch.write.report import write_workbook

ROOT = Path(__file__).resolve().parents[1]
RULES = load_rules()
OLD = time.time() - 3600  # well outside the settle window
GBK_NAME = "你好".encode("gbk") + b".xlsx"  # what unzip leaves of a Windows zip's name
GBK_SHOWN = "\\xc4\\xe3\\xba\\xc3.xlsx"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="os.mkfifo is not available on this platform")
needs_links = pytest.mark.skipif(os.name == "nt", reason="symbolic links need extra rights on Windows")
needs_byte_names = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="this file system only stores names that are valid text")


def age(*paths: Path, seconds_ago: float = 3600) -> None:
    for p in paths:
        os.utime(p, (time.time() - seconds_ago,) * 2, follow_symlinks=False)


def findings_of(result, name: str) -> list[tuple[str, str]]:
    f = result.findings
    return [(r.rule_id, r.level) for r in f[f["file"] == name].itertuples()]


def status(result, name: str) -> str:
    return next(r.status for r in result.records if r.name == name)


# --- builders of hostile workbooks ----------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx(path: Path, cells: str, strings: list[str] | None = None, prefix: str = "") -> Path:
    """A one-sheet workbook built from its parts: `cells` is the <sheetData> content, `strings`
    the shared strings (with a namespace prefix on every element of that part if asked)."""
    parts = {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS, "xl/workbook.xml": _WORKBOOK,
             "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
             "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>{cells}</sheetData></worksheet>'}
    if strings is not None:  # calamine reads xl/sharedStrings.xml by its name, related or not
        p = f"{prefix}:" if prefix else ""
        ns = f'xmlns:{prefix}="{_MAIN}"' if prefix else f'xmlns="{_MAIN}"'
        items = "".join(f"<{p}si><{p}t>{s}</{p}t></{p}si>" for s in strings)
        parts["xl/sharedStrings.xml"] = f'<?xml version="1.0"?><{p}sst {ns} uniqueCount="{len(strings)}">{items}</{p}sst>'
    return zipped(path, parts)


def zipped(path: Path, parts: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def shared_string_bomb(path: Path, cells: int = 100_000, length: int = 32_000, prefix: str = "") -> Path:
    """About 1 MB: one 32,000-character string that 100,000 cells point at (3.2 billion
    characters once expanded: what pushed a run past 3 GB)."""
    rows = "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>0</v></c></row>' for i in range(1, cells + 1))
    return xlsx(path, rows, ["预" * length, "单位编码"], prefix=prefix)


def ods(path: Path, cell: str, rows: int = 1, columns: int = 1) -> Path:
    """One ODS cell (`cell` is its content), repeated `columns` times in a row repeated `rows` times."""
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               '<office:body><office:spreadsheet><table:table table:name="表1">'
               f'<table:table-row table:number-rows-repeated="{rows}"><table:table-cell office:value-type="string" '
               f'table:number-columns-repeated="{columns}">{cell}</table:table-cell></table:table-row>'
               '</table:table></office:spreadsheet></office:body></office:document-content>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def xlsb_bomb(path: Path, cells: int = 100_000, length: int = 32_000) -> Path:
    """The shared-string bomb as an Excel binary workbook: BrtCellIsst records pointing at one
    BrtSSTItem of xl/sharedStrings.bin (records after MS-XLSB, as tests/faults.py writes them)."""
    cell = _brt(0x0007, bytes(12))  # column 0, style 0, shared string 0
    rows = b"".join(_brt(0x0000, r.to_bytes(4, "little") + bytes(13)) + cell for r in range(cells))
    sheet = _brt(0x0081) + _brt(0x0091) + rows + _brt(0x0092) + _brt(0x0082)
    sst = _brt(0x009F, bytes(8)) + _brt(0x0013, b"\x00" + _wide("预" * length)) + _brt(0x00A0)
    book = (_brt(0x0083) + _brt(0x008F) + _brt(0x009C, bytes(8) + _wide("rId1") + _wide("基本信息")) + _brt(0x0090) + _brt(0x0084))
    return zipped(path, {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS.replace("workbook.xml", "workbook.bin"),
                         "xl/workbook.bin": book, "xl/_rels/workbook.bin.rels": _WORKBOOK_RELS.replace("sheet1.xml", "sheet1.bin"),
                         "xl/worksheets/sheet1.bin": sheet, "xl/sharedStrings.bin": sst})


def _biff(typ: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", typ, len(data)) + data


def _sst(strings: list[str]) -> bytes:
    """SST and CONTINUE records as Excel writes them: at most 8,224 bytes each; where a
    string's characters run into the next record, it starts with a flags byte of their width."""
    records, current = [], bytearray(struct.pack("<II", len(strings), len(strings)))
    for text in strings:
        wide = not text.isascii()
        raw, width = text.encode("utf-16-le" if wide else "latin-1"), 2 if wide else 1
        if len(current) + 4 > 8224:
            records.append(current)
            current = bytearray()
        current += struct.pack("<HB", len(text), int(wide))
        pos = 0
        while pos < len(raw):
            room = (8224 - len(current)) // width * width
            if room <= 0:
                records.append(current)
                current, room = bytearray([int(wide)]), 8222 // width * width
            current += raw[pos : pos + room]
            pos += room
    records.append(current)
    return _biff(0x00FC, bytes(records[0])) + b"".join(_biff(0x003C, bytes(r)) for r in records[1:])


def xls_bomb(path: Path, cells: int = 100_000, length: int = 32_000, text: str | None = None) -> Path:
    """An Excel 97-2003 (BIFF8) workbook: an SST holding one long string and `cells` LABELSST
    records (14 bytes each) pointing at it; 1.4 MB that calamine would make 9 GB of."""
    bof = struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06)
    sheet_name = b"\x06\x00Sheet1"
    globals_ = [_biff(0x0809, bof), _biff(0x0042, struct.pack("<H", 1200))]
    tail = _sst([text or "x" * length, "单位编码"]) + _biff(0x000A)
    start = sum(map(len, globals_)) + len(_biff(0x0085, bytes(6) + sheet_name)) + len(tail)
    sheet = _biff(0x0809, bof[:2] + struct.pack("<H", 0x0010) + bof[4:])
    sheet += b"".join(_biff(0x00FD, struct.pack("<HHHI", i // 2, i % 2, 0, 0)) for i in range(cells)) + _biff(0x000A)
    stream = b"".join(globals_) + _biff(0x0085, struct.pack("<IBB", start, 0, 0) + sheet_name) + tail + sheet
    path.write_bytes(ole_file("Workbook", stream))
    return path


def prose(n: int, seed: int = 1) -> str:
    """`n` random CJK characters: long text that does not compress like a bomb, so the limit
    under test is the one that refuses it, not the compression ratio."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))


def refused(path: Path, rules=RULES) -> FileProblem:
    with pytest.raises(FileProblem) as info:
        open_workbook(read_bytes(path, rules), rules)
    return info.value


# --- FIFOs, devices, sockets and links: never opened ------------------------------------------------------------

_NEVER_HANGS = r"""
import os, sys
from pathlib import Path
from evalbatch.read.load import load_one
from evalbatch.read import reader
from evalbatch.rules import load_rules
rules = load_rules()
fifo = Path(sys.argv[1])
for path in sys.argv[1:]:
    sha, loc, tb = load_one(path, Path(path).name, rules)
    print(Path(path).name, sha == "", [(f["rule_id"], f["message"]) for f in loc.findings])
# A FIFO put in place between the check and the open: refused on the open handle, not waited on.
reader.regular_status = lambda path: None
try:
    reader.open_regular(fifo)
    print("OPENED")
except reader.FileProblem as exc:
    print("SWAPPED", exc.rule_id)
"""


@needs_fifo
@needs_links
def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    links = {"to_fifo.xlsx": fifo, "to_zero.xlsx": Path("/dev/zero"), "dangling.xlsx": tmp_path / "gone.xlsx"}
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    names = ["pipe.xlsx", *links]
    proc = subprocess.run([sys.executable, "-c", _NEVER_HANGS, *(str(tmp_path / n) for n in names)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for name, line in zip(names, lines):
        assert line.startswith(f"{name} True [('file.not_regular', '不是普通文件：这是"), line
    assert "命名管道（FIFO）" in lines[0] and "链接，指向命名管道（FIFO）" in lines[1]
    assert "链接，指向字符设备" in lines[2] and "指向的文件不存在" in lines[3]
    assert lines[4] == "SWAPPED file.not_regular"


@needs_links
def test_a_device_is_never_opened(tmp_path, monkeypatch):
    (tmp_path / "zero.xlsx").symlink_to("/dev/zero")
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    sha, loc, tb = load_one(str(tmp_path / "zero.xlsx"), "zero.xlsx", RULES)
    assert (sha, tb, opened) == ("", None, [])
    assert [f["rule_id"] for f in loc.findings] == ["file.not_regular"]


def _socket(folder: Path, name: str) -> bool:
    if not hasattr(socket, "AF_UNIX"):
        return False
    here = os.getcwd()
    os.chdir(folder)  # a socket's path must be short: bind by its bare name
    try:
        socket.socket(socket.AF_UNIX).bind(name)
    finally:
        os.chdir(here)
    return True


_PROBE = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run([sys.executable, '-m', 'evalbatch', *sys.argv[1:]], capture_output=True, text=True, timeout=600)\n"
    "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
    "sys.stderr.write('\\nPEAK_MB=%d\\n' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))\n"
    "sys.exit(p.returncode)\n"
)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One folder: the reference case and one file for each hostile case here, run as the
    nightly job runs it (a child process, its peak memory measured)."""
    src = tmp_path_factory.mktemp("inbox")
    made = {"620101_省委编办.xlsx": write(src, reference(), "620101_省委编办.xlsx")}
    made["bomb.xlsx"] = shared_string_bomb(src / "bomb.xlsx")
    made["bomb.xls"] = xls_bomb(src / "bomb.xls")
    made["spaces.ods"] = ods(src / "spaces.ods", '<text:p>a<text:s text:c="1000000000"/></text:p>')
    made["各表格.zip"] = src / "各表格.zip"
    made["各表格.zip"].write_bytes(made["620101_省委编办.xlsx"].read_bytes())
    made["导出.csv"] = src / "导出.csv"
    made["导出.csv"].write_text("单位编码,得分\n620101,90\n", encoding="utf-8")
    expected = {"bomb.xlsx": "file.suspicious", "bomb.xls": "file.suspicious", "spaces.ods": "file.suspicious",
                "各表格.zip": "file.archive", "导出.csv": "file.unsupported"}
    if hasattr(os, "mkfifo") and os.name != "nt":
        os.mkfifo(src / "pipe.xlsx")
        (src / "zero.xlsx").symlink_to("/dev/zero")
        (src / "dangling.xlsx").symlink_to(src / "gone.xlsx")
        expected |= {"pipe.xlsx": "file.not_regular", "zero.xlsx": "file.not_regular", "dangling.xlsx": "file.not_regular"}
    if _socket(src, "sock.xlsx"):
        expected["sock.xlsx"] = "file.not_regular"
    for p in src.iterdir():
        os.utime(p, (OLD, OLD), follow_symlinks=False)
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-c", _PROBE, "run", src, "--out", out, "--year", "2021", "--jobs", "2"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    peak = int(proc.stderr.rsplit("PEAK_MB=", 1)[1].split()[0])
    return out, proc, peak, expected


def test_hostile_folder_finishes_with_exit_1_in_bounded_memory(hostile_run):
    out, proc, peak, _ = hostile_run
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert peak < 500, f"peak RSS {peak} MB"


def test_every_hostile_file_is_one_error_and_the_good_one_scores_as_alone(hostile_run):
    out, _, _, expected = hostile_run
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    statuses = {f["name"]: f["status"] for f in summary["files"]}
    rows = list(openpyxl.load_workbook(out / "绩效自评汇总_2021.xlsx")["审核问题"].iter_rows(values_only=True))[1:]
    errors: dict[str, list[str]] = {}
    for r in rows:
        if r[5] == "错误":
            errors.setdefault(r[0], []).append(r[8])
    assert errors == {name: [rule] for name, rule in expected.items()}
    assert {name: statuses[name] for name in expected} == {name: "无法使用" for name in expected}
    assert statuses["620101_省委编办.xlsx"] == "已采用"
    ranking = openpyxl.load_workbook(out / "绩效自评汇总_2021.xlsx")["汇总排名"]
    first = [c.value for c in ranking[2]]
    assert "620101" in first and 90.56 in first


def test_check_refuses_a_fifo_at_once(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("os.mkfifo is not available on this platform")
    os.mkfifo(tmp_path / "pipe.xlsx")
    proc = subprocess.run([sys.executable, "-m", "evalbatch", "check", str(tmp_path / "pipe.xlsx"), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = json.loads(proc.stdout)["findings"]
    assert [(f["file"], f["rule_id"], f["level"]) for f in found] == [("pipe.xlsx", "file.not_regular", "错误")]


# --- names that are not text --------------------------------------------------------------------------------------


def test_printable_escapes_bytes_surrogates_and_controls():
    assert printable("620101_省委编办.xlsx") == "620101_省委编办.xlsx"
    assert printable(os.fsdecode(GBK_NAME)) == GBK_SHOWN
    assert printable("a\ud800b\nc\x7f.xlsx") == "a\\ud800b\\x0ac\\x7f.xlsx"
    assert printable("全角　空格.xlsx") == "全角　空格.xlsx"


@needs_byte_names
def test_a_gbk_file_name_is_read_and_shown_escaped_everywhere(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = write(tmp_path, reference(), "good.xlsx")
    with open(os.path.join(os.fsencode(src), GBK_NAME), "wb") as f:
        f.write(good.read_bytes())
    age(*src.iterdir())
    out = tmp_path / "out"
    outcome = run(src, out, 2021, RULES, settle=0, feedback=True, parquet=True)
    r = outcome.result
    assert [(x.name, x.status) for x in r.records] == [(GBK_SHOWN, "已采用")]
    assert ("file.name_escaped", "提示") in findings_of(r, GBK_SHOWN)
    assert list(r.depts["file"]) == [GBK_SHOWN] and list(r.depts["total"]) == [90.56]
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["files"][0]["name"] == GBK_SHOWN
    rows = openpyxl.load_workbook(outcome.workbook)["审核问题"].iter_rows(values_only=True)
    assert GBK_SHOWN in {row[0] for row in rows}
    proc = subprocess.run([sys.executable, "-m", "evalbatch", "history", str(out), "--dept", "620101"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert GBK_SHOWN in proc.stdout


@needs_byte_names
def test_check_shows_a_gbk_name_escaped(tmp_path):
    good = write(tmp_path, reference(), "good.xlsx")
    path = os.path.join(os.fsencode(tmp_path), GBK_NAME)
    with open(path, "wb") as f:
        f.write(good.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "evalbatch", "check", os.fsdecode(path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert GBK_SHOWN in proc.stdout and "UnicodeEncodeError" not in proc.stderr


# --- shared strings and text: refused before parsing, in bounded memory -----------------------------------------------

_MEASURE = r"""
import resource, sys
from pathlib import Path
from evalbatch.read.reader import FileProblem, open_workbook
from evalbatch.rules import load_rules
rules = load_rules()
try:
    open_workbook(Path(sys.argv[1]).read_bytes(), rules)
    print("ACCEPTED")
except FileProblem as e:
    print("REFUSED", e.rule_id)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.parametrize("make", [shared_string_bomb, xlsb_bomb, xls_bomb], ids=["xlsx", "xlsb", "xls"])
def test_shared_string_bomb_stays_under_500_mb(tmp_path, make):
    """1 MB that would expand to 3.2 billion characters: refused, the whole process under 500 MB.
    calamine allocates outside Python, so the peak is the child process's RSS."""
    path = make(tmp_path / f"bomb.{make.__name__.split('_')[0].replace('shared', 'xlsx')}")
    assert path.stat().st_size < 1.5 * 1024 * 1024
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict, peak = proc.stdout.split("\n")[:2]
    assert verdict == "REFUSED file.suspicious"
    assert int(peak) < 500, f"peak RSS {peak} MB"


def test_shared_string_bomb_message_names_the_total(tmp_path):
    problem = refused(shared_string_bomb(tmp_path / "bomb.xlsx"))
    assert problem.rule_id == "file.suspicious"
    assert "单元格文字合计" in problem.message and "超过上限 20,000,000" in problem.message


def test_xls_strings_across_continue_records_are_counted_exactly(tmp_path):
    """A CJK string of 20,000 characters spans five CONTINUE records, each starting with its
    width flag: 100 cells read it (2 million characters), 1,000 are refused (20 million)."""
    text = prose(20_000)
    wb = open_workbook(xls_bomb(tmp_path / "fine.xls", cells=100, text=text).read_bytes(), RULES)
    assert wb.kind == "xls" and wb.sheets["Sheet1"][49] == [text, text]
    problem = refused(xls_bomb(tmp_path / "bomb.xls", cells=1_001, text=text))
    assert problem.rule_id == "file.suspicious" and "至少 20,020,000 个字符" in problem.message


@pytest.mark.libreoffice
def test_xls_text_count_matches_what_calamine_reads(lo_convert):
    """On a real Excel 97-2003 file (LibreOffice's): the references counted before reading
    are exactly the characters of text calamine then gives."""
    import io
    import struct as st

    from python_calamine import CalamineWorkbook

    from evalbatch.formats import biffscan

    data = lo_convert("xls").read_bytes()
    stream = biffscan.workbook_stream(data)
    strings = biffscan._sst_lengths(stream)
    counted = sum(biffscan._shared(strings, st.unpack_from("<I", stream, pos + 6)[0])
                  for typ, pos, _ in biffscan._records(stream) if typ == 0x00FD)
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    read = sum(len(v) for name in wb.sheet_names for row in wb.get_sheet_by_name(name).to_python() for v in row if isinstance(v, str))
    assert counted == read > 1000


def test_prefixed_shared_strings_are_counted_too(tmp_path):
    """x:si elements: the fast split at "<si" would miss them; the full pattern does not."""
    problem = refused(shared_string_bomb(tmp_path / "bomb.xlsx", cells=2_000, prefix="x"))
    assert problem.rule_id == "file.suspicious" and "单元格文字合计" in problem.message


def test_a_few_references_to_a_long_string_are_read(tmp_path):
    path = shared_string_bomb(tmp_path / "fine.xlsx", cells=300, length=30_000)  # 9 million characters
    wb = open_workbook(path.read_bytes(), RULES)
    assert len(wb.sheets["基本信息"]) == 300 and wb.sheets["基本信息"][299][0] == "预" * 30_000


def test_shared_strings_table_over_its_limit(tmp_path):
    rules = _rules(tmp_path, "max_shared_strings_mb = 0.01")
    path = xlsx(tmp_path / "big.xlsx", '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["单位名称" * 1000, "x"])
    problem = refused(path, rules)
    assert problem.rule_id == "file.suspicious" and "共享字符串表" in problem.message and "超过上限" in problem.message


@pytest.mark.parametrize("where", ["shared", "inline", "ods"])
def test_a_cell_longer_than_the_limit_is_refused(tmp_path, where):
    text = prose(150_000)
    if where == "shared":
        path = xlsx(tmp_path / "x.xlsx", '<row r="1"><c r="A1" t="s"><v>0</v></c></row>', [text])
    elif where == "inline":
        path = xlsx(tmp_path / "x.xlsx", f'<row r="1"><c r="A1" t="inlineStr"><is><t>{text}</t></is></c></row>')
    else:
        path = ods(tmp_path / "x.ods", f"<text:p>{text}</text:p>")
    problem = refused(path)
    assert problem.rule_id == "file.suspicious"
    assert "单元格文字长达 150,00" in problem.message and "超过上限 100,000" in problem.message


def test_ods_repeated_text_counts_every_repeat(tmp_path):
    problem = refused(ods(tmp_path / "x.ods", "<text:p>" + prose(30_000) + "</text:p>", rows=10, columns=100))
    assert problem.rule_id == "file.suspicious" and "单元格文字合计" in problem.message


def _rules(tmp_path: Path, limits: str):
    path = tmp_path / "rules.toml"
    path.write_text(f"[limits]\n{limits}\n", encoding="utf-8")
    return load_rules(path)


@pytest.mark.parametrize("key", ["max_shared_strings_mb", "max_cell_chars", "max_text_chars"])
def test_text_limits_are_rules_and_must_be_positive(tmp_path, key):
    assert RULES.limit(key) > 0
    with pytest.raises(RulesError, match=f"limits.{key} 必须大于 0"):
        _rules(tmp_path, f"{key} = 0")


def test_the_reference_case_reads_under_tight_text_limits(tmp_path, good_file):
    """The limits leave room: an ordinary submission is far below them."""
    rules = _rules(tmp_path, "max_text_chars = 100000\nmax_cell_chars = 1000\nmax_shared_strings_mb = 1")
    assert open_workbook(good_file.read_bytes(), rules).sheets


# --- discovery: nothing that looks like a submission vanishes ---------------------------------------------------------


def test_archives_and_other_tables_are_named_not_counted(tmp_path):
    good = write(tmp_path, reference(), "620101.xlsx")
    for name in ("收件.zip", "收件.RAR", "收件.7z"):
        (tmp_path / name).write_bytes(good.read_bytes())  # an archive is refused by name, whatever it holds
    (tmp_path / "模板.xltx").write_bytes(good.read_bytes())
    (tmp_path / "导出.csv").write_text("a,b\n", encoding="utf-8")
    (tmp_path / "说明.docx").write_bytes(b"PK\x03\x04")
    age(*tmp_path.iterdir())
    found = discover(tmp_path, settle_seconds=120)
    assert found.skipped == {"非表格文件": 1}
    r = evaluate(found.files, RULES, year=2021)
    for name in ("收件.zip", "收件.RAR", "收件.7z"):
        assert findings_of(r, name) == [("file.archive", "错误")] and status(r, name) == "无法使用"
    for name in ("模板.xltx", "导出.csv"):
        assert findings_of(r, name) == [("file.unsupported", "错误")] and status(r, name) == "无法使用"
    messages = dict(zip(r.findings["file"], r.findings["message"]))
    assert "请解压后提交各表格" in messages["收件.zip"] and "（.7z）" in messages["收件.7z"]
    assert "CSV" in messages["导出.csv"] and "另存为" in messages["模板.xltx"]
    assert status(r, "620101.xlsx") == "已采用" and r.error_files == 5


def test_an_archive_is_refused_even_when_the_cache_knows_its_content(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    good = write(src, reference(), "620101.xlsx")
    age(good)
    assert run(src, out, 2021, RULES, settle=0).exit_code == 0
    (src / "620101.zip").write_bytes(good.read_bytes())
    age(src / "620101.zip")
    second = run(src, out, 2021, RULES, settle=0)
    assert second.exit_code == 1
    assert findings_of(second.result, "620101.zip") == [("file.archive", "错误")]
    assert list(second.result.depts["file"]) == ["620101.xlsx"]


def test_a_folder_that_cannot_be_listed_is_an_error_naming_it(tmp_path, monkeypatch):
    src = tmp_path / "in"
    write(src, reference(), "620101.xlsx")
    (src / "二处").mkdir()
    write(src / "二处", reference(dept_code="620102"), "620102.xlsx")
    age(*src.rglob("*.xlsx"))
    real = os.scandir

    def refuse(path="."):
        if os.fspath(path).endswith("二处"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)
    outcome = run(src, tmp_path / "out", 2021, RULES, settle=0, jobs=1)
    r = outcome.result
    assert findings_of(r, "二处/") == [("folder.unreadable", "错误")]
    message = r.findings.loc[r.findings["file"] == "二处/", "message"].item()
    assert "无法列出文件夹“二处/”中的文件（没有读取权限）" in message
    assert status(r, "二处/") == "无法使用" and outcome.exit_code == 1
    assert list(r.depts["dept_code"]) == ["620101"]


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="permissions do not keep root (or Windows ACLs) from listing a folder")
def test_a_folder_without_permission_is_named(tmp_path):
    (tmp_path / "锁定").mkdir()
    (tmp_path / "锁定").chmod(0)
    try:
        found = discover(tmp_path)
    finally:
        (tmp_path / "锁定").chmod(0o755)
    assert [(f.name, f.problem[0]) for f in found.files] == [("锁定/", "folder.unreadable")]


def test_a_path_past_260_characters_is_read_and_noted(tmp_path):
    deep = tmp_path.joinpath(*["很长的文件夹名称" * 4] * 8)
    path = write(deep, reference(), "620101.xlsx")
    age(path)
    assert len(str(path)) >= 260
    r = evaluate(discover(tmp_path).files, RULES, year=2021)
    name = path.relative_to(tmp_path).as_posix()
    # sheet by sheet (issue 20): 基本信息 B16, then 项目 E2 (警告 before 提示); the note from discovery last
    assert findings_of(r, name) == [("arith.rounding", "提示"), ("score.exec_mismatch", "警告"), ("arith.rounding", "提示"),
                                    ("file.long_path", "提示")]
    assert f"长 {len(str(path))} 个字符，超过 Windows 的 260 个字符限制" in r.findings["message"].iloc[-1]
    assert list(r.depts["total"]) == [90.56]


@pytest.mark.parametrize("given, extended", [
    ("C:\\收件\\a.xlsx", "\\\\?\\C:\\收件\\a.xlsx"),
    ("\\\\fileserver\\绩效自评\\收件", "\\\\?\\UNC\\fileserver\\绩效自评\\收件"),
    ("\\\\?\\C:\\收件", "\\\\?\\C:\\收件"),
    ("C:/收件/sub/../a.xlsx", "\\\\?\\C:\\收件\\a.xlsx"),
])
def test_windows_paths_get_their_extended_length_form(given, extended):
    assert extended_path(given, windows=True) == extended
    assert extended_path(given, windows=False) == given


def test_a_future_time_beyond_the_settle_window_is_read_with_a_note(tmp_path):
    skewed = write(tmp_path, reference(), "620101.xlsx")
    fresh = write(tmp_path, reference(dept_code="620102"), "620102.xlsx")
    now = time.time()
    os.utime(skewed, (now + 3 * 3600,) * 2)  # the file server's clock three hours ahead
    os.utime(fresh, (now + 60,) * 2)  # within the window: may still be copying
    found = discover(tmp_path, settle_seconds=120, now=now)
    assert [f.name for f in found.files] == ["620101.xlsx"] and [f.name for f in found.pending] == ["620102.xlsx"]
    r = evaluate(found.files, RULES, year=2021, pending=found.pending)
    assert ("file.clock_skew", "提示") in findings_of(r, "620101.xlsx")
    message = r.findings.loc[r.findings["rule_id"] == "file.clock_skew", "message"].item()
    assert "比本机当前时间晚 3 小时" in message and "时钟不一致" in message and "照常处理" in message
    assert list(r.depts["dept_code"]) == ["620101"]


def test_settle_zero_takes_a_slightly_future_file_with_a_note(tmp_path):
    path = write(tmp_path, reference(), "620101.xlsx")
    now = time.time()
    os.utime(path, (now + 5,) * 2)
    found = discover(tmp_path, settle_seconds=0, now=now)
    assert [f.name for f in found.files] == ["620101.xlsx"] and found.pending == []
    assert [rule for rule, _ in found.files[0].notes] == ["file.clock_skew"]


def test_file_times_that_cannot_be_converted_are_blank(tmp_path, monkeypatch):
    assert local_time(1e20) == "" and local_time(-1e20) == ""
    assert local_time(0) == dt.datetime.fromtimestamp(0).strftime("%Y-%m-%d %H:%M:%S")

    class WindowsDatetime(dt.datetime):
        @classmethod
        def fromtimestamp(cls, t, tz=None):
            if t < 0:  # what Windows raises for a FILETIME before 1970
                raise OSError(22, "Invalid argument")
            return super().fromtimestamp(t, tz)

    monkeypatch.setattr(B.dt, "datetime", WindowsDatetime)
    path = write(tmp_path, reference(), "620101.xlsx")
    os.utime(path, (OLD, OLD))
    found = discover(tmp_path)
    found.files[0].mtime = -11_644_473_600.0  # FILETIME 0, as some NAS report it
    r = evaluate(found.files, RULES, year=2021)
    out = write_workbook(r, tmp_path / "out.xlsx", rules=RULES)
    rows = list(openpyxl.load_workbook(out)["运行信息"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row and row[0] == "文件")
    file_row = dict(zip(rows[header], rows[header + 1]))
    assert file_row["文件"] == "620101.xlsx" and file_row["修改时间"] in (None, "")

"""The reader against broken and hostile files (tests/faults.py makes them).

The promise of evalbatch.reader: a bad file raises `FileProblem` with the right rule id and a
Chinese message for the department, and nothing else; hostile files are refused before any
parser inflates them; the format comes from the bytes, never from the file name.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import faults
import pytest

from evalbatch.read.parse import normalise
from evalbatch.read.reader import FileProblem, open_workbook, read_bytes, sniff

CJK = re.compile(r"[\u4e00-\u9fff]")
SHEETS = ["填报说明", "基本信息", "整体指标", "项目", "项目指标", "项目支出明细"]


@pytest.fixture(scope="module")
def fault_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


def assert_problem(exc: FileProblem, rule_id: str | set[str]) -> None:
    wanted = {rule_id} if isinstance(rule_id, str) else rule_id
    assert exc.rule_id in wanted, f"rule {exc.rule_id!r}, expected {wanted}: {exc.message}"
    assert exc.message and CJK.search(exc.message), f"message is not Chinese: {exc.message!r}"
    assert str(exc) == exc.message


# (factory, rule id, what sniff() says, a word the message must contain so the user knows what to do)
BROKEN = {
    "truncated": (faults.truncated, "file.truncated", "zip", "不完整"),
    "text_as_xlsx": (faults.text_as_xlsx, "file.not_spreadsheet", "other", "不是"),
    # An HTML table saved as .xls is now read (tests/test_formats_io.py); a page with no
    # table at all is still no spreadsheet, and the message still says it is a web page.
    "html_page_as_xls": (faults.html_page_as_xls, "file.not_spreadsheet", "html", "网页"),
    "pdf_as_xlsx": (faults.pdf_as_xlsx, "file.not_spreadsheet", "other", "PDF"),
    "encrypted": (faults.encrypted, "file.encrypted", "ole", "密码"),
    "not_a_workbook_zip": (faults.not_a_workbook_zip, "file.not_spreadsheet", "zip", "不是"),
    "lock_file": (faults.lock_file, "file.not_spreadsheet", "other", "不是"),
    "many_entries_zip": (faults.many_entries_zip, "file.suspicious", "zip", "恶意"),
}


@pytest.fixture(scope="module")
def broken(fault_dir):
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = BROKEN[name][0](fault_dir / name)
        return made[name]

    for name in BROKEN:
        (fault_dir / name).mkdir()
    return get


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_is_refused_with_its_rule(name, broken, rules):
    _, rule_id, _, word = BROKEN[name]
    path = broken(name)
    with pytest.raises(FileProblem) as info:
        open_workbook(read_bytes(path, rules), rules)
    assert_problem(info.value, rule_id)
    assert word in info.value.message


@pytest.mark.parametrize("name", list(BROKEN))
def test_sniff_names_the_container_from_the_bytes(name, broken):
    assert sniff(broken(name).read_bytes()) == BROKEN[name][2]


def test_faults_are_what_they_claim(broken):
    """The kit itself: guard against a fault that silently stopped being that fault."""
    import msoffcrypto

    with open(broken("encrypted"), "rb") as f:
        assert msoffcrypto.OfficeFile(f).is_encrypted()
    good_size = faults.good(broken("truncated").parent / "_cmp").stat().st_size
    assert broken("truncated").stat().st_size == good_size // 2
    assert broken("lock_file").name == "~$good.xlsx" and broken("lock_file").stat().st_size == 165
    assert zipfile.is_zipfile(broken("not_a_workbook_zip"))
    assert broken("pdf_as_xlsx").read_bytes().startswith(b"%PDF-")


def test_empty_file_is_refused_before_reading(fault_dir, rules):
    path = faults.empty(fault_dir)
    with pytest.raises(FileProblem) as info:
        read_bytes(path, rules)
    assert_problem(info.value, "file.empty")
    assert sniff(b"") == "other"
    with pytest.raises(FileProblem) as info:
        open_workbook(b"", rules)
    assert_problem(info.value, "file.not_spreadsheet")


def test_oversized_file_is_refused_without_being_read(tmp_path, rules):
    path = faults.oversized(tmp_path, mb=rules.limit("max_file_mb") + 1)
    tracemalloc.start()
    try:
        with pytest.raises(FileProblem) as info:
            read_bytes(path, rules)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(info.value, "file.too_large")
    assert peak < 5 * 1024 * 1024, f"read {peak / 1e6:.0f} MB of a file it should refuse unread"


def test_missing_file_is_a_file_problem(tmp_path, rules):
    with pytest.raises(FileProblem) as info:
        read_bytes(tmp_path / "gone.xlsx", rules)
    assert_problem(info.value, "file.unreadable")


def test_html_with_bom_is_not_a_spreadsheet(tmp_path, rules):
    # A page without a table: html_as_xls's table is now read as a sheet.
    path = faults.html_page_as_xls(tmp_path, bom=True)
    with pytest.raises(FileProblem) as info:
        open_workbook(path.read_bytes(), rules)
    assert_problem(info.value, "file.not_spreadsheet")


def test_html_with_bom_gets_the_web_page_message(tmp_path, rules):
    """Many Windows exporters start their HTML with a UTF-8 BOM; it is still a web page
    (one without a table: html_as_xls's table is now read as a sheet)."""
    path = faults.html_page_as_xls(tmp_path, bom=True)
    with pytest.raises(FileProblem) as info:
        open_workbook(path.read_bytes(), rules)
    assert "网页" in info.value.message, info.value.message


# --- zip bombs: refused from the central directory, fast, without inflating ----------------


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    return {
        # Over max_uncompressed_mb (200 MB): refused on size.
        500: faults.zip_bomb(d, uncompressed_mb=500),
        # Under the size limit, but ~1000:1: refused on the compression ratio.
        100: faults.zip_bomb(d, uncompressed_mb=100),
    }


@pytest.mark.parametrize("mb", [500, 100])
def test_zip_bomb_is_refused_fast_and_without_inflating(mb, bombs, rules):
    path = bombs[mb]
    assert path.stat().st_size < 1024 * 1024, "the bomb itself must be small on disk"
    declared = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    assert declared >= mb * 1024 * 1024
    data = path.read_bytes()
    assert sniff(data) == "zip"

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(FileProblem) as info:
            open_workbook(data, rules)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(info.value, "file.suspicious")
    assert "炸弹" in info.value.message
    # Safety properties, not benchmarks: inflating would take seconds and hundreds of MB.
    assert elapsed < 2.0, f"took {elapsed:.2f} s: was the bomb inflated?"
    assert peak < 50 * 1024 * 1024, f"Python peak {peak / 1e6:.0f} MB: was the bomb inflated?"


_CHILD = r"""
import resource, sys, time
from pathlib import Path
from evalbatch.read.reader import FileProblem, open_workbook
from evalbatch.rules import load_rules
rules = load_rules()
open_workbook(Path(sys.argv[2]).read_bytes(), rules)  # warm up: imports, first allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = Path(sys.argv[1]).read_bytes()
t0 = time.perf_counter()
try:
    open_workbook(data, rules)
    print("ACCEPTED")
except FileProblem as e:
    print("REFUSED", e.rule_id)
print(time.perf_counter() - t0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_bomb_with_lying_sizes_is_refused_without_inflating(tmp_path, good_file):
    """A bomb whose central directory declares 4 KB for 300 MB: the directory check cannot
    see it; the read must still stop at the declared size. Measured in a child process by
    its peak RSS, because calamine allocates outside Python (tracemalloc cannot see it)."""
    path = faults.lying_zip_bomb(tmp_path, uncompressed_mb=300)
    assert path.stat().st_size < 1024 * 1024
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(good_file)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict, seconds, grew_mb = proc.stdout.split("\n")[:3]
    assert verdict.startswith("REFUSED"), verdict
    assert float(seconds) < 2.0, f"took {seconds} s"
    assert float(grew_mb) < 100, f"peak RSS grew by {grew_mb} MB"


# --- macros, good files, format from bytes ---------------------------------------------------


def test_macro_workbook_reads_with_a_macro_note(fault_dir, rules):
    path = faults.macro_xlsm(fault_dir)
    assert path.suffix == ".xlsm"
    data = path.read_bytes()
    assert sniff(data) == "zip"
    wb = open_workbook(data, rules)
    assert wb.kind == "xlsx"
    assert [rule for rule, _ in wb.notes] == ["file.macro"]
    assert CJK.search(wb.notes[0][1])
    assert list(wb.sheets) == SHEETS
    sub = normalise(wb, path.name)
    found = sub.findings_frame()
    assert list(found["rule_id"]) == ["file.macro"]
    assert not sub.has_error
    assert sub.info["dept_code"] == "620101"


def test_good_workbook_reads_cleanly(good_file, rules):
    data = read_bytes(good_file, rules)
    assert sniff(data) == "zip"
    wb = open_workbook(data, rules)
    assert wb.kind == "xlsx" and wb.notes == []
    assert list(wb.sheets) == SHEETS
    sub = normalise(wb, good_file.name)
    assert not sub.has_error, sub.findings_frame()
    assert sub.findings_frame().empty


@pytest.mark.libreoffice
def test_ole_xls_named_xlsx_reads_by_its_bytes(lo_convert, good_file, tmp_path, rules):
    """A department saves as .xls and renames it good.xlsx: read as what it is."""
    disguised = faults.renamed(lo_convert("xls"), tmp_path, "good.xlsx")
    data = read_bytes(disguised, rules)
    assert sniff(data) == "ole"
    wb = open_workbook(data, rules)
    assert wb.kind == "xls"
    assert list(wb.sheets) == SHEETS
    sub = normalise(wb, disguised.name)
    original = normalise(open_workbook(good_file.read_bytes(), rules), good_file.name)
    assert sub.info == original.info
    assert not sub.has_error, sub.findings_frame()


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt, container, kind", [("xls", "ole", "xls"), ("ods", "zip", "ods")])
def test_sniff_and_kind_of_libreoffice_formats(fmt, container, kind, lo_convert, rules):
    data = lo_convert(fmt).read_bytes()
    assert sniff(data) == container
    assert open_workbook(data, rules).kind == kind


# --- damage inside a container the first bytes accept -----------------------------------------

CUTS = [i / 16 for i in range(1, 16)]


def _outcomes(data: bytes, rules) -> dict[float, str]:
    """fraction → rule id, "read" or the name of any other exception that escaped."""
    out = {}
    for frac in CUTS:
        try:
            open_workbook(data[: int(len(data) * frac)], rules)
            out[frac] = "read"
        except FileProblem as exc:
            assert CJK.search(exc.message)
            out[frac] = exc.rule_id
        except BaseException as exc:  # noqa: BLE001 - the point is to see what escapes
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            out[frac] = f"escaped {type(exc).__module__}.{type(exc).__name__}: {exc}"
    return out


def test_xlsx_cut_anywhere_is_truncated(good_file, rules):
    outcomes = _outcomes(good_file.read_bytes(), rules)
    assert set(outcomes.values()) == {"file.truncated"}, outcomes


@pytest.mark.libreoffice
def test_ods_cut_anywhere_is_truncated(lo_convert, rules):
    outcomes = _outcomes(lo_convert("ods").read_bytes(), rules)
    assert set(outcomes.values()) == {"file.truncated"}, outcomes


@pytest.mark.libreoffice
def test_xls_cut_anywhere_raises_only_file_problem(lo_convert, rules):
    outcomes = _outcomes(lo_convert("xls").read_bytes(), rules)
    escaped = {f: o for f, o in outcomes.items() if o.startswith("escaped")}
    assert not escaped, escaped


@pytest.mark.libreoffice
def test_xls_cut_anywhere_is_truncated(lo_convert, rules):
    outcomes = _outcomes(lo_convert("xls").read_bytes(), rules)
    assert set(outcomes.values()) == {"file.truncated"}, outcomes


def test_corrupted_xlsx_member_is_a_file_problem(good_file, tmp_path, rules):
    """Bytes flipped inside the compressed data, directory intact (a bad disk or transfer)."""
    data = bytearray(good_file.read_bytes())
    info = zipfile.ZipFile(good_file).getinfo("xl/worksheets/sheet2.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 10, start + 60):
        data[k] ^= 0xFF
    with pytest.raises(FileProblem) as exc:
        open_workbook(bytes(data), rules)
    assert_problem(exc.value, {"file.truncated", "file.unreadable"})


@pytest.mark.libreoffice
def test_xls_mentioning_encryptioninfo_is_not_encrypted(tmp_path, lo_convert, rules):
    from evalbatch.samples.reference import reference_case

    case = reference_case()
    case["indicators"][5]["reason"] = "导出字段 EncryptionInfo 为空，已人工核对"
    src = faults.good(tmp_path, "mentions.xlsx", data=case)
    data = lo_convert("xls", src).read_bytes()
    assert "EncryptionInfo".encode("utf-16-le") in data  # the premise of the test
    wb = open_workbook(data, rules)
    assert wb.kind == "xls"


def test_xml_entities_are_never_expanded(tmp_path, rules):
    """A billion-laughs shared-strings part is refused at once, in little memory."""
    path = faults.entity_bomb(tmp_path)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(FileProblem) as info:
        open_workbook(path.read_bytes(), rules)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_problem(info.value, "file.truncated")
    assert elapsed < 2 and peak < 50 * 1024 * 1024

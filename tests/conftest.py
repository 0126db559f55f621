"""Shared test set-up: tests/ on sys.path (for `from faults import ...`) and shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import faults  # noqa: E402

NO_LIBREOFFICE = "LibreOffice (soffice) is not installed; install libreoffice-calc-nogui to test .xls/.ods input"


@pytest.fixture(scope="session")
def rules():
    from evalbatch.rules import load_rules

    return load_rules()


@pytest.fixture(scope="session")
def good_file(tmp_path_factory) -> Path:
    """The reference case as written by the template writer (read-only: copy before damaging)."""
    return faults.good(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="session")
def lo_convert(tmp_path_factory, good_file):
    """`lo_convert(fmt, src=None)`: `src` (default: the good file) saved by LibreOffice as
    `fmt`. Each conversion runs once per session and is cached; skips when LibreOffice is
    missing."""
    cache: dict[tuple[str, str], Path] = {}
    base = tmp_path_factory.mktemp("libreoffice")

    def convert(fmt: str, src: Path | None = None) -> Path:
        if not faults.have_libreoffice():
            pytest.skip(NO_LIBREOFFICE)
        src = Path(src or good_file)
        key = (str(src), fmt)
        if key not in cache:
            out = base / f"{len(cache)}"
            cache[key] = faults.via_libreoffice(src, fmt, out)
        return cache[key]

    return convert


@pytest.fixture
def no_hang():
    """A hang is a test failure after 60 s, not a test run that never ends (POSIX: SIGALRM)."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hung(*_):
        raise TimeoutError("hung: no answer within 60 s")

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)

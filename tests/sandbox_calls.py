"""Functions run in sandbox workers by tests/test_sandbox.py: importable by a spawned child."""

from __future__ import annotations

import time


def allocate(mb: int) -> int:
    return len(bytearray(mb * 1024 * 1024))


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def spin(seconds: float) -> int:
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def fail() -> None:
    raise ValueError("不是数字")


def add(a: int, b: int) -> int:
    return a + b


def calamine_read(data: bytes) -> int:
    """Every sheet read by python-calamine alone, no pre-scan: what a crafted file does to it."""
    import io

    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return sum(len(wb.get_sheet_by_name(name).to_python()) for name in wb.sheet_names)


def address_space() -> tuple[int, bool]:
    """(VmSize in MB, whether pyarrow is imported) of the worker: what its memory limit leaves."""
    import sys

    size = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize"))
    return size // 1024, "pyarrow" in sys.modules


def make_text() -> str:
    import pandas as pd

    return str(pd.Series(["单位", "名称"]).dtype)


def beating(seconds: float) -> str:
    """Work of `seconds` that says it is alive (a heartbeat) every tenth of a second."""
    from evalbatch.read.sandbox import heartbeat

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        heartbeat()
        time.sleep(0.1)
    return "done"


def reads_here() -> bool:
    """Whether read/load.py would read in this process rather than start a pool."""
    from evalbatch.read import load

    return load._here()

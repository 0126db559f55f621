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

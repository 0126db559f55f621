"""Checks run in the web's check workers by tests/test_web.py in place of the real one:
top-level functions, importable by a spawned worker."""

from __future__ import annotations

import os
import socket
import time

from evalbatch.web.worker import check_files


def sleeper(*_check) -> None:
    time.sleep(600)


def glutton(*_check) -> bytearray:
    return bytearray(8 * 1024**3)


def held(address: tuple[str, int], *check) -> dict:
    """The real check, once the test lets it go: it connects to the test's listener, says which
    worker it runs in (its pid) and waits for one byte."""
    with socket.create_connection(address) as conn:
        conn.sendall(b"%d\n" % os.getpid())
        if conn.recv(1) != b"g":
            raise RuntimeError("the test went away")
    return check_files(*check)


def slow_echo(x: str) -> tuple:
    """A check that takes a moment: long enough for others to queue behind it. "bad" raises."""
    time.sleep(0.5)
    if x == "bad":
        raise ValueError("a hostile upload")
    return ("alone", x)


def _slow_echo_together(calls: list[tuple]) -> list[tuple]:
    """slow_echo's form for several calls; a batch holding "die" kills its worker."""
    if any(call == ("die",) for call in calls):
        os._exit(1)
    return [("together", len(calls), *call) for call in calls]


slow_echo.together = _slow_echo_together


def quick(x: str) -> str:
    """A call that cannot join others (no `together`), such as a feedback workbook's."""
    return x

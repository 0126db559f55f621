"""The check of an upload, in a warm sandboxed worker under a time and memory limit.

`Checks` is the one place the server runs untrusted parsing: a pool of `concurrent_checks`
worker processes, the batch's own sandbox (read/sandbox.py: RLIMIT_AS and RLIMIT_CPU on POSIX,
a Job Object with a memory limit on Windows, a wall-clock deadline everywhere), started with
the server and reused from check to check, so a check never waits for Python and pandas to
start. The limits are per check, not per file (`renew=False`). A worker that dies, is killed or
runs out of memory fails its own check only and is replaced at once. The worker is the
upload's sandbox: it reads the files itself, not through a further pool (read/load.py).

At most `concurrent_checks` checks run; `waiting_checks` more wait their turn; beyond that a
request is turned away with `Busy` rather than queued without bound. The event loop never
waits on a worker: a thread of the server's thread pool does, one per running check.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from pathlib import Path

from anyio import to_thread

from .. import findings as F
from ..judge.evaluate import evaluate
from ..read import sandbox
from ..read.discover import records_for
from ..rules import Rules
from ..values import one_code
from ..write.feedback import FEEDBACK_DIR, write_feedback

log = logging.getLogger("evalbatch")
# What a worker imports before its first check (and before its memory limit): the check itself.
PRELOAD = ("evalbatch.web.worker",)


class CheckFailed(Exception):
    """The check of an upload did not finish; `message` is for the unit, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Busy(Exception):
    """Every worker is checking and the queue is full."""


def limits_from(rules: Rules) -> sandbox.Limits:
    seconds = rules.web("check_seconds")
    return sandbox.Limits(memory_mb=rules.web("check_memory_mb"), cpu_seconds=seconds, wall_seconds=seconds)


def failure_message(failure: sandbox.SandboxFailure) -> str:
    """What the unit reads when its check's worker ran out of time or memory, or died."""
    if failure.kind == "time":
        return f"检查超过时间上限（{failure.detail}）仍未完成（文件可能过大或异常），已停止；请检查文件后重试"
    if failure.kind == "memory":
        return f"检查时占用的内存超过上限（{sandbox.size_text(failure.limits.memory_mb)}），已停止（文件可能异常或被构造）；请检查文件后重试"
    return f"检查进程意外终止（{failure.detail}），已停止；请重试，如仍失败请检查文件"


class Checks:
    """The server's check workers and their queue."""

    def __init__(self, rules: Rules):
        self.limits = limits_from(rules)
        self.width = int(rules.web("concurrent_checks"))
        self.capacity = self.width + int(rules.web("waiting_checks"))
        self.box = sandbox.Sandbox(self.width, self.limits, preload=PRELOAD, renew=False)
        self.in_flight = 0  # running or waiting; changed only on the event loop
        self._turns: asyncio.Semaphore | None = None

    def start(self) -> None:
        """Start the workers now (the server's start-up), not at the first check."""
        self.box.start()

    def close(self) -> None:
        self.box.close()

    async def run(self, fn, *args):
        """`fn(*args)` in a worker, in turn: its result; `Busy` when the queue is full,
        `CheckFailed` when it overran its limits, its worker died, or it raised."""
        if self.in_flight >= self.capacity:
            raise Busy()
        self.in_flight += 1
        try:
            async with self._semaphore():
                return await to_thread.run_sync(self._call, fn, args)
        finally:
            self.in_flight -= 1

    def _semaphore(self) -> asyncio.Semaphore:
        # Made on the serving loop at first use: a semaphore belongs to the loop that waits on it.
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.width)
        return self._turns

    def _call(self, fn, args):
        """In a thread of the server's pool: the call in a worker, its failure as CheckFailed."""
        self.box.start()
        try:
            return self.box.run(fn, *args)
        except sandbox.SandboxFailure as failure:
            log.warning("网页检查的工作进程失败：%s", failure.message)
            raise CheckFailed(failure_message(failure)) from None
        except Exception as exc:  # one upload's failure is its own page, never the server's
            log.exception("网页检查时出现意外错误")
            raise CheckFailed(f"检查时出现意外错误（{type(exc).__name__}），请把文件另存为 .xlsx 后重试") from None


# --- what the child does ---------------------------------------------------------------------

_CELL = re.compile(r"([A-Z]+)(\d+)")


def cell_key(cell: object) -> tuple[int, int]:
    """(row, column) of a cell reference such as "B12" or "B12:D12"; blanks first."""
    m = _CELL.match(str(cell or "").upper())
    if not m:
        return (0, 0)
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return (int(m.group(2)), col)


def _plain(v):
    """JSON-safe: NaN and pandas' NA as None, numpy scalars as Python numbers."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    try:
        if v != v:
            return None
    except (TypeError, ValueError):
        return None
    return v


def _rows(df, columns: list[str]) -> list[dict]:
    present = [c for c in columns if c in df.columns]
    return [{c: _plain(v) for c, v in zip(present, row)} for row in df[present].itertuples(index=False)]


def check_files(folder: str, files: list[tuple[str, str]], rules: Rules, year: int | None) -> dict:
    """The check of uploaded files saved in `folder` under server-made names: `files` is
    [(server-made file name, the name the unit knows)]. What `evalbatch check` shows, as plain
    data, and the feedback workbooks written in folder/feedback/."""
    paths = [Path(folder) / made for made, _ in files]
    records = records_for(paths)
    for rec, (_, shown) in zip(records, files):
        rec.name = shown
    result = evaluate(records, rules, year=year)
    written = write_feedback(result, folder, rules)
    order = {rec.name: i for i, rec in enumerate(records)}
    found = result.findings
    found = found.assign(_f=found["file"].map(order).fillna(len(order)), _s=found["sheet"].fillna(""),
                         _c=found["cell"].map(cell_key))
    found = found.sort_values(["_f", "_s", "_c"], kind="stable")
    counts = found["level"].value_counts()
    return {
        "files": [{"name": r.name, "sha256": r.sha256, "status": r.status, "dept_code": one_code(r.dept_code) or "", "layout": r.layout}
                  for r in result.records],
        "depts": _rows(result.depts, ["file", "dept_code", "dept_name", "total", "grade", "self_total", "errors", "warnings", "notes"]),
        "findings": _rows(found, ["file", "sheet", "cell", "level", "rule_id", "rule", "message"]),
        "counts": {level: int(counts.get(level, 0)) for level in F.LEVELS},
        "feedback": [str(Path(p).relative_to(folder).as_posix()) for p in written],
        "feedback_dir": FEEDBACK_DIR,
    }

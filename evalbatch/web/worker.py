"""The check of an upload, in a warm sandboxed worker under a time and memory limit.

`Checks` is the one place the server runs untrusted parsing: a pool of `concurrent_checks`
worker processes, the batch's own sandbox (read/sandbox.py: RLIMIT_AS and RLIMIT_CPU on POSIX,
a Job Object with a memory limit on Windows, a wall-clock deadline everywhere), started with
the server and reused from check to check, so a check never waits for Python and pandas to
start. The limits are per check, not per file (`renew=False`). A worker that dies, is killed or
runs out of memory fails its own check only and is replaced at once. The worker is the
upload's sandbox: it reads the files itself, not through a further pool (read/load.py).

At most `concurrent_checks` workers are busy; `waiting_checks` more checks wait their turn;
beyond that a request is turned away with `Busy` rather than queued without bound. A worker
that comes free takes the waiting checks together (`check_together`, at most MAX_TOGETHER):
a check's cost is mostly fixed (pandas' per-call overhead), so under load the checks of many
units cost little more than one, and the queue drains instead of growing. Each unit gets its
own result only: the batch's is split by file, and uploads that could meet (a file name or a
单位编码 in two of them) are evaluated apart. The event loop never waits on a worker: a thread
of the server's thread pool does, one per busy worker.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from anyio import to_thread

from .. import findings as F
from ..judge.evaluate import BatchResult, evaluate
from ..read import sandbox
from ..read.discover import FileRecord, records_for
from ..read.fileids import ids_from_name
from ..rules import Rules
from ..values import one_code
from ..write.feedback import FEEDBACK_DIR, feedback_paths, write_feedback

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


# Checks waiting together are evaluated in one call, at most this many (a batch of 8 costs
# about what 1.5 checks cost alone) and at most one upload's size in all: a batch is never
# more than the largest check may be, so it runs under one check's limits.
MAX_TOGETHER = 8


@dataclass
class _Call:
    fn: Callable
    args: tuple
    size: int  # bytes the call reads
    result: asyncio.Future


def _joins(call: _Call) -> bool:
    """Whether the call is one of several that may run together (`fn.together`)."""
    return getattr(call.fn, "together", None) is not None


class Checks:
    """The server's check workers and their queue."""

    def __init__(self, rules: Rules):
        self.limits = limits_from(rules)
        self.width = int(rules.web("concurrent_checks"))
        self.capacity = self.width + int(rules.web("waiting_checks"))
        self.max_bytes = int(rules.web("max_upload_mb") * 1024 * 1024)
        self.box = sandbox.Sandbox(self.width, self.limits, preload=PRELOAD, renew=False)
        self.in_flight = 0  # running or waiting; changed only on the event loop
        self._waiting: collections.deque[_Call] = collections.deque()  # on the event loop only
        self._free = self.width
        self._batching = 0  # running calls that checks could have joined
        self._serving: set[asyncio.Task] = set()

    def start(self) -> None:
        """Start the workers now (the server's start-up), not at the first check."""
        self.box.start()

    def close(self) -> None:
        self.box.close()

    async def run(self, fn, *args, size: int = 0, urgent: bool = False):
        """`fn(*args)` in a worker, in turn: its result; `Busy` when the queue is full,
        `CheckFailed` when it overran its limits, its worker died, or it raised. Calls of a
        function with a form for several (`fn.together`) that wait together run together;
        `size` is what the call reads, in bytes. An `urgent` call (a submission's feedback
        workbook: a unit waits on it, and refusing it would lose the submission) goes before
        every waiting check and is never turned away."""
        if self.in_flight >= self.capacity and not urgent:
            raise Busy()
        self.in_flight += 1
        try:
            call = _Call(fn, args, size, asyncio.get_running_loop().create_future())
            (self._waiting.appendleft if urgent else self._waiting.append)(call)
            self._dispatch()
            return await call.result
        finally:
            self.in_flight -= 1

    def _dispatch(self) -> None:
        """Waiting calls to each free worker."""
        while self._free and self._waiting:
            calls = self._take()
            if not calls:
                return
            self._free -= 1
            self._batching += _joins(calls[0])
            task = asyncio.get_running_loop().create_task(self._serve(calls))
            self._serving.add(task)  # held: the loop keeps only a weak reference to a task
            task.add_done_callback(self._serving.discard)

    def _take(self) -> list[_Call]:
        """The first waiting call that may start now and the waiting calls that may run with
        it (in their order). While checks are being evaluated together, the checks that
        arrive wait for that call to end and go together in the next, unless a whole batch
        waits: started beside it in a free worker, each would cost a check's whole fixed
        cost again. (At two checks a second, two workers that take one check each keep 1.5
        cores busy; one that takes what waited, under one, and no check waits longer than
        one batch.) Calls that cannot join (a feedback workbook) start in any free worker."""
        for call in [c for c in self._waiting if c.result.done()]:  # their requests went away
            self._waiting.remove(call)
        hold = self._batching and sum(map(_joins, self._waiting)) < MAX_TOGETHER
        first = next((c for c in self._waiting if not (hold and _joins(c))), None)
        if first is None:
            return []
        self._waiting.remove(first)
        taken, size = [first], first.size
        if not _joins(first):
            return taken
        for call in list(self._waiting):
            if len(taken) == MAX_TOGETHER:
                break
            if call.fn is first.fn and not call.result.done() and size + call.size <= self.max_bytes:
                self._waiting.remove(call)
                taken.append(call)
                size += call.size
        return taken

    async def _serve(self, calls: list[_Call]) -> None:
        outcomes: list = [CheckFailed("检查被中断（服务器正在停止），请稍后重试")] * len(calls)
        try:
            outcomes = await to_thread.run_sync(self._call_all, calls)
        finally:  # every waiting request gets an answer, even when the server stops meanwhile
            self._free += 1
            self._batching -= _joins(calls[0])
            for call, outcome in zip(calls, outcomes):
                if call.result.done():  # its request went away
                    continue
                if isinstance(outcome, BaseException):
                    call.result.set_exception(outcome)
                else:
                    call.result.set_result(outcome)
            self._dispatch()

    def _call_all(self, calls: list[_Call]) -> list:
        """In a thread of the server's pool: the calls in a worker, together when there are
        several; each one's result or CheckFailed. Calls that failed together (a hostile
        upload killed the worker, or the batch overran one check's limits) run again one at a
        time, each under its own limits, as the batch reader finds its culprit."""
        if len(calls) > 1:
            try:
                self.box.start()
                return self.box.run(calls[0].fn.together, [c.args for c in calls])
            except Exception as exc:  # noqa: BLE001 - each call is tried again alone
                log.warning("%d 个网页检查一并进行时失败（%s），逐个重新检查", len(calls), exc)
        return [self._one(c) for c in calls]

    def _one(self, call: _Call):
        try:
            return self._call(call.fn, call.args)
        except CheckFailed as exc:
            return exc

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


def _records(folder: str, files: list[tuple[str, str]]) -> list[FileRecord]:
    records = records_for([Path(folder) / made for made, _ in files])
    for rec, (_, shown) in zip(records, files):
        rec.name = shown
    return records


def check_files(folder: str, files: list[tuple[str, str]], rules: Rules, year: int | None) -> dict:
    """The check of uploaded files saved in `folder` under server-made names: `files` is
    [(server-made file name, the name the unit knows)]. What `evalbatch check` shows, as plain
    data, and the feedback workbooks written in folder/feedback/."""
    records = _records(folder, files)
    return _shown(evaluate(records, rules, year=year), records, folder, rules)


def check_together(calls: list[tuple]) -> list[dict]:
    """`check_files(*call)` for each call (one unit's upload each), evaluated together: the
    fixed cost of a check (pandas' per-call overhead, paid per column, not per row) is paid
    once for all. Uploads that could meet in one batch (a file name or a 单位编码 in two of
    them: one would supersede or join the other) are checked apart."""
    out: list = [None] * len(calls)
    for group in _groups(calls):
        records = [_records(*calls[i][:2]) for i in group]
        _, _, rules, year = calls[group[0]]
        result = evaluate([r for recs in records for r in recs], rules, year=year) if len(group) > 1 else None
        parts = [result.part(recs) for recs in records] if result is not None else []
        met = _met(records) if parts and _whole(result, parts) else set(range(len(group)))
        for k, i in enumerate(group):
            out[i] = check_files(*calls[i]) if k in met else _shown(parts[k], records[k], calls[i][0], rules)
    return out


check_files.together = check_together  # what Checks calls for several waiting checks at once


def _groups(calls: list[tuple]) -> list[list[int]]:
    """The calls in groups that may be evaluated together: the same rules and year, and no
    file name or 单位编码 in a file name shared by two calls of a group."""
    groups: list[tuple[list[int], set[str], tuple]] = []
    for i, (_, files, rules, year) in enumerate(calls):
        keys = {shown for _, shown in files} | {"code:" + code for code in (ids_from_name(shown)[0] for _, shown in files) if code}
        fit = next((g for g in groups if g[2] == (rules.digest, year) and not g[1] & keys), None)
        if fit is None:
            groups.append(([i], keys, (rules.digest, year)))
        else:
            fit[0].append(i)
            fit[1].update(keys)
    return [g[0] for g in groups]


def _met(records: list[list[FileRecord]]) -> set[int]:
    """The calls whose files share a 单位编码 (read from the contents, or a file name's) with
    another call's (a unit checking another's file): their departments met in the batch."""
    codes = [{c for r in recs for c in (r.dept_code, ids_from_name(r.name)[0]) if c} for recs in records]
    return {k for k, mine in enumerate(codes) if any(mine & other for j, other in enumerate(codes) if j != k)}


def _whole(result: BatchResult, parts: list[BatchResult]) -> bool:
    """Whether every row of the batch's result is in exactly one part (nothing lost or shared)."""
    tables = ("depts", "indicators", "projects", "findings")
    return all(sum(len(getattr(p, t)) for p in parts) == len(getattr(result, t)) for t in tables)


def _shown(result: BatchResult, records: list[FileRecord], folder: str, rules: Rules) -> dict:
    """What the unit's page shows of a check's result, as plain data; the feedback workbooks'
    paths in folder/feedback/, and under "kept" the result they are written from when first
    needed (`write_kept`): a workbook costs about 0.08 CPU-s, not shared by checks made
    together, and a unit that checks again before submitting never needs the first ones."""
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
        "feedback": _relative(feedback_paths(result, folder), folder),
        "feedback_dir": FEEDBACK_DIR,
        # Pickled here, read back only by a check worker (write_kept): to the server it is bytes.
        "kept": pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL),
    }


def write_kept(folder: str, kept: bytes, rules: Rules) -> list[str]:
    """The feedback workbooks of a check, written in folder/feedback/ from its kept result (on
    the unit's download or submission); their paths, relative to `folder`."""
    return _relative(write_feedback(pickle.loads(kept), folder, rules), folder)


def _relative(paths: list[Path], folder: str) -> list[str]:
    return [str(Path(p).relative_to(folder).as_posix()) for p in paths]

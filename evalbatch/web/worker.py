"""The check of an upload, in a child process under a time and memory limit.

`run_limited` is the one place the server runs untrusted parsing: a fresh spawned child per
upload, used for that upload only (started ahead of need, so its start-up is off the
request), RLIMIT_AS and RLIMIT_CPU on POSIX, a wall-clock limit enforced by the parent
everywhere (Windows has no rlimits: there the clock is the guard). The child is the upload's
sandbox: it reads the files itself (read.load.IN_PROCESS) rather than through a further pool.
The shape is that of read/sandbox.py's calls, for which the lead may swap it.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import findings as F
from ..judge.evaluate import evaluate
from ..read import load
from ..read.discover import records_for
from ..rules import Rules
from ..values import one_code
from ..write.feedback import FEEDBACK_DIR, write_feedback


class CheckFailed(Exception):
    """The check of an upload did not finish; `message` is for the unit, in Chinese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_mb: float

    @classmethod
    def from_rules(cls, rules: Rules) -> Limits:
        return cls(rules.web("check_seconds"), rules.web("check_memory_mb"))


def _limit(limits: Limits, cpu_used: float) -> None:
    try:
        import resource  # POSIX only; on Windows the parent's clock is the limit

        memory = int(limits.memory_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = math.ceil(cpu_used + limits.seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ImportError, ValueError, OSError):
        pass


def _cpu_used() -> float:
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    except ImportError:
        return 0.0


def _child(conn, limits: Limits) -> None:
    """A spare: imports done, it waits for its one call, runs it under the limits and exits."""
    # This process is the upload's sandbox: its files are read here, not in a further pool.
    load.IN_PROCESS = True
    try:
        fn, args = conn.recv()
    except (EOFError, OSError):
        return  # the server went away before using this spare
    _limit(limits, _cpu_used())
    try:
        conn.send(("ok", fn(*args)))
    except MemoryError:
        conn.send(("error", "文件读取时占用的内存超过限度（可能是异常或被构造的文件），已停止检查"))
    except Exception as exc:  # one upload's failure is its own page, never the server's
        conn.send(("error", f"检查时出现意外错误（{type(exc).__name__}），请把文件另存为 .xlsx 后重试"))
    finally:
        conn.close()


_spares: dict[Limits, list] = {}
_spares_lock = threading.Lock()


def _start(limits: Limits):
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=_child, args=(child, limits), daemon=True)  # daemon: gone with the server
    proc.start()
    child.close()
    return proc, parent


def _take(limits: Limits, spares: int):
    """A started child for one call; `spares` more are started ahead for the next calls, so
    a request does not wait for Python and pandas to start (about a second or more)."""
    with _spares_lock:
        ready = _spares.setdefault(limits, [])
        taken = None
        while ready and taken is None:
            proc, conn = ready.pop(0)
            taken = (proc, conn) if proc.is_alive() else None
        while len(ready) < spares:
            ready.append(_start(limits))
    return taken or _start(limits)


def run_limited(fn, *args, limits: Limits, spares: int = 0):
    """`fn(*args)` in a fresh child process, used for this call only; its result, or
    CheckFailed when it overran its time or memory, or died. `fn` must be a picklable
    top-level function."""
    proc, conn = _take(limits, spares)
    try:
        try:
            conn.send((fn, args))
        except (OSError, ValueError):
            raise CheckFailed("检查进程未能启动，请稍后重试") from None
        if not conn.poll(limits.seconds):
            raise CheckFailed(f"检查超过 {limits.seconds:g} 秒仍未完成（文件可能过大或异常），已停止；请检查文件后重试")
        try:
            status, value = conn.recv()
        except (EOFError, OSError):
            raise CheckFailed("检查进程意外终止（文件可能异常，或占用内存超过限度），已停止；请检查文件后重试") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        conn.close()
    if status != "ok":
        raise CheckFailed(value)
    return value


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

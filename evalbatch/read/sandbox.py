"""Sandboxed reading: every untrusted file is opened and parsed in a child process under
operating-system limits, so a file that makes a parser ask for terabytes, abort (a Rust
panic or allocation failure in python-calamine kills the process, not just the call) or spin
costs its own department one finding, never the run.

A `Sandbox` is a pool of spawned worker processes, started once and reused (a spawn costs
about a second: pandas is imported again), a dead worker replaced. Each worker runs
`fn(*args)` calls sent to it and lives under:

- memory: RLIMIT_AS on POSIX, set in the child before it reads anything; on Windows a Job
  Object with a per-process memory limit, made by the parent, which also kills the child
  when the parent goes (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);
- CPU time: RLIMIT_CPU on POSIX, renewed at each `heartbeat` (a worker's CPU time adds up
  over the files it reads; the limit is per file). Windows has no per-call CPU limit that a
  reused process can renew; the wall-clock deadline covers it there;
- wall clock: a deadline per call, renewed by each `heartbeat`, enforced by the parent,
  which kills the child when it passes (a read blocked on I/O uses no CPU).

A call that ends so raises nothing in the parent: `map` gives a `SandboxFailure` with the
reason in its place. Chunks of files are split by the caller (read/load.py) to find which
file it was.

Forked workers would inherit the run lock's open file: workers are always spawned.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

__all__ = ["Limits", "Sandbox", "SandboxFailure", "heartbeat", "shared"]

# What the child imports before its memory limit applies: the readers, not load.py's cache
# (pyarrow reserves a gigabyte of address space on import).
PRELOAD = ("evalbatch.read.chunk",)
# A test-only fault, read only in a sandbox child: "file name=SIGNAL" kills the child with that
# signal when it starts reading that file (tests/test_sandbox.py).
TEST_FAULT = "EVALBATCH_SANDBOX_TEST_FAULT"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The `[limits]` of the rules that the sandbox enforces."""

    memory_mb: float = 1536
    cpu_seconds: float = 120
    wall_seconds: float = 180

    @classmethod
    def from_rules(cls, rules) -> Limits:
        return cls(memory_mb=rules.limit("reader_memory_mb"), cpu_seconds=rules.limit("reader_cpu_seconds"),
                   wall_seconds=rules.limit("reader_wall_seconds"))


class SandboxFailure(Exception):
    """A call whose child ran out of memory ("memory"), of time ("time") or died ("crash")."""

    def __init__(self, kind: str, limits: Limits, detail: str = ""):
        self.kind, self.limits, self.detail = kind, limits, detail
        super().__init__(self.message)

    @property
    def rule_id(self) -> str:
        return f"file.sandbox_{self.kind}"

    @property
    def message(self) -> str:
        advice = "文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交"
        if self.kind == "memory":
            return f"读取时超出内存上限 {_size(self.limits.memory_mb)}，{advice}"
        if self.kind == "time":
            return f"读取超过时间上限（{self.detail}），{advice}"
        return f"读取时读取程序异常退出（{self.detail}），{advice}"


def _size(mb: float) -> str:
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:g} MB"


# --- the child ------------------------------------------------------------------------------

_CONN = None  # the child's end of its pipe; None in any process that is not a sandbox worker
_CPU_SECONDS = 0.0


def heartbeat(next_name: str = "") -> None:
    """In a sandbox worker: one unit of work is done, another starts; the CPU and wall-clock
    budgets begin again. Anywhere else: nothing."""
    if _CONN is None:
        return
    _budget_cpu(_CPU_SECONDS)
    _CONN.send(("tick", None))
    _test_fault(next_name)


def _test_fault(name: str) -> None:
    wanted, _, sig = os.environ.get(TEST_FAULT, "").partition("=")
    if name and name == wanted:
        os.kill(os.getpid(), getattr(signal, sig))


def _child(conn, limits: Limits, stderr_path: str, preload: Sequence[str]) -> None:
    global _CONN, _CPU_SECONDS
    _redirect_stderr(stderr_path)
    for module in preload:
        importlib.import_module(module)
    _CONN, _CPU_SECONDS = conn, limits.cpu_seconds
    limit_memory(limits.memory_mb)
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return
        if call is None:
            return
        fn, args = call
        _budget_cpu(limits.cpu_seconds)
        _answer(conn, fn, args)


def _answer(conn, fn, args) -> None:
    try:
        reply = ("ok", fn(*args))
    except MemoryError:
        reply = ("memory", "")
    except BaseException as exc:  # the caller's exception, raised again in the parent
        reply = ("raised", exc)
    try:
        conn.send(reply)
    except MemoryError:
        conn.send(("memory", ""))
    except Exception:  # an exception that does not pickle
        conn.send(("raised", RuntimeError(traceback.format_exc())))


def _redirect_stderr(path: str) -> None:
    """The child's standard error to a file of its own: a Rust abort says why only there
    ("memory allocation of N bytes failed"), and the parent reads it when the child dies."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.close(fd)


def limit_memory(memory_mb: float) -> None:
    """POSIX: the child's address space. (Windows: the parent's Job Object, `windows_job`.)"""
    try:
        import resource
    except ImportError:
        return
    limit = int(memory_mb * _MB)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard if hard != resource.RLIM_INFINITY and hard < limit else limit))


def _budget_cpu(seconds: float) -> None:
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# --- Windows: a Job Object per worker -------------------------------------------------------

JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
PROCESS_SET_QUOTA, PROCESS_TERMINATE = 0x0100, 0x0001


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in (
        "ReadOperationCount", "WriteOperationCount", "OtherOperationCount", "ReadTransferCount", "WriteTransferCount",
        "OtherTransferCount")]


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", ctypes.c_uint32), ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", ctypes.c_uint32),
                ("Affinity", ctypes.c_size_t), ("PriorityClass", ctypes.c_uint32), ("SchedulingClass", ctypes.c_uint32)]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION), ("IoInfo", IO_COUNTERS),
                ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]


def job_limits(memory_mb: float) -> JOBOBJECT_EXTENDED_LIMIT_INFORMATION:
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = (JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
                                             | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION)
    info.ProcessMemoryLimit = int(memory_mb * _MB)
    return info


def _last_error() -> int:
    return ctypes.get_last_error() if hasattr(ctypes, "get_last_error") else 0  # Windows only


def windows_job(pid: int, memory_mb: float, kernel32=None) -> int:
    """A Job Object holding process `pid` under the memory limit; its handle, which the parent
    keeps: when the parent closes it (or dies), the child is killed with it."""
    k = kernel32 or ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    job = k.CreateJobObjectW(None, None)
    if not job:
        raise OSError(_last_error(), "CreateJobObjectW")
    info = job_limits(memory_mb)
    process = None
    try:
        if not k.SetInformationJobObject(job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, ctypes.byref(info), ctypes.sizeof(info)):
            raise OSError(_last_error(), "SetInformationJobObject")
        process = k.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, False, pid)
        if not process or not k.AssignProcessToJobObject(job, process):
            raise OSError(_last_error(), "AssignProcessToJobObject")
    except BaseException:
        k.CloseHandle(job)
        raise
    finally:
        if process:
            k.CloseHandle(process)
    return job


def _close_handle(handle: int) -> None:
    ctypes.WinDLL("kernel32").CloseHandle(handle)  # type: ignore[attr-defined]


# --- the parent -----------------------------------------------------------------------------

# What a child's standard error says when an allocation failed (Rust, CPython, the C library).
_OUT_OF_MEMORY = ("memory allocation of", "MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


class _Worker:
    def __init__(self, ctx, limits: Limits, preload: Sequence[str]):
        self.limits = limits
        fd, self.stderr_path = tempfile.mkstemp(prefix="evalbatch-sandbox-", suffix=".log")
        os.close(fd)
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_end, limits, self.stderr_path, tuple(preload)), daemon=True)
        self.proc.start()
        child_end.close()
        self.job = windows_job(self.proc.pid, limits.memory_mb) if sys.platform == "win32" else None
        self.task: int | None = None
        self.deadline = math.inf
        self.timed_out = False

    def give(self, task: int, fn, args) -> None:
        self.task, self.timed_out = task, False
        self.conn.send((fn, args))
        self.renew()

    def renew(self) -> None:
        self.deadline = time.monotonic() + self.limits.wall_seconds

    def failure(self) -> SandboxFailure:
        """Why the child died (it is dead or killed when this is asked)."""
        self.proc.join(5)
        if self.timed_out:
            return SandboxFailure("time", self.limits, f"{self.limits.wall_seconds:g} 秒")
        code = self.proc.exitcode
        tail = self._stderr_tail()
        if any(words in tail for words in _OUT_OF_MEMORY):
            return SandboxFailure("memory", self.limits)
        if code is not None and code < 0 and -code == getattr(signal, "SIGXCPU", None):
            return SandboxFailure("time", self.limits, f"CPU {self.limits.cpu_seconds:g} 秒")
        return SandboxFailure("crash", self.limits, _how_it_ended(code))

    def _stderr_tail(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(max(os.path.getsize(self.stderr_path) - 4096, 0))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.join(5)
        self.close()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(None)
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self.job is not None:
            _close_handle(self.job)
            self.job = None
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_path)


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"被信号 {signal.Signals(-code).name} 终止"
        except ValueError:
            return f"被信号 {-code} 终止"
    return f"退出码 {code}"


class Sandbox:
    """A pool of `workers` sandboxed processes under `limits`, reused until `close`."""

    def __init__(self, workers: int, limits: Limits, preload: Sequence[str] = PRELOAD):
        self.size, self.limits, self.preload = max(workers, 1), limits, tuple(preload)
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []

    def run(self, fn: Callable, *args):
        """`fn(*args)` in a worker: its result, its exception, or a `SandboxFailure`."""
        (result,) = self.map(fn, [args])
        if isinstance(result, BaseException):
            raise result
        return result

    def map(self, fn: Callable, calls: Sequence[tuple], on_tick: Callable[[], None] | None = None,
            on_done: Callable[[int, object], None] | None = None, workers: int | None = None) -> list:
        """`fn(*args)` for each args in `calls`, across at most `workers` workers: per call its
        result, or the exception it raised, or a `SandboxFailure`. `on_tick` is called at each
        heartbeat, `on_done(i, result)` as each call ends."""
        width = min(workers or self.size, self.size)
        results: list = [None] * len(calls)
        todo = list(range(len(calls)))[::-1]
        busy: list[_Worker] = []
        try:
            while todo or busy:
                while todo and len(busy) < width:
                    task = todo.pop()
                    worker = self._worker()
                    worker.give(task, fn, calls[task])
                    busy.append(worker)
                for worker, reply in self._wait(busy, on_tick):
                    busy.remove(worker)
                    results[worker.task] = reply
                    if on_done:
                        on_done(worker.task, reply)
        finally:
            for worker in busy:  # an interrupted map leaves no worker behind mid-call
                worker.kill()
        return results

    def _worker(self) -> _Worker:
        return self._idle.pop() if self._idle else _Worker(self._ctx, self.limits, self.preload)

    def _wait(self, busy: list[_Worker], on_tick) -> list[tuple[_Worker, object]]:
        """The workers whose call ended, with the result, once any has (or a deadline passed)."""
        timeout = max(min(w.deadline for w in busy) - time.monotonic(), 0)
        # The pipes only: a child that dies closes its end, so its pipe becomes ready too, and
        # Windows can wait on at most 63 handles (one per worker keeps 61 workers possible).
        ready = set(wait([w.conn for w in busy], timeout))
        ended = []
        for worker in busy:
            reply = self._reply(worker, ready, on_tick)
            if reply is not None:
                ended.append((worker, reply[0]))
        return ended

    def _reply(self, worker: _Worker, ready: set, on_tick) -> tuple[object] | None:
        dead = False
        try:
            while worker.conn in ready or worker.conn.poll():
                ready.discard(worker.conn)
                kind, value = worker.conn.recv()
                if kind == "tick":
                    worker.renew()
                    if on_tick:
                        on_tick()
                    continue
                self._idle.append(worker)
                return (value if kind in ("ok", "raised") else SandboxFailure("memory", self.limits),)
        except (EOFError, OSError):
            dead = True  # the child died: its reason below
        if dead or not worker.proc.is_alive():
            failure = worker.failure()
            worker.close()
            return (failure,)
        if time.monotonic() >= worker.deadline:
            worker.timed_out = True
            worker.proc.kill()
            failure = worker.failure()
            worker.close()
            return (failure,)
        return None

    def close(self) -> None:
        while self._idle:
            self._idle.pop().stop()


_SHARED: Sandbox | None = None


def shared(workers: int, limits: Limits) -> Sandbox:
    """The process's pool, started once and reused (for the submissions, then the review
    workbooks, of one run; and across runs of a long-lived process); a new one when the
    limits change or more workers are asked for."""
    global _SHARED
    if _SHARED is not None and (_SHARED.limits != limits or _SHARED.size < workers):
        _SHARED.close()
        _SHARED = None
    if _SHARED is None:
        _SHARED = Sandbox(workers, limits)
    return _SHARED


@atexit.register
def _close_shared() -> None:
    if _SHARED is not None:
        _SHARED.close()

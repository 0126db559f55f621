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

A pool made with `renew=False` keeps one budget per call whatever the heartbeats say: the web
check (web/worker.py) limits a whole check, not each of its files. A pool may be shared by
threads (the web server's requests): taking and returning a worker is under a lock, and each
`map` waits only on the workers it took.

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
import logging
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

__all__ = ["Limits", "Sandbox", "SandboxFailure", "heartbeat", "in_worker", "shared"]

# What the child imports before its memory limit applies: the readers, not load.py's cache
# (pyarrow reserves a gigabyte of address space on import).
PRELOAD = ("evalbatch.read.chunk",)
# A test-only fault, read only in a sandbox child: "file name=SIGNAL" kills the child with that
# signal when it starts reading that file, "file name=MemoryError" raises one there (tests/test_sandbox.py).
TEST_FAULT = "EVALBATCH_SANDBOX_TEST_FAULT"
_MB = 1024 * 1024
log = logging.getLogger("evalbatch")
ON_WINDOWS = sys.platform == "win32"


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
            return f"读取时超出内存上限 {size_text(self.limits.memory_mb)}，{advice}"
        if self.kind == "time":
            return f"读取超过时间上限（{self.detail}），{advice}"
        return f"读取该文件的进程意外退出（{self.detail}），{advice}"


def size_text(mb: float) -> str:
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:g} MB"


# --- the child ------------------------------------------------------------------------------

_CONN = None  # the child's end of its pipe; None in any process that is not a sandbox worker
_CPU_SECONDS = 0.0
_RENEW = True  # whether a heartbeat renews the CPU budget (the pool's `renew`)


def in_worker() -> bool:
    """Whether this process is a sandbox worker (which reads files itself, never through a
    pool of its own)."""
    return _CONN is not None


def heartbeat(next_name: str = "") -> None:
    """In a sandbox worker: one unit of work is done, another starts; the CPU and wall-clock
    budgets begin again (in a pool made with `renew=False`, they run on). Anywhere else: nothing."""
    if _CONN is None:
        return
    if _RENEW:
        _budget_cpu(_CPU_SECONDS)
    _CONN.send(("tick", None))
    _test_fault(next_name)


def _test_fault(name: str) -> None:
    wanted, _, how = os.environ.get(TEST_FAULT, "").partition("=")
    if name and name == wanted:
        if how == "MemoryError":
            raise MemoryError
        os.kill(os.getpid(), getattr(signal, how))


def _child(conn, limits: Limits, stderr_path: str, preload: Sequence[str], parent: int, renew: bool = True) -> None:
    global _CONN, _CPU_SECONDS, _RENEW
    _redirect_stderr(stderr_path)
    _die_with_parent(parent)
    for module in preload:
        importlib.import_module(module)
    _CONN, _CPU_SECONDS, _RENEW = conn, limits.cpu_seconds, renew
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


def _die_with_parent(parent: int) -> None:
    """A worker outlives no parent: a run killed by the scheduler must not leave a reader
    spinning on a hostile file. (Windows: the Job Object kills it when the parent's handle
    closes; POSIX: a watcher thread sees the parent gone, as the worker becomes another's child.
    `parent` comes from the parent itself: it may be gone before this runs.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    if os.name != "nt":
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)  # a process may lower its limit, never raise it past the hard one
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


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


def _job_for(pid: int, memory_mb: float) -> int | None:
    """The worker's Job Object; where Windows refuses one (an old system inside a job that
    allows no other), the worker goes on under the wall-clock deadline alone, and the log says so."""
    try:
        return windows_job(pid, memory_mb)
    except OSError as exc:
        log.warning("无法为读取进程设置内存上限（Windows 作业对象：%s），仅按时间上限保护", exc)
        return None


def _close_handle(handle: int) -> None:
    ctypes.WinDLL("kernel32").CloseHandle(handle)  # type: ignore[attr-defined]


# --- the parent -----------------------------------------------------------------------------

# What a child's standard error says when an allocation failed (Rust, CPython, the C library).
_OUT_OF_MEMORY = ("memory allocation of", "MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


class _Worker:
    def __init__(self, ctx, limits: Limits, preload: Sequence[str], renew: bool = True):
        self.limits, self.renews = limits, renew
        fd, self.stderr_path = tempfile.mkstemp(prefix="evalbatch-sandbox-", suffix=".log")
        os.close(fd)
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_end, limits, self.stderr_path, tuple(preload), os.getpid(), renew),
                                daemon=True)
        with _SPAWNING, _child_environment():  # one spawn at a time: the environment is the process's
            self.proc.start()
        child_end.close()
        self.job = _job_for(self.proc.pid, limits.memory_mb) if ON_WINDOWS else None
        self.task: int | None = None
        self.deadline = math.inf
        self.timed_out = False
        self.asked_to_stop = False

    def give(self, task: int, fn, args) -> None:
        self.task, self.timed_out = task, False
        with contextlib.suppress(OSError):
            os.truncate(self.stderr_path, 0)  # what it says next is about this call (written in append mode)
        try:
            self.conn.send((fn, args))
        except OSError:
            pass  # it died just now (a broken pipe, on Windows too): its pipe reads as closed, and the call fails as a crash
        self.renew()

    def renew(self) -> None:
        self.deadline = time.monotonic() + self.limits.wall_seconds

    def failure(self) -> SandboxFailure:
        """Why the child died (it is dead or killed when this is asked)."""
        self.proc.join(5)
        if self.timed_out:
            return SandboxFailure("time", self.limits, f"{self.limits.wall_seconds:g} 秒")
        code = self.proc.exitcode
        said = self._stderr()
        if any(words in said for words in _OUT_OF_MEMORY):
            return SandboxFailure("memory", self.limits)
        if code is not None and code < 0 and -code == getattr(signal, "SIGXCPU", None):
            return SandboxFailure("time", self.limits, f"CPU {self.limits.cpu_seconds:g} 秒")
        return SandboxFailure("crash", self.limits, _how_it_ended(code))

    def _stderr(self) -> str:
        """What the child wrote to standard error, its first 64 KB: the reason comes first, a
        long backtrace may follow."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read(1 << 16).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.join(5)
        self.close()

    def ask_to_stop(self) -> None:
        if not self.asked_to_stop:
            self.asked_to_stop = True
            with contextlib.suppress(Exception):
                self.conn.send(None)

    def stop(self) -> None:
        self.ask_to_stop()
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


_SPAWNING = threading.Lock()


# pandas 3 keeps text in pyarrow, whose default allocator (mimalloc) reserves a gigabyte of
# address space on first use: under an address-space limit that gigabyte is gone before a file
# is read. The C library's allocator reserves nothing. Set before the child starts: spawning may
# import the parent's main module, and pyarrow with it, before the child's own code runs.
CHILD_ENVIRONMENT = {"ARROW_DEFAULT_MEMORY_POOL": "system"}


@contextlib.contextmanager
def _child_environment():
    saved = {key: os.environ.get(key) for key in CHILD_ENVIRONMENT}
    os.environ.update(CHILD_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"被信号 {signal.Signals(-code).name} 终止"
        except ValueError:
            return f"被信号 {-code} 终止"
    return f"退出码 {code}"


class Sandbox:
    """A pool of `workers` sandboxed processes under `limits`, reused until `close`; `renew`:
    whether a heartbeat starts the call's budgets again (see the module's docstring)."""

    def __init__(self, workers: int, limits: Limits, preload: Sequence[str] = PRELOAD, renew: bool = True):
        self.size, self.limits, self.preload, self.renew = max(workers, 1), limits, tuple(preload), renew
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._kept_full = False

    def start(self) -> None:
        """Start all `workers` now and keep the pool full from now on: a worker that dies or is
        killed is replaced at once. Workers import while nothing waits for them (a spawn costs a
        second or more), so a call finds one ready. For a server; a batch starts them as it needs."""
        with self._lock:
            if not self._kept_full:
                self._kept_full = True
                self._idle += [self._new() for _ in range(self.size)]

    def _ended(self) -> None:
        """A worker was lost (died, killed, or stopped with its heap spent)."""
        if self._kept_full:
            self._rest(self._new())

    def _new(self) -> _Worker:
        return _Worker(self._ctx, self.limits, self.preload, self.renew)

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
                self._ended()
        return results

    def _worker(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.proc.is_alive():
                    return worker
                worker.close()  # killed while idle (from outside): no call is lost, a fresh one serves
                if self._kept_full:
                    self._idle.append(self._new())
            return self._new()

    def _rest(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

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
                    if worker.renews:
                        worker.renew()
                    if on_tick:
                        on_tick()
                    continue
                if kind == "memory":
                    worker.stop()  # its heap is spent: the files it held are read again in fresh workers
                    self._ended()
                    return (SandboxFailure("memory", self.limits),)
                self._rest(worker)
                return (value,)
        except (EOFError, OSError):
            dead = True  # the child died: its reason below
        if dead or not worker.proc.is_alive():
            return (self._lost(worker),)
        if time.monotonic() >= worker.deadline:
            worker.timed_out = True
            worker.proc.kill()
            return (self._lost(worker),)
        return None

    def _lost(self, worker: _Worker) -> SandboxFailure:
        failure = worker.failure()
        worker.close()
        self._ended()
        return failure

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._kept_full = self._idle, [], False
        for worker in idle:  # all at once: each takes a moment to end, and the last run waits for them
            worker.ask_to_stop()
        for worker in idle:
            worker.stop()


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

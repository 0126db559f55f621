"""Sandboxed reading (issue 22 point 1): a child process per reader under OS limits; a file
that kills, exhausts or hangs its reader is one 错误 for its department, every other
department scored as without it."""

from __future__ import annotations

import ctypes
import time
import os
import sys
from pathlib import Path
from unittest import mock

import pytest
import sandbox_calls as calls
from builders import reference, write

from evalbatch.judge.evaluate import evaluate
from evalbatch.read import sandbox
from evalbatch.read.discover import discover
from evalbatch.read.sandbox import Limits, Sandbox, SandboxFailure
from evalbatch.rules import load_rules

posix_only = pytest.mark.skipif(os.name == "nt", reason="RLIMIT_AS and signals are POSIX")


@pytest.fixture(scope="module")
def box():
    b = Sandbox(1, Limits(memory_mb=700, cpu_seconds=2, wall_seconds=3), preload=())
    yield b
    b.close()


def test_a_call_runs_in_a_worker_and_raises_its_own_exception(box):
    assert box.run(calls.add, 2, 3) == 5
    with pytest.raises(ValueError, match="不是数字"):
        box.run(calls.fail)
    assert box.map(calls.add, [(1, 1), (2, 2)]) == [2, 4]


@posix_only
def test_a_worker_past_its_memory_limit_is_a_memory_failure_and_the_pool_goes_on(box):
    (failure,) = box.map(calls.allocate, [(2000,)])
    assert isinstance(failure, SandboxFailure) and failure.rule_id == "file.sandbox_memory"
    assert failure.message == "读取时超出内存上限 700 MB，文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交"
    assert box.run(calls.allocate, 10) == 10 * 1024 * 1024


def test_a_hung_worker_is_killed_at_the_wall_clock_deadline(box):
    (failure,) = box.map(calls.sleep, [(60,)])
    assert (failure.rule_id, failure.message) == (
        "file.sandbox_time", "读取超过时间上限（3 秒），文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交")
    assert box.run(calls.add, 1, 2) == 3


@posix_only
def test_a_spinning_worker_is_stopped_by_its_cpu_limit():
    b = Sandbox(1, Limits(memory_mb=700, cpu_seconds=1, wall_seconds=30), preload=())
    try:
        (failure,) = b.map(calls.spin, [(20,)])
    finally:
        b.close()
    assert (failure.rule_id, failure.message) == (
        "file.sandbox_time", "读取超过时间上限（CPU 1 秒），文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交")


def test_heartbeats_renew_the_budget_unless_the_pool_keeps_one_per_call():
    limits = Limits(memory_mb=700, cpu_seconds=30, wall_seconds=2)
    renewing, per_call = Sandbox(1, limits, preload=()), Sandbox(1, limits, preload=(), renew=False)
    try:
        assert renewing.run(calls.beating, 4) == "done"
        (failure,) = per_call.map(calls.beating, [(4,)])
    finally:
        renewing.close()
        per_call.close()
    assert (failure.rule_id, failure.message) == (
        "file.sandbox_time", "读取超过时间上限（2 秒），文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交")


@posix_only
def test_a_started_pool_stays_full_a_worker_lost_idle_or_mid_call_is_replaced_at_once():
    import signal

    b = Sandbox(2, Limits(memory_mb=700, cpu_seconds=30, wall_seconds=3), preload=())
    try:
        b.start()
        first = {w.proc.pid for w in b._idle}
        gone = b._idle[-1]  # the next to be taken
        os.kill(gone.proc.pid, signal.SIGKILL)  # killed while idle: no call is lost
        gone.proc.join()
        assert [b.run(calls.add, 1, 2), b.run(calls.add, 2, 2)] == [3, 4]
        (failure,) = b.map(calls.sleep, [(60,)])
        assert failure.rule_id == "file.sandbox_time"
        now = {w.proc.pid for w in b._idle}
        assert len(now) == 2 and gone.proc.pid not in now and now != first
        assert b.run(calls.reads_here) is True  # a worker reads its files itself, with no pool of its own
    finally:
        b.close()
    assert b._idle == []


def test_the_default_message_names_1_5_gb():
    failure = SandboxFailure("memory", Limits.from_rules(load_rules()))
    assert failure.message == "读取时超出内存上限 1.5 GB，文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交"


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    write(src, reference(dept_code="620102", self_total=80), "b.xlsx")
    write(src, reference(dept_code="620103", self_total=70), "c.xlsx")
    return src


@posix_only
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGABRT"])
def test_a_reader_killed_by_a_signal_is_one_error_for_its_file(tmp_path, monkeypatch, sig):
    src = _folder(tmp_path)
    alone = evaluate(discover(src).files, load_rules(), year=2021)
    monkeypatch.setenv(sandbox.TEST_FAULT, f"b.xlsx={sig}")
    sandbox._close_shared()  # workers spawned from now on see the fault
    monkeypatch.setattr(sandbox, "_SHARED", None)
    result = evaluate(discover(src).files, load_rules(), year=2021)
    sandbox._close_shared()
    errors = result.findings[result.findings["level"] == "错误"]
    assert errors[["file", "rule_id", "message"]].values.tolist() == [
        ["b.xlsx", "file.sandbox_crash", f"读取该文件的进程意外退出（被信号 {sig} 终止），文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交"]]
    kept = alone.depts[alone.depts["file"] != "b.xlsx"][["file", "total", "grade"]].values.tolist()
    assert result.depts[["file", "total", "grade"]].values.tolist() == kept


def test_a_file_that_runs_its_chunk_out_of_memory_is_found_and_the_rest_read(tmp_path, monkeypatch):
    src = _folder(tmp_path)
    alone = evaluate(discover(src).files, load_rules(), year=2021)
    monkeypatch.setenv(sandbox.TEST_FAULT, "c.xlsx=MemoryError")
    sandbox._close_shared()
    monkeypatch.setattr(sandbox, "_SHARED", None)
    result = evaluate(discover(src).files, load_rules(), year=2021)
    sandbox._close_shared()
    errors = result.findings[result.findings["level"] == "错误"]
    assert errors[["file", "rule_id", "message"]].values.tolist() == [
        ["c.xlsx", "file.sandbox_memory", "读取时超出内存上限 1.5 GB，文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交"]]
    kept = alone.depts[alone.depts["file"] != "c.xlsx"][["file", "total", "grade"]].values.tolist()
    assert result.depts[["file", "total", "grade"]].values.tolist() == kept


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_worker_keeps_its_address_space_for_reading_even_after_pandas_made_text(tmp_path):
    # pandas 3 puts text in pyarrow, whose default allocator reserved 1 GB of the 1.5 GB: a
    # 30 MB page then ran out of memory in any worker that had parsed a file before it.
    b = Sandbox(1, Limits.from_rules(load_rules()))
    try:
        b.run(calls.make_text)
        size_mb, arrow = b.run(calls.address_space)
    finally:
        b.close()
    assert arrow and size_mb < 700


# --- Windows: the Job Object, with kernel32 simulated ------------------------------------------


def test_the_job_object_limits_memory_and_kills_on_close():
    k = mock.Mock()
    k.CreateJobObjectW.return_value = 77
    k.OpenProcess.return_value = 88
    k.SetInformationJobObject.return_value = k.AssignProcessToJobObject.return_value = 1
    assert sandbox.windows_job(1234, 1536, kernel32=k) == 77
    job, cls, info_ref, size = k.SetInformationJobObject.call_args.args
    info = info_ref._obj
    assert (job, cls, size) == (77, 9, ctypes.sizeof(sandbox.JOBOBJECT_EXTENDED_LIMIT_INFORMATION))
    assert info.ProcessMemoryLimit == 1536 * 1024 * 1024
    assert info.BasicLimitInformation.LimitFlags == 0x100 | 0x2000 | 0x400
    k.OpenProcess.assert_called_once_with(0x0100 | 0x0001, False, 1234)
    k.AssignProcessToJobObject.assert_called_once_with(77, 88)
    k.CloseHandle.assert_called_once_with(88)  # the process handle; the job's stays open


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the layout of 64-bit Windows")
def test_the_job_structure_has_the_layout_of_64_bit_windows():
    assert ctypes.sizeof(sandbox.JOBOBJECT_BASIC_LIMIT_INFORMATION) == 64
    assert ctypes.sizeof(sandbox.JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 144
    assert sandbox.JOBOBJECT_EXTENDED_LIMIT_INFORMATION.ProcessMemoryLimit.offset == 112


def test_a_job_that_cannot_be_assigned_is_closed_and_named():
    k = mock.Mock()
    k.CreateJobObjectW.return_value = 77
    k.OpenProcess.return_value = 88
    k.SetInformationJobObject.return_value = 1
    k.AssignProcessToJobObject.return_value = 0
    with pytest.raises(OSError, match="AssignProcessToJobObject"):
        sandbox.windows_job(1234, 1536, kernel32=k)
    assert sorted(c.args[0] for c in k.CloseHandle.call_args_list) == [77, 88]


def test_workers_on_windows_get_a_job_and_it_is_closed_with_them(monkeypatch):
    made, closed = [], []
    monkeypatch.setattr(sandbox, "ON_WINDOWS", True)
    monkeypatch.setattr(sandbox, "windows_job", lambda pid, mb: made.append((pid, mb)) or 55)
    monkeypatch.setattr(sandbox, "_close_handle", closed.append)
    b = Sandbox(1, Limits(memory_mb=900), preload=())
    try:
        assert b.run(calls.add, 1, 1) == 2
    finally:
        b.close()
    assert len(made) == 1 and made[0][1] == 900 and closed == [55]


# --- what the pre-scan now refuses, calamine alone does in a sandbox: one memory failure ---------


@posix_only
@pytest.mark.parametrize("dims", [None, (0, 2**32 - 1, 0, 256)])
def test_calamine_alone_on_the_far_cell_xls_is_a_memory_failure_not_a_dead_run(tmp_path, dims):
    from test_hostile_prescan import xls_cells

    cells = [(0, 0), (65535, 65535)] if dims is None else [(0, 0)]
    data = xls_cells(tmp_path / "far.xls", cells, dims).read_bytes()
    b = Sandbox(1, Limits.from_rules(load_rules()), preload=())
    try:
        (failure,) = b.map(calls.calamine_read, [(data,)])
    finally:
        b.close()
    assert (failure.rule_id, failure.message) == (
        "file.sandbox_memory", "读取时超出内存上限 1.5 GB，文件可能损坏或包含异常内容；请重新保存为 .xlsx 后提交")


def test_a_job_windows_refuses_leaves_the_worker_under_the_deadline_alone(monkeypatch, caplog):
    def refused(pid, mb):
        raise OSError(5, "AssignProcessToJobObject")

    monkeypatch.setattr(sandbox, "ON_WINDOWS", True)
    monkeypatch.setattr(sandbox, "windows_job", refused)
    b = Sandbox(1, Limits(memory_mb=900), preload=())
    try:
        assert b.run(calls.add, 2, 2) == 4
    finally:
        b.close()
    assert "无法为读取进程设置内存上限" in caplog.text


_ORPHAN = r"""
import sys, time
sys.path.insert(0, "tests")
import sandbox_calls as calls
from evalbatch.read.sandbox import Limits, Sandbox
if __name__ == "__main__":
    b = Sandbox(1, Limits(wall_seconds=600), preload=())
    w = b._worker()
    print(w.proc.pid, flush=True)
    w.give(0, calls.sleep, (600,))
    time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_does_not_outlive_a_killed_run(tmp_path):
    import signal
    import subprocess

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    worker = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)  # as a scheduler ends a run: no atexit, no clean-up
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.5)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_closing_asks_every_worker_to_stop_before_waiting_for_any():
    """A worker takes a moment to end: the pool asks them all, then waits, so closing costs one
    worker's ending, not the sum (a run's exit waits for it)."""
    events = []

    class Worker:
        def __init__(self, i):
            self.i = i

        def ask_to_stop(self):
            events.append(("ask", self.i))

        def stop(self):
            events.append(("wait", self.i))

    box = sandbox.Sandbox(3, sandbox.Limits())
    box._idle = [Worker(0), Worker(1), Worker(2)]
    box.close()
    assert events == [("ask", 0), ("ask", 1), ("ask", 2), ("wait", 0), ("wait", 1), ("wait", 2)]

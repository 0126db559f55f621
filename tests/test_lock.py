"""One run at a time: an operating-system lock held by another live process refuses a run
(exit 3); a killed holder leaves nothing to take over; whatever the holder file says, no
run crashes on it; no process is ever probed by signal."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from builders import reference, write

from evalbatch.files import OutputError
from evalbatch.lock import HOLDER_NAME, LOCK_NAME, Locked, RunLock
from evalbatch.night.runner import run
from evalbatch.rules import load_rules
from evalbatch.write import history as H

ROOT = Path(__file__).resolve().parents[1]
GARBAGE = [b"[1,2,3]", b"null", b'{"started":"abc"}', b"1e400", b'{"started": 1e300, "pid": [1], "host": {}}', b"", b"\xff\xfe\x00 binary",
           b"[" * 100_000, b'{"started": true}', b'{"host": "' + b"x" * 5000 + b'"}', b'{"started": -1e18}']


def _hold(out: str, ready, release) -> None:
    """In a spawned child, as on Windows: hold the lock until told to let go."""
    lock = RunLock(out).acquire()
    ready.set()
    release.wait(300)
    lock.release()


@contextmanager
def held_by_child(out: Path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(out), ready, release))
    child.start()
    try:
        assert ready.wait(120), "the child never took the lock"
        yield child
    finally:
        if child.is_alive():  # a killed child never acknowledges the event: setting it would wait for ever
            release.set()
            child.join(60)
        if child.is_alive():
            child.kill()
        child.join()


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    write(folder, reference(), "a.xlsx")
    return folder


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalbatch", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_a_lock_held_by_another_live_process_refuses_the_run_with_exit_3(tmp_path, src):
    out = tmp_path / "out"
    with held_by_child(out) as child:
        with pytest.raises(Locked) as refused:
            run(src, out, 2021, load_rules(), settle=0)
        proc = cli("run", src, "--out", out, "--year", "2021", "--settle", "0")
    assert str(refused.value).startswith(f"另一个运行正在进行（主机 {socket.gethostname()}，进程 {child.pid}，开始于 20")
    assert "本次运行没有做任何改动" in str(refused.value)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "另一个运行正在进行" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "绩效自评汇总_2021.xlsx").exists() and not (out / "logs").exists()
    runs = H.list_runs(H.db_path_for(out))
    assert runs[["结果", "退出码"]].values.tolist() == [["未运行：另一个运行正在进行", 3], ["未运行：另一个运行正在进行", 3]]
    assert runs["说明"].str.startswith("另一个运行正在进行").all()


def test_a_holder_killed_with_sigkill_leaves_a_lock_the_next_run_takes_at_once(tmp_path, src):
    out = tmp_path / "out"
    with held_by_child(out) as child:
        child.kill()  # SIGKILL: no clean-up runs in the child
        child.join(30)
        assert (out / LOCK_NAME).exists() and (out / HOLDER_NAME).exists()  # what it left behind
        outcome = run(src, out, 2021, load_rules(), settle=0)
    assert outcome.exit_code == 0 and outcome.workbook.exists()
    assert not (out / HOLDER_NAME).exists()


def test_no_process_is_probed(tmp_path, src, monkeypatch):
    def probe(*_args):
        raise AssertionError("os.kill must not be called: on Windows signal 0 is CTRL_C_EVENT")

    monkeypatch.setattr(os, "kill", probe)
    out = tmp_path / "out"
    (out).mkdir()
    (out / HOLDER_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": 999_999_999, "started": time.time()}))
    assert run(src, out, 2021, load_rules(), settle=0).exit_code == 0


@pytest.mark.parametrize("content", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_in_the_holder_file_of_a_free_lock_is_ignored(tmp_path, content):
    (tmp_path / HOLDER_NAME).write_bytes(content)
    (tmp_path / LOCK_NAME).write_bytes(content)
    lock = RunLock(tmp_path).acquire()
    assert json.loads((tmp_path / HOLDER_NAME).read_text(encoding="utf-8"))["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / HOLDER_NAME).exists()


def test_garbage_in_the_holder_file_of_a_live_lock_is_exit_3_not_a_crash(tmp_path, src):
    out = tmp_path / "out"
    with held_by_child(out):
        messages = []
        for content in GARBAGE:
            (out / HOLDER_NAME).write_bytes(content)
            with pytest.raises(Locked) as refused:
                RunLock(out).acquire()
            messages.append(str(refused.value))
        (out / HOLDER_NAME).write_text("1e400")
        proc = cli("run", src, "--out", out, "--year", "2021", "--settle", "0")
    assert messages[0] == "另一个运行正在进行（主机 ?，进程 ?，开始于 ?）；本次运行没有做任何改动，已退出"
    assert all(m.startswith("另一个运行正在进行（主机 ") and len(m) < 300 for m in messages)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr


def test_a_start_time_in_the_future_neither_blocks_nor_crashes(tmp_path, src):
    out = tmp_path / "out"
    out.mkdir()
    future = {"host": "elsewhere", "pid": 1, "started": time.time() + 10 * 365 * 86400}
    (out / HOLDER_NAME).write_text(json.dumps(future))
    assert run(src, out, 2021, load_rules(), settle=0).exit_code == 0  # nobody holds the lock: a stale file means nothing
    with held_by_child(out):
        (out / HOLDER_NAME).write_text(json.dumps(future))
        with pytest.raises(Locked) as refused:
            RunLock(out).acquire()
    assert "可能已停止响应" not in str(refused.value)


def test_a_live_holder_older_than_the_limit_is_named_as_possibly_hung(tmp_path):
    with held_by_child(tmp_path):
        (tmp_path / HOLDER_NAME).write_text(json.dumps({"host": "srv01", "pid": 4242, "started": time.time() - 7 * 3600}))
        with pytest.raises(Locked) as refused:
            RunLock(tmp_path, max_age_seconds=6 * 3600).acquire()
    message = str(refused.value)
    assert "（主机 srv01，进程 4242，" in message
    assert "该运行已进行 7.0 小时，超过 6 小时，可能已停止响应：请在主机 srv01 上检查进程 4242" in message


def test_disk_full_when_taking_the_lock_is_exit_4_and_leaves_no_lock(tmp_path, src, monkeypatch):
    out = tmp_path / "out"
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == HOLDER_NAME:
            real(self, "", encoding="utf-8")  # what a full disk leaves: an empty file
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputError) as failed:
        run(src, out, 2021, load_rules(), settle=0)
    assert str(failed.value) == f"无法写入运行锁信息 {out / HOLDER_NAME}：磁盘已满（No space left on device）"
    assert not (out / HOLDER_NAME).exists()
    monkeypatch.undo()
    assert run(src, out, 2021, load_rules(), settle=0).exit_code == 0  # at once, not six hours later


def test_two_runs_started_together_one_writes_one_exits_3_also_with_garbage_holder_content(tmp_path):
    src = tmp_path / "in"
    for i in range(40):
        write(src, reference(dept_code=f"{i:06d}"), f"{i:02d}.xlsx")
    out = tmp_path / "out"
    out.mkdir()
    (out / HOLDER_NAME).write_text("[1,2,3]")
    cmd = [sys.executable, "-m", "evalbatch", "run", str(src), "--out", str(out), "--year", "2021", "--settle", "0", "--jobs", "1"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _holder_text(out) == "[1,2,3]" and time.time() < deadline and first.poll() is None:
        time.sleep(0.01)
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    first.communicate(timeout=300)
    assert sorted([first.returncode, second.returncode]) == [0, 3]
    assert len(list((out / "logs").iterdir())) == 1
    assert len(list((out / "history").iterdir())) == 1


def _holder_text(out: Path) -> str:
    try:
        return (out / HOLDER_NAME).read_text()
    except OSError:
        return ""

"""What a Windows machine does to a nightly run, simulated where it cannot run here: a GBK
console, pythonw without streams, spawned workers and Windows' worker limit, files held
open by Excel, WPS, antivirus or the indexer (PermissionError with winerror 32 or 5), and the
run-nightly.cmd wrapper for Task Scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import reference, write

from evalbatch import files
from evalbatch.judge.evaluate import evaluate
from evalbatch.night.runner import run
from evalbatch.read import load, reader, sandbox
from evalbatch.read.discover import discover
from evalbatch.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
NOT_GBK = "甲单位😀𠮷"  # the emoji and the CJK Extension B character are not in GBK


def sharing_violation(winerror: int = 32) -> PermissionError:
    """What Windows raises for a file another program holds (32) or denies (5)."""
    exc = PermissionError(13, "The process cannot access the file because it is being used by another process")
    exc.winerror = winerror  # set by the OS on Windows only
    return exc


def evalbatch_gbk(*args, **env) -> subprocess.CompletedProcess:
    """`python -m evalbatch …` with stdout and stderr a pipe in GBK, as Task Scheduler's `>> log` on a Chinese Windows."""
    return subprocess.run([sys.executable, "-m", "evalbatch", *map(str, args)], capture_output=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "gbk", **env})


@pytest.fixture(scope="module")
def not_gbk_file(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("gbk"), reference(dept_name=NOT_GBK), "620101.xlsx")


# --- console encoding --------------------------------------------------------------------


def test_check_json_is_utf8_on_a_gbk_console(not_gbk_file):
    proc = evalbatch_gbk("check", not_gbk_file, "--json")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    data = json.loads(proc.stdout.decode("utf-8"))
    assert data["scores"][0]["dept_name"] == NOT_GBK


def test_check_table_on_a_gbk_console_is_utf8_not_a_crash(not_gbk_file):
    proc = evalbatch_gbk("check", not_gbk_file)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert NOT_GBK in proc.stdout.decode("utf-8") and b"Traceback" not in proc.stderr


def test_run_messages_on_a_gbk_console_are_utf8(tmp_path, not_gbk_file):
    src = tmp_path / f"收件{NOT_GBK}"
    src.mkdir()
    (src / "a.xlsx").write_bytes(not_gbk_file.read_bytes())
    out = tmp_path / f"汇总{NOT_GBK}"
    proc = evalbatch_gbk("run", src, "--out", out, "--year", "2021", "--settle", "0")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert f"汇总工作簿：{out / '绩效自评汇总_2021.xlsx'}" in proc.stdout.decode("utf-8")
    assert "已读取 1/1 个文件" in proc.stderr.decode("utf-8")


def test_pythonw_without_stdout_or_stderr(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    out = tmp_path / "out"
    code = ("import sys\nsys.stdout = sys.stderr = None\nfrom evalbatch.cli import main\n"
            "sys.argv = ['evalbatch'] + sys.argv[1:]\nmain()\n")
    ran = subprocess.run([sys.executable, "-c", code, "run", str(src), "--out", str(out), "--year", "2021", "--settle", "0"],
                         capture_output=True, cwd=ROOT, timeout=300)
    assert ran.returncode == 0 and ran.stdout == b"" and ran.stderr == b""
    assert (out / "绩效自评汇总_2021.xlsx").exists()
    refused = subprocess.run([sys.executable, "-c", code, "run", str(src), "--out", str(out), "--year", "0"], capture_output=True,
                             cwd=ROOT, timeout=300)
    assert refused.returncode == 2 and refused.stderr == b""


# --- workers ---------------------------------------------------------------------------------


def test_workers_are_capped_at_61_on_windows(monkeypatch):
    monkeypatch.setattr(load.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(load.sys, "platform", "win32")
    assert (load.worker_count(0), load.worker_count(100), load.worker_count(8)) == (61, 61, 8)
    monkeypatch.setattr(load.sys, "platform", "linux")
    assert (load.worker_count(0), load.worker_count(100)) == (64, 100)


def test_workers_are_spawned_as_on_windows_and_give_the_same_result(tmp_path, monkeypatch):
    src = tmp_path / "in"
    for i in range(4):
        write(src, reference(dept_code=f"{i:06d}", self_total=80 + i), f"{i}.xlsx")
    assert sandbox.Sandbox(2, sandbox.Limits())._ctx.get_start_method() == "spawn"
    monkeypatch.setattr(load, "CHUNK_MIN", 1)  # four chunks: the pool really runs
    found = discover(src)
    one = evaluate(found.files, load_rules(), year=2021, jobs=1)
    two = evaluate(discover(src).files, load_rules(), year=2021, jobs=2)
    assert two.depts[["file", "total", "self_total"]].values.tolist() == one.depts[["file", "total", "self_total"]].values.tolist()
    assert [r.sha256 for r in two.records] == [r.sha256 for r in one.records]


# --- files held by other programs ------------------------------------------------------------


def test_a_transient_sharing_violation_on_replace_is_retried(tmp_path, monkeypatch):
    target = tmp_path / "t.txt"
    target.write_text("old")
    real, calls = os.replace, []

    def scanner_holds_it_twice(a, b):
        calls.append(b)
        if len(calls) <= 2:
            raise sharing_violation(32)
        return real(a, b)

    monkeypatch.setattr(files, "RETRY_DELAYS", (0, 0, 0, 0))
    monkeypatch.setattr(files.os, "replace", scanner_holds_it_twice)
    assert files.atomic_write(target, lambda p: p.write_text("new")) == target
    assert target.read_text() == "new" and len(calls) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_target_excel_keeps_open_gets_a_file_beside_it(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    real = os.replace

    def excel_has_it(a, b):
        if Path(b) == target:
            raise sharing_violation(5)
        return real(a, b)

    monkeypatch.setattr(files, "RETRY_DELAYS", (0, 0))
    monkeypatch.setattr(files.os, "replace", excel_has_it)
    written = files.atomic_write(target, lambda p: p.write_text("new"))
    assert written != target and written.name.startswith("t_") and written.read_text() == "new"
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["t.xlsx", written.name])


def _runs(tmp_path, **options):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    write(src, reference(dept_code="620102", dept_name="乙单位"), "b.xlsx")
    out = tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0, **options)
    write(src, reference(self_total=80), "a.xlsx")  # tonight's differs: the next run writes
    return src, out, first


def test_an_old_history_copy_held_open_is_a_warning_not_a_failed_run(tmp_path, monkeypatch):
    src, out, first = _runs(tmp_path)
    real = Path.unlink

    def held(self, missing_ok=False):
        if self == first.history_file:
            raise sharing_violation(32)
        return real(self, missing_ok=missing_ok)

    monkeypatch.setattr(files, "RETRY_DELAYS", (0,))
    monkeypatch.setattr(Path, "unlink", held)
    outcome = run(src, out, 2021, load_rules(), settle=0, keep=1)
    assert outcome.exit_code == 0 and outcome.workbook == out / "绩效自评汇总_2021.xlsx"
    assert sorted(p.name for p in (out / "history").iterdir()) == sorted([first.history_file.name, outcome.history_file.name])
    log = outcome.log_file.read_text(encoding="utf-8")
    assert f"WARNING 无法删除 {first.history_file}（文件正被其他程序（如 Excel、WPS 或杀毒软件）使用），留待以后清理" in log
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["exit_code"] == 0
    assert (out / "cache" / "manifest.json").exists()


def test_a_feedback_file_held_open_is_a_warning_not_a_failed_run(tmp_path, monkeypatch):
    src, out, first = _runs(tmp_path, feedback=True)
    (src / "b.xlsx").unlink()  # 乙单位 withdrawn: its feedback file should go, but someone has it open
    gone = out / "feedback" / "620102_乙单位_复核结果.xlsx"
    real = Path.unlink

    def held(self, missing_ok=False):
        if self == gone:
            raise sharing_violation(32)
        return real(self, missing_ok=missing_ok)

    monkeypatch.setattr(files, "RETRY_DELAYS", (0,))
    monkeypatch.setattr(Path, "unlink", held)
    outcome = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    assert outcome.exit_code == 0
    assert "WARNING 无法删除" in outcome.log_file.read_text(encoding="utf-8")


def test_a_submission_another_program_holds_is_named_so(tmp_path, monkeypatch):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")

    def held(path):
        raise sharing_violation(32)

    monkeypatch.setattr(reader, "open_regular", held)
    monkeypatch.setattr(load, "IN_PROCESS", True)  # the patch above lives in this process only
    outcome = run(src, tmp_path / "out", 2021, load_rules(), settle=0)
    f = outcome.result.findings
    assert f.loc[f["level"] == "错误", "message"].tolist() == [
        "无法读取文件：文件正被其他程序（如 Excel、WPS 或杀毒软件）使用；请关闭该文件，下次运行时会重新读取"]
    assert outcome.exit_code == 1


# --- run-nightly.cmd ------------------------------------------------------------------------


def test_run_nightly_cmd_is_what_task_scheduler_needs():
    raw = (ROOT / "run-nightly.cmd").read_bytes()
    raw.decode("ascii")  # cmd.exe reads a batch file in the OEM code page: only ASCII is safe
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines), "CRLF line endings: cmd.exe misreads labels and blocks in LF files"
    text = raw.decode("ascii")
    for needed in ("chcp 65001", "set PYTHONUTF8=1", '"%~dp0.venv\\Scripts\\evalbatch.exe" run %*', "exit /b %CODE%",
                   "set CODE=%ERRORLEVEL%"):
        assert needed in text, needed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "run-nightly.cmd" in readme and "/RU " in readme and "/RP" in readme
    assert "py -3.11 -m venv .venv" in readme and ".venv\\Scripts\\python -m pip install ." in readme

"""Windows nights, second look (issue 23): what a Windows server, an SMB share, a scanner and
an analyst's Excel do to a night, imitated with the errors Windows raises (winerror set by
hand: Python sets it on Windows only)."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch import files, lock
from evalbatch.cli import app
from evalbatch.files import OutputError
from evalbatch.night import runner
from evalbatch.night.runner import run
from evalbatch.read import reader
from evalbatch.rules import load_rules
from evalbatch.write import history as H


def win_error(winerror: int, errno_: int = 13, text: str = "", cls=PermissionError) -> OSError:
    exc = cls(errno_, text or f"WinError {winerror}")
    exc.winerror = winerror
    return exc


# --- reasons from winerror ---------------------------------------------------------------------


@pytest.mark.parametrize(("winerror", "errno_", "says"), [
    (53, 2, "找不到网络路径：服务器或共享盘无法访问；请检查网络连接、服务器是否开机和共享盘地址"),
    (64, 22, "网络连接已中断（指定的网络名不再可用）；请检查网络和服务器，恢复后重新运行"),
    (206, 2, "文件名或路径过长（超过 Windows 的 260 个字符限制）；请缩短文件夹或文件名，或把文件夹放到更短的路径下"),
    (1295, 28, "超出服务器上该账户的磁盘配额；请联系服务器管理员提高配额或清理空间"),
    (1450, 12, "系统资源不足，无法完成该操作（共享盘上写入大文件时常见）；请稍后重新运行，如反复出现请联系服务器管理员"),
    (33, 13, "文件正被其他程序（如 Excel、WPS 或杀毒软件）使用"),
])
def test_write_reasons_come_from_winerror_not_errno(winerror, errno_, says):
    exc = win_error(winerror, errno_, "system words", cls=OSError)
    expected = says if winerror == 33 else f"{says}（system words）"
    assert files.write_reason(exc) == expected


def test_a_network_drop_while_reading_is_named_a_network_drop_not_a_missing_file():
    assert reader._os_reason(win_error(64, 2, cls=FileNotFoundError)) == \
        "网络连接已中断（指定的网络名不再可用）；请检查网络和服务器，恢复后重新运行"
    assert reader._os_reason(win_error(2, 2, cls=FileNotFoundError)) == "文件不存在（可能已被移走或改名）"


# --- replacing an output ---------------------------------------------------------------------


def _refuse_replace(monkeypatch, refuse):
    """os.replace raising what `refuse(src, dst)` returns (None: the real replace)."""
    real = os.replace

    def replace(a, b):
        exc = refuse(Path(a), Path(b))
        if exc is not None:
            raise exc
        return real(a, b)

    monkeypatch.setattr(files, "RETRY_DELAYS", (0,))
    monkeypatch.setattr(files.os, "replace", replace)


def test_our_temporary_file_held_by_a_scanner_for_2_seconds_is_waited_for(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    released = threading.Event()
    threading.Timer(2.0, released.set).start()
    # The scanner holds the source (our temporary file) wherever it is moved to.
    _refuse_replace(monkeypatch, lambda a, b: None if released.is_set() else win_error(32))
    t0 = time.monotonic()
    with files.outputs(replace_wait=30) as session:
        assert files.atomic_write(target, lambda p: p.write_text("new")) == target
    assert 2.0 <= time.monotonic() - t0 < 5
    assert target.read_text() == "new" and session.beside == {}
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]


def test_our_temporary_file_held_longer_than_the_wait_is_exit_4_naming_it(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    _refuse_replace(monkeypatch, lambda a, b: win_error(32))
    with files.outputs(replace_wait=0.3), pytest.raises(OutputError) as caught:
        files.atomic_write(target, lambda p: p.write_text("new"))
    text = str(caught.value)
    assert text.startswith(f"无法替换 {target}：刚写好的临时文件 {files.TMP_PREFIX}")
    assert "被其他程序（通常是服务器上的杀毒软件）占用超过 0.3 秒；文件正被其他程序（如 Excel、WPS 或杀毒软件）使用。" in text
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]


def test_a_target_open_in_excel_is_written_beside_and_noted(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    _refuse_replace(monkeypatch, lambda a, b: win_error(5) if b == target else None)  # what MoveFileEx says for an open target
    with files.outputs() as session:
        written = files.atomic_write(target, lambda p: p.write_text("new"))
    assert written != target and written.read_text() == "new" and target.read_text() == "old"
    assert session.beside == {target: written}


def test_a_read_only_target_is_exit_4_naming_the_path_and_the_attribute(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    _refuse_replace(monkeypatch, lambda a, b: win_error(5) if b == target else None)
    real_stat = os.stat

    class ReadOnly:  # st_file_attributes exists on Windows only
        def __init__(self, st):
            self._st = st
            self.st_file_attributes = 1  # FILE_ATTRIBUTE_READONLY

        def __getattr__(self, name):
            return getattr(self._st, name)

    monkeypatch.setattr(files.os, "stat", lambda p, *a, **k: ReadOnly(real_stat(p, *a, **k)) if Path(p) == target else real_stat(p, *a, **k))
    with pytest.raises(OutputError) as caught:
        files.atomic_write(target, lambda p: p.write_text("new"))
    assert str(caught.value) == f"无法替换 {target}：文件设置了只读属性；请在文件属性中取消“只读”，或删除该文件后重新运行"
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]


def test_an_acl_denied_target_is_exit_4_and_a_shared_one_is_not(tmp_path, monkeypatch):
    target = tmp_path / "t.xlsx"
    target.write_text("old")
    _refuse_replace(monkeypatch, lambda a, b: win_error(5) if b == target else None)
    import builtins

    real_open, answer = builtins.open, {}

    def opening(path, mode="r", *args, **kwargs):
        if Path(path) == target and mode == "r+b":
            raise answer["exc"]
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", opening)
    answer["exc"] = win_error(5, 13, "Access is denied")
    with pytest.raises(OutputError) as caught:
        files.atomic_write(target, lambda p: p.write_text("new"))
    assert str(caught.value) == (f"无法替换 {target}：没有写入该文件的权限（Access is denied）；"
                                 "请检查该文件的只读属性和共享盘权限（运行账户需要“修改”权限）")
    answer["exc"] = win_error(32)  # Excel: a sharing violation on the target, not a denial
    assert files.atomic_write(target, lambda p: p.write_text("new")).name.startswith("t_")


# --- outputs that could not be put back ----------------------------------------------------


def _two_departments(tmp_path):
    src = tmp_path / "in"
    write(src, reference(dept_name="甲单位"), "a.xlsx")
    write(src, reference(dept_code="620102", dept_name="乙单位"), "b.xlsx")
    return src, tmp_path / "out"


def _cells(workbook: Path) -> list:
    """Every value of a workbook but the times it was made at."""
    wb = openpyxl.load_workbook(workbook, read_only=True)
    values = [v for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    return [v for v in values if not re.fullmatch(r"\d{4}-\d\d-\d\dT.*", str(v))]


def _run_info(workbook: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(workbook, read_only=True)["运行信息"]
    return {r[0]: r[1] for r in ws.iter_rows(max_col=2, values_only=True) if r[0]}


def test_a_held_feedback_file_is_named_everywhere_and_put_back_on_an_unchanged_night(tmp_path, monkeypatch):
    src, out = _two_departments(tmp_path)
    run(src, out, 2021, load_rules(), settle=0, feedback=True)
    held = out / "feedback" / "620101_甲单位_复核结果.xlsx"
    before = held.read_bytes()
    write(src, reference(dept_name="甲单位", self_total=80), "a.xlsx")
    _refuse_replace(monkeypatch, lambda a, b: win_error(5) if b == held else None)  # the mail client is sending it
    night = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    beside = next(p for p in held.parent.iterdir() if p.name.startswith("620101_甲单位_复核结果_"))
    note = f"反馈文件 620101_甲单位_复核结果.xlsx 正被占用（可能正被打开），无法替换，本次结果已另存为 {beside.name}；下次运行将重试"
    assert night.exit_code == 0 and night.notes[0] == note and held.read_bytes() == before
    beside_copy = tmp_path / "beside.xlsx"
    beside_copy.write_bytes(beside.read_bytes())
    assert _cells(beside_copy) != _cells(held)
    assert f"WARNING {note}" in night.log_file.read_text(encoding="utf-8")
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["not_in_place"] == {str(held): str(beside)}
    assert _run_info(night.workbook)["未能放回原名的输出"] == note
    monkeypatch.undo()
    again = run(src, out, 2021, load_rules(), settle=0, feedback=True)  # nothing changed: still written, since it was not in place
    assert not again.unchanged and again.notes == []
    assert _cells(held) == _cells(beside_copy)  # tonight's content under the name people open
    assert sorted(p.name for p in held.parent.iterdir()) == ["620101_甲单位_复核结果.xlsx", "620102_乙单位_复核结果.xlsx"]
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["not_in_place"] == {}
    assert run(src, out, 2021, load_rules(), settle=0, feedback=True).unchanged


def test_a_held_run_json_makes_the_next_night_write_again(tmp_path, monkeypatch):
    src, out = _two_departments(tmp_path)
    run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_name="甲单位", self_total=80), "a.xlsx")
    summary = out / "run.json"
    _refuse_replace(monkeypatch, lambda a, b: win_error(5) if b == summary else None)
    night = run(src, out, 2021, load_rules(), settle=0)
    beside = next(p for p in out.iterdir() if p.name.startswith("run_"))
    assert night.notes[-1] == f"运行摘要 run.json 正被占用（可能正被打开），无法替换，本次结果已另存为 {beside.name}；下次运行将重试"
    # Tonight's summary is the one beside, the first night's still under the name: told apart by
    # what they read (two runs can finish within the same second, so not by their times).
    first, tonight = (json.loads(f.read_text(encoding="utf-8")) for f in (summary, beside))
    assert tonight["finished"] == night.result.meta["finished"]
    sha = {r.name: r.sha256 for r in night.result.records}["a.xlsx"]
    assert [f["sha256"] for f in tonight["files"] if f["name"] == "a.xlsx"] == [sha]
    assert [f["sha256"] for f in first["files"] if f["name"] == "a.xlsx"] != [sha]
    monkeypatch.undo()
    again = run(src, out, 2021, load_rules(), settle=0)
    assert not again.unchanged and not beside.exists()
    assert json.loads(summary.read_text(encoding="utf-8"))["finished"] == again.result.meta["finished"]
    assert run(src, out, 2021, load_rules(), settle=0).unchanged


# --- the history never lies ------------------------------------------------------------------


def test_a_run_killed_while_writing_reads_interrupted_after_the_next_start(tmp_path, monkeypatch):
    src, out = _two_departments(tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # not an Exception: nothing of the run's own handling runs, as with 结束任务

    monkeypatch.setattr(runner, "write_workbook", killed)
    with pytest.raises(KeyboardInterrupt):
        run(src, out, 2021, load_rules(), settle=0)
    monkeypatch.undo()
    db = H.db_path_for(out)
    assert H.list_runs(db)["结果"].tolist() == ["进行中"]
    run(src, out, 2021, load_rules(), settle=0)
    runs = H.list_runs(db)
    assert runs[["结果", "单位数", "退出码"]].astype(object).values.tolist() == [
        ["中断", 2, 0], ["已评分", 2, 0]]
    assert runs["完成时间"].isna().tolist() == [True, False]
    assert runs["主机"].tolist() == [socket.gethostname()] * 2 and runs["进程"].tolist() == [os.getpid()] * 2
    assert H.previous_run(db, 2) is None  # an interrupted run is never compared with


def test_history_leaves_the_database_byte_identical_also_an_older_one(tmp_path):
    src, out = _two_departments(tmp_path)
    run(src, out, 2021, load_rules(), settle=0)
    db = H.db_path_for(out)
    before = db.read_bytes()
    assert CliRunner().invoke(app, ["history", str(out)]).exit_code == 0
    assert db.read_bytes() == before
    old = tmp_path / "old" / H.DB_NAME
    old.parent.mkdir()
    conn = sqlite3.connect(old)
    conn.executescript(H.MIGRATIONS[0] + "PRAGMA user_version = 1; INSERT INTO runs (started, year, recorded) VALUES ('x', 2021, 'x');")
    conn.close()
    before = old.read_bytes()
    shown = CliRunner().invoke(app, ["history", str(old.parent)])
    assert shown.exit_code == 0 and "已评分" in shown.output
    assert old.read_bytes() == before


def test_a_database_from_a_newer_version_is_exit_7_and_nothing_is_written(tmp_path):
    src, out = _two_departments(tmp_path)
    out.mkdir()
    db = H.db_path_for(out)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {H.SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    ran = CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--year", "2021", "--settle", "0"])
    assert ran.exit_code == 7
    assert f"运行记录数据库 {db} 由较新版本的 evalbatch 创建（数据库结构版本 {H.SCHEMA_VERSION + 1}" in ran.output
    assert db.read_bytes() == before and not (out / "绩效自评汇总_2021.xlsx").exists()
    shown = CliRunner().invoke(app, ["history", str(out)])
    assert shown.exit_code == 7 and "请升级 evalbatch" in shown.output


def test_a_tool_holding_a_write_transaction_fails_the_run_loudly_after_the_bounded_wait(tmp_path, monkeypatch):
    src, out = _two_departments(tmp_path)
    run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_name="甲单位", self_total=80), "a.xlsx")
    monkeypatch.setattr(H, "BUSY_TIMEOUT_MS", 300)
    db = H.db_path_for(out)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # DB Browser for SQLite with an unsaved change
    try:
        with pytest.raises(OutputError) as caught:
            run(src, out, 2021, load_rules(), settle=0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(caught.value) == (f"无法记录本次运行：写入运行记录数据库 {db} 失败；本次运行未记录：数据库被其他程序锁定超过 0.3 秒"
                                 "（可能有人用 SQLite 工具打开着它，或另一台电脑上的 evalbatch history 仍在读取）；请关闭该程序后重新运行")
    assert H.list_runs(db)["结果"].tolist() == ["已评分"]  # nothing half-recorded
    assert self_totals_unchanged(out)


def self_totals_unchanged(out: Path) -> bool:
    """The workbook of the first run is still the one in place (nothing written after the refusal)."""
    return json.loads((out / "run.json").read_text(encoding="utf-8"))["exit_code"] == 0 and len(list((out / "history").iterdir())) == 1


# --- a missing or denied inbox -----------------------------------------------------------------


def test_a_missing_inbox_is_exit_6_and_recorded(tmp_path):
    out = tmp_path / "out"
    ran = CliRunner().invoke(app, ["run", str(tmp_path / "收件"), "--out", str(out), "--year", "2021"])
    assert ran.exit_code == 6
    assert f"无法打开收件文件夹 {tmp_path / '收件'}：文件夹不存在，或共享盘未连接；请检查路径和网络连接；本次没有做任何改动" in ran.output
    runs = H.list_runs(H.db_path_for(out))
    assert runs[["结果", "退出码"]].values.tolist() == [["未评分：收件文件夹为空、缺失或单位过少", 6]]


def test_an_unreachable_share_is_exit_6_named_from_winerror(tmp_path, monkeypatch):
    src, out = _two_departments(tmp_path)
    real = os.scandir

    def unreachable(path="."):
        if Path(path) == src:
            raise win_error(53, 2, "The network path was not found", cls=FileNotFoundError)
        return real(path)

    monkeypatch.setattr(runner.os, "scandir", unreachable)
    with pytest.raises(runner.InputMissing) as caught:
        run(src, out, 2021, load_rules(), settle=0)
    assert str(caught.value) == (f"无法打开收件文件夹 {src}：找不到网络路径：服务器或共享盘无法访问；请检查网络连接、服务器是否开机和共享盘地址；"
                                 "本次没有做任何改动")


# --- the lock's edges --------------------------------------------------------------------------


class FakeMsvcrt:
    """msvcrt.locking as on Windows: a byte another handle has locked is EACCES at once."""

    LK_NBLCK = 2

    def __init__(self):
        self.locked: set[int] = set()

    def locking(self, fd, mode, nbytes):
        key = os.fstat(fd).st_ino
        if key in self.locked:
            raise PermissionError(errno.EACCES, "Permission denied")
        self.locked.add(key)


def test_the_windows_lock_needs_nothing_of_pywin32(tmp_path, monkeypatch):
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    for broken in ("win32file", "win32con", "pywintypes", "win32api"):
        monkeypatch.setitem(sys.modules, broken, None)  # `import win32file` raises ImportError
    path = tmp_path / ".evalbatch.lock"
    with open(path, "a+b") as first, open(path, "a+b") as second:
        lock.os_lock(first, system="nt")
        with pytest.raises(lock._HeldElsewhere):
            lock.os_lock(second, system="nt")
    assert fake.locked == {path.stat().st_ino}


def test_the_holder_file_names_host_process_and_run_id(tmp_path):
    src, out = _two_departments(tmp_path)
    seen = {}
    real = runner._sweep

    def look(out_dir):
        seen.update(json.loads((out_dir / lock.HOLDER_NAME).read_text(encoding="utf-8")))
        return real(out_dir)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_sweep", look)
        outcome = run(src, out, 2021, load_rules(), settle=0)
    assert (seen["host"], seen["pid"], seen["run_id"]) == (socket.gethostname(), os.getpid(), outcome.run_id)
    assert lock._describe(seen)["run_id"] == str(outcome.run_id)


@pytest.mark.parametrize("how", ["share dropped", "another run got in"])
def test_a_lock_lost_mid_run_ends_the_run_before_any_output_is_written(tmp_path, monkeypatch, how):
    src, out = _two_departments(tmp_path)
    real_evaluate = runner.evaluate

    def evaluate_then_lose_the_lock(*args, **kwargs):
        result = real_evaluate(*args, **kwargs)
        if how == "share dropped":
            real_fstat, lock_file = os.fstat, (out / lock.LOCK_NAME).stat().st_ino

            def dropped(fd):  # the lock's handle went with the share; nothing else did
                st = real_fstat(fd)
                if st.st_ino == lock_file:
                    raise win_error(64, 22, "The specified network name is no longer available", cls=OSError)
                return st

            monkeypatch.setattr(lock.os, "fstat", dropped)
        else:
            (out / lock.HOLDER_NAME).write_text(json.dumps({"host": "PC-02", "pid": 4711, "token": "theirs"}), encoding="utf-8")
        return result

    monkeypatch.setattr(runner, "evaluate", evaluate_then_lose_the_lock)
    with pytest.raises(lock.LockLost) as caught:
        run(src, out, 2021, load_rules(), settle=0, feedback=True, parquet=True)
    monkeypatch.undo()
    expected = ("运行锁已丢失：网络连接已中断（指定的网络名不再可用）；请检查网络和服务器，恢复后重新运行（The specified network name is no longer "
                "available）。输出文件夹所在的共享盘可能断开过；本次运行就此停止，不再写出输出，请检查网络后重新运行") if how == "share dropped" else (
        "运行锁已丢失：运行锁信息现在指向主机 PC-02 的进程 4711。输出文件夹所在的共享盘可能断开过，期间另一个运行开始了；本次运行就此停止，不再写出输出")
    assert str(caught.value) == expected
    assert not (out / "绩效自评汇总_2021.xlsx").exists() and not (out / "run.json").exists()
    assert not (out / "feedback").exists() or not list((out / "feedback").glob("*.xlsx"))
    assert not (out / "parquet").exists() or not list((out / "parquet").iterdir())
    assert H.list_runs(H.db_path_for(out))[["结果", "退出码", "说明"]].values.tolist() == [["失败", 4, expected]]


# --- the wrapper and the scheduled task ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def test_the_wrapper_writes_one_log_per_run_and_never_holds_a_shared_one():
    text = (ROOT / "run-nightly.cmd").read_bytes().decode("ascii")
    assert "nightly.log" not in text.replace("nightly-", "")  # no file every run appends to
    assert 'set "LOG=%~dp0logs\\nightly-%STAMP%.log"' in text
    assert "[guid]::NewGuid()" in text and 'if not defined STAMP set "STAMP=' in text
    assert '"%~dp0.venv\\Scripts\\evalbatch.exe" run %* >> "%LOG%" 2>&1' in text
    assert 'forfiles /p "%~dp0logs" /m nightly-*.log /d -90' in text


def test_the_shipped_task_xml_has_the_settings_that_keep_nights_from_being_skipped():
    raw = (ROOT / "deploy" / "evalbatch-nightly.xml").read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 with its mark, as schtasks /XML reads it
    import xml.etree.ElementTree as ET

    task = ET.fromstring(raw.decode("utf-16").replace('encoding="UTF-16"', ""))
    assert task.tag == f"{TASK}Task" and task.get("version") == "1.4"  # 1.4: Windows 8 / Server 2012 and later
    settings = {e.tag.removeprefix(TASK): (e.text or "").strip() for e in task.find(f"{TASK}Settings")}
    assert {k: settings[k] for k in ("StartWhenAvailable", "AllowStartOnDemand", "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries",
                                     "MultipleInstancesPolicy", "ExecutionTimeLimit", "RunOnlyIfIdle", "RunOnlyIfNetworkAvailable")} == {
        "StartWhenAvailable": "true", "AllowStartOnDemand": "true", "DisallowStartIfOnBatteries": "false",
        "StopIfGoingOnBatteries": "false", "MultipleInstancesPolicy": "IgnoreNew", "ExecutionTimeLimit": "PT12H",
        "RunOnlyIfIdle": "false", "RunOnlyIfNetworkAvailable": "false"}
    # Every settings element is one Task Scheduler's schema knows (a typo is refused at import).
    assert set(settings) <= {"AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy", "DisallowStartIfOnBatteries",
                             "StopIfGoingOnBatteries", "AllowHardTerminate", "StartWhenAvailable", "NetworkProfileName",
                             "RunOnlyIfNetworkAvailable", "WakeToRun", "Enabled", "Hidden", "DeleteExpiredTaskAfter", "IdleSettings",
                             "NetworkSettings", "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle", "UseUnifiedSchedulingEngine",
                             "DisallowStartOnRemoteAppSession", "Volatile", "MaintenanceSettings"}
    assert settings["MultipleInstancesPolicy"] in {"Parallel", "Queue", "IgnoreNew", "StopExisting"}
    assert re.fullmatch(r"PT0S|P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?", settings["ExecutionTimeLimit"])
    trigger = task.find(f"{TASK}Triggers/{TASK}CalendarTrigger")
    assert trigger.find(f"{TASK}ScheduleByDay/{TASK}DaysInterval").text == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT02:00:00", trigger.find(f"{TASK}StartBoundary").text)
    assert task.find(f"{TASK}Principals/{TASK}Principal/{TASK}LogonType").text == "Password"  # runs with nobody logged on
    action = task.find(f"{TASK}Actions/{TASK}Exec")
    command, arguments = action.find(f"{TASK}Command").text, action.find(f"{TASK}Arguments").text
    assert command.endswith("\\run-nightly.cmd") and (ROOT / command.rsplit("\\", 1)[1]).exists()
    assert action.find(f"{TASK}WorkingDirectory").text == command.rsplit("\\", 1)[0]
    assert " --out " in arguments and arguments.endswith("--findings-exit 0") and arguments.startswith('"\\\\')
    assert len(f"{command} {arguments}") <= 261


def test_operations_doc_has_the_scheduler_settings_and_result_codes():
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for needed in ("deploy\\evalbatch-nightly.xml", "StartWhenAvailable", "MultipleInstancesPolicy", "ExecutionTimeLimit",
                   "DisallowStartIfOnBatteries", "0x41306", "0x80070569", "0x80070532", "0x8004131F", "| 6 |", "| 7 |", "DFS",
                   "Server 2012 R2", "KB2999226", "64 位"):
        assert needed in doc, needed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in ("| 6 |", "| 7 |", "Python 3.12", "KB2999226", "64 位", "0x6", "0x7"):
        assert needed in readme, needed


# --- time comes from when the file arrived -------------------------------------------------------


def test_a_corrected_file_from_a_pc_whose_clock_is_behind_wins_on_windows(tmp_path, monkeypatch):
    from evalbatch.read import discover as discover_module

    src = tmp_path / "in"
    write(src, reference(dept_name="甲单位"), "原件.xlsx")
    write(src, reference(dept_name="甲单位", self_total=80), "更正.xlsx")
    now = time.time()
    os.utime(src / "原件.xlsx", (now - 3600, now - 3600))  # saved an hour ago
    time.sleep(0.05)
    # Saved yesterday on the department's PC (its clock a day behind), copied here just now: Windows
    # keeps the modification time and gives the copy a new creation time (ctime stands in for it here).
    os.utime(src / "更正.xlsx", (now - 86400, now - 86400))
    monkeypatch.setattr(discover_module, "file_time", lambda st: files.file_time(st, windows=True))
    result = run(src, tmp_path / "out", 2021, load_rules(), settle=0).result
    assert {r.name: r.status for r in result.records} == {"原件.xlsx": "被取代", "更正.xlsx": "已采用"}
    assert result.depts["self_total"].tolist() == [80]
    monkeypatch.undo()  # elsewhere the modification time decides, as before
    again = run(src, tmp_path / "out2", 2021, load_rules(), settle=0).result
    assert {r.name: r.status for r in again.records} == {"原件.xlsx": "已采用", "更正.xlsx": "被取代"}


def test_file_time_is_the_later_of_modified_and_created_on_windows_only():
    st = os.stat_result((0, 0, 0, 0, 0, 0, 0, 100, 50, 200))  # atime 100, mtime 50, ctime 200
    assert files.file_time(st, windows=True) == 200 and files.file_time(st, windows=False) == 50
    st = os.stat_result((0, 0, 0, 0, 0, 0, 0, 100, 300, 200))
    assert files.file_time(st, windows=True) == 300


def test_a_missing_inbox_is_not_a_usage_error_in_chinese(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "evalbatch", "run", "no-such-folder", "--out", "汇总", "--year", "2021"],
                          capture_output=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 6
    assert proc.stderr.decode("utf-8").strip().splitlines()[-1] == \
        "无法打开收件文件夹 no-such-folder：文件夹不存在，或共享盘未连接；请检查路径和网络连接；本次没有做任何改动"

"""Windows nights, second look (issue 23): what a Windows server, an SMB share, a scanner and
an analyst's Excel do to a night, imitated with the errors Windows raises (winerror set by
hand: Python sets it on Windows only)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from builders import reference, write

from evalbatch import files
from evalbatch.files import OutputError
from evalbatch.night.runner import run
from evalbatch.read import reader
from evalbatch.rules import load_rules


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
    first_finished = json.loads(summary.read_text(encoding="utf-8"))["finished"]
    assert json.loads(beside.read_text(encoding="utf-8"))["finished"] == night.result.meta["finished"] != first_finished
    monkeypatch.undo()
    again = run(src, out, 2021, load_rules(), settle=0)
    assert not again.unchanged and not beside.exists()
    assert json.loads(summary.read_text(encoding="utf-8"))["finished"] == again.result.meta["finished"]
    assert run(src, out, 2021, load_rules(), settle=0).unchanged

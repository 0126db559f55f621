"""Nightly runs on a shared drive: discovery, fault isolation, lock, atomic outputs, records."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import faults
import openpyxl
import pytest
from builders import reference, write

from evalbatch import files
from evalbatch.lock import HOLDER_NAME, RunLock
from evalbatch.night.runner import run
from evalbatch.read.discover import discover
from evalbatch.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]


def evalbatch(*args, timeout=300):
    """`python -m evalbatch ...` in a child, with the child's peak RSS (MB) measured."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-m', 'evalbatch', *sys.argv[1:]], capture_output=True, text=True)\n"
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
        "sys.stderr.write('\\nPEAK_MB=%d\\n' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))\n"
        "sys.exit(p.returncode)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    peak = int(proc.stderr.rsplit("PEAK_MB=", 1)[1].split()[0])
    return proc, peak


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """One good submission among every kind of bad file a shared drive collects."""
    src = tmp_path_factory.mktemp("drive")
    good = write(src, reference(), "620101_省委编办.xlsx")
    older = write(src / "旧版", reference(self_total=88), "620101_省委编办_初稿.xlsx")
    os.utime(older, (time.time() - 86400, time.time() - 86400))
    bad = src / "退回"
    bad.mkdir()
    made = {
        "truncated": faults.truncated(bad),
        "empty": faults.empty(bad),
        "text": faults.text_as_xlsx(bad),
        "encrypted": faults.encrypted(bad),
        "bomb": faults.zip_bomb(bad, uncompressed_mb=600),
    }
    faults.lock_file(src)
    (src / "说明.docx").write_bytes(b"PK\x03\x04 not really")
    (src / ".DS_Store").write_bytes(b"\x00")
    for p in [good, older, *made.values()]:
        os.utime(p, (time.time() - 3600, time.time() - (86400 if p == older else 3600)))
    out = tmp_path_factory.mktemp("out")
    proc, peak = evalbatch("run", src, "--out", out, "--year", "2021", "--jobs", "2")
    return src, out, proc, peak, made


def test_messy_folder_finishes_with_exit_1_and_low_memory(messy):
    _src, out, proc, peak, _ = messy
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert peak < 500, f"peak RSS {peak} MB"
    assert (out / "绩效自评汇总_2021.xlsx").exists()


def test_messy_folder_scores_the_good_file_exactly(messy):
    _src, out, *_ = messy
    ws = openpyxl.load_workbook(out / "绩效自评汇总_2021.xlsx")["汇总排名"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    body = [dict(zip(head, r)) for r in rows[1:rows.index((None,) * len(head))]]  # above the totals row
    assert [(d["单位编码"], d["复核得分"], d["自评得分"], d["评价等级"], d["排名"]) for d in body] == [("620101", 90.56, 90.56, "优", 1)]


def test_messy_folder_names_every_bad_file_once(messy):
    _src, out, _proc, _peak, made = messy
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    files = {f["name"]: f for f in summary["files"]}
    ws = openpyxl.load_workbook(out / "绩效自评汇总_2021.xlsx")["审核问题"]
    rows = [r for r in ws.iter_rows(values_only=True)][1:]
    errors = {}
    for r in rows:
        if r[5] == "错误":
            errors.setdefault(r[0], []).append(r[8])
    expected = {
        "truncated": "file.truncated", "empty": "file.empty", "text": "file.not_spreadsheet",
        "encrypted": "file.encrypted", "bomb": "file.suspicious",
    }
    for kind, rule in expected.items():
        name = "退回/" + made[kind].name
        assert errors.pop(name) == [rule], kind
        assert files[name]["status"] == "无法使用"
    assert errors == {}
    superseded = [r for r in rows if r[8] == "file.superseded"]
    assert [(r[0], r[5]) for r in superseded] == [("旧版/620101_省委编办_初稿.xlsx", "警告")]
    assert "620101_省委编办.xlsx" in superseded[0][7]
    assert files["旧版/620101_省委编办_初稿.xlsx"]["status"] == "被取代"
    assert files["620101_省委编办.xlsx"]["status"] == "已采用"
    assert [f["name"] for f in summary["files"] if len(f["sha256"]) != 64] == []


def test_lock_files_and_other_files_are_counted_not_reported(messy):
    _src, out, *_ = messy
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert summary["skipped"] == {"Office 锁定文件（~$）": 1, "非表格文件": 1, "隐藏文件或文件夹": 1}
    assert not any(f["name"].startswith("~$") or f["name"].endswith(".docx") for f in summary["files"])
    assert summary["exit_code"] == 1
    assert summary["findings"]["错误"] == 5


def test_discovery_leaves_files_still_being_copied(tmp_path):
    write(tmp_path, reference(), "a.xlsx")
    fresh = write(tmp_path / "sub", reference(dept_code="2"), "b.xlsx")
    old = time.time() - 600
    os.utime(tmp_path / "a.xlsx", (old, old))
    found = discover(tmp_path, settle_seconds=120)
    assert [f.name for f in found.files] == ["a.xlsx"]
    assert [f.name for f in found.pending] == ["sub/b.xlsx"]
    outcome = run(tmp_path, tmp_path / "out", 2021, load_rules(), settle=120)
    f = outcome.result.findings
    pending = f[f["rule_id"] == "file.pending"]
    assert pending[["file", "level"]].values.tolist() == [["sub/b.xlsx", "提示"]]
    assert outcome.exit_code == 0
    assert fresh.exists()


def test_output_folder_inside_the_input_folder_is_not_read(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    (src / ".git").mkdir()
    (src / ".git" / "x.xlsx").write_bytes(b"junk")
    out = src / "汇总"
    first = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    second = run(src, out, 2021, load_rules(), settle=0, use_cache=False, feedback=True)
    assert [r.name for r in first.result.records] == [r.name for r in second.result.records] == ["a.xlsx"]
    assert second.result.skipped == {"隐藏文件或文件夹": 1}
    assert second.exit_code == 0


def test_unexpected_exception_is_one_error_and_a_logged_traceback(tmp_path, monkeypatch):
    write(tmp_path, reference(), "a.xlsx")
    write(tmp_path, reference(dept_code="2"), "b.xlsx")
    import evalbatch.read.chunk as batch
    import evalbatch.read.load as load

    monkeypatch.setattr(load, "IN_PROCESS", True)  # the patch below lives in this process only
    real = batch.locate

    def flaky(raw, name, rules):
        if name == "b.xlsx":
            raise ZeroDivisionError("boom")
        return real(raw, name, rules)

    monkeypatch.setattr(batch, "locate", flaky)
    outcome = run(tmp_path, tmp_path / "out", 2021, load_rules(), settle=0)
    f = outcome.result.findings
    assert f.loc[f["level"] == "错误", ["file", "rule_id"]].values.tolist() == [["b.xlsx", "file.internal"]]
    assert "boom" not in " ".join(f["message"])
    log = outcome.log_file.read_text(encoding="utf-8")
    assert "Traceback" in log and "ZeroDivisionError: boom" in log
    assert outcome.exit_code == 1 and len(outcome.result.depts) == 1


# One run at a time: tests/test_lock.py.


# --- nothing half-written -----------------------------------------------------------------


def _previous(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    out = tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(self_total=80), "a.xlsx")  # tonight's file differs
    return src, out, first.workbook, first.workbook.read_bytes()


def test_run_killed_just_before_the_move_leaves_the_previous_workbook(tmp_path, monkeypatch):
    src, out, target, before = _previous(tmp_path)

    def killed(a, b):
        raise KeyboardInterrupt  # what SIGINT at that instant looks like

    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run(src, out, 2021, load_rules(), settle=0)
    assert target.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".~evalbatch-")], "temporary files are cleaned up"
    assert not (out / HOLDER_NAME).exists()
    RunLock(out).acquire().release()  # the lock was released


def test_run_killed_hard_while_writing_leaves_the_previous_workbook(tmp_path):
    src, out, target, before = _previous(tmp_path)
    code = (
        "import os, signal, evalbatch.write.report as r\n"
        "real = r.write_workbook\n"
        "def die(result, path, **options):\n"
        "    real(result, path, **options)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "r.write_workbook = die\n"
        "import evalbatch.night.runner as run\n"
        "run.write_workbook = die\n"
        "from evalbatch.cli import main\n"
        f"import sys; sys.argv = ['evalbatch', 'run', {str(src)!r}, '--out', {str(out)!r}, '--year', '2021', '--settle', '0']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9
    assert target.read_bytes() == before
    # The next run takes over the dead run's lock and replaces the workbook.
    after = run(src, out, 2021, load_rules(), settle=0)
    assert after.workbook == target and target.read_bytes() != before


def test_target_open_elsewhere_gets_a_timestamped_workbook(tmp_path, monkeypatch):
    src, out, target, before = _previous(tmp_path)
    real = os.replace

    def refuse_target(a, b):
        if Path(b) == target:
            raise PermissionError(13, "Permission denied")
        return real(a, b)

    monkeypatch.setattr(files.os, "replace", refuse_target)
    outcome = run(src, out, 2021, load_rules(), settle=0)
    assert outcome.exit_code == 0
    assert outcome.workbook != target and outcome.workbook.name.startswith("绩效自评汇总_2021_")
    assert outcome.workbook.exists() and target.read_bytes() == before
    assert "正被打开" in outcome.notes[0]
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert summary["outputs"]["workbook"] == str(outcome.workbook)


def test_output_folder_that_cannot_be_written_exits_4(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    proc, _ = evalbatch("run", src, "--out", blocker / "out", "--year", "2021", "--settle", "0")
    assert proc.returncode == 4
    assert "无法创建输出文件夹" in proc.stderr and "Traceback" not in proc.stderr


def test_history_keeps_the_newest_n(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    out = tmp_path / "out"
    hist = out / "history"
    hist.mkdir(parents=True)
    for stamp in ("20210101-000001", "20210101-000002", "20210101-000003"):
        (hist / f"{stamp}_绩效自评汇总_2021.xlsx").write_bytes(b"old")
    (hist / "20200101-000001_绩效自评汇总_2020.xlsx").write_bytes(b"another year")
    outcome = run(src, out, 2021, load_rules(), settle=0, keep=2)
    assert sorted(p.name for p in hist.iterdir()) == sorted([
        "20200101-000001_绩效自评汇总_2020.xlsx", "20210101-000003_绩效自评汇总_2021.xlsx", outcome.history_file.name])
    assert outcome.history_file.read_bytes() == outcome.workbook.read_bytes()


def test_outputs_are_readable_by_others(tmp_path):
    src = tmp_path / "in"
    write(src, reference(), "a.xlsx")
    outcome = run(src, tmp_path / "out", 2021, load_rules(), settle=0)
    assert outcome.workbook.stat().st_mode & 0o044 == 0o044


def test_progress_lines_when_not_on_a_terminal_and_quiet(tmp_path):
    src = tmp_path / "in"
    for i in range(3):
        write(src, reference(dept_code=str(i)), f"{i}.xlsx")
    proc, _ = evalbatch("run", src, "--out", tmp_path / "o1", "--year", "2021", "--settle", "0", "--jobs", "1")
    assert "已读取 3/3 个文件" in proc.stderr
    assert proc.returncode == 0
    proc, _ = evalbatch("run", src, "--out", tmp_path / "o2", "--year", "2021", "--settle", "0", "--quiet")
    assert proc.stdout == "" and "已读取" not in proc.stderr


def test_history_keeps_the_newest_copy_when_two_runs_share_a_second(tmp_path):
    """unique_path names a second copy of the same second …-2.xlsx, which sorts before ….xlsx:
    pruning by name alone removed tonight's copy and kept the older one."""
    from evalbatch.night.runner import _keep_history

    target, hist = tmp_path / "绩效自评汇总_2021.xlsx", tmp_path / "history"
    hist.mkdir()
    (hist / "20261203-120000_绩效自评汇总_2021.xlsx").write_bytes(b"first")
    (hist / "20261203-115959_绩效自评汇总_2021.xlsx").write_bytes(b"older")
    for content, expected in ((b"second", "-2"), (b"third", "")):  # the name freed by the first prune is used again
        target.write_bytes(content)
        copy = _keep_history(target, target, hist, "20261203-120000", keep=1)
        assert copy.name == f"20261203-120000_绩效自评汇总_2021{expected}.xlsx"
        assert [p.name for p in hist.iterdir()] == [copy.name] and copy.read_bytes() == content
    target.write_bytes(b"fourth")
    copy = _keep_history(target, target, hist, "20261203-120001", keep=2)
    assert sorted(p.read_bytes() for p in hist.iterdir()) == [b"fourth", b"third"]

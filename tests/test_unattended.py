"""Nights nobody watches: outputs that never go stale, files still being copied, every run
attempt in the history, housekeeping that never fails a run, validation that fails early
(exit 2), a full or read-only disk (exit 4) and an unexpected failure (exit 5)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch import files
from evalbatch.cli import app
from evalbatch.files import OutputError
from evalbatch.lock import HOLDER_NAME, Locked, RunLock
from evalbatch.night.runner import RunFailed, run
from evalbatch.rules import load_rules
from evalbatch.write import history as H

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = "绩效自评汇总_2021.xlsx"


def folder(tmp_path: Path, n: int = 2) -> Path:
    src = tmp_path / "in"
    for i in range(n):
        write(src, reference(dept_code=f"62010{i + 1}", dept_name=f"单位{i + 1}"), f"{i + 1}.xlsx")
    return src


def self_totals(workbook: Path) -> dict[str, float]:
    rows = list(openpyxl.load_workbook(workbook, read_only=True)["汇总排名"].iter_rows(values_only=True))
    head = rows[0]
    return {r[head.index("单位编码")]: r[head.index("自评得分")] for r in rows[1:] if r[head.index("单位编码")]}


def hits(outcome) -> str:
    return next(line for line in outcome.log_file.read_text(encoding="utf-8").splitlines() if "缓存命中" in line)


def leftovers(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.name.startswith((".~evalbatch-", ".cache-")))


def assert_lock_free(out: Path) -> None:
    assert not (out / HOLDER_NAME).exists()
    RunLock(out).acquire().release()


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# --- outputs never stale ---------------------------------------------------------------------


def test_after_a_fallback_night_an_unchanged_night_puts_the_results_in_place(tmp_path, monkeypatch):
    src, out = folder(tmp_path), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_code="620101", dept_name="单位1", self_total=80), "1.xlsx")
    target, real = out / WORKBOOK, files.os.replace

    def excel_has_it(a, b):
        if Path(b) == target:
            raise PermissionError(13, "Permission denied")
        return real(a, b)

    monkeypatch.setattr(files, "RETRY_DELAYS", ())
    monkeypatch.setattr(files.os, "replace", excel_has_it)
    fallback = run(src, out, 2021, load_rules(), settle=0)
    assert fallback.workbook != target and self_totals(target)["620101"] == 90.56
    monkeypatch.undo()
    night = run(src, out, 2021, load_rules(), settle=0)  # nothing changed, and the target is free now
    assert not night.unchanged and night.workbook == target
    assert "缓存命中 2 个文件，需要读取 0 个" in hits(night)
    assert self_totals(target)["620101"] == 80
    assert not fallback.workbook.exists(), "the timestamped copy is superseded (history/ keeps one)"
    assert run(src, out, 2021, load_rules(), settle=0).unchanged


def test_options_asked_for_on_an_unchanged_night_are_produced_from_the_cache(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)
    night = run(src, out, 2021, load_rules(), settle=0, feedback=True, parquet=True)
    assert not night.unchanged
    assert "缓存命中 2 个文件，需要读取 0 个" in hits(night)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["620101_单位1_复核结果.xlsx", "620102_单位2_复核结果.xlsx"]
    assert len(list((out / "parquet").glob("*.parquet"))) == 4
    assert run(src, out, 2021, load_rules(), settle=0, feedback=True, parquet=True).unchanged
    assert run(src, out, 2021, load_rules(), settle=0).unchanged  # asking for less is still unchanged
    for p in (out / "feedback").iterdir():
        p.unlink()
    again = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    assert not again.unchanged and len(list((out / "feedback").iterdir())) == 2


def test_feedback_holds_exactly_this_runs_departments(tmp_path):
    src, out = folder(tmp_path, 3), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0, feedback=True)
    (src / "2.xlsx").unlink()  # withdrawn
    write(src, reference(dept_code="620103", dept_name="单位三"), "3.xlsx")  # renamed
    run(src, out, 2021, load_rules(), settle=0, feedback=True)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["620101_单位1_复核结果.xlsx", "620103_单位三_复核结果.xlsx"]


def test_a_department_whose_new_file_is_still_copying_keeps_its_previous_version(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    old = time.time() - 3600
    for p in src.iterdir():
        os.utime(p, (old, old))
    run(src, out, 2021, load_rules(), settle=120)
    write(src, reference(dept_code="620102", dept_name="单位2", self_total=70), "2.xlsx")  # copying right now
    quiet = run(src, out, 2021, load_rules(), settle=120)
    assert quiet.unchanged and quiet.pending == 1  # tonight's inputs are last night's: nothing to rewrite
    write(src, reference(dept_code="620101", dept_name="单位1", self_total=85), "1.xlsx")
    os.utime(src / "1.xlsx", (old, old))  # and another department's new file is complete
    r = invoke("run", src, "--out", out, "--year", "2021")
    assert r.exit_code == 0, r.output
    assert self_totals(out / WORKBOOK) == {"620101": 85, "620102": 90.56}
    assert ("1 个文件在 120 秒内修改过，可能仍在复制中，留待下次运行处理（其中 1 个本次沿用上次采用的版本）；"
            "如确认已复制完毕，可加 --settle 0 立即处理") in r.output
    ws = list(openpyxl.load_workbook(out / WORKBOOK, read_only=True)["审核问题"].iter_rows(values_only=True))
    held = [row for row in ws if row[0] == "2.xlsx" and row[8] == "file.pending"]
    assert len(held) == 1 and held[0][5] == "提示" and "本次沿用上次采用的版本" in held[0][7]
    changes = list(openpyxl.load_workbook(out / WORKBOOK, read_only=True)["变动情况"].iter_rows(values_only=True))
    assert not any("撤回" in str(c) for row in changes for c in row)
    settled = run(src, out, 2021, load_rules(), settle=0)
    assert self_totals(settled.workbook)["620102"] == 70


def test_a_folder_copied_just_now_is_not_scored_and_replaces_nothing(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    r = invoke("run", src, "--out", out, "--year", "2021")  # the README command, right after copying
    assert r.exit_code == 1
    assert not (out / WORKBOOK).exists() and not (out / "history").exists()
    assert "全部 2 个文件都在 120 秒内修改过，可能仍在复制中；本次没有评分，汇总工作簿和历史副本都未改动。" in r.output
    assert "--settle 0 立即处理" in r.output and "评分 0 个单位" not in r.output
    good = run(src, out, 2021, load_rules(), settle=0)
    before = good.workbook.read_bytes()
    for p in src.iterdir():
        p.write_bytes(p.read_bytes())  # the same files copied again: the previous versions stand in
    same = run(src, out, 2021, load_rules(), settle=120)
    assert same.unchanged and same.exit_code == 0 and same.pending == 2
    for p in src.iterdir():
        p.rename(p.with_name("new-" + p.name))  # files never scored before, still being copied
    again = run(src, out, 2021, load_rules(), settle=120)
    assert again.exit_code == 1 and again.result is None and again.pending == 2
    assert good.workbook.read_bytes() == before and len(list((out / "history").iterdir())) == 1


# --- every attempt in the history ------------------------------------------------------------


def test_every_run_attempt_is_recorded_with_its_exit_code(tmp_path, monkeypatch):
    from test_lock import held_by_child

    src, out = folder(tmp_path), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0)  # scored
    run(src, out, 2021, load_rules(), settle=0)  # unchanged
    with held_by_child(out), pytest.raises(Locked):  # refused
        run(src, out, 2021, load_rules(), settle=0)
    run(src, out, 2021, load_rules(), settle=3600, use_cache=False)  # every file "still being copied", nothing to hold: waiting
    import evalbatch.night.runner as runner

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runner, "write_workbook", boom)
    with pytest.raises(RunFailed):
        run(src, out, 2021, load_rules(), settle=0, use_cache=False)  # failed
    monkeypatch.undo()
    last = run(src, out, 2021, load_rules(), settle=0, use_cache=False)  # scored again
    runs = H.list_runs(H.db_path_for(out))
    assert runs[["结果", "退出码"]].values.tolist() == [
        ["已评分", 0], ["无变化，未重写", 0], ["未运行：另一个运行正在进行", 3], ["未评分：文件仍在复制", 1], ["失败", 5], ["已评分", 0]]
    assert runs["文件数"].tolist() == [2, 2, 0, 2, 2, 2]
    assert runs["说明"].iloc[4] == f"内部错误（ZeroDivisionError），详见日志 {runs['说明'].iloc[4].rsplit(' ', 1)[1]}"
    # The failed run scored before it failed; the next run compares with the last one that completed.
    assert H.previous_run(H.db_path_for(out), last.run_id) == 1
    assert len(H.changes(H.db_path_for(out), last.run_id)) == 0
    shown = invoke("history", out)
    assert shown.exit_code == 0 and "无变化，未重写" in shown.output and "未运行：另一个运行正在进行" in shown.output


def test_a_version_1_history_database_is_migrated_and_its_runs_count_as_scored(tmp_path):
    import sqlite3

    db = tmp_path / H.DB_NAME
    conn = sqlite3.connect(db)
    conn.executescript(H.MIGRATIONS[0] + "PRAGMA user_version = 1; INSERT INTO runs (started, year, recorded) VALUES ('x', 2021, 'x');")
    conn.close()
    assert H.list_runs(db)[["运行编号", "结果", "说明"]].values.tolist() == [[1, "已评分", None]]


# --- housekeeping ----------------------------------------------------------------------------


def test_what_killed_runs_left_is_swept_at_the_next_start(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    run(src, out, 2021, load_rules(), settle=0, feedback=True)
    planted = [out / ".~evalbatch-abc123.xlsx", out / "feedback" / ".~evalbatch-x.xlsx", out / "history" / ".~evalbatch-y.xlsx"]
    for p in planted:
        p.write_bytes(b"half a workbook")
    (out / ".cache-1a2b3c4d").mkdir()
    (out / ".cache-1a2b3c4d" / "info.parquet").write_bytes(b"half")
    (out / ".cache-old-5e6f7a8b").mkdir()
    outcome = run(src, out, 2021, load_rules(), settle=0, feedback=True)
    assert leftovers(out) == []
    assert "清理了中断的运行留下的 5 个临时文件或文件夹" in outcome.log_file.read_text(encoding="utf-8")


def test_a_cache_with_the_right_key_but_other_columns_costs_time_only(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0)
    info = out / "cache" / "info.parquet"
    pd.read_parquet(info).rename(columns={"dept_code": "code"}).to_parquet(info)
    write(src, reference(dept_code="620102", dept_name="单位2", self_total=70), "2.xlsx")
    assert run(src, out, 2021, load_rules(), settle=0, use_cache=False).exit_code == 0  # --no-cache leaves it as it was
    r = run(src, out, 2021, load_rules(), settle=0)
    assert "WARNING 缓存无法读取（info 缺少列 dept_code），本次全部重新读取" in r.log_file.read_text(encoding="utf-8")
    assert sorted(r.result.depts["total"]) == sorted(first.result.depts["total"])
    write(src, reference(dept_code="620102", dept_name="单位2", self_total=60), "2.xlsx")
    assert "缓存命中 1 个文件，需要读取 1 个" in hits(run(src, out, 2021, load_rules(), settle=0))  # replaced by a good one


# --- validation: exit 2 -------------------------------------------------------------------------


@pytest.mark.parametrize("year", ["0", "99999", "-1", "1234567890123456789012"])
def test_an_impossible_year_is_exit_2(tmp_path, year):
    src = folder(tmp_path, 1)
    r = invoke("run", src, "--out", tmp_path / "out", "--year", year, "--settle", "0")
    assert r.exit_code == 2
    assert f"--year 的值无效：{year}；评价年度应在 2000 到 2100 之间" in r.output
    assert not (tmp_path / "out").exists()
    assert invoke("check", src / "1.xlsx", "--year", year).exit_code == 2


@pytest.mark.parametrize("text,says", [
    ("[scoring]\nscore_decimals = 400\n", "scoring.score_decimals 应为 0 到 6 之间的整数，实际为 400"),
    ("[scoring]\nscore_decimals = -1\n", "scoring.score_decimals 应为 0 到 6 之间的整数，实际为 -1"),
    ("[scoring]\nrate_decimals = 1000\n", "scoring.rate_decimals 应为 0 到 10 之间的整数，实际为 1000"),
    ("[checks]\ntolerance = nan\n", "checks.tolerance 应为有限的数字，实际为 nan"),
    ("[checks]\ntolerance = -1\n", "checks.tolerance 不能为负数"),
    ("[limits]\nmax_file_mb = inf\n", "limits.max_file_mb 应为有限的数字，实际为 inf"),
    ("[grades]\nnames = [1, 2, 3, 4]\n", "grades.names 的每一项都应为非空文本"),
    ("[grades]\nlower_bounds = [\"90\", 80, 60, 0]\n", "grades.lower_bounds 的每一项都应为数字"),
    ("[scoring]\ndepartment_total = 0\n", "scoring.department_total 必须大于 0"),
])
def test_rules_values_out_of_range_are_exit_2_naming_the_key(tmp_path, text, says):
    rules = tmp_path / "r.toml"
    rules.write_text(text, encoding="utf-8")
    r = invoke("run", folder(tmp_path, 1), "--out", tmp_path / "out", "--year", "2021", "--rules", rules)
    assert r.exit_code == 2 and says in r.output, r.output


def test_out_equal_to_the_input_folder_never_reads_its_own_outputs(tmp_path):
    src = folder(tmp_path)
    first = run(src, src, 2021, load_rules(), settle=0, feedback=True, parquet=True)
    (src / "1.xlsx").write_bytes((src / "1.xlsx").read_bytes())  # force a real second run
    second = run(src, src, 2021, load_rules(), settle=0, feedback=True, use_cache=False)
    assert [r.name for r in first.result.records] == [r.name for r in second.result.records] == ["1.xlsx", "2.xlsx"]
    assert second.result.skipped["evalbatch 的输出文件"] == 4  # the workbook, its history copy and two feedback files
    assert second.exit_code == 0 and len(second.result.depts) == 2


def test_history_export_to_a_folder_writes_a_named_file_inside_it(tmp_path):
    out = tmp_path / "out"
    run(folder(tmp_path, 1), out, 2021, load_rules(), settle=0)
    target = tmp_path / "导出"
    target.mkdir()
    r = invoke("history", out, "--export", target)
    assert r.exit_code == 0 and (target / "历次运行.xlsx").exists()
    assert f"已导出 1 行：{target / '历次运行.xlsx'}" in r.output
    r = invoke("history", out, "--export", tmp_path / "x.txt")
    assert r.exit_code == 2 and "应为 .xlsx 或 .csv 文件，或一个已有的文件夹" in r.output and "Traceback" not in r.output
    (tmp_path / "a-file").write_text("x")
    r = invoke("history", out, "--export", tmp_path / "a-file" / "sub" / "h.xlsx")
    assert r.exit_code == 4 and f"无法导出到 {tmp_path / 'a-file' / 'sub' / 'h.xlsx'}：路径中有一项是文件而不是文件夹" in r.output


# --- full or read-only disk: exit 4 ---------------------------------------------------------------


def _previous(tmp_path):
    src, out = folder(tmp_path), tmp_path / "out"
    first = run(src, out, 2021, load_rules(), settle=0)
    write(src, reference(dept_code="620101", dept_name="单位1", self_total=80), "1.xlsx")
    return src, out, first.workbook.read_bytes()


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where,patch", [
    ("workbook", "xlsxwriter.workbook.Workbook._store_workbook"),  # xlsxwriter wraps it in FileCreateError
    ("history", "evalbatch.night.runner.shutil.copyfile"),
    ("run.json", "evalbatch.night.runner._run_json"),
])
def test_a_disk_that_fills_during_the_write_is_exit_4_and_keeps_the_previous_workbook(tmp_path, monkeypatch, where, patch):
    src, out, before = _previous(tmp_path)
    monkeypatch.setattr(patch, _disk_full)
    r = invoke("run", src, "--out", out, "--year", "2021", "--settle", "0", "--quiet")
    assert r.exit_code == 4, r.output
    assert "磁盘已满（No space left on device）" in r.output and "Traceback" not in r.output
    if where == "workbook":
        assert (out / WORKBOOK).read_bytes() == before
        assert f"无法写入输出 {out / WORKBOOK}：磁盘已满" in r.output
    assert leftovers(out) == []
    assert_lock_free(out)
    assert H.list_runs(H.db_path_for(out))[["结果", "退出码"]].values.tolist()[-1] == ["失败", 4]


def test_a_read_only_output_folder_is_exit_4(tmp_path, monkeypatch):
    src, out, before = _previous(tmp_path)

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    r = invoke("run", src, "--out", out, "--year", "2021", "--settle", "0", "--quiet")
    assert r.exit_code == 4 and f"无法写入输出 {out / WORKBOOK}：文件夹是只读的（Read-only file system）" in r.output
    assert (out / WORKBOOK).read_bytes() == before
    assert_lock_free(out)


def test_no_space_for_the_run_log_is_exit_4(tmp_path, monkeypatch):
    src, out, before = _previous(tmp_path)
    import logging

    monkeypatch.setattr(logging, "FileHandler", _disk_full)
    with pytest.raises(OutputError, match=f"无法写入运行日志（{out / 'logs'}）：磁盘已满"):
        run(src, out, 2021, load_rules(), settle=0)
    assert_lock_free(out)


# --- an unexpected failure: exit 5 -------------------------------------------------------------


def test_an_unexpected_failure_is_exit_5_with_one_line_naming_the_log(tmp_path):
    src, out, before = _previous(tmp_path)
    code = (
        "import evalbatch.night.runner as r\n"
        "real = r.write_workbook\n"
        "def broken(result, path, **options):\n"
        "    real(result, path, **options)  # the temporary file exists by now\n"
        "    raise ZeroDivisionError('boom')\n"
        "r.write_workbook = broken\n"
        "from evalbatch.cli import main\n"
        "import sys; sys.argv = ['evalbatch'] + sys.argv[1:]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "run", str(src), "--out", str(out), "--year", "2021", "--settle", "0", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 5
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("运行意外中断（内部错误），本次运行没有完成；详细信息见日志 ")
    log = Path(lines[0].rsplit(" ", 1)[1])
    assert log.parent == out / "logs" and "Traceback" in log.read_text(encoding="utf-8")
    assert "ZeroDivisionError: boom" in log.read_text(encoding="utf-8")
    assert (out / WORKBOOK).read_bytes() == before
    assert leftovers(out) == []
    assert_lock_free(out)


def test_an_unexpected_failure_outside_a_run_is_exit_5_with_a_crash_log(tmp_path):
    bad = write(tmp_path, reference(), "a.xlsx")
    code = (
        "import evalbatch.judge.evaluate as b\n"
        "def broken(*args, **kwargs):\n"
        "    raise ZeroDivisionError('boom')\n"
        "b.check_paths = broken\n"
        "from evalbatch.cli import main\n"
        "import sys; sys.argv = ['evalbatch'] + sys.argv[1:]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, "check", str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == 5
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalbatch 意外中断（内部错误）；详细信息见日志 ")
    log = Path(lines[0].rsplit(" ", 1)[1])
    assert log.parent == tmp_path and "ZeroDivisionError: boom" in log.read_text(encoding="utf-8")


def test_exit_codes_are_documented_in_the_help_and_the_readme():
    run_help = invoke("run", "--help").output
    for code in ("0", "1", "2", "3", "4", "5"):
        assert f"  {code}  " in run_help
    assert "5  意外的内部错误" in invoke("check", "--help").output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| 5 | 意外的内部错误" in readme

"""What a scheduler and an operator see: an exit code that tells a failed run from a finished
one in which some departments have errors (--findings-exit), 完成时间 filled, the year
defaulting to the previous one and said so, a dated nightly log, and a Makefile that names
the Python it needs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.write import history as H

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = "绩效自评汇总_2021.xlsx"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def with_an_error(tmp_path) -> Path:
    """A good department and a file that is not a spreadsheet (one 错误)."""
    src = tmp_path / "in"
    write(src, reference(), "620101.xlsx")
    (src / "620102.xlsx").write_text("不是表格", encoding="utf-8")
    return src


def exit_codes_recorded(out: Path) -> list[int]:
    return H.list_runs(H.db_path_for(out))["退出码"].astype(int).tolist()


def test_findings_exit_0_makes_a_finished_run_with_errors_exit_0(tmp_path, with_an_error):
    out = tmp_path / "out"
    r = invoke("run", with_an_error, "--out", out, "--year", "2021", "--settle", "0", "--findings-exit", "0")
    assert r.exit_code == 0, r.output
    assert "错误 1" in r.output
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["exit_code"] == 0
    again = invoke("run", with_an_error, "--out", out, "--year", "2021", "--settle", "0", "--findings-exit", "0")
    assert again.exit_code == 0 and "没有任何文件变化" in again.output
    # Tonight's option decides, also on a night with nothing new.
    assert invoke("run", with_an_error, "--out", out, "--year", "2021", "--settle", "0").exit_code == 1
    assert exit_codes_recorded(out) == [0, 0, 1]  # what the scheduler saw, night by night


def test_without_the_option_errors_still_exit_1(tmp_path, with_an_error):
    r = invoke("run", with_an_error, "--out", tmp_path / "out", "--year", "2021", "--settle", "0")
    assert r.exit_code == 1


def test_nothing_scored_is_still_1_with_findings_exit_0(tmp_path, with_an_error):
    r = invoke("run", with_an_error, "--out", tmp_path / "out", "--year", "2021", "--settle", "3600", "--findings-exit", "0")
    assert r.exit_code == 1 and "本次没有评分" in r.output


@pytest.mark.parametrize("code", [2, 3, 4, 5, 6])
def test_findings_exit_cannot_take_a_code_that_means_something_else(tmp_path, with_an_error, code):
    r = invoke("run", with_an_error, "--out", tmp_path / "out", "--year", "2021", "--findings-exit", str(code))
    assert r.exit_code == 2
    assert r.output.strip() == (f"--findings-exit 的值无效：{code} 已表示其他结果（2 用法错误、3 另一个运行正在进行、4 无法写入、"
                                "5 内部错误、6 收件文件夹为空或缺失）；请用 0、1 或 7–255")
    assert not (tmp_path / "out").exists()


def test_run_info_has_the_finish_time(tmp_path, with_an_error):
    out = tmp_path / "out"
    invoke("run", with_an_error, "--out", out, "--year", "2021", "--settle", "0")
    ws = openpyxl.load_workbook(out / WORKBOOK, read_only=True)["运行信息"]
    info = {row[0]: row[1] for row in ws.iter_rows(max_col=2, values_only=True) if row[0]}
    started, finished = (dt.datetime.fromisoformat(info[k]) for k in ("运行时间", "完成时间"))
    assert started <= finished <= started + dt.timedelta(minutes=5)


def test_year_defaults_to_the_previous_one_and_says_so(tmp_path, with_an_error):
    year = dt.date.today().year - 1
    out = tmp_path / "out"
    r = invoke("run", with_an_error, "--out", out, "--settle", "0")
    assert r.output.splitlines()[0] == f"评价年度 {year}（未指定 --year，按上一年度）"
    assert (out / f"绩效自评汇总_{year}.xlsx").exists()
    log = next((out / "logs").glob("run-*.log")).read_text(encoding="utf-8")
    assert f"，年度 {year}，" in log
    # The reference case is of 2021: a file of another year is named, not mixed in.
    found = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert found["year"] == year and found["findings"]["错误"] == 2


def test_an_explicit_year_is_not_announced(tmp_path, with_an_error):
    r = invoke("run", with_an_error, "--out", tmp_path / "out", "--year", "2021", "--settle", "0")
    assert "未指定 --year" not in r.output


@pytest.mark.skipif(os.name == "nt", reason="run-nightly.sh is for cron")
def test_run_nightly_sh_writes_a_dated_log_beside_itself(tmp_path, with_an_error):
    home = tmp_path / "evalbatch"
    home.mkdir()
    shutil.copy2(ROOT / "run-nightly.sh", home)
    (home / ".venv").symlink_to(Path(sys.executable).parent.parent)
    out = tmp_path / "out"
    proc = subprocess.run([str(home / "run-nightly.sh"), str(with_an_error), "--out", str(out), "--year", "2021", "--settle", "0",
                           "--findings-exit", "0"], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    logs = list((home / "logs").iterdir())
    assert [p.name for p in logs] == [f"nightly-{dt.date.today():%Y-%m}.log"]
    lines = logs[0].read_text(encoding="utf-8").splitlines()
    stamp = r"===== \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert re.fullmatch(stamp + re.escape(f"evalbatch run {with_an_error} --out {out} --year 2021 --settle 0 --findings-exit 0"), lines[0])
    assert re.fullmatch(stamp + "退出码 0", lines[-1])
    assert f"汇总工作簿：{out / WORKBOOK}" in lines


@pytest.mark.skipif(os.name == "nt", reason="run-nightly.sh is for cron")
def test_run_nightly_sh_without_the_venv_says_what_to_do(tmp_path):
    shutil.copy2(ROOT / "run-nightly.sh", tmp_path)
    proc = subprocess.run([str(tmp_path / "run-nightly.sh"), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127
    log = next((tmp_path / "logs").iterdir()).read_text(encoding="utf-8")
    assert f"找不到 {tmp_path}/.venv/bin/evalbatch：请先在 {tmp_path} 中运行 make install（见 README）" in log


# --- the Makefile --------------------------------------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None or os.name == "nt", reason="make is not installed")
OLD_PYTHON = '#!/bin/sh\nif [ "$1" = --version ]; then echo "Python 3.10.12"; else exit 1; fi\n'


def _project(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path)
    return tmp_path


def _fake(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def make(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=where, capture_output=True, text=True, timeout=60)


@needs_make
def test_make_names_the_python_it_needs(tmp_path):
    old = _fake(tmp_path / "python3.10", OLD_PYTHON)
    proc = make(_project(tmp_path / "p"), f"PYTHON={old}", "install")
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[:2] == [
        f"evalbatch 需要 Python 3.11 或更新版本；{old} 是 Python 3.10.12。",
        "请安装 Python 3.11 或更新版本，再用 make PYTHON=python3.11 demo（或 python3.12 等）指定它。"]
    assert not (tmp_path / "p" / ".venv").exists()


@needs_make
def test_make_rebuilds_a_venv_an_older_python_made(tmp_path):
    project = _project(tmp_path)
    _fake(project / ".venv" / "bin" / "python", OLD_PYTHON)
    (project / ".venv" / ".installed").touch()
    plan = make(project, f"PYTHON={sys.executable}", "-n", "install").stdout
    assert "rm -rf .venv" in plan and f"{sys.executable} -m venv .venv" in plan


@needs_make
def test_make_keeps_a_good_venv(tmp_path):
    project = _project(tmp_path)
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(sys.executable)
    os.utime(project / "pyproject.toml", (0, 0))
    (project / ".venv" / ".installed").touch()
    plan = make(project, f"PYTHON={sys.executable}", "-n", "install").stdout
    assert "rm -rf" not in plan and "-m venv" not in plan

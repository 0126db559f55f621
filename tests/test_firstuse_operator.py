"""Issue 20, the operator: production and offline install, the Windows nightly script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# --- 19. offline install from a wheelhouse ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the Makefile target is for the Linux build machine")
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_wheelhouse_installs_into_a_fresh_venv_without_an_index(tmp_path):
    """`make wheelhouse` for this machine's Python, then an install that sees nothing else:
    no index, no pip configuration, no other folder of wheels (slow: downloads ~60 MB)."""
    house = tmp_path / "wheelhouse"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    made = subprocess.run(["make", "wheelhouse", f"WHEELHOUSE={house}", f"WHEEL_PYTHONS={version}", "WHEEL_PLATFORMS=linux"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if made.returncode != 0 and "Could not find a version" in made.stderr + made.stdout:
        pytest.skip("no package index is reachable from here")
    assert made.returncode == 0, made.stderr[-2000:]
    names = sorted(p.name for p in house.iterdir())
    assert any(n.startswith("evalbatch-") for n in names) and any(n.startswith("pandas-") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    installed = subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--find-links", str(house), "evalbatch"],
                               capture_output=True, text=True, env=clean, timeout=900)
    assert installed.returncode == 0, installed.stderr[-2000:]
    ran = subprocess.run([str(venv / "bin" / "evalbatch"), "template", "-o", str(tmp_path / "t.xlsx")],
                         capture_output=True, text=True, env=clean, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "t.xlsx").stat().st_size > 0


# --- 20. the Windows steps and the nightly script -----------------------------------------------

def test_windows_nightly_log_is_one_file_a_run_linux_one_a_month():
    text = (ROOT / "run-nightly.cmd").read_bytes().decode("ascii")
    assert "--year" not in text.split("setlocal")[0].replace("no --year", "")  # the header's usage line
    assert "Get-Date -Format yyyyMMdd-HHmmss" in text
    assert 'set "LOG=%~dp0logs\\nightly-%STAMP%.log"' in text
    assert 'if not exist "%~dp0logs" mkdir "%~dp0logs"' in text
    assert "logs/nightly-$(date +%Y-%m).log" in (ROOT / "run-nightly.sh").read_text(encoding="utf-8")


def test_readme_windows_steps_use_py_3_and_say_how_to_test_now():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    windows = readme.split("### Windows：安装与每晚定时运行", 1)[1].split("\n## ", 1)[0]
    assert "py -3 -m venv .venv" in windows and "py -3.11 -m venv" not in windows
    assert "Python 最高只能用 **Python 3.12**" in windows
    assert 'schtasks /Run /TN "evalbatch 绩效自评复核"' in windows
    assert "nightly-*.log | Sort-Object LastWriteTime | Select-Object -Last 1" in windows


def test_readme_says_how_to_install_on_a_server_and_offline():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in ("#### 在 Linux 服务器上安装（生产）", "useradd --system", "umask 002", "#### 离线安装", "make wheelhouse",
                   "pip install --no-index --find-links wheelhouse evalbatch"):
        assert needed in readme, needed
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "WHEEL_PYTHONS ?= 3.11 3.12 3.13" in makefile and "--platform win_amd64" in makefile


# --- 21. evalbatch history fits a terminal ------------------------------------------------------

def test_history_fits_80_columns_and_counts_units_of_unchanged_runs(tmp_path):
    from builders import dept, write
    from typer.testing import CliRunner

    from evalbatch.cli import app
    from evalbatch.night.runner import run
    from evalbatch.rules import load_rules
    from evalbatch.write import history as H

    src, out = tmp_path / "in", tmp_path / "out"
    write(src, dept("000001", "甲单位"), "a.xlsx")
    write(src, dept("000002", "乙单位"), "b.xlsx")
    run(src, out, 2021, load_rules(), settle=0)
    run(src, out, 2021, load_rules(), settle=0)  # nothing changed
    runs = H.list_runs(H.db_path_for(out))
    assert runs[["结果", "单位数"]].values.tolist() == [["已评分", 2], ["无变化，未重写", 2]]
    shown = CliRunner().invoke(app, ["history", str(out)], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert max(len(line) + sum(1 for ch in line if ord(ch) > 0x2E80) for line in lines) <= 80  # CJK prints two columns wide
    assert "工作簿" not in shown.output and "无变化，未重写" in shown.output
    assert lines[1].split() == ["运行编号", "开始时间", "年度", "结果", "文件数", "单位数", "退出码"]
    wide = CliRunner().invoke(app, ["history", str(out), "--wide"], terminal_width=250)
    assert "工作簿" in wide.output and "完成时间" in wide.output

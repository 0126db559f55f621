"""Every word the command line prints is Chinese, also typer's and click's own: help pages,
usage errors, missing options and values, unknown commands, and the system's refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.cli_zh import detail

# What typer and click print in English when left alone.
ENGLISH = ("Usage:", "Show this message", "Error:", "Try '", "for help", "Missing option", "Missing argument", "Invalid value",
           "No such", "Options:", "Arguments:", "Commands:", "[default:", "[required]", "Got unexpected", "Did you mean",
           "does not exist", "requires an argument", "Input should", "[OPTIONS]", "COMMAND [ARGS]", "File exists")


# The program as a user starts it: the script pip installs beside the venv's python.
PROGRAM = Path(sys.executable).with_name("evalbatch.exe" if os.name == "nt" else "evalbatch")


def evalbatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PROGRAM), *args], capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=cwd)


def english_in(text: str) -> list[str]:
    return [phrase for phrase in ENGLISH if phrase in text]


def test_help_is_chinese():
    proc = evalbatch("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("用法：evalbatch [选项] 命令 [参数]...\n")
    for line in ("选项：", "  --help     显示本帮助并退出", "命令："):
        assert line in proc.stdout.splitlines()
    assert english_in(proc.stdout) == []


@pytest.mark.parametrize("command", ["template", "check", "run", "sample", "history", "rules", "compare-rules"])
def test_every_command_help_is_chinese(command):
    r = CliRunner().invoke(app, [command, "--help"], prog_name="evalbatch")
    assert r.exit_code == 0
    assert r.output.startswith(f"用法：evalbatch {command} [选项]")
    assert "显示本帮助并退出" in r.output
    assert english_in(r.output) == []


def test_run_help_says_default_and_required_in_chinese():
    out = CliRunner().invoke(app, ["run", "--help"]).output
    assert "输出文件夹  [默认：output]" in out
    assert "[默认：0；≥ 0]" in out  # --jobs
    assert "--findings-exit <整数>" in out and "[默认：1；0 到 255]" in out


def test_missing_option_is_chinese(tmp_path):
    proc = evalbatch("compare-rules", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == ("用法：evalbatch compare-rules [选项] {input_dir}\n用 evalbatch compare-rules --help 查看帮助。\n\n"
                           "错误：缺少选项 '--rules'。\n")


def test_missing_argument_is_chinese():
    proc = evalbatch("check")
    assert proc.returncode == 2
    assert proc.stderr.endswith("错误：缺少参数 'files'。\n")
    assert english_in(proc.stderr) == []


@pytest.mark.parametrize("args,says", [
    (["run", ".", "--year", "abc"], "错误：'--year' 的值无效：应为整数"),
    (["run", ".", "--jobs", "-1"], "错误：'--jobs' 的值无效：应不小于 0"),
    # `run` no longer checks its folder here: a missing inbox is exit 6 (test_roster_run); compare-rules still does.
    (["compare-rules", "no-such-folder", "--rules", "national", "--rules", "hubei"],
     "错误：'input_dir' 的值无效：文件夹 'no-such-folder' 不存在"),
    (["run", ".", "--zzz"], "错误：没有选项 --zzz。"),
    (["run", ".", "--yaer", "2021"], "错误：没有选项 --yaer；您是不是要用 --year？"),
    (["run", ".", "--year"], "错误：选项 '--year' 后面需要一个值"),
    (["run", ".", "extra"], "错误：多余的参数：extra"),
    (["rnu"], "错误：没有命令 'rnu'；您是不是要用 'run'？"),
    (["nonsense"], "错误：没有命令 'nonsense'"),
])
def test_usage_errors_are_chinese(tmp_path, args, says):
    proc = evalbatch(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == says
    assert english_in(proc.stderr) == []


def test_a_file_where_a_folder_should_be_is_exit_4_in_chinese(tmp_path):
    blocker = tmp_path / "汇总"
    blocker.write_text("", encoding="utf-8")
    proc = evalbatch("template", "-o", str(blocker / "模板.xlsx"))
    assert proc.returncode == 4
    assert proc.stderr.strip() == f"无法写入 {blocker / '模板.xlsx'}：已有同名的文件（不是文件夹）（File exists）"
    proc = evalbatch("sample", "-o", str(blocker))
    assert proc.returncode == 4 and proc.stderr.startswith(f"无法写入 {blocker}：已有同名的文件（不是文件夹）")
    assert "Traceback" not in proc.stderr


def test_system_words_are_only_in_brackets_after_the_chinese_reason(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("", encoding="utf-8")
    proc = evalbatch("run", str(tmp_path), "--out", str(blocker), "--year", "2021")
    assert proc.returncode == 4
    assert proc.stderr.strip() == f"无法创建输出文件夹 {blocker}：已有同名的文件（不是文件夹）（File exists）"


def test_our_own_messages_pass_unchanged():
    assert detail("--layout 的值无效") == "--layout 的值无效"
    assert detail("Input should be less than or equal to 255") == "应不大于 255"

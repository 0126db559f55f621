"""The command line: output, JSON, exit codes (0 fine, 1 an 错误, 2 usage or rules)."""

import json
import subprocess
import sys

import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch.cli import app

cli = CliRunner()


@pytest.fixture(scope="module")
def ref_file(tmp_path_factory):
    return write(tmp_path_factory.mktemp("cli"), reference(), "620101.xlsx")


def test_check_reference_case_exits_0_with_two_rounding_notes(ref_file):
    r = cli.invoke(app, ["check", str(ref_file), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    notes = [(f["level"], f["rule"]) for f in data["findings"] if f["level"] == "提示"]
    assert notes == [("提示", "尾差"), ("提示", "尾差")]
    assert not [f for f in data["findings"] if f["level"] == "错误"]
    assert data["scores"][0]["total"] == 90.56 and data["scores"][0]["grade"] == "优"
    assert data["projects"][0]["total"] == 96.88


def test_check_table_output_names_cells(ref_file):
    r = cli.invoke(app, ["check", str(ref_file)])
    assert r.exit_code == 0
    assert "复核得分 90.56" in r.output and "等级 优" in r.output
    assert "B16" in r.output and "尾差" in r.output
    assert "错误 0 个，警告 1 个，提示 2 个" in r.output


def test_check_exits_1_on_an_error(tmp_path, ref_file):
    bad = tmp_path / "bad.xlsx"
    bad.write_text("hello", encoding="utf-8")
    r = cli.invoke(app, ["check", str(ref_file), str(bad), "--json"])
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert [(f["file"], f["level"], f["rule_id"]) for f in data["findings"] if f["level"] == "错误"] == [("bad.xlsx", "错误", "file.not_spreadsheet")]


def test_check_missing_file_is_an_error_not_a_traceback(tmp_path):
    r = cli.invoke(app, ["check", str(tmp_path / "nope.xlsx")])
    assert r.exit_code == 1
    assert "无法访问文件：文件不存在" in r.output and "Traceback" not in r.output


def test_check_a_folder_says_so_in_chinese(tmp_path):
    r = cli.invoke(app, ["check", str(tmp_path), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.output)["findings"][0]["message"] == "无法读取文件：这是一个文件夹，不是文件"


def test_usage_errors_exit_2(tmp_path):
    assert cli.invoke(app, ["check"]).exit_code == 2
    assert cli.invoke(app, ["run", str(tmp_path), "--year", "abc"]).exit_code == 2
    assert cli.invoke(app, ["nonsense"]).exit_code == 2


def test_rules_print_and_override(tmp_path):
    r = cli.invoke(app, ["rules"])
    assert r.exit_code == 0 and "tolerance = 0.01" in r.output and '"基本达成" = "达成@bottom"' in r.output
    f = tmp_path / "r.toml"
    f.write_text("[checks]\ntolerance = 0.05\n", encoding="utf-8")
    r = cli.invoke(app, ["rules", "--rules", str(f)])
    assert "tolerance = 0.05" in r.output


@pytest.mark.parametrize(
    "text,says",
    [
        ("[checks]\ntolerence = 0.05\n", "checks.tolerence"),
        ("[checks]\ntolerance = \"a\"\n", "checks.tolerance"),
        ("[grades]\nlower_bounds = [80, 90, 60, 0]\n", "grades.lower_bounds"),
        ("not toml = = 1", "不是有效的 TOML"),
    ],
)
def test_invalid_rules_name_the_key_and_exit_2(tmp_path, ref_file, text, says):
    f = tmp_path / "r.toml"
    f.write_text(text, encoding="utf-8")
    r = cli.invoke(app, ["check", str(ref_file), "--rules", str(f)])
    assert r.exit_code == 2
    assert says in r.output


def test_template_command(tmp_path):
    target = tmp_path / "t.xlsx"
    r = cli.invoke(app, ["template", "-o", str(target), "--year", "2022"])
    assert r.exit_code == 0 and target.exists()


def test_every_command_has_help():
    for cmd in ("template", "check", "run", "sample", "rules"):
        r = cli.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and len(r.output) > 100
    assert "退出码" in cli.invoke(app, ["run", "--help"]).output


def test_python_dash_m_entry_point(ref_file):
    proc = subprocess.run([sys.executable, "-m", "evalbatch", "check", str(ref_file)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "复核得分 90.56" in proc.stdout

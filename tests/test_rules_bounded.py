"""Issue 22 point 6: rules files and the command line are bounded. A rules file must be a
regular file below 1 MB with integers and nesting in bounds; bureau patterns run in linear
time (RE2); every numeric option has a range; output paths refuse a FIFO or a device. Each
is exit 2 (or 4 for an output) naming the key, option or path, in Chinese, at once."""

from __future__ import annotations

import os
import time

import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch.cli import app
from evalbatch.judge.evaluate import check_paths
from evalbatch.rules import RulesError, load_rules

POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo") or os.name == "nt", reason="FIFOs and /dev/zero as on POSIX")
pytestmark = pytest.mark.usefixtures("no_hang")




def invoke(*args: str):
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return r


def _rules_file(tmp_path, text: str):
    p = tmp_path / "bureau.toml"
    p.write_text(text, encoding="utf-8")
    return p


# --- rules files ------------------------------------------------------------------------------------


def test_a_400_digit_integer_names_its_key(tmp_path):
    with pytest.raises(RulesError) as exc:
        load_rules(_rules_file(tmp_path, "[limits]\nmax_file_mb = " + "9" * 400 + "\n"))
    assert str(exc.value) == f"规则 {tmp_path / 'bureau.toml'}：limits.max_file_mb 的数值过大（400 位），绝对值不能超过 1,000,000,000,000,000"


def test_an_integer_beyond_pythons_digit_limit_is_a_rules_error(tmp_path):
    with pytest.raises(RulesError, match="位数过多"):
        load_rules(_rules_file(tmp_path, "[limits]\nmax_file_mb = " + "9" * 5000 + "\n"))


@pytest.mark.parametrize("depth", [20, 600])
def test_arrays_nested_deep_are_a_rules_error(tmp_path, depth):
    with pytest.raises(RulesError, match="嵌套"):
        load_rules(_rules_file(tmp_path, "[forms]\nplaceholders = " + "[" * depth + "]" * depth + "\n"))


def test_a_rules_file_over_1_mb_is_refused(tmp_path):
    path = _rules_file(tmp_path, "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(RulesError, match="超过 1 MB"):
        load_rules(path)


@POSIX
def test_rules_from_dev_zero_or_a_fifo_exit_2_at_once(tmp_path):
    os.mkfifo(tmp_path / "rules.toml")
    for path in ("/dev/zero", str(tmp_path / "rules.toml")):
        r = invoke("template", "-o", str(tmp_path / "t.xlsx"), "--rules", path)
        assert r.exit_code == 2, r.output
        assert f"规则文件 {path} 是管道、设备或其他特殊文件，不是普通文件；请指定一个 .toml 规则文件" in r.output


def test_a_folder_as_rules_is_named(tmp_path):
    with pytest.raises(RulesError, match="是文件夹，不是普通文件"):
        load_rules(tmp_path)


def test_a_backtracking_pattern_cannot_hold_the_run(tmp_path):
    """^(a+)+$ on a long cell: exponential in Python's re, linear in RE2."""
    rules = load_rules(_rules_file(tmp_path, '[forms]\nplaceholders = ["^(a+)+$", "^指标\\\\d*$"]\n'))
    data = reference()
    data["indicators"][0]["l3"] = "a" * 5000 + "!"
    t0 = time.perf_counter()
    r = check_paths([write(tmp_path, data)], rules, year=2021)
    assert time.perf_counter() - t0 < 30
    assert len(r.depts) == 1


def test_a_pattern_re2_cannot_run_is_exit_2_naming_it(tmp_path):
    with pytest.raises(RulesError) as exc:
        load_rules(_rules_file(tmp_path, '[forms]\nplaceholders = ["(a)\\\\1"]\n'))
    assert "forms.placeholders 中的“(a)\\1”" in str(exc.value) and "回溯引用" in str(exc.value)


def test_default_placeholders_still_match_under_re2():
    from evalbatch.layouts.labels import labels_for

    labels = labels_for(load_rules())
    assert [labels.placeholder(t) for t in ("指标2", "……", "三级指标名称3", "资金使用规范性")] == [True, True, True, False]


# --- numeric options ------------------------------------------------------------------------------


@pytest.mark.parametrize("args, option, bound", [
    (["review", "draw", ".", "--year", "2021", "--reviewers", "99999999999"], "--reviewers", "应不大于 1000"),
    (["review", "draw", ".", "--year", "2021", "--seed", "1" * 31], "--seed", "应不大于 9223372036854775807"),
    (["review", "draw", ".", "--year", "2021", "--min-per-dept", "99999999"], "--min-per-dept", "应不大于 10000"),
    (["sample", "-o", "x", "--seed", "1" * 31], "--seed", "应不大于 9223372036854775807"),
    (["sample", "-o", "x", "--count", "99999999"], "--count", "应不大于 100000"),
    (["run", ".", "--jobs", "99999999"], "--jobs", "应不大于 256"),
    (["run", ".", "--settle", "1e300"], "--settle", "应不大于 604800"),
    (["run", ".", "--keep", "99999999999"], "--keep", "应不大于 100000"),
    (["run", ".", "--lock-max-age", "1e300"], "--lock-max-age", "应不大于 8784"),
    (["compare-rules", ".", "--rules", "national", "--rules", "hubei", "--jobs", "99999"], "--jobs", "应不大于 256"),
])
def test_every_numeric_option_is_bounded(args, option, bound):
    r = invoke(*args)
    assert r.exit_code == 2
    assert f"'{option}' 的值无效：{bound}" in r.output


# --- output paths ---------------------------------------------------------------------------------


@POSIX
@pytest.mark.parametrize("command", ["template", "history", "compare-rules"])
def test_an_output_path_that_is_a_fifo_or_device_is_exit_4(tmp_path, command):
    os.mkfifo(tmp_path / "fifo.xlsx")
    # history -o takes only .xlsx or .csv names (exit 2 before anything): its device case is a FIFO.
    for target in (str(tmp_path / "fifo.xlsx"), *(["/dev/null"] if command != "history" else [])):
        if command == "template":
            args = ["template", "-o", target]
        elif command == "compare-rules":
            args = ["compare-rules", str(tmp_path), "--rules", "national", "--rules", "hubei", "-o", target]
        else:
            out = tmp_path / "out"
            src = tmp_path / "in"
            write(src, reference(), "620101.xlsx")
            os.utime(src / "620101.xlsx", (1_600_000_000,) * 2)
            assert invoke("run", str(src), "--out", str(out), "--year", "2021", "--settle", "0").exit_code == 0
            args = ["history", str(out), "-o", target]
        r = invoke(*args)
        assert r.exit_code == 4, r.output
        assert f"输出路径 {target} 是" in r.output and "不是普通文件，未写入" in r.output

"""Issue 22 point 3: the output folder is ours. Whatever someone placed in it (a FIFO, a link to
/dev/zero, a folder linked elsewhere) is exit 4 naming the object and what to do, at once:
never a hang, never a read without end, never a write or a deletion outside the folder.
Pruning deletes only files evalbatch wrote, never through a link."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import reference, write
from typer.testing import CliRunner

from evalbatch import files
from evalbatch.cli import app
from evalbatch.files import FILE, FOLDER, OutputError, own_object, plain_file, read_own_text
from evalbatch.night.runner import run
from evalbatch.rules import load_rules

RULES = load_rules()
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo") or os.name == "nt", reason="FIFOs and symlinks as on POSIX")
pytestmark = pytest.mark.usefixtures("no_hang")
ADVICE = "为安全起见本次运行没有打开、跟随或改动它。请将它移走或删除后重新运行"




def _src(tmp_path: Path, *codes: str) -> Path:
    src = tmp_path / "in"
    for code in codes or ("620101",):
        write(src, reference(dept_code=code, dept_name=f"单位{code}"), f"{code}.xlsx")
    for p in src.iterdir():
        os.utime(p, (1_600_000_000,) * 2)
    return src


def _refused(tmp_path: Path, plant) -> str:
    src, out = _src(tmp_path), tmp_path / "out"
    out.mkdir()
    plant(out)
    with pytest.raises(OutputError) as exc:
        run(src, out, 2021, RULES, settle=0, feedback=True)
    return str(exc.value)


@POSIX
@pytest.mark.parametrize("name", ["cache/manifest.json", "run.json", ".evalbatch.lock.json", ".evalbatch.lock", "evalbatch.sqlite",
                                  "绩效自评汇总_2021.xlsx", ".evalbatch-feedback.json"])
def test_a_fifo_where_evalbatch_keeps_a_file_is_exit_4_at_once(tmp_path, name):
    def plant(out):
        (out / name).parent.mkdir(exist_ok=True)
        os.mkfifo(out / name)

    assert _refused(tmp_path, plant) == f"输出文件夹中的 {tmp_path / 'out' / name} 是命名管道（FIFO），不是 evalbatch 生成的文件；{ADVICE}"


@POSIX
def test_a_link_to_dev_zero_is_never_read(tmp_path):
    msg = _refused(tmp_path, lambda out: os.symlink("/dev/zero", out / "run.json"))
    assert msg.startswith(f"输出文件夹中的 {tmp_path / 'out' / 'run.json'} 是链接（符号链接、快捷链接或联接点）")


@POSIX
def test_a_linked_feedback_folder_never_loses_a_file_outside(tmp_path):
    elsewhere = tmp_path / "财务处"
    elsewhere.mkdir()
    (elsewhere / "预算.xlsx").write_bytes(b"not ours")
    msg = _refused(tmp_path, lambda out: os.symlink(elsewhere, out / "feedback"))
    assert msg == f"输出文件夹中的 {tmp_path / 'out' / 'feedback'} 是链接（符号链接、快捷链接或联接点），不是 evalbatch 生成的文件夹；{ADVICE}"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["预算.xlsx"]


@POSIX
@pytest.mark.parametrize("name", [".evalbatch.lock.json", "logs"])
def test_a_linked_lock_holder_or_logs_folder_writes_nothing_outside(tmp_path, name):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "x.json" if name.endswith(".json") else elsewhere
    if name.endswith(".json"):
        target.write_text("keep", encoding="utf-8")
    msg = _refused(tmp_path, lambda out: os.symlink(target, out / name))
    assert str(tmp_path / "out" / name) in msg and "链接" in msg
    assert sorted(p.name for p in elsewhere.iterdir()) == (["x.json"] if name.endswith(".json") else [])
    if name.endswith(".json"):
        assert target.read_text(encoding="utf-8") == "keep"


@POSIX
def test_the_cli_exits_4_naming_the_object(tmp_path):
    src, out = _src(tmp_path), tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "run.json")
    r = CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--year", "2021", "--settle", "0"], env={"COLUMNS": "400"})
    assert r.exit_code == 4, r.output
    assert "run.json 是命名管道（FIFO）" in r.output and "Traceback" not in r.output


def test_a_folder_where_a_file_belongs_is_named(tmp_path):
    (tmp_path / "run.json").mkdir()
    with pytest.raises(OutputError, match="是文件夹（此处应为 evalbatch 生成的文件）"):
        own_object(tmp_path / "run.json", FILE)
    assert own_object(tmp_path / "run.json", FOLDER) is True
    assert own_object(tmp_path / "absent", FILE) is False


def test_a_windows_reparse_point_is_a_link(monkeypatch, tmp_path):
    """Windows: a symbolic link or a junction shows as FILE_ATTRIBUTE_REPARSE_POINT in os.lstat."""
    junction = SimpleNamespace(st_mode=stat.S_IFDIR | 0o755, st_file_attributes=stat.FILE_ATTRIBUTE_REPARSE_POINT)
    monkeypatch.setattr(files.os, "lstat", lambda p: junction)
    with pytest.raises(OutputError, match="是链接"):
        own_object(tmp_path / "feedback", FOLDER)
    assert plain_file(tmp_path / "feedback") is False


def test_read_own_text_never_reads_past_its_limit(tmp_path):
    (tmp_path / "run.json").write_bytes(b"x" * 2000)
    with pytest.raises(ValueError):
        read_own_text(tmp_path / "run.json", limit=1000)


# --- pruning deletes only what evalbatch wrote ---------------------------------------------------------


def test_pruning_feedback_deletes_only_files_evalbatch_wrote(tmp_path):
    src, out = _src(tmp_path, "620101", "620102"), tmp_path / "out"
    run(src, out, 2021, RULES, settle=0, feedback=True)
    ours = sorted(p.name for p in (out / "feedback").glob("*.xlsx"))
    assert ours == ["620101_单位620101_复核结果.xlsx", "620102_单位620102_复核结果.xlsx"]
    (out / "feedback" / "处长的备注.xlsx").write_bytes(b"someone else's")
    (src / "620102.xlsx").unlink()  # withdrawn: its feedback goes
    run(src, out, 2021, RULES, settle=0, feedback=True)
    assert sorted(p.name for p in (out / "feedback").glob("*.xlsx")) == ["620101_单位620101_复核结果.xlsx", "处长的备注.xlsx"]
    assert json.loads((out / ".evalbatch-feedback.json").read_text(encoding="utf-8")) == ["620101_单位620101_复核结果.xlsx"]


@POSIX
def test_pruning_never_deletes_through_a_link(tmp_path):
    src, out = _src(tmp_path, "620101", "620102"), tmp_path / "out"
    run(src, out, 2021, RULES, settle=0, feedback=True, keep=1)
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(b"keep me")
    gone = out / "feedback" / "620102_单位620102_复核结果.xlsx"
    gone.unlink()
    os.symlink(outside, gone)  # a recorded name, now a link
    old_copy = next((out / "history").iterdir())
    old_copy.unlink()
    os.symlink(outside, old_copy)  # a history copy's name, now a link
    (src / "620102.xlsx").unlink()
    run(src, out, 2021, RULES, settle=0, feedback=True, keep=1)
    assert outside.read_bytes() == b"keep me"
    assert gone.is_symlink() and old_copy.is_symlink()  # left alone: not a file evalbatch wrote


@POSIX
def test_review_draw_never_writes_through_a_linked_review_folder(tmp_path):
    from evalbatch.review.draw import DrawParams, draw

    src, out = _src(tmp_path, "620101", "620102"), tmp_path / "out"
    run(src, out, 2021, RULES, settle=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "抽评")
    with pytest.raises(OutputError) as exc:
        draw(out, DrawParams(2021, 0.2, seed=1), RULES)
    assert str(exc.value) == f"输出文件夹中的 {out / '抽评'} 是链接（符号链接、快捷链接或联接点），不是 evalbatch 生成的文件夹；{ADVICE}"
    assert list(elsewhere.iterdir()) == []

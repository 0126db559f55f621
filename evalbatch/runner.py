"""`evalbatch run` as a library call: discover, evaluate, write the workbook safely."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .batch import BatchResult, discover, evaluate
from .report import write_workbook
from .rules import Rules

# Exit codes (README and `evalbatch run --help`).
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_LOCKED, EXIT_OUTPUT = 0, 1, 2, 3, 4


class OutputError(RuntimeError):
    """The workbook could not be written; the message is for the user."""


@dataclass
class RunOutcome:
    result: BatchResult
    workbook: Path
    exit_code: int
    note: str = ""  # e.g. the target was open elsewhere and a timestamped copy was written


def workbook_name(year: int) -> str:
    return f"绩效自评汇总_{year}.xlsx"


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Write through a temporary file in the same folder and move it into place in one step.

    A run killed at any moment leaves the previous file untouched. When the target cannot be
    replaced (an analyst has it open on Windows), a timestamped file is written beside it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".~evalbatch-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        try:
            os.replace(tmp, target)
            return target
        except PermissionError:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            beside = target.with_name(f"{target.stem}_{stamp}{target.suffix}")
            os.replace(tmp, beside)
            return beside
    finally:
        if tmp.exists():
            tmp.unlink()


def run(input_dir: str | Path, out_dir: str | Path, year: int, rules: Rules, *, jobs: int = 1,
        settle: float = 120, progress: Callable[[int, int], None] | None = None) -> RunOutcome:
    found = discover(input_dir, settle)
    result = evaluate(found.files, rules, year=year, jobs=jobs, progress=progress, skipped=found.skipped, pending=found.pending)
    target = Path(out_dir) / workbook_name(year)
    result.meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        written = atomic_write(target, lambda p: write_workbook(result, p))
    except OSError as exc:
        raise OutputError(f"无法写入汇总工作簿 {target}：{exc.strerror or exc}") from exc
    note = "" if written == target else f"{target.name} 正被他人打开，无法替换；本次结果已另存为 {written.name}"
    code = EXIT_FINDINGS if result.error_files else EXIT_OK
    return RunOutcome(result, written, code, note)

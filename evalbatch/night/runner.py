"""`evalbatch run` as a library call, for unattended nightly runs on a shared drive.

One run at a time (an operating-system lock), nothing half-written (temporary file + atomic
move), outputs that always match the inputs and options of the run in place (a night with
nothing changed only skips work when every output asked for is where it belongs), a dated
copy in history/, a log per run in logs/, a machine-readable run.json, and a row in the
history database for every attempt, whatever became of it.

Housekeeping (pruning history/, removing what killed runs left, superseded feedback and
timestamped workbooks) is best effort: a file another program holds open is a warning in
the log, never a failed run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import findings as F
from .. import files
from ..files import (FILE, FOLDER, OutputError, atomic_write, os_error_of, own_object, plain_file, read_own_text, remove_quietly,
                     sweep_temporary, unique_path, write_reason)
from ..judge.evaluate import BatchResult, evaluate
from ..lock import Locked, RunLock
from ..read.cache import CACHE_DIR, ParseCache, sweep_staged
from ..read.discover import REJECTED, Discovery, FileRecord, discover
from ..read.load import hash_files, helpers, worker_count
from ..review import REVIEW_DIR
from ..review.apply import apply_to
from ..review.collect import Collected, collect
from ..roster import Roster, RosterStatus, find_roster, match_roster, read_roster, roster_status
from ..rules import Rules
from ..write import history as history_db
from ..write.columns import KEPT_INDICATOR_COLUMNS
from ..write.feedback import FEEDBACK_DIR, FEEDBACK_RECORD, write_feedback
from ..write.parts import in_process
from ..write.report import write_parquet, write_workbook

log = logging.getLogger("evalbatch")

# Exit codes (README and `evalbatch run --help`). EXIT_INPUT: the inbox is missing, denied, empty
# or shrunk below rules.roster.min_share; nothing was replaced.
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_LOCKED, EXIT_OUTPUT, EXIT_FAILED, EXIT_INPUT = 0, 1, 2, 3, 4, 5, 6
EXIT_HISTORY_NEWER = 7  # the history database was written by a newer evalbatch: nothing was run

HISTORY_DIR, PARQUET_DIR, LOGS_DIR = "history", "parquet", "logs"
# Folders evalbatch writes in the output folder: never submissions, even when --out is the input folder.
OUTPUT_DIRS = (HISTORY_DIR, FEEDBACK_DIR, PARQUET_DIR, LOGS_DIR, CACHE_DIR, REVIEW_DIR)
_STAMP = r"_\d{8}-\d{6}"  # atomic_write's suffix for a file written beside an open target


class InputMissing(RuntimeError):
    """The input folder is not there or may not be read (exit code 6); the message is for the user."""


class RunFailed(RuntimeError):
    """Something unexpected stopped the run (exit code 5); the traceback is in `log_file`."""

    def __init__(self, log_file: Path):
        super().__init__(f"运行意外中断（内部错误），本次运行没有完成；详细信息见日志 {log_file}")
        self.log_file = log_file


@dataclass
class RunOutcome:
    result: BatchResult | None  # None when nothing was scored (nothing changed, or every file still being copied)
    workbook: Path
    exit_code: int
    notes: list[str] = field(default_factory=list)  # for the console: the target was open, files left for later …
    log_file: Path | None = None
    history_file: Path | None = None
    unchanged: bool = False
    run_id: int | None = None  # in the history database
    pending: int = 0  # files left for the next run because they were still being copied
    roster: RosterStatus | None = None  # where each roster unit stands, when there is a roster


_WORKBOOK_PREFIX, _WORKBOOK_SUFFIX = "绩效自评汇总_", ".xlsx"
# Any year's workbook in the output folder, also one written beside an open target.
_ANY_WORKBOOK = re.compile(re.escape(_WORKBOOK_PREFIX) + r"\d+(" + _STAMP + ")?" + re.escape(_WORKBOOK_SUFFIX))


def workbook_name(year: int) -> str:
    return f"{_WORKBOOK_PREFIX}{year}{_WORKBOOK_SUFFIX}"


def _history_copies(target: Path) -> re.Pattern:
    """Names of history/ copies of `target` or of a workbook written beside it (unique_path may add -2)."""
    return re.compile(r"(?P<stamp>\d{8}-\d{6})_" + re.escape(target.stem) + f"({_STAMP})?" + r"(?:-(?P<again>\d+))?"
                      + re.escape(target.suffix))


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class RunOptions:
    jobs: int = 1  # 0: every core
    settle: float = 120  # seconds a file must be left alone before it is read
    keep: int = 30  # dated copies kept in history/
    lock_max_age: float = 6 * 3600  # a holder running longer is named as possibly hung
    replace_wait: float = 30  # seconds our own new file may be held (a scanner) before replacing fails
    use_cache: bool = True
    parquet: bool = False
    feedback: bool = False  # one result workbook per department under feedback/
    reviews: Path | None = None  # the filled review workbooks (抽评表); None: OUTPUT_DIR/抽评
    # The exit code of a run that finished while some file has an 错误: 0 lets a scheduler
    # show only real failures (2-5) as failures, since some department's error is the usual night.
    findings_exit: int = EXIT_FINDINGS
    roster: Path | None = None  # the roster (名单); None: OUTPUT_DIR/名单.xlsx if there is one
    allow_shrink: bool = False  # score an inbox with far fewer units than last time (a real shrink)


@dataclass
class _Attempt:
    """This run attempt's row in the history database, whatever becomes of the run.

    The database is a record, not a gate: when it cannot be used the run goes on, with a
    warning in the log."""

    db: Path
    year: int
    input_dir: Path
    started: str = field(default_factory=_now)
    run_id: int | None = None  # the row written when the run took the lock
    busy: bool = False  # another program held the database too long: a failure is not recorded either

    def begin(self) -> None:
        """The run's row, 进行中, as soon as it holds the lock; a run killed later reads 中断."""
        self.run_id = self.loudly(history_db.start_run, self.db, started=self.started, year=self.year, input_dir=self.input_dir)

    def end(self, kind: str, code: int, note: str, *, workbook: Path | None = None, records=(), failing: bool = False) -> None:
        """How the attempt ended. While failing for another reason a database that cannot be
        written is only a warning; otherwise it fails the run (`loudly`)."""
        if self.busy:
            return
        record = _quietly if failing else self.loudly
        if self.run_id is None:
            self.run_id = record(history_db.record_attempt, self.db, kind, started=self.started, year=self.year, exit_code=code,
                                 note=note, input_dir=self.input_dir, workbook=workbook, records=records)
        else:
            record(history_db.update_run, self.db, self.run_id, kind=kind, exit_code=code, note=note, finished=_now(),
                   workbook=workbook, records=records)

    def loudly(self, call, *args, **kwargs):
        """A write to the history that must not fail silently: a database held by another
        program is exit 4, one from a newer evalbatch its own exit code; one that is damaged
        stays a warning (the record is not a gate)."""
        try:
            return call(*args, **kwargs)
        except history_db.HistoryBusy as exc:
            self.busy = True
            raise OutputError(f"无法记录本次运行：{exc}") from exc
        except history_db.HistoryTooNew:
            self.busy = True
            raise
        except history_db.HistoryError as exc:
            log.warning("运行历史数据库：%s", exc)
            return None


def run(input_dir: str | Path, out_dir: str | Path, year: int, rules: Rules, *,
        progress: Callable[[int, int], None] | None = None, **options) -> RunOutcome:
    """The whole nightly run. Raises `Locked` (exit 3), `OutputError` (exit 4) or `RunFailed` (exit 5).

    `options` are the fields of `RunOptions`.
    """
    opts = RunOptions(**options)
    opts.jobs = worker_count(opts.jobs)
    _plain_allocator()
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"无法创建输出文件夹 {out_dir}：{write_reason(exc)}") from exc
    attempt = _Attempt(history_db.db_path_for(out_dir), year, input_dir)
    try:
        _check_input(input_dir)
    except InputMissing as exc:
        attempt.end(history_db.INPUT_MISSING, EXIT_INPUT, str(exc), failing=True)
        raise
    try:
        lock = RunLock(out_dir, opts.lock_max_age).acquire()
    except Locked as exc:
        attempt.end(history_db.REFUSED, EXIT_LOCKED, str(exc), failing=True)
        raise
    except OutputError as exc:
        attempt.end(history_db.FAILED, EXIT_OUTPUT, str(exc), failing=True)
        raise
    try:
        _only_ours(out_dir, year)
        return _logged(input_dir, out_dir, year, rules, opts, progress, attempt, lock)
    except OutputError as exc:
        if not getattr(exc, "recorded", False):
            attempt.end(history_db.FAILED, EXIT_OUTPUT, str(exc), failing=True)
        raise
    finally:
        lock.release()


def _plain_allocator() -> None:
    """Arrow's memory (pandas' text columns) from the C library's allocator. Arrow's default,
    mimalloc, keeps freed pages for reuse, and a country's run holds its peak of evaluation
    for longer: on 3,000 departments the evaluation peak was 582 MB with it, 512 MB without."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


# What evalbatch keeps in an output folder: each must be a plain file or folder (or absent).
OWN_FILES = ("run.json", history_db.DB_NAME, *(history_db.DB_NAME + s for s in ("-journal", "-wal", "-shm")),
             f"{CACHE_DIR}/manifest.json", FEEDBACK_RECORD)


def _only_ours(out_dir: Path, year: int) -> None:
    """Exit 4 naming the first object in the output folder that is a link, a FIFO or a device
    where evalbatch keeps a file or a folder: before anything is opened, followed or pruned."""
    for name in OUTPUT_DIRS:
        own_object(out_dir / name, FOLDER)
    for name in (*OWN_FILES, workbook_name(year)):
        own_object(out_dir / name, FILE)


def _check_input(input_dir: Path) -> None:
    """The input folder can be listed; a share that is not connected, a folder not there or
    one the task's account may not read is `InputMissing`, with Windows' reason where it gives one."""
    try:
        with os.scandir(input_dir) as entries:
            next(entries, None)
    except OSError as exc:
        reason = files.windows_reason(exc)
        if reason is None:
            reason = ("没有读取权限；请检查运行账户对共享盘的权限" if isinstance(exc, PermissionError)
                      else "这是一个文件，不是文件夹" if isinstance(exc, NotADirectoryError)
                      else "文件夹不存在，或共享盘未连接；请检查路径和网络连接")
        raise InputMissing(f"无法打开收件文件夹 {input_dir}：{reason}；本次没有做任何改动") from exc


def _logged(input_dir: Path, out_dir: Path, year: int, rules: Rules, opts: RunOptions, progress, attempt: _Attempt,
            lock: RunLock) -> RunOutcome:
    """The locked run with its own log file; every way it can end is recorded."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        handler, log_file = _open_log(out_dir, stamp)
    except OutputError as exc:
        attempt.end(history_db.FAILED, EXIT_OUTPUT, str(exc), failing=True)
        exc.recorded = True
        raise
    try:
        log.info("开始运行：输入 %s，输出 %s，年度 %s，规则 %s（%s），并行 %d", input_dir, out_dir, year, rules.source, rules.digest, opts.jobs)
        attempt.begin()
        lock.note_run(attempt.run_id)
        _sweep(out_dir)
        # Every output is written only while the lock is still ours (a share that dropped loses it).
        with files.outputs(opts.replace_wait, guard=lock.verify) as placed:
            outcome = _run_locked(input_dir, out_dir, year, rules, opts, progress, stamp, attempt)
            outcome.log_file = log_file
            if outcome.result is not None or outcome.unchanged:
                with _writing(out_dir / "run.json"):
                    _run_json(outcome, out_dir, input_dir)
                _not_in_place_notes(outcome, placed, out_dir / workbook_name(year))
        log.info("完成：退出码 %d，工作簿 %s", outcome.exit_code, outcome.workbook)
        return outcome
    except OutputError as exc:
        log.error("%s", exc)
        attempt.end(history_db.FAILED, EXIT_OUTPUT, str(exc), failing=True)
        exc.recorded = True
        raise
    except history_db.HistoryTooNew as exc:
        log.error("%s", exc)
        raise
    except Exception as exc:
        log.exception("运行意外中断")
        attempt.end(history_db.FAILED, EXIT_FAILED, f"内部错误（{type(exc).__name__}），详见日志 {log_file}", failing=True)
        raise RunFailed(log_file) from exc
    finally:
        log.removeHandler(handler)
        handler.close()


def _open_log(out_dir: Path, stamp: str) -> tuple[logging.Handler, Path]:
    logs = out_dir / LOGS_DIR
    try:
        logs.mkdir(parents=True, exist_ok=True)
        path = unique_path(logs / f"run-{stamp}.log")
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"无法写入运行日志（{logs}）：{write_reason(exc)}") from exc
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler, path


@contextmanager
def _writing(what: Path) -> Iterator[None]:
    """An output that cannot be written (disk full, read-only, no permission) is exit 4 naming
    it, also when a library wrapped the operating system's error."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        error = os_error_of(exc)
        if error is None:
            raise
        raise OutputError(f"无法写入输出 {what}：{write_reason(error)}") from exc


def _sweep(out_dir: Path) -> None:
    """What runs killed mid-write left behind. Only now: while this run holds the lock, no
    other run's temporary files can be live."""
    gone = sum(sweep_temporary(out_dir / sub) for sub in ("", HISTORY_DIR, FEEDBACK_DIR, PARQUET_DIR, REVIEW_DIR)) + sweep_staged(out_dir)
    if gone:
        log.info("清理了中断的运行留下的 %d 个临时文件或文件夹", gone)


def _run_locked(input_dir: Path, out_dir: Path, year: int, rules: Rules, opts: RunOptions, progress, stamp: str,
                attempt: _Attempt) -> RunOutcome:
    target = out_dir / workbook_name(year)
    found = _without_outputs(discover(input_dir, opts.settle, exclude=out_dir), input_dir, out_dir)
    if not found.files and not found.pending:
        return _input_missing(f"收件文件夹 {input_dir} 中没有任何提交文件（共享盘未挂载，或文件被移走？）", target, attempt)
    roster = _roster(out_dir, rules, opts)
    _first_seen(found.files, out_dir)
    cache = ParseCache(out_dir, rules).load() if opts.use_cache else None
    held = _hold_previous(found, cache)
    log.info("发现 %d 个文件，%d 个待下次处理（另有 %d 个沿用上次的版本），跳过 %s",
             len(found.files) - len(held), len(found.pending), len(held), found.skipped or "无")
    if not found.files and found.pending:
        return _waiting(found, target, opts.settle, attempt)
    notes = _pending_notes(found, held, opts.settle)
    reviews = _reviews(out_dir, year, rules, opts)
    if cache is not None:
        hash_files(found.files)
        if cache.unchanged(_inputs(found, reviews, roster), year) and _outputs_in_place(cache.manifest, target, opts):
            return _unchanged(cache, found, target, notes, attempt, waiting=len(found.pending) + len(held), findings_exit=opts.findings_exit)
    try:
        return _evaluate_and_write(input_dir, out_dir, year, rules, opts, progress, stamp, found, held, cache, notes, attempt, reviews,
                                   roster)
    finally:
        if cache is not None:
            cache.discard()  # staged rows of a run that did not finish


SHRINK_HINT = "；确属单位减少时加 --allow-shrink 重新运行"


def _input_missing(note: str, target: Path, attempt: _Attempt, records=(), hint: str = "") -> RunOutcome:
    """No inbox, an empty one, or one far smaller than last time: nothing is replaced (the
    workbook, feedback, Parquet and the history of scores stay as the last good run left them)."""
    note += "；本次没有评分，汇总工作簿、反馈文件和运行历史中的得分都未改动。请检查收件文件夹" + hint
    log.error(note)
    attempt.end(history_db.INPUT_MISSING, EXIT_INPUT, note, records=records)
    return RunOutcome(None, target, EXIT_INPUT, [note], run_id=attempt.run_id)


def _roster(out_dir: Path, rules: Rules, opts: RunOptions) -> tuple[Path, Roster] | None:
    """The roster in force tonight, if any (its problems are findings of the run)."""
    path = find_roster(out_dir, opts.roster)
    if path is None:
        return None
    roster = read_roster(path, rules)
    log.info("名单 %s：%d 个单位，%d 个问题（SHA-256 %s）", path, len(roster.units), len(roster.findings), roster.sha256[:12])
    return path, roster


def _shrunk(out_dir: Path, year: int, result: BatchResult, roster: tuple[Path, Roster] | None, rules: Rules) -> str:
    """Why tonight's inbox is taken for a missing one ("" when it is not): fewer units (departments
    and unreadable files) than roster.min_share of the last scored run's (or, before any, of the roster's)."""
    units = len(result.depts) + sum(r.status == REJECTED for r in result.records)
    last = _quietly(history_db.last_unit_count, history_db.db_path_for(out_dir), year)
    base, what = (last, "上次评分运行") if last is not None else ((len(roster[1].units), "名单") if roster else (0, ""))
    if base and units < rules.roster_min_share * base:
        return (f"收件文件夹中只有 {units} 个单位的文件，不到{what}（{base} 个单位）的 {rules.roster_min_share:.0%}"
                "（规则 roster.min_share），可能共享盘未挂载完整或文件夹被误移")
    return ""


def _without_outputs(found: Discovery, input_dir: Path, out_dir: Path) -> Discovery:
    """With --out the input folder itself, evalbatch's own outputs there are not submissions.
    (An output folder inside the input folder is never entered by `discover`.)"""
    try:
        same = input_dir.resolve() == out_dir.resolve()
    except OSError:
        same = False
    if not same:
        return found

    def ours(rec: FileRecord) -> bool:
        parts = rec.name.split("/")
        return parts[0] in OUTPUT_DIRS if len(parts) > 1 else bool(_ANY_WORKBOOK.fullmatch(rec.name))

    mine = [r for r in found.files + found.pending if ours(r)]
    if mine:
        found.files = [r for r in found.files if not ours(r)]
        found.pending = [r for r in found.pending if not ours(r)]
        found.skipped["evalbatch 的输出文件"] = found.skipped.get("evalbatch 的输出文件", 0) + len(mine)
    return found


def _first_seen(records: list[FileRecord], out_dir: Path) -> None:
    """A file dated in the future is ordered by when a run first saw it (the history database),
    or by now when never: an old file with a wrong clock never supersedes one first seen later."""
    now = time.time()
    future = [r for r in records if r.mtime > now]
    if not future:
        return
    hash_files(future)
    seen = _quietly(history_db.first_seen, history_db.db_path_for(out_dir), [(r.name, r.sha256) for r in future]) or {}
    for r in future:
        r.seen = seen.get((r.name, r.sha256), now)


def _hold_previous(found: Discovery, cache: ParseCache | None) -> list[FileRecord]:
    """Files still being copied whose previous version the cache holds: tonight uses that
    version (its department stays in the workbook), the new one waits for the next run."""
    if cache is None:
        return []
    held = []
    for rec in found.pending:
        sha = cache.previous_sha(rec.name)
        if sha:
            rec.sha256 = sha
            held.append(rec)
    kept = {id(r) for r in held}
    found.pending = [r for r in found.pending if id(r) not in kept]
    found.files = found.files + held
    return held


def _pending_notes(found: Discovery, held: list[FileRecord], settle: float) -> list[str]:
    waiting = len(found.pending) + len(held)
    if not waiting:
        return []
    text = f"{waiting} 个文件在 {settle:g} 秒内修改过，可能仍在复制中，留待下次运行处理"
    if held:
        text += f"（其中 {len(held)} 个本次沿用上次采用的版本）"
    return [text + "；如确认已复制完毕，可加 --settle 0 立即处理"]


def _waiting(found: Discovery, target: Path, settle: float, attempt: _Attempt) -> RunOutcome:
    """Every file is still being copied: scoring nothing must not replace a good workbook."""
    note = (f"全部 {len(found.pending)} 个文件都在 {settle:g} 秒内修改过，可能仍在复制中；本次没有评分，汇总工作簿和历史副本都未改动。"
            f"请稍后再运行，或确认已复制完毕后加 --settle 0 立即处理")
    log.warning(note)
    attempt.end(history_db.WAITING, EXIT_FINDINGS, note, records=found.pending)
    return RunOutcome(None, target, EXIT_FINDINGS, [note], run_id=attempt.run_id, pending=len(found.pending))


def _outputs_in_place(manifest: dict, target: Path, opts: RunOptions) -> bool:
    """Whether every output asked for tonight is where the last run put it. A night that wrote
    any output beside its name (the workbook, a feedback or Parquet file, run.json) never
    counts: the results still have to reach the name people and programs read."""
    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict) or outputs.get("workbook") != [str(target)] or manifest.get("beside"):
        return False
    if _fallbacks(target):
        return False
    asked = ["workbook"] + [kind for kind in ("feedback", "parquet") if getattr(opts, kind)]
    return all(isinstance(outputs.get(kind), list) and all(Path(str(p)).exists() for p in outputs[kind]) for kind in asked)


def _output_kind(target: Path, out_dir: Path) -> tuple[int, str]:
    """What an output is called in a message, and its place in a list (the workbook first)."""
    folder = {out_dir / FEEDBACK_DIR: (1, "反馈文件"), out_dir / PARQUET_DIR: (2, "Parquet 文件"), out_dir / HISTORY_DIR: (3, "历史副本")}
    if target.parent in folder:
        return folder[target.parent]
    return (0, "汇总工作簿") if target.suffix == _WORKBOOK_SUFFIX else (4, "运行摘要")


def _beside_notes(beside: dict[Path, Path], out_dir: Path) -> list[str]:
    """One line per output written beside its name: which, where its content is, what happens next."""
    ordered = sorted(beside.items(), key=lambda tw: (_output_kind(tw[0], out_dir), tw[0].name))
    return [f"{_output_kind(t, out_dir)[1]} {t.name} 正被占用（可能正被打开），无法替换，本次结果已另存为 {w.name}；下次运行将重试"
            for t, w in ordered]


def _fallbacks(target: Path) -> list[Path]:
    """Files written beside tonight's outputs (this year's workbook, run.json, feedback, Parquet)
    that a later run has not yet put back."""
    out_dir = target.parent
    ours = re.compile(f"({re.escape(target.stem)}{_STAMP}{re.escape(target.suffix)}|run{_STAMP}\\.json)")
    beside = re.compile(f".+{_STAMP}\\.\\w+")
    return [p for p in _output_dir_files(out_dir) if (ours if p.parent == out_dir else beside).fullmatch(p.name)]


def _output_dir_files(out_dir: Path) -> list[Path]:
    found = []
    for folder in (out_dir, out_dir / FEEDBACK_DIR, out_dir / PARQUET_DIR):
        try:
            found += [p for p in folder.iterdir() if p.is_file()]
        except OSError:
            pass
    return found


def _unchanged(cache: ParseCache, found: Discovery, target: Path, notes: list[str], attempt: _Attempt, waiting: int,
               findings_exit: int) -> RunOutcome:
    note = "自上次运行以来没有任何文件变化，汇总工作簿保持不变，未重写"
    log.info(note)
    # Tonight's --findings-exit decides, not the one of the night that wrote the workbook.
    had_errors = cache.manifest.get("error_files", cache.manifest.get("exit_code") == EXIT_FINDINGS)
    code = findings_exit if had_errors is True else EXIT_OK
    attempt.end(history_db.UNCHANGED, code, note, workbook=target, records=found.files)
    return RunOutcome(None, target, code, [note, *notes], unchanged=True, run_id=attempt.run_id, pending=waiting)


def _reviews(out_dir: Path, year: int, rules: Rules, opts: RunOptions) -> Collected:
    """The filled review workbooks (抽评), checked against the draws in the history database."""
    folder = opts.reviews or out_dir / REVIEW_DIR
    found = collect(folder, history_db.db_path_for(out_dir), year, rules)
    if found.fingerprint:
        log.info("抽评表：%s 中 %d 个，%d 项指标抽评、%d 个问题", folder, sum(k != "\x00draws" for k in found.fingerprint),
                 len(found.marks), len(found.findings))
    return found


def _inputs(found: Discovery, reviews: Collected, roster: tuple[Path, Roster] | None = None) -> dict[str, str]:
    """Everything whose change must make a night score again: the submissions, the review
    workbooks and draws, and the roster (their keys cannot be a file's name)."""
    listed = {"\x00roster": roster[1].sha256} if roster else {}
    return {**{r.name: r.sha256 for r in found.files}, **reviews.fingerprint, **listed}


def _with_errors(result: BatchResult) -> bool:
    """A file with an 错误, or a review workbook with one: the night's findings exit code."""
    return bool(result.error_files) or (result.review is not None and result.review.has_errors)


def _evaluate_and_write(input_dir, out_dir, year, rules, opts, progress, stamp, found, held, cache, notes, attempt,
                        reviews: Collected | None = None, roster: tuple[Path, Roster] | None = None) -> RunOutcome:
    result = evaluate(found.files, rules, year=year, jobs=opts.jobs, progress=progress, skipped=found.skipped,
                      pending=found.pending, held=held, cache=cache)
    target = out_dir / workbook_name(year)
    shrunk = "" if opts.allow_shrink else _shrunk(out_dir, year, result, roster, rules)
    if shrunk:
        return _input_missing(shrunk, target, attempt, records=result.records, hint=SHRINK_HINT)
    t0 = time.perf_counter()
    measured = _measure(result, roster, rules)
    spent = time.perf_counter() - t0
    if roster is not None and not measured:
        notes = [f"名单 {roster[0]} 中没有可用的单位（原因见“审核问题”中该文件的行），本次不按名单统计报送情况", *notes]
    apply_to(result, reviews, rules)
    t0 = time.perf_counter()
    status = roster_status(result, roster[1], str(roster[0])) if measured else None  # after reviews: final scores
    if status is not None:
        result.timings["roster"] = spent + time.perf_counter() - t0
        log.info("%s", status.line())
    result.trim(KEPT_INDICATOR_COLUMNS)
    for rec in result.records:
        log.info("文件 %s：%s（%s）", rec.name, rec.status, rec.sha256[:12])
    code = opts.findings_exit if _with_errors(result) else EXIT_OK
    result.meta["input_dir"] = str(input_dir)
    run_id, changes, yoy, moved, reviewed = _remember(out_dir, result, target, code, attempt, status)
    t0 = time.perf_counter()
    result.meta["finished"] = _now()  # 运行信息's 完成时间: the results are complete; the outputs follow
    # Parquet and feedback before the workbook: its 运行信息 names any of them written beside.
    outputs = _write_beside_workbook(result, out_dir, rules, opts)
    placed = files.current_outputs()
    result.meta["not_in_place"] = _beside_notes(placed.beside, out_dir)
    table = None if status is None else status.table
    with _writing(target):
        written = atomic_write(target, lambda p: write_workbook(result, p, rules=rules, changes=changes, year_over_year=yoy,
                                                                submissions=table, status_changes=moved, project_changes=reviewed,
                                                                helpers=helpers(rules, opts.jobs) or in_process))
    outputs["workbook"] = [str(written)]
    with _writing(out_dir / HISTORY_DIR):
        history = _keep_history(written, target, out_dir / HISTORY_DIR, stamp, opts.keep)
    _tidy_fallbacks(target, placed.beside)
    result.timings["write"] = time.perf_counter() - t0
    result.meta["finished"] = _now()
    notes = [*_beside_notes(placed.beside, out_dir), *notes]
    for note in notes:
        log.warning(note)
    if run_id is not None:  # recorded before the workbook existed: now say where and when it ended
        attempt.loudly(history_db.update_run, attempt.db, run_id, workbook=written, finished=result.meta["finished"], kind=history_db.SCORED)
    if cache is not None:
        cache.commit({"year": year, "files": _inputs(found, reviews or Collected.none(), roster), "exit_code": code, "workbook": str(written),
                      "outputs": outputs, "error_files": _with_errors(result),
                      "beside": {str(t): str(w) for t, w in placed.beside.items()}})
    return RunOutcome(result, written, code, notes, None, history, run_id=run_id, pending=len(found.pending) + len(held), roster=status)


def _write_beside_workbook(result: BatchResult, out_dir: Path, rules: Rules, opts: RunOptions) -> dict[str, list[str]]:
    """The outputs asked for besides the workbook (Parquet, feedback), by kind."""
    outputs = {}
    if opts.parquet:
        with _writing(out_dir / PARQUET_DIR):
            outputs["parquet"] = [str(p) for p in write_parquet(result, out_dir / PARQUET_DIR)]
    if opts.feedback:
        with _writing(out_dir / FEEDBACK_DIR):
            made = write_feedback(result, out_dir, rules)
        _prune_feedback(out_dir / FEEDBACK_DIR, made, out_dir / FEEDBACK_RECORD)
        outputs["feedback"] = [str(p) for p in made]
        log.info("已为 %d 个单位生成结果反馈文件（%s）", len(made), out_dir / FEEDBACK_DIR)
    return outputs


def _measure(result: BatchResult, roster: tuple[Path, Roster] | None, rules: Rules) -> bool:
    """The night's departments against the roster (before reviews: categories decide ranks in
    category). The roster's own problems join the findings. None when there is no usable roster."""
    if roster is None:
        return False
    path, listed = roster
    # The bureau's own list: no department's finding (a feedback file would show it by 单位编码).
    own = listed.findings.assign(dept_code="", dept_name="")
    result.findings = F.concat([result.findings, F.relevel(own, rules.rule_levels)])
    if listed.units.empty:
        return False
    match_roster(result, listed, rules, path.name)
    return True


def _keep_history(written: Path, target: Path, hist: Path, stamp: str, keep: int) -> Path | None:
    """A dated copy of the workbook written; only the newest `keep` copies of this year's stay."""
    if keep <= 0:
        return None
    hist.mkdir(exist_ok=True)
    copy = unique_path(hist / f"{stamp}_{written.name}")
    atomic_write(copy, lambda p: shutil.copyfile(written, p))
    ours = _history_copies(target)
    # Tonight's copy stays whatever its name: a second copy from the same second is …-2.xlsx
    # (unique_path), which sorts before ….xlsx by name although it is the newer one. The others
    # go oldest first, by time and then by that number.
    found = [(m, p) for p in hist.iterdir() if (m := ours.fullmatch(p.name)) and plain_file(p) and p != copy]
    found.sort(key=lambda mp: (mp[0]["stamp"], int(mp[0]["again"] or 1), mp[1].name))
    for _, p in found[: max(len(found) - (keep - 1), 0)]:
        remove_quietly(p)
    return copy


def _prune_feedback(folder: Path, made: list[Path], record: Path) -> None:
    """feedback/ holds exactly this run's departments: files of departments renamed or withdrawn
    go. Only files evalbatch wrote: named in the record of the last run's feedback, plain files
    (never through a link); whatever else someone put there stays. The record is kept beside
    feedback/, which holds nothing but the departments' files. A department's file held open
    tonight stays too: its result went beside it."""
    try:
        written = json.loads(read_own_text(record) or "[]")
    except (OSError, ValueError, RecursionError):
        written = []
    keep = {p.name for p in made} | {t.name for t in files.current_outputs().beside}
    for name in written if isinstance(written, list) else []:
        p = folder / str(name)
        if p.parent == folder and p.name not in keep and p.suffix == ".xlsx" and plain_file(p):
            remove_quietly(p)
    atomic_write(record, lambda p: p.write_text(json.dumps(sorted(keep), ensure_ascii=False), encoding="utf-8"))


def _tidy_fallbacks(target: Path, beside: dict[Path, Path]) -> None:
    """Files written beside an output on earlier nights are superseded once tonight's content is
    under the output's name (history/ keeps a copy of each workbook). Those of an output still
    held tonight stay until it is put back."""
    still_held = {(t.parent, t.stem, t.suffix) for t in beside}
    written = set(beside.values())
    for p in _fallbacks(target):
        stem = re.sub(_STAMP + "$", "", p.stem)
        if p not in written and (p.parent, stem, p.suffix) not in still_held and plain_file(p):
            remove_quietly(p)


def _not_in_place_notes(outcome: RunOutcome, placed: files.Outputs, target: Path) -> None:
    """run.json is written last: when it is the one held, the console and the log say so too,
    and the fallback left beside it makes the next night write everything again."""
    run_json = target.parent / "run.json"
    if run_json in placed.beside:
        note = _beside_notes({run_json: placed.beside[run_json]}, target.parent)[0]
        log.warning(note)
        outcome.notes.append(note)
    elif outcome.result is not None or outcome.unchanged:
        _tidy_fallbacks(target, placed.beside)


def _remember(out_dir: Path, result: BatchResult, target: Path, code: int, attempt: _Attempt, status: RosterStatus | None = None):
    """Record the run's scores in its history row and read what changed since the last run
    (departments, year over year, roster statuses, projects a review scored differently).

    A damaged database is a record, not a gate: the run goes on, with a warning in the log and
    no 变动情况 sheet. One held by another program, or from a newer evalbatch, stops it.
    """
    db = history_db.db_path_for(out_dir)
    run_id = attempt.loudly(history_db.record_run, db, result, target, code, run_id=attempt.run_id, roster=status)
    attempt.run_id = run_id if run_id is not None else attempt.run_id
    if run_id is None:
        return None, None, None, None, None
    first = _quietly(history_db.previous_run, db, run_id) is None
    changes = None if first else _quietly(history_db.changes, db, run_id)
    reviewed = None if first else _quietly(history_db.project_review_changes, db, run_id)
    moved = None if status is None else _quietly(history_db.status_changes, db, run_id)
    return run_id, changes, _quietly(history_db.year_over_year, db, run_id), moved, reviewed


def _quietly(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except history_db.HistoryError as exc:
        log.warning("运行历史数据库：%s", exc)
        return None


def _run_json(outcome: RunOutcome, out_dir: Path, input_dir: Path) -> None:
    text = json.dumps(_unchanged_summary(outcome, out_dir) if outcome.unchanged else _summary(outcome, input_dir),
                      ensure_ascii=False, indent=2)
    atomic_write(out_dir / "run.json", lambda p: p.write_text(text, encoding="utf-8"))


def _unchanged_summary(outcome: RunOutcome, out_dir: Path) -> dict:
    """The previous summary still describes the workbook; say when it was confirmed."""
    try:
        summary = json.loads(read_own_text(out_dir / "run.json") or "null")
    except (OSError, ValueError, RecursionError):
        summary = None
    if not isinstance(summary, dict):
        summary = {"outputs": {"workbook": str(outcome.workbook)}, "exit_code": outcome.exit_code}
    summary.update({"unchanged": True, "checked": _now(), "notes": outcome.notes})
    if not isinstance(summary.get("outputs"), dict):
        summary["outputs"] = {"workbook": str(outcome.workbook)}
    summary["outputs"]["log"] = str(outcome.log_file or "")
    return summary


def _summary(outcome: RunOutcome, input_dir: Path) -> dict:
    r = outcome.result
    levels = r.findings["level"].value_counts()
    summary = {
        **r.meta,
        "input_dir": str(input_dir),
        "files": [
            {"name": f.name, "sha256": f.sha256, "size": f.size, "status": f.status, "dept_code": f.dept_code}
            for f in r.records
        ],
        "skipped": r.skipped,
        "findings": {lv: int(levels.get(lv, 0)) for lv in (F.ERROR, F.WARNING, F.NOTE)},
        "departments": int(len(r.depts)),
        "outputs": {
            "workbook": str(outcome.workbook),
            "history": str(outcome.history_file or ""),
            "log": str(outcome.log_file or ""),
        },
        "notes": outcome.notes,
        "not_in_place": {str(t): str(w) for t, w in files.current_outputs().beside.items()},
        "timings": {k: round(v, 3) for k, v in r.timings.items()},
        "unchanged": False,
        "exit_code": outcome.exit_code,
    }
    if outcome.roster is not None:
        summary["roster"] = roster_summary(outcome.roster)
    return summary


def roster_summary(status: RosterStatus) -> dict:
    """run.json's roster part: what `evalbatch status` prints (the counts, and who has not sent anything)."""
    missing = status.missing()
    return {
        "file": status.source, "sha256": status.sha256, "units": status.units, "counts": status.counts, "line": status.line(),
        "missing": [{"dept_code": _plain(c), "dept_name": _plain(n), "contact": _plain(p), "deadline": _plain(d)}
                    for c, n, p, d in zip(missing["dept_code"], missing["dept_name"], missing["contact"], missing["deadline"])],
        "by_unit": [{"dept_code": _plain(c), "status": s} for c, s in zip(status.table["dept_code"], status.table["status"])],
    }


def _plain(v) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)

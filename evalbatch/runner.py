"""`evalbatch run` as a library call, for unattended nightly runs on a shared drive.

One run at a time (lock), nothing half-written (temporary file + atomic move), a dated copy
in history/, a log per run in logs/ and a machine-readable run.json.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import findings as F
from .batch import BatchResult, discover, evaluate, hash_files
from . import history as history_db
from .cache import ParseCache
from .feedback import FEEDBACK_DIR, write_feedback
from .files import atomic_write, unique_path
from .lock import RunLock
from .report import write_parquet, write_workbook
from .rules import Rules

log = logging.getLogger("evalbatch")

# Exit codes (README and `evalbatch run --help`).
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_LOCKED, EXIT_OUTPUT = 0, 1, 2, 3, 4


class OutputError(RuntimeError):
    """The workbook could not be written; the message is for the user."""


@dataclass
class RunOutcome:
    result: BatchResult | None  # None when nothing changed since the last run
    workbook: Path
    exit_code: int
    notes: list[str] = field(default_factory=list)  # e.g. the target was open elsewhere
    log_file: Path | None = None
    history_file: Path | None = None
    unchanged: bool = False
    run_id: int | None = None  # in the history database


def workbook_name(year: int) -> str:
    return f"绩效自评汇总_{year}.xlsx"


def _keep_history(workbook: Path, out_dir: Path, stamp: str, keep: int) -> Path | None:
    if keep <= 0:
        return None
    hist = out_dir / "history"
    hist.mkdir(exist_ok=True)
    copy = unique_path(hist / f"{stamp}_{workbook.name}")
    atomic_write(copy, lambda p: shutil.copyfile(workbook, p))
    old = sorted(p for p in hist.iterdir() if p.suffix == workbook.suffix and p.name.endswith(workbook.name))
    for p in old[:-keep]:
        p.unlink(missing_ok=True)
    return copy


def _open_log(out_dir: Path, stamp: str) -> tuple[logging.Handler, Path]:
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = unique_path(logs / f"run-{stamp}.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler, path


def _run_json(outcome: RunOutcome, out_dir: Path, input_dir: Path) -> None:
    text = json.dumps(_unchanged_summary(outcome, out_dir) if outcome.unchanged else _summary(outcome, input_dir),
                      ensure_ascii=False, indent=2)
    atomic_write(out_dir / "run.json", lambda p: p.write_text(text, encoding="utf-8"))


def _unchanged_summary(outcome: RunOutcome, out_dir: Path) -> dict:
    """The previous summary still describes the workbook; say when it was confirmed."""
    try:
        summary = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {"outputs": {"workbook": str(outcome.workbook)}, "exit_code": outcome.exit_code}
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    summary.update({"unchanged": True, "checked": now, "notes": outcome.notes})
    summary.setdefault("outputs", {})["log"] = str(outcome.log_file or "")
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
        "timings": {k: round(v, 3) for k, v in r.timings.items()},
        "unchanged": False,
        "exit_code": outcome.exit_code,
    }
    return summary


@dataclass
class RunOptions:
    jobs: int = 1
    settle: float = 120  # seconds a file must be left alone before it is read
    keep: int = 30  # dated copies kept in history/
    lock_max_age: float = 6 * 3600
    use_cache: bool = True
    parquet: bool = False
    feedback: bool = False  # one result workbook per department under feedback/


def run(input_dir: str | Path, out_dir: str | Path, year: int, rules: Rules, *,
        progress: Callable[[int, int], None] | None = None, **options) -> RunOutcome:
    """The whole nightly run. Raises `lock.Locked` (exit 3) or `OutputError` (exit 4).

    `options` are the fields of `RunOptions`.
    """
    opts = RunOptions(**options)
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"无法创建输出文件夹 {out_dir}：{exc.strerror or exc}") from exc
    with RunLock(out_dir, opts.lock_max_age) as lock:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        handler, log_file = _open_log(out_dir, stamp)
        try:
            if lock.took_over:
                log.warning(lock.took_over)
            log.info("开始运行：输入 %s，输出 %s，年度 %s，规则 %s（%s）", input_dir, out_dir, year, rules.source, rules.digest)
            outcome = _run_locked(input_dir, out_dir, year, rules, opts, progress, stamp)
            outcome.log_file = log_file
            _run_json(outcome, out_dir, input_dir)
            log.info("完成：退出码 %d，工作簿 %s", outcome.exit_code, outcome.workbook)
            return outcome
        except Exception:
            log.exception("运行中断")
            raise
        finally:
            log.removeHandler(handler)
            handler.close()


def _run_locked(input_dir: Path, out_dir: Path, year: int, rules: Rules, opts: RunOptions, progress, stamp: str) -> RunOutcome:
    found = discover(input_dir, opts.settle, exclude=out_dir)
    log.info("发现 %d 个文件，%d 个待下次处理，跳过 %s", len(found.files), len(found.pending), found.skipped or "无")
    cache = ParseCache(out_dir, rules).load() if opts.use_cache else None
    if cache is not None:
        hash_files(found.files)
        names = {r.name: r.sha256 for r in found.files}
        if cache.unchanged(names, year):
            return _unchanged(cache, found)
    try:
        return _evaluate_and_write(input_dir, out_dir, year, rules, opts, progress, stamp, found, cache)
    finally:
        if cache is not None:
            cache.discard()  # staged rows of a run that did not finish


def _evaluate_and_write(input_dir, out_dir, year, rules, opts, progress, stamp, found, cache) -> RunOutcome:
    result = evaluate(found.files, rules, year=year, jobs=opts.jobs, progress=progress, skipped=found.skipped,
                      pending=found.pending, cache=cache)
    for rec in result.records:
        log.info("文件 %s：%s（%s）", rec.name, rec.status, rec.sha256[:12])
    target = out_dir / workbook_name(year)
    code = EXIT_FINDINGS if result.error_files else EXIT_OK
    result.meta["input_dir"] = str(input_dir)
    run_id, changes, yoy = _remember(out_dir, result, target, code)
    t0 = time.perf_counter()
    try:
        written = atomic_write(target, lambda p: write_workbook(result, p, rules=rules, changes=changes, year_over_year=yoy))
        history = _keep_history(written, out_dir, stamp, opts.keep)
        if opts.parquet:
            write_parquet(result, out_dir / "parquet")
        if opts.feedback:
            files = write_feedback(result, out_dir, rules)
            log.info("已为 %d 个单位生成结果反馈文件（%s）", len(files), out_dir / FEEDBACK_DIR)
    except OSError as exc:
        if run_id is not None:
            _quietly(history_db.update_run, history_db.db_path_for(out_dir), run_id, exit_code=EXIT_OUTPUT)
        raise OutputError(f"无法写入输出（{getattr(exc, 'filename', None) or target}）：{exc.strerror or exc}") from exc
    result.timings["write"] = time.perf_counter() - t0
    result.meta["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    notes = [] if written == target else [f"{target.name} 正被打开，无法替换；本次结果已另存为 {written.name}"]
    for note in notes:
        log.warning(note)
    if run_id is not None:  # recorded before the workbook existed: now say where and when it ended
        _quietly(history_db.update_run, history_db.db_path_for(out_dir), run_id, workbook=written, finished=result.meta["finished"])
    if cache is not None:
        cache.commit({"year": year, "files": {r.name: r.sha256 for r in found.files}, "exit_code": code, "workbook": str(written)})
    return RunOutcome(result, written, code, notes, None, history, run_id=run_id)


def _remember(out_dir: Path, result: BatchResult, target: Path, code: int):
    """Record the run in the history database and read what changed since the last one.

    The database is a record, not a gate: when it cannot be used the run goes on, with a
    warning in the log and no 变动情况 sheet.
    """
    db = history_db.db_path_for(out_dir)
    run_id = _quietly(history_db.record_run, db, result, target, code)
    if run_id is None:
        return None, None, None
    first = _quietly(history_db.previous_run, db, run_id) is None
    changes = None if first else _quietly(history_db.changes, db, run_id)
    return run_id, changes, _quietly(history_db.year_over_year, db, run_id)


def _quietly(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except history_db.HistoryError as exc:
        log.warning("运行历史数据库：%s", exc)
        return None


def _unchanged(cache: ParseCache, found) -> RunOutcome:
    m = cache.manifest
    note = "自上次运行以来没有任何文件变化，汇总工作簿保持不变，未重写"
    if found.pending:
        note += f"（另有 {len(found.pending)} 个文件刚被修改，留待下次处理）"
    log.info(note)
    return RunOutcome(None, Path(m["workbook"]), int(m.get("exit_code", EXIT_OK)), [note], unchanged=True)

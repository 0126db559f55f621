"""Run history in an embedded SQLite database (OUTPUT_DIR/evalbatch.sqlite).

Every nightly run attempt is recorded once, so `evalbatch history` answers "did it run last
night?": a run that scored is stored with every file it saw (with its SHA-256) and each
department's and each project's recomputed scores; a night with nothing changed, a run
refused by the lock, a run that scored nothing because every file was still being copied
and a run that failed are stored as one row each, with their exit code and why. From that the workbook's 变动情况
sheet (what changed since the previous run of the same year), a year-over-year comparison
and a department's history are read back as DataFrames with Chinese column names.

The schema is created and migrated here: `PRAGMA user_version` counts the scripts of
`MIGRATIONS` already applied; a run (under the run lock) applies the missing ones in one
transaction. Readers (`evalbatch history` on an analyst's PC, perhaps with another version)
never change the file: they open it read-only and read an older one through a migrated copy
in memory. A database written by a newer evalbatch is refused (`HistoryTooNew`).

A run's row is written when it starts (进行中) and finished when it ends, so a run killed on
the way stays 进行中 until the next run, under the lock, marks it 中断. A write transaction
another program holds is waited for `BUSY_TIMEOUT_MS`, then `HistoryBusy`.

The output folder usually lives on a shared (network) drive, where SQLite's WAL mode is not
safe (it needs shared memory between processes on one machine), so the database keeps the
default rollback journal and waits for locks (`busy_timeout`) instead. Writers are already
serialised by the run lock; readers (an analyst's `evalbatch history`) only wait briefly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..files import FILE, OutputError, own_object
from ..judge.evaluate import BatchResult
from ..read.discover import REJECTED

DB_NAME = "evalbatch.sqlite"
BUSY_TIMEOUT_MS = 30_000

# Version N of the schema is MIGRATIONS[:N] applied in order. Append, never edit a script
# that has shipped: databases in the field are at every version.
MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY,
        started      TEXT NOT NULL,
        finished     TEXT,
        year         INTEGER,
        version      TEXT,
        rules_digest TEXT,
        input_dir    TEXT,
        workbook     TEXT,
        exit_code    INTEGER,
        recorded     TEXT NOT NULL
    );
    CREATE INDEX runs_year ON runs (year, id);
    CREATE TABLE run_files (
        run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name      TEXT NOT NULL,
        sha256    TEXT,
        size      INTEGER,
        status    TEXT,
        dept_code TEXT,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX run_files_sha256 ON run_files (sha256);
    CREATE TABLE dept_scores (
        run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        year          INTEGER,
        dept_code     TEXT NOT NULL,
        dept_name     TEXT,
        dept_category TEXT,
        file          TEXT NOT NULL,
        sha256        TEXT,
        total         REAL,
        self_total    REAL,
        grade         TEXT,
        rank          INTEGER,
        errors        INTEGER,
        warnings      INTEGER,
        PRIMARY KEY (run_id, file)
    );
    CREATE INDEX dept_scores_code ON dept_scores (dept_code, run_id);
    CREATE TABLE project_scores (
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        year         INTEGER,
        file         TEXT,
        dept_code    TEXT,
        project_code TEXT,
        project_name TEXT,
        total        REAL,
        self_score   REAL,
        grade        TEXT,
        exec_rate    REAL
    );
    CREATE INDEX project_scores_run ON project_scores (run_id, dept_code);
    """,
    # 2: every attempt, not only the runs that scored
    """
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'scored';
    ALTER TABLE runs ADD COLUMN note TEXT;
    """,
    # 3: re-review (抽评): each draw with its items and their indicator rows as drawn, the
    # adjustments each run applied, and the reviewed and final scores beside the recomputed ones
    """
    ALTER TABLE dept_scores ADD COLUMN review_total REAL;
    ALTER TABLE dept_scores ADD COLUMN final_total REAL;
    ALTER TABLE project_scores ADD COLUMN review_total REAL;
    ALTER TABLE project_scores ADD COLUMN final_total REAL;
    CREATE TABLE review_draws (
        id           INTEGER PRIMARY KEY,
        token        TEXT NOT NULL,
        created      TEXT NOT NULL,
        year         INTEGER,
        run_id       INTEGER REFERENCES runs (id),
        seed         INTEGER NOT NULL,
        params       TEXT NOT NULL,
        rules_digest TEXT
    );
    CREATE INDEX review_draws_year ON review_draws (year, id);
    CREATE TABLE review_items (
        draw_id      INTEGER NOT NULL REFERENCES review_draws (id) ON DELETE CASCADE,
        item_no      TEXT NOT NULL,
        kind         TEXT,
        dept_code    TEXT,
        dept_name    TEXT,
        project_code TEXT,
        project_name TEXT,
        reasons      TEXT,
        reviewer     TEXT,
        workbook     TEXT,
        file         TEXT,
        source       TEXT,
        sha256       TEXT,
        budget       REAL,
        spent        REAL,
        exec_rate    REAL,
        self_score   REAL,
        total        REAL,
        n_indicators INTEGER,
        PRIMARY KEY (draw_id, item_no)
    );
    CREATE TABLE review_indicators (
        draw_id      INTEGER NOT NULL,
        item_no      TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        dept_code    TEXT,
        project_code TEXT,
        l1           TEXT,
        l2           TEXT,
        l3           TEXT,
        nth          INTEGER,
        weight       REAL,
        target       TEXT,
        actual       TEXT,
        self_score   REAL,
        score        REAL,
        explain      TEXT,
        PRIMARY KEY (draw_id, item_no, seq),
        FOREIGN KEY (draw_id, item_no) REFERENCES review_items (draw_id, item_no) ON DELETE CASCADE
    );
    CREATE TABLE review_adjustments (
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        draw_id      INTEGER,
        item_no      TEXT,
        seq          INTEGER,
        reviewer     TEXT,
        review_file  TEXT,
        dept_code    TEXT,
        file         TEXT,
        project_code TEXT,
        indicator    TEXT,
        old_score    REAL,
        new_score    REAL,
        how          TEXT,
        verified     TEXT,
        comment      TEXT
    );
    CREATE INDEX review_adjustments_dept ON review_adjustments (dept_code, run_id);
    """,
    # 4: which machine and process made each attempt (two machines may run the task)
    """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    """,
    # 5: the roster (名单) each run used, its status counts, and every roster unit's status
    """
    ALTER TABLE runs ADD COLUMN roster_sha256 TEXT;
    ALTER TABLE runs ADD COLUMN roster_counts TEXT;
    CREATE TABLE roster_status (
        run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        dept_code TEXT NOT NULL,
        dept_name TEXT,
        status    TEXT,
        PRIMARY KEY (run_id, dept_code)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# Columns of the returned frames (the workbook's and the CLI's headers).
CHANGES_COLUMNS = ["变动", "变动原因", "单位编码", "单位名称", "原得分", "新得分", "差异", "原文件", "新文件", "文件是否变化", "说明"]
# 同比: each unit's 最终得分, grade and rank beside last year's; 排名变化 > 0 is a move up.
YOY_COLUMNS = ["单位编码", "单位名称", "单位类别", "上年最终得分", "本年最终得分", "得分变化", "上年等级", "本年等级",
               "上年排名", "本年排名", "排名变化", "同比情况"]
YOY_SCORES = ("上年最终得分", "本年最终得分", "得分变化")
YOY_RANKS = ("上年排名", "本年排名", "排名变化")
# 同比情况: how a unit in both years moved (by 最终得分), or that it is in only one of them.
UP, DOWN, SAME, NEW_UNIT, GONE_UNIT = "上升", "下降", "持平", "本年新增", "本年没有"
UNRATED_THIS, UNRATED_LAST = "本年未评级", "上年未评级"
# 变动情况's projects a review (抽评) scored differently from the previous run of the year.
PROJECT_CHANGES_COLUMNS = ["单位编码", "单位名称", "项目编码", "项目名称", "复核得分", "原最终得分", "新最终得分", "差异", "说明"]
RUNS_COLUMNS = ["运行编号", "开始时间", "完成时间", "年度", "结果", "文件数", "单位数", "退出码", "工作簿", "说明", "主机", "进程"]
STATUS_CHANGES_COLUMNS = ["单位编码", "单位名称", "原状态", "新状态"]
DEPT_HISTORY_COLUMNS = ["运行编号", "开始时间", "年度", "单位名称", "复核得分", "自评得分", "评价等级", "排名", "文件", "SHA-256"]

NEW, WITHDRAWN, CHANGED = "新增", "撤回", "变化"
# What became of a run attempt (runs.kind) and how `evalbatch history` names it. Only runs
# that scored are compared with (变动情况, year over year).
SCORED, UNCHANGED, WAITING, REFUSED, FAILED = "scored", "unchanged", "waiting", "refused", "failed"
RUNNING, INTERRUPTED, INPUT_MISSING = "running", "interrupted", "input_missing"
KIND_NAMES = {SCORED: "已评分", UNCHANGED: "无变化，未重写", WAITING: "未评分：文件仍在复制", REFUSED: "未运行：另一个运行正在进行",
              FAILED: "失败", INPUT_MISSING: "未评分：收件文件夹为空、缺失或单位过少",
              RUNNING: "进行中", INTERRUPTED: "中断"}  # 中断: killed (结束任务, power, time limit) before it finished
_KIND_ORDER = {CHANGED: 0, NEW: 1, WITHDRAWN: 2}
_SCORE_TOLERANCE = 0.005  # scores are rounded to 2 decimals; anything smaller is float noise


class HistoryError(RuntimeError):
    """The run-history database cannot be used; the message is for the user (Chinese)."""


class HistoryBusy(HistoryError):
    """Another program held a write transaction for longer than `BUSY_TIMEOUT_MS`."""


class HistoryTooNew(HistoryError):
    """The database was written by a newer evalbatch; this one changes nothing in it."""


def _failure(exc: sqlite3.Error, text: str) -> HistoryError:
    """`text` as the right kind of HistoryError; a lock held too long says so and what to do."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc):
        return HistoryBusy(f"{text}：数据库被其他程序锁定超过 {BUSY_TIMEOUT_MS / 1000:g} 秒（可能有人用 SQLite 工具打开着它，"
                           f"或另一台电脑上的 evalbatch history 仍在读取）；请关闭该程序后重新运行")
    return HistoryError(f"{text}（{exc}）")


def db_path_for(out_dir: str | Path) -> Path:
    return Path(out_dir) / DB_NAME


# ---------------------------------------------------------------- connection and migrations


@contextmanager
def connect(db_path: str | Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """An open connection to a database at `SCHEMA_VERSION`.

    With `create=True` (a run, under the run lock) the file is created or migrated as needed;
    the connection is in autocommit mode: write inside `transaction(conn)`. With
    `create=False` (a reader) the file is opened read-only and never changed: a missing file
    raises `HistoryError`, an older one is read through a migrated copy in memory. Closed on exit.
    """
    path = Path(db_path)
    try:
        own_object(path, FILE)  # sqlite would follow a link and wait on a FIFO
    except OutputError as exc:
        raise HistoryError(str(exc)) from None
    if not create and not path.exists():
        raise HistoryError(f"运行记录数据库 {path} 不存在：还没有记录过任何运行")
    try:
        conn = sqlite3.connect(str(path) if create else f"{path.absolute().as_uri()}?mode=ro", timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, uri=not create)
    except sqlite3.Error as exc:
        raise HistoryError(f"无法打开运行记录数据库 {path}：{exc}") from exc
    try:
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if create:
                _migrate(conn, path)
            else:
                conn = _readable(conn, path)
        except HistoryError:
            raise
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise _failure(exc, f"无法读取运行记录数据库 {path}") from exc
            raise HistoryError(f"运行记录数据库 {path} 无法读取（{exc}）；文件可能已损坏或不是 evalbatch 的数据库") from exc
        yield conn
    finally:
        conn.close()


def _readable(conn: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """`conn` when its database is at `SCHEMA_VERSION`, else a migrated copy in memory (the
    file stays as it is: only a run migrates it)."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise _too_new(path, current)
    if current == SCHEMA_VERSION:
        return conn
    copy = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.backup(copy)
    finally:
        conn.close()
    _migrate(copy, path)
    return copy


def _too_new(path: Path, current: int) -> HistoryTooNew:
    return HistoryTooNew(
        f"运行记录数据库 {path} 由较新版本的 evalbatch 创建（数据库结构版本 {current}，"
        f"本程序只支持到版本 {SCHEMA_VERSION}）；请升级 evalbatch 后再运行。为避免损坏记录，本程序不会修改该数据库"
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply MIGRATIONS[current:] and set user_version, all in one transaction."""
    for _attempt in range(3):
        current = schema_version(conn)
        if current == SCHEMA_VERSION:
            return
        if current > SCHEMA_VERSION:
            raise _too_new(path, current)
        # executescript() commits any open transaction first, so BEGIN and COMMIT belong to the
        # script itself; a failing statement leaves the transaction open for the ROLLBACK below.
        script = "\n".join(["BEGIN IMMEDIATE;", *MIGRATIONS[current:], f"PRAGMA user_version = {SCHEMA_VERSION};", "COMMIT;"])
        try:
            conn.executescript(script)
            return
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if schema_version(conn) != current:
                continue  # another process migrated it meanwhile: look again
            raise _failure(exc, f"运行记录数据库 {path} 从结构版本 {current} 升级到 {SCHEMA_VERSION} 失败；数据库未作任何修改") from exc
    raise HistoryError(f"运行记录数据库 {path} 升级失败：结构版本不断变化，请稍后重试")


# ---------------------------------------------------------------- writing


def _texts(values: Sequence | pd.Series) -> list[str | None]:
    return [None if _missing(v) else str(v) for v in (values.tolist() if isinstance(values, pd.Series) else values)]


def _reals(series: pd.Series) -> list[float | None]:
    num = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
    return [float(v) if math.isfinite(v) else None for v in num]


def _ints(series: pd.Series) -> list[int | None]:
    return [int(v) if math.isfinite(v) else None for v in pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()]


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)


def record_run(db_path: str | Path, result: BatchResult, workbook: Path | str | None, exit_code: int | None,
               *, input_dir: str | Path | None = None, run_id: int | None = None, roster=None) -> int:
    """Record one run (run, files, department and project scores) in one transaction; its id.

    With `run_id` (the row `start_run` wrote) that row is filled in and keeps its kind until
    the run ends (`update_run`); without, a new row of a scored run. `input_dir` defaults to
    `result.meta["input_dir"]`. `roster` (a roster.RosterStatus, a stage above this one) adds
    the roster's SHA-256, its status counts and each roster unit's status. Raises
    `HistoryError` when the database cannot be opened or written; then nothing of this run is stored.
    """
    meta = result.meta
    year = meta.get("year")
    year = None if _missing(year) else int(year)
    started = meta.get("started") or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    input_dir = input_dir if input_dir is not None else meta.get("input_dir")
    recorded = dt.datetime.now().astimezone().isoformat(timespec="seconds")

    files = _file_rows(result.records)
    sha_of = {r.name: r.sha256 for r in result.records}

    d = result.depts
    n = len(d)
    dept_rows = list(zip(
        [year] * n, [("" if c is None else c) for c in _texts(_col(d, "dept_code"))], _texts(_col(d, "dept_name")),
        _texts(_col(d, "dept_category")), _texts(_col(d, "file")), _texts(_col(d, "file").map(sha_of)),
        _reals(_col(d, "total")), _reals(_col(d, "self_total")), _texts(_col(d, "grade")), _ints(_col(d, "rank")),
        _ints(_col(d, "errors")), _ints(_col(d, "warnings")), _reals(_col(d, "review_total")), _reals(_col(d, "final_total")),
    ))
    p = result.projects
    m = len(p)
    project_rows = list(zip(
        [year] * m, _texts(_col(p, "file")), _texts(_col(p, "dept_code")), _texts(_col(p, "project_code")),
        _texts(_col(p, "project_name")), _reals(_col(p, "total")), _reals(_col(p, "self_score")),
        _texts(_col(p, "grade")), _reals(_col(p, "exec_rate")), _reals(_col(p, "review_total")), _reals(_col(p, "final_total")),
    ))

    row = {"started": str(started), "finished": _text(meta.get("finished")), "year": year, "version": _text(meta.get("version")),
           "rules_digest": _text(meta.get("rules_digest")), "input_dir": _text(input_dir), "workbook": _text(workbook),
           "exit_code": None if exit_code is None else int(exit_code), "recorded": recorded}

    def write(conn: sqlite3.Connection) -> int:
        if run_id is None:
            run = _insert_run(conn, files, **row, **_me())
        else:
            run = _fill_run(conn, run_id, files, **row)
        conn.executemany(
            "INSERT INTO dept_scores (run_id, year, dept_code, dept_name, dept_category, file, sha256, total, self_total,"
            " grade, rank, errors, warnings, review_total, final_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run, *r) for r in dept_rows])
        conn.executemany(
            "INSERT INTO project_scores (run_id, year, file, dept_code, project_code, project_name, total, self_score,"
            " grade, exec_rate, review_total, final_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run, *r) for r in project_rows])
        review = getattr(result, "review", None)
        if review is not None:
            insert_frame(conn, "review_adjustments", review.adjustments, run_id=run)
        if roster is not None:
            _insert_roster(conn, run, roster)
        return run

    return _recorded(db_path, write)


def _insert_roster(conn: sqlite3.Connection, run_id: int, roster) -> None:
    conn.execute("UPDATE runs SET roster_sha256 = ?, roster_counts = ? WHERE id = ?",
                 (roster.sha256 or None, json.dumps(roster.counts, ensure_ascii=False), run_id))
    units = roster.table[roster.table["on_roster"].astype(bool)]
    insert_frame(conn, "roster_status", units[["dept_code", "dept_name", "status"]], run_id=run_id)


def insert_frame(conn: sqlite3.Connection, table: str, df: pd.DataFrame, **fixed) -> None:
    """The rows of `df` into `table`, column for column, with `fixed` values in every row;
    missing values (NaN, None, NA) as NULL."""
    if df is None or df.empty:
        return
    names = [*fixed, *df.columns]
    columns = [_plain(df[c]) for c in df.columns]
    rows = [(*fixed.values(), *row) for row in zip(*columns)]
    conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows)


def _plain(series: pd.Series) -> list:
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return _ints(series)
    if pd.api.types.is_float_dtype(series):
        return _reals(series)
    return _texts(series)


def _recorded(db_path: str | Path, write) -> int:
    """`write(conn)` in one transaction, its run id; `HistoryError`, nothing stored, when the database refuses."""
    with connect(db_path) as conn:
        try:
            with transaction(conn):
                return write(conn)
        except sqlite3.Error as exc:
            raise _failure(exc, f"写入运行记录数据库 {db_path} 失败；本次运行未记录") from exc


def _insert_run(conn: sqlite3.Connection, files: list[tuple], **columns) -> int:
    """One row of `runs` and its files; the run's id."""
    cur = conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", tuple(columns.values()))
    run_id = int(cur.lastrowid)
    conn.executemany("INSERT INTO run_files (run_id, name, sha256, size, status, dept_code) VALUES (?, ?, ?, ?, ?, ?)",
                     [(run_id, *row) for row in files])
    return run_id


def _fill_run(conn: sqlite3.Connection, run_id: int, files: list[tuple], **columns) -> int:
    """The row `start_run` wrote, filled in, and its files; its id."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (int(run_id),)).fetchone() is None:
        raise HistoryError(f"运行记录数据库中没有编号为 {run_id} 的运行")
    if columns:
        conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in columns)} WHERE id = ?", (*columns.values(), int(run_id)))
    conn.executemany("INSERT OR REPLACE INTO run_files (run_id, name, sha256, size, status, dept_code) VALUES (?, ?, ?, ?, ?, ?)",
                     [(run_id, *row) for row in files])
    return int(run_id)


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def start_run(db_path: str | Path, *, started: str, year: int | None, input_dir: str | Path | None = None) -> int:
    """The row of a run that has just taken the run lock, as 进行中; its id. Rows still 进行中
    belong to runs that ended without finishing theirs (the lock is ours now): they become 中断."""
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")

    def write(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE runs SET kind = ? WHERE kind = ?", (INTERRUPTED, RUNNING))
        return _insert_run(conn, [], started=started, year=year, version=__version__, input_dir=_text(input_dir),
                           recorded=now, kind=RUNNING, **_me())

    return _recorded(db_path, write)


def _file_rows(records) -> list[tuple]:
    return [(r.name, r.sha256 or None, int(r.size), r.status or None, r.dept_code or None) for r in records]


def first_seen(db_path: str | Path, files: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """When each (name, sha256) was first seen by a recorded run (epoch seconds); absent when never."""
    found = {}
    if not Path(db_path).exists():
        return found
    with connect(db_path) as conn:
        for name, sha in files:
            row = conn.execute("SELECT MIN(r.started) FROM run_files f JOIN runs r ON r.id = f.run_id WHERE f.name = ? AND f.sha256 = ?",
                               (name, sha)).fetchone()
            try:
                found[(name, sha)] = dt.datetime.fromisoformat(row[0]).timestamp()
            except (TypeError, ValueError):
                continue  # never seen, or a start time this version cannot read
    return found


def record_attempt(db_path: str | Path, kind: str, *, started: str, year: int | None, exit_code: int, note: str,
                   input_dir: str | Path | None = None, workbook: str | Path | None = None, records=()) -> int:
    """Record a run attempt that scored nothing (`kind` one of UNCHANGED, WAITING, REFUSED,
    FAILED), with the files it saw if any; its id. Raises `HistoryError` like `record_run`."""
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return _recorded(db_path, lambda conn: _insert_run(
        conn, _file_rows(records), started=started, finished=now, year=year, version=__version__, input_dir=_text(input_dir),
        workbook=_text(workbook), exit_code=int(exit_code), recorded=now, kind=kind, note=note, **_me()))


def update_run(db_path: str | Path, run_id: int, *, workbook: Path | str | None = None, exit_code: int | None = None,
               finished: str | None = None, kind: str | None = None, note: str | None = None, records=()) -> None:
    """Fill in what was only known after recording (the workbook actually written, how the run
    ended, the files an attempt that scored nothing saw)."""
    sets = {k: v for k, v in (("workbook", _text(workbook)), ("exit_code", exit_code), ("finished", finished), ("kind", kind),
                              ("note", note)) if v is not None}
    if not sets and not records:
        return
    with connect(db_path) as conn:
        try:
            with transaction(conn):
                _fill_run(conn, run_id, _file_rows(records), **sets)
        except sqlite3.Error as exc:
            raise _failure(exc, f"更新运行记录数据库 {db_path} 失败") from exc


def _text(v) -> str | None:
    return None if _missing(v) else str(v)


# ---------------------------------------------------------------- reading


def _run_row(conn: sqlite3.Connection, run_id: int) -> sqlite3.Row:
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    row = cur.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
    if row is None:
        raise HistoryError(f"运行记录数据库中没有编号为 {run_id} 的运行")
    return row


def _latest_before(conn: sqlite3.Connection, year, before: int | None = None) -> int | None:
    """Id of the latest run of `year` that scored (NULL matches NULL), optionally before run `before`."""
    sql = "SELECT MAX(id) FROM runs WHERE year IS ? AND kind = ?" + (" AND id < ?" if before is not None else "")
    row = conn.execute(sql, (year, SCORED) if before is None else (year, SCORED, int(before))).fetchone()
    return None if row[0] is None else int(row[0])


def previous_run(db_path: str | Path, run_id: int) -> int | None:
    """The run `changes` compares `run_id` with: the latest earlier run of the same year."""
    with connect(db_path, create=False) as conn:
        return _latest_before(conn, _run_row(conn, run_id)["year"], run_id)


def latest_scored(db_path: str | Path, year: int) -> dict | None:
    """The latest run of `year` that scored, as a dict of its `runs` row; None when there is none."""
    with connect(db_path, create=False) as conn:
        run_id = _latest_before(conn, int(year))
        return None if run_id is None else dict(_run_row(conn, run_id))


def _dept_frame(conn: sqlite3.Connection, run_id: int) -> pd.DataFrame:
    # `total` is the score the department was ranked by: the final one where re-review (抽评) gave one.
    df = pd.read_sql_query(
        "SELECT dept_code, dept_name, dept_category, file, sha256, COALESCE(final_total, total) AS total, review_total AS review,"
        " grade, rank FROM dept_scores WHERE run_id = ?", conn, params=(int(run_id),))
    for c in ("total", "review"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64").round(2)
    df["rank"] = pd.to_numeric(df["rank"], errors="coerce").astype("Int64")
    for c in ("dept_code", "dept_name", "dept_category", "file", "sha256", "grade"):
        df[c] = df[c].fillna("").astype(str)
    # A department without a code can only be followed by its file name.
    df["key"] = df["dept_code"].where(df["dept_code"].ne(""), "\x00" + df["file"])
    return df


def _differs(old: pd.Series, new: pd.Series) -> pd.Series:
    """Scores that differ beyond float noise, a missing score against a present one included."""
    return old.isna().ne(new.isna()) | (old - new).abs().gt(_SCORE_TOLERANCE)


def _text_columns(df: pd.DataFrame) -> list[str]:
    """Text columns (object or pandas' str dtype), whose gaps an outer merge fills with NaN."""
    return [c for c in df.columns if pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c])]


def _fmt_scores(s: pd.Series) -> pd.Series:
    return s.map(lambda v: "—" if pd.isna(v) else f"{v:.2f}").astype(object)


def last_unit_count(db_path: str | Path, year: int | None) -> int | None:
    """How many units the latest scored run of `year` saw: its departments, and its files that
    could not be read (each someone's submission); None when there is no such run."""
    if not Path(db_path).exists():
        return None
    with connect(db_path, create=False) as conn:
        run_id = _latest_before(conn, year)
        if run_id is None:
            return None
        depts = conn.execute("SELECT COUNT(*) FROM dept_scores WHERE run_id = ?", (run_id,)).fetchone()[0]
        refused = conn.execute("SELECT COUNT(*) FROM run_files WHERE run_id = ? AND status = ?", (run_id, REJECTED)).fetchone()[0]
        return int(depts) + int(refused)


def status_changes(db_path: str | Path, run_id: int) -> pd.DataFrame:
    """Roster units whose status (未提交, 已采用 …) differs from the latest earlier scored run
    of the year that had a roster (`STATUS_CHANGES_COLUMNS`, by code); empty without one."""
    with connect(db_path, create=False) as conn:
        run = _run_row(conn, run_id)
        row = conn.execute("SELECT MAX(r.id) FROM runs r WHERE r.year IS ? AND r.kind = ? AND r.id < ?"
                           " AND EXISTS (SELECT 1 FROM roster_status s WHERE s.run_id = r.id)",
                           (run["year"], SCORED, int(run_id))).fetchone()
        if row[0] is None:
            return _empty(STATUS_CHANGES_COLUMNS, ())
        old, new = (pd.read_sql_query("SELECT dept_code, dept_name, status FROM roster_status WHERE run_id = ?", conn, params=(i,))
                    for i in (int(row[0]), int(run_id)))
    m = old.merge(new, on="dept_code", how="outer", suffixes=("_old", "_new")).fillna("")
    m = m[m["status_old"].ne(m["status_new"])].sort_values("dept_code", kind="stable")
    return pd.DataFrame({"单位编码": m["dept_code"], "单位名称": m["dept_name_new"].where(m["dept_name_new"].ne(""), m["dept_name_old"]),
                         "原状态": m["status_old"].replace("", "不在名单中"), "新状态": m["status_new"].replace("", "不在名单中")},
                        columns=STATUS_CHANGES_COLUMNS).reset_index(drop=True)


def changes(db_path: str | Path, run_id: int) -> pd.DataFrame:
    """Departments new, withdrawn or changed (score or file) since the previous run of the same year.

    Columns `CHANGES_COLUMNS`; rows ordered 变化, 新增, 撤回, then by 单位编码. Unchanged
    departments are not listed; no previous run gives an empty frame.
    """
    with connect(db_path, create=False) as conn:
        run = _run_row(conn, run_id)
        prev_id = _latest_before(conn, run["year"], run_id)
        if prev_id is None:
            return _empty(CHANGES_COLUMNS, ("原得分", "新得分", "差异"))
        prev = _run_row(conn, prev_id)
        old, new = _dept_frame(conn, prev_id), _dept_frame(conn, run_id)

    m = old.merge(new, on="key", how="outer", suffixes=("_old", "_new"), indicator=True)
    m = m.fillna({c: "" for c in _text_columns(m)})
    added, gone = m["_merge"].eq("right_only"), m["_merge"].eq("left_only")
    both = m["_merge"].eq("both")
    score_changed = both & _differs(m["total_old"], m["total_new"])
    file_changed = both & m["sha256_old"].ne(m["sha256_new"])
    # A department re-reviewed (抽评) in one run and not the other, or differently.
    review_changed = both & _differs(m["review_old"], m["review_new"])
    kind = pd.Series(np.select([added, gone, score_changed | file_changed | review_changed], [NEW, WITHDRAWN, CHANGED], ""), index=m.index)
    keep = kind.ne("")
    m, kind = m[keep], kind[keep]
    score_changed, file_changed, review_changed = score_changed[keep], file_changed[keep], review_changed[keep]
    o, n = m["total_old"], m["total_new"]

    so, sn = _fmt_scores(o), _fmt_scores(n)
    renamed = m["file_old"].ne(m["file_new"])
    file_part = pd.Series(np.where(
        renamed,
        "文件已更新（" + m["file_old"] + " → " + m["file_new"] + "）",
        "文件已更新（" + m["file_new"] + "，SHA-256 " + m["sha256_old"].str[:12] + "… → " + m["sha256_new"].str[:12] + "…）",
    ), index=m.index)
    file_part = file_part.where(file_changed, "文件未变化")
    score_part = ("得分 " + so + " → " + sn).where(score_changed, "得分未变（" + sn + "）")
    why, because = "", ""
    if prev["rules_digest"] != run["rules_digest"]:
        why, because = f"；评分规则已变化（摘要 {prev['rules_digest'] or '—'} → {run['rules_digest'] or '—'}）", "评分规则变化"
    elif prev["version"] != run["version"]:
        why, because = f"；evalbatch 版本 {prev['version'] or '—'} → {run['version'] or '—'}", "程序版本变化"
    otherwise = score_changed & ~file_changed & ~review_changed
    review_part = ("；抽评得分 " + _fmt_scores(m["review_old"]) + " → " + _fmt_scores(m["review_new"])).where(review_changed, "")
    explain = file_part + "；" + score_part + review_part + pd.Series(np.where(otherwise, why, ""), index=m.index)
    explain = explain.where(kind.ne(NEW), "新增单位（文件 " + m["file_new"] + "，得分 " + sn + "）")
    explain = explain.where(kind.ne(WITHDRAWN),
                            "上次运行有该单位（文件 " + m["file_old"] + "，得分 " + so + "），本次运行没有该单位的可用文件")

    # What a change came from: a resubmission, a re-review (抽评), or the rules or program.
    cause = pd.Series(np.where(file_changed, "重新提交、", ""), index=m.index, dtype=object) + np.where(review_changed, "抽评、", "")
    cause = (cause + np.where(otherwise & bool(because), because, "")).str.rstrip("、")
    cause = cause.where(kind.eq(CHANGED), kind.map({NEW: "新增单位", WITHDRAWN: "撤回"}))
    out = pd.DataFrame({
        "变动": kind,
        "变动原因": cause,
        "单位编码": m["dept_code_new"].where(~gone, m["dept_code_old"]),
        "单位名称": m["dept_name_new"].where(~gone, m["dept_name_old"]),
        "原得分": o,
        "新得分": n,
        "差异": (n - o).round(2),
        "原文件": m["file_old"],
        "新文件": m["file_new"],
        "文件是否变化": pd.Series(np.where(file_changed, "是", "否"), index=m.index).where(kind.eq(CHANGED), ""),
        "说明": explain,
    })
    out = out.assign(_k=out["变动"].map(_KIND_ORDER)).sort_values(["_k", "单位编码", "新文件", "原文件"], kind="stable")
    return out.drop(columns="_k").reset_index(drop=True)[CHANGES_COLUMNS]


def _project_frame(conn: sqlite3.Connection, run_id: int) -> pd.DataFrame:
    """A run's projects with their unit's name: 复核得分 (`total`), 抽评得分 (`review`), 最终得分 (`final`)."""
    df = pd.read_sql_query(
        "SELECT p.dept_code, p.project_code, p.project_name, d.dept_name, p.total, p.review_total AS review,"
        " COALESCE(p.final_total, p.total) AS final FROM project_scores p"
        " LEFT JOIN dept_scores d ON d.run_id = p.run_id AND d.file = p.file WHERE p.run_id = ?", conn, params=(int(run_id),))
    for c in ("total", "review", "final"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64").round(2)
    for c in ("dept_code", "project_code", "project_name", "dept_name"):
        df[c] = df[c].fillna("").astype(str)
    return df.drop_duplicates(["dept_code", "project_code"])


def project_review_changes(db_path: str | Path, run_id: int) -> pd.DataFrame:
    """Projects whose 抽评得分 differs from the previous run of the same year: reviewed for the
    first time, reviewed again, no longer reviewed, or gone (`PROJECT_CHANGES_COLUMNS`, by
    单位编码 and 项目编码). A unit's own score does not move with its projects' reviews: without
    this, 变动情况 said 没有单位发生变化 after a project went from 90.28 to 69.81. Empty
    without a previous run."""
    with connect(db_path, create=False) as conn:
        run = _run_row(conn, run_id)
        prev_id = _latest_before(conn, run["year"], run_id)
        if prev_id is None:
            return _empty(PROJECT_CHANGES_COLUMNS, ("复核得分", "原最终得分", "新最终得分", "差异"))
        old, new = _project_frame(conn, prev_id), _project_frame(conn, run_id)
    m = old.merge(new, on=["dept_code", "project_code"], how="outer", suffixes=("_old", "_new"), indicator=True)
    m = m[_differs(m["review_old"], m["review_new"])]
    m = m.fillna({c: "" for c in _text_columns(m)})
    ro, rn, total = _fmt_scores(m["review_old"]), _fmt_scores(m["review_new"]), m["total_new"].fillna(m["total_old"])
    said = pd.Series(np.select(
        [m["_merge"].eq("left_only"), m["review_old"].isna(), m["review_new"].isna()],
        ["本次运行没有该项目（原抽评得分 " + ro + "）",
         "首次抽评：复核得分 " + _fmt_scores(total) + " → 抽评得分 " + rn,
         "不再有抽评得分（原 " + ro + "），最终得分为复核得分 " + _fmt_scores(total)],
        "抽评得分 " + ro + " → " + rn), index=m.index)
    out = pd.DataFrame({
        "单位编码": m["dept_code"],
        "单位名称": m["dept_name_new"].where(m["dept_name_new"].ne(""), m["dept_name_old"]),
        "项目编码": m["project_code"],
        "项目名称": m["project_name_new"].where(m["project_name_new"].ne(""), m["project_name_old"]),
        "复核得分": total,
        "原最终得分": m["final_old"],
        "新最终得分": m["final_new"],
        "差异": (m["final_new"] - m["final_old"]).round(2),
        "说明": said,
    })
    return out.sort_values(["单位编码", "项目编码"], kind="stable").reset_index(drop=True)[PROJECT_CHANGES_COLUMNS]


def year_over_year(db_path: str | Path, run_id: int) -> pd.DataFrame:
    """Each unit's 最终得分, grade and rank against the latest scored run of the year before
    (`YOY_COLUMNS`), with the changes; the frame's `attrs` hold both years and run ids.

    Units found in only one of the two years are listed with the other year blank (本年新增,
    本年没有); units without a code cannot be matched and are left out. Rows: this year's
    ranking (unranked after the ranked, by code), then the units gone. Empty when the database
    holds no scored run of the year before.
    """
    with connect(db_path, create=False) as conn:
        run = _run_row(conn, run_id)
        last_id = None if run["year"] is None else _latest_before(conn, int(run["year"]) - 1)
        if last_id is None:
            return _empty(YOY_COLUMNS, (*YOY_SCORES, *YOY_RANKS))
        last, this = _dept_frame(conn, last_id), _dept_frame(conn, run_id)
    # One row per code and year (a unit's project-only file beside its own is not a second unit).
    last, this = (f[f["dept_code"].ne("")].sort_values(["rank", "file"], na_position="last").drop_duplicates("dept_code")
                  for f in (last, this))
    m = last.merge(this, on="dept_code", how="outer", suffixes=("_last", "_this"), indicator=True)
    m = m.fillna({c: "" for c in _text_columns(m)})
    out = pd.DataFrame({
        "单位编码": m["dept_code"],
        "单位名称": m["dept_name_this"].where(m["dept_name_this"].ne(""), m["dept_name_last"]),
        "单位类别": m["dept_category_this"].where(m["dept_category_this"].ne(""), m["dept_category_last"]),
        "上年最终得分": m["total_last"],
        "本年最终得分": m["total_this"],
        "得分变化": (m["total_this"] - m["total_last"]).round(2),
        "上年等级": m["grade_last"],
        "本年等级": m["grade_this"],
        "上年排名": m["rank_last"].astype("Int64"),
        "本年排名": m["rank_this"].astype("Int64"),
        "排名变化": (m["rank_last"] - m["rank_this"]).astype("Int64"),  # positive: moved up
        "同比情况": _yoy_kind(m),
    })
    gone = m["_merge"].eq("left_only")
    out = out.assign(_gone=gone, _unranked=out["本年排名"].isna()).sort_values(
        ["_gone", "_unranked", "本年排名", "单位编码"], kind="stable", na_position="last")
    out = out.drop(columns=["_gone", "_unranked"]).reset_index(drop=True)[YOY_COLUMNS]
    out.attrs.update(last_year=int(run["year"]) - 1, this_year=int(run["year"]), last_run=last_id, this_run=int(run_id))
    return out


def _yoy_kind(m: pd.DataFrame) -> pd.Series:
    """同比情况 of each merged row: 本年新增, 本年没有, 本年/上年未评级, else how 最终得分 moved."""
    change = m["total_this"] - m["total_last"]
    return pd.Series(np.select(
        [m["_merge"].eq("right_only"), m["_merge"].eq("left_only"), m["total_this"].isna(), m["total_last"].isna(),
         change.gt(_SCORE_TOLERANCE), change.lt(-_SCORE_TOLERANCE)],
        [NEW_UNIT, GONE_UNIT, UNRATED_THIS, UNRATED_LAST, UP, DOWN], SAME), index=m.index, dtype=object)


def list_runs(db_path: str | Path) -> pd.DataFrame:
    """Every recorded run attempt, oldest first (`RUNS_COLUMNS`); empty when there is no database yet."""
    if not Path(db_path).exists():
        return _empty(RUNS_COLUMNS, ())
    with connect(db_path, create=False) as conn:
        df = pd.read_sql_query(
            """SELECT r.id AS 运行编号, r.started AS 开始时间, r.finished AS 完成时间, r.year AS 年度,
                      (SELECT COUNT(*) FROM run_files f WHERE f.run_id = r.id) AS 文件数,
                      CASE WHEN r.kind = 'unchanged' THEN
                           -- nothing changed: the units of the scored run it kept
                           (SELECT COUNT(*) FROM dept_scores d WHERE d.run_id =
                              (SELECT MAX(s.id) FROM runs s WHERE s.kind = 'scored' AND s.year = r.year AND s.id < r.id))
                      -- scored, or killed after its scores were recorded (中断): its own units
                      WHEN r.kind = 'scored' OR r.kind IS NULL OR EXISTS (SELECT 1 FROM dept_scores d WHERE d.run_id = r.id)
                           THEN (SELECT COUNT(*) FROM dept_scores d WHERE d.run_id = r.id)
                      END AS 单位数,
                      r.exit_code AS 退出码, r.workbook AS 工作簿, r.kind AS 结果, r.note AS 说明,
                      r.host AS 主机, r.pid AS 进程
               FROM runs r ORDER BY r.id""", conn)
    df["结果"] = df["结果"].map(KIND_NAMES).fillna(df["结果"])
    for c in ("年度", "退出码", "单位数", "进程"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df[RUNS_COLUMNS]


def dept_history(db_path: str | Path, dept_code: str) -> pd.DataFrame:
    """One row per recorded run that scored department `dept_code` (`DEPT_HISTORY_COLUMNS`)."""
    if not Path(db_path).exists():
        return _empty(DEPT_HISTORY_COLUMNS, ("复核得分", "自评得分"))
    with connect(db_path, create=False) as conn:
        df = pd.read_sql_query(
            """SELECT r.id AS 运行编号, r.started AS 开始时间, d.year AS 年度, d.dept_name AS 单位名称,
                      d.total AS 复核得分, d.self_total AS 自评得分, d.grade AS 评价等级, d.rank AS 排名,
                      d.file AS 文件, d.sha256 AS "SHA-256"
               FROM dept_scores d JOIN runs r ON r.id = d.run_id
               WHERE d.dept_code = ? ORDER BY r.id, d.file""", conn, params=(str(dept_code),))
    for c in ("年度", "排名"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    for c in ("复核得分", "自评得分"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df[DEPT_HISTORY_COLUMNS]


def _empty(columns: Sequence[str], numeric: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in numeric else object) for c in columns})

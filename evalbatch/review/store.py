"""Draws and the review trail in the history database (evalbatch.sqlite).

The tables are history.py's (migration 3): a draw with its seed and parameters, its items
with the SHA-256 of the submission each came from, and every indicator row as drawn (its
identity and the values the review workbook shows); `record_run` adds the adjustments each
run applied. A draw is stored in one transaction with the writing of its workbooks: a draw
whose workbooks could not be written is not recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd

from ..write.history import HistoryError, connect, insert_frame, transaction

ITEM_FIELDS = ["item_no", "kind", "dept_code", "dept_name", "project_code", "project_name", "reasons", "reviewer", "workbook",
               "file", "source", "sha256", "budget", "spent", "exec_rate", "self_score", "total", "n_indicators"]
INDICATOR_FIELDS = ["item_no", "seq", "dept_code", "project_code", "l1", "l2", "l3", "nth", "weight", "target", "actual",
                    "self_score", "score", "explain"]
TRAIL_COLUMNS = ["运行编号", "运行时间", "抽取编号", "抽评编号", "项目编码", "三级指标", "复核人", "抽评表", "原得分", "新得分",
                 "方式", "抽评核实完成值", "抽评意见"]
_NUMBERS = ("budget", "spent", "exec_rate", "self_score", "total", "weight", "score")

T = TypeVar("T")


@dataclass
class Draws:
    """Draws with their items and indicator rows (`params` parsed from JSON)."""

    draws: pd.DataFrame
    items: pd.DataFrame
    indicators: pd.DataFrame

    @classmethod
    def empty(cls) -> Draws:
        return cls(pd.DataFrame(columns=["id", "token", "created", "year", "run_id", "seed", "params", "rules_digest"]),
                   pd.DataFrame(columns=["draw_id", *ITEM_FIELDS]), pd.DataFrame(columns=["draw_id", *INDICATOR_FIELDS]))

    def only(self, ids) -> Draws:
        ids = set(ids)
        return Draws(self.draws[self.draws["id"].isin(ids)], self.items[self.items["draw_id"].isin(ids)],
                     self.indicators[self.indicators["draw_id"].isin(ids)])


def run_files(db: Path, run_id: int) -> pd.DataFrame:
    """The files a run saw: name, sha256, size, status."""
    with connect(db, create=False) as conn:
        return pd.read_sql_query("SELECT name, sha256, size, status FROM run_files WHERE run_id = ? ORDER BY name", conn,
                                 params=(int(run_id),))


def save_draw(db: Path, meta: dict, items: pd.DataFrame, indicators: pd.DataFrame,
              then: Callable[[int, str], T]) -> tuple[int, str, T]:
    """Store a draw, then call `then(draw_id, token)` (writing its workbooks) before committing:
    when `then` raises, nothing of the draw is stored. The token ties a workbook to its draw
    even if an id is ever reused."""
    token = uuid.uuid4().hex[:12]
    created = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    with connect(db) as conn:
        try:
            with transaction(conn):
                cur = conn.execute(
                    "INSERT INTO review_draws (token, created, year, run_id, seed, params, rules_digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (token, created, int(meta["year"]), int(meta["run_id"]), int(meta["seed"]),
                     json.dumps(meta["params"], ensure_ascii=False, sort_keys=True), meta["rules_digest"]))
                draw_id = int(cur.lastrowid)
                insert_frame(conn, "review_items", items[ITEM_FIELDS], draw_id=draw_id)
                insert_frame(conn, "review_indicators", indicators[INDICATOR_FIELDS], draw_id=draw_id)
                done = then(draw_id, token)
        except sqlite3.Error as exc:
            raise HistoryError(f"写入运行记录数据库 {db} 失败（{exc}）；本次抽取未记录") from exc
    return draw_id, token, done


def draws_of_year(db: Path, year: int) -> Draws:
    """Every draw of `year`, oldest first; empty when there is no database yet."""
    if not Path(db).exists():
        return Draws.empty()
    with connect(db, create=False) as conn:
        draws = pd.read_sql_query("SELECT * FROM review_draws WHERE year = ? ORDER BY id", conn, params=(int(year),))
        ids = tuple(int(i) for i in draws["id"])
        marks = ", ".join("?" * len(ids)) or "NULL"
        items = pd.read_sql_query(f"SELECT * FROM review_items WHERE draw_id IN ({marks}) ORDER BY draw_id, item_no", conn, params=ids)
        indicators = pd.read_sql_query(f"SELECT * FROM review_indicators WHERE draw_id IN ({marks}) ORDER BY draw_id, item_no, seq",
                                       conn, params=ids)
    draws["params"] = draws["params"].map(json.loads)
    for df in (items, indicators):
        for c in df.columns:
            if c in _NUMBERS:
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
            elif c not in ("draw_id", "seq", "nth", "n_indicators"):
                df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    return Draws(draws, items, indicators)


def review_trail(db: Path, dept_code: str) -> pd.DataFrame:
    """Every review adjustment applied to department `dept_code`, run by run (TRAIL_COLUMNS)."""
    if not Path(db).exists():
        return pd.DataFrame(columns=TRAIL_COLUMNS)
    with connect(db, create=False) as conn:
        df = pd.read_sql_query(
            """SELECT a.run_id AS 运行编号, r.started AS 运行时间, a.draw_id AS 抽取编号, a.item_no AS 抽评编号,
                      a.project_code AS 项目编码, a.indicator AS 三级指标, a.reviewer AS 复核人, a.review_file AS 抽评表,
                      a.old_score AS 原得分, a.new_score AS 新得分, a.how AS 方式, a.verified AS 抽评核实完成值,
                      a.comment AS 抽评意见
               FROM review_adjustments a JOIN runs r ON r.id = a.run_id
               WHERE a.dept_code = ? ORDER BY a.run_id, a.draw_id, a.item_no, a.seq""", conn, params=(str(dept_code),))
    for c in ("原得分", "新得分"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df[TRAIL_COLUMNS]

"""The audit table of evalbatch serve: every sign-in, check and submission, one row each.

A SQLite file of its own (OUTPUT_DIR/web/audit.sqlite), not a table in the run history
(evalbatch.sqlite): the night writes that database under its run lock, and the server shares
nothing with a running night but the inbox, so neither ever waits on the other's writes.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from .codes import WEB_DIR

AUDIT_FILE = "audit.sqlite"
COLUMNS = ["id", "time", "unit", "address", "action", "sha256", "result", "detail"]
# The actions, as the bureau reads them.
SIGNIN, SIGNIN_FAILED, SIGNIN_LIMITED, CHECK, SUBMIT, REFUSED = "登录", "登录失败", "登录受限", "检查", "提交", "拒收"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    unit TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL
)"""


class Audit:
    """Appends rows; one connection per call, serialised in this process (SQLite's own lock
    covers another process)."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / WEB_DIR / AUDIT_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def add(self, *, unit: str, address: str, action: str, result: str, sha256: str = "", detail: str = "") -> None:
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("INSERT INTO audit (time, unit, address, action, sha256, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (now, unit, address, action, sha256, result, detail))
            finally:
                conn.close()

    def rows(self, unit: str | None = None, action: str | None = None) -> list[dict]:
        query, args = "SELECT * FROM audit WHERE 1=1", []
        if unit is not None:
            query, args = query + " AND unit = ?", [*args, unit]
        if action is not None:
            query, args = query + " AND action = ?", [*args, action]
        conn = self._connect()
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(query + " ORDER BY id", args)]
        finally:
            conn.close()

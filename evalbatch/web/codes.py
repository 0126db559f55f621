"""Access codes for evalbatch serve: one random code per unit and one for the bureau.

Only a salted scrypt hash of each code is kept (OUTPUT_DIR/web/access_codes.json, written
atomically); the codes themselves are shown once, in the workbook handed to the bureau.
Reissuing a unit's code changes its `issued` stamp, which signs out that unit's sessions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write

WEB_DIR = "web"
CODES_FILE = "access_codes.json"
BUREAU = "__bureau__"  # the bureau's entry; no 单位编码 can be this (codes are digits and letters)
# No 0/O, 1/I/L: the code is read off paper and typed by hand.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_CHARS = 12  # 31^12 ≈ 2^59; sign-in attempts are limited besides
# scrypt's cost: about 50 ms and 16 MB per check on an office PC; a stolen file stays costly to attack.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Entry:
    name: str
    salt: str
    hash: str
    issued: str


def codes_path(out_dir: Path) -> Path:
    return Path(out_dir) / WEB_DIR / CODES_FILE


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def typed(code: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str, salt: bytes) -> str:
    return hashlib.scrypt(typed(code).encode("ascii", "ignore"), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **SCRYPT).hex()


def load(out_dir: Path) -> dict[str, Entry]:
    """unit code (or BUREAU) → its entry; empty when no codes were issued."""
    try:
        data = json.loads(codes_path(out_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {code: Entry(**entry) for code, entry in data.get("units", {}).items()}


def _save(out_dir: Path, entries: dict[str, Entry]) -> None:
    data = {"version": 1, "units": {code: vars(e) for code, e in sorted(entries.items())}}
    text = json.dumps(data, ensure_ascii=False, indent=1)
    atomic_write(codes_path(out_dir), lambda p: p.write_text(text, encoding="utf-8"))


def issue(out_dir: Path, units: dict[str, str]) -> dict[str, str]:
    """New codes for `units` (unit code → name; BUREAU for the bureau); the others keep theirs.
    Returns unit code → the code in clear, the only time it is known."""
    entries = load(out_dir)
    now = dt.datetime.now().astimezone().isoformat(timespec="microseconds")
    issued = {}
    for unit, name in units.items():
        code = new_code()
        salt = secrets.token_bytes(16)
        entries[unit] = Entry(name=name, salt=salt.hex(), hash=_hash(code, salt), issued=now)
        issued[unit] = code
    _save(out_dir, entries)
    return issued


def verify(entries: dict[str, Entry], unit: str, code: str) -> Entry | None:
    """The unit's entry when `code` is its code. An unknown unit costs the same scrypt, so
    timing does not tell which units exist."""
    entry = entries.get(unit)
    salt = bytes.fromhex(entry.salt) if entry else b"\0" * 16
    digest = _hash(code, salt)
    return entry if entry is not None and hmac.compare_digest(digest, entry.hash) else None


CODES_HEADERS = ["单位编码", "单位名称", "联系人", "访问码"]


def write_codes_workbook(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """The workbook the bureau hands out: one row per unit (code, name, contact, access code),
    all text. The codes are in it in clear, so it is to be handed out and deleted."""

    from ..write.book import Workbook

    def write(tmp: Path) -> None:
        wb = Workbook(str(tmp))
        ws = wb.add_worksheet("访问码")
        head = wb.add_format({"bold": True, "bg_color": "#DDDDDD", "border": 1})
        text = wb.add_format({"num_format": "@", "border": 1})
        ws.write_row(0, 0, CODES_HEADERS, head)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                ws.write_string(r, c, str(value), text)
        ws.set_column(0, 0, 14)
        ws.set_column(1, 1, 30)
        ws.set_column(2, 2, 14)
        ws.set_column(3, 3, 18)
        ws.write_string(len(rows) + 2, 0, "访问码只在本表中出现一次，服务器只保存其摘要；分发后请妥善保管或删除本表。"
                                          "遗失的可用 evalbatch roster codes --unit 单位编码 重新发放。")
        wb.close()

    return atomic_write(path, write)

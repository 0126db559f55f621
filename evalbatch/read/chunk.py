"""Reading one chunk of files: what a sandboxed child process runs (read/sandbox.py).

Kept apart from load.py so that a child imports only what reading needs: load.py's cache
brings pyarrow, whose import alone reserves a gigabyte of address space, which would count
against the child's memory limit.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

from ..rules import Rules
from .assemble import Parsed, concat
from .parse import Located, locate, parse_chunk, wanted_sheet
from .reader import FileProblem, open_workbook, read_bytes, sha256_of, sha256_of_file
from .sandbox import heartbeat


def load_one(path: str, name: str, rules: Rules, problem: tuple[str, str] | None = None) -> tuple[str, Located, str | None]:
    """(sha256, what was found in the file, traceback or None). Never raises for a bad file.

    A `problem` found while listing (FileRecord.problem) is the finding; the file is not read."""
    sha = ""
    if problem is not None:
        return sha256_of_file(Path(path)), failed(name, *problem), None
    try:
        data = read_bytes(Path(path), rules)
        sha = sha256_of(data)
        return sha, locate(open_workbook(data, rules, wanted_sheet, name=name), name, rules), None
    except FileProblem as problem:
        sha = sha or sha256_of_file(Path(path))
        return sha, failed(name, problem.rule_id, problem.message), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # anything unexpected (a Rust panic too): one 错误 for the file, the traceback to the log
        return sha, failed(name, "file.internal", INTERNAL), traceback.format_exc()


INTERNAL = "处理此文件时发生内部错误，已跳过；详细信息见运行日志，请联系系统管理员"


def failed(name: str, rule_id: str, message: str) -> Located:
    loc = Located(file=name)
    loc.add(rule_id, message)
    return loc


Item = tuple[str, str, tuple[str, str] | None]  # path, name, problem: what a worker needs of a FileRecord


def load_chunk(items: list[Item], rules: Rules, tick: Callable[[], None] | None = None) -> tuple[Parsed, list[tuple[str, str]]]:
    """Read a chunk of files (in a worker) and parse them together before sending them back.

    `tick` is called after each file, when the chunk is read in this process."""
    done = []
    for path, name, problem in items:
        heartbeat(name)  # in a sandbox worker: this file's time starts now
        done.append(load_one(path, name, rules, problem))
        if tick:
            tick()
    tracebacks = [(item[1], tb) for item, (_, _, tb) in zip(items, done) if tb]
    located, shas = [loc for _, loc, _ in done], [sha for sha, _, _ in done]
    try:
        return parse_chunk(located, shas, rules), tracebacks
    except Exception:
        # One file the vectorised parse cannot take must not cost the others: parse alone.
        parts = []
        for loc, sha in zip(located, shas):
            try:
                parts.append(parse_chunk([loc], [sha], rules))
            except Exception:
                tracebacks.append((loc.file, traceback.format_exc()))
                parts.append(parse_chunk([failed(loc.file, "file.internal", INTERNAL)], [sha], rules))
        return concat(parts), tracebacks

"""Load: read every file of a batch, in chunks, in worker processes when the batch is large;
one `Parsed` in the order of the records. A bad file is a finding, never an exception."""


from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from ..rules import Rules
from .assemble import Parsed, concat
from .cache import ParseCache
from .discover import FileRecord
from .parse import Located, locate, parse_chunk, wanted_sheet
from .reader import FileProblem, open_workbook, read_bytes, sha256_of, sha256_of_file

log = logging.getLogger("evalbatch")


def load_one(path: str, name: str, rules: Rules, problem: tuple[str, str] | None = None) -> tuple[str, Located, str | None]:
    """(sha256, what was found in the file, traceback or None). Never raises for a bad file.

    A `problem` found while listing (FileRecord.problem) is the finding; the file is not read."""
    sha = ""
    if problem is not None:
        return sha256_of_file(Path(path)), _failed(name, *problem), None
    try:
        data = read_bytes(Path(path), rules)
        sha = sha256_of(data)
        return sha, locate(open_workbook(data, rules, wanted_sheet, name=name), name, rules), None
    except FileProblem as problem:
        sha = sha or sha256_of_file(Path(path))
        return sha, _failed(name, problem.rule_id, problem.message), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # anything unexpected (a Rust panic too): one 错误 for the file, the traceback to the log
        return sha, _failed(name, "file.internal", INTERNAL), traceback.format_exc()


INTERNAL = "处理此文件时发生内部错误，已跳过；详细信息见运行日志，请联系系统管理员"


def _failed(name: str, rule_id: str, message: str) -> Located:
    loc = Located(file=name)
    loc.add(rule_id, message)
    return loc


CHUNK_MIN, CHUNK_MAX = 100, 500


Item = tuple[str, str, tuple[str, str] | None]  # path, name, problem: what a worker needs of a FileRecord


def _load_chunk(items: list[Item], rules: Rules, tick: Callable[[], None] | None = None) -> tuple[Parsed, list[tuple[str, str]]]:
    """Read a chunk of files (in a worker) and parse them together before sending them back.

    `tick` is called after each file, when the chunk is read in this process."""
    done = []
    for path, name, problem in items:
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
                parts.append(parse_chunk([_failed(loc.file, "file.internal", INTERNAL)], [sha], rules))
        return concat(parts), tracebacks


def load_all(records: list[FileRecord], rules: Rules, jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Read every file, in `jobs` processes, in batches; one `Parsed` in the order of `records`."""
    items = [(r.path, r.name, r.problem) for r in records]
    total = len(items)
    # Parsing a chunk costs ~0.3 s whatever its size plus a few ms a file, so chunks are
    # large: two per worker, 100 to 500 files each.
    size = min(CHUNK_MAX, max(CHUNK_MIN, math.ceil(total / (max(jobs, 1) * 2))))
    chunks = [items[i : i + size] for i in range(0, total, size)]
    if jobs <= 1 or len(chunks) < 2:
        done = iter(range(1, total + 1))
        tick = (lambda: progress(next(done), total)) if progress else None
        parts = _gather((_load_chunk(chunk, rules, tick) for chunk in chunks), chunks, total, None)
    else:
        with _pool(jobs) as pool:
            parts = _gather(pool.map(_load_chunk, chunks, [rules] * len(chunks)), chunks, total, progress)
    parsed = concat(parts)
    sha = parsed.files.set_index("file")["sha256"]
    for rec in records:
        rec.sha256 = rec.sha256 or str(sha.get(rec.name, ""))
    return parsed


# Windows waits on at most 63 handles at once: ProcessPoolExecutor refuses more than 61 workers there.
WINDOWS_MAX_WORKERS = 61


def worker_count(jobs: int) -> int:
    """`jobs` worker processes (0: one per core), within what the platform allows."""
    n = jobs if jobs > 0 else os.cpu_count() or 1
    return min(n, WINDOWS_MAX_WORKERS) if sys.platform == "win32" else n


def _pool(jobs: int) -> ProcessPoolExecutor:
    # Spawned, as on Windows, on every platform: a forked worker would inherit the run lock's
    # open file and keep the lock held after the run itself was killed.
    return ProcessPoolExecutor(max_workers=worker_count(jobs), mp_context=multiprocessing.get_context("spawn"))


def _gather(results, chunks, total: int, progress) -> list[Parsed]:
    parts, done = [], 0
    for chunk, (parsed, tracebacks) in zip(chunks, results):
        for name, tb in tracebacks:
            log.error("处理文件 %s 时发生内部错误：\n%s", name, tb)
        parts.append(parsed)
        done += len(chunk)
        if progress:
            progress(done, total)
    return parts


def hash_files(records: list[FileRecord]) -> None:
    for rec in records:
        rec.sha256 = rec.sha256 or sha256_of_file(Path(rec.path))


def load_cached(records, rules: Rules, jobs: int, progress, cache: ParseCache) -> Parsed:
    hash_files(records)
    known = cache.known()
    # A file refused as found is refused again, whatever its content parsed to elsewhere.
    hits = [r for r in records if r.problem is None and r.sha256 and r.sha256 in known]
    misses = [r for r in records if not (r.problem is None and r.sha256 and r.sha256 in known)]
    log.info("缓存命中 %d 个文件，需要读取 %d 个", len(hits), len(misses))
    if progress and hits:
        progress(len(hits), len(records))
    step = (lambda done, total: progress(len(hits) + done, len(records))) if progress else None
    fresh = load_all(misses, rules, jobs, step)
    cached = cache.rows_for(pd.DataFrame({"name": [r.name for r in hits], "sha256": [r.sha256 for r in hits]}))
    # What the cache keeps next: every current file's rows once per content, keyed by SHA-256.
    by_name = concat([cached, fresh])
    del cached, fresh
    first = by_name.files.drop_duplicates("sha256")
    cache.stage(by_name.rename(pd.DataFrame({"file": first["file"], "new": first["sha256"]})))
    return by_name


def explain_file(path: Path, rules: Rules) -> list[str]:
    """`check --explain`: which cell of one file became which field (layouts/explain.py)."""
    from ..layouts.explain import explain

    _, loc, _ = load_one(str(path), Path(path).name, rules)
    return explain(loc)

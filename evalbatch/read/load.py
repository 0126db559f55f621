"""Load: read every file of a batch, in chunks, in sandboxed worker processes (read/sandbox.py);
one `Parsed` in the order of the records. A bad file is a finding, never an exception, and a
file that kills or hangs its worker is one finding too: its chunk is read again one file per
worker to find it."""


from __future__ import annotations

import functools
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..rules import Rules
from . import sandbox
from .assemble import Parsed, concat
from .cache import ParseCache
from .chunk import INTERNAL, Item, failed, load_chunk, load_one, open_file
from .discover import FileRecord
from .parse import parse_chunk
from .reader import RawWorkbook, sha256_of_file

__all__ = ["INTERNAL", "helpers", "load_all", "load_cached", "load_one", "open_sandboxed", "sandboxed", "worker_count"]

log = logging.getLogger("evalbatch")


CHUNK_MIN, CHUNK_MAX = 100, 500

# Tests that patch the reader in this process read in it (no OS limits): nothing else does.
IN_PROCESS = False


def _here() -> bool:
    """Whether to read in this process: a test asked for it, or this process is a sandbox
    worker already (the web's check), which is the files' sandbox and starts no pool of its own."""
    return IN_PROCESS or sandbox.in_worker()


def load_all(records: list[FileRecord], rules: Rules, jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Read every file, in `jobs` sandboxed processes, in batches; one `Parsed` in the order of `records`."""
    items = [(r.path, r.name, r.problem) for r in records]
    total = len(items)
    # Parsing a chunk costs ~0.3 s whatever its size plus a few ms a file, so chunks are
    # large: two per worker, 100 to 500 files each.
    size = min(CHUNK_MAX, max(CHUNK_MIN, math.ceil(total / (max(jobs, 1) * 2))))
    chunks = [items[i : i + size] for i in range(0, total, size)]
    done = iter(range(1, total + 1))
    tick = (lambda: progress(min(next(done), total), total)) if progress else None
    if _here():
        parts = _gather(load_chunk(chunk, rules, tick) for chunk in chunks)
    else:
        parts = _sandboxed(chunks, rules, jobs, tick)
    parsed = concat(parts)
    sha = parsed.files.set_index("file")["sha256"]
    for rec in records:
        rec.sha256 = rec.sha256 or str(sha.get(rec.name, ""))
    return parsed


def _sandboxed(chunks: list[list[Item]], rules: Rules, jobs: int, tick) -> list[Parsed]:
    """Each chunk read in a sandboxed worker; a chunk whose worker died, or ran out of memory
    or time, read again one file per worker, and the file that fails alone is its finding."""
    if not chunks:
        return []
    workers = min(worker_count(jobs), len(chunks))
    box = sandbox.shared(workers, sandbox.Limits.from_rules(rules))
    results = box.map(load_chunk, [(chunk, rules) for chunk in chunks], on_tick=tick, workers=workers)
    parts = []
    for chunk, result in zip(chunks, results):
        if not isinstance(result, BaseException):
            parts.append(result)
            continue
        log.warning("读取进程异常（%s），逐个文件重新读取这一批 %d 个文件", result, len(chunk))
        alone = box.map(load_chunk, [([item], rules) for item in chunk], workers=workers) if len(chunk) > 1 else [result]
        parts.extend(_culprit(item, one, rules) if isinstance(one, BaseException) else one for item, one in zip(chunk, alone))
    return _gather(parts)


def open_sandboxed(path: Path, rules: Rules, sheets: tuple[str, ...]) -> tuple[str, RawWorkbook]:
    """(sha256, the named sheets) of one workbook read in a sandboxed worker: a `FileProblem`
    for a bad one, a `sandbox.SandboxFailure` for one that killed, exhausted or hung its worker."""
    return sandboxed(rules, open_file, str(path), rules, tuple(sheets))


def sandboxed(rules: Rules, fn, *args):
    """`fn(*args)` (top level, picklable) in a worker of the shared sandbox under the rules'
    limits: for any untrusted file read outside the batch's own pool (review workbooks, the
    roster). Raises what `fn` raised, or a `sandbox.SandboxFailure`."""
    if _here():
        return fn(*args)
    return sandbox.shared(1, sandbox.Limits.from_rules(rules)).run(fn, *args)


def _culprit(item: Item, failure: BaseException, rules: Rules) -> tuple[Parsed, list[tuple[str, str]]]:
    """The one 错误 of a file whose reading failed in its own worker."""
    path, name, _ = item
    if isinstance(failure, sandbox.SandboxFailure):
        log.error("读取文件 %s 时读取进程失败：%s", name, failure.message)
        return parse_chunk([failed(name, failure.rule_id, failure.message)], [sha256_of_file(Path(path))], rules), []
    tb = "".join(traceback.format_exception(failure))
    return parse_chunk([failed(name, "file.internal", INTERNAL)], [sha256_of_file(Path(path))], rules), [(name, tb)]


def helpers(rules: Rules, jobs: int) -> Callable[..., list] | None:
    """A map over the batch's own sandboxed workers, for work the next stages can hand out
    (the workbook's long sheets, write/parts.py); None with fewer than two, or when this
    process is a worker itself. Workers start only when a call needs them."""
    workers = worker_count(jobs)
    if workers < 2 or _here():
        return None
    return functools.partial(sandbox.shared(workers, sandbox.Limits.from_rules(rules)).map, workers=workers)


# Windows waits on at most 63 handles at once (the sandbox waits on one pipe per worker).
WINDOWS_MAX_WORKERS = 61


def worker_count(jobs: int) -> int:
    """`jobs` worker processes (0: one per core), within what the platform allows."""
    n = jobs if jobs > 0 else os.cpu_count() or 1
    return min(n, WINDOWS_MAX_WORKERS) if sys.platform == "win32" else n


def _gather(results) -> list[Parsed]:
    parts = []
    for parsed, tracebacks in results:
        for name, tb in tracebacks:
            log.error("处理文件 %s 时发生内部错误：\n%s", name, tb)
        parts.append(parsed)
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

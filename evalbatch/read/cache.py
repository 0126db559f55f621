"""The nightly cache: files already parsed are not parsed again.

Parsed rows are stored by each file's SHA-256, in Parquet (a plain data format: a file
planted in the output folder can at worst make a run slower, never run code), under a key
made of the evalbatch version, the parser version and the rules digest, so a new version or
a new rules file starts cold. A cache that cannot be read, or whose frames lack columns this
version needs, is ignored with a log line and replaced at the end of the run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd

from .. import PARSER_VERSION, __version__
from ..files import read_own_text, remove_quietly, retrying
from ..rules import Rules
from .assemble import TABLE_SHEETS, Parsed, concat, empty

log = logging.getLogger("evalbatch")

CACHE_DIR = "cache"
_MANIFEST = "manifest.json"
_STAGING = f".{CACHE_DIR}-"  # this run's cache being written, or the last one being replaced


def cache_key(rules: Rules) -> str:
    return f"{__version__}|{PARSER_VERSION}|{rules.digest}"


def _frames(parsed: Parsed) -> dict[str, pd.DataFrame]:
    return {"files": parsed.files, "info": parsed.info, "findings": parsed.findings,
            **{f"table_{i}": parsed.tables[name] for i, name in enumerate(TABLE_SHEETS)}}


class ParseCache:
    def __init__(self, out_dir: str | Path, rules: Rules):
        self.dir = Path(out_dir) / CACHE_DIR
        self.key = cache_key(rules)
        self.manifest: dict = {}
        self.parsed: Parsed | None = None  # keyed by sha256 in the `file` column
        self._staged: Path | None = None  # this run's rows, written and waiting for commit

    def load(self) -> ParseCache:
        try:
            # Never through a link, never a FIFO or a device (files.read_own_text).
            text = read_own_text(self.dir / _MANIFEST)
            if text is None:
                return self  # the first run here
            manifest = json.loads(text)
            if manifest.get("key") != self.key:
                log.info("缓存来自其他版本或规则，本次全部重新读取")
                return self
            frames = {name: pd.read_parquet(self.dir / f"{name}.parquet") for name in manifest["frames"]}
            _check_columns(frames)
            self.parsed = Parsed(frames["files"], frames["info"],
                                 {name: frames[f"table_{i}"] for i, name in enumerate(TABLE_SHEETS)}, frames["findings"])
            self.manifest = manifest
        except Exception as exc:  # a damaged cache only costs time
            log.warning("缓存无法读取（%s），本次全部重新读取", exc)
        return self

    def known(self) -> set[str]:
        return set(self.parsed.files["file"]) if self.parsed is not None else set()

    def rows_for(self, wanted: pd.DataFrame) -> Parsed:
        """Cached rows for files (columns name, sha256) whose content is known, re-keyed by name."""
        if self.parsed is None or wanted.empty:
            return concat([])
        mapping = pd.DataFrame({"file": wanted["sha256"], "new": wanted["name"]})
        return self.parsed.rename(mapping)

    def unchanged(self, names_to_sha: dict[str, str], year: int) -> bool:
        """Whether the previous run saw exactly these files, for this year, under these rules.
        (Whether its outputs are still in place is the runner's question.)"""
        m = self.manifest
        return bool(m) and m.get("year") == year and m.get("files") == names_to_sha

    def previous_sha(self, name: str) -> str | None:
        """The content the previous run used for file `name`, when its rows are still here."""
        files = self.manifest.get("files")
        sha = files.get(name) if isinstance(files, dict) else None
        return sha if isinstance(sha, str) and sha in self.known() else None

    def stage(self, by_sha: Parsed) -> None:
        """Write what the next run should find (rows keyed by SHA-256) beside the cache now,
        so the frames need not stay in memory; `commit` puts it in place."""
        self.parsed = None  # what was loaded has been used; let it go
        self._staged = self.dir.with_name(f"{_STAGING}{uuid.uuid4().hex[:8]}")
        try:
            self._staged.mkdir(parents=True)
            for name, df in _frames(by_sha).items():
                df.to_parquet(self._staged / f"{name}.parquet", index=False)
        except Exception as exc:  # a cache is a luxury: the run goes on without one
            log.warning("缓存无法保存（%s），下次运行将全部重新读取", exc)
            self.discard()

    def commit(self, manifest: dict) -> None:
        """Replace the cache with the staged one; the manifest is written last."""
        if self._staged is None:
            return
        try:
            names = [p.stem for p in self._staged.glob("*.parquet")]
            (self._staged / _MANIFEST).write_text(json.dumps({**manifest, "key": self.key, "frames": names}, ensure_ascii=False),
                                                  encoding="utf-8")
            old = self.dir.with_name(f"{_STAGING}old-{uuid.uuid4().hex[:8]}")
            staged = self._staged
            if self.dir.exists():
                retrying(lambda: os.replace(self.dir, old))
            retrying(lambda: os.replace(staged, self.dir))
            self._staged = None
            shutil.rmtree(old, ignore_errors=True)
        except Exception as exc:
            log.warning("缓存无法保存（%s），下次运行将全部重新读取", exc)
            self.discard()

    def discard(self) -> None:
        if self._staged is not None:
            shutil.rmtree(self._staged, ignore_errors=True)
            self._staged = None


def sweep_staged(out_dir: str | Path) -> int:
    """Remove half-written or half-replaced caches that killed runs left; how many went.
    Only while holding the run lock: another run's staging folder is live."""
    try:
        leftovers = [p for p in Path(out_dir).iterdir() if p.name.startswith(_STAGING) and p.is_dir()]
    except OSError:
        return 0
    return sum(remove_quietly(p) for p in leftovers)


def _check_columns(frames: dict[str, pd.DataFrame]) -> None:
    """A cache written by another build with the same key must not crash the run later."""
    for name, needed in _REQUIRED.items():
        if name not in frames:
            raise ValueError(f"缺少 {name}")
        missing = sorted(set(needed) - set(frames[name].columns))
        if missing:
            raise ValueError(f"{name} 缺少列 {'、'.join(missing)}")


_REQUIRED = {name: list(df.columns) for name, df in _frames(empty()).items()}

"""Benchmark: evalbatch against the floors of Excel reading and writing, and against pandas.

Usage (from the project root, or `make bench`):

    .venv/bin/python benchmarks/bench.py [--n 1000] [--jobs 1,all] [--keep DIR] [--json FILE]
    .venv/bin/python benchmarks/bench.py --roster-case [--n 1000] [--keep DIR]

It generates N submissions in evalbatch's own template, "format 1" (seed 1, year 2021; the
reference case plus N-1 synthetic departments), and a folder of the official forms of N
departments (the 池州 example plus N-1 synthetic departments, each a 部门整体支出 form and 1-4
项目支出 forms in .xlsx, SpreadsheetML .xls or HTML .xls, so several files a department), then
times, each in a fresh process so that peak memory is per stage:

  a        read floor: python-calamine reading every cell of every sheet of every file
  w        write floor: raw xlsxwriter write_row of the four tables evalbatch writes
  b        by hand: pd.read_excel(sheet_name=None, openpyxl) of every file, concatenated
           per sheet, plus DataFrame.to_excel of the four tables (ExcelWriter, xlsxwriter)
  c jobs=J `python -m evalbatch run` end to end, one per --jobs entry, each into a fresh
           output folder (with --no-cache when the CLI offers it)
  oa       read floor on the official forms: as a, over the .xlsx files only (SpreadsheetML
           and HTML .xls are not calamine-readable; the report says how many are left out)
  o jobs=J as c, on the official forms; c and o take turns (c, o, c, o, ...) for each J
  cold/rerun  only when the CLI offers --no-cache: a cold cached run with all cores into a
           fresh output folder, then a rerun on the same folder with nothing changed

--roster-case times only this: `evalbatch run` (all cores, --no-cache) of the N format-1
samples without a roster and with a roster of 2N units (the N submitting units and N that
never submit), taking turns; the roster must add under 5 % (target "roster / plain").

Times are medians of 3 runs when N <= 2000, of one run above. a, w and b are timed inside
the child (imports and loading the pickled tables excluded); c, cold and rerun are the wall
time of the whole CLI process, interpreter start-up included, as a user sees it. Peak RSS is
ru_maxrss of the stage's process tree as collected by a small wrapper process: the largest
single process (main process or a worker), not the sum over workers. For c and o it also
prints ms per file and ms per department (departments as run.json counts them) and o / c.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SEED, YEAR, GEN_JOBS = 1, 2021, 2
MARKER = "bench-samples.json"
OFFICIAL_MARKER = "bench-official.json"
OFFICIAL_SUFFIXES = (".xlsx", ".xls")  # what write_official_samples writes
ROOT = Path(__file__).resolve().parent.parent
TARGETS = {  # ratio → (comparison, target)
    # Issue 21: the run, as the night runs it (all cores), within 1.3 × the floors.
    "c(all cores) / (a + w)": ("<=", 1.3),
    # The earlier target, on one worker.
    "c(jobs=1) / (a + w)": ("<=", 2.0),
    "b / c(all cores)": (">=", 3.0),
    "rerun / cold": ("<=", 0.15),
    "roster / plain": ("<=", 1.05),
}

# The wrapper: runs one stage as its child and reports wall time and the peak RSS of that
# child's whole process tree (RUSAGE_CHILDREN covers every waited-for descendant).
WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
scale = 1 if sys.platform == "darwin" else 1024
out = {"rc": p.returncode, "wall": wall, "maxrss": ru.ru_maxrss * scale, "stdout": p.stdout[-4000:], "stderr": p.stderr[-4000:]}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(out, f)
"""


# --- child stages (run as `bench.py --_stage NAME ...` in a fresh process) --------------------


def _child_result(**values) -> None:
    print("BENCH_RESULT " + json.dumps(values), flush=True)


def stage_read(list_file: str) -> None:
    from python_calamine import CalamineWorkbook

    paths = Path(list_file).read_text(encoding="utf-8").splitlines()
    t = time.perf_counter()
    cells = 0
    for p in paths:
        wb = CalamineWorkbook.from_path(p)
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python()
            cells += sum(len(r) for r in rows)
    _child_result(seconds=time.perf_counter() - t, cells=cells)


def _plain_rows(df) -> list[list]:
    """Rows of python values, missing as None (xlsxwriter refuses NaN by default)."""
    obj = df.astype(object)
    return obj.where(df.notna(), None).values.tolist()


def stage_write(tables_file: str, out_file: str) -> None:
    import xlsxwriter

    with open(tables_file, "rb") as f:
        tables = pickle.load(f)
    t = time.perf_counter()
    wb = xlsxwriter.Workbook(out_file, {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False})
    rows_written = 0
    for name, headers, df in tables:
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, headers)
        for r, values in enumerate(_plain_rows(df), start=1):
            if ws.write_row(r, 0, values) == -1:
                raise RuntimeError(f"write_row refused row {r} of {name}")
        rows_written += len(df)
    wb.close()
    _child_result(seconds=time.perf_counter() - t, rows=rows_written)


def stage_pandas(list_file: str, tables_file: str, out_file: str) -> None:
    import pandas as pd

    paths = Path(list_file).read_text(encoding="utf-8").splitlines()
    with open(tables_file, "rb") as f:
        tables = pickle.load(f)
    t = time.perf_counter()
    per_sheet: dict[str, list] = {}
    for p in paths:
        for name, df in pd.read_excel(p, sheet_name=None).items():
            per_sheet.setdefault(name, []).append(df)
    combined = {name: pd.concat(frames, ignore_index=True) for name, frames in per_sheet.items()}
    with pd.ExcelWriter(out_file, engine="xlsxwriter") as writer:
        for name, headers, df in tables:
            df.set_axis(headers, axis=1).to_excel(writer, sheet_name=name, index=False)
    _child_result(seconds=time.perf_counter() - t, rows_read=sum(len(df) for df in combined.values()))


STAGES = {"read": stage_read, "write": stage_write, "pandas": stage_pandas}


# --- parent ------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, flush=True)


def parse_jobs(text: str) -> list[int]:
    cores = os.cpu_count() or 1
    jobs = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        j = cores if part == "all" else int(part)
        if j < 1:
            raise argparse.ArgumentTypeError(f"--jobs: {part!r} is not a positive number or 'all'")
        if j not in jobs:
            jobs.append(j)
    if not jobs:
        raise argparse.ArgumentTypeError("--jobs: empty list")
    return jobs


def sample_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.xlsx") if not p.name.startswith(("~$", ".")))


def official_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in OFFICIAL_SUFFIXES
                  and not p.name.startswith(("~$", ".")))


def ensure_samples(work: Path, n: int) -> Path:
    """N format-1 submissions in work/samples (the reference case plus N-1 synthetic)."""
    from evalbatch.samples.format1 import write_samples

    return _ensure_folder(work / "samples", work / MARKER, {"n": n, "seed": SEED, "year": YEAR}, sample_files,
                          lambda part: write_samples(part, n - 1, seed=SEED, year=YEAR, jobs=GEN_JOBS),
                          f"{n} samples (seed {SEED}, year {YEAR}, {GEN_JOBS} processes)", expected=n)


def ensure_official(work: Path, n: int) -> Path:
    """The official forms of N departments in work/official: the 池州 example (one
    department's 项目支出 form) plus N-1 synthetic departments, as `evalbatch sample
    --layout official --count N-1` writes them."""
    from evalbatch.samples.official import write_official_samples

    return _ensure_folder(work / "official", work / OFFICIAL_MARKER, {"n": n, "seed": SEED, "year": YEAR, "layout": "official"},
                          official_files, lambda part: write_official_samples(part, n - 1, seed=SEED, year=YEAR),
                          f"the official forms of {n} departments (seed {SEED}, year {YEAR}, one process)")


def _ensure_folder(folder: Path, marker: Path, wanted: dict, files, generate, what: str, expected: int | None = None) -> Path:
    """`folder` as `generate` writes it, reused when a previous run left exactly these files
    (the marker records what was asked and how many files came of it)."""
    if folder.is_dir() and marker.is_file():
        try:
            known = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        found = len(files(folder))
        if {k: known.get(k) for k in wanted} == wanted and found == known.get("files", known.get("n")):
            log(f"Reusing {what} ({found} files) in {folder}")
            return folder
        log(f"{folder} does not match (found {found} files for {known or 'unknown'}, want {wanted}); regenerating")
    if folder.exists():
        ours = {p.resolve() for p in files(folder)}
        if not marker.is_file() and any(p.is_file() and p.resolve() not in ours for p in folder.rglob("*")):
            sys.exit(f"{folder} holds files this script did not write; choose another --keep folder")
        shutil.rmtree(folder)
    marker.unlink(missing_ok=True)
    part = folder.with_name(folder.name + ".partial")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    log(f"Generating {what} in {folder} ...")
    done = threading.Event()
    t0 = time.perf_counter()

    def progress() -> None:
        while not done.wait(5):
            log(f"  ... {len(files(part))} files, {time.perf_counter() - t0:.0f} s")

    watcher = threading.Thread(target=progress, daemon=True)
    watcher.start()
    try:
        paths = generate(part)
    finally:
        done.set()
        watcher.join()
    found = len(files(part))
    if found != len(paths) or (expected is not None and found != expected):
        sys.exit(f"the generator returned {len(paths)} paths and {found} files are there (expected {expected or len(paths)})")
    part.rename(folder)
    marker.write_text(json.dumps({**wanted, "files": found}), encoding="utf-8")
    log(f"Generated {found} files in {time.perf_counter() - t0:.1f} s")
    return folder


def file_kind(path: Path) -> str:
    """What a file really is, from its first bytes: xlsx, SpreadsheetML, HTML or other."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml") and b"urn:schemas-microsoft-com:office:spreadsheet" in head:
        return "SpreadsheetML"
    if text.startswith((b"<html", b"<!doctype html")):
        return "HTML"
    return "other"


def calamine_refuses(paths: list[Path]) -> int:
    """How many of `paths` python-calamine cannot open (untimed, to back the report's claim)."""
    from python_calamine import CalamineWorkbook

    refused = 0
    for p in paths:
        try:
            wb = CalamineWorkbook.from_path(str(p))
            for name in wb.sheet_names:
                wb.get_sheet_by_name(name).to_python()
        except Exception:
            refused += 1
    return refused


def prepare_tables(samples: Path, tables_file: Path) -> dict:
    """Run the evalbatch pipeline once here; pickle its four tables as report.py would write them."""
    import inspect

    from evalbatch import findings as F
    from evalbatch.judge.evaluate import evaluate
    from evalbatch.read.discover import discover
    from evalbatch.rules import load_rules
    from evalbatch.write import report

    log("Computing the result tables once with evalbatch (for the write stages) ...")
    t = time.perf_counter()
    found = discover(samples, 0)
    kwargs = {"year": YEAR, "jobs": os.cpu_count() or 1}
    if "use_cache" in inspect.signature(evaluate).parameters:
        kwargs["use_cache"] = False
    result = evaluate(found.files, load_rules(), **kwargs)
    specs = [("汇总排名", report.SUMMARY, result.depts), ("指标得分", report.INDICATORS, result.indicators),
             ("项目汇总", report.PROJECTS, result.projects), ("审核问题", report.FINDINGS, F.sort(result.findings))]
    tables = []
    for name, cols, df in specs:
        tables.append((name, [c.header for c in cols], df.reindex(columns=[c.source for c in cols]).reset_index(drop=True)))
    with open(tables_file, "wb") as f:
        pickle.dump(tables, f, protocol=pickle.HIGHEST_PROTOCOL)
    sizes = {name: len(df) for name, _, df in tables}
    cells = sum(len(df) * len(df.columns) for _, _, df in tables)
    log(f"  tables: {', '.join(f'{k} {v} rows' for k, v in sizes.items())} ({cells:,} cells), {time.perf_counter() - t:.1f} s")
    return {"rows": sizes, "cells": cells}


def measure(cmd: list[str], scratch: Path) -> dict:
    """Run `cmd` under the wrapper: its wall time, rc, output and the tree's peak RSS (bytes)."""
    fd, report_path = tempfile.mkstemp(suffix=".json", dir=scratch)
    os.close(fd)
    try:
        subprocess.run([sys.executable, "-c", WRAPPER, report_path, *cmd], check=True)
        out = json.loads(Path(report_path).read_text(encoding="utf-8"))
    finally:
        Path(report_path).unlink(missing_ok=True)
    for line in out["stdout"].splitlines():
        if line.startswith("BENCH_RESULT "):
            out["result"] = json.loads(line[len("BENCH_RESULT "):])
    return out


def run_child_stage(stage: str, args: list[str], scratch: Path) -> dict:
    out = measure([sys.executable, str(Path(__file__).resolve()), "--_stage", stage, *args], scratch)
    if out["rc"] != 0 or "result" not in out:
        sys.exit(f"stage {stage} failed (exit {out['rc']}):\n{out['stderr']}")
    return {"seconds": out["result"]["seconds"], "maxrss": out["maxrss"], "info": out["result"]}


def cli_supports(flag: str) -> bool:
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    p = subprocess.run([sys.executable, "-m", "evalbatch", "run", "--help"], capture_output=True, text=True, env=env, cwd=ROOT)
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", p.stdout) is not None


def run_cli(samples: Path, out_dir: Path, jobs: int, no_cache: bool, scratch: Path, n: int, extra: tuple[str, ...] = ()) -> dict:
    """One `evalbatch run` of `samples` (n files) in a fresh process."""
    cmd = [sys.executable, "-m", "evalbatch", "run", str(samples), "--out", str(out_dir), "--year", str(YEAR),
           "--settle", "0", "--quiet", "--jobs", str(jobs), *extra]
    if no_cache:
        cmd.append("--no-cache")
    out = measure(cmd, scratch)
    if out["rc"] not in (0, 1):  # 1: finished, some files carry errors (the samples do, on purpose)
        sys.exit(f"evalbatch run failed (exit {out['rc']}): {' '.join(cmd)}\n{out['stderr']}")
    try:
        info = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"evalbatch run exited {out['rc']} without a readable run.json ({e}): {' '.join(cmd)}\n{out['stderr']}")
    files = len(info.get("files", [])) if "files" in info else n
    if files != n:
        sys.exit(f"evalbatch run saw {files} files, expected {n}")
    extra = {k: v for k, v in info.items() if "cache" in k.lower() or k == "unchanged"}
    # An unchanged rerun keeps the previous run's summary (and timings): they are not its own.
    timings = {} if info.get("unchanged") else info.get("timings", {})
    return {"seconds": out["wall"], "maxrss": out["maxrss"], "timings": timings, "info": extra,
            "departments": info.get("departments"), "files": files}


def median_of(runs: list[dict]) -> dict:
    secs = [r["seconds"] for r in runs]
    result = {"seconds": statistics.median(secs), "all_seconds": secs, "maxrss": max(r["maxrss"] for r in runs)}
    keys = []
    for r in runs:
        keys += [k for k in r.get("timings", {}) if k not in keys]
    if keys:
        result["timings"] = {k: statistics.median([r["timings"][k] for r in runs if k in r["timings"]]) for k in keys}
    infos = [r["info"] for r in runs if r.get("info")]
    if infos:
        result["info"] = infos[-1]
    for key in ("departments", "files"):
        if runs[-1].get(key) is not None:
            result[key] = runs[-1][key]
    return result


def repeat_interleaved(specs: list[tuple[str, object]], reps: int) -> list[dict]:
    """Run each (label, fn) `reps` times, taking turns (c, o, c, o, ...), so that a change in the
    machine's load during the benchmark falls on both alike; the median of each."""
    runs: list[list[dict]] = [[] for _ in specs]
    for i in range(reps):
        for (label, fn), done in zip(specs, runs):
            log(f"  {label}: run {i + 1}/{reps} ...")
            done.append(fn())
            log(f"  {label}: {done[-1]['seconds']:.2f} s, peak RSS {done[-1]['maxrss'] / 2**20:.0f} MB")
    return [median_of(done) for done in runs]


def repeat(label: str, reps: int, fn) -> dict:
    return repeat_interleaved([(label, fn)], reps)[0]


def source_digest() -> str:
    """A digest of evalbatch's source files, to notice code that changed during the benchmark."""
    import hashlib
    from importlib.util import find_spec

    spec = find_spec("evalbatch")
    root = Path(next(iter(spec.submodule_search_locations)))
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for pkg in ("evalbatch", "pandas", "python-calamine", "openpyxl", "xlsxwriter", "numpy"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "-"
    return found


def ratio_rows(results: dict, cores: int) -> list[dict]:
    def sec(key):
        return results[key]["seconds"] if key in results else None

    floors = (sec("a") or 0) + (sec("w") or 0) if "a" in results and "w" in results else None
    pairs = {
        "c(all cores) / (a + w)": (sec(f"c jobs={cores}"), floors),
        "c(jobs=1) / (a + w)": (sec("c jobs=1"), floors),
        "b / c(all cores)": (sec("b"), sec(f"c jobs={cores}")),
        "rerun / cold": (sec("rerun"), sec("cold")),
    }
    rows = []
    for name, (num, den) in pairs.items():
        op, target = TARGETS[name]
        if num is None or not den:
            rows.append({"ratio": name, "value": None, "target": f"{op} {target:g}", "verdict": "n/a"})
            continue
        value = num / den
        ok = value <= target if op == "<=" else value >= target
        rows.append({"ratio": name, "value": value, "target": f"{op} {target:g}", "verdict": "PASS" if ok else "MISS"})
    return rows


def per_unit_rows(results: dict, jobs: list[int]) -> list[dict]:
    """ms per file and per department of c and o for each --jobs value, and o / c."""
    rows = []
    for j in jobs:
        row = {"jobs": j}
        for stage in ("c", "o"):
            r = results.get(f"{stage} jobs={j}")
            if r is None:
                continue
            depts = r.get("departments")
            row[stage] = {"seconds": r["seconds"], "files": r["files"], "departments": depts,
                          "ms_per_file": 1000 * r["seconds"] / r["files"],
                          "ms_per_department": 1000 * r["seconds"] / depts if depts else None}
        if "c" in row and "o" in row:
            c, o = row["c"], row["o"]
            row["o/c"] = {"ms_per_file": o["ms_per_file"] / c["ms_per_file"],
                          "ms_per_department": (o["ms_per_department"] / c["ms_per_department"]
                                                if o["ms_per_department"] and c["ms_per_department"] else None)}
        rows.append(row)
    return rows


def print_report(results: dict, ratios: list[dict], per_unit: list[dict], n: int, reps: int, meta: dict) -> None:
    off = meta["official"]
    log("")
    log(f"evalbatch benchmark: {n} departments, {meta['cores']} cores, {'median of ' + str(reps) if reps > 1 else 'one run'} per stage")
    log(f"  format 1: {n} files; official forms: {off['files']} files "
        f"({', '.join(f'{v} {k}' for k, v in off['kinds'].items())})")
    if off["not_read"]:
        log(f"  oa covers the {off['kinds'].get('xlsx', 0)} xlsx files only: python-calamine cannot read "
            f"{off['calamine_refused']} of the other {off['not_read']} (SpreadsheetML / HTML saved as .xls), "
            f"so there is no read floor for them")
    log("  " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    log(f"  CLI --no-cache: {'yes' if meta['cache'] else 'no (no cache stages)'}; evalbatch source digest {meta['source']}")
    if meta["source_changed"]:
        log("  WARNING: evalbatch's source changed while the benchmark ran; the figures mix versions")
    log("")
    head = f"{'stage':<42} {'files':>6} {'seconds':>9} {'ms/file':>9} {'peak RSS MB':>12}"
    log(head)
    log("-" * len(head))
    for key, r in results.items():
        label = meta["labels"].get(key, key)
        files = meta["files"].get(key, n)
        log(f"{label:<42} {files:>6} {r['seconds']:>9.2f} {1000 * r['seconds'] / files:>9.2f} {r['maxrss'] / 2**20:>12.0f}")
        if r.get("timings"):
            split = "  ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
            log(f"{'':<4}run.json timings (s): {split}")
        if r.get("info") and key in ("cold", "rerun"):
            log(f"{'':<4}run.json: {json.dumps(r['info'], ensure_ascii=False)[:160]}")
    log("")
    log(f"{'ratio':<24} {'value':>7} {'target':>8}  verdict")
    for row in ratios:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        log(f"{row['ratio']:<24} {value:>7} {row['target']:>8}  {row['verdict']}")
    if per_unit:
        log("")
        head = f"{'evalbatch run, whole process':<36} {'files':>6} {'depts':>6} {'ms/file':>9} {'ms/dept':>9}"
        log(head)
        log("-" * len(head))

        def num(x, fmt):
            return "-" if x is None else format(x, fmt)

        for row in per_unit:
            for stage, name in (("c", "c  format 1"), ("o", "o  official forms")):
                if stage in row:
                    u = row[stage]
                    log(f"{name + ', jobs=' + str(row['jobs']):<36} {u['files']:>6} {num(u['departments'], '>6')} "
                        f"{u['ms_per_file']:>9.2f} {num(u['ms_per_department'], '>9.2f')}")
            if "o/c" in row:
                r = row["o/c"]
                log(f"{'o / c, jobs=' + str(row['jobs']):<36} {'':>6} {'':>6} {r['ms_per_file']:>9.2f} "
                    f"{num(r['ms_per_department'], '>9.2f')}")


def write_bench_roster(samples: Path, path: Path) -> int:
    """A roster of the units submitting in `samples` (codes from the file names) and as many
    that never submit; its size."""
    import xlsxwriter

    from evalbatch.read.fileids import ids_from_name

    codes = sorted({ids_from_name(p.name)[0] for p in sample_files(samples)} - {""})
    units = [(c, f"单位{c}") for c in codes] + [(f"9{i:07d}", f"未提交单位{i}") for i in range(len(codes))]
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, ["单位编码", "单位名称", "单位类别", "联系人"])
    for r, (code, name) in enumerate(units, start=1):
        ws.write_row(r, 0, [code, name, "政府部门", "联系人"])
    wb.close()
    return len(units)


def roster_case(samples: Path, n: int, reps: int, scratch: Path) -> int:
    """`evalbatch run` with and without a roster of 2N units, taking turns; prints both and the ratio."""
    cores = os.cpu_count() or 1
    roster = scratch / "名单.xlsx"
    size = write_bench_roster(samples, roster)
    counter = iter(range(1_000_000))

    def one(extra: tuple[str, ...]) -> dict:
        out = scratch / f"roster-out-{next(counter)}"
        try:
            return run_cli(samples, out, cores, cli_supports("--no-cache"), scratch, n, extra)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    plain, listed = repeat_interleaved([("plain", lambda: one(())), ("roster", lambda: one(("--roster", str(roster), "--allow-shrink")))], reps)
    ratio = listed["seconds"] / plain["seconds"]
    op, target = TARGETS["roster / plain"]
    log(f"\nroster case: {n} submissions, roster of {size} units, jobs={cores}, median of {reps}")
    log(f"  plain   {plain['seconds']:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in plain['all_seconds'])})")
    log(f"  roster  {listed['seconds']:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in listed['all_seconds'])}); "
        f"inside the run, matching and 报送情况 took {listed['timings'].get('roster', float('nan')):.3f} s")
    log(f"  roster / plain = {ratio:.3f}   target {op} {target:g}   {'PASS' if ratio <= target else 'MISS'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark evalbatch against the Excel read/write floors and plain pandas.")
    ap.add_argument("--n", type=int, default=1000, help="number of submissions (default 1000)")
    ap.add_argument("--jobs", type=parse_jobs, default=parse_jobs("1,all"),
                    help="comma-separated --jobs values for the evalbatch runs; 'all' = every core (default 1,all)")
    ap.add_argument("--keep", type=Path, help="folder to keep the generated samples in and reuse them from")
    ap.add_argument("--json", type=Path, help="also save the figures to this JSON file")
    ap.add_argument("--roster-case", action="store_true", help="only time a run with a roster of 2N units against one without")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    if args.roster_case:
        with tempfile.TemporaryDirectory(prefix="evalbatch-bench-") as tmp:
            work = args.keep.resolve() if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            return roster_case(ensure_samples(work, args.n), args.n, 3 if args.n <= 2000 else 1, Path(tmp))

    n, cores = args.n, os.cpu_count() or 1
    reps = 3 if n <= 2000 else 1
    with tempfile.TemporaryDirectory(prefix="evalbatch-bench-") as tmp:
        scratch = Path(tmp)
        work = args.keep.resolve() if args.keep else scratch
        work.mkdir(parents=True, exist_ok=True)
        samples = ensure_samples(work, n)
        official = ensure_official(work, n)
        digest_before = source_digest()
        files = sample_files(samples)
        list_file = scratch / "files.txt"
        list_file.write_text("\n".join(str(p) for p in files), encoding="utf-8")
        off_files = official_files(official)
        kinds = {p: file_kind(p) for p in off_files}
        off_xlsx = [p for p in off_files if kinds[p] == "xlsx"]
        off_other = [p for p in off_files if kinds[p] != "xlsx"]
        off_list = scratch / "official-xlsx.txt"
        off_list.write_text("\n".join(str(p) for p in off_xlsx), encoding="utf-8")
        kind_counts = {k: sum(1 for v in kinds.values() if v == k) for k in ("xlsx", "SpreadsheetML", "HTML", "other")}
        off_info = {"files": len(off_files), "kinds": {k: v for k, v in kind_counts.items() if v},
                    "not_read": len(off_other), "calamine_refused": calamine_refuses(off_other)}
        log(f"Official forms: {len(off_files)} files ({', '.join(f'{v} {k}' for k, v in off_info['kinds'].items())}); "
            f"python-calamine refuses {off_info['calamine_refused']} of the {len(off_other)} that are not xlsx")
        tables_file = scratch / "tables.pickle"
        table_info = prepare_tables(samples, tables_file)
        cache = cli_supports("--no-cache")
        log(f"evalbatch run --help {'lists' if cache else 'does not list'} --no-cache")

        results: dict[str, dict] = {}
        labels = {"a": "a  read floor (calamine)", "w": "w  write floor (xlsxwriter)", "b": "b  pandas by hand (openpyxl)",
                  "oa": "oa read floor, official (xlsx only)",
                  "cold": f"cold  cached run, jobs={cores}", "rerun": f"rerun  unchanged, jobs={cores}"}
        stage_files = {"oa": len(off_xlsx)}
        log(f"Timing ({reps} run(s) per stage):")
        results["a"] = repeat("a read floor", reps, lambda: run_child_stage("read", [str(list_file)], scratch))
        results["w"] = repeat("w write floor", reps, lambda: run_child_stage("write", [str(tables_file), str(scratch / "w.xlsx")], scratch))
        results["b"] = repeat("b pandas", reps, lambda: run_child_stage("pandas", [str(list_file), str(tables_file), str(scratch / "b.xlsx")], scratch))

        counter = iter(range(1_000_000))

        def fresh_out() -> Path:
            return scratch / f"out-{next(counter)}"

        def one_cli(folder: Path, count: int, jobs: int, no_cache: bool) -> dict:
            out = fresh_out()
            try:
                return run_cli(folder, out, jobs, no_cache, scratch, count)
            finally:
                shutil.rmtree(out, ignore_errors=True)

        oa = None
        if off_xlsx:
            oa = repeat("oa read floor (official xlsx)", reps, lambda: run_child_stage("read", [str(off_list)], scratch))
        # c and o take turns for each --jobs value, so that o / c compares runs made under the same load.
        c_results, o_results = {}, {}
        for j in args.jobs:
            ckey, okey = f"c jobs={j}", f"o jobs={j}"
            labels[ckey] = f"c  evalbatch run, jobs={j}" + (" (all cores)" if j == cores else "")
            labels[okey] = f"o  evalbatch run, official, jobs={j}" + (" (all)" if j == cores else "")
            stage_files[okey] = len(off_files)
            c_results[ckey], o_results[okey] = repeat_interleaved(
                [(ckey, lambda j=j: one_cli(samples, n, j, cache)),
                 (okey, lambda j=j: one_cli(official, len(off_files), j, cache))], reps)
        results |= c_results
        if oa is not None:
            results["oa"] = oa
        results |= o_results

        if cache:
            colds, reruns = [], []
            for i in range(reps):
                out = fresh_out()
                try:
                    log(f"  cold + rerun: run {i + 1}/{reps} ...")
                    colds.append(run_cli(samples, out, cores, False, scratch, n))
                    reruns.append(run_cli(samples, out, cores, False, scratch, n))
                    log(f"  cold {colds[-1]['seconds']:.2f} s, rerun {reruns[-1]['seconds']:.2f} s")
                finally:
                    shutil.rmtree(out, ignore_errors=True)
            results["cold"], results["rerun"] = median_of(colds), median_of(reruns)

        ratios = ratio_rows(results, cores)
        per_unit = per_unit_rows(results, args.jobs)
        digest_after = source_digest()
        meta = {"cores": cores, "versions": versions(), "cache": cache, "labels": labels, "files": stage_files,
                "official": off_info, "source": digest_before, "source_changed": digest_after != digest_before}
        print_report(results, ratios, per_unit, n, reps, meta)
        if args.json:
            figures = {
                "n": n, "cores": cores, "repeats": reps, "versions": meta["versions"], "cli_no_cache": cache,
                "evalbatch_source": meta["source"], "source_changed": meta["source_changed"],
                "tables": table_info,
                "official": off_info,
                "stages": {k: {"label": labels.get(k, k), "seconds": r["seconds"], "all_seconds": r["all_seconds"],
                               "files": stage_files.get(k, n), "ms_per_file": 1000 * r["seconds"] / stage_files.get(k, n),
                               **({"departments": r["departments"],
                                   "ms_per_department": 1000 * r["seconds"] / r["departments"]} if r.get("departments") else {}),
                               "peak_rss_mb": r["maxrss"] / 2**20,
                               **({"timings": r["timings"]} if r.get("timings") else {})} for k, r in results.items()},
                "ratios": ratios,
                "per_file_and_department": per_unit,
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
            log(f"\nFigures saved to {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--_stage":
        STAGES[sys.argv[2]](*sys.argv[3:])
    else:
        sys.exit(main())

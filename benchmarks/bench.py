"""Benchmark: evalbatch against the floors of Excel reading and writing, and against pandas.

Usage (from the project root, or `make bench`):

    .venv/bin/python benchmarks/bench.py [--n 1000] [--jobs 1,all] [--keep DIR] [--json FILE]

It generates N submissions (seed 1, year 2021; the reference case plus N-1 synthetic
departments), then times, each in a fresh process so that peak memory is per stage:

  a        read floor: python-calamine reading every cell of every sheet of every file
  w        write floor: raw xlsxwriter write_row of the four tables evalbatch writes
  b        by hand: pd.read_excel(sheet_name=None, openpyxl) of every file, concatenated
           per sheet, plus DataFrame.to_excel of the four tables (ExcelWriter, xlsxwriter)
  c jobs=J `python -m evalbatch run` end to end, one per --jobs entry, each into a fresh
           output folder (with --no-cache when the CLI offers it)
  cold/rerun  only when the CLI offers --no-cache: a cold cached run with all cores into a
           fresh output folder, then a rerun on the same folder with nothing changed

Times are medians of 3 runs when N <= 2000, of one run above. a, w and b are timed inside
the child (imports and loading the pickled tables excluded); c, cold and rerun are the wall
time of the whole CLI process, interpreter start-up included, as a user sees it. Peak RSS is
ru_maxrss of the stage's process tree as collected by a small wrapper process: the largest
single process (main process or a worker), not the sum over workers.
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
ROOT = Path(__file__).resolve().parent.parent
TARGETS = {  # ratio → (comparison, target)
    "c(jobs=1) / (a + w)": ("<=", 2.0),
    "b / c(all cores)": (">=", 3.0),
    "rerun / cold": ("<=", 0.15),
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


def ensure_samples(work: Path, n: int) -> Path:
    """N submissions in work/samples, reused when a previous run left exactly these."""
    samples = work / "samples"
    marker = work / MARKER
    wanted = {"n": n, "seed": SEED, "year": YEAR}
    if samples.is_dir() and marker.is_file():
        try:
            known = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        found = len(sample_files(samples))
        if known == wanted and found == n:
            log(f"Reusing {n} samples in {samples}")
            return samples
        log(f"Samples in {samples} do not match (found {found} files for {known or 'unknown'}, want {wanted}); regenerating")
    if samples.exists():
        if not marker.is_file() and any(p.suffix.lower() != ".xlsx" for p in samples.rglob("*") if p.is_file()):
            sys.exit(f"{samples} holds files this script did not write; choose another --keep folder")
        shutil.rmtree(samples)
    marker.unlink(missing_ok=True)

    from evalbatch.samples import write_samples

    part = work / "samples.partial"
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    log(f"Generating {n} samples (seed {SEED}, year {YEAR}, {GEN_JOBS} processes) in {samples} ...")
    done = threading.Event()
    t0 = time.perf_counter()

    def progress() -> None:
        while not done.wait(5):
            k = sum(1 for _ in part.glob("*.xlsx"))
            log(f"  ... {k}/{n} files, {time.perf_counter() - t0:.0f} s")

    watcher = threading.Thread(target=progress, daemon=True)
    watcher.start()
    try:
        paths = write_samples(part, n - 1, seed=SEED, year=YEAR, jobs=GEN_JOBS)
    finally:
        done.set()
        watcher.join()
    if len(paths) != n:
        sys.exit(f"write_samples wrote {len(paths)} files, expected {n}")
    part.rename(samples)
    marker.write_text(json.dumps(wanted), encoding="utf-8")
    log(f"Generated {n} samples in {time.perf_counter() - t0:.1f} s")
    return samples


def prepare_tables(samples: Path, tables_file: Path) -> dict:
    """Run the evalbatch pipeline once here; pickle its four tables as report.py would write them."""
    import inspect

    from evalbatch import findings as F
    from evalbatch import report
    from evalbatch.batch import discover, evaluate
    from evalbatch.rules import load_rules

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


def run_cli(samples: Path, out_dir: Path, jobs: int, no_cache: bool, scratch: Path, n: int) -> dict:
    cmd = [sys.executable, "-m", "evalbatch", "run", str(samples), "--out", str(out_dir), "--year", str(YEAR),
           "--settle", "0", "--quiet", "--jobs", str(jobs)]
    if no_cache:
        cmd.append("--no-cache")
    out = measure(cmd, scratch)
    if out["rc"] not in (0, 1):  # 1: finished, some files carry errors (the samples do, on purpose)
        sys.exit(f"evalbatch run failed (exit {out['rc']}): {' '.join(cmd)}\n{out['stderr']}")
    info = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    files = len(info.get("files", [])) if "files" in info else n
    if files != n:
        sys.exit(f"evalbatch run saw {files} files, expected {n}")
    extra = {k: v for k, v in info.items() if "cache" in k.lower() or k == "unchanged"}
    # An unchanged rerun keeps the previous run's summary (and timings): they are not its own.
    timings = {} if info.get("unchanged") else info.get("timings", {})
    return {"seconds": out["wall"], "maxrss": out["maxrss"], "timings": timings, "info": extra}


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
    return result


def repeat(label: str, reps: int, fn) -> dict:
    runs = []
    for i in range(reps):
        log(f"  {label}: run {i + 1}/{reps} ...")
        runs.append(fn())
        log(f"  {label}: {runs[-1]['seconds']:.2f} s, peak RSS {runs[-1]['maxrss'] / 2**20:.0f} MB")
    return median_of(runs)


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

    pairs = {
        "c(jobs=1) / (a + w)": (sec("c jobs=1"), (sec("a") or 0) + (sec("w") or 0) if "a" in results and "w" in results else None),
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


def print_report(results: dict, ratios: list[dict], n: int, reps: int, meta: dict) -> None:
    log("")
    log(f"evalbatch benchmark: {n} files, {meta['cores']} cores, {'median of ' + str(reps) if reps > 1 else 'one run'} per stage")
    log("  " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    log(f"  CLI --no-cache: {'yes' if meta['cache'] else 'no (no cache stages)'}; evalbatch source digest {meta['source']}")
    if meta["source_changed"]:
        log("  WARNING: evalbatch's source changed while the benchmark ran; the figures mix versions")
    log("")
    head = f"{'stage':<36} {'seconds':>9} {'ms/file':>9} {'peak RSS MB':>12}"
    log(head)
    log("-" * len(head))
    for key, r in results.items():
        label = meta["labels"].get(key, key)
        log(f"{label:<36} {r['seconds']:>9.2f} {1000 * r['seconds'] / n:>9.2f} {r['maxrss'] / 2**20:>12.0f}")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark evalbatch against the Excel read/write floors and plain pandas.")
    ap.add_argument("--n", type=int, default=1000, help="number of submissions (default 1000)")
    ap.add_argument("--jobs", type=parse_jobs, default=parse_jobs("1,all"),
                    help="comma-separated --jobs values for the evalbatch runs; 'all' = every core (default 1,all)")
    ap.add_argument("--keep", type=Path, help="folder to keep the generated samples in and reuse them from")
    ap.add_argument("--json", type=Path, help="also save the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")

    n, cores = args.n, os.cpu_count() or 1
    reps = 3 if n <= 2000 else 1
    with tempfile.TemporaryDirectory(prefix="evalbatch-bench-") as tmp:
        scratch = Path(tmp)
        work = args.keep.resolve() if args.keep else scratch
        work.mkdir(parents=True, exist_ok=True)
        samples = ensure_samples(work, n)
        digest_before = source_digest()
        files = sample_files(samples)
        list_file = scratch / "files.txt"
        list_file.write_text("\n".join(str(p) for p in files), encoding="utf-8")
        tables_file = scratch / "tables.pickle"
        table_info = prepare_tables(samples, tables_file)
        cache = cli_supports("--no-cache")
        log(f"evalbatch run --help {'lists' if cache else 'does not list'} --no-cache")

        results: dict[str, dict] = {}
        labels = {"a": "a  read floor (calamine)", "w": "w  write floor (xlsxwriter)", "b": "b  pandas by hand (openpyxl)",
                  "cold": f"cold  cached run, jobs={cores}", "rerun": f"rerun  unchanged, jobs={cores}"}
        log(f"Timing ({reps} run(s) per stage):")
        results["a"] = repeat("a read floor", reps, lambda: run_child_stage("read", [str(list_file)], scratch))
        results["w"] = repeat("w write floor", reps, lambda: run_child_stage("write", [str(tables_file), str(scratch / "w.xlsx")], scratch))
        results["b"] = repeat("b pandas", reps, lambda: run_child_stage("pandas", [str(list_file), str(tables_file), str(scratch / "b.xlsx")], scratch))

        counter = iter(range(1_000_000))

        def fresh_out() -> Path:
            return scratch / f"out-{next(counter)}"

        def one_cli(jobs: int, no_cache: bool) -> dict:
            out = fresh_out()
            try:
                return run_cli(samples, out, jobs, no_cache, scratch, n)
            finally:
                shutil.rmtree(out, ignore_errors=True)

        for j in args.jobs:
            key = f"c jobs={j}"
            labels[key] = f"c  evalbatch run, jobs={j}" + (" (all cores)" if j == cores else "")
            results[key] = repeat(key, reps, lambda j=j: one_cli(j, cache))

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
        digest_after = source_digest()
        meta = {"cores": cores, "versions": versions(), "cache": cache, "labels": labels,
                "source": digest_before, "source_changed": digest_after != digest_before}
        print_report(results, ratios, n, reps, meta)
        if args.json:
            figures = {
                "n": n, "cores": cores, "repeats": reps, "versions": meta["versions"], "cli_no_cache": cache,
                "evalbatch_source": meta["source"], "source_changed": meta["source_changed"],
                "tables": table_info,
                "stages": {k: {"label": labels.get(k, k), "seconds": r["seconds"], "all_seconds": r["all_seconds"],
                               "ms_per_file": 1000 * r["seconds"] / n, "peak_rss_mb": r["maxrss"] / 2**20,
                               **({"timings": r["timings"]} if r.get("timings") else {})} for k, r in results.items()},
                "ratios": ratios,
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

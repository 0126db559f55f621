"""Load test of evalbatch serve on loopback, as the issue states it: UNITS units, each signing
in, checking and submitting a realistic file within two minutes.

The units: a share (--official) sends the official forms (部门整体 and 1-4 项目支出 forms, as
one workbook, one file a form, SpreadsheetML or HTML: evalbatch.samples.official), the rest
evalbatch's template (evalbatch.samples.format1). Each unit arrives at a random moment within
--window seconds (seeded) and signs in, uploads its files, reads its check results and
submits; everything must be over within --limit seconds of the first arrival. Before the
first arrival, one check per check worker by a unit of its own warms the server, as a server
that has been running would be.

Records:
- time to check results (POST /check until the results page is read): p50, p95, max; the
  sign-in and submission times too;
- the page's answer while loaded: a probe GET /signin every half second (a stalled event loop
  shows here);
- the server's peak memory, its process and its check workers summed, sampled from /proc
  every half second (Linux only): RSS (a page shared by several processes counted in each: an
  overestimate) and PSS (shared pages divided among the processes that share them); the most
  processes the server had at once;
- CPU seconds of the server process and of its workers; the load average before and after;
and verifies that nothing was lost: each unit's files in its inbox folder exactly once (by
SHA-256), no previous version moved aside, one receipt and one 提交 audit row per unit.

    .venv/bin/python benchmarks/web_load.py [--units 200] [--window 100] [--limit 120] [--official 0.5] [--json FILE]
    .venv/bin/python benchmarks/web_load.py --window 0 --concurrency 20   # all at once, 20 at a time: a stress
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.cookiejar
import json
import math
import os
import random
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalbatch.read.fileids import ids_from_name  # noqa: E402
from evalbatch.rules import load_rules  # noqa: E402
from evalbatch.samples.format1 import write_samples  # noqa: E402
from evalbatch.samples.official import official_departments, write_official_department  # noqa: E402
from evalbatch.web import codes as C  # noqa: E402

WARMUP_UNIT = "999999"
SAMPLE_EVERY = 0.5  # seconds between memory samples and between probes


# --- the units and their files ---------------------------------------------------------------

def make_units(folder: Path, units: int, official_share: float, seed: int) -> dict[str, list[Path]]:
    """unit code → the files it uploads: the template's samples and the official forms'."""
    n_official = round(units * official_share)
    found: dict[str, list[Path]] = {}
    for path in write_samples(folder / "format1", units - n_official, seed=seed)[: units - n_official]:
        found[ids_from_name(path.name)[0]] = [path]
    (folder / "official").mkdir(parents=True, exist_ok=True)
    for d in official_departments(n_official, seed=seed):
        if d.code in found:
            raise SystemExit(f"unit code {d.code} made twice: choose another --seed")
        found[d.code] = write_official_department(folder / "official", d)
    return found


# --- the server and what is sampled from it --------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(out: Path, inbox: Path, log: Path, root: Path) -> tuple[subprocess.Popen, str]:
    """`evalbatch serve` from the checkout `root` (python -m puts its folder first on the path)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "evalbatch", "serve", str(out), "--inbox", str(inbox), "--port", str(port)],
                              cwd=root, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(url + "/signin", timeout=5).read()
            return server, url
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"evalbatch serve did not start; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    """Ctrl+C's way (uvicorn finishes the requests in hand), then a kill after 30 seconds."""
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def _kb(path: str, field: str) -> int:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path(path).read_text(), re.M)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) of `pids` summed, in MB."""
    rss = sum(_kb(f"/proc/{p}/status", "VmRSS") for p in pids)
    pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    return rss / 1024, pss / 1024


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watch:
    """Samples the server's memory and probes its answer every SAMPLE_EVERY seconds, in threads."""

    def __init__(self, server: subprocess.Popen, url: str):
        self.server, self.url = server, url
        self.rss = self.pss = 0.0
        self.processes = 0
        self.probes: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._sample, daemon=True), threading.Thread(target=self._probe, daemon=True)]
        for t in self.threads:
            t.start()

    def _sample(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            pids = process_tree(self.server.pid)
            rss, pss = memory_mb(pids)
            self.rss, self.pss, self.processes = max(self.rss, rss), max(self.pss, pss), max(self.processes, len(pids))

    def _probe(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            started = time.perf_counter()
            try:
                urllib.request.urlopen(self.url + "/signin", timeout=60).read()
            except OSError:
                continue
            self.probes.append(time.perf_counter() - started)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


# --- one unit ---------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def multipart(fields: dict[str, str], files: list[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for path in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Browser:
    """One unit's visits: a cookie jar and the pages' CSRF token."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        return self.opener.open(self.url + path, timeout=300).read().decode()

    def post(self, path: str, body: bytes, kind: str = "application/x-www-form-urlencoded") -> str:
        req = urllib.request.Request(self.url + path, data=body, headers={"content-type": kind})
        return self.opener.open(req, timeout=300).read().decode()

    def sign_in(self, unit: str, code: str) -> str:
        csrf = CSRF.search(self.get("/signin")).group(1)
        page = self.post("/signin", urllib.parse.urlencode({"csrf": csrf, "unit": unit, "code": code}).encode())
        return CSRF.search(page).group(1)

    def check(self, csrf: str, files: list[Path]) -> str:
        return self.post("/check", *multipart({"csrf": csrf}, files))


def one_unit(url: str, unit: str, code: str, files: list[Path], at: float, retry_after: float) -> dict:
    """Sign in at `at` (perf_counter), check, submit: the times taken. Told the server is busy
    (503, "请一分钟后再试"), the unit tries again `retry_after` seconds later, as a person would;
    the check's time runs from its first try."""
    time.sleep(max(0.0, at - time.perf_counter()))  # the unit's arrival, not a synchronisation
    b = Browser(url)
    t0 = time.perf_counter()
    csrf = b.sign_in(unit, code)
    t1 = time.perf_counter()
    busy = 0
    while True:
        try:
            page = b.check(csrf, files)
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            busy += 1
            time.sleep(retry_after)
    t2 = time.perf_counter()
    token = TOKEN.search(page)
    if token is None:
        raise RuntimeError("no results page: " + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))[:200])
    page = b.post("/submit", urllib.parse.urlencode({"csrf": csrf, "token": token.group(1)}).encode())
    t3 = time.perf_counter()
    return {"unit": unit, "signin_s": t1 - t0, "check_s": t2 - t1, "submit_s": t3 - t2, "receipt": "提交回执" in page, "done": t3,
            "busy": busy}


def warm_up(url: str, code: str, files: list[Path], workers: int) -> None:
    """One check per check worker, at once, by a unit outside the test: every worker has read a file."""
    def once(_):
        b = Browser(url)
        b.check(b.sign_in(WARMUP_UNIT, code), files)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(once, range(workers)))


# --- what was lost --------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(out: Path, inbox: Path, units: dict[str, list[Path]], done: set[str]) -> dict:
    """What the server kept: for each unit that got its receipt page in time, its files in its
    inbox folder exactly once (by SHA-256), one receipt, one 提交 row; for every unit, no file
    twice and none moved aside as a previous version; units not done in time but whose
    submission landed before the server stopped are counted apart."""
    placed = {u: sorted(sha256(p) for p in (inbox / u).glob("*") if p.is_file() and not p.name.startswith(".")) for u in units}
    sent = {u: sorted(sha256(p) for p in files) for u, files in units.items()}
    receipts = {u: len(list((out / "web" / "receipts" / u).glob("*.json"))) for u in units}
    with sqlite3.connect(out / "web" / "audit.sqlite") as db:
        rows = db.execute("SELECT action, unit, COUNT(*) FROM audit WHERE unit != ? GROUP BY action, unit", (WARMUP_UNIT,)).fetchall()
    audit: dict[str, dict[str, int]] = {}
    for action, unit, n in rows:
        audit.setdefault(action, {})[unit] = n
    submit_rows = audit.get("提交", {})
    kept = [u for u in done if placed[u] == sent[u] and receipts[u] == 1 and submit_rows.get(u) == 1]
    return {
        "inbox_files": sum(len(v) for v in placed.values()),
        "done_units_kept_exactly": len(kept),
        "done_units_lost_or_doubled": len(done) - len(kept),
        "units_with_a_file_twice_or_not_theirs": sum(bool(v) and v != sent[u] for u, v in placed.items()),
        "units_with_a_previous_version": sum((inbox / u / ".previous").exists() for u in units),
        "late_units_submitted_before_stop": sum(bool(placed[u]) for u in units if u not in done),
        "receipts": sum(receipts.values()),
        "audit_submit_rows": sum(submit_rows.values()),
        "audit_rows_by_action": {a: sum(by.values()) for a, by in audit.items()},
    }


# --- the run ----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def seconds(values: list[float]) -> dict:
    r = lambda v: None if v is None else round(v, 2)  # noqa: E731
    return {"p50": r(statistics.median(values)) if values else None, "p95": r(percentile(values, 0.95)), "max": r(max(values, default=None))}


def run(args, work: Path) -> dict:
    out, inbox = work / "out", work / "inbox"
    units = make_units(work / "samples", args.units, args.official, args.seed)
    issued = C.issue(out, {**{u: files[0].stem for u, files in units.items()}, WARMUP_UNIT: "预热"})
    server, url = start_server(out, inbox, work / "server.log", args.server_root)
    workers = int(load_rules().web("concurrent_checks"))
    warm_up(url, issued[WARMUP_UNIT], next(iter(units.values())), workers)
    before = Path("/proc/loadavg").read_text().split()[:3]
    watch = Watch(server, url)
    client_cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # from here: the units' requests, not making their files
    rng = random.Random(args.seed)
    start = time.perf_counter() + 0.5
    arrivals = sorted(start + rng.uniform(0, args.window) for _ in units)
    results, failures = [], []
    pool = ThreadPoolExecutor(args.concurrency or len(units))
    futures = {pool.submit(one_unit, url, u, issued[u], files, at, args.retry_after): u for (u, files), at in zip(units.items(), arrivals)}
    done, late = wait(futures, timeout=max(0.0, start + args.limit - time.perf_counter()))
    for f in done:
        try:
            results.append(f.result())
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures.append((futures[f], repr(exc)[:300]))
    failures += [(futures[f], f"not done within {args.limit:g} s") for f in late]
    pool.shutdown(wait=False, cancel_futures=True)  # the limit is the limit: the server stops below, and units still in it with it
    wall = max((r["done"] for r in results), default=start) - start
    watch.end()
    tree = process_tree(server.pid)
    cpu_server, cpu_workers = cpu_seconds(server.pid), sum(cpu_seconds(p) for p in tree if p != server.pid)
    after = Path("/proc/loadavg").read_text().split()[:3]
    stop_server(server)
    pool.shutdown(wait=True)
    files_per_unit = [len(f) for f in units.values()]
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cores": os.cpu_count(), "loadavg_before": " ".join(before), "loadavg_after": " ".join(after),
        "units": len(units), "official_units": round(args.units * args.official), "files_per_unit_max": max(files_per_unit),
        "window_s": args.window, "limit_s": args.limit, "concurrency": args.concurrency or "unbounded",
        "check_workers": workers,
        "submitted": len(results), "receipt_pages": sum(r["receipt"] for r in results), "failed": len(failures), "failures": failures[:5],
        "busy_replies": sum(r["busy"] for r in results), "units_told_busy": sum(r["busy"] > 0 for r in results),
        "wall_s": round(wall, 1),
        "check_s": seconds([r["check_s"] for r in results]),
        # By what the unit sent: the template (one file) or official forms (1-5 files, some SpreadsheetML or HTML).
        "check_s_template": seconds([r["check_s"] for r in results if units[r["unit"]][0].parent.name == "format1"]),
        "check_s_official": seconds([r["check_s"] for r in results if units[r["unit"]][0].parent.name == "official"]),
        "signin_s": seconds([r["signin_s"] for r in results]),
        "submit_s": seconds([r["submit_s"] for r in results]),
        "probe_s": seconds(watch.probes),
        "server_peak_rss_mb": round(watch.rss), "server_peak_pss_mb": round(watch.pss), "server_processes_max": watch.processes,
        "cpu_s": {"server": round(cpu_server, 1), "check_workers": round(cpu_workers, 1),
                  "this_client": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - client_cpu, 1)},
        **verify(out, inbox, units, {r["unit"] for r in results if r["receipt"]}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--window", type=float, default=100, help="seconds over which the units arrive (0: all at once)")
    ap.add_argument("--limit", type=float, default=120, help="seconds from the first arrival by which every unit must be done")
    ap.add_argument("--official", type=float, default=0.5, help="share of the units that send the official forms")
    ap.add_argument("--concurrency", type=int, default=0, help="at most this many units at a time (0: no cap)")
    ap.add_argument("--retry-after", type=float, default=15, help="seconds a unit told the server is busy waits to try again")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (files, server log, inbox, output folder)")
    ap.add_argument("--server-root", type=Path, default=ROOT, help="run the server from this checkout (e.g. an export of an older commit)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evalbatch-webload-"))
    try:
        report = run(args, work)
    finally:
        if args.keep:
            print(f"files, server log, inbox and output folder kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

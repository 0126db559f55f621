"""Load test of evalbatch serve on loopback: UNITS units each sign in, check and submit a
realistic file (the sample generator's), CONCURRENCY at a time, within a time limit.

Records p50/p95 time to check results, the server's peak memory (the server and its check
children, summed, sampled from /proc: Linux only), and verifies nothing was lost: every file
in the inbox exactly once, one receipt and one 提交 audit row per unit.

    .venv/bin/python benchmarks/web_load.py [--units 200] [--concurrency 20] [--limit 600]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalbatch.read.fileids import ids_from_name  # noqa: E402
from evalbatch.samples.format1 import write_samples  # noqa: E402
from evalbatch.web import codes as C  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        ppid = int(re.search(r"PPid:\s+(\d+)", text).group(1))
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        rss[int(entry)] = int(m.group(1)) if m else 0
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total / 1024


def multipart(fields: dict[str, str], name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def one_unit(url: str, unit: str, code: str, path: Path) -> dict:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(p: str) -> str:
        return opener.open(url + p, timeout=300).read().decode()

    def post(p: str, body: bytes, kind: str = "application/x-www-form-urlencoded") -> str:
        req = urllib.request.Request(url + p, data=body, headers={"content-type": kind})
        return opener.open(req, timeout=300).read().decode()

    csrf = CSRF.search(get("/signin")).group(1)
    page = post("/signin", urllib.parse.urlencode({"csrf": csrf, "unit": unit, "code": code}).encode())
    csrf = CSRF.search(page).group(1)
    body, kind = multipart({"csrf": csrf}, path.name, path.read_bytes())
    started = time.perf_counter()
    page = post("/check", body, kind)
    checked = time.perf_counter() - started
    token = TOKEN.search(page).group(1)
    page = post("/submit", urllib.parse.urlencode({"csrf": csrf, "token": token}).encode())
    return {"unit": unit, "check_s": checked, "receipt": "提交回执" in page}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--limit", type=float, default=600, help="seconds before the test stops waiting")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evalbatch-webload-"))
    out, inbox, samples = work / "out", work / "inbox", work / "samples"
    files = write_samples(samples, args.units, seed=7)
    units = {ids_from_name(p.name)[0]: p for p in files}
    units = dict(list(units.items())[: args.units])
    issued = C.issue(out, {u: p.stem for u, p in units.items()})
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "evalbatch", "serve", str(out), "--inbox", str(inbox), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/signin", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    peak, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(server.pid))
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    started = time.perf_counter()
    results, failures = [], []
    pool = ThreadPoolExecutor(args.concurrency)
    futures = {pool.submit(one_unit, url, u, issued[u], p): u for u, p in units.items()}
    for f, u in futures.items():
        try:
            results.append(f.result(timeout=max(0.1, args.limit - (time.perf_counter() - started))))
        except Exception as exc:  # noqa: BLE001 - counted and reported (a unit past the limit too)
            failures.append((u, repr(exc)[:200]))
    wall = time.perf_counter() - started
    pool.shutdown(wait=False, cancel_futures=True)  # the limit is the limit: units not done are reported
    stop.set()
    server.terminate()
    server.wait(30)
    placed = [p for p in inbox.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(inbox).parts)]
    per_unit = {u: len(list((inbox / u).glob("*.xlsx"))) for u in units}
    receipts = len(list((out / "web" / "receipts").rglob("*.json")))
    with sqlite3.connect(out / "web" / "audit.sqlite") as db:
        audited = db.execute("SELECT COUNT(*) FROM audit WHERE action = '提交'").fetchone()[0]
    times = sorted(r["check_s"] for r in results)
    report = {
        "units": len(units), "concurrency": args.concurrency, "cores": os.cpu_count(), "wall_s": round(wall, 1),
        "submitted": len(results), "failures": failures[:5], "failed": len(failures),
        "inbox_files": len(placed), "units_with_exactly_one_file": sum(n == 1 for n in per_unit.values()),
        "receipts": receipts, "audit_submit_rows": audited,
        "check_p50_s": round(statistics.median(times), 2) if times else None,
        "check_p95_s": round(times[max(0, int(len(times) * 0.95) - 1)], 2) if times else None,
        "server_peak_rss_mb": round(peak[0]),
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()

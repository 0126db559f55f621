"""evalbatch serve through Starlette's test client: sign-in, CSRF, checks, submissions,
refusals, limits and hostile uploads; the night taking what the server placed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import os
import re
import signal
from pathlib import Path

import httpx2 as httpx
import openpyxl
import pytest
from builders import dept, reference, write
from starlette.testclient import TestClient
from test_hostile_files import ods, shared_string_bomb, xls_bomb
from test_hostile_prescan import xls_cells
from typer.testing import CliRunner

import faults
import web_calls
from evalbatch.cli import app as cli_app
from evalbatch.rules import Rules, load_rules
from evalbatch.web import audit as A
from evalbatch.web import codes as C
from evalbatch.web import worker
from evalbatch.web.app import WebConfig, create_app
from evalbatch.web.inbox import place

UNIT, OTHER = "620101", "620102"


def web_rules(**web) -> Rules:
    """The default rules with `web` changed; one check worker unless asked (one spawn a test)."""
    base = load_rules()
    return Rules({**base.data, "web": {**base.data["web"], "concurrent_checks": 1, **web}}, "测试规则")


@pytest.fixture
def site(tmp_path):
    """A served output folder with codes for two units and the bureau; (client maker, codes, out, inbox).
    Each client is its own app; its check workers start at its first check and stop with the test."""
    out, inbox = tmp_path / "out", tmp_path / "inbox"
    issued = C.issue(out, {UNIT: "省委编办", OTHER: "省委宣传部", C.BUREAU: "财政厅"})
    apps = []

    def client(rules: Rules | None = None) -> TestClient:
        apps.append(create_app(WebConfig(out, inbox, rules or web_rules())))
        return TestClient(apps[-1], client=("10.0.0.7", 50000))

    yield client, issued, out, inbox
    for app in apps:
        app.state.service.checks.close()


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(client: TestClient, unit: str, code: str):
    token = csrf_of(client.get("/signin"))
    return client.post("/signin", data={"csrf": token, "unit": unit, "code": code}, follow_redirects=False)


def text(page) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def check(client: TestClient, *files: tuple[str, bytes]):
    token = csrf_of(client.get("/unit"))
    return client.post("/check", data={"csrf": token}, files=[("files", f) for f in files])


def with_error(tmp_path: Path, code: str = UNIT, name: str = "省委编办") -> bytes:
    """The reference case with 「“三公经费”控制率」 (weight 3, 整体指标!H5) self-scored 99."""
    data = dept(code, name)
    data["indicators"][3]["self_score"] = 99
    return write(tmp_path, data, f"bad_{code}.xlsx").read_bytes()


def test_sign_in_sets_a_strict_httponly_cookie_and_headers(site):
    client, issued, out, _ = site
    c = client()
    page = c.get("/signin")
    assert page.headers["content-security-policy"].startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    r = sign_in(c, UNIT, issued[UNIT].lower().replace("-", ""))  # case and dashes do not matter
    assert r.status_code == 303 and r.headers["location"] == "/unit"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "620101 省委编办" in text(c.get("/unit"))
    assert [(a["unit"], a["address"], a["action"], a["result"]) for a in A.Audit(out).rows()] == [(UNIT, "10.0.0.7", "登录", "成功")]


def test_wrong_code_then_rate_limit_per_unit(site):
    client, issued, out, _ = site
    c = client(web_rules(signin_attempts=3))
    for _ in range(3):
        r = sign_in(c, UNIT, "AAAA-BBBB-CCCC")
        assert r.status_code == 401
        assert "单位编码或访问码不正确" in text(r)
    r = sign_in(c, UNIT, issued[UNIT])  # the right code, too late
    assert r.status_code == 429
    assert "登录失败次数过多，请 15 分钟后再试" in text(r)
    assert c.get("/unit", follow_redirects=False).headers["location"] == "/signin"
    actions = [a["action"] for a in A.Audit(out).rows(unit=UNIT)]
    assert actions == ["登录失败"] * 3 + ["登录受限"]


def test_rate_limit_per_address_covers_other_units(site):
    client, issued, _, _ = site
    c = client(web_rules(signin_attempts=2))
    assert sign_in(c, "999001", "x").status_code == 401
    assert sign_in(c, "999002", "x").status_code == 401
    assert sign_in(c, OTHER, issued[OTHER]).status_code == 429


def test_post_without_csrf_token_is_refused(site):
    client, issued, _, inbox = site
    c = client()
    r = c.post("/signin", data={"unit": UNIT, "code": issued[UNIT]}, follow_redirects=False)
    assert r.status_code == 403 and "安全令牌" in text(r)
    assert sign_in(c, UNIT, issued[UNIT]).status_code == 303
    r = c.post("/check", data={"csrf": "forged"}, files=[("files", ("a.xlsx", b"PK\x03\x04"))])
    assert r.status_code == 403 and "安全令牌" in text(r)
    assert not inbox.exists() or not any(inbox.rglob("*.xlsx"))


def test_check_shows_findings_by_sheet_and_cell_then_submit_gives_a_receipt(site, tmp_path):
    client, issued, out, inbox = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    r = check(c, ("C:\\fakepath\\我的自评表.xlsx", with_error(tmp_path)))
    assert r.status_code == 200
    page = text(r)
    assert "我的自评表.xlsx：单位 620101 省委编办，复核得分 90.56 ，等级 未评级" in page
    rows = re.findall(r'<tr class="level-[^"]+"><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td><td class="cell">([^<]*)</td>', r.text)
    # H5's over-weight and its recomputed score are one row (issue 20, point 6).
    assert rows == [("提示", "基本信息", "B16"), ("错误", "整体指标", "H5"), ("警告", "项目", "E2"), ("提示", "项目", "E2")]
    assert "「“三公经费”控制率」自评得分 99 超过分值 3，得分不能高于分值；复核得分 3.00（比率 68.58% 不超过 100%，得 3.00）；请更正" in page
    assert "错误 1 个，警告 1 个，提示 2 个。" in page
    feedback = c.get(re.search(r'href="(/check/[^"]+/feedback/0)"', r.text).group(1))
    assert feedback.status_code == 200 and feedback.content[:2] == b"PK"
    assert not inbox.exists() or not any(inbox.rglob("*.xlsx"))  # checking submits nothing
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    receipt = c.post("/submit", data={"csrf": csrf_of(r), "token": token})
    assert receipt.status_code == 200 and "提交回执" in receipt.text
    placed = sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*.xlsx"))
    assert len(placed) == 1 and re.fullmatch(r"620101/620101_\d{8}-\d{6}-\d{6}_1_[0-9a-f]{8}\.xlsx", placed[0])
    stored = json.loads(next((out / "web" / "receipts" / UNIT).glob("*.json")).read_text(encoding="utf-8"))
    sha = stored["files"][0]["sha256"]
    assert placed[0].endswith(f"_{sha[:8]}.xlsx") and (inbox / placed[0]).read_bytes() == with_error(tmp_path)
    assert (stored["counts"], stored["total"], stored["grade"], stored["files"][0]["name"]) == (
        {"错误": 1, "警告": 1, "提示": 2}, 90.56, "未评级", "我的自评表.xlsx")
    assert f"SHA-256 {sha}" in text(receipt)
    download = c.get(f"/receipt/{stored['id']}/download")
    assert download.text.lstrip("\ufeff").startswith("预算绩效自评 提交回执")
    assert "提交时复核得分：90.56  等级：未评级" in download.text
    assert c.post("/submit", data={"csrf": csrf_of(r), "token": token}).status_code == 404  # once only
    audit = [(a["action"], a["sha256"]) for a in A.Audit(out).rows(unit=UNIT)]
    assert audit == [("登录", ""), ("检查", sha), ("提交", sha)]
    assert "我的自评表.xlsx" in text(c.get("/unit"))  # the unit's history


def test_resubmission_keeps_the_previous_version_out_of_the_night(site, tmp_path):
    client, issued, _, inbox = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    for content in (with_error(tmp_path), write(tmp_path, reference(), "good.xlsx").read_bytes()):
        r = check(c, ("表.xlsx", content))
        c.post("/submit", data={"csrf": csrf_of(r), "token": re.search(r'name="token" value="([^"]+)"', r.text).group(1)})
    current = [p for p in (inbox / UNIT).iterdir() if p.is_file() and not p.name.startswith(".")]
    kept = list((inbox / UNIT / ".previous").rglob("*.xlsx"))
    assert len(current) == 1 and len(kept) == 1
    assert current[0].read_bytes() == (tmp_path / "good.xlsx").read_bytes()


def test_feedback_workbook_is_written_when_needed_and_the_receipt_carries_it(site, tmp_path):
    client, issued, out, _ = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    r = check(c, ("表.xlsx", with_error(tmp_path)))
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    pending = c.app.state.service.pending[token]
    assert not (pending.folder / "feedback").exists()  # a check writes no workbook: most units never download it
    receipt = c.post("/submit", data={"csrf": csrf_of(r), "token": token})
    stored = json.loads(next((out / "web" / "receipts" / UNIT).glob("*.json")).read_text(encoding="utf-8"))
    assert stored["feedback"] == [f"{stored['id']}_0.xlsx"]
    workbook = c.get(re.search(r'href="(/files/receipt/[^"]+)"', receipt.text).group(1))
    assert workbook.status_code == 200 and openpyxl.load_workbook(io.BytesIO(workbook.content))["审核问题"]["A2"].value == "表.xlsx"


def test_another_units_file_is_refused_with_the_reason(site, tmp_path):
    client, issued, out, inbox = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    r = check(c, ("宣传部.xlsx", with_error(tmp_path, OTHER, "省委宣传部")))
    assert "文件“宣传部.xlsx”的单位编码是 620102，不是本单位（620101），不能提交。" in text(r)
    assert 'id="submit"' not in r.text
    token = re.search(r"/check/([^/]+)/feedback", r.text).group(1)
    refused = c.post("/submit", data={"csrf": csrf_of(r), "token": token})
    assert refused.status_code == 403
    assert "未提交：文件“宣传部.xlsx”的单位编码是 620102，不是本单位（620101）。每个单位只能提交本单位的文件" in text(refused)
    assert not any(inbox.rglob("*.xlsx"))
    assert [a["action"] for a in A.Audit(out).rows(unit=UNIT)][-1] == "拒收"


def test_another_unit_sees_none_of_it(site, tmp_path):
    client, issued, _, _ = site
    a, b = client(), client()
    sign_in(a, UNIT, issued[UNIT])
    r = check(a, ("表.xlsx", with_error(tmp_path)))
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)
    a.post("/submit", data={"csrf": csrf_of(r), "token": token})
    sign_in(b, OTHER, issued[OTHER])
    assert "还没有提交" in text(b.get("/unit"))
    assert b.get(f"/check/{token}/feedback/0").status_code == 404
    rid = re.search(r"/receipt/([0-9-]+)", a.get("/unit").text).group(1)
    assert b.get(f"/receipt/{rid}").status_code == 404


def test_oversize_upload_is_refused_before_it_is_read(site, tmp_path):
    client, issued, _, inbox = site
    c = client(web_rules(max_upload_mb=1))
    sign_in(c, UNIT, issued[UNIT])
    r = check(c, ("big.xlsx", b"PK\x03\x04" + b"\0" * (2 * 1024 * 1024)))
    assert r.status_code == 413 and "上传的文件合计超过 1 MB，未接收" in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert c.get("/unit").status_code == 200


def test_too_many_files_are_refused_before_any_is_saved(site):
    client, issued, _, _ = site
    c = client(web_rules(max_upload_files=2))
    sign_in(c, UNIT, issued[UNIT])
    r = check(c, *[(f"{i}.xlsx", b"PK\x03\x04") for i in range(3)])
    assert r.status_code == 413 and "一次最多上传 2 个文件，请分批检查" in text(r)


def test_not_a_spreadsheet_by_content_or_name_is_refused_unparsed(site, tmp_path):
    client, issued, _, _ = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    for name, data in (("表.xlsx", b"%PDF-1.4 not a workbook"), ("../../etc/passwd", b"PK\x03\x04")):
        r = check(c, (name, data))
        assert r.status_code == 400, name
        assert "不是本工具读取的电子表格" in text(r)


HOSTILE = [  # (file, the finding's title and message): each refused by a pre-scan in the worker
    (lambda d: shared_string_bomb(d / "bomb.xlsx"), "疑似恶意文件",
     "文件中单元格文字合计至少 646,714,814 个字符，超过上限 20,000,000，远超正常填报表（常见于同一段文字被大量单元格重复引用），疑似恶意文件，不予读取"),
    (lambda d: xls_bomb(d / "bomb.xls"), "疑似恶意文件",
     "文件中单元格文字合计至少 20,032,000 个字符，超过上限 20,000,000，远超正常填报表（常见于同一段文字被大量单元格重复引用），疑似恶意文件，不予读取"),
    (lambda d: ods(d / "spaces.ods", '<text:p>a<text:s text:c="1000000000"/></text:p>'), "疑似恶意文件",
     "工作表「表1」中有单元格文字长达 1,000,000,001 个字符，超过上限 100,000（Excel 单元格最多 32,767 个字符），疑似异常文件，不予读取"),
    (lambda d: faults.zip_bomb(d), "疑似恶意文件", "文件解压后达 500 MB，远超正常填报表，疑似压缩炸弹，不予读取"),
    (lambda d: faults.far_cell_xlsx(d), "疑似恶意文件", "工作表「Sheet」范围达 1,048,576 行 × 16,384 列，远超正常填报表，疑似异常文件，不予读取"),
    (lambda d: xls_cells(d / "far.xls", [(0, 0), (65535, 65535)], None), "疑似恶意文件",
     "工作表「Sheet1」范围达 65,536 行 × 65,536 列，远超正常填报表，疑似异常文件，不予读取"),
    (lambda d: faults.entity_bomb(d), "文件损坏", "文件不完整或已损坏，无法读取；请在 Excel/WPS 中打开检查并重新保存后提交"),
    (lambda d: faults.truncated(d), "文件损坏", "文件不完整或已损坏（压缩包目录无法读取），可能复制中断，请重新保存后提交"),
]


def worker_pids(c: TestClient) -> list[int]:
    """The pids of the app's idle check workers."""
    return [w.proc.pid for w in c.app.state.service.checks.box._idle]


def test_hostile_uploads_are_one_error_each_in_the_same_warm_worker_and_the_next_check_works(site, tmp_path):
    client, issued, out, _ = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    assert "复核得分 90.56" in text(check(c, ("表.xlsx", with_error(tmp_path))))
    pids = worker_pids(c)
    for n, (make, title, message) in enumerate(HOSTILE):
        folder = tmp_path / f"hostile{n}"
        folder.mkdir()
        path = make(folder)
        r = check(c, (path.name, path.read_bytes()))
        assert r.status_code == 200, path.name
        page = text(r)
        assert f"{path.name} 无法使用 错误 1 个，警告 0 个，提示 0 个。" in page, path.name
        assert f"错误 {path.name} {title} {message}" in page, path.name
    assert "复核得分 90.56" in text(check(c, ("表.xlsx", with_error(tmp_path))))
    assert worker_pids(c) == pids and len(pids) == 1  # one process served every check, none was started per request
    assert len(A.Audit(out).rows(action="检查")) == len(HOSTILE) + 2


def test_a_check_over_its_time_is_stopped_and_the_next_works(site, tmp_path, monkeypatch):
    client, issued, out, _ = site
    c = client(web_rules(check_seconds=15))  # a real check here takes up to ~7 s on a busy machine
    sign_in(c, UNIT, issued[UNIT])
    monkeypatch.setattr("evalbatch.web.app.check_files", web_calls.sleeper)
    r = check(c, ("表.xlsx", with_error(tmp_path)))
    assert r.status_code == 422
    assert "文件未能检查：检查超过时间上限（15 秒）仍未完成（文件可能过大或异常），已停止；请检查文件后重试" in text(r)
    monkeypatch.setattr("evalbatch.web.app.check_files", worker.check_files)
    assert "复核得分 90.56" in text(check(c, ("表.xlsx", with_error(tmp_path))))
    assert [a["result"] for a in A.Audit(out).rows(action="检查")] == ["检查失败", "错误 1，警告 1，提示 2"]


@pytest.mark.skipif(os.name == "nt", reason="RLIMIT_AS is POSIX; on Windows the Job Object limits memory (tests/test_sandbox.py)")
def test_a_check_over_its_memory_fails_alone_and_its_worker_is_replaced(site, tmp_path, monkeypatch):
    client, issued, out, _ = site
    c = client(web_rules(check_memory_mb=2048))
    sign_in(c, UNIT, issued[UNIT])
    monkeypatch.setattr("evalbatch.web.app.check_files", web_calls.glutton)
    r = check(c, ("表.xlsx", with_error(tmp_path)))
    assert r.status_code == 422
    assert "文件未能检查：检查时占用的内存超过上限（2 GB），已停止（文件可能异常或被构造）；请检查文件后重试" in text(r)
    assert len(worker_pids(c)) == 1  # its replacement, started at once
    monkeypatch.setattr("evalbatch.web.app.check_files", worker.check_files)
    assert "复核得分 90.56" in text(check(c, ("表.xlsx", with_error(tmp_path))))


# --- checks held in their workers: a worker killed mid-check, the bound on concurrent checks ----


class Held:
    """A listener for web_calls.held: each held check connects, says its worker's pid and waits
    until `release`. On the test's event loop, so nothing here sleeps to wait."""

    async def __aenter__(self):
        self.arrived: asyncio.Queue = asyncio.Queue()
        self.holding = 0
        self.most = 0  # the most checks held at once

        async def arrive(reader, writer):
            pid = int(await reader.readline())
            self.holding += 1
            self.most = max(self.most, self.holding)
            await self.arrived.put((pid, writer))

        self.server = await asyncio.start_server(arrive, "127.0.0.1", 0)
        self.address = self.server.sockets[0].getsockname()[:2]
        return self

    async def release(self, writer) -> None:
        self.holding -= 1
        writer.write(b"g")
        await writer.drain()
        writer.close()

    async def __aexit__(self, *exc):
        self.server.close()


@contextlib.asynccontextmanager
async def served(app, unit: str, code: str):
    """An async client on `app` (one event loop: its requests run concurrently), signed in; with its CSRF token."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.7", 50000)), base_url="http://testserver") as ac:
        token = csrf_of(await ac.get("/signin"))
        await ac.post("/signin", data={"csrf": token, "unit": unit, "code": code})
        yield ac, csrf_of(await ac.get("/unit"))


def post_check(ac, token: str, data: bytes):
    return ac.post("/check", data={"csrf": token}, files=[("files", ("表.xlsx", data))])


@pytest.mark.skipif(os.name == "nt", reason="the message names the POSIX signal")
def test_a_worker_killed_mid_check_fails_that_check_and_the_next_works(site, tmp_path, monkeypatch):
    client, issued, out, _ = site
    app = client().app
    data = with_error(tmp_path)

    async def scenario():
        async with Held() as held, served(app, UNIT, issued[UNIT]) as (ac, token):
            monkeypatch.setattr("evalbatch.web.app.check_files", functools.partial(web_calls.held, held.address))
            request = asyncio.create_task(post_check(ac, token, data))
            pid, _ = await held.arrived.get()
            os.kill(pid, signal.SIGKILL)  # mid-check, as the kernel's OOM killer or an administrator would
            killed = await request
            monkeypatch.setattr("evalbatch.web.app.check_files", worker.check_files)
            return pid, killed, await post_check(ac, token, data)

    pid, killed, after = asyncio.run(scenario())
    assert killed.status_code == 422
    assert "文件未能检查：检查进程意外终止（被信号 SIGKILL 终止），已停止；请重试，如仍失败请检查文件" in text(killed)
    assert after.status_code == 200 and "复核得分 90.56" in text(after)
    replaced = app.state.service.checks.box._idle
    assert len(replaced) == 1 and replaced[0].proc.pid != pid
    assert [a["result"] for a in A.Audit(out).rows(action="检查")] == ["检查失败", "错误 1，警告 1，提示 2"]


def test_checks_run_at_most_concurrent_checks_at_once_in_the_same_workers_and_the_queue_is_bounded(site, tmp_path, monkeypatch):
    client, issued, out, _ = site
    app = client(web_rules(concurrent_checks=2, waiting_checks=1)).app
    data = with_error(tmp_path)

    async def scenario():
        async with Held() as held, served(app, UNIT, issued[UNIT]) as (ac, token):
            monkeypatch.setattr("evalbatch.web.app.check_files", functools.partial(web_calls.held, held.address))
            requests = [asyncio.create_task(post_check(ac, token, data)) for _ in range(4)]
            first = [await held.arrived.get() for _ in range(2)]  # two running, one waiting, one turned away
            done, _ = await asyncio.wait(requests, return_when=asyncio.FIRST_COMPLETED)
            busy = done.pop().result()
            assert app.state.service.checks.in_flight == 3 and held.holding == 2
            assert (await ac.get("/unit")).status_code == 200  # the event loop answers while every worker is busy
            await held.release(first[0][1])
            third = await held.arrived.get()  # the waiting check's turn: in a freed worker
            for _, writer in (first[1], third):
                await held.release(writer)
            pages = [await r for r in requests]
            return busy, pages, [pid for pid, _ in (*first, third)]

    busy, pages, pids = asyncio.run(scenario())
    assert busy.status_code == 503 and "检查的单位较多，服务器正忙，请一分钟后再试" in text(busy)
    assert sorted(p.status_code for p in pages) == [200, 200, 200, 503]
    assert all("复核得分 90.56" in text(p) for p in pages if p.status_code == 200)
    assert len(set(pids)) == 2 and pids[2] in pids[:2]  # no third process: the waiting check took a freed worker
    assert sorted(w.proc.pid for w in app.state.service.checks.box._idle) == sorted(set(pids))
    assert len(A.Audit(out).rows(action="检查")) == 3


def test_reissued_code_signs_the_old_session_out(site):
    client, issued, out, _ = site
    c = client()
    sign_in(c, UNIT, issued[UNIT])
    assert c.get("/unit").status_code == 200
    new = C.issue(out, {UNIT: "省委编办"})[UNIT]
    assert c.get("/unit", follow_redirects=False).headers["location"] == "/signin"
    assert sign_in(c, UNIT, issued[UNIT]).status_code == 401
    assert sign_in(c, UNIT, new).status_code == 303


def test_codes_file_keeps_hashes_only(site):
    _, issued, out, _ = site
    stored = (out / "web" / "access_codes.json").read_text(encoding="utf-8")
    assert all(C.typed(code) not in stored and code not in stored for code in issued.values())
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", issued[UNIT])


def roster_file(out: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "名单"
    ws.append(["单位编码", "单位名称", "联系人"])
    ws.append([UNIT, "省委编办", "张会计"])
    ws.append([OTHER, "省委宣传部", "李会计"])
    out.mkdir(parents=True, exist_ok=True)
    wb.save(out / "名单.xlsx")


def test_roster_codes_command_issues_all_then_one(tmp_path):
    out = tmp_path / "out"
    roster_file(out)
    cli = CliRunner()
    r = cli.invoke(cli_app, ["roster", "codes", str(out), "-o", str(tmp_path / "访问码.xlsx")])
    assert r.exit_code == 0, r.output
    rows = list(openpyxl.load_workbook(tmp_path / "访问码.xlsx").active.iter_rows(values_only=True))
    assert rows[0] == ("单位编码", "单位名称", "联系人", "访问码")
    assert [r[:3] for r in rows[1:4]] == [(UNIT, "省委编办", "张会计"), (OTHER, "省委宣传部", "李会计"), ("（财政厅页面）", "财政厅", "")]
    first = {r[0]: r[3] for r in rows[1:4]}
    entries = C.load(out)
    assert C.verify(entries, UNIT, first[UNIT]) and C.verify(entries, C.BUREAU, first["（财政厅页面）"])
    r = cli.invoke(cli_app, ["roster", "codes", str(out), "--unit", OTHER, "-o", str(tmp_path / "补发.xlsx")])
    assert r.exit_code == 0, r.output
    again = list(openpyxl.load_workbook(tmp_path / "补发.xlsx").active.iter_rows(values_only=True))[1]
    entries = C.load(out)
    assert again[:3] == (OTHER, "省委宣传部", "李会计") and again[3] != first[OTHER]
    assert C.verify(entries, OTHER, again[3]) and C.verify(entries, UNIT, first[UNIT])  # the others keep theirs
    assert not C.verify(entries, OTHER, first[OTHER])
    r = cli.invoke(cli_app, ["roster", "codes", str(out), "--unit", "999999"])
    assert r.exit_code == 2 and "--unit 999999 不在名单" in r.output


def test_bureau_page_lists_who_has_not_submitted_with_contacts(site, tmp_path):
    client, issued, out, _ = site
    roster_file(out)
    unit, bureau = client(), client()
    sign_in(unit, UNIT, issued[UNIT])
    r = check(unit, ("表.xlsx", with_error(tmp_path)))
    unit.post("/submit", data={"csrf": csrf_of(r), "token": re.search(r'name="token" value="([^"]+)"', r.text).group(1)})
    assert unit.get("/bureau", follow_redirects=False).headers["location"] == "/bureau/signin"
    token = csrf_of(bureau.get("/bureau/signin"))
    assert bureau.post("/bureau/signin", data={"csrf": token, "code": issued[C.BUREAU]}, follow_redirects=False).status_code == 303
    page = text(bureau.get("/bureau"))
    assert "620101 省委编办 已提交，待今晚复核 " in page and "还没有运行记录。" in page
    assert "未提交的单位（1 个） 620102 省委宣传部（联系人：李会计）" in page


def test_a_placed_file_is_taken_by_the_night_without_waiting_out_settle(tmp_path, rules):
    from evalbatch.night.runner import run

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    src = write(tmp_path, reference(), "src.xlsx")
    import hashlib
    import datetime as dt

    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    placed = place(inbox, UNIT, [(src, ".xlsx", sha)], dt.datetime.now())
    by_hand = inbox / "hand" / "620102_省委宣传部.xlsx"
    by_hand.parent.mkdir()
    write(by_hand.parent, dept(OTHER, "省委宣传部"), by_hand.name)
    outcome = run(inbox, out, 2021, rules, settle=120)
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    statuses = {f["name"]: f["status"] for f in summary["files"]}
    assert statuses == {f"{UNIT}/{placed[0]}": "已采用", "hand/620102_省委宣传部.xlsx": "待下次处理"}  # the hand copy waits
    assert outcome.result is not None and list(outcome.result.depts["dept_code"]) == [UNIT]
    # A copy over the placed file by hand is no longer trusted: it waits like any other.
    (inbox / UNIT / placed[0]).write_bytes(src.read_bytes() + b"")
    import os
    os.utime(inbox / UNIT / placed[0], None)
    outcome = run(inbox, tmp_path / "out2", 2021, rules, settle=120)
    assert outcome.result is None or UNIT not in set(outcome.result.depts["dept_code"])


def test_after_the_night_the_unit_sees_its_result_and_the_bureau_the_workbook(site, tmp_path):
    from evalbatch.night.runner import run

    client, issued, out, inbox = site
    unit, bureau = client(), client()
    sign_in(unit, UNIT, issued[UNIT])
    r = check(unit, ("表.xlsx", write(tmp_path, reference(), "good.xlsx").read_bytes()))
    unit.post("/submit", data={"csrf": csrf_of(r), "token": re.search(r'name="token" value="([^"]+)"', r.text).group(1)})
    run(inbox, out, 2021, load_rules(), settle=120, feedback=True)
    page = unit.get("/unit")
    assert "已采用" in text(page)
    link = re.search(r'href="(/files/night/[^"]+)"', page.text).group(1)
    assert link == "/files/night/620101_中共甘肃省委机构编制委员会办公室_复核结果.xlsx" and unit.get(link).content[:2] == b"PK"
    assert unit.get("/files/night/620102_省委宣传部_复核结果.xlsx").status_code == 404  # never another unit's
    token = csrf_of(bureau.get("/bureau/signin"))
    bureau.post("/bureau/signin", data={"csrf": token, "code": issued[C.BUREAU]})
    page = text(bureau.get("/bureau"))
    assert "620101 省委编办 已复核" in page and "620102 省委宣传部 未提交" in page
    workbook = bureau.get("/bureau/workbook")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert unit.get("/bureau/workbook", follow_redirects=False).headers["location"] == "/bureau/signin"


def test_an_old_version_held_open_stays_and_the_new_one_is_placed(tmp_path, monkeypatch):
    import datetime as dt
    import os

    import evalbatch.web.inbox as inbox_mod

    src = tmp_path / "a.xlsx"
    src.write_bytes(b"PK\x03\x04 first")
    first = place(tmp_path / "inbox", UNIT, [(src, ".xlsx", "a" * 64)], dt.datetime(2026, 1, 1, 8))
    real = os.replace

    def held(a, b):  # Windows: the night has the old file open
        if ".previous" in str(b):
            raise PermissionError(32, "being used by another process")
        return real(a, b)

    monkeypatch.setattr(inbox_mod.os, "replace", held)
    monkeypatch.setattr("evalbatch.files.RETRY_DELAYS", ())
    second = place(tmp_path / "inbox", UNIT, [(src, ".xlsx", "b" * 64)], dt.datetime(2026, 1, 1, 9))
    folder = tmp_path / "inbox" / UNIT
    assert sorted(p.name for p in folder.glob("*.xlsx")) == sorted(first + second)
    marker = json.loads((folder / ".evalbatch-placed.json").read_text(encoding="utf-8"))
    assert list(marker["files"]) == second


# --- Windows: the task that keeps the server running -----------------------------------------

ROOT = Path(__file__).resolve().parents[1]
TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def test_the_serve_task_starts_at_boot_and_again_within_5_minutes_without_a_time_limit():
    import xml.etree.ElementTree as ET

    raw = (ROOT / "deploy" / "evalbatch-serve.xml").read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 with its mark, as schtasks /XML reads it
    task = ET.fromstring(raw.decode("utf-16").replace('encoding="UTF-16"', ""))
    assert task.tag == f"{TASK}Task" and task.get("version") == "1.4"
    boot = task.find(f"{TASK}Triggers/{TASK}BootTrigger")
    assert boot.find(f"{TASK}Enabled").text == "true" and boot.find(f"{TASK}Delay").text == "PT1M"
    again = task.find(f"{TASK}Triggers/{TASK}TimeTrigger")
    assert again.find(f"{TASK}Repetition/{TASK}Interval").text == "PT5M"
    assert again.find(f"{TASK}Repetition/{TASK}Duration") is None  # indefinitely
    settings = {e.tag.removeprefix(TASK): (e.text or "").strip() for e in task.find(f"{TASK}Settings")}
    assert {k: settings.get(k) for k in ("MultipleInstancesPolicy", "ExecutionTimeLimit", "Priority", "StartWhenAvailable",
                                         "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "RunOnlyIfIdle", "RestartOnFailure")} == {
        "MultipleInstancesPolicy": "IgnoreNew", "ExecutionTimeLimit": "PT0S", "Priority": "4", "StartWhenAvailable": "true",
        "DisallowStartIfOnBatteries": "false", "StopIfGoingOnBatteries": "false", "RunOnlyIfIdle": "false", "RestartOnFailure": None}
    assert task.find(f"{TASK}Principals/{TASK}Principal/{TASK}LogonType").text == "Password"
    action = task.find(f"{TASK}Actions/{TASK}Exec")
    command, arguments = action.find(f"{TASK}Command").text, action.find(f"{TASK}Arguments").text
    assert command == "C:\\evalbatch\\run-serve.cmd" and action.find(f"{TASK}WorkingDirectory").text == "C:\\evalbatch"
    assert arguments.startswith('"\\\\') and " --inbox " in arguments and arguments.endswith("--host 0.0.0.0 --port 8080")


def test_the_serve_wrapper_writes_one_log_per_start_and_returns_the_exit_code():
    raw = (ROOT / "run-serve.cmd").read_bytes()
    text = raw.decode("ascii")  # cmd.exe reads it in the OEM code page
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert 'set "LOG=%~dp0logs\\serve-%STAMP%.log"' in text
    assert '"%~dp0.venv\\Scripts\\evalbatch.exe" serve %* >> "%LOG%" 2>&1' in text
    assert 'forfiles /p "%~dp0logs" /m serve-*.log /d -30' in text and text.rstrip().endswith("exit /b %CODE%")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "deploy\\evalbatch-serve.xml /RU" in readme and "RestartOnFailure" in readme

"""evalbatch serve: the departments' page (sign in, check, submit with a receipt, history)
and the bureau's page. A thin face over the library, like cli.py."""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .. import findings as F
from ..files import atomic_write
from ..read.reader import sniff
from ..roster import find_roster, read_roster
from ..rules import Rules
from ..schema import SUBMISSION_SUFFIXES
from ..values import one_code
from ..write.feedback import FEEDBACK_DIR
from . import audit as A
from . import codes as C
from .inbox import place
from .security import SESSION_COOKIE, Guard, Sessions, Throttle, csrf_ok, server_secret
from .worker import Busy, CheckFailed, Checks, check_files, write_kept

HERE = Path(__file__).parent
RECEIPTS_DIR = "receipts"
PENDING_SECONDS = 2 * 3600  # a checked upload waits this long for 提交


@dataclass
class Pending:
    """A checked upload, waiting to be submitted by the unit that checked it."""

    unit: str
    folder: Path
    files: list[dict]  # name, made, suffix, sha256
    result: dict
    kept: bytes | None  # what its feedback workbooks are written from, until they are
    created: float = field(default_factory=time.monotonic)


@dataclass
class WebConfig:
    out_dir: Path
    inbox: Path
    rules: Rules
    year: int | None = None


class Service:
    """What the routes share: codes, audit, throttles, the checks' queue, checked uploads."""

    def __init__(self, config: WebConfig):
        self.config = config
        rules = config.rules
        self.sessions = Sessions(server_secret(config.out_dir), rules.web("session_hours") * 3600)
        self.audit = A.Audit(config.out_dir)
        window = rules.web("signin_window_minutes") * 60
        self.by_unit = Throttle(int(rules.web("signin_attempts")), window)
        self.by_address = Throttle(int(rules.web("signin_attempts")), window)
        self.checks = Checks(rules)
        self.pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self._codes: tuple[float, dict[str, C.Entry]] = (-1.0, {})

    def codes(self) -> dict[str, C.Entry]:
        """The issued codes, read again when the file changed (a code reissued while serving)."""
        path = C.codes_path(self.config.out_dir)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self._codes[0]:
            self._codes = (mtime, C.load(self.config.out_dir))
        return self._codes[1]

    def sweep(self) -> None:
        """Checked uploads nobody submitted, removed after PENDING_SECONDS."""
        now = time.monotonic()
        with self._lock:
            old = [k for k, p in self.pending.items() if now - p.created > PENDING_SECONDS]
            gone = [self.pending.pop(k) for k in old]
        for p in gone:
            shutil.rmtree(p.folder, ignore_errors=True)


# Autoescaped everywhere: unit names, file names and messages come from submissions.
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True))


def _service(request: Request) -> Service:
    return request.app.state.service


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _session(request: Request) -> dict | None:
    return _service(request).sessions.load(request.cookies.get(SESSION_COOKIE))


def _signed_in(request: Request, role: str) -> dict | None:
    """The session when it is signed in as `role` with a code that is still the current one."""
    s = _session(request)
    if not s or s.get("role") != role:
        return None
    entry = _service(request).codes().get(s["unit"])
    return s if entry is not None and entry.issued == s.get("issued") else None


def _page(request: Request, name: str, session: dict | None, status: int = 200, **context) -> Response:
    """A page; a visitor without a session gets one, so every form carries a CSRF token."""
    svc = _service(request)
    fresh = session is None
    session = session or svc.sessions.new()
    unit_name = ""
    if session.get("unit"):
        entry = svc.codes().get(session["unit"])
        unit_name = entry.name if entry else ""
    response = templates.TemplateResponse(request, name, {"session": session, "unit_name": unit_name, "csrf": session["csrf"], **context},
                                          status_code=status)
    if fresh:
        _set_cookie(request, response, svc.sessions.dump(session))
    return response


def _set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")


async def _audit(request: Request, unit: str, action: str, result: str, **more) -> None:
    """An audit row, written in a thread: SQLite commits to disk, which the event loop never waits for."""
    await run_in_threadpool(_service(request).audit.add, unit=unit, address=_address(request), action=action, result=result, **more)


async def _discard(folder: Path) -> None:
    await run_in_threadpool(shutil.rmtree, folder, True)


def _error(request: Request, message: str, status: int, back: str = "/") -> Response:
    return _page(request, "error.html", _session(request), status=status, message=message, back=back)


async def _form(request: Request, back: str = "/"):
    """The posted form, and the error page to answer with instead: a form that cannot be
    parsed (too many files) or whose CSRF token is not the session's (checked before
    anything in it is used)."""
    max_files = int(_service(request).config.rules.web("max_upload_files"))
    try:
        form = await request.form(max_files=max_files, max_fields=20)
    except (HTTPException, MultiPartException):  # too many files or fields, a broken body
        return FormData(), _error(request, f"一次最多上传 {max_files} 个文件，请分批检查；或请求无法识别，请重新打开页面后再试", 413, back)
    if not csrf_ok(_session(request), form.get("csrf")):
        return form, _error(request, CSRF_MESSAGE, 403, back)
    return form, None


CSRF_MESSAGE = "页面已过期或请求来源不明（缺少或不符的安全令牌），请返回重新打开页面后再操作"


# --- sign in ---------------------------------------------------------------------------------

async def home(request: Request) -> Response:
    if _signed_in(request, "bureau"):
        return RedirectResponse("/bureau", 303)
    if _signed_in(request, "unit"):
        return RedirectResponse("/unit", 303)
    return RedirectResponse("/signin", 303)


async def signin_page(request: Request) -> Response:
    bureau = request.url.path.startswith("/bureau")
    return _page(request, "signin.html", _session(request), bureau=bureau, message="")


async def signin(request: Request) -> Response:
    svc = _service(request)
    bureau = request.url.path.startswith("/bureau")
    form, refused = await _form(request)
    if refused:
        return refused
    unit = C.BUREAU if bureau else (one_code(form.get("unit")) or "")
    address = _address(request)
    if svc.by_unit.blocked(unit) or svc.by_address.blocked(address):
        await _audit(request, unit, A.SIGNIN_LIMITED, "拒绝")
        minutes = svc.config.rules.web("signin_window_minutes")
        return _page(request, "signin.html", _session(request), status=429, bureau=bureau,
                     message=f"登录失败次数过多，请 {minutes:g} 分钟后再试；如忘记访问码，请联系财政厅重新发放")
    entry = await run_in_threadpool(C.verify, svc.codes(), unit, str(form.get("code") or ""))
    if entry is None:
        svc.by_unit.fail(unit)
        svc.by_address.fail(address)
        await _audit(request, unit, A.SIGNIN_FAILED, "失败")
        return _page(request, "signin.html", _session(request), status=401, bureau=bureau,
                     message="单位编码或访问码不正确，请核对后重试（访问码不区分大小写，可不输入短横线）")
    svc.by_unit.clear(unit)
    await _audit(request, unit, A.SIGNIN, "成功")
    session = svc.sessions.new(unit, "bureau" if bureau else "unit", entry.issued)
    response = RedirectResponse("/bureau" if bureau else "/unit", 303)
    _set_cookie(request, response, svc.sessions.dump(session))
    return response


async def signout(request: Request) -> Response:
    _, refused = await _form(request)
    if refused:
        return refused
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- the unit's page -------------------------------------------------------------------------

def _receipts(out_dir: Path, unit: str) -> list[dict]:
    folder = out_dir / C.WEB_DIR / RECEIPTS_DIR / unit
    found = []
    for p in sorted(folder.glob("*.json"), reverse=True):
        try:
            found.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return found


@dataclass
class LastNight:
    """The last run as the pages show it: run.json (None before the first run), each unit's
    files' status in it, and the feedback workbooks' names, sorted. Read once a page: run.json
    lists every file of the run, and the bureau's page asks about every unit."""

    run: dict | None
    files: dict[str, list[dict]]
    feedback: list[str]

    @classmethod
    def read(cls, out_dir: Path) -> LastNight:
        try:
            run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(None, {}, [])
        files: dict[str, list[dict]] = {}
        for f in run.get("files", []):
            if isinstance(f, dict):
                files.setdefault(str(f.get("dept_code", "")), []).append(f)
        return cls(run, files, sorted(p.name for p in (out_dir / FEEDBACK_DIR).glob("*.xlsx")))

    def of(self, unit: str) -> dict | None:
        """The night's word on the unit: its files' status and its feedback file (the first
        `<unit>_*.xlsx` by name)."""
        if self.run is None:
            return None
        i = bisect.bisect_left(self.feedback, f"{unit}_")
        found = i < len(self.feedback) and self.feedback[i].startswith(f"{unit}_")
        return {"started": self.run.get("started", ""), "files": self.files.get(unit, []), "feedback": self.feedback[i] if found else ""}


def _unit_history(out_dir: Path, unit: str) -> tuple[list[dict], dict | None]:
    return _receipts(out_dir, unit), LastNight.read(out_dir).of(unit)


async def unit_page(request: Request) -> Response:
    s = _signed_in(request, "unit")
    if not s:
        return RedirectResponse("/signin", 303)
    receipts, night = await run_in_threadpool(_unit_history, _service(request).config.out_dir, s["unit"])
    return _page(request, "unit.html", s, receipts=receipts, night=night, rules=_service(request).config.rules)


def _shown_name(raw: str, taken: set[str]) -> str:
    """The name the unit gave the file, without any folder part, made unique; shown only, never a path."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip() or "未命名文件"
    name = "".join(ch if ch.isprintable() else "?" for ch in name)[:120]
    shown, n = name, 1
    while shown in taken:
        n += 1
        shown = f"{name}（{n}）"
    taken.add(shown)
    return shown


def _receive(svc: Service, uploads: list[UploadFile]) -> tuple[Path, list[dict], str]:
    """In a thread: old checked uploads swept, then these saved in a new private folder; its
    path, the files, and a refusal message instead (the folder then removed) when one is not a
    spreadsheet by name or by content."""
    svc.sweep()
    folder = Path(tempfile.mkdtemp(prefix="evalbatch-web-"))
    files, refused = _save_uploads(uploads, folder)
    if refused:
        shutil.rmtree(folder, ignore_errors=True)
    return folder, files, refused


def _save_uploads(uploads: list[UploadFile], folder: Path) -> tuple[list[dict], str]:
    """Each upload saved as upload-N.<ext> in the folder (read from its spooled file: this runs
    in a thread); a refusal message instead when one is not a spreadsheet by name or by content."""
    files, taken = [], set()
    for i, up in enumerate(uploads, start=1):
        shown = _shown_name(up.filename or "", taken)
        suffix = Path(shown).suffix.lower()
        up.file.seek(0)
        head = up.file.read(8192)
        if suffix not in SUBMISSION_SUFFIXES or sniff(head) == "other":
            return [], (f"文件“{shown}”不是本工具读取的电子表格（{'、'.join(SUBMISSION_SUFFIXES)}），或内容与扩展名不符；"
                        "请上传填好的模板或自评表（Excel 或 WPS 工作簿）")
        made = f"upload-{i}{suffix}"
        with open(folder / made, "wb") as out:
            out.write(head)
            shutil.copyfileobj(up.file, out, 1 << 20)
            size = out.tell()
        files.append({"name": shown, "made": made, "suffix": suffix, "size": size})
    return files, ""


def _others(result: dict, unit: str) -> list[dict]:
    """Files whose 单位编码 is another unit's: refused (a unit submits only for itself)."""
    return [f for f in result["files"] if f["dept_code"] and f["dept_code"] != unit]


async def _unit_post(request: Request):
    """(session, form, None) of a signed-in unit's POST with a valid CSRF token, else
    (None, None, the response that refuses it)."""
    s = _signed_in(request, "unit")
    if not s:
        return None, None, _error(request, "登录已过期，请重新登录", 401, "/signin")
    form, refused = await _form(request, "/unit")
    return s, form, refused


async def check(request: Request) -> Response:
    svc = _service(request)
    s, form, refused = await _unit_post(request)
    if refused:
        return refused
    uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile) and (u.filename or u.size)]
    if not uploads:
        return _error(request, "没有选择文件，请选择要检查的填报文件后再点“检查”", 400, "/unit")
    folder, files, refused = await run_in_threadpool(_receive, svc, uploads)
    if refused:
        await _audit(request, s["unit"], A.CHECK, "拒收", detail=refused)
        return _error(request, refused, 400, "/unit")
    try:
        result = await svc.checks.run(check_files, str(folder), [(f["made"], f["name"]) for f in files], svc.config.rules, svc.config.year,
                                      size=sum(f["size"] for f in files))
    except Busy:
        await _discard(folder)
        return _error(request, BUSY_MESSAGE, 503, "/unit")
    except CheckFailed as exc:
        await _discard(folder)
        await _audit(request, s["unit"], A.CHECK, "检查失败", detail=exc.message)
        return _error(request, f"文件未能检查：{exc.message}", 422, "/unit")
    for f, r in zip(files, result["files"]):
        f["sha256"] = r["sha256"]
    token = secrets.token_urlsafe(18)
    with svc._lock:
        svc.pending[token] = Pending(s["unit"], folder, files, result, result.pop("kept"))
    await _audit(request, s["unit"], A.CHECK, _counts_text(result["counts"]), sha256=",".join(f["sha256"] for f in files),
                 detail="、".join(f["name"] for f in files))
    return _page(request, "result.html", s, token=token, result=result, others=_others(result, s["unit"]), unit=s["unit"])


BUSY_MESSAGE = "检查的单位较多，服务器正忙，请一分钟后再试"


def _counts_text(counts: dict) -> str:
    return "，".join(f"{level} {counts.get(level, 0)}" for level in F.LEVELS)


def _own_pending(request: Request, s: dict, token: object) -> Pending | None:
    p = _service(request).pending.get(str(token or ""))
    return p if p is not None and p.unit == s["unit"] else None


async def _feedback_written(svc: Service, p: Pending) -> str:
    """The check's feedback workbooks written (in a check worker, at the first download or the
    submission); "" when they are, else why not, for the unit."""
    kept = p.kept
    if kept is None:
        return ""
    try:
        p.result["feedback"] = await svc.checks.run(write_kept, str(p.folder), kept, svc.config.rules, urgent=True)
    except CheckFailed as exc:
        return exc.message
    p.kept = None
    return ""


async def check_feedback(request: Request) -> Response:
    s = _signed_in(request, "unit")
    p = _own_pending(request, s, request.path_params["token"]) if s else None
    n = request.path_params["n"]
    if p is None or not 0 <= n < len(p.result["feedback"]):
        return _error(request, "找不到这份检查结果（可能已过期），请重新检查", 404, "/unit")
    failed = await _feedback_written(_service(request), p)
    if failed:
        return _error(request, f"结果反馈工作簿未能生成：{failed}", 500, "/unit")
    path = p.folder / p.result["feedback"][n]
    return FileResponse(path, filename=path.name, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


async def submit(request: Request) -> Response:
    svc = _service(request)
    s, form, refused = await _unit_post(request)
    if refused:
        return refused
    p = _own_pending(request, s, form.get("token"))
    # The receipt carries the feedback workbooks: written first, while the check can still be submitted again.
    failed = await _feedback_written(svc, p) if p is not None else ""
    if failed:
        return _error(request, f"未提交：结果反馈工作簿未能生成（{failed}）", 500, "/unit")
    with svc._lock:
        p = _own_pending(request, s, form.get("token"))
        if p is not None:
            del svc.pending[form.get("token")]
    if p is None:
        return _error(request, "找不到这次检查的文件（可能已提交或已过期），请重新上传检查后再提交", 404, "/unit")
    try:
        others = _others(p.result, s["unit"])
        if others:
            reason = "；".join(f"文件“{f['name']}”的单位编码是 {f['dept_code']}，不是本单位（{s['unit']}）" for f in others)
            await _audit(request, s["unit"], A.REFUSED, "拒收", detail=reason, sha256=",".join(f["sha256"] for f in p.files))
            return _error(request, f"未提交：{reason}。每个单位只能提交本单位的文件", 403, "/unit")
        receipt = await run_in_threadpool(_place_and_receipt, svc, s, p, _address(request))
    finally:
        await _discard(p.folder)
    return RedirectResponse(f"/receipt/{receipt['id']}", 303)


def _place_and_receipt(svc: Service, s: dict, p: Pending, address: str) -> dict:
    when = dt.datetime.now().astimezone()
    placed = place(svc.config.inbox, s["unit"], [(p.folder / f["made"], f["suffix"], f["sha256"]) for f in p.files], when)
    entry = svc.codes().get(s["unit"])
    dept = p.result["depts"][0] if p.result["depts"] else {}
    receipt_id = f"{when:%Y%m%d-%H%M%S-%f}"
    receipt = {
        "id": receipt_id,
        "time": when.isoformat(timespec="seconds"),
        "shown_time": f"{when:%Y-%m-%d %H:%M:%S}",
        "unit": s["unit"],
        "unit_name": entry.name if entry else "",
        "files": [{"name": f["name"], "sha256": f["sha256"], "inbox": name} for f, name in zip(p.files, placed)],
        "counts": p.result["counts"],
        "total": dept.get("total"),
        "grade": dept.get("grade", ""),
    }
    folder = svc.config.out_dir / C.WEB_DIR / RECEIPTS_DIR / s["unit"]
    for n, rel in enumerate(p.result["feedback"]):
        src = p.folder / rel
        atomic_write(folder / f"{receipt_id}_{n}.xlsx", lambda t, src=src: shutil.copyfile(src, t))
    receipt["feedback"] = [f"{receipt_id}_{n}.xlsx" for n in range(len(p.result["feedback"]))]
    text = json.dumps(receipt, ensure_ascii=False, indent=1)
    atomic_write(folder / f"{receipt_id}.json", lambda t: t.write_text(text, encoding="utf-8"))
    svc.audit.add(unit=s["unit"], address=address, action=A.SUBMIT, result=_counts_text(p.result["counts"]),
                  sha256=",".join(f["sha256"] for f in p.files), detail="、".join(placed))
    return receipt


async def _receipt_of(request: Request, s: dict) -> dict | None:
    rid = request.path_params["rid"]
    receipts = await run_in_threadpool(_receipts, _service(request).config.out_dir, s["unit"])
    return next((r for r in receipts if r.get("id") == rid), None)


async def receipt_page(request: Request) -> Response:
    s = _signed_in(request, "unit")
    r = await _receipt_of(request, s) if s else None
    if r is None:
        return _error(request, "找不到这份回执", 404, "/unit")
    return _page(request, "receipt.html", s, receipt=r)


def receipt_text(r: dict) -> str:
    lines = ["预算绩效自评 提交回执", f"回执编号：{r['id']}", f"提交时间：{r['shown_time']}", f"单位：{r['unit']} {r['unit_name']}"]
    lines += [f"文件：{f['name']}  SHA-256：{f['sha256']}  存放为：{f['inbox']}" for f in r["files"]]
    lines += ["审核问题：" + "，".join(f"{k} {v}" for k, v in r["counts"].items()),
              f"提交时复核得分：{'—' if r['total'] is None else format(r['total'], '.2f')}  等级：{r['grade']}"]
    return "\r\n".join(lines) + "\r\n"


async def receipt_download(request: Request) -> Response:
    s = _signed_in(request, "unit")
    r = await _receipt_of(request, s) if s else None
    if r is None:
        return _error(request, "找不到这份回执", 404, "/unit")
    return Response(receipt_text(r).encode("utf-8-sig"), media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f"attachment; filename=receipt_{r['id']}.txt"})


async def unit_file(request: Request) -> Response:
    """A feedback workbook of the unit: from a receipt, or the last night's."""
    s = _signed_in(request, "unit")
    if not s:
        return RedirectResponse("/signin", 303)
    out_dir, name, kind = _service(request).config.out_dir, request.path_params["name"], request.path_params["kind"]
    if kind == "receipt":
        folder, ok = out_dir / C.WEB_DIR / RECEIPTS_DIR / s["unit"], name.endswith(".xlsx")
    else:
        folder, ok = out_dir / FEEDBACK_DIR, name.startswith(f"{s['unit']}_") and name.endswith(".xlsx")
    # The name is looked up among the folder's files, never joined into a path as given.
    found = next((p for p in folder.glob("*.xlsx") if p.name == name), None) if ok and folder.is_dir() else None
    if found is None:
        return _error(request, "找不到这个文件", 404, "/unit")
    return FileResponse(found, filename=found.name)


# --- the bureau's page -----------------------------------------------------------------------

async def bureau_page(request: Request) -> Response:
    s = _signed_in(request, "bureau")
    if not s:
        return RedirectResponse("/bureau/signin", 303)
    run, rows, has_workbook = await run_in_threadpool(_bureau_rows, _service(request))
    return _page(request, "bureau.html", s, rows=rows, run=run, missing=[r for r in rows if r["status"] == "未提交"], has_workbook=has_workbook)


def _bureau_rows(svc: Service) -> tuple[dict | None, list[dict], bool]:
    """In a thread: the last run, a row per unit with its status, whether the run's workbook is there."""
    out_dir = svc.config.out_dir
    night = LastNight.read(out_dir)
    run = night.run
    rows = []
    for code, name, contact in _units(svc):
        receipts = _receipts(out_dir, code)
        mine = night.of(code)
        last = receipts[0] if receipts else None
        since_run = last is not None and (not run or last["time"] > str(run.get("started", "")))
        status = ("已提交，待今晚复核" if since_run else "已复核" if mine and mine["files"] else "已提交" if last else "未提交")
        rows.append({"code": code, "name": name, "contact": contact, "status": status, "last": last, "night": mine})
    workbook = Path(str((run or {}).get("outputs", {}).get("workbook", "")))
    return run, rows, bool(run) and workbook.name != "" and (out_dir / workbook.name).is_file()


def _units(svc: Service) -> list[tuple[str, str, str]]:
    """(code, name, 联系人) of every unit that must submit: the roster's, else the units with codes."""
    path = find_roster(svc.config.out_dir)
    if path is not None:
        units = read_roster(path, svc.config.rules).units
        return [(str(r.code), str(r.name), "" if pd.isna(r.contact) else str(r.contact)) for r in units.itertuples()]
    return [(code, e.name, "") for code, e in sorted(svc.codes().items()) if code != C.BUREAU]


async def bureau_workbook(request: Request) -> Response:
    s = _signed_in(request, "bureau")
    if not s:
        return RedirectResponse("/bureau/signin", 303)
    out_dir = _service(request).config.out_dir
    try:
        name = Path(json.loads((out_dir / "run.json").read_text(encoding="utf-8"))["outputs"]["workbook"]).name
    except (OSError, ValueError, KeyError, TypeError):
        name = ""
    path = out_dir / name
    if not name or path.parent != out_dir or not path.is_file():
        return _error(request, "还没有汇总工作簿（今晚运行后即可下载）", 404, "/bureau")
    return FileResponse(path, filename=name)


def _too_large_page(rules: Rules) -> str:
    return ("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>文件过大</title>"
            f"<p>上传的文件合计超过 {rules.web('max_upload_mb'):g} MB，未接收。填报文件一般不足 1 MB，"
            "请检查是否选错了文件；<a href=\"/unit\">返回</a></p></html>")


def create_app(config: WebConfig) -> Starlette:
    routes = [
        Route("/", home),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/bureau/signin", signin_page, methods=["GET"]),
        Route("/bureau/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/unit", unit_page),
        Route("/check", check, methods=["POST"]),
        Route("/check/{token}/feedback/{n:int}", check_feedback),
        Route("/submit", submit, methods=["POST"]),
        Route("/receipt/{rid}", receipt_page),
        Route("/receipt/{rid}/download", receipt_download),
        Route("/files/{kind:str}/{name:str}", unit_file),
        Route("/bureau", bureau_page),
        Route("/bureau/workbook", bureau_workbook),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    max_bytes = int(config.rules.web("max_upload_mb") * 1024 * 1024) + 64 * 1024  # the form's own fields
    service = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        service.checks.start()  # the workers import while the server starts, not at the first check
        try:
            yield
        finally:
            await run_in_threadpool(service.checks.close)

    app = Starlette(routes=routes, middleware=[Middleware(Guard, max_bytes=max_bytes, too_large_page=_too_large_page(config.rules))],
                    lifespan=lifespan)
    app.state.service = service
    return app

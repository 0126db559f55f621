"""What keeps the page boring on a network: signed sessions with a CSRF token, security
headers, a request size limit enforced before the body is read, sign-in throttling."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import HTMLResponse

from ..files import atomic_write
from .codes import WEB_DIR

SESSION_COOKIE = "evalbatch_session"
SECRET_FILE = "secret.key"
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def server_secret(out_dir: Path) -> bytes:
    """The key that signs sessions: made once, kept in OUTPUT_DIR/web/ (sessions outlive a restart)."""
    path = Path(out_dir) / WEB_DIR / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        key = secrets.token_bytes(32)
        atomic_write(path, lambda p: p.write_text(key.hex(), encoding="ascii"))
        return key


class Sessions:
    """A session is a signed, timed cookie: {unit, role, csrf, issued}. Nothing is kept on the
    server; a reissued access code (a new `issued`) ends the sessions signed in with the old one."""

    def __init__(self, secret: bytes, max_age: float):
        self._signer = URLSafeTimedSerializer(secret, salt="evalbatch-session")
        self.max_age = max_age

    def new(self, unit: str = "", role: str = "", issued: str = "") -> dict:
        return {"unit": unit, "role": role, "issued": issued, "csrf": secrets.token_urlsafe(24)}

    def dump(self, session: dict) -> str:
        return self._signer.dumps(session)

    def load(self, cookie: str | None) -> dict | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is one too
            return None
        return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None


def csrf_ok(session: dict | None, token: object) -> bool:
    return session is not None and isinstance(token, str) and hmac.compare_digest(session["csrf"], token)


class Throttle:
    """Failed sign-ins per key (a unit, an address) within a sliding window."""

    def __init__(self, attempts: int, window_seconds: float):
        self.attempts, self.window = attempts, window_seconds
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.attempts

    def fail(self, key: str) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class Guard:
    """ASGI middleware: security headers on every response, and a request body over `max_bytes`
    refused before it is read (declared length) or as soon as it passes the limit (streamed)."""

    def __init__(self, app, max_bytes: int, too_large_page: str):
        self.app, self.max_bytes, self.too_large = app, max_bytes, too_large_page

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(scope, receive, send_with_headers)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge()
            return message

        try:
            await self.app(scope, counted, send_with_headers)
        except TooLarge:
            await self._refuse(scope, receive, send_with_headers)

    async def _refuse(self, scope, receive, send):
        response = HTMLResponse(self.too_large, status_code=413, headers={"connection": "close"})
        await response(scope, receive, send)


class TooLarge(Exception):
    pass

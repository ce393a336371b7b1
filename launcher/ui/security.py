"""Who may use the dashboard and how: loopback by default, a token for any other host, CSRF on every POST,
headers that keep pages from being framed, sniffed or leaking the token in a Referer."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "launcher_ui_token"
TOKEN_HEADER = "x-launcher-token"
CSRF_FIELD = "csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


class Access(BaseModel):
    """token: None on loopback (no login); otherwise required on every request. csrf: per server start."""

    token: str | None = None
    csrf: str = Field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_host(cls, host: str, token: str | None = None) -> Access:
        if host in LOOPBACK_HOSTS:
            return cls(token=token)
        return cls(token=token or secrets.token_urlsafe(24))

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())

    def token_ok(self, sent: str | None) -> bool:
        return self.token is None or (bool(sent) and hmac.compare_digest(sent.encode(), self.token.encode()))


def same_origin(request: Request) -> bool:
    """A browser's POST names its page's origin; one from another site is refused even with a stolen form."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True  # non-browser clients (curl with the token) send none; the CSRF token still applies
    # "null" is what a sandboxed frame or a no-referrer page elsewhere sends: not one of ours.
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


class AccessMiddleware:
    """Token check (header, cookie, or `?token=` once, which becomes a cookie) and security headers."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.access.token is not None:
            from_query = request.query_params.get("token")
            if from_query is not None and request.method == "GET" and self.access.token_ok(from_query):
                # Trade the URL token for a cookie at once, so it leaves the address bar and the history.
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response: Response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.access.token, httponly=True, samesite="strict")
                await self._send(response, scope, receive, send)
                return
            sent = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
            authorization = request.headers.get("authorization", "")
            if authorization.lower().startswith("bearer "):
                sent = authorization[7:]
            if not self.access.token_ok(sent):
                response = PlainTextResponse(
                    "401: this dashboard needs its token: open the URL `launcher ui` printed", status_code=401
                )
                await self._send(response, scope, receive, send)
                return

        async def with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in _SECURITY_HEADERS:
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _send(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in _SECURITY_HEADERS:
            response.headers.setdefault(name.decode(), value.decode())
        await response(scope, receive, send)


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # our own POSTs carry their Origin; nothing leaves the site
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]

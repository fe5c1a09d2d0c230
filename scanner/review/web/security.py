"""The review server's guards: one place that decides who may talk to it.

A local web page is reachable by every program and every web page the
clinician's browser visits, so each request passes, in order:

1. a Host check (only ``127.0.0.1:PORT`` / ``localhost:PORT``: DNS rebinding);
2. the session cookie, obtained once by exchanging the random per-run token
   printed in the URL (single use, so a URL seen later in a process list or
   the browser history opens nothing);
3. the idle lock (after ``idle_seconds`` without a request the vault is
   closed and every page asks for the passphrase again);
4. on every POST, a CSRF token (per session, checked in constant time) and,
   when the browser sends one, an Origin matching the server.

Every response carries ``Cache-Control: no-store`` and a strict CSP: no
script, style, font or image comes from anywhere but this server.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

COOKIE_NAME = "inklock_review"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
DEFAULT_IDLE_MINUTES = 15

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False if either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass
class Guard:
    """Per-run secrets, the bound port and the idle clock of one review server.

    ``clock`` is injectable so the idle lock can be tested without waiting.
    The server is single-user: one cookie secret and one CSRF token per run.
    """

    idle_seconds: float = DEFAULT_IDLE_MINUTES * 60
    clock: Callable[[], float] = time.monotonic
    port: int | None = None
    url_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    cookie_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token_used: bool = False
    last_seen: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.last_seen = self.clock()

    # -- host (DNS rebinding)

    def host_allowed(self, host: str | None) -> bool:
        """Only the loopback names with our own port are accepted."""
        if not host or self.port is None:
            return False
        return host.lower() in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def origin_allowed(self, origin: str | None) -> bool:
        """A POST's Origin (when the browser sends one) must be this server.

        "null" is let through: with ``Referrer-Policy: no-referrer`` browsers send
        it on our own form posts. The CSRF token and the SameSite=Strict cookie
        still guard those requests.
        """
        if origin is None or origin == "null":
            return True
        parts = urlsplit(origin)
        return parts.scheme == "http" and self.host_allowed(parts.netloc)

    # -- token -> cookie

    def exchange(self, token: str | None) -> bool:
        """Accept the URL token once; True means: set the cookie now."""
        with self._lock:
            if self.token_used or not same(token, self.url_token):
                return False
            self.token_used = True
            self.last_seen = self.clock()
            return True

    def cookie_ok(self, value: str | None) -> bool:
        return same(value, self.cookie_secret)

    def csrf_ok(self, value: str | None) -> bool:
        return same(value, self.csrf_token)

    # -- idle lock

    def idle(self) -> bool:
        """True when no request came for longer than the idle limit."""
        return self.clock() - self.last_seen > self.idle_seconds

    def touch(self) -> None:
        """Record activity (any authenticated request)."""
        self.last_seen = self.clock()


def cookie_args(guard: Guard) -> dict:
    """Arguments for ``response.set_cookie``: a session cookie scripts cannot read."""
    return {"key": COOKIE_NAME, "value": guard.cookie_secret, "httponly": True, "samesite": "Strict",
            "path": "/", "secure": False}

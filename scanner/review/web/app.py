"""The review web app: the Flask app factory, its request guard and headers.

The state one review run holds (the vault behind its lock, the guard, the form
geometry) is in :mod:`scanner.review.web.state`; every page module reaches it
through :func:`~scanner.review.web.state.state_of` and registers its own routes
(``register(app)``), so the app imports the pages and no page imports the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from scanner.review.web import blanks, notepage, searchpage, security, views
from scanner.review.web.security import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, Guard
from scanner.review.web.state import ReviewState, VaultHolder, state_of

# The page modules, each with ``register(app)`` for its routes (views also registers the error pages).
PAGES = (views, notepage, searchpage, blanks)

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
SQLITE_MAX_ID = 2**63 - 1
_log = logging.getLogger("inklock.review")
# Endpoints reachable while locked (the unlock form itself and its assets).
OPEN_WHILE_LOCKED = {"unlock", "unlock_post", "static"}


def create_app(vault: Any, opener: Callable[[str], Any], *, template_dirs: Iterable[Path] = (),
               idle_minutes: float = security.DEFAULT_IDLE_MINUTES, clock: Callable[[], float] = time.monotonic,
               port: int | None = None) -> Flask:
    """Build the review app around an unlocked vault.

    ``opener(passphrase)`` reopens the vault after the idle lock. ``port`` is
    the port the Host header must name; :func:`scanner.review.web.server.make_server`
    sets it once the socket is bound. ``clock`` is injectable for tests.
    """
    app = Flask("scanner.review.web", template_folder=str(TEMPLATE_DIR), static_folder=str(STATIC_DIR),
                static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, TEMPLATES_AUTO_RELOAD=False, JSON_SORT_KEYS=False)
    # Every <int:...> in a route is an SQLite row id: a larger number matches no route (404),
    # rather than reaching the database and failing there (OverflowError).
    app.url_map.converters["int"] = RowIdConverter
    guard = Guard(idle_seconds=idle_minutes * 60.0, clock=clock, port=port)
    state = ReviewState(VaultHolder(vault, opener), guard, template_dirs)
    app.extensions["inklock"] = state
    app.before_request(_guard_request)
    app.after_request(_secure_headers)
    app.context_processor(lambda: {"csrf_token": guard.csrf_token, "csrf_field": CSRF_FIELD})
    for page in PAGES:
        page.register(app)
    app.register_error_handler(Exception, _unexpected)
    return app


class RowIdConverter(IntegerConverter):
    """``int`` in a route: 0 to SQLite's largest row id."""

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=SQLITE_MAX_ID if max is None else max,
                         signed=signed)


def _unexpected(exc: Exception) -> Any:
    """No traceback on the terminal: one log line (no request data), one sentence to the page."""
    if isinstance(exc, HTTPException):
        return exc
    _log.error("inklock review: unexpected error (%s) in %s; the page was answered with an error.",
               type(exc).__name__, request.endpoint or "an unknown page")
    if _wants_json():
        return jsonify({"ok": False, "error": "This page could not be answered because of an unexpected error."}), 500
    return Response("This page could not be answered because of an unexpected error.\n", status=500,
                    mimetype="text/plain")


def _refuse(status: int, text: str) -> Response:
    # Deliberately bare: a refused request learns nothing about the vault.
    return Response(text + "\n", status=status, mimetype="text/plain")


def _wants_json() -> bool:
    return request.method != "GET" and (request.is_json or CSRF_HEADER in request.headers)


def _guard_request() -> ResponseReturnValue | None:
    """Host, cookie, CSRF and idle checks, in that order, for every request."""
    state = state_of(current_app)
    guard = state.guard
    if not guard.host_allowed(request.host):
        return _refuse(400, "Bad host.")
    if request.endpoint == "auth":
        return None
    if not guard.cookie_ok(request.cookies.get(COOKIE_NAME)):
        return _refuse(403, "Forbidden: open the link that 'inklock review' printed.")
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
        if not guard.origin_allowed(request.headers.get("Origin")) or not guard.csrf_ok(sent):
            return _refuse(403, "Forbidden: the request did not carry this page's security token; reload the page.")
    if request.endpoint == "static":
        return None
    if state.lock_if_idle():
        if request.endpoint in OPEN_WHILE_LOCKED:
            return None
        if _wants_json():
            return jsonify({"locked": True, "unlock": url_for("unlock")}), 401
        return redirect(url_for("unlock", next=_local_path()))
    guard.touch()
    return None


def _local_path() -> str:
    path = request.full_path
    return path.removesuffix("?")


def _secure_headers(response: Response) -> Response:
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


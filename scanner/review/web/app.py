"""The review web app: a Flask app factory and the state one review run holds.

The app owns the unlocked vault for the length of a run. All vault access goes
through :meth:`VaultHolder.use`, which serialises it (the server is threaded;
a SQLCipher connection must not be used by two threads at once) and refuses
while the app is locked. Locking closes the vault; unlocking opens it again
with the passphrase, so an idle review page holds no open database.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from flask import Flask, Response, current_app, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from scanner.errors import Refused
from scanner.review.web import security
from scanner.review.web.security import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, Guard

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
SQLITE_MAX_ID = 2**63 - 1
_log = logging.getLogger("inklock.review")
# Endpoints reachable while locked (the unlock form itself and its assets).
OPEN_WHILE_LOCKED = {"unlock", "unlock_post", "static"}


class VaultLocked(Refused):
    """The review page is locked; the passphrase opens it again."""


class VaultHolder:
    """The vault of a review run, closed while locked.

    ``opener(passphrase)`` opens the vault again (it raises
    :class:`scanner.errors.WrongPassphrase` on a wrong passphrase).
    """

    def __init__(self, vault: Any, opener: Callable[[str], Any]):
        self._vault = vault
        self._opener = opener
        self._lock = threading.RLock()

    @property
    def locked(self) -> bool:
        return self._vault is None

    @contextmanager
    def use(self) -> Iterator[Any]:
        """The open vault, used by one thread at a time; :class:`VaultLocked` while locked."""
        with self._lock:
            if self._vault is None:
                raise VaultLocked("The review page is locked; enter the passphrase to go on.")
            yield self._vault

    def lock(self) -> None:
        """Close the vault (waits for a request that is using it to finish)."""
        with self._lock:
            if self._vault is not None:
                self._vault.close()
                self._vault = None

    def unlock(self, passphrase: str) -> None:
        """Open the vault again; raises WrongPassphrase and stays locked when it is wrong."""
        vault = self._opener(passphrase)
        with self._lock:
            if self._vault is not None:
                vault.close()
            else:
                self._vault = vault


class ReviewState:
    """Everything one review run holds: guard (secrets, idle clock), vault, form geometry."""

    def __init__(self, holder: VaultHolder, guard: Guard, template_dirs: Iterable[Path]):
        self.holder = holder
        self.guard = guard
        self.template_dirs = [Path(p) for p in template_dirs]
        self._layouts: dict[tuple[str, str], tuple[Any, Any, str | None]] = {}
        self._searcher: Any = None

    def lock_if_idle(self) -> bool:
        """Lock when the idle time has passed; True when the app is (now) locked."""
        if not self.holder.locked and self.guard.idle():
            self.lock()
        return self.holder.locked

    def lock(self) -> None:
        """Close the vault and forget what was cached from it (the search vocabulary)."""
        self._searcher = None
        self.holder.lock()

    def form(self, template_name: str, page_size: str) -> tuple[Any, Any, str | None]:
        """(template, geometry export, problem) for a sheet; None parts when they cannot be loaded.

        Templates are data that can be wrong; the page then still works, without boxes.
        """
        cache_key = (template_name, page_size)
        if cache_key not in self._layouts:
            try:
                from forms.geometry import layout
                from forms.model import get_template

                template = get_template(template_name, self.template_dirs)
                self._layouts[cache_key] = (template, layout(template, page_size), None)
            except (ImportError, ValueError, KeyError) as exc:  # forms raises ValueError subclasses
                return None, None, f"The form '{template_name}' could not be laid out ({exc})."
        return self._layouts[cache_key]

    def searcher(self, vault: Any, highlight: tuple[str, str]) -> Any:
        """One :class:`scanner.vault.search.Searcher` per open vault (its vocabulary cache survives between queries).

        Call only inside ``holder.use()``: that lock is what keeps two
        requests from sharing it at once.
        """
        from functools import partial

        from scanner.hand import exemplars
        from scanner.vault.search import Searcher

        s = self._searcher
        if s is None or s.db is not vault.db or s.highlight != highlight:
            s = self._searcher = Searcher(vault.db, highlight=highlight, hand=partial(exemplars.search_by_hand, vault))
        return s

    def close(self) -> None:
        self.lock()


def state_of(app: Flask) -> ReviewState:
    """The review state of an app made by :func:`create_app`."""
    return app.extensions["inklock"]


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

    from scanner.review.web import views

    views.register(app)
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


def _guard_request() -> Response | None:
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
    return path[:-1] if path.endswith("?") else path


def _secure_headers(response: Response) -> Response:
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


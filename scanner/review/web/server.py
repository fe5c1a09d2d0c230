"""Serving the review app: werkzeug's threaded server, bound to 127.0.0.1 only.

The address is fixed here, not an option: the review page shows health
information and must never be reachable from the network.
"""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server as _werkzeug_server

from scanner.review.web.state import state_of

HOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """No request log: paths and the one-time token stay off the terminal."""

    def log_request(self, *args, **kwargs) -> None:  # noqa: D102
        return None


def make_server(app: Flask, port: int = 0) -> BaseWSGIServer:
    """Bind ``app`` to 127.0.0.1:``port`` (0 = any free port) and tell its Host check the port."""
    server = _werkzeug_server(HOST, port, app, threaded=True, request_handler=_QuietHandler)
    state_of(app).guard.port = server.server_port
    return server


def review_url(app: Flask) -> str:
    """The one-time link that opens the review page (exchanged for a cookie on first use)."""
    guard = state_of(app).guard
    return f"http://{HOST}:{guard.port}/auth?token={guard.url_token}"


def start_idle_watch(app: Flask, stop: threading.Event, every_seconds: float = 15.0) -> threading.Thread:
    """Lock the vault once the idle time has passed, even if no request comes to notice it."""
    state = state_of(app)
    interval = max(0.05, min(every_seconds, state.guard.idle_seconds / 4))

    def watch() -> None:
        while not stop.wait(interval):
            state.lock_if_idle()

    thread = threading.Thread(target=watch, name="inklock-idle-lock", daemon=True)
    thread.start()
    return thread

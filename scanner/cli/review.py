"""``inklock review``: serve the local review page until Ctrl+C."""

from __future__ import annotations

import threading
import webbrowser

import click

from scanner.cli.context import AppContext, flush_warnings, pass_app
from scanner.errors import UsageError


@click.command("review")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the link instead of opening a browser.")
@click.option("--idle-minutes", type=click.FloatRange(min=0.5), default=15, show_default=True,
              help="Lock the page (asking for the passphrase again) after this long without use.")
@pass_app
def review(app: AppContext, port: int, no_browser: bool, idle_minutes: float) -> None:
    """Open the local review page to confirm or correct every field.

    The page is served on 127.0.0.1 only; the printed link works once (it
    becomes a cookie in your browser). Press Ctrl+C to stop.
    """
    from scanner.vault.vault import Vault
    from scanner.review.web import create_app, make_server, review_url, state_of
    from scanner.review.web.server import start_idle_watch

    vault_dir = app.vault_dir
    vault = Vault.open(vault_dir, app.passphrase())
    web = create_app(vault, lambda passphrase: Vault.open(vault_dir, passphrase),
                     template_dirs=app.template_dirs(), idle_minutes=idle_minutes)
    try:
        server = make_server(web, port)
    except OSError as exc:
        state_of(web).close()
        raise UsageError(f"Cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); choose another --port.") from None
    url = review_url(web)
    flush_warnings()  # it runs until stopped: say them now
    click.echo(f"Review page: {url}")
    click.echo("Only this computer can open it, and the link works once. Press Ctrl+C to stop.")
    if not no_browser:
        webbrowser.open(url)
    stop = threading.Event()
    start_idle_watch(web, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Review stopped; the vault is closed.")
    finally:
        stop.set()
        server.server_close()
        state_of(web).close()

"""Blank sheets in review (SPEC 3): the clinician gives a sheet printed blank its client, date and session.

The handwritten header is shown as scanned; what recognition read in it is
offered as a suggestion (the clients whose codes look closest come first, the
date and number are filled in to be checked), never applied by itself.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import Flask, Response, current_app, make_response, redirect, render_template, request, url_for

from scanner.vault import store
from scanner.errors import BadInput, UsageError
from scanner.review.web.state import state_of

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

CLOSEST = 3        # clients offered first, by likeness to the handwritten code
CLOSE_ENOUGH = 60  # rapidfuzz ratio (0..100) below which a code is not offered as close


def closest_clients(guess: str, clients: list[str]) -> list[str]:
    """The client codes most like what was read in the header (best first), at most :data:`CLOSEST`."""
    text = (guess or "").strip().lower()
    if not text or not clients:
        return []
    from rapidfuzz import fuzz, process

    found = process.extract(text, {c: c.lower() for c in clients}, scorer=fuzz.ratio, limit=CLOSEST,
                            score_cutoff=CLOSE_ENOUGH)
    return [key for _value, _score, key in found]


def _blank_sheet(vault: Vault, session: int) -> dict[str, Any]:
    sheet = store.get_sheet(vault, session)
    if not sheet["blank"]:
        raise BadInput(f"Session {sheet['id']} was printed for client {sheet['client']}; it is not a blank sheet.")
    return sheet


def _page(vault: Vault, sheet: dict[str, Any], form: dict[str, str] | None, error: str | None, status: int = 200):
    header = store.sheet_header(vault, sheet["sheet_id"])
    guess = (header or {}).get("guess") or {}
    clients = store.list_clients(vault)
    close = closest_clients(guess.get("client", ""), clients)
    if form is None:  # first view: the sheet's own values, else the reading as a suggestion to check
        form = {"client": sheet["client"] or "", "new_client": "",
                "date": sheet["date"] or guess.get("date") or "",
                "session_number": str(sheet["session_number"] or guess.get("session") or "")}
    pages = store.sheet_pages(vault, sheet["sheet_id"])
    html = render_template("blank.html", sheet=sheet, header=header, guess=guess, clients=clients, close=close,
                           others=[c for c in clients if c not in close], form=form, error=error, pages=pages)
    return make_response(html, status)


def blank_sheet(session: int) -> Any:
    """The header crop, the suggestion, and the form that gives the sheet its client."""
    with state_of(current_app).holder.use() as vault:
        sheet = _blank_sheet(vault, session)
        return _page(vault, sheet, None, None)


def blank_sheet_assign(session: int) -> Any:
    """Record the clinician's client, date and session number for the sheet (CSRF-checked by the app)."""
    form = {k: (request.form.get(k) or "").strip() for k in ("client", "new_client", "date", "session_number")}
    with state_of(current_app).holder.use() as vault:
        sheet = _blank_sheet(vault, session)
        try:
            client = _chosen_client(form, store.list_clients(vault))
            store.assign_sheet(vault, sheet["sheet_id"], client, form["date"], form["session_number"])
        except (UsageError, BadInput) as exc:
            return _page(vault, sheet, form, exc.message, 400)
    return redirect(url_for("session", session=sheet["id"], msg="client-assigned"))


def _chosen_client(form: dict[str, str], clients: list[str]) -> str:
    picked, typed = form["client"], form["new_client"]
    if picked and typed and picked.lower() != typed.lower():
        raise UsageError("Choose a client from the list or type a new code, not both.")
    if not picked and not typed:
        raise UsageError("Choose the client this sheet belongs to, or type a new client code.")
    if picked and picked not in clients:
        raise UsageError(f"'{picked}' is not one of your clients; type it as a new client code.")
    return picked or typed


def header_image(session: int) -> Response:
    """The handwritten header of a blank sheet's page 1 (PNG, decrypted in memory)."""
    with state_of(current_app).holder.use() as vault:
        sheet = store.get_sheet(vault, session)
        header = store.sheet_header(vault, sheet["sheet_id"])
        if header is None:
            raise BadInput(f"Session {sheet['id']} has no scanned header.")
        data = vault.get_file(header["crop_file"])
    response = make_response(data)
    response.mimetype = "image/png"
    return response


def register(app: Flask) -> None:
    """Attach this page's routes to ``app`` (endpoint names are used by url_for in the templates)."""
    for rule, endpoint, view, methods in (
        ("/sheet/<int:session>/client", "blank_sheet", blank_sheet, ["GET"]),
        ("/sheet/<int:session>/client", "blank_sheet_assign", blank_sheet_assign, ["POST"]),
        ("/sheet/<int:session>/header.png", "header_image", header_image, ["GET"]),
    ):
        app.add_url_rule(rule, endpoint, view, methods=methods)

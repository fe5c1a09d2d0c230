"""The progress-note page's actions (issue #14): clinician settings, sign, addendum.

Each is a plain form post (CSRF-checked by the app) that redirects back to the
note; a refusal (no name set, already signed, fields pending) is the one-sentence
error page every view shows.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from flask import Flask, current_app, redirect, request, url_for
from werkzeug.wrappers import Response

from scanner.notes import clinician
from scanner.notes import progress as notes
from scanner.errors import UsageError
from scanner.review.web.state import state_of

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

FORMATS = notes.FORMATS


def _fmt() -> str:
    fmt = (request.form.get("format") or "soap").lower()
    if fmt not in FORMATS:
        raise UsageError(f"'{fmt}' is not a progress-note format; use {', '.join(FORMATS)}.")
    return fmt


def _back(session: int, fmt: str, msg: str) -> Response:
    return redirect(url_for("note", session=session, format=fmt, msg=msg) + "#note-preview")


def note_context(vault: Vault, session: int, fmt: str) -> dict[str, Any]:
    """What the note page shows beyond the draft: the signed note, its addenda, the clinician, the copy text."""
    signed = notes.signed_note(vault, session)
    ctx: dict[str, Any] = {"clinician": clinician.get_clinician(vault), "signed": signed, "addenda": [],
                           "copy_text": None}
    if signed is not None:
        ctx["addenda"] = notes.addenda(vault, session)
        ctx["signed_note"] = notes.ProgressNote.from_dict(signed["content"])
        ctx["copy_text"] = notes.signed_export(vault, signed, None, "txt").decode("utf-8")
    return ctx


def settings_post() -> Response:
    """Save the clinician's name, credentials and licence; back to where the form was."""
    with state_of(current_app).holder.use() as vault:
        clinician.set_clinician(vault, name=request.form.get("name", ""),
                                credentials=request.form.get("credentials", ""),
                                licence=request.form.get("licence", ""))
    session = request.form.get("session", type=int)
    if session is not None:
        return _back(session, _fmt(), "settings-saved")
    return redirect(url_for("queue"))


def sign_post(session: int) -> Response:
    fmt = _fmt()
    with state_of(current_app).holder.use() as vault:
        notes.sign_note(vault, session, fmt, confirm_code=request.form.get("confirm_code") == "yes")
    return _back(session, fmt, "signed")


def addendum_post(session: int) -> Response:
    with state_of(current_app).holder.use() as vault:
        signed = notes.signed_note(vault, session)
        notes.add_addendum(vault, session, request.form.get("text", ""))
    return _back(session, signed["format"] if signed else "soap", "addendum-added")


def register(app: Flask) -> None:
    """Attach this page's routes to ``app`` (endpoint names are used by url_for in the templates)."""
    for rule, endpoint, view, methods in (
        ("/session/<int:session>/note/sign", "note_sign", sign_post, ["POST"]),
        ("/session/<int:session>/note/addendum", "note_addendum", addendum_post, ["POST"]),
        ("/settings", "settings_post", settings_post, ["POST"]),
    ):
        app.add_url_rule(rule, endpoint, view, methods=methods)

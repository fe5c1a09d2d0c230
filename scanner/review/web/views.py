"""The review pages and their JSON endpoints.

Every view reaches the vault through ``state.holder.use()`` (one thread at a
time, refused while locked). Health information leaves only in responses that
carry ``Cache-Control: no-store`` (added to every response by the app).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from scanner.notes import progress as notes
from scanner import values
from scanner.review import risk
from scanner.review.confirm import confirm_field, reopen_field
from scanner.vault import store
from scanner.errors import BadInput, BadValue, InklockError, Refused, UnconfirmedFields, UsageError, WrongPassphrase
from scanner.review.web import fields as fv
from scanner.review.web import notepage, unmatched
from scanner.review.web.security import cookie_args
from scanner.review.web.state import VaultLocked, state_of

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

NOTE_FORMATS = values.NOTE_FORMATS
NOTE_KINDS = {"md": "text/markdown; charset=utf-8", "txt": "text/plain; charset=utf-8",
              "pdf": "application/pdf", "json": "application/json"}
MESSAGES = {
    "assigned-read": "The page was assigned and read; its fields are now in the session.",
    "discarded": "The page was discarded.",
    "unlocked": "Unlocked.",
    "client-assigned": "The sheet now belongs to the client, date and session you chose.",
    "settings-saved": "Your name, credentials and licence were saved.",
    "signed": "The note is signed; its progress fields can no longer change (add an addendum instead).",
    "addendum-added": "The addendum was added after the signed note.",
}


def register(app: Flask) -> None:
    """Attach these pages' routes and the error pages to ``app`` (endpoint names are used by url_for in the templates).

    The note's actions, the search page and the blank-sheet pages register their own
    (:mod:`~scanner.review.web.notepage`, :mod:`~scanner.review.web.searchpage`, :mod:`~scanner.review.web.blanks`).
    """
    rules: list[tuple[str, str, Callable[..., Any], list[str]]] = [
        ("/auth", "auth", auth, ["GET"]),
        ("/", "queue", queue, ["GET"]),
        ("/session/<int:session>", "session", session_page, ["GET"]),
        ("/session/<int:session>/page/<int:page>.jpg", "page_image", page_image, ["GET"]),
        ("/field/<int:field_id>/crop.png", "crop", crop, ["GET"]),
        ("/session/<int:session>/field/<key>/confirm", "confirm", confirm, ["POST"]),
        ("/session/<int:session>/confirm-many", "confirm_many", confirm_many, ["POST"]),
        ("/session/<int:session>/field/<key>/reopen", "reopen", reopen, ["POST"]),
        ("/session/<int:session>/field/<key>/keep", "keep", keep, ["POST"]),
        ("/session/<int:session>/keep-private", "keep_private", keep_private, ["POST"]),
        ("/session/<int:session>/note", "note", note_preview, ["GET"]),
        ("/session/<int:session>/note/export", "note_export", note_export, ["POST"]),
        ("/unmatched/<int:uid>", "unmatched_page", unmatched_page, ["GET"]),
        ("/unmatched/<int:uid>/thumb.jpg", "unmatched_thumb", unmatched_thumb, ["GET"]),
        ("/unmatched/<int:uid>/image.jpg", "unmatched_image", unmatched_image, ["GET"]),
        ("/unmatched/<int:uid>/assign", "unmatched_assign", unmatched_assign, ["POST"]),
        ("/unmatched/<int:uid>/discard", "unmatched_discard", unmatched_discard, ["POST"]),
        ("/trends", "trends", trends_index, ["GET"]),
        ("/trends/<client>", "trends_client", trends_page, ["GET"]),
        ("/unlock", "unlock", unlock, ["GET"]),
        ("/unlock", "unlock_post", unlock_post, ["POST"]),
        ("/lock", "lock", lock, ["POST"]),
    ]
    for rule, endpoint, view, methods in rules:
        app.add_url_rule(rule, endpoint, view, methods=methods)
    app.register_error_handler(VaultLocked, _locked)
    app.register_error_handler(InklockError, _problem)
    app.register_error_handler(404, lambda e: _page_error(404, "There is nothing at this address."))
    app.register_error_handler(405, lambda e: _page_error(405, "That is not allowed here."))


def _state():
    return state_of(current_app)


# ---------------------------------------------------------------- access


def auth() -> ResponseReturnValue:
    """Exchange the one-time URL token for the session cookie, then drop the token from the URL."""
    guard = _state().guard
    if guard.exchange(request.args.get("token")):
        response = redirect(url_for("queue"))
        response.set_cookie(**cookie_args(guard))
        return response
    if guard.cookie_ok(request.cookies.get(cookie_args(guard)["key"])):
        return redirect(url_for("queue"))  # the link clicked again in a browser that already has access
    return Response("Forbidden: this link is not valid (each link works once); run 'inklock review' again.\n",
                    status=403, mimetype="text/plain")


def unlock() -> Any:
    if not _state().holder.locked:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("unlock.html", next=_safe_next(request.args.get("next")), error=None)


def unlock_post() -> Any:
    state = _state()
    target = _safe_next(request.form.get("next"))
    if not state.holder.locked:
        return redirect(target)
    try:
        state.holder.unlock(request.form.get("passphrase", ""))
    except WrongPassphrase:
        return render_template("unlock.html", next=target, error="That passphrase does not open the vault."), 403
    state.guard.touch()
    return redirect(target)


def lock() -> ResponseReturnValue:
    _state().lock()
    return redirect(url_for("unlock"))


def _safe_next(target: str | None) -> str:
    """Only a path on this server (never another host) may follow an unlock."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("queue")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("queue")


# ---------------------------------------------------------------- queue


def queue() -> str:
    with _state().holder.use() as vault:
        everything = store.list_sessions(vault)
        waiting = [s for s in everything if s["pending"] and s["pages"]]
        ready = [s for s in everything if not s["pending"] and s["pages"]][-12:][::-1]
        risk.add_risk(vault, waiting + ready, _state().template_dirs)  # only the rows shown
        pages = unmatched.open_pages(vault)
        blank = store.blank_sheets(vault)
    return render_template("queue.html", waiting=waiting, ready=ready, unmatched=pages, blank=blank,
                           message=MESSAGES.get(request.args.get("msg", "")))


def unmatched_page(uid: int, error: str | None = None, status: int = 200) -> Any:
    with _state().holder.use() as vault:
        row = unmatched.get(vault, uid)
        sessions = store.list_sessions(vault)[::-1]
    return render_template("unmatched.html", row=row, sessions=sessions, error=error), status


def unmatched_thumb(uid: int) -> Response:
    with _state().holder.use() as vault:
        row = unmatched.get(vault, uid)
        data = vault.get_file(row["thumb_file"] or row["image_file"])
    return _image(data, "image/jpeg")


def unmatched_image(uid: int) -> Response:
    with _state().holder.use() as vault:
        data = vault.get_file(unmatched.get(vault, uid)["image_file"])
    return _image(data, "image/jpeg")


def unmatched_assign(uid: int) -> Any:
    try:
        page = int(request.form.get("page", ""))
    except ValueError:
        raise UsageError("Choose the page number of the sheet this page belongs to.") from None
    session = request.form.get("session", "").strip()
    if not session:
        raise UsageError("Choose the session this page belongs to.")
    with _state().holder.use() as vault:
        sheet = store.get_sheet(vault, session)
        _template, layout, _problem_text = _state().form(sheet["template"], sheet["page_size"])
        numbers = [p.number for p in layout.pages] if layout else list(range(1, 10))
        if page not in numbers:
            raise UsageError(f"Sheet {sheet['sheet_id']} has pages {', '.join(map(str, numbers))}, not {page}.")
        try:
            unmatched.assign(vault, uid, sheet["id"], page, template_dirs=_state().template_dirs)
        except BadInput as exc:  # e.g. no markers on the page: say so beside the page, nothing changed
            problem: str | None = exc.message
        else:
            problem = None
    if problem is not None:
        return unmatched_page(uid, problem, 400)
    return redirect(url_for("queue", msg="assigned-read"))


def unmatched_discard(uid: int) -> ResponseReturnValue:
    with _state().holder.use() as vault:
        unmatched.discard(vault, uid)
    return redirect(url_for("queue", msg="discarded"))


# ---------------------------------------------------------------- session


def _session_data(vault: Vault, session: int) -> dict[str, Any]:
    sheet = store.get_sheet(vault, session)
    shown = store.show_session(vault, sheet["id"])
    template, layout, problem = _state().form(sheet["template"], sheet["page_size"])
    at_risk = risk.flagged_keys(template, shown["fields"]) if template is not None else set()
    words = risk.risk_words(template, shown["fields"]) if template is not None else []
    conflict = (notes.conflicting_attendance(template.fields, {r["key"]: risk.shown_value(r) for r in shown["fields"]})
                if template is not None else None)
    return {"sheet": sheet, "show": shown, "layout": layout, "problem": problem, "risk_keys": at_risk,
            "risk": words, "conflicts": {conflict} if conflict else set()}


def session_page(session: int) -> str:
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        hand = _hand_suggestions(vault, data["show"]["fields"])
    show, layout = data["show"], data["layout"]
    views = fv.build_views(show["fields"], layout, hand, data["risk_keys"], data["conflicts"])
    titles = {p.number: p.title for p in layout.pages} if layout else {}
    received = {p["page"] for p in show["pages"]}
    overlays = [
        {"page": p["page"], "fields": [v for v in views if v.page == p["page"] and v.bbox]}
        for p in show["pages"]
    ]
    missing_pages = [n for n in titles if n not in received]
    progress_pending = [v for v in views if v.privacy == "progress" and not v.confirmed]
    size = list(layout.size) if layout else [612, 792]
    return render_template(
        "session.html", show=show, sheet=data["sheet"], sections=fv.sections(views, titles), views=views,
        message=MESSAGES.get(request.args.get("msg", "")),
        overlays=overlays, page_size=size, problem=data["problem"], missing_pages=missing_pages,
        progress_pending=progress_pending, pending=sum(1 for v in views if not v.confirmed and not v.kept),
        titles=titles, formats=NOTE_FORMATS, risk=data["risk"],
        keepable=sum(1 for v in views if v.keepable and not v.kept),
    )


def _hand_suggestions(vault: Vault, fields: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Suggestions from the clinician's confirmed handwriting for doubtful written fields (issue #7)."""
    from scanner.hand import exemplars

    out = {}
    for f in fields:
        if f["status"] != "confirmed" and fv.wants_hand_suggestion(f):
            try:
                out[f["id"]] = exemplars.suggest(vault, f["id"])
            except exemplars.LEARN_ERRORS:
                continue  # a damaged crop: the OCR draft is still offered
    return out


def page_image(session: int, page: int) -> Response:
    with _state().holder.use() as vault:
        show = store.show_session(vault, session)
        match = [p for p in show["pages"] if p["page"] == page]
        if not match:
            abort(404)
        data = vault.get_file(match[0]["image_file"])
    return _image(data, "image/jpeg")


def crop(field_id: int) -> Response:
    with _state().holder.use() as vault:
        crop_file = store.crop_file(vault, field_id)
        if crop_file is None:
            abort(404)
        data = vault.get_file(crop_file)
    return _image(data, "image/png")


def _image(data: bytes, mimetype: str) -> Response:
    response = make_response(data)
    response.mimetype = mimetype
    return response


def _field_geo(layout: Any, key: str) -> Any:
    hit = fv.layout_fields(layout).get(key)
    return hit[2] if hit else None


def _parse(row: dict[str, Any], typed: Any, layout: Any) -> Any:
    """The checked value of one field from what the page sent (text in parse_value's forms)."""
    if not isinstance(typed, str):
        raise UsageError("The value must be sent as text.")
    geo = _field_geo(layout, row["key"])
    # Without the form's geometry a choice takes several answers when it was read with several.
    return values.parse(row["kind"], typed, geo, None if geo else isinstance(row["value"], list))


def _counts(vault: Vault, sheet_id: str) -> dict[str, int]:
    """The session's waiting counts, stamped in the order they were taken (see ReviewState.count_stamp)."""
    return {**store.field_counts(vault, sheet_id), "stamp": _state().count_stamp()}


def _field_row(data: dict[str, Any], key: str) -> dict[str, Any]:
    for f in data["show"]["fields"]:
        if f["key"] == key:
            return f
    raise BadInput(f"Session {data['sheet']['id']} has no field '{key}'.")


def confirm(session: int, key: str) -> Response:
    """Confirm one field with the value the page shows (JSON: {"typed": text})."""
    body = request.get_json(silent=True) or {}
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        row = _field_row(data, key)
        value = _parse(row, body.get("typed"), data["layout"])
        done = confirm_field(vault, data["sheet"]["id"], key, value=value)
        counts = _counts(vault, data["sheet"]["sheet_id"])
    return jsonify({"ok": True, "key": key, "status": "confirmed", "action": done["action"],
                    "text": fv.as_text(row["kind"], value), **counts})


def confirm_many(session: int) -> Response:
    """Confirm several fields at once (an explicit act); all are checked before any is confirmed."""
    body = request.get_json(silent=True) or {}
    items = body.get("fields")
    if not isinstance(items, list) or not items:
        raise UsageError("No fields were sent to confirm.")
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        parsed = []
        for item in items:
            if not isinstance(item, dict):
                raise UsageError("Each field must be sent as {key, typed}.")
            row = _field_row(data, str(item.get("key")))
            # Risk answers and range-flagged values are never confirmed in bulk (issue 14).
            if row["key"] in data["risk_keys"]:
                raise Refused(f"{row['key']} is a risk answer; confirm it on its own, not with others.")
            if any(f in fv.CHECK_FLAGS for f in row["flags"]):
                why = "has a box blacked out" if "heavy_mark" in row["flags"] else "was flagged by a range check"
                raise Refused(f"{row['key']} {why}; confirm it on its own, not with others.")
            parsed.append((row, _parse(row, item.get("typed"), data["layout"])))
        for row, _ in parsed:  # a signed session's progress field refuses the whole batch, before any change
            store.refuse_if_signed(vault, data["sheet"], row["key"])
        for row, value in parsed:
            confirm_field(vault, data["sheet"]["id"], row["key"], value=value)
        counts = _counts(vault, data["sheet"]["sheet_id"])
    return jsonify({"ok": True, "confirmed": [r["key"] for r, _ in parsed],
                    "texts": {r["key"]: fv.as_text(r["kind"], v) for r, v in parsed}, **counts})


def keep(session: int, key: str) -> Response:
    """Keep a private line/text field as written (its crop is the record; its reading stays a draft)."""
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        _field_row(data, key)
        store.keep_field(vault, data["sheet"]["id"], key)
        counts = _counts(vault, data["sheet"]["sheet_id"])
    return jsonify({"ok": True, "key": key, "status": "kept", **counts})


def keep_private(session: int) -> Response:
    """Keep every waiting private line/text field of the session as written."""
    with _state().holder.use() as vault:
        sheet = store.get_sheet(vault, session)
        done = store.keep_private(vault, sheet["id"])
        counts = _counts(vault, sheet["sheet_id"])
    return jsonify({"ok": True, "kept": done["kept"], "empty": done["empty"], **counts})


def reopen(session: int, key: str) -> Response:
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        _field_row(data, key)
        reopen_field(vault, data["sheet"]["id"], key)
        counts = _counts(vault, data["sheet"]["sheet_id"])
    return jsonify({"ok": True, "key": key, "status": "pending", **counts})


# ---------------------------------------------------------------- progress note


def _format() -> str:
    fmt = (request.values.get("format") or "soap").lower()
    if fmt not in NOTE_FORMATS:
        raise UsageError(f"'{fmt}' is not a progress-note format; use {', '.join(NOTE_FORMATS)}.")
    return fmt


def note_preview(session: int) -> Any:
    fmt = _format()
    with _state().holder.use() as vault:
        data = _session_data(vault, session)
        extra = notepage.note_context(vault, data["sheet"]["id"], fmt)
        try:
            note, waiting = notes.draft_note(vault, data["sheet"]["id"], fmt), []
            extra["copy_text"] = extra["copy_text"] or notes.render(note, "txt").decode("utf-8")
        except UnconfirmedFields as exc:
            note, waiting = None, exc.fields
        if extra["signed"] is not None:  # the signed note is the note, whatever the fields say now
            note, waiting, fmt = extra["signed_note"], [], extra["signed"]["format"]
    views = {v.key: v for v in fv.build_views(data["show"]["fields"], data["layout"])}
    geo = fv.layout_fields(data["layout"])
    unconfirmed = [{"key": k, "label": views[k].label if k in views else (geo[k][2].field.label if k in geo else k),
                    "scanned": k in views} for k in waiting]
    return render_template("note.html", show=data["show"], fmt=fmt, formats=NOTE_FORMATS, note=note,
                           unconfirmed=unconfirmed, kinds=list(NOTE_KINDS), message=MESSAGES.get(request.args.get("msg", "")),
                           header_facts=notes.header_facts(note) if note else [],
                           signature_lines=notes.signature_lines(note) if note else [], when=notes.when, **extra)


def note_export(session: int) -> Response:
    """Download the note (refused while any progress field is unconfirmed); it is also kept in the progress store."""
    fmt = _format()
    kind = request.form.get("kind", "md")
    if kind not in NOTE_KINDS:
        raise UsageError(f"'{kind}' is not a note file type; use {', '.join(NOTE_KINDS)}.")

    with _state().holder.use() as vault:
        signed = notes.signed_note(vault, session)
        if signed is not None:  # exactly as signed, with its addenda
            number, fmt = signed["session"], signed["format"]
            data = notes.signed_export(vault, signed, fmt, kind)
        else:
            note = notes.draft_note(vault, session, fmt)
            number, data = note.session, notes.render(note, kind)
            with store.transaction(vault.progress_db):
                notes.keep_note(vault, note)
    response = make_response(data)
    response.headers["Content-Type"] = NOTE_KINDS[kind]
    response.headers["Content-Disposition"] = f'attachment; filename="inklock-session-{number}-{fmt}.{kind}"'
    return response


# ---------------------------------------------------------------- trends (per client)


def trends_index() -> str:
    """Clients with scanned sessions, each linking to their trends."""
    with _state().holder.use() as vault:
        everything = [s for s in store.list_sessions(vault) if s["client"] and s["pages"] and s["date"]]
    clients: dict[str, dict[str, Any]] = {}
    for s in everything:
        c = clients.setdefault(s["client"], {"client": s["client"], "sessions": 0, "first": s["date"], "last": s["date"]})
        c["sessions"] += 1
        c["last"] = max(c["last"], s["date"])
        c["first"] = min(c["first"], s["date"])
    return render_template("trends_index.html", clients=sorted(clients.values(), key=lambda c: c["client"].lower()))


def trends_page(client: str) -> str:
    """One client's scales as charts and choice answers as counts, from confirmed progress fields only.

    Drafts (unconfirmed reads) are left out and counted; the same data as the
    treatment summary (``scanner.notes.summary.collect``).
    """
    from markupsafe import Markup

    from scanner.notes import charts
    from scanner.notes import summary

    since = request.args.get("since") or None
    until = request.args.get("until") or None
    with _state().holder.use() as vault:
        data = summary.collect(vault, client, since, until)
    trends = [{"item": t, "text": t.describe(),
               "svg": Markup(charts.to_svg(charts.line_chart(t.points, lo=t.lo, hi=t.hi, title=t.label),
                                           label=f"{t.label}: {t.describe()}"))}  # to_svg escapes every text
              for t in data.trends()]
    groups = [{"title": s.title, "tallies": [i for i in s.items if isinstance(i, summary.Tally) and i.counts]}
              for s in data.sections]
    if data.attendance is not None:
        groups.insert(0, {"title": "Attendance", "tallies": [data.attendance]})
    return render_template("trends.html", s=data, trends=trends, groups=[g for g in groups if g["tallies"]],
                           since=data.since or "", until=data.until or "")


# ---------------------------------------------------------------- errors


def _locked(_exc: VaultLocked) -> ResponseReturnValue:
    if request.method != "GET":
        return jsonify({"locked": True, "unlock": url_for("unlock")}), 401
    return redirect(url_for("unlock", next=request.path))


def _problem(exc: InklockError) -> Any:
    missing = isinstance(exc, BadInput) and not isinstance(exc, BadValue)
    status = 404 if missing else (409 if isinstance(exc, UnconfirmedFields) else 400)
    if request.is_json or request.method != "GET" and request.headers.get("X-CSRF-Token"):
        body: dict[str, Any] = {"ok": False, "error": exc.message}
        if isinstance(exc, UnconfirmedFields):
            body["fields"] = exc.fields
        return jsonify(body), status
    return _page_error(status, exc.message)


def _page_error(status: int, message: str) -> Any:
    return render_template("error.html", status=status, message=message), status

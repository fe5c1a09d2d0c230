"""Sessions and their fields: reading back, confirming, reopening, keeping as handwritten.

A confirmation, a reopening and a keeping each write the field and its edit
trail in one transaction; the search index and the handwriting tables follow
through the schema's triggers.
"""

from __future__ import annotations

import json
from typing import Any, TYPE_CHECKING

from scanner import values
from scanner.errors import BadInput, Refused
from scanner.vault.store.base import dumps, loads, now, transaction
from scanner.vault.store.notes import is_signed
from scanner.vault.store.sheets import get_sheet

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def list_sessions(vault: Vault, client: str | None = None, pending: bool = False) -> list[dict[str, Any]]:
    sql = (
        "SELECT s.id, s.sheet_id, s.template, s.client, s.date, s.session_number, s.blank, "
        "(SELECT json_group_array(DISTINCT p.page) FROM pages p WHERE p.sheet_id = s.sheet_id) AS pages, "
        "(SELECT COUNT(*) FROM fields f WHERE f.sheet_id = s.sheet_id AND f.status = 'pending' "
        "AND f.kept_at IS NULL) AS pending, "
        "(SELECT COUNT(*) FROM fields f WHERE f.sheet_id = s.sheet_id AND f.status = 'pending' "
        "AND f.kept_at IS NOT NULL) AS kept "
        "FROM sheets s WHERE 1=1"
    )
    params: list[Any] = []
    if client:
        sql += " AND s.client = ?"
        params.append(client)
    sql += " ORDER BY s.date, s.id"
    out = []
    for r in vault.db.query(sql, params):
        pages = sorted(json.loads(r["pages"]) if r["pages"] else [])
        if pending and (r["pending"] == 0 or not pages):
            continue
        out.append({"session": r["id"], "sheet_id": r["sheet_id"], "template": r["template"],
                    "client": r["client"], "date": r["date"], "session_number": r["session_number"],
                    "pages": pages, "pending": r["pending"], "kept": r["kept"]})
    return out


def session_fields(vault: Vault, sheet_id: str) -> list[dict[str, Any]]:
    """A sheet's fields; ``reopened`` when a field's last edit was a reopen, with ``reopened_value``
    the value the clinician had confirmed (what review offers back, rather than the old reading)."""
    rows = vault.db.query(
        "SELECT f.*, e.action AS last_action, e.old AS last_old FROM fields f LEFT JOIN edits e ON e.id = "
        "(SELECT MAX(id) FROM edits WHERE field_id = f.id) WHERE f.sheet_id = ? ORDER BY f.page, f.id", [sheet_id])
    out = []
    for r in rows:
        reopened = r["status"] == "pending" and r["last_action"] == "reopen"
        out.append(
            {"key": r["key"], "kind": r["kind"], "privacy": r["privacy"], "page": r["page"],
             "value": loads(r["value"]), "confidence": round(float(r["confidence"]), 3),
             "flags": loads(r["flags"]) or [], "status": field_status(r["status"], r["kept_at"]),
             "confirmed_value": loads(r["confirmed_value"]), "crop_file": r["crop_file"], "id": r["id"],
             "alternative": r["alternative"], "reopened": reopened,
             "reopened_value": loads(r["last_old"]) if reopened else None,
             # A confirmed risk answer a rescan read otherwise (store.save_page): what had been confirmed.
             "rescan_was": (loads(r["last_old"]) if r["status"] == "pending"
                            and r["last_action"] == "rescan-reopened-risk" else None)})
    return out


def field_status(status: str, kept_at: str | None) -> str:
    """pending | confirmed | kept (a private written field kept as its handwriting, still unconfirmed)."""
    return "kept" if status == "pending" and kept_at else status


def show_session(vault: Vault, session: str | int) -> dict[str, Any]:
    """Everything about one session, shaped as SPEC section 8 ``show --json``."""
    sheet = get_sheet(vault, session)
    pages = []
    for r in vault.db.query(
        "SELECT page, version, registration_error_px, flags, image_file FROM pages p WHERE sheet_id = ? "
        "AND version = (SELECT MAX(version) FROM pages q WHERE q.sheet_id = p.sheet_id AND q.page = p.page) "
        "ORDER BY page", [sheet["sheet_id"]]):
        pages.append({"page": r["page"], "version": r["version"], "registration_error_px": r["registration_error_px"],
                      "flags": loads(r["flags"]) or [], "image_file": r["image_file"]})
    fields = session_fields(vault, sheet["sheet_id"])
    return {"session": sheet["id"], "sheet_id": sheet["sheet_id"], "template": sheet["template"],
            "client": sheet["client"], "date": sheet["date"], "session_number": sheet["session_number"],
            "pages": pages, "fields": fields}


def crop_file(vault: Vault, field_id: int) -> str | None:
    """The stored crop of a field (None when the field or its crop is missing)."""
    row = vault.db.execute("SELECT crop_file FROM fields WHERE id = ?", [field_id]).fetchone()
    return row[0] if row is not None and row[0] else None


def field_counts(vault: Vault, sheet_id: str) -> dict[str, int]:
    """How many fields of a sheet wait (not kept as written), and how many progress fields are pending."""
    row = vault.db.execute(
        "SELECT SUM(status = 'pending' AND kept_at IS NULL), SUM(status = 'pending' AND privacy = 'progress') "
        "FROM fields WHERE sheet_id = ?", [sheet_id]).fetchone()
    return {"pending": int(row[0] or 0), "progress_pending": int(row[1] or 0)}


def field_ids(vault: Vault, sheet_ids: list[str]) -> dict[tuple[str, str], int]:
    """(sheet id, field key) -> field id for every field of these sheets (a sheet has one row per key)."""
    if not sheet_ids:
        return {}
    marks = ",".join("?" * len(sheet_ids))
    rows = vault.db.execute(f"SELECT sheet_id, key, id FROM fields WHERE sheet_id IN ({marks})", list(sheet_ids))
    return {(r[0], r[1]): r[2] for r in rows}


def field_keys(vault: Vault) -> list[str]:
    """The distinct field keys this vault holds, sorted."""
    return [r[0] for r in vault.db.execute("SELECT DISTINCT key FROM fields ORDER BY key")]


# -- confirmation ---------------------------------------------------------------

def parse_value(kind: str, text: str, field_layout: Any = None) -> Any:
    """A value typed by a person, checked against the field: :func:`scanner.values.parse`."""
    return values.parse(kind, text, field_layout)


def confirm_field(vault: Vault, session: str | int, key: str, value: Any = ..., field_layout: Any = None,
                  typed: str | None = None) -> dict[str, Any]:
    """Confirm one field: accept the read value (value omitted) or a corrected one.

    Only the confirmation; :func:`scanner.review.confirm.confirm_field` also
    teaches the handwriting index the confirmed words.
    """
    return confirm_one(vault, session, key, value, field_layout, typed)[0]


def confirm_one(vault: Vault, session: str | int, key: str, value: Any = ..., field_layout: Any = None,
                typed: str | None = None) -> tuple[dict[str, Any], int, str]:
    """:func:`confirm_field`, returning also the field's id and kind: (result, field id, kind)."""
    sheet = get_sheet(vault, session)
    row = vault.db.execute("SELECT id, kind, value, status, confirmed_value FROM fields WHERE sheet_id = ? AND key = ?",
                           [sheet["sheet_id"], key]).fetchone()
    if row is None:
        keys = [r["key"] for r in vault.db.query("SELECT key FROM fields WHERE sheet_id = ?", [sheet["sheet_id"]])]
        if not keys:
            raise BadInput(f"Session {sheet['id']} has no scanned pages yet, so there is nothing to confirm.")
        raise BadInput(f"Session {sheet['id']} has no field '{key}'; its fields are: {', '.join(keys)}.")
    field_id, kind, read_value, status, old_confirmed = row
    refuse_if_signed(vault, sheet, key)
    if typed is not None:
        value = parse_value(kind, typed, field_layout)
    if value is ...:
        value = loads(read_value)
    action = "confirm" if dumps(value) == read_value else "correct"
    at = now()
    with transaction(vault.db):
        vault.db.execute("UPDATE fields SET status = 'confirmed', confirmed_value = ?, confirmed_at = ?, kept_at = NULL "
                         "WHERE id = ?",
                         [dumps(value), at, field_id])
        vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                         [field_id, at, action, old_confirmed if status == "confirmed" else read_value, dumps(value)])
    return {"session": sheet["id"], "key": key, "value": value, "action": action}, field_id, kind


def refuse_if_signed(vault: Vault, sheet: dict[str, Any], key: str) -> None:
    """A progress field of a signed session cannot change: Refused (exit 3), pointing to an addendum."""
    row = vault.db.execute("SELECT privacy FROM fields WHERE sheet_id = ? AND key = ?",
                           [sheet["sheet_id"], key]).fetchone()
    if row is not None and row[0] == "progress" and is_signed(vault, sheet["id"]):
        raise Refused(f"Session {sheet['id']} has a signed note, so its progress field '{key}' cannot change; "
                      f"add an addendum instead (inklock addendum {sheet['id']} --text \"...\").")


def reopen_field(vault: Vault, session: str | int, key: str) -> int:
    """Deliberately return a confirmed field to pending (the edit trail keeps what it was); returns its id."""
    sheet = get_sheet(vault, session)
    row = vault.db.execute("SELECT id, confirmed_value FROM fields WHERE sheet_id = ? AND key = ?",
                           [sheet["sheet_id"], key]).fetchone()
    if row is None:
        raise BadInput(f"Session {sheet['id']} has no field '{key}'.")
    refuse_if_signed(vault, sheet, key)
    with transaction(vault.db):
        vault.db.execute("UPDATE fields SET status = 'pending', confirmed_value = NULL, confirmed_at = NULL, "
                         "kept_at = NULL WHERE id = ?",
                         [row[0]])
        vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                         [row[0], now(), "reopen", row[1], None])
    return int(row[0])


# -- keep as handwritten (SPEC section 6, issue 14) -------------------------------------

KEEPABLE_KINDS = values.HAND_KINDS  # kept as written: the handwritten kinds (scanner.values)


def keep_field(vault: Vault, session: str | int, key: str) -> dict[str, Any]:
    """Keep a private line/text field as written: its crop is the record, its reading an unverified draft.

    The field stays unconfirmed (searchable as a draft) and stops counting as
    waiting; confirming it later (a transcription) or reopening it ends the
    keeping. A progress field, or a field that is not written text, is refused.
    """
    sheet = get_sheet(vault, session)
    row = vault.db.execute("SELECT id, kind, privacy, status, kept_at, value FROM fields WHERE sheet_id = ? AND key = ?",
                           [sheet["sheet_id"], key]).fetchone()
    if row is None:
        keys = [r["key"] for r in vault.db.query("SELECT key FROM fields WHERE sheet_id = ?", [sheet["sheet_id"]])]
        if not keys:
            raise BadInput(f"Session {sheet['id']} has no scanned pages yet, so there is nothing to keep.")
        raise BadInput(f"Session {sheet['id']} has no field '{key}'; its fields are: {', '.join(keys)}.")
    field_id, kind, privacy, status, kept_at, value = row
    if privacy != "private":
        raise Refused(f"{key} is a progress field: it feeds the progress note, so it must be confirmed, "
                      "not kept as written.")
    if kind not in KEEPABLE_KINDS:
        raise Refused(f"{key} is a {kind} field; only handwritten lines and text can be kept as written.")
    if status == "confirmed":
        raise Refused(f"{key} of session {sheet['id']} is already confirmed; reopen it first to keep it as written.")
    if not kept_at:
        at = now()
        with transaction(vault.db):
            vault.db.execute("UPDATE fields SET kept_at = ? WHERE id = ?", [at, field_id])
            vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                             [field_id, at, "keep", value, None])
    return {"session": sheet["id"], "key": key, "status": "kept", "action": "keep" if not kept_at else "already-kept"}


def keep_private(vault: Vault, session: str | int) -> dict[str, list[str]]:
    """Keep every waiting private line/text field of a session as written: {"kept": keys, "empty": keys}.

    A field read empty (nothing written: no ink, flagged ``empty``) is confirmed
    empty instead: kept, it would send the next sheet to handwriting that is
    not there ("kept as handwritten on that sheet: see it there").
    """
    sheet = get_sheet(vault, session)
    rows = vault.db.execute(
        "SELECT id, key, value, flags FROM fields WHERE sheet_id = ? AND privacy = 'private' AND status = 'pending' "
        "AND kept_at IS NULL AND kind IN ('line', 'text') ORDER BY page, id", [sheet["sheet_id"]]).fetchall()
    at = now()
    kept, empty = [], []
    with transaction(vault.db):
        for field_id, key, value, flags in rows:
            if "empty" in (loads(flags) or []) and not str(loads(value) or "").strip():
                vault.db.execute("UPDATE fields SET status = 'confirmed', confirmed_value = ?, confirmed_at = ? "
                                 "WHERE id = ?", [dumps(""), at, field_id])
                vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                                 [field_id, at, "confirm", value, dumps("")])
                empty.append(key)
                continue
            vault.db.execute("UPDATE fields SET kept_at = ? WHERE id = ?", [at, field_id])
            vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                             [field_id, at, "keep", value, None])
            kept.append(key)
    return {"kept": kept, "empty": empty}

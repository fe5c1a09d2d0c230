"""The one store API over the vault database: sheets, pages, fields, confirmations.

Every write that touches several rows runs in one transaction, after the
encrypted files it refers to are written (write the file, then the row), so an
interruption leaves every stored page whole.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from contextlib import contextmanager
from typing import Any, Iterator

from scanner.errors import BadInput, Refused
from scanner.vault.searchindex import label_rows


@contextmanager
def transaction(db) -> Iterator[None]:
    """One explicit transaction (works whatever the connection's isolation level)."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- sheets (printed forms) -------------------------------------------------

def register_sheet(vault, *, sheet_id: str, template: str, template_version: int, page_size: str,
                   client: str | None, date: str | None, session_number: int | None) -> int:
    """Record a printed sheet; returns its session number (the short id people type)."""
    db = vault.db
    with transaction(db):
        if client:
            db.execute("INSERT OR IGNORE INTO clients(code, created_at) VALUES (?, ?)", [client, now()])
        cur = db.execute(
            "INSERT INTO sheets(sheet_id, template, template_version, page_size, client, date, "
            "session_number, blank, printed_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [sheet_id, template, template_version, page_size, client, date, session_number,
             0 if client else 1, now()],
        )
        return int(cur.lastrowid)


def sheet_sizes(vault) -> dict[str, str]:
    return {r["sheet_id"]: r["page_size"] for r in vault.db.query("SELECT sheet_id, page_size FROM sheets")}


def get_sheet(vault, session: str | int) -> dict[str, Any]:
    """A sheet by session number or sheet id; BadInput when there is none."""
    text = str(session).strip()
    rows = []
    if text.isascii() and text.isdigit() and len(text) <= 18:
        rows = list(vault.db.query("SELECT * FROM sheets WHERE id = ?", [int(text)]))
    if not rows:
        rows = list(vault.db.query("SELECT * FROM sheets WHERE sheet_id = ?", [text.upper()]))
    if not rows:
        raise BadInput(f"There is no session {text} in this vault; 'inklock sessions' lists them.")
    return rows[0]


def save_labels(db, template) -> bool:
    """Keep a template's tick-option label words for search; True when they changed (reindex then)."""
    rows = label_rows(template)
    old = {tuple(r) for r in db.execute("SELECT template, key, value, words FROM search_labels WHERE template = ?",
                                        [template.name]).fetchall()}
    if old == set(rows):
        return False
    with transaction(db):
        db.execute("DELETE FROM search_labels WHERE template = ?", [template.name])
        db.conn.executemany("INSERT INTO search_labels(template, key, value, words) VALUES (?,?,?,?)", rows)
    return True


# -- ingest -----------------------------------------------------------------

def source_seen(vault, sha256: str) -> dict[str, Any] | None:
    rows = list(vault.db.query("SELECT * FROM source_files WHERE sha256 = ?", [sha256]))
    return rows[0] if rows else None


def page_stored(vault, sha256: str, index: int) -> bool:
    """Whether this page of this source file is already in the vault (resume after a crash)."""
    q1 = vault.db.execute("SELECT 1 FROM pages WHERE source_sha256 = ? AND source_index = ?", [sha256, index]).fetchone()
    q2 = vault.db.execute("SELECT 1 FROM unmatched WHERE source_sha256 = ? AND source_index = ?", [sha256, index]).fetchone()
    return bool(q1 or q2)


def record_source(vault, sha256: str, name: str, pages: int, summary: dict[str, Any]) -> None:
    with transaction(vault.db):
        vault.db.execute(
            "INSERT OR REPLACE INTO source_files(sha256, name, pages, ingested_at, summary) VALUES (?,?,?,?,?)",
            [sha256, name, pages, now(), dumps(summary)],
        )


def save_unmatched(vault, result, reason: str | None = None) -> int:
    image_id = vault.put_file(result.image_jpeg, "unmatched-page")
    thumb_id = vault.put_file(result.thumb_jpeg, "unmatched-thumb") if result.thumb_jpeg else None
    guess = {"template": result.template, "page": result.page, "sheet_id": result.sheet_id}
    with transaction(vault.db):
        cur = vault.db.execute(
            "INSERT INTO unmatched(image_file, thumb_file, source_sha256, source_index, reason, guess, status, created_at) "
            "VALUES (?,?,?,?,?,?,'open',?)",
            [image_id, thumb_id, result.sha256, result.index, reason or result.message, dumps(guess), now()],
        )
        return int(cur.lastrowid)


def save_page(vault, result) -> dict[str, Any]:
    """Store an identified page and its field reads; returns what happened.

    A rescan becomes a new page version: pending values are replaced by the new
    read, confirmed values are never overwritten (the new read is logged and the
    field flagged ``rescan_differs`` when it disagrees).
    """
    db = vault.db
    sheet = list(db.query("SELECT * FROM sheets WHERE sheet_id = ?", [result.sheet_id]))
    if not sheet:
        return {"status": "unmatched",
                "unmatched_id": save_unmatched(vault, result, f"sheet {result.sheet_id} was not printed from this vault")}
    sheet = sheet[0]
    image_id = vault.put_file(result.image_jpeg, "page")
    crop_ids = vault.put_files([f.crop_png for f in result.fields], "crop")
    header_id = _put_header(vault, sheet, result)
    at = now()
    kept_confirmed = 0
    replaced_bundles: set[str] = set()
    with transaction(db):
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM pages WHERE sheet_id = ? AND page = ?",
                         [result.sheet_id, result.page]).fetchone()
        version = int(row[0]) + 1
        db.execute(
            "INSERT INTO pages(sheet_id, page, version, image_file, registration_error_px, flags, "
            "source_sha256, source_index, ingested_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [result.sheet_id, result.page, version, image_id, result.registration_error_px,
             dumps(result.flags), result.sha256, result.index, at],
        )
        if header_id:
            _save_header(db, result, version, header_id, at)
        for f, crop_id in zip(result.fields, crop_ids):
            existing = db.execute("SELECT id, status, confirmed_value, value FROM fields WHERE sheet_id = ? AND key = ?",
                                  [result.sheet_id, f.key]).fetchone()
            new_value = dumps(f.value)
            if existing is None:
                cur = db.execute(
                    "INSERT INTO fields(sheet_id, page, key, kind, privacy, value, confidence, flags, crop_file, "
                    "page_version, alternative, status) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'pending')",
                    [result.sheet_id, f.page, f.key, f.kind, f.privacy, new_value, f.confidence,
                     dumps(f.flags), crop_id, version, f.raw.get("alternative")],
                )
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [cur.lastrowid, at, "read", None, new_value])
                _store_draft_words(db, cur.lastrowid, crop_id, f)
                continue
            field_id, status, confirmed_value, old_value = existing
            if status == "confirmed":
                kept_confirmed += 1
                flags = list(f.flags)
                if loads(confirmed_value) != f.value:
                    flags.append("rescan_differs")
                db.execute("UPDATE fields SET flags = ?, page_version = ? WHERE id = ?",
                           [dumps(flags), version, field_id])
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [field_id, at, "rescan-kept-confirmed", confirmed_value, new_value])
            else:
                old_crop = db.execute("SELECT crop_file FROM fields WHERE id = ?", [field_id]).fetchone()[0]
                if old_crop:
                    replaced_bundles.add(old_crop.partition("#")[0])
                db.execute(
                    "UPDATE fields SET value = ?, confidence = ?, flags = ?, crop_file = ?, page_version = ?, "
                    "alternative = ?, kept_at = NULL WHERE id = ?",
                    [new_value, f.confidence, dumps(f.flags), crop_id, version, f.raw.get("alternative"), field_id],
                )
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [field_id, at, "rescan", old_value, new_value])
                _store_draft_words(db, field_id, crop_id, f)
    # The old read's crops, once no field (a confirmed one keeps its own) refers to them.
    if replaced_bundles:
        for bundle in replaced_bundles - referenced_files(db):
            vault.delete_file(bundle)
    return {"status": "rescan" if version > 1 else "new", "session": sheet["id"], "version": version,
            "kept_confirmed": kept_confirmed}


def file_columns(db) -> list[tuple[str, str]]:
    """Every (table, column) that holds stored-file ids: by convention, columns named ``*_file``."""
    out = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in db.execute(f'PRAGMA table_info("{table}")').fetchall():
            if row[1].endswith("_file"):
                out.append((table, row[1]))
    return out


def referenced_files(db) -> set[str]:
    """Ids of the stored files some row refers to (a crop id's bundle is the part before '#')."""
    out: set[str] = set()
    for table, column in file_columns(db):
        for (value,) in db.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'):
            out.add(str(value).partition("#")[0])
    return out


def sweep_unreferenced_files(vault, min_age_s: float = 600.0) -> int:
    """Delete stored files no row refers to, and half-written temp files, left by a crash.

    Only files older than ``min_age_s``: a writer in another process (the review
    page learning a confirmed word) writes its file a moment before its row.
    """
    import time
    from pathlib import Path

    refs = referenced_files(vault.db)
    cutoff = time.time() - min_age_s
    removed = 0
    for path in (Path(vault.path) / "files").glob("??/*"):
        try:
            if path.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        if path.name.startswith(".tmp-"):
            path.unlink(missing_ok=True)
            removed += 1
        elif path.suffix == ".bin" and path.stem not in refs:
            vault.delete_file(path.stem)
            removed += 1
    return removed


def _store_draft_words(db, field_id: int, crop_id: str, read) -> None:
    """Word vectors the page worker cut from a pending draft (search by handwriting)."""
    words = read.raw.get("draft_words")
    if words:
        from scanner.hand.exemplars import store_draft_vectors

        store_draft_vectors(db, field_id, crop_id, words[0], words[1])


# -- reading back -------------------------------------------------------------

def list_sessions(vault, client: str | None = None, pending: bool = False) -> list[dict[str, Any]]:
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


def session_fields(vault, sheet_id: str) -> list[dict[str, Any]]:
    rows = vault.db.query("SELECT * FROM fields WHERE sheet_id = ? ORDER BY page, id", [sheet_id])
    return [
        {"key": r["key"], "kind": r["kind"], "privacy": r["privacy"], "page": r["page"],
         "value": loads(r["value"]), "confidence": round(float(r["confidence"]), 3),
         "flags": loads(r["flags"]) or [], "status": field_status(r["status"], r["kept_at"]),
         "confirmed_value": loads(r["confirmed_value"]), "crop_file": r["crop_file"], "id": r["id"],
         "alternative": r["alternative"]}
        for r in rows
    ]


def field_status(status: str, kept_at: str | None) -> str:
    """pending | confirmed | kept (a private written field kept as its handwriting, still unconfirmed)."""
    return "kept" if status == "pending" and kept_at else status


def show_session(vault, session: str | int) -> dict[str, Any]:
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


# -- confirmation ---------------------------------------------------------------

def parse_value(kind: str, text: str, field_layout: dict[str, Any] | None) -> Any:
    """A value typed by a person, checked against the field's kind, cells, range and options.

    The checks are :mod:`scanner.values` (shared with the review page and
    ingest); a bad value is BadInput (exit 4) naming what the field allows.
    """
    from scanner import values

    t = text.strip()
    if kind == "checkbox":
        low = t.lower()
        if low in ("yes", "y", "true", "1", "x", "ticked"):
            return True
        if low in ("no", "n", "false", "0", "", "empty"):
            return False
        raise values.BadValue(f"'{values.shown(text)}' is not a checkbox value; use yes or no.")
    options = [str(o["value"]) for o in (field_layout or {}).get("options", [])]
    if kind == "scale":
        return values.check_scale(text, field_layout)
    if kind == "choice":
        no_answer = t.lower() in ("none", "null", "-") and t not in options
        parts = [] if no_answer else [p.strip() for p in t.split(",") if p.strip()]
        values.check_options(parts, field_layout)
        if (field_layout or {}).get("multiple"):
            return parts
        if len(parts) > 1:
            raise values.BadValue("This field takes one answer only.")
        return parts[0] if parts else None
    if kind == "digits":
        return values.check_digits(text, field_layout)
    return text


def confirm_field(vault, session: str | int, key: str, value: Any = ..., field_layout: dict[str, Any] | None = None,
                  typed: str | None = None) -> dict[str, Any]:
    """Confirm one field: accept the read value (value omitted) or a corrected one."""
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
    if kind in ("line", "text"):
        _learn_hand(vault, field_id)
    return {"session": sheet["id"], "key": key, "value": value, "action": action}


def is_signed(vault, session_id: int) -> bool:
    """Whether the session's progress note is signed (kept in the progress store; issue #14)."""
    return vault.progress_db.execute("SELECT 1 FROM signed_notes WHERE session = ?", [int(session_id)]).fetchone() is not None


SIGNED_COLUMNS = ("session", "sheet_id", "format", "signed_at", "signer", "content", "md", "txt")


def signed_row(vault, session_id: int) -> dict[str, Any] | None:
    """The signed note of a session as kept in the progress store (columns as stored), or None."""
    row = vault.progress_db.execute(
        f"SELECT {', '.join(SIGNED_COLUMNS)} FROM signed_notes WHERE session = ?", [int(session_id)]).fetchone()
    return None if row is None else dict(zip(SIGNED_COLUMNS, row))


def save_signed(vault, row: dict[str, Any]) -> None:
    """Keep a signed note (``row`` has every column of ``SIGNED_COLUMNS``); triggers keep it unchanged after."""
    with transaction(vault.progress_db):
        vault.progress_db.execute(
            f"INSERT INTO signed_notes({', '.join(SIGNED_COLUMNS)}) VALUES ({','.join('?' for _ in SIGNED_COLUMNS)})",
            [row[c] for c in SIGNED_COLUMNS])


def addenda_rows(vault, session_id: int) -> list[dict[str, Any]]:
    """A signed note's addenda ({at, author, text}), oldest first."""
    return [dict(r) for r in vault.progress_db.query(
        "SELECT at, author, text FROM addenda WHERE session = ? ORDER BY id", [int(session_id)])]


def save_addendum(vault, session_id: int, entry: dict[str, Any]) -> None:
    with transaction(vault.progress_db):
        vault.progress_db.execute("INSERT INTO addenda(session, at, author, text) VALUES (?,?,?,?)",
                                  [int(session_id), entry["at"], entry["author"], entry["text"]])


def refuse_if_signed(vault, sheet: dict[str, Any], key: str) -> None:
    """A progress field of a signed session cannot change: Refused (exit 3), pointing to an addendum."""
    row = vault.db.execute("SELECT privacy FROM fields WHERE sheet_id = ? AND key = ?",
                           [sheet["sheet_id"], key]).fetchone()
    if row is not None and row[0] == "progress" and is_signed(vault, sheet["id"]):
        raise Refused(f"Session {sheet['id']} has a signed note, so its progress field '{key}' cannot change; "
                      f"add an addendum instead (inklock addendum {sheet['id']} --text \"...\").")


def _learn_hand(vault, field_id: int) -> None:
    """Teach the exemplar index this confirmed field's words (issue #7).

    Learning is a bonus on top of a confirmation that is already committed: a
    crop that cannot be read back or split must never undo or fail it
    (``inklock reindex`` learns everything again).
    """
    import logging

    try:
        from scanner.hand import exemplars
    except ImportError as exc:  # a broken install must not block confirming
        logging.getLogger(__name__).warning("Handwriting learning is unavailable: %s", exc)
        return
    try:
        exemplars.learn_field(vault, field_id)
    except exemplars.LEARN_ERRORS as exc:
        logging.getLogger(__name__).warning("Could not learn the handwriting of field %s: %s",
                                            field_id, type(exc).__name__)


def reopen_field(vault, session: str | int, key: str) -> None:
    """Deliberately return a confirmed field to pending (the edit trail keeps what it was)."""
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


# -- keep as handwritten (SPEC section 6, issue 14) -------------------------------------

KEEPABLE_KINDS = ("line", "text")


def keep_field(vault, session: str | int, key: str) -> dict[str, Any]:
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


def keep_private(vault, session: str | int) -> list[str]:
    """Keep every waiting private line/text field of a session as written; returns their keys."""
    sheet = get_sheet(vault, session)
    rows = vault.db.execute(
        "SELECT id, key, value FROM fields WHERE sheet_id = ? AND privacy = 'private' AND status = 'pending' "
        "AND kept_at IS NULL AND kind IN ('line', 'text') ORDER BY page, id", [sheet["sheet_id"]]).fetchall()
    at = now()
    with transaction(vault.db):
        for field_id, _key, value in rows:
            vault.db.execute("UPDATE fields SET kept_at = ? WHERE id = ?", [at, field_id])
            vault.db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                             [field_id, at, "keep", value, None])
    return [r[1] for r in rows]


# -- blank sheets (SPEC section 3) ----------------------------------------------------

def _put_header(vault, sheet: dict[str, Any], result) -> str | None:
    """Encrypt the header crop of a page 1 whose sheet has no client yet (else keep nothing)."""
    if sheet["client"] or not getattr(result, "header_png", b""):
        return None
    return vault.put_file(result.header_png, "header")


def _save_header(db, result, version: int, crop_file: str, at: str) -> None:
    db.execute("INSERT OR REPLACE INTO sheet_headers(sheet_id, page_version, crop_file, guess, created_at) "
               "VALUES (?,?,?,?,?)",
               [result.sheet_id, version, crop_file, dumps(getattr(result, "header_guess", None) or {}), at])


def sheet_header(vault, sheet_id: str) -> dict[str, Any] | None:
    """The newest header crop of a sheet and its guess: {"crop_file", "guess", "page_version"}, or None."""
    row = vault.db.execute("SELECT crop_file, guess, page_version FROM sheet_headers WHERE sheet_id = ? "
                           "ORDER BY page_version DESC LIMIT 1", [sheet_id]).fetchone()
    if row is None:
        return None
    return {"crop_file": row[0], "guess": loads(row[1]) or {}, "page_version": row[2]}


def blank_sheets(vault, waiting: bool = True) -> list[dict[str, Any]]:
    """Sheets with scanned pages and no client (``waiting``), or every sheet printed blank, oldest first."""
    sql = ("SELECT s.id, s.sheet_id, s.template, s.client, s.date, s.session_number, "
           "(SELECT json_group_array(DISTINCT p.page) FROM pages p WHERE p.sheet_id = s.sheet_id) AS pages, "
           "EXISTS(SELECT 1 FROM sheet_headers h WHERE h.sheet_id = s.sheet_id) AS has_header "
           "FROM sheets s WHERE EXISTS(SELECT 1 FROM pages p WHERE p.sheet_id = s.sheet_id) AND ")
    sql += "s.client IS NULL" if waiting else "s.blank = 1"
    out = []
    for r in vault.db.query(sql + " ORDER BY s.id"):
        out.append({"session": r["id"], "sheet_id": r["sheet_id"], "template": r["template"], "client": r["client"],
                    "date": r["date"], "session_number": r["session_number"],
                    "pages": sorted(json.loads(r["pages"]) if r["pages"] else []), "has_header": bool(r["has_header"])})
    return out


def blank_sheet_ids(vault) -> frozenset[str]:
    """Ids of the sheets still without a client: the ones whose handwritten header the reader must read."""
    return frozenset(r[0] for r in vault.db.execute("SELECT sheet_id FROM sheets WHERE client IS NULL"))


def get_meta(vault, key: str) -> str | None:
    """A value kept in the vault's ``meta`` table (e.g. the scanner ``inklock scan`` uses), or None."""
    row = vault.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(vault, key: str, value: str) -> None:
    with transaction(vault.db):
        vault.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])


def get_settings(vault, keys: list[str]) -> dict[str, str]:
    """The values of ``keys`` kept in the ``settings`` table (absent keys are left out)."""
    marks = ",".join("?" for _ in keys)
    return {r["key"]: r["value"] for r in vault.db.query(
        f"SELECT key, value FROM settings WHERE key IN ({marks})", list(keys))}


def set_settings(vault, values: dict[str, str]) -> None:
    """Keep each key's value in the ``settings`` table, in one transaction."""
    at = now()
    with transaction(vault.db):
        for key, value in values.items():
            vault.db.execute(
                "INSERT INTO settings(key, value, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [key, value, at])


def template_in_use(vault, template: str) -> bool:
    """Whether any sheet of the vault was printed from ``template``."""
    return vault.db.execute("SELECT 1 FROM sheets WHERE template = ? LIMIT 1", [template]).fetchone() is not None


def last_confirmed_sheet(vault, client: str, template: str, keys: list[str],
                         before: str | None) -> tuple[str, str] | None:
    """(sheet id, date) of ``client``'s latest dated sheet of ``template`` (strictly before ``before``)
    with at least one of the fields ``keys`` confirmed, or None."""
    marks = ",".join("?" for _ in keys)
    sql = (f"SELECT s.sheet_id, s.date FROM sheets s WHERE s.client = ? AND s.template = ? AND s.date IS NOT NULL "
           f"AND EXISTS (SELECT 1 FROM fields f WHERE f.sheet_id = s.sheet_id AND f.status = 'confirmed' "
           f"AND f.key IN ({marks}))")
    params: list[Any] = [client, template, *keys]
    if before:
        sql += " AND s.date < ?"
        params.append(before)
    row = vault.db.execute(sql + " ORDER BY s.date DESC, s.id DESC LIMIT 1", params).fetchone()
    return (row[0], row[1]) if row else None


def list_clients(vault) -> list[str]:
    """The clinician's client codes, in a stable, case-insensitive order."""
    return [r[0] for r in vault.db.execute("SELECT code FROM clients ORDER BY lower(code), code")]


def assign_sheet(vault, sheet_id: str, client: str, date: str, session_number: int | str | None) -> dict[str, Any]:
    """Give a sheet printed blank its client, date and session number, as the clinician decided.

    The client code is checked like ``inklock print --client`` (a new code
    joins the client list), the date must be YYYY-MM-DD, the session number
    1..9999 or empty. A sheet printed for a client is refused (BadInput); a
    blank sheet may be assigned again to correct a mistake (the trail keeps
    what it was). Search tags follow through the schema's triggers.
    """
    from datetime import date as Date

    from scanner.notes.printing import check_client, check_session, shown

    sheet = get_sheet(vault, sheet_id)
    if not sheet["blank"]:
        raise BadInput(f"Session {sheet['id']} was printed for client {sheet['client']}; only a blank sheet "
                       "is given its client in review.")
    code = check_client((client or "").strip())
    known = vault.db.execute("SELECT code FROM clients WHERE lower(code) = lower(?) ORDER BY code LIMIT 1",
                             [code]).fetchone()
    code = known[0] if known else code  # "k-12" typed for the existing K-12 is K-12, not a new client
    text = (date or "").strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = Date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadInput(f"'{shown(text)}' is not a date; use YYYY-MM-DD.") from None
    number = check_session(session_number)
    previous = {"client": sheet["client"], "date": sheet["date"], "session_number": sheet["session_number"]}
    at = now()
    with transaction(vault.db):
        vault.db.execute("INSERT OR IGNORE INTO clients(code, created_at) VALUES (?, ?)", [code, at])
        vault.db.execute("UPDATE sheets SET client = ?, date = ?, session_number = ? WHERE sheet_id = ?",
                         [code, day, number, sheet["sheet_id"]])
        vault.db.execute("INSERT INTO sheet_assignments(sheet_id, at, client, date, session_number, previous) "
                         "VALUES (?,?,?,?,?,?)",
                         [sheet["sheet_id"], at, code, day, number,
                          dumps(previous) if any(v is not None for v in previous.values()) else None])
    return {"session": sheet["id"], "sheet_id": sheet["sheet_id"], "client": code, "date": day,
            "session_number": number}

"""What progress notes and summaries read, and the progress-note store (``vault.progress_db``).

The reads here select progress fields only, and their confirmed value only:
nothing from a private field, no machine reading, no crop ever feeds a note.
Signed notes and addenda never change once kept (the schema's triggers refuse it).
"""

from __future__ import annotations

from typing import Any, Iterable, TYPE_CHECKING

from scanner.vault.store.base import now, transaction

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def progress_field_rows(vault: Vault, sheet_id: str) -> list[dict[str, Any]]:
    """A sheet's progress field rows (key, kind, privacy, page, status, confirmed_value as JSON text)."""
    return list(vault.db.query(
        "SELECT key, kind, privacy, page, status, confirmed_value FROM fields "
        "WHERE sheet_id = ? AND privacy = 'progress' ORDER BY page, id",
        [sheet_id],
    ))


def client_session_rows(vault: Vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
    """The client's scanned, dated sheets in the range (inclusive), oldest first, with a count of
    pending progress fields (``pending``); no field value is read."""
    sql = ("SELECT s.id, s.sheet_id, s.template, s.date, s.session_number, "
           "(SELECT COUNT(*) FROM fields f WHERE f.sheet_id = s.sheet_id AND f.privacy = 'progress' "
           " AND f.status = 'pending') AS pending "
           "FROM sheets s WHERE s.client = ? AND s.date IS NOT NULL "
           "AND EXISTS (SELECT 1 FROM pages p WHERE p.sheet_id = s.sheet_id)")
    sql, params = _date_filter(sql, [client], since, until)
    return list(vault.db.query(sql + " ORDER BY s.date, s.id", params))


def confirmed_progress_rows(vault: Vault, client: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
    """Confirmed progress fields of the client's dated sheets in the range, in session and page order.

    Selects ``privacy = 'progress' AND status = 'confirmed'`` and the confirmed
    value only (JSON text), with the sheet's date.
    """
    sql = ("SELECT f.sheet_id, f.key, f.kind, f.privacy, f.status, f.confirmed_value, s.date "
           "FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id "
           "WHERE s.client = ? AND s.date IS NOT NULL AND f.privacy = 'progress' AND f.status = 'confirmed'")
    sql, params = _date_filter(sql, [client], since, until)
    return list(vault.db.query(sql + " ORDER BY s.date, s.id, f.page, f.id", params))


def _date_filter(sql: str, params: list[Any], since: str | None, until: str | None) -> tuple[str, list[Any]]:
    if since:
        sql += " AND substr(s.date, 1, 10) >= ?"
        params.append(since)
    if until:
        sql += " AND substr(s.date, 1, 10) <= ?"
        params.append(until)
    return sql, params


def confirmed_before(vault: Vault, client: str, keys: Iterable[str], before: str | None) -> list[dict[str, Any]]:
    """Confirmed values of fields ``keys`` in ``client``'s dated sheets (strictly before ``before``),
    newest sheet first: rows of key, confirmed_value (JSON text), date and kept (carry-forward).

    A private field kept as handwritten (never transcribed) comes as a row too, with
    ``kept`` 1 and no value: its answer is on that sheet, not "nothing recorded"."""
    keys = list(keys)
    marks = ",".join("?" for _ in keys)
    sql = (f"SELECT f.key, f.confirmed_value, s.date, f.status = 'pending' AS kept FROM fields f "
           f"JOIN sheets s ON s.sheet_id = f.sheet_id WHERE s.client = ? AND f.key IN ({marks}) "
           f"AND (f.status = 'confirmed' OR (f.status = 'pending' AND f.kept_at IS NOT NULL)) AND s.date IS NOT NULL")
    params: list[Any] = [client, *keys]
    if before:
        sql += " AND s.date < ?"
        params.append(before)
    return list(vault.db.query(sql + " ORDER BY s.date DESC, s.id DESC", params))


def latest_date_before(vault: Vault, client: str, before: str | None) -> str | None:
    """The date of ``client``'s latest dated sheet strictly before ``before`` (any sheet: reviewed or not)."""
    sql = "SELECT MAX(date) FROM sheets WHERE client = ? AND date IS NOT NULL"
    params: list[Any] = [client]
    if before:
        sql += " AND date < ?"
        params.append(before)
    row = vault.db.execute(sql, params).fetchone()
    return row[0] if row else None


# -- the progress-note store -----------------------------------------------------------

def save_progress_note(vault: Vault, *, session: int, sheet_id: str, client: str | None, date: str | None, fmt: str,
                       content: str) -> None:
    """Record an exported note (``content`` is its JSON) in the progress-note store (inside the caller's
    transaction)."""
    vault.progress_db.execute(
        "INSERT INTO progress_notes(session, sheet_id, client, date, format, created_at, content) "
        "VALUES (?,?,?,?,?,?,?)",
        [session, sheet_id, client, date, fmt, now(), content],
    )


def progress_note_rows(vault: Vault, session: str | int | None = None) -> list[dict[str, Any]]:
    """Notes kept in the progress store (newest first), optionally for one session (``content`` as JSON text)."""
    sql = "SELECT id, session, sheet_id, client, date, format, created_at, content FROM progress_notes"
    params: list[Any] = []
    if session is not None:
        sql += " WHERE session = ?"
        params = [int(session)]
    return list(vault.progress_db.query(sql + " ORDER BY id DESC", params))


# -- signed notes and addenda (issue 14) --------------------------------------------------

def is_signed(vault: Vault, session_id: int) -> bool:
    """Whether the session's progress note is signed (kept in the progress store; issue #14)."""
    return vault.progress_db.execute("SELECT 1 FROM signed_notes WHERE session = ?", [int(session_id)]).fetchone() is not None


SIGNED_COLUMNS = ("session", "sheet_id", "format", "signed_at", "signer", "content", "md", "txt")


def signed_row(vault: Vault, session_id: int) -> dict[str, Any] | None:
    """The signed note of a session as kept in the progress store (columns as stored), or None."""
    row = vault.progress_db.execute(
        f"SELECT {', '.join(SIGNED_COLUMNS)} FROM signed_notes WHERE session = ?", [int(session_id)]).fetchone()
    return None if row is None else dict(zip(SIGNED_COLUMNS, row))


def save_signed(vault: Vault, row: dict[str, Any]) -> None:
    """Keep a signed note (``row`` has every column of ``SIGNED_COLUMNS``); triggers keep it unchanged after."""
    with transaction(vault.progress_db):
        vault.progress_db.execute(
            f"INSERT INTO signed_notes({', '.join(SIGNED_COLUMNS)}) VALUES ({','.join('?' for _ in SIGNED_COLUMNS)})",
            [row[c] for c in SIGNED_COLUMNS])


def addenda_rows(vault: Vault, session_id: int) -> list[dict[str, Any]]:
    """A signed note's addenda ({at, author, text}), oldest first."""
    return [dict(r) for r in vault.progress_db.query(
        "SELECT at, author, text FROM addenda WHERE session = ? ORDER BY id", [int(session_id)])]


def save_addendum(vault: Vault, session_id: int, entry: dict[str, Any]) -> None:
    with transaction(vault.progress_db):
        vault.progress_db.execute("INSERT INTO addenda(session, at, author, text) VALUES (?,?,?,?)",
                                  [int(session_id), entry["at"], entry["author"], entry["text"]])

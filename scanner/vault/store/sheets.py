"""Sheets (printed forms) and clients: printing, looking up, blank sheets given their client."""

from __future__ import annotations

import json
from datetime import date as Date
from typing import Any, TYPE_CHECKING

from scanner.errors import BadInput
from scanner.values import check_client, check_session, shown
from scanner.vault.searchindex import label_rows
from scanner.vault.store.base import dumps, loads, now, transaction

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def register_sheet(vault: Vault, *, sheet_id: str, template: str, template_version: int, page_size: str,
                   client: str | None, date: str | None, session_number: int | None,
                   layout_digest: str | None = None) -> int:
    """Record a printed sheet; returns its session number (the short id people type).

    ``layout_digest`` fingerprints the layout it was printed with
    (``Form.reading_digest``): ingest refuses to read it against another.
    """
    db = vault.db
    with transaction(db):
        if client:
            db.execute("INSERT OR IGNORE INTO clients(code, created_at) VALUES (?, ?)", [client, now()])
        cur = db.execute(
            "INSERT INTO sheets(sheet_id, template, template_version, page_size, client, date, "
            "session_number, blank, printed_at, layout_digest) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [sheet_id, template, template_version, page_size, client, date, session_number,
             0 if client else 1, now(), layout_digest],
        )
        assert cur.lastrowid is not None  # an INSERT always has one
        return int(cur.lastrowid)


def sheet_sizes(vault: Vault) -> dict[str, str]:
    return {r["sheet_id"]: r["page_size"] for r in vault.db.query("SELECT sheet_id, page_size FROM sheets")}


def sheet_layouts(vault: Vault) -> dict[str, str]:
    """The layout fingerprint each sheet was printed with, by sheet id (sheets that recorded one)."""
    return {r[0]: r[1] for r in vault.db.execute("SELECT sheet_id, layout_digest FROM sheets "
                                                 "WHERE layout_digest IS NOT NULL")}


def sheet_forms(vault: Vault) -> list[tuple[str, str]]:
    """The distinct (template, page size) pairs the vault's sheets were printed as."""
    return [(r[0], r[1]) for r in vault.db.execute("SELECT DISTINCT template, page_size FROM sheets")]


def get_sheet(vault: Vault, session: str | int) -> dict[str, Any]:
    """A sheet by session number, sheet id, or CLIENT/N (the client's session N, as printed on the
    sheet); BadInput when there is none, or when CLIENT/N names more than one."""
    text = str(session).strip()
    rows = []
    client, slash, number = text.rpartition("/")
    if slash and number.isascii() and number.isdigit() and len(number) <= 6:
        rows = numbered_sheets(vault, client, int(number))
        if not rows:
            raise BadInput(f"{shown(client)} has no session {number} in this vault; 'inklock sessions --client "
                           f"{shown(client)}' lists theirs.")
        if len(rows) > 1:
            raise BadInput(f"{shown(client)} has {len(rows)} sheets numbered session {number} "
                           f"({', '.join(str(r['id']) for r in rows)}); give the session by one of those numbers.")
        return rows[0]
    if text.isascii() and text.isdigit() and len(text) <= 18:
        rows = list(vault.db.query("SELECT * FROM sheets WHERE id = ?", [int(text)]))
    if not rows:
        rows = list(vault.db.query("SELECT * FROM sheets WHERE sheet_id = ?", [text.upper()]))
    if not rows:
        raise BadInput(f"There is no session {text} in this vault; 'inklock sessions' lists them.")
    return rows[0]


def sheet_pages(vault: Vault, sheet_id: str) -> list[int]:
    """The page numbers of a sheet that were scanned, in order."""
    return [r[0] for r in vault.db.execute("SELECT DISTINCT page FROM pages WHERE sheet_id = ? ORDER BY page",
                                           [sheet_id])]


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


def template_in_use(vault: Vault, template: str) -> bool:
    """Whether any sheet of the vault was printed from ``template``."""
    return vault.db.execute("SELECT 1 FROM sheets WHERE template = ? LIMIT 1", [template]).fetchone() is not None


def client_has_sheets(vault: Vault, client: str) -> bool:
    """Whether any sheet of the vault was printed for ``client`` (the code as stored)."""
    return vault.db.execute("SELECT 1 FROM sheets WHERE client = ? LIMIT 1", [client]).fetchone() is not None


def last_session_number(vault: Vault, client: str, *, besides: str | None = None) -> int | None:
    """The highest session number printed for ``client`` (on sheets other than ``besides``), or None."""
    row = vault.db.execute("SELECT MAX(session_number) FROM sheets WHERE client = ? AND sheet_id IS NOT ?",
                           [client, besides]).fetchone()
    return row[0]


def unreceived_sheet(vault: Vault, *, client: str, date: str, template: str, template_version: int,
                     page_size: str, layout_digest: str, session_number: int | None = None,
                     exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The first sheet printed for ``client`` on ``date`` as this form, not one page of it received yet.

    What ``inklock print`` prints again rather than registering a new session:
    same template (and version), paper size and layout, so the same layout
    reads it; with ``session_number``, only that session. Sheets in
    ``exclude`` (already planned in this packet) are passed over.
    """
    sql = ("SELECT * FROM sheets s WHERE client = ? AND date = ? AND template = ? AND template_version = ? "
           "AND page_size = ? AND coalesce(layout_digest, ?) = ? AND blank = 0 "
           "AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.sheet_id = s.sheet_id)")
    args: list[Any] = [client, date, template, template_version, page_size, layout_digest, layout_digest]
    if session_number is not None:
        sql += " AND session_number = ?"
        args.append(session_number)
    for row in vault.db.query(sql + " ORDER BY id", args):
        if row["sheet_id"] not in exclude:
            return row
    return None


def numbered_sheets(vault: Vault, client: str, session_number: int) -> list[dict[str, Any]]:
    """The sheets printed as session ``session_number`` of ``client``, first printed first."""
    return list(vault.db.query("SELECT * FROM sheets WHERE client = ? AND session_number = ? ORDER BY id",
                               [client, session_number]))


def last_confirmed_sheet(vault: Vault, client: str, template: str, keys: list[str],
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


def list_clients(vault: Vault) -> list[str]:
    """The clinician's client codes, in a stable, case-insensitive order."""
    return [r[0] for r in vault.db.execute("SELECT code FROM clients ORDER BY lower(code), code")]


# -- blank sheets (SPEC section 3) ----------------------------------------------------

def sheet_header(vault: Vault, sheet_id: str) -> dict[str, Any] | None:
    """The newest header crop of a sheet and its guess: {"crop_file", "guess", "page_version"}, or None."""
    row = vault.db.execute("SELECT crop_file, guess, page_version FROM sheet_headers WHERE sheet_id = ? "
                           "ORDER BY page_version DESC LIMIT 1", [sheet_id]).fetchone()
    if row is None:
        return None
    return {"crop_file": row[0], "guess": loads(row[1]) or {}, "page_version": row[2]}


def blank_sheets(vault: Vault, waiting: bool = True) -> list[dict[str, Any]]:
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


def blank_sheet_ids(vault: Vault) -> frozenset[str]:
    """Ids of the sheets still without a client: the ones whose handwritten header the reader must read."""
    return frozenset(r[0] for r in vault.db.execute("SELECT sheet_id FROM sheets WHERE client IS NULL"))


def assign_sheet(vault: Vault, sheet_id: str, client: str, date: str, session_number: int | str | None) -> dict[str, Any]:
    """Give a sheet printed blank its client, date and session number, as the clinician decided.

    The client code is checked like ``inklock print --client`` (a new code
    joins the client list), the date must be YYYY-MM-DD, the session number
    1..9999 or empty (then the client's next number), not one the client's other sheets
    already have. A sheet printed for a client is refused (BadInput); a
    blank sheet may be assigned again to correct a mistake (the trail keeps
    what it was). Search tags follow through the schema's triggers.
    """
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
    if number is None:
        # Left empty: the client's next number, as `inklock print` gives one (so CLIENT/N finds the session).
        number = int(last_session_number(vault, code, besides=sheet["sheet_id"]) or 0) + 1
    taken = [r for r in numbered_sheets(vault, code, number) if r["sheet_id"] != sheet["sheet_id"]]
    if taken:
        # As `inklock print --session` refuses it: CLIENT/N must name one sheet.
        raise BadInput(f"{code} already has a session {number} (session {taken[0]['id']}, dated "
                       f"{taken[0]['date'] or 'by hand'}); choose another number, or leave it empty for their next.")
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

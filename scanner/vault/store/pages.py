"""Ingest writes: source files, identified pages and their field reads, unmatched pages, stored files.

Every write that touches several rows runs in one transaction, after the
encrypted files it refers to are written (write the file, then the row), so an
interruption leaves every stored page whole.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TYPE_CHECKING

from scanner.vault import handstore
from scanner.vault.store.base import dumps, loads, now, transaction
from scanner.vault.store.notes import is_signed

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def source_seen(vault: Vault, sha256: str) -> dict[str, Any] | None:
    rows = list(vault.db.query("SELECT * FROM source_files WHERE sha256 = ?", [sha256]))
    return rows[0] if rows else None


def source_fully_stored(vault: Vault, sha256: str) -> bool:
    """Whether a source file was ingested before with every page of it stored (identified or
    unmatched): a page judged blank then left nothing, so it is looked at again."""
    seen = source_seen(vault, sha256)
    if seen is None:
        return False
    row = vault.db.execute(
        "SELECT COUNT(*) FROM (SELECT source_index FROM pages WHERE source_sha256 = ? "
        "UNION SELECT source_index FROM unmatched WHERE source_sha256 = ?)", [sha256, sha256]).fetchone()
    return int(row[0]) >= int(seen["pages"])


def page_stored(vault: Vault, sha256: str, index: int) -> bool:
    """Whether this page of this source file is already in the vault (resume after a crash)."""
    q1 = vault.db.execute("SELECT 1 FROM pages WHERE source_sha256 = ? AND source_index = ?", [sha256, index]).fetchone()
    q2 = vault.db.execute("SELECT 1 FROM unmatched WHERE source_sha256 = ? AND source_index = ?", [sha256, index]).fetchone()
    return bool(q1 or q2)


def record_source(vault: Vault, sha256: str, name: str, pages: int, summary: dict[str, Any]) -> None:
    with transaction(vault.db):
        vault.db.execute(
            "INSERT OR REPLACE INTO source_files(sha256, name, pages, ingested_at, summary) VALUES (?,?,?,?,?)",
            [sha256, name, pages, now(), dumps(summary)],
        )


# -- unmatched pages ------------------------------------------------------------

def save_unmatched(vault: Vault, result, reason: str | None = None) -> int:
    image_id = vault.put_file(result.image_jpeg, "unmatched-page")
    thumb_id = vault.put_file(result.thumb_jpeg, "unmatched-thumb") if result.thumb_jpeg else None
    guess = {"template": result.template, "page": result.page, "sheet_id": result.sheet_id}
    with transaction(vault.db):
        cur = vault.db.execute(
            "INSERT INTO unmatched(image_file, thumb_file, source_sha256, source_index, reason, guess, status, created_at) "
            "VALUES (?,?,?,?,?,?,'open',?)",
            [image_id, thumb_id, result.sha256, result.index, reason or result.message, dumps(guess), now()],
        )
        assert cur.lastrowid is not None  # an INSERT always has one
        return int(cur.lastrowid)


def open_unmatched(vault: Vault) -> list[dict[str, Any]]:
    """Unmatched pages still waiting for a decision, oldest first (``guess`` still JSON text), with the
    ``source`` file's name (None until its ingest has ended) and ``source_page`` (1-based)."""
    return list(vault.db.query(
        "SELECT u.id, u.thumb_file, u.reason, u.guess, u.created_at, s.name AS source, "
        "u.source_index + 1 AS source_page FROM unmatched u LEFT JOIN source_files s ON s.sha256 = u.source_sha256 "
        "WHERE u.status = 'open' ORDER BY u.id"))


def unmatched_row(vault: Vault, unmatched_id: int) -> dict[str, Any] | None:
    """One unmatched page's row as stored (``guess`` still JSON text), or None."""
    rows = list(vault.db.query("SELECT * FROM unmatched WHERE id = ?", [unmatched_id]))
    return rows[0] if rows else None


def close_unmatched(vault: Vault, unmatched_id: int, status: str, guess: dict[str, Any] | None = None) -> None:
    """Mark an open unmatched page ``assigned`` (with its new ``guess``) or ``discarded``.

    Joins the caller's transaction if there is one (the assigned page is stored in the same one).
    """
    with transaction(vault.db):
        if guess is None:
            vault.db.execute("UPDATE unmatched SET status = ? WHERE id = ? AND status = 'open'",
                             [status, unmatched_id])
        else:
            vault.db.execute("UPDATE unmatched SET status = ?, guess = ? WHERE id = ? AND status = 'open'",
                             [status, dumps(guess), unmatched_id])


# -- identified pages -------------------------------------------------------------

def save_page(vault: Vault, result) -> dict[str, Any]:
    """Store an identified page and its field reads; returns what happened.

    A rescan becomes a new page version: pending values are replaced by the new
    read, confirmed values and private notes kept as written are never
    overwritten (the new read is logged and the field flagged ``rescan_differs``
    when it disagrees), except a confirmed risk answer read otherwise, which goes
    back to review with the new reading unless the session's note is signed. A rescan with nothing written on it, of a page whose
    stored reading has answers, is not stored at all (status ``unfilled``; :func:`_unfilled_copy`).
    """
    db = vault.db
    rows = list(db.query("SELECT * FROM sheets WHERE sheet_id = ?", [result.sheet_id]))
    if not rows:
        reason = f"sheet {result.sheet_id} was not printed from this vault"
        return {"status": "unmatched", "reason": reason, "unmatched_id": save_unmatched(vault, result, reason)}
    sheet = rows[0]
    if _unfilled_copy(db, result):
        return {"status": "unfilled", "session": sheet["id"], "kept_confirmed": 0}
    image_id = vault.put_file(result.image_jpeg, "page")
    crop_ids = vault.put_files([f.crop_png for f in result.fields], "crop")
    header_id = _put_header(vault, sheet, result)
    at = now()
    kept_confirmed = 0
    differs: list[str] = []  # keys of kept values the rescan reads differently
    reopened: list[str] = []  # keys of confirmed risk answers the rescan reads differently: back in review
    signed = is_signed(vault, sheet["id"])  # a signed note's values stay; an addendum corrects them
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
            existing = db.execute("SELECT id, status, confirmed_value, value, kept_at FROM fields "
                                  "WHERE sheet_id = ? AND key = ?", [result.sheet_id, f.key]).fetchone()
            new_value = dumps(f.value)
            if existing is None:
                cur = db.execute(
                    "INSERT INTO fields(sheet_id, page, key, kind, privacy, value, confidence, flags, crop_file, "
                    "page_version, alternative, status) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'pending')",
                    [result.sheet_id, f.page, f.key, f.kind, f.privacy, new_value, f.confidence,
                     dumps(f.flags), crop_id, version, f.raw.get("alternative")],
                )
                new_id = cur.lastrowid
                assert new_id is not None  # an INSERT always has one
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [new_id, at, "read", None, new_value])
                _save_draft_vectors(db, new_id, crop_id, f)
                continue
            field_id, status, confirmed_value, old_value, kept_at = existing
            if (status == "confirmed" and getattr(f, "risk", False) and loads(confirmed_value) != f.value
                    and not signed):
                # A risk answer the rescan reads otherwise is not left out of sight: it goes back to review
                # with the new reading and crop (the edit trail keeps what was confirmed), flagged rescan_reopened.
                db.execute(
                    "UPDATE fields SET status = 'pending', confirmed_value = NULL, confirmed_at = NULL, value = ?, "
                    "confidence = ?, flags = ?, crop_file = ?, page_version = ?, alternative = ? WHERE id = ?",
                    [new_value, f.confidence, dumps([*f.flags, "rescan_reopened"]), crop_id, version,
                     f.raw.get("alternative"), field_id])
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [field_id, at, "rescan-reopened-risk", confirmed_value, new_value])
                reopened.append(f.key)
                continue
            if status == "confirmed" or kept_at:
                # Confirmed, or a private note kept as written (its crop is the record): the clinician's
                # decision and what it was made on stay; the new read is logged, and flagged where it differs.
                kept_confirmed += 1
                flags = list(f.flags)
                kept = confirmed_value if status == "confirmed" else old_value
                if loads(kept) != f.value:
                    flags.append("rescan_differs")
                    differs.append(f.key)
                db.execute("UPDATE fields SET flags = ?, page_version = ? WHERE id = ?",
                           [dumps(flags), version, field_id])
                db.execute("INSERT INTO edits(field_id, at, action, old, new) VALUES (?,?,?,?,?)",
                           [field_id, at, "rescan-kept-confirmed" if status == "confirmed" else "rescan-kept-as-written",
                            kept, new_value])
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
                _save_draft_vectors(db, field_id, crop_id, f)
    # The old read's crops, once no field (a confirmed one keeps its own) refers to them.
    if replaced_bundles:
        for bundle in replaced_bundles - referenced_files(db):
            vault.delete_file(bundle)
    return {"status": "rescan" if version > 1 else "new", "session": sheet["id"], "version": version,
            "kept_confirmed": kept_confirmed, "differs": differs, "reopened": reopened}


def _answered(value: Any) -> bool:
    """A value with something in it (0 on a scale is an answer; an unticked box or an empty line is not)."""
    return not (value is None or value is False or value == [] or (isinstance(value, str) and not value.strip()))


def _unfilled_copy(db, result) -> bool:
    """A scan of this page with nothing written on it, where what was read from the stored page has answers.

    A sheet printed again (a jammed printer) can be scanned unfilled after the
    filled copy, and a scan too poor to read looks the same. Stored, it would
    replace every reading still waiting with nothing, and once the page is
    confirmed it would still become the page's image, every field flagged as
    read otherwise. Such a page is not stored; the filled page stays as it
    was. What counts is the machine's reading of the stored page (confirmed or
    not), so a page read blank and filled in by hand in review is rescanned as
    any page.
    """
    if any(_answered(f.value) for f in result.fields):
        return False
    read = db.execute("SELECT value FROM fields WHERE sheet_id = ? AND page = ?",
                      [result.sheet_id, result.page]).fetchall()
    return any(_answered(loads(value)) for (value,) in read)


def _save_draft_vectors(db, field_id: int, crop_id: str, read) -> None:
    """The word vectors the page worker put on a pending field's read, if it did (search by handwriting)."""
    vectors = read.draft_vectors
    if vectors is not None:
        handstore.save_draft_vectors(db, field_id, crop_id, vectors)


def _put_header(vault: Vault, sheet: dict[str, Any], result) -> str | None:
    """Encrypt the header crop of a page 1 whose sheet has no client yet (else keep nothing)."""
    if sheet["client"] or not getattr(result, "header_png", b""):
        return None
    return vault.put_file(result.header_png, "header")


def _save_header(db, result, version: int, crop_file: str, at: str) -> None:
    db.execute("INSERT OR REPLACE INTO sheet_headers(sheet_id, page_version, crop_file, guess, created_at) "
               "VALUES (?,?,?,?,?)",
               [result.sheet_id, version, crop_file, dumps(getattr(result, "header_guess", None) or {}), at])


# -- stored files ---------------------------------------------------------------------

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


def sweep_unreferenced_files(vault: Vault, min_age_s: float = 600.0) -> int:
    """Delete stored files no row refers to, and half-written temp files, left by a crash.

    Only files older than ``min_age_s``: a writer in another process (the review
    page learning a confirmed word) writes its file a moment before its row.
    """
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

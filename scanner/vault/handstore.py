"""The clinician's hand in the vault database: exemplar words, draft word vectors, the word trash.

All SQL of :mod:`scanner.hand` lives here (tables and triggers in
:mod:`scanner.vault.schema`, ``EXEMPLAR_DDL``). Vectors are stored as float16
bytes, one row of ``dims`` numbers per word (and per turned copy, for
exemplars); the hand package decodes them. The word images themselves are
encrypted files (``image_file``): a file is written before the row naming it,
and deleted only after its row is gone (``word_trash``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from scanner.vault.db import transaction

if TYPE_CHECKING:  # sqlite-utils is imported through scanner.vault.db (which binds it to SQLCipher)
    import sqlite_utils


def field_row(db: sqlite_utils.Database, field_id: int) -> dict[str, Any] | None:
    """A field with what its crop needs (template, page size), or None."""
    rows = list(db.query(
        "SELECT f.id, f.key, f.kind, f.privacy, f.status, f.value, f.confirmed_value, f.confidence, f.crop_file, "
        "s.template, s.page_size FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id WHERE f.id = ?",
        [int(field_id)]))
    return rows[0] if rows else None


# -- exemplars (confirmed words) ------------------------------------------------


def replace_exemplars(db: sqlite_utils.Database, row: dict[str, Any], words: list[tuple[str, str, str, np.ndarray]],
                      bundle: str) -> bool:
    """Make ``words`` (word, norm, image file, vectors) the exemplars of field ``row``; one transaction.

    Only if the field is still confirmed with the value they were cut for
    (``row["confirmed_value"]``); otherwise their image ``bundle`` goes to the
    trash and False is returned.
    """
    with transaction(db):
        current = db.execute("SELECT status, confirmed_value FROM fields WHERE id = ?", [row["id"]]).fetchone()
        if current is None or current[0] != "confirmed" or current[1] != row["confirmed_value"]:
            db.execute("INSERT OR IGNORE INTO word_trash(image_file) VALUES (?)", [bundle])
            return False
        db.execute("INSERT OR IGNORE INTO word_trash(image_file) SELECT DISTINCT substr(image_file, 1, 32) "
                   "FROM word_exemplars WHERE field_id = ?", [row["id"]])
        db.execute("DELETE FROM word_exemplars WHERE field_id = ?", [row["id"]])
        for n, (word, norm, image_id, vec) in enumerate(words):
            db.execute(
                "INSERT INTO word_exemplars(field_id, n, word, norm, privacy, source, image_file, vectors) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [row["id"], n, word, norm, row["privacy"], row["confirmed_value"], image_id,
                 np.asarray(vec, np.float16).tobytes()])
    return True


def take_trash(db: sqlite_utils.Database) -> list[str]:
    """The word-image bundles whose exemplars are gone, removed from the trash (delete their files next)."""
    with transaction(db):
        bundles = [r[0] for r in db.execute("SELECT image_file FROM word_trash").fetchall()]
        if bundles:
            db.execute("DELETE FROM word_trash")
    return bundles


def forget_all(db: sqlite_utils.Database) -> None:
    """Drop every exemplar (its images to the trash) and every draft vector (``inklock reindex``)."""
    with transaction(db):
        db.execute("INSERT OR IGNORE INTO word_trash(image_file) "
                   "SELECT DISTINCT substr(image_file, 1, 32) FROM word_exemplars")
        db.execute("DELETE FROM word_exemplars")
        db.execute("DELETE FROM word_drafts")


def learnable_field_ids(db: sqlite_utils.Database) -> list[int]:
    """Confirmed line/text fields with a crop, in crop order (bundles read together)."""
    return [r[0] for r in db.execute(
        "SELECT id FROM fields WHERE status = 'confirmed' AND kind IN ('line', 'text') AND crop_file IS NOT NULL "
        "ORDER BY crop_file, id").fetchall()]


def exemplar_ids(db: sqlite_utils.Database) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM word_exemplars")]


def exemplar_rows(db: sqlite_utils.Database, ids: list[int]) -> Iterator[tuple[int, str, str, bytes]]:
    """(id, word, norm, vectors) of the exemplar rows ``ids``."""
    for chunk in range(0, len(ids), 900):
        part = [int(i) for i in ids[chunk:chunk + 900]]
        marks = ",".join("?" * len(part))
        yield from db.execute(f"SELECT id, word, norm, vectors FROM word_exemplars WHERE id IN ({marks})", part)


# -- draft vectors (unconfirmed fields, for search by hand) ------------------------


def save_draft_vectors(db: sqlite_utils.Database, field_id: int, crop_id: str, vectors: np.ndarray) -> None:
    """Record the word vectors the page worker cut from a pending field's crop (inside the caller's transaction)."""
    db.execute("INSERT OR REPLACE INTO word_drafts(field_id, crop_file, words, vectors) VALUES (?, ?, ?, ?)",
               [field_id, crop_id, len(vectors), np.asarray(vectors, np.float16).tobytes()])


def fields_without_drafts(db: sqlite_utils.Database) -> list[int]:
    """Pending line/text fields with a crop but no draft vectors, in crop order (bundles read together)."""
    return [r[0] for r in db.execute(
        "SELECT f.id FROM fields f LEFT JOIN word_drafts d ON d.field_id = f.id WHERE f.status = 'pending' "
        "AND f.kind IN ('line', 'text') AND f.crop_file IS NOT NULL AND d.field_id IS NULL ORDER BY f.crop_file"
    ).fetchall()]


def save_repaired_drafts(db: sqlite_utils.Database, done: list[tuple[int, str, np.ndarray]]) -> None:
    """Draft vectors (field id, crop file they were cut from, vectors) cut again from stored crops; one transaction.

    Each only if its field is still pending with that crop (a rescan or a
    confirmation may have come between).
    """
    with transaction(db):
        for field_id, crop_file, vectors in done:
            db.execute("INSERT OR REPLACE INTO word_drafts(field_id, crop_file, words, vectors) "
                       "SELECT id, crop_file, ?, ? FROM fields WHERE id = ? AND crop_file = ? AND status = 'pending'",
                       [len(vectors), np.asarray(vectors, np.float16).tobytes(), field_id, crop_file])


def drafts_stamp(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Changes whenever draft vectors are added or dropped (to know when a cached copy is stale)."""
    row = db.execute("SELECT count(*), coalesce(sum(field_id), 0), coalesce(sum(words), 0) FROM word_drafts").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def draft_rows(db: sqlite_utils.Database) -> Iterator[tuple[int, int, bytes]]:
    """(field id, word count, vectors) of every draft with at least one word."""
    yield from db.execute("SELECT field_id, words, vectors FROM word_drafts WHERE words > 0")


def hand_stats(db: sqlite_utils.Database) -> dict[str, Any]:
    """How much of the hand is learned: exemplar words, distinct words, fields, drafts cut."""
    row = db.execute("SELECT count(*), count(DISTINCT norm), count(DISTINCT field_id), "
                     "coalesce(sum(length(vectors)), 0) FROM word_exemplars").fetchone()
    drafts = db.execute("SELECT count(*), coalesce(sum(words), 0) FROM word_drafts").fetchone()
    return {"words": row[0], "distinct": row[1], "fields": row[2], "vector_bytes": row[3],
            "draft_fields": drafts[0], "draft_words": drafts[1]}

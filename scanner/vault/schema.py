"""Database schemas and their migrations, numbered from the first release on.

``migrate(db)`` brings a vault database to the newest version; each step runs
in one transaction and records its number in ``meta.schema_version``.
The progress-note store is a separate SQLCipher file with its own schema
(``migrate_progress``): nothing from a private field is ever written there.
The search index's statements live in :mod:`scanner.vault.searchindex`.
"""

from __future__ import annotations

from typing import Callable

import scanner.vault.db  # noqa: F401  -- must precede sqlite_utils (SQLCipher as pysqlite3)
import sqlite_utils

from scanner.vault.searchindex import LABELS_DDL, label_rows, rebuild_script, search_index_ddl


def _v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS clients (
            code TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        -- One printed sheet = one session. id is the short number people type.
        CREATE TABLE IF NOT EXISTS sheets (
            id INTEGER PRIMARY KEY,
            sheet_id TEXT NOT NULL UNIQUE,
            template TEXT NOT NULL,
            template_version INTEGER NOT NULL,
            page_size TEXT NOT NULL,
            client TEXT,
            date TEXT,
            session_number INTEGER,
            blank INTEGER NOT NULL DEFAULT 0,
            printed_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS sheets_client ON sheets(client, date);
        -- Each input file ingested, by content hash (idempotent ingest).
        CREATE TABLE IF NOT EXISTS source_files (
            sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            pages INTEGER NOT NULL,
            ingested_at TEXT NOT NULL,
            summary TEXT
        );
        -- Every received page of a sheet; a rescan is a new version.
        CREATE TABLE IF NOT EXISTS pages (
            id INTEGER PRIMARY KEY,
            sheet_id TEXT NOT NULL REFERENCES sheets(sheet_id),
            page INTEGER NOT NULL,
            version INTEGER NOT NULL,
            image_file TEXT NOT NULL,
            registration_error_px REAL,
            flags TEXT NOT NULL DEFAULT '[]',
            source_sha256 TEXT,
            source_index INTEGER,
            ingested_at TEXT NOT NULL,
            UNIQUE(sheet_id, page, version)
        );
        -- Pages that could not be placed on a sheet, to assign in review.
        CREATE TABLE IF NOT EXISTS unmatched (
            id INTEGER PRIMARY KEY,
            image_file TEXT NOT NULL,
            thumb_file TEXT,
            source_sha256 TEXT,
            source_index INTEGER,
            reason TEXT NOT NULL,
            guess TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL
        );
        -- The current read of every field of every received sheet page.
        CREATE TABLE IF NOT EXISTS fields (
            id INTEGER PRIMARY KEY,
            sheet_id TEXT NOT NULL REFERENCES sheets(sheet_id),
            page INTEGER NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            privacy TEXT NOT NULL CHECK (privacy IN ('private', 'progress')),
            value TEXT,
            confidence REAL NOT NULL DEFAULT 0,
            flags TEXT NOT NULL DEFAULT '[]',
            crop_file TEXT,
            page_version INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed')),
            confirmed_value TEXT,
            confirmed_at TEXT,
            UNIQUE(sheet_id, key)
        );
        CREATE INDEX IF NOT EXISTS fields_status ON fields(status);
        -- Edit trail: every read, confirmation, correction, reopening and rescan.
        CREATE TABLE IF NOT EXISTS edits (
            id INTEGER PRIMARY KEY,
            field_id INTEGER NOT NULL REFERENCES fields(id),
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            old TEXT,
            new TEXT
        );
        -- The clinician's abbreviation list (defaults are added by the app).
        CREATE TABLE IF NOT EXISTS abbreviations (
            short TEXT PRIMARY KEY,
            long TEXT NOT NULL
        );
        """
    )


def _v2(db: sqlite_utils.Database) -> None:
    db.executescript(search_index_ddl(with_raw=False))


# -- the clinician's hand (scanner.hand.exemplars) -------------------------------------
#
# ``word_exemplars``: one row per word of a confirmed line/text field whose
# crop split into as many words as its transcription has; ``vectors`` are the
# word's shape vectors (float16, see scanner.hand.wordfeatures), ``image_file`` the
# encrypted word image (a member of one bundle per field). ``source`` is the
# confirmed value the words came from. ``word_drafts``: the word vectors of
# unconfirmed fields, for searching by handwriting; ``crop_file`` says which
# crop they were cut from. Triggers drop both whenever what they were made
# from changes (a correction, a reopening, a confirmation, a rescan), in the
# same transaction, so nothing stale is ever suggested or found; the word
# images of dropped exemplars go to ``word_trash`` (bundle ids) to be deleted.
EXEMPLAR_DDL = """
    CREATE TABLE IF NOT EXISTS word_exemplars (
        id INTEGER PRIMARY KEY,
        field_id INTEGER NOT NULL REFERENCES fields(id),
        n INTEGER NOT NULL,
        word TEXT NOT NULL,
        norm TEXT NOT NULL,
        privacy TEXT NOT NULL,
        source TEXT NOT NULL,
        image_file TEXT NOT NULL,
        vectors BLOB NOT NULL,
        UNIQUE(field_id, n)
    );
    CREATE INDEX IF NOT EXISTS word_exemplars_norm ON word_exemplars(norm);
    CREATE TABLE IF NOT EXISTS word_drafts (
        field_id INTEGER PRIMARY KEY REFERENCES fields(id),
        crop_file TEXT NOT NULL,
        words INTEGER NOT NULL,
        vectors BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS word_trash (
        image_file TEXT PRIMARY KEY
    );
    CREATE TRIGGER IF NOT EXISTS word_exemplars_stale
    AFTER UPDATE OF status, confirmed_value, crop_file ON fields
    WHEN new.status IS NOT old.status OR new.confirmed_value IS NOT old.confirmed_value
         OR new.crop_file IS NOT old.crop_file BEGIN
        INSERT OR IGNORE INTO word_trash(image_file)
            SELECT DISTINCT substr(image_file, 1, 32) FROM word_exemplars WHERE field_id = new.id;
        DELETE FROM word_exemplars WHERE field_id = new.id;
        DELETE FROM word_drafts WHERE field_id = new.id;
    END;
    CREATE TRIGGER IF NOT EXISTS word_exemplars_field_gone AFTER DELETE ON fields BEGIN
        INSERT OR IGNORE INTO word_trash(image_file)
            SELECT DISTINCT substr(image_file, 1, 32) FROM word_exemplars WHERE field_id = old.id;
        DELETE FROM word_exemplars WHERE field_id = old.id;
        DELETE FROM word_drafts WHERE field_id = old.id;
    END;
"""


def _v3(db: sqlite_utils.Database) -> None:
    db.executescript(EXEMPLAR_DDL)


# -- blank sheets (SPEC section 3) ------------------------------------------------
#
# A sheet printed with ``--blank`` has no client until the clinician assigns
# one in review. ``sheet_headers`` keeps, per scanned version of its page 1,
# the encrypted crop of the handwritten header (client code, date, session)
# and what recognition made of it (``guess``, JSON): a suggestion shown beside
# the crop, never written into the sheet by itself. ``sheet_assignments`` is
# the trail of what the clinician decided (and what was there before).
BLANK_SHEET_DDL = """
    CREATE TABLE IF NOT EXISTS sheet_headers (
        id INTEGER PRIMARY KEY,
        sheet_id TEXT NOT NULL REFERENCES sheets(sheet_id),
        page_version INTEGER NOT NULL,
        crop_file TEXT NOT NULL,
        guess TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        UNIQUE(sheet_id, page_version)
    );
    CREATE TABLE IF NOT EXISTS sheet_assignments (
        id INTEGER PRIMARY KEY,
        sheet_id TEXT NOT NULL REFERENCES sheets(sheet_id),
        at TEXT NOT NULL,
        client TEXT NOT NULL,
        date TEXT NOT NULL,
        session_number INTEGER,
        previous TEXT
    );
"""


def _v4(db: sqlite_utils.Database) -> None:
    db.executescript(BLANK_SHEET_DDL)


def _v5(db: sqlite_utils.Database) -> None:
    # What the other handwriting reader made of a doubtful line/text field,
    # where it differs from the value (scanner.ingest.ocr): offered in review only.
    db.execute("ALTER TABLE fields ADD COLUMN alternative TEXT")


def _v6(db: sqlite_utils.Database) -> None:
    # Settings of this vault's clinician (name, credentials, licence number),
    # printed on progress notes and their signature line (issue #14).
    db.execute("CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)")


def _v7(db: sqlite_utils.Database) -> None:
    # The search index also holds the line recogniser's raw reading of an
    # unconfirmed field where post-correction changed it: rebuilt whole.
    db.executescript(rebuild_script())


def _v8(db: sqlite_utils.Database) -> None:
    # Keep as handwritten (issue 14): a private line/text field the clinician
    # keeps as its crop, unconfirmed. Its status stays 'pending' (so its machine
    # reading stays in the search index as a draft); ``kept_at`` says when it
    # was kept. It no longer counts as waiting; confirming or reopening clears it.
    db.execute("ALTER TABLE fields ADD COLUMN kept_at TEXT")


def _v9(db: sqlite_utils.Database) -> None:
    # Ticked answers searchable by their label words (issue 14): the label
    # table, filled for the built-in templates (user templates at print time
    # and by 'inklock reindex'), and the search index rebuilt with the new body.
    from forms.model import list_templates

    db.executescript(LABELS_DDL)
    for template in list_templates():
        db.conn.executemany("INSERT OR REPLACE INTO search_labels(template, key, value, words) VALUES (?,?,?,?)",
                            label_rows(template))
    db.executescript(rebuild_script())


def _v10(db: sqlite_utils.Database) -> None:
    # The fingerprint of the layout a sheet was printed with (forms.catalog.Form.reading_digest):
    # a page whose template was edited since is never read against the new boxes.
    # Sheets printed before this have none (NULL) and are read as before.
    db.execute("ALTER TABLE sheets ADD COLUMN layout_digest TEXT")


def _v11(db: sqlite_utils.Database) -> None:
    # A draft's raw reading stands apart from its corrected one in the indexed
    # text (searchindex.RAW_MARK), so snippets can say which is which: rebuilt whole.
    db.executescript(rebuild_script())


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10,
                                                              _v11]


def _p1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS progress_notes (
            id INTEGER PRIMARY KEY,
            session INTEGER NOT NULL,
            sheet_id TEXT NOT NULL,
            client TEXT,
            date TEXT,
            format TEXT NOT NULL,
            created_at TEXT NOT NULL,
            content TEXT NOT NULL
        );
        """
    )


def _p2(db: sqlite_utils.Database) -> None:
    # Signed progress notes and their addenda (issue #14). A signed note is kept
    # as signed (its dict and its md/txt text) and never changes: triggers refuse
    # an UPDATE or DELETE, so a later fix can only be an addendum.
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS signed_notes (
            session INTEGER PRIMARY KEY,
            sheet_id TEXT NOT NULL,
            format TEXT NOT NULL,
            signed_at TEXT NOT NULL,
            signer TEXT NOT NULL,
            content TEXT NOT NULL,
            md TEXT NOT NULL,
            txt TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS addenda (
            id INTEGER PRIMARY KEY,
            session INTEGER NOT NULL REFERENCES signed_notes(session),
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE TRIGGER IF NOT EXISTS signed_notes_keep BEFORE UPDATE ON signed_notes
        BEGIN SELECT RAISE(ABORT, 'a signed note cannot change'); END;
        CREATE TRIGGER IF NOT EXISTS signed_notes_stay BEFORE DELETE ON signed_notes
        BEGIN SELECT RAISE(ABORT, 'a signed note cannot be deleted'); END;
        CREATE TRIGGER IF NOT EXISTS addenda_keep BEFORE UPDATE ON addenda
        BEGIN SELECT RAISE(ABORT, 'an addendum cannot change'); END;
        CREATE TRIGGER IF NOT EXISTS addenda_stay BEFORE DELETE ON addenda
        BEGIN SELECT RAISE(ABORT, 'an addendum cannot be deleted'); END;
        """
    )


PROGRESS_MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_p1, _p2]


def _run(db: sqlite_utils.Database, steps: list[Callable[[sqlite_utils.Database], None]]) -> int:
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    current = int(row[0]) if row else 0
    if current > len(steps):
        from scanner.errors import VaultDamaged

        raise VaultDamaged(
            f"This vault was written by a newer Inklock (schema {current}); upgrade Inklock to open it."
        )
    for number, step in enumerate(steps[current:], start=current + 1):
        with conn:
            step(db)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )
    return len(steps)


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the vault database to the newest schema; return its version."""
    return _run(db, MIGRATIONS)


def migrate_progress(db: sqlite_utils.Database) -> int:
    """Bring the progress-note store to the newest schema; return its version."""
    return _run(db, PROGRESS_MIGRATIONS)

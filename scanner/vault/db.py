"""Encrypted SQLite connections: SQLCipher (``sqlcipher3``) used through sqlite-utils.

sqlite-utils picks its driver when it is first imported: it uses ``pysqlite3``
if that module can be imported, else the standard ``sqlite3``. Registering
``sqlcipher3`` under the ``pysqlite3`` names here makes sqlite-utils catch
SQLCipher's exceptions (``drop(ignore=True)`` and friends rely on that). So this
module must be imported before ``sqlite_utils`` anywhere in the process:
``scanner/vault.py`` imports it first, and ``import scanner.vault.db`` at the top of
any module that imports sqlite-utils keeps that true.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlcipher3
from sqlcipher3 import dbapi2

if "sqlite_utils.utils" in sys.modules:
    _bound = getattr(sys.modules["sqlite_utils.utils"], "dbapi2", None)
    if _bound is not dbapi2:
        raise ImportError("scanner.vault.db must be imported before sqlite_utils (it binds sqlite-utils to SQLCipher).")
sys.modules["pysqlite3"] = sqlcipher3
sys.modules["pysqlite3.dbapi2"] = dbapi2

import sqlite_utils  # noqa: E402  (must come after the aliases above)

from scanner.errors import VaultDamaged  # noqa: E402

SQLITE_HEADER = b"SQLite format 3\x00"


def connect(path: Path, raw_key: bytes) -> sqlite_utils.Database:
    """Open (or create) the SQLCipher file at ``path`` with a raw 256-bit key.

    A raw key (``x'..'``) skips SQLCipher's own PBKDF2: the key already comes
    from Argon2id + HKDF. Raises :class:`VaultDamaged` when the file cannot be
    decrypted with this key.
    """
    conn = dbapi2.connect(str(path), check_same_thread=False)
    try:
        # SQLCipher otherwise prints page-decryption failures on stderr; we
        # report them as one sentence instead.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{raw_key.hex()}'\"")
        # Temporary tables and sort spills stay in memory: SQLCipher does not
        # encrypt temp files, and they would land in /tmp.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA foreign_keys = ON")
    except dbapi2.DatabaseError as exc:
        conn.close()
        raise VaultDamaged(f"The database {path} cannot be decrypted or read ({exc}).") from exc
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
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


def is_plain_sqlite(path: Path) -> bool:
    """True if the file starts with the plaintext SQLite header (i.e. is not encrypted)."""
    with open(path, "rb") as fh:
        return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER

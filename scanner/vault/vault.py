"""The encrypted vault: one folder, everything in it encrypted at rest (SPEC section 5).

Layout of the vault folder (mode 0700, files 0600)::

    keys.json      format version, Argon2id parameters + salt, the data key
                   wrapped (AES-GCM) by the passphrase key and by the recovery key
    vault.db       SQLCipher: sheets, fields, psychotherapy notes
    progress.db    SQLCipher: progress notes only (a separate store)
    files/ab/<id>.bin   page images and crops, AES-GCM, named by random ids

The random 256-bit data key never touches the disk unwrapped. Each database is
opened with its own raw key and the files with a third, all HKDF subkeys of
the data key, so changing the passphrase rewraps one small key and re-encrypts
nothing.
"""

from __future__ import annotations

import scanner.vault.db  # noqa: F401  (first: binds sqlite-utils to SQLCipher)

import base64
import hashlib
import json
import os
import re
import secrets
import struct
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from scanner.vault import crypto
from scanner.vault import lock as vaultlock
from scanner.vault import schema
from scanner.vault.db import connect, is_plain_sqlite
from scanner.errors import Refused, UsageError, VaultDamaged, VaultMissing, WrongPassphrase
from scanner.outfile import fsync_dir  # noqa: F401  (also used by scanner.vault.backup through this module)

KEY_FILE = "keys.json"
VAULT_DB = "vault.db"
PROGRESS_DB = "progress.db"
FILES_DIR = "files"
KEY_FILE_FORMAT = "inklock-vault-keys"
KEY_FILE_VERSION = 1
FILE_MAGIC = b"ILF1"
_FILE_ID = re.compile(r"^[0-9a-f]{32}$")
_KIND = re.compile(r"^[a-z0-9_-]{1,32}$")


# ---------------------------------------------------------------- files on disk


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) via a temp file in the same folder, fsync and rename."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _touch_private(path: Path) -> None:
    # SQLite gives its -wal/-shm files the main file's mode: create it 0600 first.
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


# ---------------------------------------------------------------- key file


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _doc_checksum(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class KeyFile:
    """The contents of ``keys.json``: the data key wrapped twice, plus how to unwrap it."""

    vault_id: str
    created_at: str
    argon2: crypto.Argon2Params
    passphrase_wrap: bytes
    recovery_salt: bytes
    recovery_wrap: bytes

    def _passphrase_aad(self) -> bytes:
        # Binds the wrap to this vault and to its KDF parameters.
        params = json.dumps(self.argon2.public(), sort_keys=True)
        return f"inklock keys v1|passphrase|{self.vault_id}|{params}".encode()

    def _recovery_aad(self) -> bytes:
        return f"inklock keys v1|recovery|{self.vault_id}".encode()

    @classmethod
    def new(cls, data_key: bytes, passphrase: str, recovery_code: str) -> KeyFile:
        """Wrap ``data_key`` under the passphrase and the recovery code."""
        blank = cls(
            vault_id=secrets.token_hex(16),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            argon2=crypto.new_argon2_params(),
            passphrase_wrap=b"",
            recovery_salt=os.urandom(crypto.SALT_BYTES),
            recovery_wrap=b"",
        )
        rkey = crypto.recovery_key(recovery_code, blank.recovery_salt)
        with_recovery = replace(blank, recovery_wrap=crypto.seal(rkey, data_key, blank._recovery_aad()))
        return with_recovery.rewrapped(data_key, passphrase)

    def rewrapped(self, data_key: bytes, passphrase: str) -> KeyFile:
        """The same key file with the data key wrapped under a new passphrase (fresh salt)."""
        fresh = replace(self, argon2=crypto.new_argon2_params())
        kek = crypto.passphrase_key(passphrase, fresh.argon2)
        return replace(fresh, passphrase_wrap=crypto.seal(kek, data_key, fresh._passphrase_aad()))

    def unwrap(self, passphrase: str | None = None, recovery_code: str | None = None, where: str = "") -> bytes:
        """The data key; raises :class:`WrongPassphrase` if neither secret opens it."""
        if recovery_code is not None:
            try:
                rkey = crypto.recovery_key(recovery_code, self.recovery_salt)
                return crypto.unseal(rkey, self.recovery_wrap, self._recovery_aad())
            except crypto.BadRecoveryCode as exc:
                raise WrongPassphrase(
                    "That is not a recovery code: it has 32 letters and digits in groups of four."
                ) from exc
            except crypto.DecryptionFailed as exc:
                raise WrongPassphrase(f"That recovery code does not open the vault{where}.") from exc
        if passphrase is None:
            raise UsageError("Give the vault passphrase or the recovery code.")
        try:
            kek = crypto.passphrase_key(passphrase, self.argon2)
            return crypto.unseal(kek, self.passphrase_wrap, self._passphrase_aad())
        except crypto.DecryptionFailed as exc:
            raise WrongPassphrase(f"Wrong passphrase for the vault{where}.") from exc

    def to_bytes(self) -> bytes:
        """Serialised ``keys.json`` (nothing in it is secret without the passphrase or code)."""
        doc = {
            "format": KEY_FILE_FORMAT,
            "version": KEY_FILE_VERSION,
            "vault_id": self.vault_id,
            "created_at": self.created_at,
            "passphrase": {
                "kdf": "argon2id",
                **self.argon2.public(),
                "salt": _b64(self.argon2.salt),
                "wrapped_key": _b64(self.passphrase_wrap),
            },
            "recovery": {
                "kdf": "hkdf-sha256",
                "salt": _b64(self.recovery_salt),
                "wrapped_key": _b64(self.recovery_wrap),
            },
            "cipher": "aes-256-gcm",
        }
        doc["checksum"] = _doc_checksum(doc)
        return (json.dumps(doc, indent=2) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> KeyFile:
        """Parse ``keys.json``; raises :class:`VaultDamaged` naming ``where`` if it is not one."""
        try:
            doc = json.loads(raw)
            if doc.get("format") != KEY_FILE_FORMAT:
                raise ValueError("not an Inklock key file")
            if doc.get("version") != KEY_FILE_VERSION:
                raise ValueError(f"key file version {doc.get('version')} is not supported")
            if doc.pop("checksum", None) != _doc_checksum(doc):
                # Tells bit rot apart from a wrong passphrase (not a security check:
                # the AES-GCM wraps are what authenticate the key).
                raise ValueError("checksum mismatch")
            pw, rc = doc["passphrase"], doc["recovery"]
            if pw["kdf"] != "argon2id" or rc["kdf"] != "hkdf-sha256":
                raise ValueError("unknown key derivation")
            params = crypto.Argon2Params(
                time_cost=int(pw["time_cost"]),
                memory_cost_kib=int(pw["memory_cost_kib"]),
                parallelism=int(pw["parallelism"]),
                salt=base64.b64decode(pw["salt"], validate=True),
            )
            return cls(
                vault_id=str(doc["vault_id"]),
                created_at=str(doc.get("created_at", "")),
                argon2=params,
                passphrase_wrap=base64.b64decode(pw["wrapped_key"], validate=True),
                recovery_salt=base64.b64decode(rc["salt"], validate=True),
                recovery_wrap=base64.b64decode(rc["wrapped_key"], validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VaultDamaged(f"The key file {where} is damaged ({exc}).") from exc


# ---------------------------------------------------------------- the vault


class Vault:
    """An unlocked vault: two SQLCipher databases and a folder of encrypted files.

    Build one with :meth:`create` or :meth:`open`. The connections allow use
    from several threads, but callers must not use one connection from two
    threads at the same time.
    """

    def __init__(self, path: Path, keys: KeyFile, data_key: bytes):
        """Open the databases of an already-unlocked vault (use :meth:`create` or :meth:`open`)."""
        self.path = path
        self._keys = keys
        self._data_key = data_key
        self._file_key = purpose_key(data_key, "files")
        self._bundle_cache: dict[str, bytes] = {}
        # Set to None by close(); typed as open because that is how callers use them.
        self.db: sqlite_utils.Database = None  # type: ignore[assignment]
        self.progress_db: sqlite_utils.Database = None  # type: ignore[assignment]
        # Held while this vault is open, so that `restore` cannot replace it under us (scanner.vault.lock).
        self._in_use = vaultlock.share_in_use(path)
        if self._in_use is None:
            raise Refused(f"The vault at {path} is being restored from a backup; try again when that is done.")
        try:
            self.db = connect(path / VAULT_DB, self._db_key(VAULT_DB))
            self.progress_db = connect(path / PROGRESS_DB, self._db_key(PROGRESS_DB))
            schema.migrate(self.db)
            schema.migrate_progress(self.progress_db)
        except BaseException:
            self.close()
            raise

    # -- life cycle

    @classmethod
    def create(cls, path: Path | str, passphrase: str) -> tuple[Vault, str]:
        """Create a new vault at ``path``; return it, unlocked, and its recovery code.

        Refuses (exit 3) if a vault or anything else is already there. The
        vault is built in a hidden folder beside ``path`` and renamed into
        place, so an interrupted ``create`` leaves nothing half-made.
        """
        path = Path(path).expanduser()
        if not passphrase:
            raise UsageError("The passphrase must not be empty.")
        if (path / KEY_FILE).exists():
            raise Refused(f"A vault already exists at {path}; nothing was changed.")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise Refused(f"{path} exists and is not an empty folder; choose another place for the vault.")
        path.parent.mkdir(parents=True, exist_ok=True)
        data_key = crypto.new_data_key()
        recovery_code = crypto.new_recovery_code()
        keys = KeyFile.new(data_key, passphrase, recovery_code)
        build = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))  # 0700
        try:
            (build / FILES_DIR).mkdir(mode=0o700)
            atomic_write(build / KEY_FILE, keys.to_bytes())
            for name in (VAULT_DB, PROGRESS_DB):
                _touch_private(build / name)
            cls(build, keys, data_key).close()
            for name in (VAULT_DB, PROGRESS_DB):
                if is_plain_sqlite(build / name):
                    raise VaultDamaged(f"{name} was written without encryption; the vault was not created.")
            if path.exists():
                path.rmdir()
            os.rename(build, path)
            fsync_dir(path.parent)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return cls(path, keys, data_key), recovery_code

    @classmethod
    def open(
        cls, path: Path | str, passphrase: str | None = None, recovery_code: str | None = None
    ) -> Vault:
        """Unlock the vault at ``path`` with its passphrase or its recovery code.

        Raises :class:`VaultMissing` (no vault there), :class:`VaultDamaged`
        (key file or database unreadable) or :class:`WrongPassphrase`; on any
        of these nothing in the folder is changed.
        """
        path = Path(path).expanduser()
        keys = read_key_file(path)
        data_key = keys.unwrap(passphrase, recovery_code, where=f" at {path}")
        for name in (VAULT_DB, PROGRESS_DB):
            if not (path / name).is_file():
                raise VaultDamaged(f"The vault at {path} has lost {name}; restore it from a backup.")
        return cls(path, keys, data_key)

    def close(self) -> None:
        """Close both databases (a checkpoint folds the write-ahead logs back in)."""
        for db in (self.db, self.progress_db):
            if db is not None:
                db.close()
        self.db = self.progress_db = None  # type: ignore[assignment]
        vaultlock.release(getattr(self, "_in_use", None))
        self._in_use = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- keys

    @property
    def vault_id(self) -> str:
        """Random identifier of this vault (not secret; ties backups to it)."""
        return self._keys.vault_id

    def change_passphrase(self, new_passphrase: str) -> None:
        """Rewrap the data key under ``new_passphrase``; nothing else is re-encrypted.

        The recovery code keeps working. The key file is replaced atomically.
        """
        if not new_passphrase:
            raise UsageError("The new passphrase must not be empty.")
        keys = self._keys.rewrapped(self._data_key, new_passphrase)
        atomic_write(self.path / KEY_FILE, keys.to_bytes())
        self._keys = keys

    def derive_key(self, purpose: str) -> bytes:
        """A 256-bit subkey of the data key for ``purpose`` (e.g. sealing a backup)."""
        return purpose_key(self._data_key, purpose)

    def _db_key(self, name: str) -> bytes:
        return purpose_key(self._data_key, f"sqlcipher {name}")

    def snapshot_databases(self, dest_dir: Path) -> list[Path]:
        """Consistent encrypted copies of both databases in ``dest_dir`` (SQLite backup API).

        The copies are encrypted with the same keys, so they never exist in
        plaintext anywhere.
        """
        out = []
        for name, db in ((VAULT_DB, self.db), (PROGRESS_DB, self.progress_db)):
            target_path = dest_dir / name
            _touch_private(target_path)
            target = connect(target_path, self._db_key(name))
            try:
                db.conn.backup(target.conn)
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
            if is_plain_sqlite(target_path):
                raise VaultDamaged(f"The copy of {name} came out unencrypted; the backup was stopped.")
            out.append(target_path)
        return out

    # -- encrypted files

    def put_file(self, data: bytes, kind: str) -> str:
        """Encrypt and store ``data``; return its new random file id.

        ``kind`` (e.g. ``"page"``, ``"crop"``) is authenticated with the file.
        Write the file first, then the database row that refers to it.
        """
        if not _KIND.match(kind):
            raise UsageError(f"File kind {kind!r} must be 1-32 lowercase letters, digits, '-' or '_'.")
        file_id = secrets.token_hex(16)
        header = FILE_MAGIC + bytes([len(kind)]) + kind.encode("ascii")
        blob = crypto.seal(self._file_key, data, header + file_id.encode("ascii"))
        target = self._file_path(file_id)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        atomic_write(target, header + blob)
        return file_id

    def put_files(self, items: list[bytes], kind: str) -> list[str]:
        """Store several small files (a page's field crops) as one encrypted bundle.

        One file and one fsync instead of one per crop: the per-file fsyncs cost
        more than the whole page read. Returns member ids ``<bundle id>#<n>``,
        which :meth:`get_file` accepts like any file id.
        """
        if not items:
            return []
        header = struct.pack(f"<I{len(items)}I", len(items), *(len(b) for b in items))
        bundle_id = self.put_file(header + b"".join(items), kind + "-bundle")
        return [f"{bundle_id}#{n}" for n in range(len(items))]

    def _get_member(self, file_id: str) -> bytes:
        bundle_id, _, number = file_id.partition("#")
        if not number.isdigit():
            raise VaultDamaged(f"{file_id!r} is not a stored-file id.")
        cached = self._bundle_cache.get(bundle_id)
        if cached is None:
            cached = self.get_file(bundle_id)
            self._bundle_cache = {bundle_id: cached}  # the last bundle: a page's crops are read together
        (count,) = struct.unpack_from("<I", cached, 0)
        n = int(number)
        if n >= count:
            raise VaultDamaged(f"The stored file {file_id} is missing from its bundle.")
        sizes = struct.unpack_from(f"<{count}I", cached, 4)
        start = 4 + 4 * count + sum(sizes[:n])
        return cached[start:start + sizes[n]]

    def get_file(self, file_id: str) -> bytes:
        """Decrypt and return a stored file; :class:`VaultDamaged` if missing or altered."""
        if isinstance(file_id, str) and "#" in file_id:
            return self._get_member(file_id)
        target = self._file_path(file_id)
        try:
            raw = target.read_bytes()
        except FileNotFoundError as exc:
            raise VaultDamaged(f"The stored file {file_id} is missing from the vault at {self.path}.") from exc
        kind_len = raw[4] if len(raw) > 4 else 0
        header = raw[: 5 + kind_len]
        if not raw.startswith(FILE_MAGIC) or not _KIND.match(header[5:].decode("ascii", "replace")):
            raise VaultDamaged(f"The stored file {file_id} is damaged (unknown format).")
        try:
            return crypto.unseal(self._file_key, raw[5 + kind_len :], header + file_id.encode("ascii"))
        except crypto.DecryptionFailed as exc:
            raise VaultDamaged(f"The stored file {file_id} is damaged or was altered.") from exc

    def delete_file(self, file_id: str) -> None:
        """Remove a stored file (no error if it is already gone). Delete its row first."""
        self._file_path(file_id).unlink(missing_ok=True)

    def list_files(self) -> list[str]:
        """Ids of every stored file, sorted."""
        root = self.path / FILES_DIR
        return sorted(p.stem for p in root.glob("??/*.bin") if _FILE_ID.match(p.stem))

    def _file_path(self, file_id: str) -> Path:
        if not isinstance(file_id, str) or not _FILE_ID.match(file_id):
            raise VaultDamaged(f"{file_id!r} is not a stored-file id.")
        return self.path / FILES_DIR / file_id[:2] / f"{file_id}.bin"


def purpose_key(data_key: bytes, purpose: str) -> bytes:
    """The HKDF subkey of ``data_key`` for ``purpose`` (the same with or without an open vault)."""
    return crypto.subkey(data_key, f"inklock {purpose} v1")


def read_key_file(path: Path) -> KeyFile:
    """Read and parse ``path/keys.json``; :class:`VaultMissing` if there is no vault."""
    key_path = path / KEY_FILE
    if not key_path.is_file():
        if (path / VAULT_DB).exists():
            raise VaultDamaged(f"The vault at {path} has lost its key file ({KEY_FILE}); restore it from a backup.")
        raise VaultMissing(f"No vault at {path}: run 'inklock init' first.")
    return KeyFile.from_bytes(key_path.read_bytes(), str(key_path))

"""Single-file vault backups and their verified restore (SPEC section 5).

A backup is an uncompressed tar holding only ciphertext:

    inklock-backup.json   format marker (vault id, date; nothing secret)
    keys.json             the vault's key file (wrapped data key)
    vault.db, progress.db consistent SQLCipher copies (SQLite backup API)
    files/ab/<id>.bin     the AES-GCM encrypted files, as stored
    templates/<file>.sealed  the clinician's own forms (``<vault>/templates``),
                          AES-GCM sealed under a subkey of the data key: sheets
                          printed from them are read back only with them
    manifest.sealed       size and SHA-256 of every member above, AES-GCM
                          sealed under a subkey of the data key

Restore unwraps the data key from the backup's own key file (so it needs that
passphrase), checks the sealed manifest and every member's checksum before
writing anything, extracts into a hidden folder beside the target, checks the
databases, and only then renames it into place.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scanner import outfile
from scanner.vault import crypto
from scanner.vault import lock as vaultlock
from scanner.errors import BadInput, Refused, UsageError, VaultDamaged
from scanner.vault.vault import (
    FILES_DIR,
    KEY_FILE,
    PROGRESS_DB,
    VAULT_DB,
    KeyFile,
    Vault,
    fsync_dir,
    purpose_key,
)

MARKER = "inklock-backup.json"
MANIFEST = "manifest.sealed"
FORMAT = "inklock-backup"
VERSION = 1
TEMPLATES = "templates"
# A form file's name as kept in the backup: letters, digits, '.', '_', '-' and a space, no folder.
_TEMPLATE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,120}"
_MEMBER = re.compile(rf"^(?:{re.escape(KEY_FILE)}|{VAULT_DB}|{PROGRESS_DB}|{FILES_DIR}/[0-9a-f]{{2}}/[0-9a-f]{{32}}\.bin"
                     rf"|{TEMPLATES}/{_TEMPLATE_NAME}\.sealed)$")
_TEMPLATE_LIMIT = 4 << 20  # a form file is a few kilobytes; ingest refuses far smaller ones than this
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds."""

    path: Path
    files: int
    bytes: int


def _manifest_aad(vault_id: str) -> bytes:
    return f"inklock backup manifest v{VERSION}|{vault_id}".encode()


class _HashingReader:
    """File wrapper that hashes what tarfile reads from it."""

    def __init__(self, fh):
        self._fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def write_backup(vault: Vault, dest: Path | str) -> BackupSummary:
    """Write an encrypted, self-verifying backup of ``vault`` to ``dest`` (replaced atomically)."""
    raw = Path(dest).expanduser().absolute()
    dest = raw.parent.resolve() / raw.name  # the file itself is not followed: a link is refused below
    if dest.is_relative_to(vault.path.resolve()):
        raise UsageError("Write the backup outside the vault folder.")
    if dest.is_dir():
        raise UsageError(f"{dest} is a folder; give a file name for the backup.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    outfile.check_target(dest)  # a link, pipe or device is refused, never replaced
    work = Path(tempfile.mkdtemp(prefix=".inklock-backup-", dir=dest.parent))  # 0700, beside dest
    try:
        db_copies = vault.snapshot_databases(work)
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        marker = json.dumps({"format": FORMAT, "version": VERSION, "vault_id": vault.vault_id, "created_at": created})
        members: dict[str, dict] = {}
        archive_path = work / "backup.tar"
        fd = os.open(archive_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MARKER, marker.encode(), members)
            _add_bytes(tar, KEY_FILE, (vault.path / KEY_FILE).read_bytes(), members)
            for copy in db_copies:
                _add_file(tar, copy.name, copy, members)
            for file_id in vault.list_files():
                rel = f"{FILES_DIR}/{file_id[:2]}/{file_id}.bin"
                try:
                    _add_file(tar, rel, vault.path / rel, members)
                except FileNotFoundError:
                    continue  # deleted while we were copying: its row is gone too
            for name, data in _template_files(vault.path):
                sealed = crypto.seal(vault.derive_key("backup-template"), data, _template_aad(vault.vault_id, name))
                _add_bytes(tar, f"{TEMPLATES}/{name}.sealed", sealed, members)
            manifest = json.dumps(
                {"format": FORMAT, "version": VERSION, "vault_id": vault.vault_id, "members": members},
                sort_keys=True,
            ).encode()
            sealed = crypto.seal(vault.derive_key("backup-manifest"), manifest, _manifest_aad(vault.vault_id))
            _add_bytes(tar, MANIFEST, sealed, None)
            tar.close()
            out.flush()
            os.fsync(out.fileno())
        outfile.commit(archive_path, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n_files = sum(1 for name in members if name.startswith(FILES_DIR + "/"))
    return BackupSummary(path=dest, files=n_files, bytes=dest.stat().st_size)


def _template_files(vault_path: Path) -> list[tuple[str, bytes]]:
    """The vault's own form files (as ``forms`` lists them: YAML or JSON files of ``<vault>/templates``)."""
    from forms.model import TEMPLATE_SUFFIXES

    folder = vault_path / TEMPLATES
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in TEMPLATE_SUFFIXES or not path.is_file():
            continue
        if not re.fullmatch(_TEMPLATE_NAME, path.name):
            raise UsageError(f"The form file {path} has a name a backup cannot keep; rename it with letters, "
                             "digits, '-' and '_' only (no backup was written).")
        data = path.read_bytes()
        if len(data) > _TEMPLATE_LIMIT:
            raise UsageError(f"The form file {path} is over 4 MB, far larger than any form (no backup was written).")
        out.append((path.name, data))
    return out


def _template_aad(vault_id: str, name: str) -> bytes:
    return f"inklock-backup-template:{vault_id}:{name}".encode()


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, members: dict | None) -> None:
    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    if members is not None:
        members[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _add_file(tar: tarfile.TarFile, name: str, path: Path, members: dict) -> None:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        reader = _HashingReader(fh)
        tar.addfile(_tarinfo(name, size), reader)
    members[name] = {"size": size, "sha256": reader.sha.hexdigest()}


# ---------------------------------------------------------------- restore


def restore_backup(
    src: Path | str,
    target: Path | str,
    passphrase: str | None = None,
    force: bool = False,
    recovery_code: str | None = None,
) -> Path:
    """Restore the backup ``src`` into the vault folder ``target``; return ``target``.

    Unlocks with the passphrase the vault had when the backup was made, or
    with its recovery code. Refuses to replace an existing vault unless
    ``force`` (exit 3), a damaged or foreign backup (exit 4) and a wrong
    passphrase (exit 3); in every refusal nothing is written.
    """
    src = Path(src).expanduser()
    target = Path(target).expanduser().absolute()
    check_restore_target(target, force)
    if not src.is_file():
        raise BadInput(f"No backup file at {src}.")
    damaged = f"The backup {src} is damaged or is not an Inklock backup."
    try:
        with tarfile.open(src, "r:") as tar:
            index = _index(tar, damaged)
            keys = KeyFile.from_bytes(_read(tar, index[KEY_FILE]), f"in the backup {src}")
            data_key = keys.unwrap(passphrase, recovery_code, where=f" in the backup {src}")
            expected = _open_manifest(tar, index, keys, data_key, damaged)
            for name, want in expected.items():
                _check_member(tar, index[name], want, damaged)
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
            unused = None
            try:
                _extract(tar, index, expected, staging, damaged, (keys.vault_id, data_key))
                _check_databases(staging, keys, data_key)
                unused = _nobody_using(target)
                _swap_in(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            finally:
                vaultlock.release(unused)
    except (tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
        raise VaultDamaged(damaged) from exc
    return target


def check_restore_target(target: Path, force: bool) -> None:
    """Refuse a target holding a vault (unless ``force``) or anything that is not a vault."""
    if target.is_symlink():
        raise BadInput(f"{target} is a symbolic link; restore into a real folder (nothing was restored).")
    if not target.exists():
        return
    if not target.is_dir():
        raise Refused(f"{target} is a file, not a vault folder; nothing was restored.")
    if (target / KEY_FILE).exists():
        if not force:
            raise Refused(f"A vault already exists at {target}; add --force to replace it with the backup.")
        vaultlock.release(_nobody_using(target))  # said before the passphrase is asked; checked again at the swap
    elif any(target.iterdir()):
        raise Refused(f"{target} is not empty and holds no vault; restore into an empty or new folder.")


def _nobody_using(target: Path) -> int | None:
    """Refuse (exit 3) while a process has the vault at ``target`` open; else hold it closed to others (an fd)."""
    if not (target / KEY_FILE).exists():
        return None
    fd = vaultlock.take_unused(target)
    if fd is None:
        raise Refused(f"The vault at {target} is open in another inklock (a review page, watch or ingest): "
                      "stop it, then restore again; nothing was restored.")
    return fd


def _index(tar: tarfile.TarFile, damaged: str) -> dict[str, tarfile.TarInfo]:
    index: dict[str, tarfile.TarInfo] = {}
    for info in tar.getmembers():
        allowed = info.name in (MARKER, MANIFEST) or _MEMBER.match(info.name)
        if not info.isreg() or not allowed or info.name in index:
            raise VaultDamaged(damaged)
        index[info.name] = info
    if MARKER not in index:
        raise BadInput(damaged)
    try:
        marker = json.loads(_read(tar, index[MARKER]))
    except ValueError as exc:
        raise BadInput(damaged) from exc
    if not isinstance(marker, dict) or marker.get("format") != FORMAT:
        raise BadInput(damaged)
    if marker.get("version") != VERSION:
        raise BadInput(f"The backup format version {marker.get('version')} is not supported by this Inklock.")
    for needed in (KEY_FILE, MANIFEST, VAULT_DB, PROGRESS_DB):
        if needed not in index:
            raise VaultDamaged(damaged)
    return index


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo, limit: int = 1 << 20) -> bytes:
    if info.size > limit:
        raise VaultDamaged(f"The backup member {info.name} is implausibly large.")
    fh = tar.extractfile(info)
    return fh.read() if fh else b""


def _open_manifest(tar, index, keys: KeyFile, data_key: bytes, damaged: str) -> dict[str, dict]:
    try:
        raw = crypto.unseal(
            purpose_key(data_key, "backup-manifest"),
            _read(tar, index[MANIFEST], limit=1 << 28),  # ~100 bytes per stored file
            _manifest_aad(keys.vault_id),
        )
        manifest = json.loads(raw)
        members = manifest["members"]
    except (crypto.DecryptionFailed, ValueError, KeyError, TypeError) as exc:
        raise VaultDamaged(f"{damaged[:-1]} (its sealed manifest does not verify).") from exc
    if manifest.get("vault_id") != keys.vault_id or set(members) != set(index) - {MANIFEST}:
        raise VaultDamaged(f"{damaged[:-1]} (its members do not match the manifest).")
    return members


def _stream(tar: tarfile.TarFile, info: tarfile.TarInfo, sink=None) -> tuple[str, int]:
    fh = tar.extractfile(info)
    assert fh is not None, info.name  # the members are regular files (checked when listed)
    sha, size = hashlib.sha256(), 0
    while chunk := fh.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return sha.hexdigest(), size


def _check_member(tar, info, want: dict, damaged: str, sink=None) -> None:
    digest, size = _stream(tar, info, sink)
    if size != want.get("size") or digest != want.get("sha256"):
        raise VaultDamaged(f"{damaged[:-1]} ({info.name} does not match its checksum).")


def _extract(tar, index, expected: dict, staging: Path, damaged: str, unlocked: tuple[str, bytes]) -> None:
    """Write every member into ``staging``, checking each checksum again as it is written.

    The forms' files are unsealed and written as the clinician wrote them.
    """
    for name, want in expected.items():
        if name == MARKER:
            continue
        if name.startswith(TEMPLATES + "/"):
            _extract_template(tar, index[name], want, staging, damaged, unlocked)
            continue
        out = staging / name
        _private_dirs(staging, out.parent)
        fd = os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as fh:
            _check_member(tar, index[name], want, damaged, sink=fh)
            fh.flush()
            os.fsync(fh.fileno())
    _private_dirs(staging, staging / FILES_DIR)


def _extract_template(tar, info, want: dict, staging: Path, damaged: str, unlocked: tuple[str, bytes]) -> None:
    vault_id, data_key = unlocked
    buffer = io.BytesIO()
    _check_member(tar, info, want, damaged, sink=buffer)
    name = info.name[len(TEMPLATES) + 1:-len(".sealed")]
    try:
        data = crypto.unseal(purpose_key(data_key, "backup-template"), buffer.getvalue(), _template_aad(vault_id, name))
    except crypto.DecryptionFailed as exc:
        raise VaultDamaged(f"{damaged[:-1]} (its form file {name} does not verify).") from exc
    _private_dirs(staging, staging / TEMPLATES)
    fd = os.open(staging / TEMPLATES / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _private_dirs(top: Path, folder: Path) -> None:
    """Create ``folder`` and every folder between it and ``top``, each 0700 whatever the umask."""
    for part in [*reversed(folder.relative_to(top).parents), folder.relative_to(top)]:
        if str(part) == ".":
            continue
        path = top / part
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        os.chmod(path, 0o700)


def _check_databases(staging: Path, keys: KeyFile, data_key: bytes) -> None:
    with Vault(staging, keys, data_key) as vault:
        for db in (vault.db, vault.progress_db):
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise VaultDamaged(f"A database in the backup fails its integrity check ({result}).")


def _swap_in(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        if any(target.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / "vault")
        else:
            target.rmdir()
    try:
        os.rename(staging, target)
    except BaseException:
        if old is not None:  # put the previous vault back where it was
            os.rename(old / "vault", target)
            old.rmdir()
        raise
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

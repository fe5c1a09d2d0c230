"""Backup and restore: a single encrypted file, verified in full before anything is written."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

import scanner.vault.db  # noqa: F401
from scanner.vault.backup import restore_backup, write_backup
from scanner.errors import Refused, WrongPassphrase
from scanner.vault.vault import Vault

from tests.test_vault import PASSPHRASE, PLANTED, grep_tree, plant_everywhere, tree_digest, vcli  # noqa: F401


@pytest.fixture
def filled(tmp_path):
    """A vault with a psychotherapy-note field, a progress note and two encrypted files."""
    vault, code = Vault.create(tmp_path / "vault", PASSPHRASE)
    planted_file = plant_everywhere(vault)
    other_file = vault.put_file(os.urandom(5000), "page")
    vault.db.conn.commit()
    vault.progress_db.conn.commit()
    vault.close()
    return {"path": tmp_path / "vault", "code": code, "files": sorted([planted_file, other_file])}


def contents(path: Path, passphrase: str = PASSPHRASE) -> dict:
    """What a vault holds, comparable across vaults."""
    with Vault.open(path, passphrase) as v:
        return {
            "fields": [r["value"] for r in v.db["fields"].rows],
            "notes": [r["content"] for r in v.progress_db["progress_notes"].rows],
            "scratch": v.db.execute("SELECT count(*) FROM scratch").fetchone()[0],
            "files": {f: v.get_file(f) for f in v.list_files()},
        }


def rewrite_member(src: Path, dest: Path, name: str, change) -> None:
    """Copy a backup, passing member ``name``'s bytes through ``change`` (None drops it)."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for info in tin.getmembers():
            fh = tin.extractfile(info)
            assert fh is not None, info.name
            data = fh.read()
            if info.name == name:
                data = change(data)
                if data is None:
                    continue
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def flip(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[len(raw) // 2] ^= 0x40
    return bytes(raw)


def no_leftovers(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if ".restore-" in p.name or ".old-" in p.name]


def test_round_trip_via_cli(tmp_path, filled, vcli):
    backup = tmp_path / "out" / "inklock.backup"
    code, out, err = vcli("--vault", filled["path"], "backup", backup, "--json")
    assert code == 0, err
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    with tarfile.open(backup) as tar:
        names = tar.getnames()
    assert {"keys.json", "vault.db", "progress.db", "manifest.sealed", "inklock-backup.json"} <= set(names)
    assert sorted(n.split("/")[-1][:-4] for n in names if n.startswith("files/")) == filled["files"]
    assert grep_tree(tmp_path / "out", PLANTED.encode()) == []  # no plaintext in the backup
    assert [p.name for p in backup.parent.iterdir()] == [backup.name]  # work folder cleaned up

    restored = tmp_path / "restored"
    code, out, err = vcli("--vault", restored, "restore", backup)
    assert code == 0, err
    assert contents(restored) == contents(filled["path"])
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    assert no_leftovers(tmp_path)


def test_backup_includes_uncheckpointed_writes(tmp_path, filled):
    vault = Vault.open(filled["path"], PASSPHRASE)
    vault.db["clients"].insert({"code": "LATE1", "created_at": "2024-06-01"})  # committed, still in the WAL
    assert (filled["path"] / "vault.db-wal").stat().st_size > 0
    write_backup(vault, tmp_path / "b.tar")
    vault.close()
    restore_backup(tmp_path / "b.tar", tmp_path / "r", PASSPHRASE)
    with Vault.open(tmp_path / "r", PASSPHRASE) as v:
        assert [r["code"] for r in v.db["clients"].rows] == ["LATE1"]


def test_backup_never_replaces_an_earlier_backup_without_force(tmp_path, filled, vcli):
    backup = tmp_path / "b.tar"
    assert vcli("--vault", filled["path"], "backup", backup)[0] == 0
    first = backup.read_bytes()
    code, _, err = vcli("--vault", filled["path"], "backup", backup)
    assert code == 4 and "--force" in err and err.count("\n") == 1
    assert backup.read_bytes() == first
    assert vcli("--vault", filled["path"], "backup", backup, "--force")[0] == 0
    code, _, err = vcli("--vault", filled["path"], "backup", tmp_path)  # a folder: exit 4, not a usage error
    assert code == 4 and "folder" in err


def test_restore_never_overwrites_without_force(tmp_path, filled, vcli):
    backup = tmp_path / "b.tar"
    assert vcli("--vault", filled["path"], "backup", backup)[0] == 0
    with Vault.open(filled["path"], PASSPHRASE) as v:  # changed after the backup
        v.db["clients"].insert({"code": "AFTER", "created_at": "2024-06-02"})
    before = tree_digest(filled["path"])

    code, _, err = vcli("--vault", filled["path"], "restore", backup)
    assert code == 3 and "--force" in err and err.count("\n") == 1
    assert tree_digest(filled["path"]) == before

    code, _, err = vcli("--vault", filled["path"], "restore", backup, "--force")
    assert code == 0, err
    with Vault.open(filled["path"], PASSPHRASE) as v:
        assert v.db["clients"].count == 0
    assert no_leftovers(tmp_path)

    # --force never empties a folder that is not a vault.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "letter.txt").write_text("keep me")
    code, _, err = vcli("--vault", docs, "restore", backup, "--force")
    assert code == 3
    assert [p.name for p in docs.iterdir()] == ["letter.txt"]


@pytest.mark.parametrize(
    "member, change",
    [
        ("vault.db", flip),
        ("progress.db", flip),
        ("manifest.sealed", flip),
        ("files", flip),  # the first encrypted file
        ("files", lambda data: None),  # a file dropped from the archive
        ("inklock-backup.json", lambda data: data.replace(b'"version": 1', b'"version": 1 ')),
    ],
)
def test_damaged_backup_refused_and_nothing_written(tmp_path, filled, vcli, member, change):
    good = tmp_path / "good.tar"
    assert vcli("--vault", filled["path"], "backup", good)[0] == 0
    if member == "files":
        with tarfile.open(good) as tar:
            member = next(n for n in tar.getnames() if n.startswith("files/"))
    bad = tmp_path / "bad.tar"
    rewrite_member(good, bad, member, change)

    target = tmp_path / "restored"
    code, _, err = vcli("--vault", target, "restore", bad)
    assert code == 4, err
    assert err.startswith("inklock: The backup") and err.count("\n") == 1
    assert not target.exists()
    assert no_leftovers(tmp_path)


def test_any_flipped_member_byte_or_truncation_refused(tmp_path, filled, vcli):
    good = tmp_path / "good.tar"
    assert vcli("--vault", filled["path"], "backup", good)[0] == 0
    data = good.read_bytes()
    with tarfile.open(good) as tar:
        spots = [m.offset_data + m.size // 2 for m in tar.getmembers()]  # one byte inside every member
        spots.append(tar.getmembers()[1].offset + 3)  # a member name in a tar header
    variants = [data[: len(data) // 2]] + [data[:i] + bytes([data[i] ^ 0x04]) + data[i + 1 :] for i in spots]
    target = tmp_path / "restored"
    for i, damaged in enumerate(variants):
        bad = tmp_path / f"bad{i}.tar"
        bad.write_bytes(damaged)
        code, _, err = vcli("--vault", target, "restore", bad)
        assert code == 4, (i, err)
        assert not target.exists()
    assert no_leftovers(tmp_path)


def test_foreign_backups_refused(tmp_path, filled, vcli):
    target = tmp_path / "restored"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(4096))
    other_tar = tmp_path / "other.tar"
    (tmp_path / "notes.txt").write_text("hello")
    with tarfile.open(other_tar, "w") as tar:
        tar.add(tmp_path / "notes.txt", arcname="notes.txt")
    for path in (junk, other_tar, tmp_path / "missing.tar"):
        code, _, err = vcli("--vault", target, "restore", path)
        assert code == 4, (path, err)
        assert not target.exists()

    # A backup whose key file was swapped for another vault's (same passphrase):
    # it unlocks, but the sealed manifest does not verify.
    good = tmp_path / "good.tar"
    assert vcli("--vault", filled["path"], "backup", good)[0] == 0
    other, _ = Vault.create(tmp_path / "other-vault", PASSPHRASE)
    other.close()
    other_keys = (tmp_path / "other-vault" / "keys.json").read_bytes()
    rewrite_member(good, tmp_path / "swapped.tar", "keys.json", lambda data: other_keys)
    code, _, err = vcli("--vault", target, "restore", tmp_path / "swapped.tar")
    assert code == 4, err
    assert not target.exists()


def test_restore_needs_the_backups_passphrase(tmp_path, filled, vcli, monkeypatch):
    backup = tmp_path / "b.tar"
    assert vcli("--vault", filled["path"], "backup", backup)[0] == 0
    with Vault.open(filled["path"], PASSPHRASE) as v:
        v.change_passphrase("passphrase after the backup")

    target = tmp_path / "restored"
    monkeypatch.setenv("INKLOCK_PASSPHRASE", "passphrase after the backup")
    code, _, err = vcli("--vault", target, "restore", backup)
    assert code == 3 and "Wrong passphrase" in err
    assert not target.exists() and no_leftovers(tmp_path)

    with pytest.raises(WrongPassphrase):
        restore_backup(backup, target, "passphrase after the backup")
    code, out, err = vcli("--vault", target, "restore", backup, "--recovery-code", filled["code"])
    assert code == 0, err
    # Restored by the recovery code: the message says which passphrase it opens with, and how to change it.
    assert "passphrase it had when the backup was made" in out and "passwd --recovery-code" in out
    assert contents(target) == contents(filled["path"], "passphrase after the backup")


def test_the_clinicians_own_forms_are_backed_up_sealed_and_restored(tmp_path, filled, vcli):
    """Sheets of a form of one's own are read back only with it: a backup without it loses them."""
    folder = filled["path"] / "templates"
    folder.mkdir()
    form = b"name: checkin\ncode: CHK\nversion: 1\ntitle: Zanzibarform check-in\npages: []\n"
    (folder / "checkin.yaml").write_bytes(form)
    (folder / "notes.txt").write_bytes(b"not a form")  # only what `forms` reads is kept
    backup = tmp_path / "out" / "inklock.backup"
    code, _out, err = vcli("--vault", filled["path"], "backup", backup)
    assert code == 0, err
    with tarfile.open(backup) as tar:
        assert [n for n in tar.getnames() if n.startswith("templates/")] == ["templates/checkin.yaml.sealed"]
    assert grep_tree(tmp_path / "out", b"Zanzibarform") == []  # sealed like everything else

    code, _out, err = vcli("--vault", tmp_path / "restored", "restore", backup)
    assert code == 0, err
    kept = tmp_path / "restored" / "templates"
    assert sorted(p.name for p in kept.iterdir()) == ["checkin.yaml"]
    assert (kept / "checkin.yaml").read_bytes() == form
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700

    # A form sealed under another name (moved inside the archive) does not verify: nothing is restored.
    moved = tmp_path / "moved.backup"
    with tarfile.open(backup) as tin, tarfile.open(moved, "w") as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read()
            if info.name == "templates/checkin.yaml.sealed":
                info.name = "templates/other.yaml.sealed"
            tout.addfile(info, io.BytesIO(data))
    code, _out, err = vcli("--vault", tmp_path / "r2", "restore", moved)
    assert code != 0 and "damaged" in err and "Traceback" not in err
    assert not (tmp_path / "r2").exists() or not any((tmp_path / "r2").iterdir())


def test_restore_refused_while_the_vault_is_open_elsewhere(tmp_path, filled, vcli):
    """A review page left open would go on writing into the replaced vault: its confirmations would be lost."""
    backup = tmp_path / "b.tar"
    assert vcli("--vault", filled["path"], "backup", backup)[0] == 0
    review = Vault.open(filled["path"], PASSPHRASE)  # as a running review page holds it
    review.db["clients"].insert({"code": "LIVE", "created_at": "2024-06-02"})
    review.db.conn.commit()
    before = tree_digest(filled["path"])
    code, _, err = vcli("--vault", filled["path"], "restore", backup, "--force")
    assert code == 3 and "open in another inklock" in err and err.count("\n") == 1
    assert tree_digest(filled["path"]) == before and no_leftovers(tmp_path)
    with pytest.raises(Refused):  # refused at the swap too, after the backup was checked
        restore_backup(backup, filled["path"], PASSPHRASE, force=True)
    assert tree_digest(filled["path"]) == before and no_leftovers(tmp_path)
    review.close()
    code, _, err = vcli("--vault", filled["path"], "restore", backup, "--force")
    assert code == 0, err
    with Vault.open(filled["path"], PASSPHRASE) as v:
        assert v.db["clients"].count == 0


def test_a_vault_being_restored_is_not_opened(tmp_path, filled):
    from scanner.vault import lock

    held = lock.take_unused(filled["path"])
    assert held is not None
    try:
        with pytest.raises(Refused, match="being restored"):
            Vault.open(filled["path"], PASSPHRASE)
    finally:
        lock.release(held)
    Vault.open(filled["path"], PASSPHRASE).close()

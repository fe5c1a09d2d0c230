"""The encrypted vault: create, unlock, passphrase change, recovery code, encrypted files, no plaintext.

Runs with cheap Argon2 costs (conftest) except the tests of the real KDF parameters.
The CLI is run in-process through ``scanner.cli.main.main`` with only the vault
commands registered, so these tests do not depend on the other command modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

import scanner.vault.db  # noqa: F401  (binds sqlite-utils to SQLCipher before anything imports it)
from scanner.vault import crypto
from scanner.vault import schema
from scanner.errors import UsageError, VaultDamaged, VaultMissing, WrongPassphrase
from scanner.vault.vault import KEY_FILE, PROGRESS_DB, VAULT_DB, Vault

PASSPHRASE = "correct horse battery staple"
PLANTED = "Quibblefrotzwhistle"  # a word that cannot occur by chance


@pytest.fixture
def vcli(capsys, monkeypatch):
    """Run ``scanner.cli.main.main`` in-process with the vault commands registered."""
    import scanner.cli.main as cli_module
    from scanner.cli import vault as cli_vault

    def register() -> None:
        for cmd in (cli_vault.init, cli_vault.passwd, cli_vault.backup, cli_vault.restore):
            cli_module.cli.add_command(cmd)

    monkeypatch.setattr(cli_module, "_register_commands", register)

    def run(*args):
        capsys.readouterr()
        code = cli_module.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with its SHA-256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def grep_tree(root: Path, needle: bytes) -> list[Path]:
    """Files under ``root`` whose bytes contain ``needle`` in any letter case."""
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and needle.lower() in p.read_bytes().lower():
            hits.append(p)
    return hits


def plant_everywhere(vault: Vault) -> str:
    """Write PLANTED into a psychotherapy-note field, a progress note and an encrypted file."""
    vault.db.table("sheets").insert(
        {"sheet_id": "K7Q2M9XP", "template": "session", "template_version": 1, "page_size": "letter",
         "client": "C1", "date": "2024-05-01", "printed_at": "2024-05-01T08:00:00"}
    )
    vault.db.table("fields").insert(
        {"sheet_id": "K7Q2M9XP", "page": 2, "key": "countertransference", "kind": "text",
         "privacy": "private", "value": f"felt {PLANTED} during the session", "confidence": 0.5}
    )
    vault.progress_db.table("progress_notes").insert(
        {"session": 1, "sheet_id": "K7Q2M9XP", "format": "soap", "created_at": "2024-05-01",
         "content": f"S: reports {PLANTED}"}
    )
    # Enough rows that a sort could spill to a temp file if temp_store were not MEMORY.
    vault.db.table("scratch").insert_all(({"n": i, "t": f"{PLANTED} {i:06d}" * 20} for i in range(3000)))
    vault.db.execute("SELECT t FROM scratch ORDER BY t DESC").fetchall()
    return vault.put_file(f"crop of {PLANTED}".encode() * 50, "crop")


# ---------------------------------------------------------------- create and open


def test_create_layout_and_reopen(tmp_path):
    path = tmp_path / "vault"
    vault, code = Vault.create(path, PASSPHRASE)
    file_id = vault.put_file(b"page image bytes", "page")
    vault.db["clients"].insert({"code": "C1", "created_at": "2024-05-01"})
    vault.close()

    assert {p.name for p in path.iterdir()} == {KEY_FILE, VAULT_DB, PROGRESS_DB, "files", "in-use.lock"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for p in path.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    keys = json.loads((path / KEY_FILE).read_text())
    assert keys["version"] == 1 and keys["passphrase"]["kdf"] == "argon2id"
    assert "salt" in keys["passphrase"] and "wrapped_key" in keys["recovery"]

    with Vault.open(path, PASSPHRASE) as again:
        assert again.get_file(file_id) == b"page image bytes"
        assert [r["code"] for r in again.db["clients"].rows] == ["C1"]
        assert again.db["meta"].get("schema_version")["value"] == str(len(schema.MIGRATIONS))
        assert again.progress_db["meta"].get("schema_version")["value"] == str(len(schema.PROGRESS_MIGRATIONS))
        assert again.progress_db.table_names() != again.db.table_names()


def test_databases_are_encrypted(tmp_path):
    path = tmp_path / "vault"
    Vault.create(path, PASSPHRASE)[0].close()
    for name in (VAULT_DB, PROGRESS_DB):
        assert not (path / name).read_bytes().startswith(b"SQLite format 3")
        plain = sqlite3.connect(path / name)
        with pytest.raises(sqlite3.DatabaseError):
            plain.execute("SELECT * FROM sqlite_master").fetchall()
        plain.close()


def test_sqlite_utils_runs_on_sqlcipher(tmp_path):
    import sqlcipher3
    import sqlite_utils.utils

    assert sqlite_utils.utils.OperationalError is sqlcipher3.dbapi2.OperationalError
    with Vault.create(tmp_path / "vault", PASSPHRASE)[0] as vault:
        db = vault.db
        assert db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        db["never_created"].drop(ignore=True)  # needs sqlite-utils to catch SQLCipher's error class
        db["t"].insert({"id": 1, "x": "a"}, pk="id")
        assert db.execute("INSERT INTO t(x) VALUES ('b') RETURNING id").fetchall() == [(2,)]
        db.conn.commit()
        db.execute("VACUUM")
        assert [r["x"] for r in db["t"].rows] == ["a", "b"]
        db["t"].drop(ignore=True)
        assert "t" not in db.table_names()


def test_create_refuses_existing_vault_and_nonempty_folder(tmp_path):
    path = tmp_path / "vault"
    Vault.create(path, PASSPHRASE)[0].close()
    before = tree_digest(path)
    with pytest.raises(Exception) as info:
        Vault.create(path, "another passphrase")
    assert info.value.exit_code == 3
    assert tree_digest(path) == before

    other = tmp_path / "docs"
    other.mkdir()
    (other / "letter.txt").write_text("keep me")
    with pytest.raises(Exception) as info:
        Vault.create(other, PASSPHRASE)
    assert info.value.exit_code == 3
    assert [p.name for p in other.iterdir()] == ["letter.txt"]
    assert not [p for p in tmp_path.iterdir() if ".new-" in p.name]  # no half-built vault left


def test_wrong_passphrase_changes_nothing(tmp_path):
    path = tmp_path / "vault"
    Vault.create(path, PASSPHRASE)[0].close()
    before = tree_digest(path)
    with pytest.raises(WrongPassphrase) as info:
        Vault.open(path, "not the passphrase")
    assert info.value.exit_code == 3
    assert info.value.message.count(".") == 1 and str(path) in info.value.message
    assert tree_digest(path) == before


def test_missing_and_damaged_vault(tmp_path):
    with pytest.raises(VaultMissing, match="inklock init"):
        Vault.open(tmp_path / "nowhere", PASSPHRASE)

    path = tmp_path / "vault"
    Vault.create(path, PASSPHRASE)[0].close()
    (path / KEY_FILE).write_text('{"format": "inklock-vault-keys", "version": 1, "passphrase": 7}')
    with pytest.raises(VaultDamaged) as info:
        Vault.open(path, PASSPHRASE)
    assert info.value.exit_code == 4

    (path / KEY_FILE).unlink()
    with pytest.raises(VaultDamaged, match="key file"):
        Vault.open(path, PASSPHRASE)


def test_database_from_another_vault_is_damage(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    Vault.create(a, PASSPHRASE)[0].close()
    Vault.create(b, PASSPHRASE)[0].close()
    (a / VAULT_DB).write_bytes((b / VAULT_DB).read_bytes())
    with pytest.raises(VaultDamaged):
        Vault.open(a, PASSPHRASE)


def test_real_kdf_parameters(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto, "ARGON2_COSTS", crypto.DEFAULT_ARGON2)
    path = tmp_path / "vault"
    Vault.create(path, PASSPHRASE)[0].close()
    params = json.loads((path / KEY_FILE).read_text())["passphrase"]
    assert {k: params[k] for k in crypto.DEFAULT_ARGON2} == crypto.DEFAULT_ARGON2
    Vault.open(path, PASSPHRASE).close()
    with pytest.raises(WrongPassphrase):
        Vault.open(path, PASSPHRASE + "!")


def test_no_environment_variable_weakens_the_kdf(tmp_path):
    """``inklock init`` in a real process with the retired INKLOCK_KDF_FAST=1 still gets the full costs."""
    import sys

    path = tmp_path / "vault"
    env = dict(os.environ, INKLOCK_KDF_FAST="1", INKLOCK_VAULT=str(path))
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "init", "--recovery-sheet", str(tmp_path / "r.pdf")],
                          env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    params = json.loads((path / KEY_FILE).read_text())["passphrase"]
    assert {k: params[k] for k in crypto.DEFAULT_ARGON2} == crypto.DEFAULT_ARGON2


# ---------------------------------------------------------------- passphrase and recovery code


def test_change_passphrase_rewraps_only(tmp_path):
    path = tmp_path / "vault"
    vault, code = Vault.create(path, PASSPHRASE)
    file_id = vault.put_file(b"scan", "page")
    vault.close()
    vault = Vault.open(path, PASSPHRASE)
    data_before = {k: v for k, v in tree_digest(path).items() if k != KEY_FILE and not k.endswith(("-wal", "-shm"))}
    vault.change_passphrase("a brand new passphrase")
    after = tree_digest(path)
    assert {k: after[k] for k in data_before} == data_before  # nothing re-encrypted
    assert not [n for n in os.listdir(path) if n.startswith(".tmp")]
    vault.close()

    with pytest.raises(WrongPassphrase):
        Vault.open(path, PASSPHRASE)
    with Vault.open(path, "a brand new passphrase") as v:
        assert v.get_file(file_id) == b"scan"
    with Vault.open(path, recovery_code=code) as v:
        assert v.get_file(file_id) == b"scan"


def test_recovery_code(tmp_path):
    path = tmp_path / "vault"
    vault, code = Vault.create(path, PASSPHRASE)
    vault.close()
    groups = code.split("-")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert all(ch in crypto.CROCKFORD for ch in "".join(groups))
    assert len(crypto.recovery_code_bytes(code)) * 8 >= 128

    typed = " ".join(groups).lower().replace("0", "o").replace("1", "l")  # as someone might type it
    Vault.open(path, recovery_code=typed).close()

    wrong = crypto.new_recovery_code()
    with pytest.raises(WrongPassphrase, match="recovery code"):
        Vault.open(path, recovery_code=wrong)
    with pytest.raises(WrongPassphrase, match="not a recovery code"):
        Vault.open(path, recovery_code="ABCD-EFGH")
    with pytest.raises(UsageError):
        Vault.open(path)


# ---------------------------------------------------------------- encrypted files


def test_files_roundtrip_and_tampering(tmp_path):
    with Vault.create(tmp_path / "vault", PASSPHRASE)[0] as vault:
        a = vault.put_file(b"A" * 1000, "page")
        b = vault.put_file(b"B" * 1000, "crop")
        assert a != b and len(a) == 32
        assert vault.list_files() == sorted([a, b])
        assert vault.get_file(a) == b"A" * 1000
        path_a = vault.path / "files" / a[:2] / f"{a}.bin"
        path_b = vault.path / "files" / b[:2] / f"{b}.bin"
        assert b"AAAA" not in path_a.read_bytes()

        raw = bytearray(path_a.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        path_a.write_bytes(bytes(raw))
        with pytest.raises(VaultDamaged):
            vault.get_file(a)

        path_a.write_bytes(path_b.read_bytes())  # a valid file under the wrong id
        with pytest.raises(VaultDamaged):
            vault.get_file(a)

        vault.delete_file(a)
        vault.delete_file(a)  # already gone: no error
        assert vault.list_files() == [b]
        with pytest.raises(VaultDamaged):
            vault.get_file(a)
        with pytest.raises(VaultDamaged):
            vault.get_file("../../keys")
        with pytest.raises(UsageError):
            vault.put_file(b"x", "Bad Kind/..")


def test_no_plaintext_in_vault_or_temp_folder(tmp_path):
    tmpdir = Path(os.environ["TMPDIR"])
    assert tmpdir.is_relative_to(tmp_path)  # conftest points TMPDIR at the test's folder
    path = tmp_path / "vault"
    vault, _ = Vault.create(path, PASSPHRASE)
    file_id = plant_everywhere(vault)
    vault.db.conn.commit()
    vault.progress_db.conn.commit()

    # The word is really stored (so the grep below could find it if it leaked) ...
    assert PLANTED in vault.db.execute("SELECT value FROM fields").fetchone()[0]
    assert PLANTED.encode() in vault.get_file(file_id)
    # ... and yet no byte on disk shows it, while open (write-ahead logs present) ...
    assert any(p.name.endswith("-wal") for p in path.iterdir())
    for needle in (PLANTED.encode(), PLANTED.encode("utf-16-le")):
        assert grep_tree(path, needle) == []
        assert grep_tree(tmpdir, needle) == []
    vault.close()
    # ... and after closing.
    assert grep_tree(path, PLANTED.encode()) == []
    assert grep_tree(tmpdir, PLANTED.encode()) == []
    assert grep_tree(tmp_path, PLANTED.encode()) == []


# ---------------------------------------------------------------- CLI


def test_cli_init_json_and_recovery_sheet(tmp_path, vcli):
    sheet = tmp_path / "sheet.pdf"
    code, out, err = vcli("--vault", tmp_path / "vault", "init", "--recovery-sheet", sheet, "--json")
    assert code == 0, err
    assert json.loads(out) == {"vault": str(tmp_path / "vault"), "recovery_sheet": str(sheet)}
    assert sheet.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600

    text = subprocess.run(["pdftotext", str(sheet), "-"], capture_output=True, text=True, check=True).stdout
    recovery = next(word for word in text.split() if word.count("-") == 7)
    assert "delete" in text.lower() and "print" in text.lower()
    Vault.open(tmp_path / "vault", recovery_code=recovery).close()

    import zxingcpp
    from pdf2image import convert_from_path

    page = convert_from_path(str(sheet), dpi=150)[0]
    assert [r.text for r in zxingcpp.read_barcodes(page)] == [recovery]


def test_cli_init_refusals(tmp_path, vcli, monkeypatch):
    vault_dir = tmp_path / "vault"
    assert vcli("--vault", vault_dir, "init", "--recovery-sheet", tmp_path / "s1.pdf")[0] == 0
    before = tree_digest(vault_dir)

    code, _, err = vcli("--vault", vault_dir, "init", "--recovery-sheet", tmp_path / "s2.pdf")
    assert code == 3 and err.count("\n") == 1 and "already exists" in err
    assert tree_digest(vault_dir) == before and not (tmp_path / "s2.pdf").exists()

    code, _, err = vcli("--vault", tmp_path / "v2", "init", "--recovery-sheet", tmp_path / "s1.pdf")
    assert code == 3 and not (tmp_path / "v2").exists()  # would overwrite an existing sheet

    monkeypatch.setenv("INKLOCK_PASSPHRASE", "short")
    code, _, err = vcli("--vault", tmp_path / "v3", "init", "--recovery-sheet", tmp_path / "s3.pdf")
    assert code == 2 and not (tmp_path / "v3").exists() and not (tmp_path / "s3.pdf").exists()


def test_cli_wrong_passphrase_exit_3(tmp_path, vcli, monkeypatch):
    vault_dir = tmp_path / "vault"
    assert vcli("--vault", vault_dir, "init", "--recovery-sheet", tmp_path / "s.pdf")[0] == 0
    before = tree_digest(vault_dir)
    monkeypatch.setenv("INKLOCK_PASSPHRASE", "not the passphrase")
    monkeypatch.setenv("INKLOCK_NEW_PASSPHRASE", "whatever passphrase")
    for args in (["passwd"], ["backup", tmp_path / "b.tar"]):
        code, out, err = vcli("--vault", vault_dir, *args)
        assert code == 3, (args, err)
        assert err.startswith("inklock: Wrong passphrase") and err.count("\n") == 1
        assert "Traceback" not in err
    assert tree_digest(vault_dir) == before
    assert not (tmp_path / "b.tar").exists()


def test_cli_missing_and_damaged_vault_exit_4(tmp_path, vcli):
    code, _, err = vcli("--vault", tmp_path / "nowhere", "passwd")
    assert code == 4 and "inklock init" in err and err.count("\n") == 1
    vault_dir = tmp_path / "vault"
    assert vcli("--vault", vault_dir, "init", "--recovery-sheet", tmp_path / "s.pdf")[0] == 0
    (vault_dir / KEY_FILE).write_bytes(b"\x00garbage")
    code, _, err = vcli("--vault", vault_dir, "passwd")
    assert code == 4 and "damaged" in err


def test_cli_passwd(tmp_path, vcli, monkeypatch):
    vault_dir = tmp_path / "vault"
    sheet = tmp_path / "s.pdf"
    assert vcli("--vault", vault_dir, "init", "--recovery-sheet", sheet)[0] == 0
    monkeypatch.setenv("INKLOCK_NEW_PASSPHRASE", "second passphrase")
    code, out, err = vcli("--vault", vault_dir, "passwd")
    assert code == 0, err
    with pytest.raises(WrongPassphrase):
        Vault.open(vault_dir, PASSPHRASE)
    Vault.open(vault_dir, "second passphrase").close()

    # Forgotten passphrase: the recovery code from the sheet sets a new one.
    text = subprocess.run(["pdftotext", str(sheet), "-"], capture_output=True, text=True, check=True).stdout
    recovery = next(word for word in text.split() if word.count("-") == 7)
    monkeypatch.setenv("INKLOCK_PASSPHRASE", "forgotten")
    monkeypatch.setenv("INKLOCK_NEW_PASSPHRASE", "third passphrase")
    assert vcli("--vault", vault_dir, "passwd", "--recovery-code", recovery)[0] == 0
    Vault.open(vault_dir, "third passphrase").close()
    code, _, err = vcli("--vault", vault_dir, "passwd", "--recovery-code", crypto.new_recovery_code())
    assert code == 3


def test_older_vault_gains_the_other_reading_column_and_keeps_its_rows():
    """A vault written before schema 5 opens: its fields gain ``alternative`` (empty), nothing else changes."""
    import sqlite_utils

    from scanner.vault import schema

    db = sqlite_utils.Database(memory=True)
    schema._run(db, schema.MIGRATIONS[:4])
    db.execute("INSERT INTO sheets(sheet_id, template, template_version, page_size, printed_at) "
               "VALUES ('S1', 'session', 1, 'letter', '2026-01-01')")
    db.execute("INSERT INTO fields(sheet_id, page, key, kind, privacy, value) VALUES ('S1', 1, 'focus', 'line', "
               "'progress', '\"sleep\"')")
    assert schema.migrate(db) == len(schema.MIGRATIONS) >= 5
    row = db.execute("SELECT key, value, alternative FROM fields").fetchone()
    assert row == ("focus", '"sleep"', None)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(len(schema.MIGRATIONS))

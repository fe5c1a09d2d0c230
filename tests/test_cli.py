"""The CLI contract: every SPEC command exists, errors are one sentence with the right exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

SPEC_COMMANDS = ["init", "forms", "print", "ingest", "sessions", "show", "confirm", "review", "note",
                 "search", "passwd", "backup", "restore", "demo"]


def test_every_spec_command_has_help(cli):
    top = cli("--help")
    assert top.code == 0
    for name in SPEC_COMMANDS:
        assert name in top.out, name
        r = cli(name, "--help")
        assert r.code == 0, (name, r.err)
        assert "Usage:" in r.out


def test_unknown_command_is_usage_error(cli):
    r = cli("frobnicate")
    assert r.code == 2
    assert "Traceback" not in r.err
    assert r.err.startswith("inklock: ")


def test_bad_option_value_is_usage_error(cli):
    r = cli("print", "session", "--client", "C1", "--session", "many")
    assert r.code == 2
    assert "Traceback" not in r.err


def test_missing_vault_is_one_sentence(cli, tmp_path):
    r = cli("--vault", tmp_path / "nowhere", "sessions")
    assert r.code == 4
    assert "inklock init" in r.err
    assert r.err.count("\n") == 1


def test_no_passphrase_without_terminal(tmp_path, vault_dir):
    env = {"PATH": "/usr/bin:/bin", "INKLOCK_VAULT": str(vault_dir), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "sessions"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "INKLOCK_PASSPHRASE" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_passphrase_exit_3(cli, vault_dir, monkeypatch):
    monkeypatch.setenv("INKLOCK_PASSPHRASE", "not the passphrase")
    r = cli("sessions")
    assert r.code == 3
    assert "Traceback" not in r.err


@pytest.mark.parametrize("argv", [["--debug", "sessions"]])
def test_debug_flag_accepted(cli, vault_dir, argv):
    r = cli(*argv, "--json")
    assert r.code == 0, r.err


def test_readme_documents_every_command():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    for name in SPEC_COMMANDS + ["reindex", "summary"]:
        assert f"inklock {name}" in readme, name

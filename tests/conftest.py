"""Shared fixtures: an isolated environment, a fresh vault, and an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# No example database in the working tree: tests write only under tmp_path.
settings.register_profile("inklock", database=None)
settings.load_profile("inklock")

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Every test gets its own temp folder and never touches the user's real vault."""
    tmpdir = tmp_path / "_tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    # Cheap Argon2 for the vaults the tests make in this process. A subprocess
    # gets the default costs (none of them makes a vault: they open the one a
    # fixture made here, whose costs are in its key file).
    from scanner.vault import crypto

    monkeypatch.setattr(crypto, "ARGON2_COSTS", crypto.FAST_ARGON2)
    monkeypatch.setenv("INKLOCK_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("INKLOCK_VAULT", str(tmp_path / "vault"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    yield


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run the inklock CLI in-process; returns (exit code, stdout, stderr)."""
    from scanner.cli.main import main

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def vault_dir(tmp_path, cli) -> Path:
    """A freshly initialised vault (fast KDF for tests)."""
    path = tmp_path / "vault"
    result = cli("--vault", path, "init", "--recovery-sheet", tmp_path / "recovery.pdf")
    assert result.code == 0, result.err
    return path


@pytest.fixture
def vault(vault_dir):
    from scanner.vault.vault import Vault

    v = Vault.open(vault_dir, os.environ["INKLOCK_PASSPHRASE"])
    yield v
    v.close()

"""Vault-wide values: ``meta`` (e.g. the scanner ``inklock scan`` uses), the clinician's ``settings``,
and the abbreviation list."""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from scanner.shorthand import Shorthand
from scanner.vault.store.base import now, transaction

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def abbreviation_rows(vault: Vault) -> list[dict[str, Any]]:
    """The vault's ``abbreviations`` rows ({"short", "long"})."""
    return list(vault.db.query("SELECT short, long FROM abbreviations"))


def shorthand(vault: Vault) -> Shorthand:
    """The defaults plus the vault's ``abbreviations`` table (which overrides them)."""
    return Shorthand.from_rows(abbreviation_rows(vault))


def get_meta(vault: Vault, key: str) -> str | None:
    """A value kept in the vault's ``meta`` table (e.g. the scanner ``inklock scan`` uses), or None."""
    row = vault.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(vault: Vault, key: str, value: str) -> None:
    with transaction(vault.db):
        vault.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])


def get_settings(vault: Vault, keys: list[str]) -> dict[str, str]:
    """The values of ``keys`` kept in the ``settings`` table (absent keys are left out)."""
    marks = ",".join("?" for _ in keys)
    return {r["key"]: r["value"] for r in vault.db.query(
        f"SELECT key, value FROM settings WHERE key IN ({marks})", list(keys))}


def set_settings(vault: Vault, values: dict[str, str]) -> None:
    """Keep each key's value in the ``settings`` table, in one transaction."""
    at = now()
    with transaction(vault.db):
        for key, value in values.items():
            vault.db.execute(
                "INSERT INTO settings(key, value, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [key, value, at])

"""The clinician of a vault: name, credentials and licence number, kept in the vault.

Printed on every progress note and its signature line; a note cannot be signed
until a name is set (``inklock settings --name``). Kept in the encrypted vault
database (``settings`` table), like everything else Inklock stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanner.vault import store
from scanner.errors import Refused, UsageError

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

FIELDS = ("name", "credentials", "licence")
_MAX = {"name": 120, "credentials": 60, "licence": 60}
_WORDS = {"name": "name", "credentials": "credentials", "licence": "licence number"}


def get_clinician(vault: Vault) -> dict[str, str]:
    """The clinician's name, credentials and licence ('' where not set)."""
    rows = store.get_settings(vault, [f"clinician.{f}" for f in FIELDS])
    return {f: rows.get(f"clinician.{f}", "") for f in FIELDS}


def set_clinician(vault: Vault, **changes: str | None) -> dict[str, str]:
    """Set any of name, credentials, licence (None leaves it, '' clears it); returns them all.

    Each value is one line of printable text; anything else is refused (exit 2)
    before anything is stored.
    """
    clean: dict[str, str] = {}
    for key, value in changes.items():
        if key not in FIELDS:
            raise UsageError(f"'{key}' is not a clinician setting; use {', '.join(FIELDS)}.")
        if value is None:
            continue
        text = " ".join(value.split())
        if any(not c.isprintable() for c in value):
            raise UsageError(f"The {_WORDS[key]} must be one line of printable text.")
        if len(text) > _MAX[key]:
            raise UsageError(f"The {_WORDS[key]} is longer than {_MAX[key]} characters.")
        clean[key] = text
    if clean:
        store.set_settings(vault, {f"clinician.{key}": text for key, text in clean.items()})
    return get_clinician(vault)


def require_name(vault: Vault, doing: str = "sign a note") -> dict[str, str]:
    """The clinician, or Refused (exit 3) when no name is set yet."""
    who = get_clinician(vault)
    if not who["name"]:
        raise Refused(f"Set your name before you {doing}: inklock settings --name \"Your Name\" "
                      "--credentials C --licence L (or on the review page's note).")
    return who

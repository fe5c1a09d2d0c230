"""The unmatched-page queue: pages ingest could not place on a sheet.

The clinician assigns each to a session and page number, or discards it
explicitly; nothing is dropped silently. An assigned page is read again at
once, as that sheet's page (``scanner.ingest.pipeline.reread_unmatched``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TYPE_CHECKING

from scanner.vault import store
from scanner.errors import BadInput
from scanner.ingest.pipeline import reread_unmatched

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def open_pages(vault: Vault) -> list[dict[str, Any]]:
    """Unmatched pages still waiting for a decision, oldest first."""
    return [dict(r, guess=store.loads(r["guess"]) or {}, source=Path(r["source"]).name if r["source"] else None)
            for r in store.open_unmatched(vault)]


def get(vault: Vault, unmatched_id: int) -> dict[str, Any]:
    """One unmatched page; BadInput when there is none."""
    row = store.unmatched_row(vault, unmatched_id)
    if row is None:
        raise BadInput(f"There is no unmatched page {unmatched_id}.")
    row["guess"] = store.loads(row["guess"]) or {}
    return row


def assign(vault: Vault, unmatched_id: int, session: str | int, page: int, template_dirs=()) -> dict[str, Any]:
    """Put an unmatched page on a sheet's page and read it; returns {"sheet_id", "page", "session"}.

    A page that cannot be read as that sheet's page (no markers, another
    form's or page's markers) is refused with BadInput and stays open.
    """
    row = get(vault, unmatched_id)
    if row["status"] != "open":
        raise BadInput(f"Unmatched page {unmatched_id} was already {row['status']}.")
    sheet = store.get_sheet(vault, session)
    reread_unmatched(vault, unmatched_id, sheet["sheet_id"], page, extra_template_dirs=template_dirs)
    return {"sheet_id": sheet["sheet_id"], "page": page, "session": sheet["id"]}


def discard(vault: Vault, unmatched_id: int) -> None:
    """Mark a page as deliberately discarded (the encrypted image stays until a cleanup)."""
    row = get(vault, unmatched_id)
    if row["status"] != "open":
        raise BadInput(f"Unmatched page {unmatched_id} was already {row['status']}.")
    store.close_unmatched(vault, unmatched_id, "discarded")

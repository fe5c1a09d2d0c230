"""A stored line/text field read back for the hand: its row, its decrypted crop, its words.

The crop is cut into words by :mod:`scanner.hand.fieldwords`, with the field's
ruled lines from its template's layout when the template can be laid out (the
ink's own lines otherwise), exactly as the page worker cut it at ingest.
"""

from __future__ import annotations

import json
from typing import Any, TYPE_CHECKING

import cv2
import numpy as np

from forms import catalog
from scanner import pixels
from scanner.hand import fieldwords, wordsplit
from scanner.vault import handstore

if TYPE_CHECKING:
    from scanner.vault.vault import Vault


def field(vault: Vault, field_id: int) -> dict[str, Any] | None:
    """The field row (with its sheet's template and page size), or None."""
    return handstore.field_row(vault.db, field_id)


def text(raw: str | None) -> str:
    """A stored line/text value as text ("" for anything else)."""
    value = None if raw is None else json.loads(raw)  # stored as the store stores values (JSON)
    return value if isinstance(value, str) else ""


def crop(vault: Vault, row: dict[str, Any]) -> np.ndarray | None:
    """The field's crop, decrypted and decoded (None when too small to hold a word)."""
    data = vault.get_file(row["crop_file"])
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return gray if gray is not None and gray.size and min(gray.shape) >= 4 else None


def line_boxes(vault: Vault, row: dict[str, Any]) -> list[pixels.Box] | None:
    """The field's ruled lines in crop pixels, when its template can be laid out."""
    if row["kind"] != "text":
        return None
    form = _layout(str(vault.path), row["template"], row["page_size"])
    geo = form.field(row["key"]) if form is not None else None
    return fieldwords.crop_line_boxes(row["kind"], geo.bbox, geo.lines) if geo is not None else None


def _layout(vault_path: str, template: str, page_size: str) -> Any:
    """The sheet's form (``forms.catalog.Form``, cached there), or None when it cannot be laid out."""
    try:
        return catalog.form(template, page_size, catalog.vault_template_dirs(vault_path))
    except catalog.FormUnavailable:
        # Templates are data that can be wrong: fall back to the ink's own lines.
        return None


def words(vault: Vault, row: dict[str, Any], count: int | None) -> list[wordsplit.Word] | None:
    """The crop cut into ``count`` words (any number for None); None when that cut is not clear."""
    gray = crop(vault, row)
    if gray is None:
        return None
    return wordsplit.split_words(gray, count=count, line_boxes=line_boxes(vault, row))


def draft_words(vault: Vault, row: dict[str, Any]) -> list[wordsplit.Word]:
    """Word images of an unconfirmed field, cut as for its OCR draft (:func:`scanner.hand.fieldwords.draft_words`)."""
    gray = crop(vault, row)
    if gray is None:
        return []
    return fieldwords.draft_words(gray, text(row["value"]), line_boxes(vault, row))

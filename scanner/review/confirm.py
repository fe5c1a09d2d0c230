"""Confirm, then learn: a confirmed line or text field teaches the handwriting index its words.

The store confirms (:func:`scanner.vault.store.confirm_field`, one
transaction); learning from the confirmed crop (:mod:`scanner.hand.exemplars`,
issue #7) follows here, so the vault never calls up into the handwriting
code. Learning is a bonus on top of a confirmation that is already committed:
a crop that cannot be read back or split must never undo or fail it
(``inklock reindex`` learns everything again).
"""

from __future__ import annotations

import logging
from typing import Any, TYPE_CHECKING

from scanner.hand import exemplars
from scanner.vault import store

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

log = logging.getLogger(__name__)


def confirm_field(vault: Vault, session: str | int, key: str, value: Any = ..., field_layout: Any = None,
                  typed: str | None = None) -> dict[str, Any]:
    """Confirm one field (as :func:`scanner.vault.store.confirm_field`), then learn its handwriting."""
    done, field_id, kind = store.confirm_one(vault, session, key, value, field_layout, typed)
    if kind in exemplars.LEARN_KINDS:
        learn(vault, field_id)
    return done


def reopen_field(vault: Vault, session: str | int, key: str) -> int:
    """Reopen a confirmed field (:func:`scanner.vault.store.reopen_field`), then cut it again for search by hand.

    Its draft word vectors went when it was confirmed; a failure to cut is logged, never raised.
    """
    field_id = store.reopen_field(vault, session, key)
    try:
        exemplars.redraft_field(vault, field_id)
    except exemplars.LEARN_ERRORS as exc:
        log.warning("Could not cut the handwriting of field %s again: %s", field_id, type(exc).__name__)
    return field_id


def learn(vault: Vault, field_id: int) -> None:
    """Teach the exemplar index a confirmed field's words; a failure is logged, never raised."""
    try:
        exemplars.learn_field(vault, field_id)
    except exemplars.LEARN_ERRORS as exc:
        log.warning("Could not learn the handwriting of field %s: %s", field_id, type(exc).__name__)

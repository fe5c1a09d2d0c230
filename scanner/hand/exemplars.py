"""Learning the clinician's hand: confirmed words as exemplars, for suggestions and search.

OCR misreads most real handwriting, but a clinician writes the same words again
and again, and every confirmed line or text field shows what those words look
like in this hand. :func:`learn_field` cuts a confirmed crop into word images
(:mod:`scanner.hand.wordsplit`), pairs them with the words of the confirmed text
when the counts agree (the field is skipped otherwise), and keeps each word's
image (encrypted file) and shape vectors (:mod:`scanner.hand.wordfeatures`, in the
SQLCipher database, through :mod:`scanner.vault.handstore`). Then
:func:`suggest` and :func:`search_by_hand` (:mod:`scanner.hand.index`) read
unconfirmed fields by these exemplars.

The word vectors of unconfirmed fields are cut by the page worker at ingest
and stored with the page; :func:`rebuild` (``inklock reindex``) is the repair
that cuts them again from the stored crops. Exemplars of private fields stay
inside the vault: they may suggest text for any field of it, but nothing here
writes to the progress note store or to any export.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from sqlcipher3 import dbapi2

from scanner.hand import crops, fieldwords, wordfeatures
from scanner.hand.fieldwords import LEARN_KINDS, normalise
from scanner.hand.index import ExemplarIndex, index_for, search_by_hand, suggest
from scanner.vault import handstore

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

__all__ = ["LEARN_ERRORS", "LEARN_KINDS", "ExemplarIndex", "empty_trash", "index_drafts", "index_for",
           "learn_field", "normalise", "rebuild", "redraft_field", "search_by_hand", "stats", "suggest"]

# What learning may raise on a damaged crop or database; confirming catches
# exactly these so a confirmation never fails because learning did.
LEARN_ERRORS = (*fieldwords.CUT_ERRORS, dbapi2.Error)


def learn_field(vault: Vault, field_id: int) -> int:
    """Learn the words of one confirmed line/text field; returns how many were learned.

    Any earlier exemplars of the field are replaced. A field whose crop does
    not split into exactly as many words as its confirmed text has teaches
    nothing (0). Call after the confirmation is committed.
    """
    row = crops.field(vault, field_id)
    if row is None or row["status"] != "confirmed" or row["kind"] not in LEARN_KINDS or not row["crop_file"]:
        return 0
    tokens = crops.text(row["confirmed_value"]).split()
    if not tokens:
        return 0
    words = crops.words(vault, row, len(tokens))
    if not words or len(words) != len(tokens):
        return 0
    vectors = [wordfeatures.embed(w.image, with_turns=True) for w in words]
    image_ids = vault.put_files([w.png() for w in words], "word")  # the file first, then its rows
    handstore.replace_exemplars(vault.db, row, [(token, normalise(token), image_id, vec)
                                                for token, vec, image_id in zip(tokens, vectors, image_ids)],
                                bundle=image_ids[0][:32])
    empty_trash(vault)
    return len(tokens)


def empty_trash(vault: Vault) -> None:
    """Delete the word images of exemplars that are gone (rows first, then files)."""
    for bundle in handstore.take_trash(vault.db):
        vault.delete_file(bundle)


def rebuild(vault: Vault) -> dict[str, int]:
    """Forget every exemplar and word draft and learn again from every confirmed field (``inklock reindex``).

    Also the repair of search by hand: the draft vectors of every unconfirmed
    field are cut again from its stored crop (:func:`index_drafts`).
    """
    handstore.forget_all(vault.db)
    empty_trash(vault)
    ids = handstore.learnable_field_ids(vault.db)
    fields = words = 0
    for field_id in ids:
        learned = learn_field(vault, field_id)
        fields += learned > 0
        words += learned
    drafts = index_drafts(vault)
    return {"fields": fields, "skipped": len(ids) - fields, "words": words, "drafts": drafts}


def index_drafts(vault: Vault) -> int:
    """Cut unconfirmed line/text fields that have no draft vectors from their stored crops; returns how many.

    The page worker cuts every field at ingest; this repairs what it could not
    (a vault from before, a crop it failed on), for :func:`rebuild`.
    """
    return _redraft(vault, handstore.fields_without_drafts(vault.db))


def redraft_field(vault: Vault, field_id: int) -> int:
    """Cut a field that is pending again (a reopened confirmation) for search by hand; 1 if it was cut.

    Its draft vectors went when it was confirmed, and its crop is only in
    the vault now. Call after the reopening is committed.
    """
    return _redraft(vault, [field_id])


def _redraft(vault: Vault, field_ids: list[int]) -> int:
    done = []
    for field_id in field_ids:
        row = crops.field(vault, field_id)
        if row is None or row["status"] != "pending" or row["kind"] not in LEARN_KINDS or not row["crop_file"]:
            continue
        done.append((field_id, row["crop_file"], fieldwords.vectors(crops.draft_words(vault, row))))
    handstore.save_repaired_drafts(vault.db, done)
    return len(done)


def stats(vault: Vault) -> dict[str, Any]:
    """How much of the hand is learned: exemplar words, distinct words, fields, drafts cut."""
    return handstore.hand_stats(vault.db)

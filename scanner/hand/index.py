"""Reading by the clinician's hand: suggestions and search from the confirmed exemplars.

* :func:`suggest` proposes a transcription for an unconfirmed field word by
  word from the nearest exemplars when they are close and unambiguous, else
  the OCR draft, with an honest confidence;
* :func:`search_by_hand` finds unconfirmed fields whose word images (cut by
  the page worker at ingest, :mod:`scanner.hand.fieldwords`) look like the
  confirmed exemplars of the words searched for.

The index is brute-force nearest neighbours over an in-memory matrix, adapted
to this vault's writer by a whitening fitted on its own exemplars (never on
anyone else's writing). Learning the exemplars is :mod:`scanner.hand.exemplars`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

import numpy as np

from scanner.hand import crops, wordfeatures, wordsplit
from scanner.hand.fieldwords import LEARN_KINDS, dims, normalise
from scanner.ingest import words
from scanner.shorthand import Shorthand
from scanner.vault import handstore, store

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

DIMS = 128              # whitened dimensions used for matching
MIN_FIT_ROWS = 300      # fewer exemplar vectors than this: no whitening (too few to estimate it)
REFIT_GROWTH = 1.25     # refit the whitening once the exemplars grew (or shrank) by this factor
WHITEN_POWER = 0.6      # partial whitening: full whitening over-weights noisy directions
FIT_SAMPLE = 20000      # rows used to fit the whitening
# A word is taken from an exemplar when its nearest exemplar is at most this
# far (cosine distance) and the nearest exemplar of any other word is
# clearly further away (see _word_confidence).
ACCEPT_CONFIDENCE = 0.5

_LOCK = threading.Lock()


# ---------------------------------------------------------------- the in-memory index


@dataclass
class _Whitening:
    mean: np.ndarray
    matrix: np.ndarray
    rows: int

    def apply(self, x: np.ndarray) -> np.ndarray:
        return _unit((x - self.mean) @ self.matrix)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)


@dataclass
class ExemplarIndex:
    """Every exemplar vector of one vault in memory, kept in step with the database."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))      # exemplar row id per vector
    raw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    words: dict[int, tuple[str, str]] = field(default_factory=dict)            # id -> (word, norm)
    whitening: _Whitening | None = None
    matched: np.ndarray | None = None                                           # raw in matching space
    norm_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    norms: list[str] = field(default_factory=list)

    def refresh(self, db) -> None:
        """Load new exemplar rows and drop removed ones (a full read only the first time)."""
        present = np.array(handstore.exemplar_ids(db), np.int64)
        have = np.unique(self.ids)
        if len(present) == len(have) and np.array_equal(np.sort(present), have):
            return
        keep = np.isin(self.ids, present)
        new_ids = np.setdiff1d(present, have)
        rows_ids, rows_vecs = [self.ids[keep]], [self.raw[keep]] if self.raw.size else []
        for rid, word, norm, blob in handstore.exemplar_rows(db, [int(i) for i in new_ids]):
            vecs = np.frombuffer(blob, np.float16).reshape(-1, dims())
            rows_ids.append(np.full(len(vecs), rid, np.int64))
            rows_vecs.append(vecs)
            self.words[rid] = (word, norm)
        self.ids = np.concatenate(rows_ids) if rows_ids else np.zeros(0, np.int64)
        self.raw = np.concatenate(rows_vecs) if rows_vecs else np.zeros((0, dims()), np.float16)
        alive = {int(i) for i in present}
        self.words = {k: v for k, v in self.words.items() if k in alive}
        self._match_space()

    def _match_space(self) -> None:
        n = len(self.raw)
        w = self.whitening
        if n >= MIN_FIT_ROWS and (w is None or not (w.rows / REFIT_GROWTH <= n <= w.rows * REFIT_GROWTH)):
            self.whitening = _fit_whitening(self.raw)
        elif n < MIN_FIT_ROWS:
            self.whitening = None
        self.matched = self.space(self.raw.astype(np.float32))
        self.norms = sorted({norm for _, norm in self.words.values()})
        code = {norm: i for i, norm in enumerate(self.norms)}
        self.norm_codes = np.array([code[self.words[int(i)][1]] for i in self.ids], np.int64)

    def space(self, raw: np.ndarray) -> np.ndarray:
        """Raw vectors (generic basis) into this vault's matching space (unit length)."""
        raw = np.atleast_2d(np.asarray(raw, np.float32))
        return self.whitening.apply(raw) if self.whitening is not None else _unit(raw)

    def __len__(self) -> int:
        return len(self.words)


def _fit_whitening(raw: np.ndarray) -> _Whitening:
    rng = np.random.default_rng(0)
    x = raw.astype(np.float32)
    if len(x) > FIT_SAMPLE:
        x = x[rng.choice(len(x), FIT_SAMPLE, replace=False)]
    mean = x.mean(axis=0)
    _u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(DIMS, len(x) // 3, vt.shape[0])
    var = (s[:k] ** 2) / max(len(x) - 1, 1)
    return _Whitening(mean, (vt[:k].T * (var + 1e-6) ** (-WHITEN_POWER / 2)).astype(np.float32), len(raw))


_INDEXES: dict[tuple[str, int], ExemplarIndex] = {}


def index_for(vault: Vault) -> ExemplarIndex:
    """This vault's exemplar index, refreshed from its database."""
    key = (str(vault.path), id(vault.db))
    with _LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = ExemplarIndex()
        index.refresh(vault.db)
        return index


# ---------------------------------------------------------------- suggestions


def _query_vectors(index: ExemplarIndex, words: list[wordsplit.Word]) -> np.ndarray:
    """(words, 1 + turns, dims): each word and its turned copies in the matching space."""
    raw = np.stack([wordfeatures.embed(w.image, with_turns=True).astype(np.float32) for w in words])
    n, k, d = raw.shape
    return index.space(raw.reshape(n * k, d)).reshape(n, k, -1)


def _nearest(index: ExemplarIndex, queries: np.ndarray) -> list[tuple[int, float, float]]:
    """Per query word: (best exemplar row id, its distance, distance of the nearest other word)."""
    n, k, d = queries.shape
    assert index.matched is not None
    sims = (queries.reshape(n * k, d) @ index.matched.T).reshape(n, k, -1).max(axis=1)
    out = []
    for s in sims:
        best = int(np.argmax(s))
        code = index.norm_codes[best]
        others = s[index.norm_codes != code]
        # With no other word to tell it from, nearness alone says nothing: no margin at all.
        out.append((int(index.ids[best]), float(1.0 - s[best]), float(1.0 - (others.max() if others.size else s[best]))))
    return out


# Probability that the nearest exemplar names the word, from its distance and
# how much nearer it is than any other word's exemplar: checked in
# ``bench/exemplar_bench.py`` on synthetic hands and on real cursive.
_CONF_DISTANCE = ((0.0, 0.97), (0.10, 0.95), (0.20, 0.9), (0.30, 0.75), (0.40, 0.5), (0.50, 0.25), (0.65, 0.05))
_CONF_MARGIN = ((0.0, 0.35), (0.02, 0.5), (0.05, 0.7), (0.10, 0.85), (0.20, 0.97))


def _word_confidence(distance: float, other: float) -> float:
    xs, ys = zip(*_CONF_DISTANCE)
    mx, my = zip(*_CONF_MARGIN)
    return float(np.interp(distance, xs, ys) * np.interp(other - distance, mx, my))


def suggest(vault: Vault, field_id: int) -> dict[str, Any]:
    """A transcription for an unconfirmed line/text field, word by word.

    Returns ``{"text", "confidence", "words": [{"word", "source", "distance"}]}``:
    ``source`` is ``"exemplar"`` for a word named by the nearest confirmed
    exemplar (``distance`` its cosine distance) and ``"ocr"`` where the OCR
    draft stands (distance None). ``confidence`` estimates the chance the
    whole text is right. When the crop and the draft disagree on the number
    of words and some word is unknown, the OCR draft is returned whole.
    """
    row = crops.field(vault, field_id)
    if row is None:
        return {"text": "", "confidence": 0.0, "words": []}
    draft = crops.text(row["value"])
    tokens = draft.split()
    fallback = {"text": draft, "confidence": round(float(row["confidence"]), 3),
                "words": [{"word": t, "source": "ocr", "distance": None} for t in tokens]}
    if row["kind"] not in LEARN_KINDS or not row["crop_file"]:
        return fallback
    index = index_for(vault)
    if not len(index):
        return fallback
    words = crops.draft_words(vault, row)
    if not words:
        return fallback
    found = _nearest(index, _query_vectors(index, words))
    confs = [_word_confidence(d, other) for _, d, other in found]
    accepted = [c >= ACCEPT_CONFIDENCE for c in confs]
    if not any(accepted) or (len(words) != len(tokens) and not all(accepted)):
        return fallback
    ocr_share = float(row["confidence"]) ** (1.0 / max(len(tokens), 1))
    out_words: list[dict[str, Any]] = []
    probs: list[float] = []
    lines: list[int] = []
    shorthand = store.shorthand(vault)
    for i, (w, (rid, dist, _other), ok) in enumerate(zip(words, found, accepted)):
        if ok and i < len(tokens) and _stands(tokens[i], index.words[rid][0], shorthand):
            ok = False  # what the reader read is a word, number or shorthand: never swapped for another word
        if ok:
            out_words.append({"word": index.words[rid][0], "source": "exemplar", "distance": round(dist, 4)})
            probs.append(confs[i])
        else:
            out_words.append({"word": tokens[i], "source": "ocr", "distance": None})
            probs.append(ocr_share)
        lines.append(w.line)
    text = ""
    for i, item in enumerate(out_words):
        if i:
            text += "\n" if lines[i] != lines[i - 1] else " "
        text += item["word"]
    return {"text": text, "confidence": round(float(np.prod(probs)), 3), "words": out_words}


def _stands(read: str, named: str, shorthand: Shorthand) -> bool:
    """Whether the reader's word stays against the exemplar's: it is a known word, a number or
    shorthand, and not the exemplar's word itself (a suggestion must never be worse than the reading)."""
    core = normalise(read)
    if not core or core == normalise(named):
        return False
    return (core in words.vocabulary() or shorthand.is_shorthand(core)
            or re.fullmatch(r"[0-9][0-9/.:,-]*", core) is not None)  # a number, a date, a time


# ---------------------------------------------------------------- search by hand


@dataclass
class _Drafts:
    field_ids: np.ndarray
    words: np.ndarray        # index of the word within its field
    raw: np.ndarray
    stamp: tuple = ()
    space: np.ndarray | None = None  # raw in the matching space of ``whitening``
    whitening: object = None


_DRAFTS: dict[tuple[str, int], _Drafts] = {}


def _drafts(vault: Vault) -> _Drafts:
    key = (str(vault.path), id(vault.db))
    stamp = handstore.drafts_stamp(vault.db)
    cached = _DRAFTS.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    ids, pos, vecs = [], [], []
    for field_id, _n, blob in handstore.draft_rows(vault.db):
        v = np.frombuffer(blob, np.float16).reshape(-1, dims())
        ids.append(np.full(len(v), field_id, np.int64))
        pos.append(np.arange(len(v)))
        vecs.append(v)
    d = _Drafts(np.concatenate(ids) if ids else np.zeros(0, np.int64),
                np.concatenate(pos) if pos else np.zeros(0, np.int64),
                np.concatenate(vecs) if vecs else np.zeros((0, dims()), np.float16), stamp)
    _DRAFTS[key] = d
    return d


def search_by_hand(vault: Vault, words: list[str], limit: int = 50) -> list[tuple[int, str, float]]:
    """Unconfirmed fields holding a word image like a confirmed exemplar of one of ``words``.

    Returns ``[(field_id, word, distance)]``, nearest first, one entry per
    field (its best word). A word image counts only when the query word's
    exemplars are nearer to it than any other word's (it would be suggested
    as that word). Only fields whose draft vectors were stored (by the
    writer at ingest, or by ``inklock reindex``) are searched.
    """
    wanted = {normalise(w) for w in words if normalise(w)}
    index = index_for(vault)
    if not wanted or not len(index):
        return []
    drafts = _drafts(vault)
    if not len(drafts.field_ids):
        return []
    targets = [i for i, norm in enumerate(index.norms) if norm in wanted]
    if not targets:
        return []
    assert index.matched is not None
    if drafts.space is None or drafts.whitening is not index.whitening:
        drafts.space, drafts.whitening = index.space(drafts.raw.astype(np.float32)), index.whitening
    space = drafts.space
    best: dict[int, tuple[float, str]] = {}
    for code in targets:
        rows = np.flatnonzero(index.norm_codes == code)
        sims = (space @ index.matched[rows].T).max(axis=1)
        order = np.argsort(-sims)[: max(limit * 4, 40)]
        if not len(order):
            continue
        # Check the nearest candidates against every exemplar: keep a word
        # image only if this word is what it would be read as.
        check = space[order] @ index.matched.T
        for j, cand in enumerate(order):
            top = int(np.argmax(check[j]))
            if index.norm_codes[top] != code:
                continue
            others = check[j][index.norm_codes != code]
            dist = float(1.0 - sims[cand])
            other = float(1.0 - others.max()) if others.size else 2.0
            if _word_confidence(dist, other) < ACCEPT_CONFIDENCE:
                continue
            fid = int(drafts.field_ids[cand])
            if fid not in best or dist < best[fid][0]:
                best[fid] = (dist, index.norms[code])
    ranked = sorted(best.items(), key=lambda kv: kv[1][0])[:limit]
    return [(fid, word, round(dist, 4)) for fid, (dist, word) in ranked]

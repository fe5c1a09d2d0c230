"""Learning the clinician's hand: confirmed words as exemplars, for suggestions and search.

OCR misreads most real handwriting, but a clinician writes the same words again
and again, and every confirmed line or text field shows what those words look
like in this hand. :func:`learn_field` cuts a confirmed crop into word images
(:mod:`scanner.hand.wordsplit`), pairs them with the words of the confirmed text
when the counts agree (the field is skipped otherwise), and keeps each word's
image (encrypted file) and shape vectors (:mod:`scanner.hand.wordfeatures`, in the
SQLCipher database). Then:

* :func:`suggest` proposes a transcription for an unconfirmed field word by
  word from the nearest exemplars when they are close and unambiguous, else
  the OCR draft, with an honest confidence;
* :func:`search_by_hand` finds unconfirmed fields whose word images look like
  the confirmed exemplars of the words searched for.

The index is brute-force nearest neighbours over an in-memory matrix, adapted
to this vault's writer by a whitening fitted on its own exemplars (never on
anyone else's writing). Exemplars of private fields stay inside the vault: they
may suggest text for any field of it, but nothing here writes to the progress
note store or to any export.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from sqlcipher3 import dbapi2

from scanner.vault import store
from scanner.hand import wordfeatures
from scanner.hand import wordsplit
from scanner.errors import InklockError
from scanner.values import HAND_KINDS

LEARN_KINDS = HAND_KINDS  # written words (scanner.values)
DIMS = 128              # whitened dimensions used for matching
MIN_FIT_ROWS = 300      # fewer exemplar vectors than this: no whitening (too few to estimate it)
REFIT_GROWTH = 1.25     # refit the whitening once the exemplars grew (or shrank) by this factor
WHITEN_POWER = 0.6      # partial whitening: full whitening over-weights noisy directions
FIT_SAMPLE = 20000      # rows used to fit the whitening
# A word is taken from an exemplar when its nearest exemplar is at most this
# far (cosine distance) and the nearest exemplar of any other word is
# clearly further away (see _word_confidence).
ACCEPT_CONFIDENCE = 0.5
DRAFT_BATCH = 400       # unconfirmed fields cut into words per search, at most

# What learning may raise on a damaged crop or database; store.confirm_field
# catches exactly these so a confirmation never fails because learning did.
LEARN_ERRORS = (InklockError, dbapi2.Error, cv2.error, ValueError, ArithmeticError, OSError)

_WORD_EDGE = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)
_LOCK = threading.Lock()


def normalise(word: str) -> str:
    """The form words are compared in: no surrounding punctuation, case folded."""
    return _WORD_EDGE.sub("", word).casefold()


# ---------------------------------------------------------------- fields and crops


def _field(vault, field_id: int) -> dict[str, Any] | None:
    rows = list(vault.db.query(
        "SELECT f.id, f.key, f.kind, f.privacy, f.status, f.value, f.confirmed_value, f.confidence, f.crop_file, "
        "s.template, s.page_size FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id WHERE f.id = ?",
        [int(field_id)]))
    return rows[0] if rows else None


def _text(raw: str | None) -> str:
    value = store.loads(raw)
    return value if isinstance(value, str) else ""


def _crop(vault, row: dict[str, Any]) -> np.ndarray | None:
    data = vault.get_file(row["crop_file"])
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return gray if gray is not None and gray.size and min(gray.shape) >= 4 else None


def _line_boxes(vault, row: dict[str, Any]) -> list[tuple[int, int, int, int]] | None:
    """The field's ruled lines in crop pixels, when its template can be laid out."""
    if row["kind"] != "text":
        return None
    form = _layout(str(vault.path), row["template"], row["page_size"])
    geo = form.field(row["key"]) if form is not None else None
    if geo is None or not geo.lines:
        return None
    from scanner.ingest import register as reg
    from scanner.ingest.read import CROP_MARGIN_PT

    bx0, by0, _, _ = reg.to_px([geo.bbox[0] - CROP_MARGIN_PT, geo.bbox[1] - CROP_MARGIN_PT, 0, 0])
    boxes = []
    for lb in geo.lines:
        a, b, c, d = reg.to_px(lb)
        boxes.append((a - max(bx0, 0), b - max(by0, 0), c - max(bx0, 0), d - max(by0, 0)))
    return boxes


def _layout(vault_path: str, template: str, page_size: str) -> Any:
    """The sheet's form (forms.catalog.Form), or None when it cannot be laid out."""
    from forms import catalog

    try:
        return catalog.form(template, page_size, catalog.vault_template_dirs(vault_path))
    except catalog.FormUnavailable:
        # Templates are data that can be wrong: fall back to the ink's own lines.
        return None


def _words(vault, row: dict[str, Any], count: int | None) -> list[wordsplit.Word] | None:
    gray = _crop(vault, row)
    if gray is None:
        return None
    return wordsplit.split_words(gray, count=count, line_boxes=_line_boxes(vault, row))


# ---------------------------------------------------------------- learning


def learn_field(vault, field_id: int) -> int:
    """Learn the words of one confirmed line/text field; returns how many were learned.

    Any earlier exemplars of the field are replaced. A field whose crop does
    not split into exactly as many words as its confirmed text has teaches
    nothing (0). Call after the confirmation is committed.
    """
    row = _field(vault, field_id)
    if row is None or row["status"] != "confirmed" or row["kind"] not in LEARN_KINDS or not row["crop_file"]:
        return 0
    tokens = _text(row["confirmed_value"]).split()
    if not tokens:
        return 0
    words = _words(vault, row, len(tokens))
    if not words or len(words) != len(tokens):
        return 0
    vectors = [wordfeatures.embed(w.image, with_turns=True) for w in words]
    image_ids = vault.put_files([w.png() for w in words], "word")  # the file first, then its rows
    with store.transaction(vault.db):
        current = vault.db.execute("SELECT status, confirmed_value FROM fields WHERE id = ?", [row["id"]]).fetchone()
        if current is None or current[0] != "confirmed" or current[1] != row["confirmed_value"]:
            vault.db.execute("INSERT OR IGNORE INTO word_trash(image_file) VALUES (?)", [image_ids[0][:32]])
        else:
            _drop(vault, row["id"])
            for n, (token, vec, image_id) in enumerate(zip(tokens, vectors, image_ids)):
                vault.db.execute(
                    "INSERT INTO word_exemplars(field_id, n, word, norm, privacy, source, image_file, vectors) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    [row["id"], n, token, normalise(token), row["privacy"], row["confirmed_value"], image_id,
                     vec.tobytes()])
    empty_trash(vault)
    return len(tokens)


def _drop(vault, field_id: int) -> None:
    vault.db.execute("INSERT OR IGNORE INTO word_trash(image_file) SELECT DISTINCT substr(image_file, 1, 32) "
                     "FROM word_exemplars WHERE field_id = ?", [field_id])
    vault.db.execute("DELETE FROM word_exemplars WHERE field_id = ?", [field_id])


def empty_trash(vault) -> None:
    """Delete the word images of exemplars that are gone (rows first, then files)."""
    bundles = [r[0] for r in vault.db.execute("SELECT image_file FROM word_trash").fetchall()]
    if not bundles:
        return
    with store.transaction(vault.db):
        vault.db.execute("DELETE FROM word_trash")
    for bundle in bundles:
        vault.delete_file(bundle)


def rebuild(vault) -> dict[str, int]:
    """Forget every exemplar and word draft and learn again from every confirmed field (``inklock reindex``)."""
    with store.transaction(vault.db):
        vault.db.execute("INSERT OR IGNORE INTO word_trash(image_file) "
                         "SELECT DISTINCT substr(image_file, 1, 32) FROM word_exemplars")
        vault.db.execute("DELETE FROM word_exemplars")
        vault.db.execute("DELETE FROM word_drafts")
    empty_trash(vault)
    ids = [r[0] for r in vault.db.execute(
        "SELECT id FROM fields WHERE status = 'confirmed' AND kind IN ('line', 'text') AND crop_file IS NOT NULL "
        "ORDER BY crop_file, id").fetchall()]
    fields = words = 0
    for field_id in ids:
        learned = learn_field(vault, field_id)
        fields += learned > 0
        words += learned
    drafts = index_drafts(vault, limit=None)
    return {"fields": fields, "skipped": len(ids) - fields, "words": words, "drafts": drafts}


def index_drafts(vault, limit: int | None = DRAFT_BATCH) -> int:
    """Cut unconfirmed line/text fields not yet cut into words (for search by hand); returns how many."""
    sql = ("SELECT f.id FROM fields f LEFT JOIN word_drafts d ON d.field_id = f.id WHERE f.status = 'pending' "
           "AND f.kind IN ('line', 'text') AND f.crop_file IS NOT NULL AND d.field_id IS NULL ORDER BY f.crop_file")
    ids = [r[0] for r in vault.db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()]
    done = []
    for field_id in ids:
        row = _field(vault, field_id)
        words = _draft_words(vault, row)
        vecs = (np.concatenate([wordfeatures.embed(w.image, with_turns=False) for w in words])
                if words else np.zeros((0, _dims()), np.float16))
        done.append((field_id, row["crop_file"], len(words), vecs.tobytes()))
    with store.transaction(vault.db):
        for field_id, crop_file, n, blob in done:
            # Only if the field is still the one that was read (a rescan or confirmation may have come between).
            vault.db.execute("INSERT OR REPLACE INTO word_drafts(field_id, crop_file, words, vectors) "
                             "SELECT id, crop_file, ?, ? FROM fields WHERE id = ? AND crop_file = ? AND status = 'pending'",
                             [n, blob, field_id, crop_file])
    return len(done)


def draft_vectors(gray: np.ndarray, text: str, line_boxes=None) -> tuple[int, bytes]:
    """Word vectors of a just-read field (in the page worker): (word count, float16 bytes).

    The same cut as :func:`index_drafts` makes, on the crop in memory, so the
    writer stores it with the page and nothing is cut again afterwards.
    """
    tokens = text.split()
    words = wordsplit.split_words(gray, count=len(tokens), line_boxes=line_boxes) if tokens else None
    if words is None:
        words = wordsplit.split_words(gray, count=None, line_boxes=line_boxes)
    words = words or []
    vecs = (np.concatenate([wordfeatures.embed(w.image, with_turns=False) for w in words])
            if words else np.zeros((0, _dims()), np.float16))
    return len(words), vecs.astype(np.float16).tobytes()


def store_draft_vectors(db, field_id: int, crop_file: str, count: int, blob: bytes) -> None:
    """Record a pending field's word vectors (inside the caller's transaction)."""
    db.execute("INSERT OR REPLACE INTO word_drafts(field_id, crop_file, words, vectors) VALUES (?, ?, ?, ?)",
               [field_id, crop_file, count, blob])


def _draft_words(vault, row: dict[str, Any]) -> list[wordsplit.Word]:
    """Word images of an unconfirmed field: as many as the OCR draft has words when that cut is clear."""
    tokens = _text(row["value"]).split()
    words = _words(vault, row, len(tokens)) if tokens else None
    if words is None:
        words = _words(vault, row, None)
    return words or []


def _dims() -> int:
    return int(wordfeatures.basis()[1].shape[0])


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
        present = np.array([r[0] for r in db.execute("SELECT id FROM word_exemplars")], np.int64)
        have = np.unique(self.ids)
        if len(present) == len(have) and np.array_equal(np.sort(present), have):
            return
        keep = np.isin(self.ids, present)
        new_ids = np.setdiff1d(present, have)
        rows_ids, rows_vecs = [self.ids[keep]], [self.raw[keep]] if self.raw.size else []
        for chunk in range(0, len(new_ids), 900):
            part = [int(i) for i in new_ids[chunk:chunk + 900]]
            marks = ",".join("?" * len(part))
            for rid, word, norm, blob in db.execute(
                    f"SELECT id, word, norm, vectors FROM word_exemplars WHERE id IN ({marks})", part):
                vecs = np.frombuffer(blob, np.float16).reshape(-1, _dims())
                rows_ids.append(np.full(len(vecs), rid, np.int64))
                rows_vecs.append(vecs)
                self.words[rid] = (word, norm)
        self.ids = np.concatenate(rows_ids) if rows_ids else np.zeros(0, np.int64)
        self.raw = np.concatenate(rows_vecs) if rows_vecs else np.zeros((0, _dims()), np.float16)
        alive = set(int(i) for i in present)
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


def index_for(vault) -> ExemplarIndex:
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
    sims = (queries.reshape(n * k, d) @ index.matched.T).reshape(n, k, -1).max(axis=1)
    out = []
    for s in sims:
        best = int(np.argmax(s))
        code = index.norm_codes[best]
        others = s[index.norm_codes != code]
        out.append((int(index.ids[best]), float(1.0 - s[best]), float(1.0 - others.max()) if others.size else 2.0))
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


def suggest(vault, field_id: int) -> dict[str, Any]:
    """A transcription for an unconfirmed line/text field, word by word.

    Returns ``{"text", "confidence", "words": [{"word", "source", "distance"}]}``:
    ``source`` is ``"exemplar"`` for a word named by the nearest confirmed
    exemplar (``distance`` its cosine distance) and ``"ocr"`` where the OCR
    draft stands (distance None). ``confidence`` estimates the chance the
    whole text is right. When the crop and the draft disagree on the number
    of words and some word is unknown, the OCR draft is returned whole.
    """
    row = _field(vault, field_id)
    if row is None:
        return {"text": "", "confidence": 0.0, "words": []}
    draft = _text(row["value"])
    tokens = draft.split()
    fallback = {"text": draft, "confidence": round(float(row["confidence"]), 3),
                "words": [{"word": t, "source": "ocr", "distance": None} for t in tokens]}
    if row["kind"] not in LEARN_KINDS or not row["crop_file"]:
        return fallback
    index = index_for(vault)
    if not len(index):
        return fallback
    words = _draft_words(vault, row)
    if not words:
        return fallback
    found = _nearest(index, _query_vectors(index, words))
    confs = [_word_confidence(d, other) for _, d, other in found]
    accepted = [c >= ACCEPT_CONFIDENCE for c in confs]
    if not any(accepted) or (len(words) != len(tokens) and not all(accepted)):
        return fallback
    ocr_share = float(row["confidence"]) ** (1.0 / max(len(tokens), 1))
    out_words, probs, lines = [], [], []
    for i, (w, (rid, dist, _other), ok) in enumerate(zip(words, found, accepted)):
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


def _drafts(vault) -> _Drafts:
    key = (str(vault.path), id(vault.db))
    stamp = tuple(vault.db.execute("SELECT count(*), coalesce(sum(field_id), 0), coalesce(sum(words), 0) "
                                   "FROM word_drafts").fetchone())
    cached = _DRAFTS.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    ids, pos, vecs = [], [], []
    for field_id, n, blob in vault.db.execute("SELECT field_id, words, vectors FROM word_drafts WHERE words > 0"):
        v = np.frombuffer(blob, np.float16).reshape(-1, _dims())
        ids.append(np.full(len(v), field_id, np.int64))
        pos.append(np.arange(len(v)))
        vecs.append(v)
    d = _Drafts(np.concatenate(ids) if ids else np.zeros(0, np.int64),
                np.concatenate(pos) if pos else np.zeros(0, np.int64),
                np.concatenate(vecs) if vecs else np.zeros((0, _dims()), np.float16), stamp)
    _DRAFTS[key] = d
    return d


def search_by_hand(vault, words: list[str], limit: int = 50) -> list[tuple[int, str, float]]:
    """Unconfirmed fields holding a word image like a confirmed exemplar of one of ``words``.

    Returns ``[(field_id, word, distance)]``, nearest first, one entry per
    field (its best word). A word image counts only when the query word's
    exemplars are nearer to it than any other word's (it would be suggested
    as that word).
    """
    wanted = {normalise(w) for w in words if normalise(w)}
    index = index_for(vault)
    if not wanted or not len(index):
        return []
    index_drafts(vault)
    drafts = _drafts(vault)
    if not len(drafts.field_ids):
        return []
    targets = [i for i, norm in enumerate(index.norms) if norm in wanted]
    if not targets:
        return []
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


def stats(vault) -> dict[str, Any]:
    """How much of the hand is learned: exemplar words, distinct words, fields, drafts cut."""
    row = vault.db.execute("SELECT count(*), count(DISTINCT norm), count(DISTINCT field_id), "
                           "coalesce(sum(length(vectors)), 0) FROM word_exemplars").fetchone()
    drafts = vault.db.execute("SELECT count(*), coalesce(sum(words), 0) FROM word_drafts").fetchone()
    return {"words": row[0], "distinct": row[1], "fields": row[2], "vector_bytes": row[3],
            "draft_fields": drafts[0], "draft_words": drafts[1]}

"""Running a search: the tiers in order, BM25 ranking within a tier, snippets, and the index rebuild.

See :mod:`scanner.vault.search` for the tiers. The handwriting tier is not
run here: a caller that has it (it needs the vault's files and the clinician's
exemplars, :mod:`scanner.hand`) passes it in as ``hand``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator, TYPE_CHECKING

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from scanner.errors import UsageError
from scanner.shorthand import Shorthand
from scanner.vault import searchindex
from scanner.vault.search.filters import Filters, _ascii_lower
from scanner.vault.search.query import (WORD, as_substrings, hand_groups, parse_query, to_fts, with_fuzzy,
                                        with_shorthand)

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

MATCHES = ("exact", "shorthand", "handwriting", "fuzzy", "substring")
DEFAULT_LIMIT = 50
HIGHLIGHT = ("[", "]")
FUZZY_MIN_LENGTH = 4
FUZZY_CANDIDATES = 6       # per query word: enough for a word's OCR misreadings

# The handwriting tier: (query words, limit) -> [(field id, word seen, distance)], nearest first,
# e.g. ``functools.partial(scanner.hand.exemplars.search_by_hand, vault)``.
HandSearch = Callable[[list[str], int], Iterable[tuple[int, str, float]]]


# BM25 reads each match's length, and a common word matches tens of thousands
# of fields: each tier ranks its newest this many matches (one index pass).
RANK_WINDOW = 2000
# Table names come from this fixed map, never from the user.
_INDEX = {"words": "search_words", "trigrams": "search_trigrams"}
_SNIPPET_TOKENS = {"words": 16, "trigrams": 64}  # a trigram "token" is one character
_WEIGHTS = ", 1.0, 0.0"  # tags never count towards relevance
# Search reads index pages again and again; SQLCipher decrypts a page each time
# it enters the page cache, so a cache that holds the word index and most of
# the trigram index is what keeps it near plain SQLite. Grows only as used.
CACHE_KIB = 96 * 1024


class Searcher:
    """Searches one vault database; keeps the index vocabulary cached between queries.

    The vocabulary (for fuzzy matching) is re-read when this connection or
    another one changed the database, so results never lag a confirmation.
    ``highlight`` is the pair of strings put around matched words in snippets.
    Raises the connection's page cache to :data:`CACHE_KIB` if it is smaller.
    """

    def __init__(self, db, shorthand: Shorthand | None = None, highlight: tuple[str, str] = HIGHLIGHT,
                 hand: HandSearch | None = None):
        self.db = db
        self.hand = hand  # with it, the handwriting tier runs (see HandSearch)
        self._shorthand = shorthand
        self.highlight = highlight
        self._vocab: dict[int, list[str]] | None = None
        self._vocab_stamp: tuple[int, int] | None = None
        size = db.execute("PRAGMA cache_size").fetchone()[0]
        if (-size if size < 0 else size * 4) < CACHE_KIB:  # positive = pages (4 KiB here)
            db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    @property
    def shorthand(self) -> Shorthand:
        if self._shorthand is None:
            rows = self.db.execute("SELECT short, long FROM abbreviations").fetchall()
            self._shorthand = Shorthand(dict(rows))
        return self._shorthand

    def vocabulary(self) -> dict[int, list[str]]:
        """The index's distinct words, grouped by length (re-read after any change)."""
        conn = self.db.conn
        stamp = (conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        if self._vocab is None or stamp != self._vocab_stamp:
            by_length: dict[int, list[str]] = {}
            for (term,) in conn.execute("SELECT term FROM search_vocab WHERE col = 'body'"):
                by_length.setdefault(len(term), []).append(term)
            self._vocab, self._vocab_stamp = by_length, stamp
        return self._vocab

    def similar(self, word: str) -> list[str]:
        """Words of this vault within one edit (4 letters) or two (longer) of ``word``."""
        word = word.casefold()
        if len(word) < FUZZY_MIN_LENGTH:
            return []
        edits = 1 if len(word) <= 4 else 2
        vocab = self.vocabulary()
        found: list[tuple[int, str]] = []
        for length in range(len(word) - edits, len(word) + edits + 1):
            for term, distance, _ in process.extract(word, vocab.get(length, ()), scorer=Levenshtein.distance,
                                                     score_cutoff=edits, limit=FUZZY_CANDIDATES):
                if term != word:
                    found.append((distance, term))
        return [term for _, term in sorted(found)[:FUZZY_CANDIDATES]]

    def plan(self, query: str) -> Iterator[tuple[str, str, str]]:
        """The tiers a query runs as, built only when reached: (match, index, FTS5 expression).

        The query is parsed before the first tier is returned, so a malformed
        query fails before anything runs.
        """
        tree = parse_query(query)

        def steps() -> Iterator[tuple[str, str, str]]:
            seen = set()
            short = with_shorthand(tree, self.shorthand)
            for match, index, node in (("exact", "words", lambda: tree), ("shorthand", "words", lambda: short),
                                       ("fuzzy", "words", lambda: with_fuzzy(short, self.similar)),
                                       ("substring", "trigrams", lambda: as_substrings(short))):
                built = node()
                if built is not None and (index, to_fts(built)) not in seen:
                    seen.add((index, to_fts(built)))
                    yield match, index, to_fts(built)

        return steps()

    def search(self, query: str, filters: Filters | None = None, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        """Matching fields, grouped by session, exact matches first (see the module docstring).

        Within a tier, fields are ranked by BM25 among the newest
        :data:`RANK_WINDOW` matches; later tiers add fields until ``limit``.
        """
        filters = filters or Filters()
        if limit < 1:
            raise UsageError("--limit must be at least 1.")
        plan = self.plan(query)
        tags = filters.tags(self._number, self._date_bounds) if filters.active else []
        if tags is None:
            return []
        # The filters as a query on the tags column of either index (see scanner.vault.searchindex).
        tag_expr = " AND ".join("tags : (" + " OR ".join(f'"{t}"' for t in group) + ")" for group in tags)
        found: dict[int, tuple[int, float, str, str, str]] = {}  # field id -> (tier, rank, match, index, MATCH)
        hand: dict[int, tuple[str, float]] = {}  # field id -> (word seen in the handwriting, distance)
        hand_due = self.hand is not None
        for match, index, expr in plan:
            if match in ("fuzzy", "substring") and hand_due:
                hand, hand_due = self._by_hand(query, filters, limit - len(found), found), False
                if len(found) >= limit:
                    break
            full = f"body : ({expr})" + (f" AND {tag_expr}" if tag_expr else "")
            for field_id, rank in self._ranked(index, full, limit - len(found), list(found)):
                found[field_id] = (MATCHES.index(match), rank, match, index, full)
            if len(found) >= limit:
                break
        if hand_due and len(found) < limit:
            hand = self._by_hand(query, filters, limit - len(found), found)
        return self._results(found, hand)

    def _by_hand(self, query: str, filters: Filters, limit: int, found: dict[int, tuple]) -> dict[int, tuple[str, float]]:
        """The handwriting tier: adds to ``found`` and returns field id -> (word, distance)."""
        assert self.hand is not None
        groups = hand_groups(parse_query(query))
        if not groups or limit < 1:
            return {}
        matched: dict[int, tuple[str, float]] | None = None
        for group in groups:
            words = {v for w in group for v in self.shorthand.variants(w) if len(WORD.findall(v)) == 1}
            hits = {fid: (word, dist) for fid, word, dist in self.hand(sorted(words), limit * 4 + 20)}
            matched = hits if matched is None else {
                fid: (matched[fid][0], max(matched[fid][1], d)) for fid, (_w, d) in hits.items() if fid in matched}
        allowed = self._allowed([fid for fid in matched or {} if fid not in found], filters)
        ranked = sorted(((fid, v) for fid, v in (matched or {}).items() if fid in allowed), key=lambda kv: kv[1][1])
        out = dict(ranked[:limit])
        for fid, (_word, dist) in out.items():
            found[fid] = (MATCHES.index("handwriting"), dist, "handwriting", "hand", "")
        return out

    def _allowed(self, field_ids: list[int], filters: Filters) -> set[int]:
        """Which of these fields pass the filters (checked on the rows: no text index entry is needed)."""
        if not field_ids:
            return set()
        sql = ("SELECT f.id FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id "
               "WHERE f.id IN (SELECT value FROM json_each(?)) AND f.status = 'pending'")
        args: list[Any] = [json.dumps(field_ids)]
        if filters.client is not None:
            sql += " AND lower(s.client) = ?"
            args.append(_ascii_lower(filters.client))
        if filters.field is not None:
            sql += " AND f.key = ?"
            args.append(filters.field)
        if filters.privacy is not None:
            sql += " AND f.privacy = ?"
            args.append(filters.privacy)
        if filters.since is not None:
            sql += " AND substr(s.date, 1, 10) >= ?"
            args.append(filters.since)
        if filters.until is not None:
            sql += " AND substr(s.date, 1, 10) <= ?"
            args.append(filters.until)
        return {r[0] for r in self.db.execute(sql, args)}

    def _number(self, kind: str, value: str) -> int | None:
        row = self.db.execute("SELECT id FROM search_terms WHERE kind = ? AND value = ?", [kind, value]).fetchone()
        return row[0] if row else None

    def _date_bounds(self) -> tuple[str | None, str | None]:
        first, last = self.db.execute("SELECT min(date), max(date) FROM sheets WHERE date GLOB "
                                      "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'").fetchone()
        return first and first[:10], last and last[:10]

    def _ranked(self, index: str, expr: str, limit: int, exclude: list[int]) -> list[tuple[int, float]]:
        """The best ``limit`` matches by BM25 among the newest :data:`RANK_WINDOW` ones."""
        table = _INDEX[index]
        skip, args = "", []
        if exclude:
            skip, args = " AND rowid NOT IN (SELECT value FROM json_each(?))", [json.dumps(exclude)]
        # One pass: the index yields matches newest first and stops at the window.
        rows = self.db.execute(f"SELECT rowid, bm25({table}{_WEIGHTS}) FROM {table} WHERE {table} MATCH ?{skip} "
                               f"ORDER BY rowid DESC LIMIT ?", [expr, *args, RANK_WINDOW]).fetchall()
        return sorted(rows, key=lambda r: r[1])[:limit]

    def _results(self, found: dict[int, tuple], hand: dict[int, tuple[str, float]] | None = None) -> list[dict[str, Any]]:
        by_query: dict[tuple[str, str], list[int]] = {}
        for field_id, (_, _, _, index, expr) in found.items():
            if index != "hand":
                by_query.setdefault((index, expr), []).append(field_id)
        rows: dict[int, dict[str, Any]] = {}
        for (index, expr), ids in by_query.items():
            table = _INDEX[index]
            # One index cursor over the ids' rowid range ('+' keeps the IN list a
            # filter): a cursor per id would redo a prefix query's setup each time.
            sql = (f"SELECT f.id, s.id, s.sheet_id, s.client, s.date, f.key, f.privacy, f.status, f.crop_file, "
                   f"snippet({table}, 0, ?, ?, '…', {_SNIPPET_TOKENS[index]}), f.kept_at "
                   f"FROM {table} JOIN fields f ON f.id = {table}.rowid JOIN sheets s ON s.sheet_id = f.sheet_id "
                   f"WHERE {table} MATCH ? AND {table}.rowid BETWEEN ? AND ? "
                   f"AND +{table}.rowid IN (SELECT value FROM json_each(?))")
            for r in self.db.execute(sql, [*self.highlight, expr, min(ids), max(ids), json.dumps(ids)]):
                tier, rank, match, _, _ = found[r[0]]
                rows[r[0]] = {"session": r[1], "sheet_id": r[2], "client": r[3], "date": r[4], "field": r[5],
                              "privacy": r[6], "status": "confirmed" if r[7] == "confirmed" else "draft",
                              "snippet": searchindex.shown_body(r[9] or ""), "score": round(-rank, 3), "match": match,
                              "crop_file": r[8], "kept": r[10] is not None and r[7] != "confirmed",
                              "_order": (tier, rank)}
        for field_id, (word, dist) in (hand or {}).items():
            rows[field_id] = self._hand_row(field_id, word, dist)
        return group_by_session(list(rows.values()))

    def _hand_row(self, field_id: int, word: str, dist: float) -> dict[str, Any]:
        r = self.db.execute(
            "SELECT s.id, s.sheet_id, s.client, s.date, f.key, f.privacy, f.crop_file, d.body, f.kept_at FROM fields f "
            "JOIN sheets s ON s.sheet_id = f.sheet_id LEFT JOIN search_docs d ON d.id = f.id WHERE f.id = ?",
            [field_id]).fetchone()
        draft = " ".join(searchindex.shown_body(r[7] or "").split())
        snippet = f"{self.highlight[0]}{word}{self.highlight[1]} in the handwriting"
        if draft:
            snippet += " \u2014 machine reading: " + (draft if len(draft) <= 80 else draft[:79] + "\u2026")
        return {"session": r[0], "sheet_id": r[1], "client": r[2], "date": r[3], "field": r[4], "privacy": r[5],
                "status": "draft", "snippet": snippet, "score": round(-dist, 3), "match": "handwriting",
                "crop_file": r[6], "kept": r[8] is not None, "_order": (MATCHES.index("handwriting"), dist)}


def group_by_session(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order hits so each session's fields sit together, sessions by their best hit."""
    best: dict[int, tuple] = {}
    for r in results:
        key = r["_order"]
        if r["session"] not in best or key < best[r["session"]]:
            best[r["session"]] = key
    ordered = sorted(results, key=lambda r: (best[r["session"]], r["session"], r["_order"]))
    return [{k: v for k, v in r.items() if k != "_order"} for r in ordered]


def search(vault: Vault, query: str, *, client: str | None = None, since: str | None = None, until: str | None = None,
           field: str | None = None, privacy: str | None = None, limit: int = DEFAULT_LIMIT,
           hand: HandSearch | None = None) -> list[dict[str, Any]]:
    """Search a vault once (a long-lived caller keeps a :class:`Searcher` instead)."""
    filters = Filters(client=client, since=since, until=until, field=field, privacy=privacy)
    return Searcher(vault.db, hand=hand).search(query, filters, limit)


def reindex(db) -> int:
    """Drop and rebuild the whole search index from ``fields``; returns the fields indexed.

    Uses the same statements as the schema migration, in one transaction, so a
    damaged or stale index is replaced whole or not at all.
    """
    conn = db.conn
    try:
        # executescript commits a pending transaction first; the rebuild is its own.
        conn.executescript("BEGIN IMMEDIATE;\n" + searchindex.rebuild_script() + "\nCOMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return int(conn.execute("SELECT count(*) FROM search_docs").fetchone()[0])

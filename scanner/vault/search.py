"""Search over the vault's field text (SPEC section 5, "Search").

A query is parsed here (words, ``anx*`` prefixes, ``"quoted phrases"``, AND, OR,
NOT, parentheses) into a small tree, never passed to SQLite as typed. The tree
is then run in tiers, each widening the one before, so exact matches rank first:

1. ``exact``: the words as written, in the word index (FTS5, unicode61);
2. ``shorthand``: plus the other spelling of each abbreviation, both ways
   ("SI" and "suicidal ideation"), from the same list progress notes use;
3. ``fuzzy``: plus the vault's own words within one or two edits (rapidfuzz
   over the index vocabulary): OCR drafts are often a letter or two wrong;
4. ``substring``: the same tree over the trigram index ("xiet" in "anxiety",
   words that OCR ran together).

Between the shorthand and fuzzy tiers, when the searcher has the vault,
``handwriting`` finds unconfirmed fields whose word images look like the
clinician's confirmed exemplars of the query words (``scanner.hand.exemplars``),
whatever OCR made of them; such a hit is always a draft shown with its crop.

A later tier runs only while fewer than ``limit`` fields were found. The index
itself (``search_docs``, ``search_words``, ``search_trigrams``) is kept in step
with ``fields`` by triggers (``scanner.vault.schema``); :func:`reindex` rebuilds it.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterator, Union

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from scanner.vault import schema
from scanner.errors import UsageError
from scanner.shorthand import Shorthand

MATCHES = ("exact", "shorthand", "handwriting", "fuzzy", "substring")
DEFAULT_LIMIT = 50
HIGHLIGHT = ("[", "]")
FUZZY_MIN_LENGTH = 4
FUZZY_CANDIDATES = 6       # per query word: enough for a word's OCR misreadings
PHRASE_VARIANTS = 12       # cap on spelled-out phrase combinations
SHORTHAND_MAX_WORDS = 6    # longest long form looked for among adjacent words
TRIGRAM_MIN = 3            # the trigram index cannot match fewer characters
PRIVACY = ("private", "progress")

_WORD = re.compile(r"[^\W_]+")  # what the unicode61 tokenizer keeps as a word
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPERATORS = ("AND", "OR", "NOT")
# Control characters (NUL ends a C string inside SQLite) and lone surrogates (not
# encodable text, e.g. from a mangled terminal) are never meant.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


# -- the query tree -------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """Words to find: one word (maybe a ``prefix*``) or a phrase."""

    text: str
    prefix: bool = False
    phrase: bool = False


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Without:
    keep: Node
    drop: Node


Node = Union[Leaf, All, Any_, Without]


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a query into (kind, text): word, prefix, phrase, op, '(' and ')'."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise UsageError('The query has an unmatched double quote: close the phrase or remove the quote.')
            phrase = text[i + 1:end].strip()
            if not _WORD.search(phrase):
                raise UsageError('The query has an empty phrase (""): put words between the quotes.')
            out.append(("phrase", phrase))
            i = end + 1
        elif c in "()":
            out.append((c, c))
            i += 1
        else:
            m = re.compile(r'[^\s"()]+').match(text, i)
            word = m.group(0)
            i = m.end()
            if word in _OPERATORS:
                out.append(("op", word))
            elif word.endswith("*"):
                stem = word.rstrip("*")
                if not _WORD.search(stem):
                    raise UsageError("A '*' must follow the start of a word, as in anx*.")
                out.append(("prefix", stem))
            elif _WORD.search(word):
                out.append(("word", word))
            # A token without letters or digits ("&", "-") can match nothing: skip it.
    return out


class _Parser:
    """Recursive descent with FTS5's precedence: NOT binds tightest, then AND, then OR."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def operand_after(self, op: str) -> None:
        nxt = self.peek()
        if nxt is None or nxt[0] == ")" or nxt[0] == "op":
            raise UsageError(f"'{op}' needs a word or phrase after it, as in 'anxiety {op} sleep'.")

    def parse(self) -> Node:
        node = self.any_()
        if self.peek() is not None:  # only a stray ')' can stop the loop early
            raise UsageError("The query has a ')' without a matching '('.")
        return node

    def any_(self) -> Node:
        items = [self.all_()]
        while self.peek() == ("op", "OR"):
            self.take()
            self.operand_after("OR")
            items.append(self.all_())
        return items[0] if len(items) == 1 else Any_(tuple(items))

    def all_(self) -> Node:
        items = [self.without()]
        while (tok := self.peek()) is not None and tok[0] != ")" and tok != ("op", "OR"):
            if tok == ("op", "AND"):
                self.take()
                self.operand_after("AND")
            items.append(self.without())
        return items[0] if len(items) == 1 else All(tuple(items))

    def without(self) -> Node:
        node = self.primary()
        while self.peek() == ("op", "NOT"):
            self.take()
            self.operand_after("NOT")
            node = Without(node, self.primary())
        return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise UsageError("The query is incomplete: it ends where a word or phrase was expected.")
        kind, text = self.take()
        if kind == "word":
            return Leaf(text)
        if kind == "prefix":
            return Leaf(text, prefix=True)
        if kind == "phrase":
            return Leaf(text, phrase=True)
        if kind == "(":
            if self.peek() == (")", ")"):
                raise UsageError("The query has empty parentheses: put words inside them.")
            node = self.any_()
            if self.peek() != (")", ")"):
                raise UsageError("The query has a '(' without a matching ')'.")
            self.take()
            return node
        if kind == ")":
            raise UsageError("The query has a ')' without a matching '('.")
        raise UsageError(f"'{text}' needs a word or phrase before it, as in 'anxiety {text} sleep'.")


def parse_query(text: str) -> Node:
    """Parse a user's query into a tree; a malformed query raises a one-sentence UsageError."""
    # Control characters (NUL ends a C string inside SQLite) are never meant.
    tokens = _tokens(_CONTROL.sub(" ", text or ""))
    if not tokens:
        raise UsageError("The query has no words to search for.")
    return _Parser(tokens).parse()


# -- turning the tree into FTS5 queries -------------------------------------------


def to_fts(node: Node) -> str:
    """The FTS5 MATCH expression for a tree; every user word is a quoted FTS5 string."""
    if isinstance(node, Leaf):
        quoted = '"' + node.text.replace('"', '""') + '"'
        return quoted + " *" if node.prefix else quoted
    if isinstance(node, All):
        return "(" + " AND ".join(to_fts(i) for i in node.items) + ")"
    if isinstance(node, Any_):
        return "(" + " OR ".join(to_fts(i) for i in node.items) + ")"
    return "(" + to_fts(node.keep) + " NOT " + to_fts(node.drop) + ")"


def _either(node: Node, others: list[str]) -> Node:
    alts = [Leaf(o, phrase=True) for o in others if _WORD.search(o)]
    return Any_((node, *alts)) if alts else node


def with_shorthand(node: Node, shorthand: Shorthand) -> Node:
    """The tree with each abbreviation or long form also matching its other spelling."""
    if isinstance(node, Leaf):
        return node if node.prefix else _either(node, shorthand.variants(node.text)[1:])
    if isinstance(node, Without):
        return Without(with_shorthand(node.keep, shorthand), with_shorthand(node.drop, shorthand))
    if isinstance(node, Any_):
        return Any_(tuple(with_shorthand(i, shorthand) for i in node.items))
    # Adjacent plain words may spell a long form: suicidal ideation -> SI.
    items, out, i = node.items, [], 0
    while i < len(items):
        for j in range(min(len(items), i + SHORTHAND_MAX_WORDS), i + 1, -1):
            run = items[i:j]
            if all(isinstance(x, Leaf) and not x.prefix and not x.phrase for x in run):
                others = shorthand.variants(" ".join(x.text for x in run))[1:]
                if others:
                    out.append(_either(All(run), others))
                    i = j
                    break
        else:
            out.append(with_shorthand(items[i], shorthand))
            i += 1
    return out[0] if len(out) == 1 else All(tuple(out))


def with_fuzzy(node: Node, similar) -> Node:
    """The tree with each word also matching ``similar(word)`` (the vault's near spellings)."""
    if isinstance(node, Leaf):
        if node.prefix:
            return node
        words = _WORD.findall(node.text)
        if not node.phrase and len(words) == 1:
            return _either(node, similar(words[0]))
        if len(words) < 2:
            return node
        choices = [[w, *similar(w)[:2]] for w in words]
        spelled = [" ".join(c) for c in itertools.islice(itertools.product(*choices), 1, PHRASE_VARIANTS + 1)]
        return _either(node, spelled)
    if isinstance(node, Without):
        # Near spellings widen what is kept; what is excluded stays as typed.
        return Without(with_fuzzy(node.keep, similar), node.drop)
    kind = All if isinstance(node, All) else Any_
    return kind(tuple(with_fuzzy(i, similar) for i in node.items))


def as_substrings(node: Node) -> Node | None:
    """The tree for the trigram index (substrings), or None if part of it is too short."""
    if isinstance(node, Leaf):
        text = node.text.strip()
        return Leaf(text) if len(text) >= TRIGRAM_MIN else None
    if isinstance(node, Without):
        keep, drop = as_substrings(node.keep), as_substrings(node.drop)
        return Without(keep, drop) if keep is not None and drop is not None else None
    parts = [as_substrings(i) for i in node.items]
    if isinstance(node, Any_):
        # A short alternative ("SI") is left to the word index; the others still apply.
        kept = tuple(p for p in parts if p is not None)
        return (kept[0] if len(kept) == 1 else Any_(kept)) if kept else None
    return All(tuple(parts)) if all(p is not None for p in parts) else None


# -- filters ------------------------------------------------------------------------


def _check_date(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(f"--{name} '{text}' is not a date; write it as YYYY-MM-DD.") from None


@dataclass(frozen=True)
class Filters:
    """Which fields a search may return; validated on construction (UsageError)."""

    client: str | None = None
    since: str | None = None
    until: str | None = None
    field: str | None = None
    privacy: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _check_date("since", self.since))
        object.__setattr__(self, "until", _check_date("until", self.until))
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"--since {self.since} is after --until {self.until}; nothing could match.")
        if self.privacy is not None and self.privacy not in PRIVACY:
            raise UsageError(f"--privacy must be private or progress, not '{self.privacy}'.")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.client, self.since, self.until, self.field, self.privacy))

    def tags(self, number, bounds) -> list[list[str]] | None:
        """The filters as index tags (see ``scanner.vault.schema``): every group must match, any tag in a group.

        ``number(kind, value)`` is the vault's number for a client or field key
        (None if it has none); ``bounds()`` gives the vault's first and last
        session dates, to close an open date range. None when nothing can match.
        """
        groups = []
        for kind, mark, value in (("client", 1, self.client and _ascii_lower(self.client)), ("key", 2, self.field)):
            if value is not None:
                n = number(kind, value)
                if n is None:
                    return None
                groups.append([tag(mark, n)])
        if self.privacy is not None:
            groups.append([tag(3, 1 if self.privacy == "private" else 2)])
        if self.since is not None or self.until is not None:
            first, last = bounds() if self.since is None or self.until is None else (None, None)
            start, end = self.since or first, self.until or last
            if not start or not end or start > end:
                return None
            groups.append(date_tags(date.fromisoformat(start), date.fromisoformat(end)))
        return groups


def tag(kind: int, number: int) -> str:
    """One index tag: a kind mark and a two-digit number, as ``scanner.vault.schema`` writes them."""
    hi, lo = divmod(number, schema.TAG_BASE)
    return chr(schema.TAG_MARK + kind) + chr(schema.TAG_DIGIT + hi) + chr(schema.TAG_DIGIT + lo)


def _ascii_lower(text: str) -> str:
    # SQLite's lower() folds ASCII only; the tags are made with it.
    return "".join(c.lower() if c.isascii() else c for c in text)


def date_tags(start: date, end: date) -> list[str]:
    """The fewest year, month and day tags that cover ``start``..``end`` exactly."""
    out, d = [], start
    while d <= end:
        year_end, month_end = date(d.year, 12, 31), _month_end(d)
        if d.month == 1 and d.day == 1 and year_end <= end:
            out.append(tag(4, d.year))
            d = year_end + timedelta(days=1)
        elif d.day == 1 and month_end <= end:
            out.append(tag(5, d.year * 12 + d.month - 1))
            d = month_end + timedelta(days=1)
        else:
            out.append(tag(6, d.toordinal() - _ORDINAL_TO_TAG_DAY))
            d += timedelta(days=1)
    return out


# The schema numbers days as julianday - 2400000; julianday = ordinal + 1721424.5.
_ORDINAL_TO_TAG_DAY = 2400000 - 1721424


def _month_end(d: date) -> date:
    first_next = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


# -- running a search -------------------------------------------------------------------

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

    def __init__(self, db, shorthand: Shorthand | None = None, highlight: tuple[str, str] = HIGHLIGHT, vault=None):
        self.db = db
        self.vault = vault  # with it, the handwriting tier runs (it needs the vault's files)
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
            self._shorthand = Shorthand({short: long for short, long in rows})
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
        # The filters as a query on the tags column of either index (see scanner.vault.schema).
        tag_expr = " AND ".join("tags : (" + " OR ".join(f'"{t}"' for t in group) + ")" for group in tags)
        found: dict[int, tuple[int, float, str, str, str]] = {}  # field id -> (tier, rank, match, index, MATCH)
        hand: dict[int, tuple[str, float]] = {}  # field id -> (word seen in the handwriting, distance)
        hand_due = self.vault is not None
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
        from scanner.hand import exemplars

        groups = _hand_groups(parse_query(query))
        if not groups or limit < 1:
            return {}
        matched: dict[int, tuple[str, float]] | None = None
        for group in groups:
            words = {v for w in group for v in self.shorthand.variants(w) if len(_WORD.findall(v)) == 1}
            hits = {fid: (word, dist) for fid, word, dist in exemplars.search_by_hand(self.vault, sorted(words),
                                                                                      limit=limit * 4 + 20)}
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
                   f"snippet({table}, 0, ?, ?, '…', {_SNIPPET_TOKENS[index]}) "
                   f"FROM {table} JOIN fields f ON f.id = {table}.rowid JOIN sheets s ON s.sheet_id = f.sheet_id "
                   f"WHERE {table} MATCH ? AND {table}.rowid BETWEEN ? AND ? "
                   f"AND +{table}.rowid IN (SELECT value FROM json_each(?))")
            for r in self.db.execute(sql, [*self.highlight, expr, min(ids), max(ids), json.dumps(ids)]):
                tier, rank, match, _, _ = found[r[0]]
                rows[r[0]] = {"session": r[1], "sheet_id": r[2], "client": r[3], "date": r[4], "field": r[5],
                              "privacy": r[6], "status": "confirmed" if r[7] == "confirmed" else "draft",
                              "snippet": r[9], "score": round(-rank, 3), "match": match, "crop_file": r[8],
                              "_order": (tier, rank)}
        for field_id, (word, dist) in (hand or {}).items():
            rows[field_id] = self._hand_row(field_id, word, dist)
        return group_by_session(list(rows.values()))

    def _hand_row(self, field_id: int, word: str, dist: float) -> dict[str, Any]:
        r = self.db.execute(
            "SELECT s.id, s.sheet_id, s.client, s.date, f.key, f.privacy, f.crop_file, d.body FROM fields f "
            "JOIN sheets s ON s.sheet_id = f.sheet_id LEFT JOIN search_docs d ON d.id = f.id WHERE f.id = ?",
            [field_id]).fetchone()
        draft = " ".join((r[7] or "").split())
        snippet = f"{self.highlight[0]}{word}{self.highlight[1]} in the handwriting"
        if draft:
            snippet += " \u2014 machine reading: " + (draft if len(draft) <= 80 else draft[:79] + "\u2026")
        return {"session": r[0], "sheet_id": r[1], "client": r[2], "date": r[3], "field": r[4], "privacy": r[5],
                "status": "draft", "snippet": snippet, "score": round(-dist, 3), "match": "handwriting",
                "crop_file": r[6], "_order": (MATCHES.index("handwriting"), dist)}


def _hand_groups(node: Node) -> list[set[str]] | None:
    """The query as groups of words for the handwriting tier: every group must be seen, any word of it.

    Prefix queries cannot be looked for by hand (None); NOT keeps what it keeps.
    """
    if isinstance(node, Leaf):
        if node.prefix:
            return None
        return [{w} for w in _WORD.findall(node.text)] or None
    if isinstance(node, Without):
        return _hand_groups(node.keep)
    parts = [_hand_groups(i) for i in node.items]
    if any(p is None for p in parts):
        return None
    if isinstance(node, All):
        return [g for p in parts for g in p]
    if all(len(p) == 1 for p in parts):
        return [set().union(*(p[0] for p in parts))]
    return None


def group_by_session(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order hits so each session's fields sit together, sessions by their best hit."""
    best: dict[int, tuple] = {}
    for r in results:
        key = r["_order"]
        if r["session"] not in best or key < best[r["session"]]:
            best[r["session"]] = key
    ordered = sorted(results, key=lambda r: (best[r["session"]], r["session"], r["_order"]))
    return [{k: v for k, v in r.items() if k != "_order"} for r in ordered]


def search(vault, query: str, *, client: str | None = None, since: str | None = None, until: str | None = None,
           field: str | None = None, privacy: str | None = None, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Search a vault once (a long-lived caller keeps a :class:`Searcher` instead)."""
    filters = Filters(client=client, since=since, until=until, field=field, privacy=privacy)
    return Searcher(vault.db, vault=vault).search(query, filters, limit)


def reindex(db) -> int:
    """Drop and rebuild the whole search index from ``fields``; returns the fields indexed.

    Uses the same statements as the schema migration, in one transaction, so a
    damaged or stale index is replaced whole or not at all.
    """
    drops = "".join(f"DROP {kind.upper()} IF EXISTS {name};\n" for kind, name in schema.SEARCH_INDEX_OBJECTS)
    conn = db.conn
    try:
        # executescript commits a pending transaction first; the rebuild is its own.
        conn.executescript("BEGIN IMMEDIATE;\n" + drops + schema.search_index_ddl() + "\nCOMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return int(conn.execute("SELECT count(*) FROM search_docs").fetchone()[0])

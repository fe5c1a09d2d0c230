"""Search queries: parsed into a small tree (never passed to SQLite as typed), then widened.

Words, ``anx*`` prefixes, ``"quoted phrases"``, AND, OR, NOT and parentheses
parse into :data:`Node`; :func:`to_fts` turns a tree into an FTS5 MATCH
expression in which every user word is quoted. The tiers of
:class:`scanner.vault.search.Searcher` widen the tree: :func:`with_shorthand`,
:func:`with_fuzzy`, :func:`as_substrings`; :func:`hand_groups` gives the words
the handwriting tier looks for.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Union

from scanner.errors import UsageError
from scanner.shorthand import Shorthand

PHRASE_VARIANTS = 12       # cap on spelled-out phrase combinations
SHORTHAND_MAX_WORDS = 6    # longest long form looked for among adjacent words
TRIGRAM_MIN = 3            # the trigram index cannot match fewer characters

WORD = re.compile(r"[^\W_]+")  # what the unicode61 tokenizer keeps as a word
_WORD = WORD
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
            assert m is not None  # text[i] is neither a space, a quote nor a parenthesis
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
                others = shorthand.variants(" ".join(x.text for x in run if isinstance(x, Leaf)))[1:]
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
    whole = tuple(p for p in parts if p is not None)
    return All(whole) if len(whole) == len(parts) else None


def hand_groups(node: Node) -> list[set[str]] | None:
    """The query as groups of words for the handwriting tier: every group must be seen, any word of it.

    Prefix queries cannot be looked for by hand (None); NOT keeps what it keeps.
    """
    if isinstance(node, Leaf):
        if node.prefix:
            return None
        return [{w} for w in _WORD.findall(node.text)] or None
    if isinstance(node, Without):
        return hand_groups(node.keep)
    found = [hand_groups(i) for i in node.items]
    parts = [p for p in found if p is not None]
    if len(parts) < len(found):
        return None
    if isinstance(node, All):
        return [g for p in parts for g in p]
    if all(len(p) == 1 for p in parts):
        return [set().union(*(p[0] for p in parts))]
    return None

"""Search over the vault's field text (SPEC section 5, "Search").

A query is parsed (:mod:`.query`: words, ``anx*`` prefixes, ``"quoted phrases"``, AND, OR,
NOT, parentheses) into a small tree, never passed to SQLite as typed. The tree
is then run in tiers, each widening the one before, so exact matches rank first:

1. ``exact``: the words as written, in the word index (FTS5, unicode61);
2. ``shorthand``: plus the other spelling of each abbreviation, both ways
   ("SI" and "suicidal ideation"), from the same list progress notes use;
3. ``fuzzy``: plus the vault's own words within one or two edits (rapidfuzz
   over the index vocabulary): OCR drafts are often a letter or two wrong;
4. ``substring``: the same tree over the trigram index ("xiet" in "anxiety",
   words that OCR ran together).

Between the shorthand and fuzzy tiers, when the caller passes it in (``hand``),
``handwriting`` finds unconfirmed fields whose word images look like the
clinician's confirmed exemplars of the query words (``scanner.hand.exemplars``),
whatever OCR made of them; such a hit is always a draft shown with its crop.

A later tier runs only while fewer than ``limit`` fields were found. The index
itself (``search_docs``, ``search_words``, ``search_trigrams``) is kept in step
with ``fields`` by triggers (``scanner.vault.searchindex``); :func:`reindex` rebuilds it.

Modules: :mod:`.query` (the tree and its widenings), :mod:`.filters` (filters as
index tags), :mod:`.searcher` (the tiers, ranking, snippets, reindex); every
public name is re-exported here.
"""

from scanner.vault.search.filters import PRIVACY, Filters, date_tags, tag  # noqa: F401
from scanner.vault.search.query import (  # noqa: F401
    All,
    Any_,
    Leaf,
    Node,
    Without,
    as_substrings,
    parse_query,
    to_fts,
    with_fuzzy,
    with_shorthand,
)
from scanner.vault.search.searcher import (  # noqa: F401
    DEFAULT_LIMIT,
    HIGHLIGHT,
    MATCHES,
    HandSearch,
    Searcher,
    group_by_session,
    reindex,
    search,
)

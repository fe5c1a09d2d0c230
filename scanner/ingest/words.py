"""Vocabulary and post-correction of what a handwriting reader read.

The vocabulary (English words and clinical terms, ``scanner/data``), which
tokens are protected from correction (shorthand, numbers, codes, block
capitals) or known to the confidence, the edit distance with look-alike
letters, case normalisation and the near words or two-word cuts that the
line recogniser's own probabilities then judge (:mod:`scanner.ingest.ctcwords`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np

from scanner.shorthand import Shorthand


def _word_list(name: str) -> set[str]:
    text = resources.files("scanner").joinpath("data", name).read_text(encoding="utf-8")
    return {w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")}


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Lower-case English words plus clinical terms (``scanner/data``)."""
    return frozenset(_word_list("words.txt") | _word_list("clinical.txt"))


@lru_cache(maxsize=1)
def clinical_words() -> frozenset[str]:
    """The clinical terms alone (``scanner/data/clinical.txt``)."""
    return frozenset(_word_list("clinical.txt"))


@lru_cache(maxsize=1)
def _vocabulary_by_length() -> dict[int, tuple[str, ...]]:
    by_len: dict[int, list[str]] = {}
    for w in vocabulary():
        by_len.setdefault(len(w), []).append(w)
    return {n: tuple(sorted(ws)) for n, ws in by_len.items()}


_EDGE = re.compile(r"^([^\w↑↓]*)(.*?)([^\w↑↓/]*)$", re.UNICODE)


def _is_protected(core: str, shorthand: Shorthand) -> bool:
    """Tokens post-correction must never touch: shorthand, numbers, dates, codes."""
    if not core or shorthand.is_shorthand(core):
        return True
    if any(c.isdigit() for c in core) or not core.isalpha():
        return True  # dates, doses, codes, w/o, f/u, arrows, hyphenated words
    if core.isupper():
        return True  # acronyms (PHQ, GAD), and names written in block capitals
    return len(core) < 3


def _is_known(core: str, shorthand: Shorthand) -> bool:
    """A token the confidence may trust: a vocabulary word, shorthand, a number or code, or under 3 letters.

    Unlike :func:`_is_protected`, a word in block capitals is not known just
    for its capitals: a name the vocabulary lacks ("SCHNETDER" for
    "SCHNEIDER") is as unsure as any other unknown word.
    """
    if core.isupper() and core.isalpha() and len(core) >= 3 and not shorthand.is_shorthand(core):
        return core.lower() in vocabulary()
    return _is_protected(core, shorthand) or core.lower() in vocabulary()


def _mostly_upper(word: str) -> bool:
    """Block capitals, allowing one letter in three that OCR read as small ("THiS", "MiNOFULNESS")."""
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and sum(c.isupper() for c in letters) >= 2 * len(letters) / 3


def _match_case(word: str, like: str) -> str:
    if like.isupper() or _mostly_upper(like):
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


# Letter pairs handwriting OCR confuses often: a substitution between them
# costs less, so "beller" is nearer "better" than "feller".
_CONFUSABLE = {
    frozenset(p)
    for p in ("lt", "li", "il", "ij", "ae", "ao", "au", "ce", "co", "nu", "nh", "mn", "rv", "rn",
              "gy", "gq", "bh", "ft", "ec", "ur", "vu", "kh", "dl")
}


def _cost(src: str, dst: str) -> float:
    """Edit cost with cheap look-alike substitutions; a swap of neighbours is one edit."""
    from rapidfuzz.distance import OSA, Levenshtein

    swaps = OSA.distance(src, dst)
    if swaps < Levenshtein.distance(src, dst):
        return float(swaps)
    cost = 0.0
    for op in Levenshtein.editops(src, dst):
        if op.tag == "replace" and frozenset((src[op.src_pos], dst[op.dest_pos])) in _CONFUSABLE:
            cost += 0.5
        else:
            cost += 1.0
    return cost


def correct_word(core: str, shorthand: Shorthand) -> str:
    """The closest vocabulary word when it is close and unambiguous, else ``core``."""
    if _is_protected(core, shorthand) or core.lower() in vocabulary():
        return core
    best = _closest_word(core.lower())
    return core if best is None else _match_case(best, core)


@lru_cache(maxsize=8192)
def _closest_word(low: str) -> str | None:
    """The vocabulary word nearest a lower-case non-word, or None when none is near or two are equally near."""
    scored = _near_scored(low)
    if not scored:
        return None
    best_cost, best = scored[0]
    # Only when the best is clearly better than the runner-up: a tie means the
    # handwriting could be either word, and guessing would hide that.
    if len(scored) > 1 and scored[1][0] - best_cost < 0.5:
        return None
    return best


# Letters whose capital is the small letter drawn larger: in handwriting only
# their size tells the case, and OCR gets it wrong often ("SeSSionS").
_SIZE_ONLY_CASE = frozenset("cosuvwxz")


def normalise_case(core: str, line_start: bool = True) -> str:
    """Give a word's size-only-case letters the case of its other letters.

    "SeSSionS" becomes "Sessions", "worSt" "worst", "PAUsES" "PAUSES"; a word
    two thirds in capitals is block capitals ("THiS" becomes "THIS"). A word
    whose other letters mix cases, or that has none, is left alone. So is the
    first letter of a line's first word, where a capital is often meant; later
    in a line "Send Worksheet" becomes "Send worksheet" (a name spelt with
    such a capital, "Sunday", loses it: the draft is confirmed by a person).
    """
    if len(core) < 2 or not core.isalpha():
        return core
    if len(core) >= 3 and _mostly_upper(core):
        return core.upper()
    telling = [c for c in core[1:] if c.lower() not in _SIZE_ONLY_CASE]
    if not telling:
        return core
    if all(c.islower() for c in telling):
        first = core[0] if line_start or core[0].lower() not in _SIZE_ONLY_CASE else core[0].lower()
        return first + core[1:].lower()
    if all(c.isupper() for c in telling) and (core[0].isupper() or core[0].lower() in _SIZE_ONLY_CASE):
        return core.upper()
    return core


def postcorrect(text: str, shorthand: Shorthand) -> tuple[str, int, int]:
    """Correct non-words in ``text``; returns (text, words changed, unknown words left)."""
    changed = unknown = 0
    out_lines = []
    for line in text.split("\n"):
        tokens = []
        for n, token in enumerate(line.split()):
            m = _EDGE.match(token)
            lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", token, "")
            if not shorthand.is_shorthand(core):
                core = normalise_case(core, line_start=n == 0)
            fixed = correct_word(core, shorthand)
            if fixed != core:
                changed += 1
            elif not _is_protected(core, shorthand) and core.lower() not in vocabulary():
                unknown += 1
            tokens.append(f"{lead}{fixed}{trail}")
        out_lines.append(" ".join(tokens))
    return "\n".join(out_lines), changed, unknown



def near_words(low: str, limit_count: int = 8) -> list[str]:
    """Vocabulary words near a lower-case non-word (edit distance 1, or 2 for longer words), nearest first."""
    return [w for _c, w in _near_scored(low)[:limit_count]]


def _near_scored(low: str) -> list[tuple[float, str]]:
    """(cost, word) for every vocabulary word within edit distance 1 (2 for longer words) of ``low``, cheapest first."""
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    limit = 1 if len(low) <= 5 else 2
    by_len = _vocabulary_by_length()
    scored: list[tuple[float, str]] = []
    for n in range(len(low) - limit, len(low) + limit + 1):
        for w, _d, _i in process.extract(low, by_len.get(n, ()), scorer=OSA.distance, score_cutoff=limit, limit=None):
            scored.append((_cost(low, w), w))
    scored.sort()
    return scored


def split_words(core: str) -> list[str]:
    """``core`` cut into two vocabulary words ("paybest" -> "pay best"), as written, for every such cut.

    Words a little too close together run into one reading; the network's own
    probabilities (with the space) then judge whether the cut is as likely.
    """
    vocab = vocabulary()
    return [f"{core[:i]} {core[i:]}" for i in range(2, len(core) - 1)
            if core[:i].lower() in vocab and core[i:].lower() in vocab]


def _word_confidences(text: str, char_conf: list[float]) -> list[tuple[str, float]]:
    """Words of ``text`` with the mean probability of their characters (one per character of ``text``)."""
    words: list[tuple[str, float]] = []
    word, conf = "", list[float]()
    for ch, c in zip(text + " ", [*char_conf, 1.0]):
        if ch.isspace():
            if word:
                words.append((word, float(np.mean(conf))))
            word, conf = "", []
        else:
            word += ch
            conf.append(c)
    return words

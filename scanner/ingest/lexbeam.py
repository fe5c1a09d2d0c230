"""Reading a line by words: a CTC prefix beam search that knows the vocabulary and how common each word is.

The network's best path reads letter by letter: where a word is unclear it
may spell a near non-word ("nentheto"), a rarer look-alike ("thy" for "the")
or run two words into one. Here the same per-frame probabilities are
searched for the likeliest *text*, where each finished word adds a word
prior to the network's own log-probability:

- a vocabulary word (:func:`scanner.ingest.words.vocabulary`) adds
  ``LM_WEIGHT`` x ln(its frequency in English) + ``WORD_BONUS``
  (frequencies from ``wordfreq``; clinical terms at least
  ``CLINICAL_FREQUENCY``, shorthand ``SHORTHAND_FREQUENCY``), so a common
  word beats a rare look-alike only when the network finds both about as
  likely;
- a word the vocabulary lacks costs ``UNKNOWN_WORD``, paid as soon as its
  letters leave every vocabulary word's spelling (so hopeless spellings
  leave the beam early; shorthand's spellings count as spellings); a lone
  letter other than "a" and "I" costs half as much; block capitals (names,
  acronyms), numbers and signs cost nothing, and a token with signs or
  digits inside ("fidgeting.poor", "3pm") pays for each of its words.

The engine (:meth:`scanner.ingest.ocr.OcrEngine._finish_line`) uses this
reading instead of the best path, except on lines in block capitals (names
and headings, read as written), and keeps the best path as the other
reading. :func:`ranked` also gives the beam's weight on the text kept (its
``share``): a line of known words is judged by it
(:func:`scanner.ingest.confidence.line_confidence`) while the network itself
gives the text at least e^-3; otherwise a line the search changed stays
below 0.8. The weights were chosen on lines of the *fit* half of the
real-handwriting dev set read through the whole pipeline (a flat optimum),
never on the half measured: there, whole pipeline, cursive CER .169 / .180 /
.170 became .150 / .163 / .110 (three seeds). Pure Python over each frame's
likely classes: a few milliseconds a line.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import re
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from scanner.ingest.words import clinical_words, vocabulary
from scanner.shorthand import Shorthand

LM_WEIGHT = 0.4
WORD_BONUS = 3.0
UNKNOWN_WORD = -10.0
# Clinical terms are common in these notes whatever English at large says; shorthand more so.
CLINICAL_FREQUENCY = 1e-5
SHORTHAND_FREQUENCY = 1e-2
_FLOOR_FREQUENCY = 1e-8
# Beam width, and the least probability a class needs on a frame to be tried there.
BEAM = 16
PRUNE = 1e-3

_NEG = -1e30
_LETTERS = re.compile(r"[A-Za-z]+")
_LAST_RUN = re.compile(r"[A-Za-z]+$")


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b <= _NEG:
        return a
    return a + math.log1p(math.exp(b - a))


@lru_cache(maxsize=1)
def _word_scores() -> dict[str, float]:
    """ln(frequency) of every vocabulary word (wordfreq's English list; clinical terms floored)."""
    words = {w for w in vocabulary() if len(w) > 1 or w in "ai"}  # a lone letter is rarely a word: kept, it
    freq = _frequencies(words)                                    # would cut an unclear word into letters
    clinical = clinical_words()
    out = {}
    for w in words:
        f = freq.get(w, 0.0)
        if w in clinical:
            f = max(f, CLINICAL_FREQUENCY)
        out[w] = math.log(max(f, _FLOOR_FREQUENCY))
    return out


def _frequencies(words: set[str]) -> dict[str, float]:
    """English frequencies of ``words``, the figures ``wordfreq.get_frequency_dict("en")`` gives.

    Read from wordfreq's own data file (its "large" English list, which is
    what "en" gives) for these words only: importing wordfreq (its language
    tables) and making its 321,000-word dictionary took 0.3 s in each ingest's
    workers' server, ahead of the first page. The file's format is the one
    ``wordfreq.read_cBpack`` documents (a header, then one list of words per
    centibel of frequency); anything else is read through wordfreq itself.
    """
    spec = importlib.util.find_spec("wordfreq")
    folders = list(spec.submodule_search_locations or []) if spec else []
    try:
        if not folders:
            raise FileNotFoundError("wordfreq's data folder")
        import msgpack

        with gzip.open(Path(folders[0]) / "data" / "large_en.msgpack.gz", "rb") as fh:
            data = msgpack.load(fh, raw=False)
        if data[0] != {"format": "cB", "version": 1}:
            raise ValueError("not a cBpack file")
    except (OSError, ValueError, ImportError, IndexError, KeyError, TypeError):
        import wordfreq

        every = wordfreq.get_frequency_dict("en")
        return {w: every[w] for w in words if w in every}
    out = {}
    for index, bucket in enumerate(data[1:]):
        freq = 10 ** (-index / 100)  # wordfreq.cB_to_freq
        for w in bucket:
            if w in words:
                out[w] = freq
    return out


@lru_cache(maxsize=1)
def _prefixes() -> frozenset[str]:
    return frozenset({w[:i] for w in _word_scores() for i in range(1, len(w) + 1)})


class WordPrior:
    """What a word adds to a reading's score (see the module's description)."""

    def __init__(self, shorthand: Shorthand | None = None, weight: float = LM_WEIGHT,
                 bonus: float = WORD_BONUS, unknown: float = UNKNOWN_WORD):
        self.shorthand = shorthand or Shorthand()
        self.weight, self.bonus, self.unknown = weight, bonus, unknown
        self._scores = _word_scores()
        self._prefixes = _prefixes()
        # Shorthand is spelt as it is written ("wks", "f/u"): its letters never leave the vocabulary's spellings.
        self._short_prefixes = {run[:i].lower() for short in self.shorthand.abbreviations
                                for run in _LETTERS.findall(short) for i in range(1, len(run) + 1)}
        self._shorthand_score = weight * math.log(SHORTHAND_FREQUENCY) + bonus
        self._cache: dict[str, float] = {}

    def word(self, token: str) -> float:
        """The prior of a finished word: the sum over its runs of letters ("fidgeting.poor" is two words)."""
        hit = self._cache.get(token)
        if hit is None:
            if self.shorthand.is_shorthand(token):
                hit = self._shorthand_score
            else:
                hit = sum(self._run(run) for run in _LETTERS.findall(token))
            self._cache[token] = hit
        return hit

    def _run(self, run: str) -> float:
        low = run.lower()
        if low in self._scores:
            return self.weight * self._scores[low] + self.bonus
        if len(run) < 2:
            return self.unknown / 2  # a lone letter other than "a" and "I": an initial at best
        if run.isupper():
            return 0.0  # block capitals: a name or an acronym, read as written
        if self.shorthand.is_shorthand(run):
            return self._shorthand_score
        return self.unknown

    def spelling_ok(self, run: str) -> bool:
        """False once a run of letters begins no vocabulary word (block capitals always pass)."""
        if not run or (len(run) >= 2 and run.isupper()):
            return True
        low = run.lower()
        return low in self._prefixes or low in self._short_prefixes

    def finished(self, token: str) -> float:
        """:meth:`word`, less what its runs already paid when their spelling left the vocabulary."""
        paid = sum(self.unknown for run in _LETTERS.findall(token) if not self.spelling_ok(run))
        return self.word(token) - paid


def _add(beams: dict[str, list[float]], p: str, b: float, nb: float) -> None:
    """Add the probabilities (ending in a blank, in a character) of prefix ``p`` to the next frame's beams."""
    e = beams.get(p)
    if e is None:
        beams[p] = [b, nb]
    else:
        e[0], e[1] = _lse(e[0], b), _lse(e[1], nb)


def decode(probs: np.ndarray, chars: list[str], prior: WordPrior, beam: int = BEAM, prune: float = PRUNE) -> str:
    """The likeliest text of one line: the network's probability (over all alignments) times the words' priors.

    ``probs`` is frames x classes (class 0 the blank, ``chars[k]`` each
    class's character, one of them a space).
    """
    return ranked(probs, chars, prior, beam, prune)[0][0]


def ranked(probs: np.ndarray, chars: list[str], prior: WordPrior, beam: int = BEAM,
           prune: float = PRUNE) -> list[tuple[str, float]]:
    """The texts left in the beam at the line's end with their scores (log), best first."""
    logp = np.log(np.maximum(probs, 1e-12))
    likely = probs > prune
    beams: dict[str, tuple[float, float]] = {"": (0.0, _NEG)}  # prefix -> (ends in blank, ends in a character)
    prior_of: dict[str, float] = {"": 0.0}
    blanks = logp[:, 0].tolist()
    for t in range(probs.shape[0]):
        # Python floats, not NumPy scalars: the same arithmetic, several times faster one number at a time.
        blank = blanks[t]
        classes = [(chars[c], float(logp[t, c])) for c in np.flatnonzero(likely[t]) if c]
        if not classes:
            # Only the blank is likely here: every prefix stays, each one's probability times the blank's (same order).
            beams = {p: (_lse(pb, pnb) + blank, _NEG) for p, (pb, pnb) in beams.items()}
            continue
        nxt: dict[str, list[float]] = {}
        add = partial(_add, nxt)
        for p, (pb, pnb) in beams.items():
            total = _lse(pb, pnb)
            add(p, total + blank, _NEG)
            last = p[-1] if p else ""
            for ch, lp in classes:
                if ch == " " and (not p or last == " "):
                    add(p, total + lp, _NEG)  # no leading or double space: as a blank
                    continue
                q = p + ch
                if ch == last:
                    add(p, _NEG, pnb + lp)  # the same character held
                    add(q, _NEG, pb + lp)   # a doubled letter needs a blank between
                else:
                    add(q, _NEG, total + lp)
                if q not in prior_of:
                    if ch == " ":
                        prior_of[q] = prior_of[p] + prior.finished(p.rsplit(" ", 1)[-1])
                    else:
                        # A run of letters pays as soon as its spelling leaves the vocabulary (refunded at its end
                        # if the word turns out to be shorthand): hopeless spellings leave the beam early.
                        run = _LAST_RUN.search(q)
                        left = (ch.isalpha() and run is not None and len(run.group()) > 1
                                and prior.spelling_ok(run.group()[:-1]) and not prior.spelling_ok(run.group()))
                        prior_of[q] = prior_of[p] + (prior.unknown if left else 0.0)
        best = sorted(nxt.items(), key=lambda kv: _lse(kv[1][0], kv[1][1]) + prior_of[kv[0]], reverse=True)
        beams = {p: (v[0], v[1]) for p, v in best[:beam]}
    texts: dict[str, float] = {}
    for p, (pb, pnb) in beams.items():
        score = _lse(pb, pnb) + prior_of[p]
        if p and not p.endswith(" "):
            score += prior.finished(p.rsplit(" ", 1)[-1])
        text = " ".join(p.split())
        texts[text] = _lse(texts.get(text, _NEG), score)  # "to be" and "to be " are one text
    return sorted(texts.items(), key=lambda kv: kv[1], reverse=True)


def share(texts: list[tuple[str, float]], text: str) -> float:
    """The weight of ``text`` among the texts :func:`ranked` left (0 when it is not among them)."""
    total = _NEG
    for _t, score in texts:
        total = _lse(total, score)
    return next((math.exp(score - total) for t, score in texts if t == text), 0.0)

"""Honest confidence: a reader's own score turned into the probability that a line is exactly right.

The tables are isotonic fits on the fit half of the real handwriting and on
handwriting-font lines (never on what is measured), rounded down;
``bench/line_calibration.py`` refits the line recogniser's tables on lines read
by the whole pipeline. Pure functions, no reader loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TESSERACT = "tesseract"
LINE_READER = "ppocrv6"

# Honest confidence: Tesseract's mean word confidence (0..100) mapped to the
# probability that the whole line is exactly right. Points from isotonic
# regression (``bench/ocr_eval.py --fit``) on synthetic handwriting-font lines
# and on real handwritten words, rounded down where the two disagreed: on real
# handwriting a mean of 90 is right about 60% of the time, on fonts 100%. Only
# a mean above about 95 reaches LOW_CONFIDENCE. A line with a word that is
# neither vocabulary, shorthand nor a number/code was almost never right on
# real handwriting, so it never reaches LOW_CONFIDENCE.
_CALIB_KNOWN: tuple[tuple[float, float], ...] = (
    (0.0, 0.02), (60.0, 0.05), (75.0, 0.2), (85.0, 0.4), (90.0, 0.55), (93.0, 0.7), (95.0, 0.82), (97.0, 0.92), (100.0, 0.95),
)
_CALIB_UNKNOWN: tuple[tuple[float, float], ...] = ((0.0, 0.0), (80.0, 0.02), (90.0, 0.15), (100.0, 0.4))
# The line recogniser (scanner/linerec.py, PP-OCRv6 small): the probability it
# gives the text it read (CTC, over all alignments; 0..100) -> probability that
# the line is exactly right. Isotonic fits, rounded down, never on the half of
# the real handwriting (../shared/handwriting-dev) that is measured.
#
# One word: fit (``bench/ocr_eval.py --fit``) on the fit half's word crops and
# on handwriting-font lines: a known word (vocabulary, shorthand, a number or
# code) scoring 85-90 was right 71-83% of the time, 93-97 about 93%, 98 and
# above nearly always; LOW_CONFIDENCE at 90. An unknown word (a name, a
# misspelling) was right 16% of the time, half even at 100: never LOW_CONFIDENCE.
_CALIB_WORD_KNOWN: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (10.0, 0.08), (30.0, 0.25), (40.0, 0.45), (50.0, 0.55), (80.0, 0.65), (85.0, 0.7), (90.0, 0.8),
    (93.0, 0.9), (98.0, 0.95), (100.0, 0.97),
)
_CALIB_WORD_UNKNOWN: tuple[tuple[float, float], ...] = ((0.0, 0.0), (30.0, 0.1), (90.0, 0.2), (97.0, 0.4), (100.0, 0.5))
# Two words or more: fit (``bench/line_calibration.py``) on 2,196 lines read by
# the whole pipeline from the fit half (cursive words and capital names pasted
# on the forms' ruled lines, scanned, photographed) and from handwriting-font
# pages; where real handwriting and fonts disagreed the lower was kept. Every
# word known, scoring 75 or more: right 88-97% of the time (real cursive 90%);
# LOW_CONFIDENCE at 75. The more words a line has, the more its "all known"
# says, so a line reaches it at a lower score than a single word.
_CALIB_LINE_KNOWN: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (10.0, 0.06), (20.0, 0.35), (30.0, 0.5), (40.0, 0.6), (60.0, 0.68), (70.0, 0.75), (75.0, 0.85),
    (85.0, 0.88), (93.0, 0.93), (98.0, 0.96), (100.0, 0.97),
)
# ... whose only unknown words are in block capitals (names, which no word list
# holds): on whole-pipeline lines of the fit half (seeds 31-38, and 41-46 to
# check) a line scoring 93 or more was right 86-89% of the time on real
# capitals and 97% in fonts, and 1.5% of wrong real lines scored that much;
# LOW_CONFIDENCE at 93 (97 before: half as many right lines reached it, for
# 1% of the wrong ones).
_CALIB_LINE_NAMES: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (10.0, 0.06), (30.0, 0.2), (40.0, 0.25), (50.0, 0.38), (70.0, 0.55), (80.0, 0.65), (85.0, 0.7),
    (90.0, 0.74), (93.0, 0.8), (97.0, 0.84), (99.0, 0.88), (100.0, 0.9),
)
# ... with any other unknown word (a misspelling, two words run together, a
# name in small letters): real cursive lines with one were right 0-12% of the
# time whatever the score: never LOW_CONFIDENCE.
_CALIB_LINE_UNKNOWN = _CALIB_WORD_UNKNOWN
# A line the word-aware beam search (scanner/ingest/lexbeam.py) read, every
# word known: its share (the beam's weight on the text kept, against all the
# texts left in the beam) -> probability the line is exactly right, once the
# network itself gives the text at least e^-3 (BEAM_MIN_LOG_P). Isotonic fits
# (``bench/line_calibration.py``) on the 486 such lines among 1,996 read by the
# whole pipeline from the fit half (seeds 31-38) and from font pages, the lower
# of real handwriting and fonts kept and rounded down. A line at a share of
# 0.95 was right 89% of the time on real handwriting, 92% in fonts; at 0.97
# and more 92-100%. Below e^-3 the network doubts its own reading however sure
# the words make the search, and the share says little. Checked on 1,529
# lines of other fit seeds (41-46): real cursive lines at 0.8 or more went
# from 11 to 45 of 130 right ones, wrong ones from 3 to 2 of 169 (font cursive
# 184 to 199 of 261 right, 0 to 1 of 51 wrong).
_CALIB_SHARE_KNOWN: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.5, 0.3), (0.8, 0.5), (0.9, 0.65), (0.93, 0.69), (0.95, 0.85), (0.97, 0.9), (0.99, 0.93),
    (1.0, 0.95),
)
BEAM_MIN_LOG_P = -3.0
# ... and below e^-3, a line of two or more known words the network itself
# doubts: never LOW_CONFIDENCE, but not nothing either. Three in four real
# cursive lines land here (the search changed a word the network was unsure
# of), and they had all been shown at 0-2% while 30% of them were exactly
# right. Isotonic fits (``bench/line_calibration.py``) on such lines of the
# fit half, seeds 31-34 and 41-44 apart and then together (183 real lines,
# 55 right; 74 font lines, 43 right), the lower of real handwriting and fonts
# kept and rounded down: at a share of 0.98 or more right 67% of the time on
# real handwriting, 86% in fonts; below 0.5, 8% and 0%. The two seed sets
# agreed within 0.15 at every point. Capped at _CORRECTED_CAP like any line the
# search changed.
_CALIB_SHARE_DOUBTED: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.5, 0.0), (0.7, 0.25), (0.8, 0.4), (0.9, 0.5), (0.95, 0.55), (0.97, 0.6), (0.99, 0.65),
    (1.0, 0.7),
)
# A single word needs a share of 0.99: on the fit half's raw cursive crops the
# beam search was surer of a lone word's wrong look-alike ("your" as "you",
# "Dick" as "Deck"; 6 of 49 wrong crops at 0.95) than of a line's. At 0.99: 354
# of 481 right crops at 0.8 or more (270 by the probability alone) and 5 of 49
# wrong ones (as many as by the probability alone).
WORD_MIN_SHARE = 0.99
_CALIBRATION = {
    TESSERACT: {True: _CALIB_KNOWN, False: _CALIB_UNKNOWN},
    LINE_READER: {True: _CALIB_WORD_KNOWN, False: _CALIB_WORD_UNKNOWN},
}
# A line the post-correction changed is a guess on top of a reading: it is
# always shown to the clinician as uncertain; so is a line the beam search
# changed that its share cannot judge (the network doubts the text).
_CORRECTED_CAP = 0.75


@dataclass(frozen=True)
class LineEvidence:
    """What one line reading's confidence is made from (the recogniser's own numbers, nothing learnt)."""

    log_p: float  # ln of the network's probability of its reading (CTC, over all alignments)
    chars: int  # characters read, spaces included
    words: int
    min_char: float  # the least sure character's probability (best path)
    unknown: int  # words neither vocabulary, shorthand nor a number/code
    changed: int  # words post-correction replaced
    names: int  # of the unknown words, those in block capitals (names: no word list holds them)
    # The word-aware beam search's weight on the text kept (0..1; scanner/ingest/lexbeam.py), None without it.
    share: float | None = None
    searched: int = 0  # words the beam search changed from the best path


def calibrate(mean_conf: float, all_known: bool, reader: str = TESSERACT) -> float:
    """A reader's score (0..100, ``OcrResult.score``) -> probability one word (Tesseract: one line) is exactly right."""
    return _interp(mean_conf, _CALIBRATION[reader][all_known])


def line_confidence(ev: LineEvidence) -> float:
    """The probability that a line the recogniser read is exactly right, from its evidence.

    A line post-correction changed stays below LOW_CONFIDENCE (at most
    ``_CORRECTED_CAP``). A line of known words the beam search read is judged
    by its share when the network gives the text at least e^BEAM_MIN_LOG_P
    (a single word when its share is at least WORD_MIN_SHARE); below that, a
    line of two or more such words by its share on a lower table. A line the
    search changed otherwise also stays under the cap. The rest go by the
    network's probability of the text, by kind of line.
    """
    share = ev.share if ev.unknown == 0 and not ev.changed else None
    if share is not None and ev.log_p >= BEAM_MIN_LOG_P and (ev.words >= 2 or share >= WORD_MIN_SHARE):
        return _interp(share, _CALIB_SHARE_KNOWN)
    conf = _by_probability(ev)
    if share is not None and ev.words >= 2:
        conf = max(conf, _interp(share, _CALIB_SHARE_DOUBTED))
    return min(conf, _CORRECTED_CAP) if ev.changed or ev.searched else conf


def _by_probability(ev: LineEvidence) -> float:
    score = 100.0 * float(np.exp(ev.log_p))
    if ev.words < 2:
        return calibrate(score, ev.unknown == 0, LINE_READER)
    if ev.unknown == 0:
        return _interp(score, _CALIB_LINE_KNOWN)
    return _interp(score, _CALIB_LINE_NAMES if ev.names == ev.unknown else _CALIB_LINE_UNKNOWN)


def _interp(x: float, table: tuple[tuple[float, float], ...]) -> float:
    xs, ys = zip(*table)
    return float(np.interp(x, xs, ys))


def mean_word_confidence(words: list[tuple[str, float]]) -> float:
    """The mean of the words' scores on Tesseract's 0..100 scale (0 with no words): what :func:`calibrate` takes."""
    return 100.0 * float(np.mean([c for _, c in words])) if words else 0.0

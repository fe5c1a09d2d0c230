"""The one OCR wrapper for handwritten ``line`` and ``text`` fields.

Each ruled line with ink is cut from the field as scanned (grey, strokes of
the neighbouring lines painted out, no deslant or scaling) and read by
PaddleOCR's PP-OCRv6 small recogniser (:mod:`scanner.ingest.linerec`), all lines of
a page in a few batched network runs. A non-word is corrected to a near
vocabulary word only when the network's own CTC probabilities find that
word almost as likely (:mod:`scanner.ingest.ctcwords`); shorthand, numbers and codes
are never touched. The reader's character probabilities become an honest
probability that the line is right (isotonic calibration on real handwriting).

Tesseract (in memory through tesserocr, built against Debian's libtesseract
5.3.0) reads what it still reads better: a text area without ruled lines,
whose lines it finds itself. No crop or text ever touches the disk. The text
is only ever a draft for the clinician to confirm (SPEC section 4).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from scanner.errors import BadInput, UsageError
from scanner.shorthand import Shorthand

from scanner.values import LOW_CONFIDENCE  # the one doubt threshold
# A crop whose brightest tenth is darker than this shows no paper at all.
MIN_PAPER_LEVEL = 90
EMPTY_CONFIDENCE = 0.99

# Darkness (paper minus pixel, 0..255) below which nothing counts as pen ink.
# Printed guide lines are light grey (about 40-90 below paper after scanning);
# ballpoint and gel ink are well past 100.
MIN_INK_DARKNESS = 70
# Connected ink components smaller than this (in pixels at the crop's scale,
# relative to its height) are scan specks, not writing.
SPECK_FRACTION = 0.004
# Tesseract page segmentation modes (its stable enum values).
PSM_SINGLE_BLOCK = 6
PSM_SINGLE_LINE = 7
PSM_RAW_LINE = 13
# Tesseract's LSTM reads best with an x-height of roughly 30 px.
TARGET_X_HEIGHT = 30.0

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
TESSERACT = "tesseract"
LINE_READER = "ppocrv6"
# The line recogniser (scanner/linerec.py, PP-OCRv6 small): the probability it
# gives the text it read (CTC, over all alignments; 0..100) -> probability that
# the line is exactly right. Isotonic fit (``bench/ocr_eval.py --fit``) on the
# fit half of the real handwriting in ../shared/handwriting-dev (never the half
# measured) and handwriting-font lines, rounded down: a known-word line scoring
# 85-90 was right 71-83% of the time, 93-97 about 93%, 98 and above nearly
# always. LOW_CONFIDENCE is reached at 90, where 96% of the fit half's wrong
# lines were below it and 69% of its right ones at or above. A line with a word
# that is neither vocabulary, shorthand nor a number/code was right 16% of the
# time (half even at 100): it never reaches LOW_CONFIDENCE.
_CALIB_LINE_KNOWN: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (10.0, 0.08), (30.0, 0.25), (40.0, 0.45), (50.0, 0.55), (80.0, 0.65), (85.0, 0.7), (90.0, 0.8),
    (93.0, 0.9), (98.0, 0.95), (100.0, 0.97),
)
_CALIB_LINE_UNKNOWN: tuple[tuple[float, float], ...] = ((0.0, 0.0), (30.0, 0.1), (90.0, 0.2), (97.0, 0.4), (100.0, 0.5))
_CALIBRATION = {
    TESSERACT: {True: _CALIB_KNOWN, False: _CALIB_UNKNOWN},
    LINE_READER: {True: _CALIB_LINE_KNOWN, False: _CALIB_LINE_UNKNOWN},
}
# A line the post-correction changed is a guess on top of a reading: it is
# always shown to the clinician as uncertain.
_CORRECTED_CAP = 0.75


@dataclass
class OcrResult:
    """What OCR made of one field: a draft, never a decision.

    ``confidence`` is an estimate of the probability that ``text`` is exactly
    right (0..1). ``raw_text`` is Tesseract's output before post-correction;
    ``words`` pairs each raw word with Tesseract's own score (0..1).
    """

    text: str
    confidence: float
    flags: list[str] = field(default_factory=list)
    words: list[tuple[str, float]] = field(default_factory=list)
    raw_text: str = ""
    # Share of words that are vocabulary, shorthand or numbers after correction,
    # plus the reader's mean word score: ranks readings of the same ink.
    plausibility: float = 0.0
    # Which reader made ``text``: LINE_READER or TESSERACT (``agreed`` is kept
    # for readers that compare two readings; none does now).
    reader: str = TESSERACT
    agreed: bool = False
    # Another reading of the same ink ("" if none): the recogniser's own
    # before post-correction changed it. Offered in review beside the chosen
    # one (one key takes it) and searched with it.
    alternative: str = ""
    # What the confidence was calibrated from (0..100): Tesseract's mean word
    # score, or the line recogniser's probability of the text it read.
    score: float = 0.0


# ---------------------------------------------------------------- preprocessing


def _as_gray(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise BadInput("The field crop is empty or not an image.")
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3].astype(np.uint8), cv2.COLOR_BGR2GRAY)
    if image.ndim != 2:
        raise BadInput("The field crop is not a grey or colour image.")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


def percentile_u8(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` for 8-bit values, from a histogram (several times faster)."""
    flat = np.asarray(values, dtype=np.uint8).ravel()
    if flat.size == 0:
        raise ValueError("percentile of no values")
    cdf = np.cumsum(np.bincount(flat, minlength=256))
    rank = q / 100.0 * (flat.size - 1)
    lo = int(np.searchsorted(cdf, np.floor(rank) + 1))
    hi = int(np.searchsorted(cdf, np.ceil(rank) + 1))
    return lo + (hi - lo) * (rank - np.floor(rank))


def _too_dark(gray: np.ndarray) -> bool:
    """No paper to be seen (a black border, a shadow): unreadable, not empty."""
    return percentile_u8(_as_gray(gray), 90) < MIN_PAPER_LEVEL


def darkness(gray: np.ndarray) -> np.ndarray:
    """Paper level minus each pixel, clipped at 0 (uint8): 0 is paper, 255 is black.

    The paper level is a high percentile, so a scan that is grey overall still
    has paper at 0.
    """
    gray = _as_gray(gray)
    paper = percentile_u8(gray, 90)
    return np.clip(paper - gray.astype(np.int16), 0, 255).astype(np.uint8)


def _long_lines(mask: np.ndarray) -> np.ndarray:
    """Pixels of long thin horizontal or vertical structures (guide lines, box edges)."""
    h, w = mask.shape
    kw = max(25, w // 6)
    # Vertical strokes of writing are shorter than most of the crop's height;
    # box outlines run through all of it.
    kh = max(25, int(h * 0.75))
    # Thicken across the line first so a slightly skewed scan still has one
    # unbroken run along it.
    along_h = cv2.dilate(mask, np.ones((3, 1), np.uint8))
    along_v = cv2.dilate(mask, np.ones((1, 3), np.uint8))
    horiz = cv2.morphologyEx(along_h, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, 1)))
    vert = cv2.morphologyEx(along_v, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, kh)))
    lines = cv2.dilate(cv2.bitwise_or(horiz, vert), np.ones((3, 3), np.uint8))
    return cv2.bitwise_and(lines, mask)


def ink_mask(gray: np.ndarray, line_height: int | None = None, *, dark: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of pen ink: guide lines, box outlines and specks removed.

    ``line_height`` (pixels) is the height of one line of writing, which sets
    what counts as a speck; by default the crop is one line. ``dark`` is
    :func:`darkness` of ``gray`` when the caller already has it.

    Printed lines are found as long thin horizontal/vertical runs and removed,
    except where a pixel is clearly darker than the line itself (a pen stroke
    crossing it). Ink is then what is darker than a threshold set from the
    darkest remaining marks: faint pencil is kept, and a field with only
    paper noise stays empty because the threshold never drops below
    ``MIN_INK_DARKNESS / 2``.
    """
    if dark is None:
        dark = darkness(gray)
    h = int(line_height or dark.shape[0])
    faint = (dark > 25).astype(np.uint8) * 255
    lines = _long_lines(faint) > 0
    candidate = np.ones_like(lines)
    if lines.any():
        line_level = float(np.median(dark[lines]))
        candidate = ~lines | (dark > line_level + 60)
    rest = dark[candidate]
    peak = percentile_u8(rest, 99.7) if rest.size else 0.0
    threshold = float(np.clip(0.45 * peak, MIN_INK_DARKNESS / 2, MIN_INK_DARKNESS))
    ink = candidate & (dark >= threshold)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    min_area = max(6, int(SPECK_FRACTION * h * h))
    big = np.zeros(n, dtype=bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    if not big[1:].any():
        return np.zeros_like(ink)
    # Small marks next to writing are i-dots, commas and full stops; small
    # marks on their own are specks.
    reach = max(3, h // 5)
    near = cv2.dilate(big[labels].astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    keep = big.copy()
    keep[np.unique(labels[near & ink])] = True
    keep[0] = False
    return keep[labels]


def _x_height(mask: np.ndarray) -> float:
    """Rough x-height: the run of rows where most of the ink is."""
    rows = mask.sum(axis=1).astype(np.float64)
    if rows.max() <= 0:
        return 0.0
    dense = np.flatnonzero(rows >= 0.35 * rows.max())
    return float(dense[-1] - dense[0] + 1)


def prepare(gray: np.ndarray, *, binarize: bool = False) -> np.ndarray | None:
    """A cleaned crop for Tesseract (dark ink on white), or None when there is no ink.

    Guide lines and specks are removed, the image is cropped to the ink with a
    margin and scaled so the x-height is about ``TARGET_X_HEIGHT`` pixels.
    """
    return _prepared(darkness(gray), ink_mask(gray), binarize)


def ink_by_line(gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]], *,
                dark: np.ndarray | None = None) -> list[np.ndarray]:
    """The ink of a multi-line field, one mask (the crop's size) per ruled line.

    Each connected stroke goes to the line whose body band (:data:`BODY_BAND`)
    holds most of its ink, so a descender that crosses the ruled line below
    stays with its own word instead of appearing as a stray mark on the next
    line (and an ascender reaching above its box is not cut off). Strokes outside every box are
    dropped. Specks are judged at the size of one line, not of the whole area.
    """
    gray = _as_gray(gray)
    h, w = gray.shape
    boxes = []
    for x0, y0, x1, y1 in line_boxes:
        x0, x1, y0, y1 = max(0, int(x0)), min(w, int(x1)), max(0, int(y0)), min(h, int(y1))
        boxes.append((x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None)
    heights = [b[3] - b[1] for b in boxes if b]
    if not heights:
        return []
    mask = ink_mask(gray, line_height=int(np.median(heights)), dark=dark)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    # Ink of each stroke in each line's body band (where letters sit on the rule).
    in_band = np.zeros((len(boxes), n), np.int64)
    bands = []
    for k, b in enumerate(boxes):
        if b is None:
            bands.append((0, 0, 0, 0))
            continue
        lo, hi = b[1] + int(BODY_BAND[0] * (b[3] - b[1])), b[1] + int(np.ceil(BODY_BAND[1] * (b[3] - b[1])))
        bands.append((b[0], lo, b[2], hi))
        in_band[k] = np.bincount(labels[lo:hi, b[0]:b[2]].ravel(), minlength=n)[:n]
    owned: list[list[int]] = [[] for _ in boxes]
    for i in range(1, n):
        left, top, cw, ch = (int(v) for v in stats[i, :4])
        # A stroke that starts among a line's letters hangs from that line
        # (a descender, or its broken-off tail), wherever it ends.
        starts = [k for k, (bx0, lo, bx1, hi) in enumerate(bands)
                  if lo <= top < hi and bx0 <= left + cw // 2 < bx1 and in_band[k, i]]
        if starts:
            owned[starts[0]].append(i)
            continue
        if in_band[:, i].any():
            owned[int(np.argmax(in_band[:, i]))].append(i)
            continue
        # A dot, a bar or a broken-off tail: the line whose box holds its top
        # (a descender's tip starts under its own letters), else most overlap.
        holds = [k for k, b in enumerate(boxes) if b is not None and b[1] <= top < b[3] and b[0] <= left + cw // 2 < b[2]]
        if holds:
            owned[holds[0]].append(i)
            continue
        overlaps = [
            0 if b is None else max(0, min(left + cw, b[2]) - max(left, b[0])) * max(0, min(top + ch, b[3]) - max(top, b[1]))
            for b in boxes
        ]
        best = int(np.argmax(overlaps))
        if overlaps[best] > 0:
            owned[best].append(i)
    _merge_overflow(owned, boxes, stats)
    return [np.isin(labels, ids) if ids else np.zeros_like(mask) for ids in owned]


# A ruled line's body band, as fractions of its box from the top: where the
# letters of its own writing sit (Inklock's rule is at 0.8 of the box). A
# stroke goes to the line whose band holds most of its ink, so a long
# descender (g, y, a long s) stays with its word even when most of its box
# lies in the line below, and a tall ascender stays with the line it rises from.
BODY_BAND = (0.35, 0.85)
# A line whose only ink is this little (against its neighbour's) and hugs the
# ruled line next to that neighbour is the tail of the neighbour's writing.
OVERFLOW_MASS = 0.25
OVERFLOW_REACH = 0.4


def _merge_overflow(owned: list[list[int]], boxes: list, stats: np.ndarray) -> None:
    """Give strokes that only spill over from the line above (or below) back to that line.

    A descender can break off its letter when the pen skips or the scan is
    faint; on its own in the next ruled line it would be read as a stray
    character or a line of noise.
    """
    mass = [int(stats[ids, cv2.CC_STAT_AREA].sum()) if ids else 0 for ids in owned]
    for k, ids in enumerate(owned):
        if not ids or boxes[k] is None:
            continue
        top, bottom = boxes[k][1], boxes[k][3]
        reach = OVERFLOW_REACH * (bottom - top)
        lows = stats[ids, cv2.CC_STAT_TOP] + stats[ids, cv2.CC_STAT_HEIGHT]
        highs = stats[ids, cv2.CC_STAT_TOP]
        above, below = k - 1, k + 1
        if above >= 0 and owned[above] and mass[k] < OVERFLOW_MASS * mass[above] and lows.max() <= top + reach:
            owned[above].extend(ids)
        elif (below < len(owned) and owned[below] and mass[k] < OVERFLOW_MASS * mass[below]
              and highs.min() >= bottom - reach):
            owned[below].extend(ids)
        else:
            continue
        owned[k] = []
        mass[k] = 0


def _prepared(dark: np.ndarray, mask: np.ndarray, binarize: bool, x_height: float | None = None, *,
              margin: bool = True, deslant: bool = True) -> np.ndarray | None:
    """The ink of ``mask`` as dark on white, cropped, scaled to ``x_height`` and (by default) deslanted.

    Tesseract wants a white margin round the line; the second reader
    (:mod:`scanner.ingest.linerec`) reads best cropped tight to the ink, as its
    training lines were (``margin=False``).
    """
    if not mask.any():
        return None
    target = x_height or TARGET_X_HEIGHT
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # Keep the ink's own grey levels (anti-aliased edges help the LSTM) but
    # only where the mask says ink; everything else becomes paper.
    ink_dark = percentile_u8(dark[mask], 90) or 255.0
    level = np.clip(dark.astype(np.float32) * (255.0 / max(ink_dark, 1.0)), 0, 255)
    soft = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    level[~soft] = 0
    if binarize:
        level = np.where(mask, 255.0, 0.0)
    out = (255 - level).astype(np.uint8)[y0:y1, x0:x1]
    xh = _x_height(mask[y0:y1, x0:x1])
    scale = float(np.clip(target / xh, 0.5, 4.0)) if xh > 0 else 1.0
    if abs(scale - 1.0) > 0.1:
        interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=interp)
    if deslant:
        out = _deslanted(out, slant(ys - y0, xs - x0))
    if not margin:
        return out
    pad = max(10, int(target * 0.6))
    return cv2.copyMakeBorder(out, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


# Slants tried, as horizontal shift per pixel of height (0.7 is about 35 degrees).
_SLANTS = np.linspace(-0.7, 0.7, 15)
_UPRIGHT = int(np.argmin(np.abs(_SLANTS)))


def slant(ys: np.ndarray, xs: np.ndarray) -> float:
    """The shear that makes the writing's strokes most upright.

    Shearing ink pixel coordinates (``ys``, ``xs``) by each candidate, the
    best one piles the most ink into the fewest columns (largest sum of
    squared column counts): upright downstrokes are tall single columns.
    Tesseract was trained on upright and italic print, not on the 20-40
    degree lean of many hands; on a batch of generated handwriting-font scans
    (``tests/synth``) removing it lowered character error from .158 to .140.
    """
    if len(xs) < 20:
        return 0.0
    yc = ys.astype(np.float64) - ys.mean()
    best, best_score = 0.0, -1.0
    for s in _SLANTS:
        cols = np.rint(xs + s * yc).astype(np.int64)
        counts = np.bincount(cols - cols.min())
        score = float(np.dot(counts, counts))
        # A shear must beat the best so far by 0.1%; upright only needs to beat it.
        if score > best_score * (1.0 if s == _SLANTS[_UPRIGHT] else 1.001):
            best, best_score = float(s), score
    return best


def _deslanted(image: np.ndarray, shear: float) -> np.ndarray:
    """``image`` (dark ink on white) sheared by ``shear`` about its middle row, widened to fit."""
    if abs(shear) < 1e-6:
        return image
    h, w = image.shape
    extra = int(np.ceil(abs(shear) * h / 2.0))
    m = np.float32([[1.0, shear, extra - shear * h / 2.0], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(image, m, (w + 2 * extra, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)


# ------------------------------------------------------- vocabulary correction


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Lower-case English words plus clinical terms (``scanner/data``)."""
    words: set[str] = set()
    for name in ("words.txt", "clinical.txt"):
        text = resources.files("scanner").joinpath("data", name).read_text(encoding="utf-8")
        words.update(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))
    return frozenset(words)


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


# ------------------------------------------------------------ honest confidence


def calibrate(mean_conf: float, all_known: bool, reader: str = TESSERACT) -> float:
    """A reader's score (0..100, ``OcrResult.score``) -> probability the line is exactly right."""
    table = _CALIBRATION[reader][all_known]
    xs, ys = zip(*table)
    return float(np.interp(mean_conf, xs, ys))


def mean_word_confidence(words: list[tuple[str, float]]) -> float:
    """The mean of the words' scores on Tesseract's 0..100 scale (0 with no words): what :func:`calibrate` takes."""
    return 100.0 * float(np.mean([c for _, c in words])) if words else 0.0


def _word_confidences(text: str, char_conf: list[float]) -> list[tuple[str, float]]:
    """Words of ``text`` with the mean probability of their characters (one per character of ``text``)."""
    words, word, conf = [], "", []
    for ch, c in zip(text + " ", [*char_conf, 1.0]):
        if ch.isspace():
            if word:
                words.append((word, float(np.mean(conf))))
            word, conf = "", []
        else:
            word += ch
            conf.append(c)
    return words


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


# ------------------------------------------------------------ whole ruled lines


# Around a line's ink this much of the ink's height is kept on every side:
# the recogniser was trained on detected text lines with some paper round them.
# Chosen on the fit half of the real handwriting (bench/ocr_eval.py --half fit):
# 0.2, 0.35 and 0.5 gave CER .222, .218 and .208 (fonts .022, .036, .045).
LINE_PAD = 0.5
# How a line is given to the recogniser: "scan" is the grey crop as scanned
# (other lines' strokes painted out); "ink" keeps only this line's ink, on clean
# paper (guide lines gone). Measured in bench/ocr_eval.py; "scan" is the default.
LINE_IMAGES = ("scan", "ink")


def whole_line(gray: np.ndarray, own: np.ndarray, other: np.ndarray | None, mode: str = "scan") -> np.ndarray:
    """One line of ``gray`` (a field crop) as the recogniser should see it: grey, no deslant, no scaling.

    ``own`` is this line's ink (a mask the crop's size), ``other`` the ink of
    the field's other lines, painted out with paper so a descender from the
    line above is not read here (stroke ownership, :func:`ink_by_line`).
    The image spans the ink with ``LINE_PAD`` of its height around it.
    """
    h, w = gray.shape
    ys, xs = np.nonzero(own)
    ink_h = int(ys.max()) + 1 - int(ys.min())
    pad = max(3, int(LINE_PAD * ink_h))
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + 1 + pad)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + 1 + pad)
    paper = np.uint8(min(255, percentile_u8(gray, 90)))
    out = gray[y0:y1, x0:x1].copy()
    if mode == "ink":
        keep = cv2.dilate(own[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        out[~keep] = paper
    elif other is not None:
        foreign = cv2.dilate(other[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        foreign &= ~own[y0:y1, x0:x1]
        out[foreign] = paper
    return out


# ------------------------------------------------------------------- the engine


@dataclass
class LineJob:
    """One field's line images waiting for the recogniser (``OcrEngine.finish``), or its result already."""

    images: list[np.ndarray] = field(default_factory=list)
    area: bool = False
    done: OcrResult | None = None
    # Tesseract mode only: (darkness, mask) of each line.
    inks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class OcrEngine:
    """The handwriting reader for one worker: PP-OCRv6 small for lines, Tesseract for unruled blocks.

    Loaded on first use and kept for the worker's life; not thread-safe (make
    one per worker process, never share one).

    ``shorthand`` protects the vault's abbreviations from post-correction.
    The other arguments exist to measure alternatives (``bench/ocr_eval.py``),
    the defaults read better: ``correct=False`` turns post-correction off,
    ``reader=TESSERACT`` reads lines with Tesseract as Inklock did before
    (``binarize=True`` gives it a black-and-white image), ``line_image`` picks
    how a line is cut (:data:`LINE_IMAGES`) and ``max_log_ratio`` how much less
    likely (by the network) a vocabulary word may be than the reading it replaces.
    """

    def __init__(self, shorthand: Shorthand | None = None, *, correct: bool = True, binarize: bool = False,
                 reader: str = LINE_READER, line_image: str = "scan", max_log_ratio: float | None = None):
        if reader not in (LINE_READER, TESSERACT) or line_image not in LINE_IMAGES:
            raise ValueError(f"unknown reader {reader!r} or line image {line_image!r}")
        self.shorthand = shorthand or Shorthand()
        self.correct = correct
        self.binarize = binarize
        self.reader = reader
        self.line_image = line_image
        self.max_log_ratio = max_log_ratio
        self._api = None
        self._lines = None
        self._corrector = None

    def _engine(self):
        if self._api is None:
            # Debian's libtesseract parallelises each line with OpenMP, which
            # made a line 2-3x slower on a busy 2-core machine; parallelism
            # comes from one engine per worker process instead. Only applies
            # if nothing in this process has started OpenMP yet.
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")
            try:
                import tesserocr
            except ImportError as exc:
                raise UsageError(
                    "The OCR binding tesserocr is missing: run `make setup` "
                    "(Debian: apt install libtesseract-dev libleptonica-dev pkg-config tesseract-ocr-eng)."
                ) from exc
            try:
                self._api = tesserocr.PyTessBaseAPI(lang="eng", oem=tesserocr.OEM.LSTM_ONLY)
            except RuntimeError as exc:
                raise UsageError(
                    "Tesseract could not load its English model: install tesseract-ocr-eng."
                ) from exc
        return self._api

    def _line_reader(self):
        """The line recogniser (:mod:`scanner.ingest.linerec`), loaded on first use and kept like the engine."""
        if self._lines is None:
            from scanner.ingest.ctcwords import MAX_LOG_RATIO, CtcCorrector
            from scanner.ingest.linerec import LineReader

            self._lines = LineReader()
            ratio = MAX_LOG_RATIO if self.max_log_ratio is None else self.max_log_ratio
            self._corrector = CtcCorrector(self._lines.chars, ratio)
        return self._lines

    def version(self) -> str:
        """The Tesseract version (for unruled blocks; recorded beside OCR results)."""
        self._engine()  # loads tesserocr the way reading does (thread limit first)
        import tesserocr

        return tesserocr.tesseract_version().split()[1]

    def close(self) -> None:
        """Free the engines (they are loaded again if the object is used afterwards)."""
        if self._api is not None:
            self._api.End()
            self._api = None
        self._lines = None
        self._corrector = None

    def __enter__(self) -> OcrEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Tesseract ------------------------------------------------------------

    def _recognise(self, image: np.ndarray, psm: int) -> tuple[str, list[tuple[str, float]]]:
        api = self._engine()
        api.SetPageSegMode(psm)
        image = np.ascontiguousarray(image, dtype=np.uint8)
        api.SetImageBytes(image.tobytes(), image.shape[1], image.shape[0], 1, image.shape[1])  # in memory: never a file
        api.SetSourceResolution(300)
        text = api.GetUTF8Text().strip()
        # tesserocr complains on stderr when asked for words of an empty result.
        words = [(w, c / 100.0) for w, c in api.MapWordConfidences() if w.strip()] if text else []
        api.Clear()
        return text, words

    def _finish(self, raw: str, words: list[tuple[str, float]], reader: str = TESSERACT) -> OcrResult:
        """A Tesseract reading, post-corrected by edit distance and calibrated."""
        if not raw:
            # Ink was there but nothing was read: not empty, and not trusted.
            return OcrResult("", 0.0, ["low_confidence"], words, raw, reader=reader)
        corrected, changed, unknown = postcorrect(raw, self.shorthand)
        text = corrected if self.correct else raw
        mean = mean_word_confidence(words)
        tokens = max(1, len(raw.split()))
        plausibility = (1.0 - min(unknown + (0 if self.correct else changed), tokens) / tokens) + mean / 100.0
        # Without correction the words it would have changed are still unknown.
        conf = calibrate(mean, unknown == 0 and (self.correct or changed == 0), reader)
        if self.correct and changed:
            conf = min(conf, _CORRECTED_CAP)
        flags = ["low_confidence"] if conf < LOW_CONFIDENCE else []
        return OcrResult(text, conf, flags, words, raw, plausibility, reader, score=mean)

    def _read_prepared(self, image: np.ndarray) -> OcrResult:
        text, words = self._recognise(image, PSM_SINGLE_LINE)
        if not text:
            # Page segmentation 7 still runs layout analysis, which sometimes
            # finds no text in joined-up writing; 13 reads the image as one line.
            text, words = self._recognise(image, PSM_RAW_LINE)
        return self._finish(" ".join(text.split()), words)

    # -- the line recogniser -----------------------------------------------------

    def _finish_line(self, reading) -> OcrResult:
        """A recogniser reading (:class:`scanner.ingest.linerec.LineReading`), post-corrected by its own probabilities."""
        from scanner.ingest.ctcwords import ctc_log_likelihood, log_probs, word_spans

        raw = " ".join(reading.text.split())
        if not raw:
            return OcrResult("", 0.0, ["low_confidence"], [], "", reader=LINE_READER)
        words = _word_confidences(reading.text, reading.char_conf)
        self._line_reader()
        lp = log_probs(reading.probs)
        # The network's probability of the text it read (over all its alignments).
        labels = self._corrector.labels(reading.text)
        score = 100.0 * float(np.exp(ctc_log_likelihood(lp, labels))) if labels else 0.0
        tokens, changed, unknown = [], 0, 0
        spans = word_spans(reading.text, reading.starts, len(reading.probs))
        for n, (a, b, f0, f1) in enumerate(spans):
            token = reading.text[a:b]
            m = _EDGE.match(token)
            lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", token, "")
            fixed = core
            # A word broken at a line's end ("Fra-") or its rest ("-dered") is a fragment, not a misspelling.
            fragment = trail.startswith("-") or lead.endswith("-")
            if (self.correct and not fragment and not _is_protected(core, self.shorthand)
                    and core.lower() not in vocabulary()):
                candidates = [_match_case(w, core) for w in near_words(core.lower())] + split_words(core)
                if candidates:
                    chosen = self._corrector.choose(lp[f0:f1], token, [f"{lead}{c}{trail}" for c in candidates])
                    fixed = chosen[len(lead):len(chosen) - len(trail)] if chosen != token else core
            if fixed != core:
                changed += 1
            elif not _is_known(core, self.shorthand):
                unknown += 1
            tokens.append(f"{lead}{fixed}{trail}")
        text = " ".join(tokens)
        mean = mean_word_confidence(words)
        conf = calibrate(score, unknown == 0, LINE_READER)
        if changed:
            conf = min(conf, _CORRECTED_CAP)
        flags = ["low_confidence"] if conf < LOW_CONFIDENCE else []
        tokens_n = max(1, len(spans))
        plausibility = (1.0 - min(unknown, tokens_n) / tokens_n) + mean / 100.0
        # The reading as the network made it, offered in review (and searched) beside a corrected one.
        return OcrResult(text, conf, flags, words, raw, plausibility, LINE_READER,
                         alternative=raw if text != raw else "", score=score)

    # -- fields --------------------------------------------------------------------

    def line_job(self, gray: np.ndarray) -> LineJob:
        """A one-line field, cut for the recogniser (read by :meth:`finish`)."""
        if _too_dark(gray):
            return LineJob(done=OcrResult("", 0.0, ["low_confidence"]))
        gray = _as_gray(gray)
        dark = darkness(gray)
        mask = ink_mask(gray, dark=dark)
        if not mask.any():
            return LineJob(done=OcrResult("", EMPTY_CONFIDENCE, ["empty"]))
        if self.reader == TESSERACT:
            return LineJob(inks=[(dark, mask)])
        return LineJob([whole_line(gray, mask, None, self.line_image)])

    def area_job(self, gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None = None) -> LineJob:
        """A multi-line ``text`` field, one image per ruled line with ink (read by :meth:`finish`).

        Without ``line_boxes`` (x0, y0, x1, y1 in pixels within the crop, one
        per ruled line) Tesseract finds the lines itself (page segmentation 6):
        the one thing on a form it still does better than cutting lines by hand.
        """
        gray = _as_gray(gray)
        if _too_dark(gray):
            return LineJob(area=True, done=OcrResult("", 0.0, ["low_confidence"]))
        if not line_boxes:
            return LineJob(area=True, done=self._read_block(gray))
        dark = darkness(gray)
        masks = ink_by_line(gray, line_boxes, dark=dark)
        job = LineJob(area=True)
        if self.reader == TESSERACT:
            job.inks = [(dark, m) for m in masks if m.any()]
        else:
            everything = np.zeros(gray.shape, bool)
            for m in masks:
                everything |= m
            for m in masks:
                if m.any():
                    job.images.append(whole_line(gray, m, everything & ~m, self.line_image))
        if not job.images and not job.inks:
            job.done = OcrResult("", EMPTY_CONFIDENCE, ["empty"])
        return job

    def _read_block(self, gray: np.ndarray) -> OcrResult:
        image = prepare(gray, binarize=self.binarize)
        if image is None:
            return OcrResult("", EMPTY_CONFIDENCE, ["empty"])
        text, words = self._recognise(image, PSM_SINGLE_BLOCK)
        text = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
        return self._finish(text, words)

    def finish(self, jobs: list[LineJob]) -> list[OcrResult]:
        """Read the lines of several fields (a page's) in as few network runs as possible."""
        images = [im for j in jobs if j.done is None for im in j.images]
        readings = iter(self._line_reader().read_batch(images) if images else [])
        results = []
        for job in jobs:
            if job.done is not None:
                results.append(job.done)
                continue
            if job.inks:
                lines = [self._read_prepared(_prepared(d, m, self.binarize)) for d, m in job.inks]
            else:
                lines = [self._finish_line(next(readings)) for _ in job.images]
            results.append(lines[0] if not job.area else _joined(lines))
        return results

    def read_line(self, gray: np.ndarray) -> OcrResult:
        """Read a one-line field."""
        return self.finish([self.line_job(gray)])[0]

    def read_area(self, gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None = None) -> OcrResult:
        """Read a multi-line ``text`` field (see :meth:`area_job`)."""
        return self.finish([self.area_job(gray, line_boxes)])[0]


def _joined(lines: list[OcrResult]) -> OcrResult:
    """The lines of a text field as one result: all must be right for the text to be right."""
    conf = float(np.prod([r.confidence for r in lines]))
    text = "\n".join(r.text for r in lines if r.text)
    alternative = "\n".join(r.alternative or r.text for r in lines if r.alternative or r.text)
    return OcrResult(
        text,
        conf,
        ["low_confidence"] if conf < LOW_CONFIDENCE else [],
        [wc for r in lines for wc in r.words],
        "\n".join(r.raw_text for r in lines if r.raw_text),
        reader=lines[0].reader,
        alternative=alternative if alternative != text else "",
    )

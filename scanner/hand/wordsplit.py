"""Cutting a handwritten field crop into word images (for learning the clinician's hand).

The crop is taken line by line (the template's ruled lines when known, else
bands of the horizontal ink projection) and each line is cleaned exactly as
OCR cleans it (:func:`scanner.ingest.ink.ink_mask` drops printed guide lines, box
outlines and specks). Its ink is cut into connected components, and the line
is split into words at the gaps as wide as a word space. When the number of
words is known (a confirmed transcription, or an OCR draft) the crop is cut
at exactly that many of its widest gaps, but only where those gaps stand
clearly apart from the rest: a doubtful cut is refused rather than guessed,
so that word images are seldom paired with the wrong word.

Pure and in memory: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scanner.ingest.ink import (
    MIN_INK_DARKNESS,
    _as_gray,
    _long_lines,
    darkness,
    ink_mask,
    label_members,
    percentile_u8,
)

# A gap between components at least this many x-heights wide is a word space
# (letter gaps in print and joins in cursive are well below half an x-height).
WORD_GAP_X = 0.5
# When cutting at a known number of words, the narrowest cut must be this much
# wider than the widest gap left uncut, and at least this many x-heights.
FORCED_GAP_RATIO = 1.3
FORCED_MIN_GAP_X = 0.25
# ...and word spaces look alike: the narrowest cut at least this share of the widest.
FORCED_SPACE_SPREAD = 0.3
# Ink bands shorter than this share of the tallest band are dots, commas or
# stray descenders: they join the nearest line instead of making one.
MIN_LINE_SHARE = 0.35
# Writing sits on the lower part of its line: ink that touches a line's top
# edge and ends above its middle is a descender of the line above; ink that
# touches its bottom edge and starts in its lowest quarter, an ascender of the
# line below.
OVERHANG_FROM_ABOVE = 0.5
OVERHANG_FROM_BELOW = 0.75


@dataclass(frozen=True)
class Word:
    """One word image cut from a crop: its box (pixels in the crop), line, and image.

    ``image`` is float32 ink coverage (0 paper .. 1 full ink), cropped to the
    word's own ink, with only the word's components in it.
    """

    box: tuple[int, int, int, int]
    line: int
    image: np.ndarray

    def png(self) -> bytes:
        """The word as a grey PNG (dark ink on white) for the vault."""
        ok, buf = cv2.imencode(".png", (255 - np.clip(self.image * 255, 0, 255)).astype(np.uint8))
        return buf.tobytes() if ok else b""


def ink_level(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ink coverage 0..1 from darkness, kept only on and right beside the ink mask."""
    dark8 = darkness(gray)
    level = percentile_u8(dark8[mask], 90) if mask.any() else 255.0
    dark = dark8.astype(np.float32)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return np.clip(dark / max(level, 1.0), 0.0, 1.0) * near


def _x_height(heights: np.ndarray) -> float:
    # The median component height of a line is close to its x-height once dots
    # and commas (the smallest third) are set aside.
    tall = np.sort(heights)[len(heights) // 3:]
    return float(np.median(tall)) if len(tall) else 1.0


def _bands(ink: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of the lines of writing, from the horizontal projection of ``ink``."""
    rows = ink.sum(axis=1) > 0
    bands: list[list[int]] = []
    for y, on in enumerate(rows):
        if on and bands and y - bands[-1][1] <= 2:  # a gap of a row or two is the same line
            bands[-1][1] = y + 1
        elif on:
            bands.append([y, y + 1])
    if not bands:
        return []
    tallest = max(b - a for a, b in bands)
    big = [b for b in bands if b[1] - b[0] >= MIN_LINE_SHARE * tallest]
    for a, b in bands:  # dots, commas and stray tails join the nearest line
        if [a, b] not in big:
            near = min(big, key=lambda g: abs((g[0] + g[1]) - (a + b)))
            near[0], near[1] = min(near[0], a), max(near[1], b)
    return [(a, b) for a, b in big]


def _strips(gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None) -> list[tuple[int, int, int, int]]:
    """The crop's lines as (x0, y0, x1, y1): the ruled lines when given, else bands of ink.

    Ink is then found line by line, as OCR reads text fields: the speck and
    guide-line filters of :func:`scanner.ingest.ink.ink_mask` are scaled to one line.
    """
    h, w = gray.shape
    if line_boxes:
        out = []
        for x0, y0, x1, y1 in line_boxes:
            x0, x1, y0, y1 = max(0, int(x0)), min(w, int(x1)), max(0, int(y0)), min(h, int(y1))
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                out.append((x0, y0, x1, y1))
        return out
    dark = darkness(gray)
    faint = (dark > 25).astype(np.uint8) * 255
    ink = (dark >= MIN_INK_DARKNESS) & ~(_long_lines(faint) > 0)
    bands = _bands(ink)
    if len(bands) <= 1:
        return [(0, 0, w, h)]
    # Each line's strip reaches halfway to its neighbours, so ascenders and descenders stay with it.
    cuts = [0] + [(bands[i][1] + bands[i + 1][0]) // 2 for i in range(len(bands) - 1)] + [h]
    return [(0, cuts[i], w, cuts[i + 1]) for i in range(len(bands))]


def _word_space(gaps: np.ndarray, xh: float) -> float:
    """The narrowest gap that is a word space, for a line whose word count is unknown.

    Word spaces and letter gaps form two groups; the cut is at the largest
    jump between consecutive gap widths, provided the jump is clear. Hands
    differ too much (spaced capitals, joined cursive) for one fixed width.
    """
    if not len(gaps):
        return np.inf
    g = np.sort(np.maximum(gaps, 0.5))
    floor = FORCED_MIN_GAP_X * xh
    if g[0] >= WORD_GAP_X * xh:
        return float(g[0])  # every gap is a word space (spaced capitals, one letter each)
    best, at = 0.0, np.inf
    for k in range(1, len(g)):
        if g[k] >= floor and g[k] / g[k - 1] > best:
            best, at = g[k] / g[k - 1], g[k]
    if best >= 1.8:
        return float(min(at, WORD_GAP_X * xh * 2.5))
    return float(WORD_GAP_X * xh * 1.5)  # no clear jump: only unmistakable spaces


def _groups(spans: list[tuple[int, int]], xh: float, count: int | None) -> list[list[int]] | None:
    """Indices of ``spans`` (sorted x-intervals) joined into words; None when a forced cut is doubtful."""
    merged: list[list[int]] = []
    ends: list[int] = []
    for i, (a, b) in enumerate(spans):
        if merged and a <= ends[-1]:  # overlapping in x: one blob (a dot over its stem, a cross-stroke)
            merged[-1].append(i)
            ends[-1] = max(ends[-1], b)
        else:
            merged.append([i])
            ends.append(b)
    starts = [spans[g[0]][0] for g in merged]
    gaps = np.array([starts[k + 1] - ends[k] for k in range(len(merged) - 1)], dtype=np.float32)
    if count is None:
        cuts = set(np.flatnonzero(gaps >= _word_space(gaps, xh)).tolist())
    else:
        if count < 1 or count > len(merged):
            return None
        order = np.argsort(-gaps, kind="stable")
        chosen, rest = order[:count - 1], order[count - 1:]
        if len(chosen):
            narrowest = float(gaps[chosen].min())
            widest_left = float(gaps[rest].max()) if len(rest) else 0.0
            if (narrowest < FORCED_MIN_GAP_X * xh or narrowest < FORCED_GAP_RATIO * widest_left
                    or narrowest < FORCED_SPACE_SPREAD * float(gaps[chosen].max())):
                return None
        cuts = set(chosen.tolist())
    words, current = [], []
    for k, g in enumerate(merged):
        current.extend(g)
        if k in cuts or k == len(merged) - 1:
            words.append(current)
            current = []
    return words


def _overhang(stat: np.ndarray, height: int) -> bool:
    """A component that only pokes into this line from the next one (a descender from above, an ascender from below)."""
    top, bottom = int(stat[cv2.CC_STAT_TOP]), int(stat[cv2.CC_STAT_TOP] + stat[cv2.CC_STAT_HEIGHT])
    return ((top <= 1 and bottom <= OVERHANG_FROM_ABOVE * height)
            or (bottom >= height - 1 and top >= OVERHANG_FROM_BELOW * height))


def split_words(gray: np.ndarray, *, count: int | None = None,
                line_boxes: list[tuple[int, int, int, int]] | None = None) -> list[Word] | None:
    """Word images of a field crop in reading order.

    ``count``: the number of words written, when known. The crop is then cut
    into exactly that many words, or None is returned when the cuts would be
    doubtful (the caller skips the field). Without ``count``, word spaces are
    found from the gaps alone. ``line_boxes`` are the ruled lines (pixels in
    the crop, x0 y0 x1 y1) when the template gives them.
    """
    return cut_words(ink_lines(gray, line_boxes), count)


def ink_lines(gray: np.ndarray, line_boxes: list[tuple[int, int, int, int]] | None = None) -> list[tuple]:
    """The crop's lines with their ink found and their strokes labelled: what :func:`cut_words` cuts.

    The costly half of :func:`split_words`, so a caller trying a known word
    count and then none cleans the lines once.
    """
    gray = _as_gray(gray)
    per_line = []  # (strip origin, strip, mask, labels, stats, components left to right, x-height)
    for x0, y0, x1, y1 in _strips(gray, line_boxes):
        sub = gray[y0:y1, x0:x1]
        mask = ink_mask(sub)
        if not mask.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        comps = sorted((i for i in range(1, n) if not _overhang(stats[i], y1 - y0)),
                       key=lambda i: stats[i, cv2.CC_STAT_LEFT])
        if not comps:
            continue
        xh = max(2.0, _x_height(stats[comps, cv2.CC_STAT_HEIGHT].astype(np.float32)))
        per_line.append(((x0, y0), sub, mask, labels, stats, comps, xh))
    return per_line


def cut_words(per_line: list[tuple], count: int | None = None) -> list[Word] | None:
    """Word images from :func:`ink_lines`, as :func:`split_words` cuts them (``count`` likewise)."""
    if not per_line:
        return [] if not count else None
    groups_by_line = _split_lines([(p[4], p[5], p[6]) for p in per_line], count)
    if groups_by_line is None:
        return None
    out: list[Word] = []
    for ln, ((ox, oy), sub, mask, labels, stats, comps, _xh) in enumerate(per_line):
        level = ink_level(sub, mask)
        for g in groups_by_line[ln]:
            ids = [comps[k] for k in g]
            x0 = int(min(stats[i, cv2.CC_STAT_LEFT] for i in ids))
            y0 = int(min(stats[i, cv2.CC_STAT_TOP] for i in ids))
            x1 = int(max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in ids))
            y1 = int(max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in ids))
            own = label_members(labels[y0:y1, x0:x1], len(stats), ids)
            own = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            out.append(Word((x0 + ox, y0 + oy, x1 + ox, y1 + oy), ln, (level[y0:y1, x0:x1] * own).astype(np.float32)))
    return out


def _merged(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Starts and ends of the x-intervals left once overlapping spans are joined."""
    starts: list[int] = []
    ends: list[int] = []
    for a, b in spans:
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _split_lines(per_line, count: int | None) -> list[list[list[int]]] | None:
    """Word groups for each line (``per_line``: stats, components, x-height); with ``count``,
    the widest gaps over all lines are the cuts."""
    spans_of = []
    for stats, comps, _xh in per_line:
        spans_of.append([(int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]))
                         for i in comps])
    if count is None:
        free = [_groups(spans, xh, None) for spans, (_, _, xh) in zip(spans_of, per_line)]
        return [g for g in free if g is not None]  # never None without a count
    # Each line holds at least one word; the words left over go to the widest
    # gaps (in x-heights, so lines written larger or smaller compare fairly).
    extra = count - len(per_line)
    if extra < 0:
        return None
    gaps: list[tuple[float, int]] = []  # (gap in x-heights, line)
    for li, (spans, (_, _, xh)) in enumerate(zip(spans_of, per_line)):
        starts, ends = _merged(spans)
        gaps.extend(((starts[k + 1] - ends[k]) / xh, li) for k in range(len(starts) - 1))
    gaps.sort(key=lambda g: -g[0])
    if extra > len(gaps):
        return None
    chosen, rest = gaps[:extra], gaps[extra:]
    if chosen:
        narrowest = chosen[-1][0]
        widest_left = rest[0][0] if rest else 0.0
        if (narrowest < FORCED_MIN_GAP_X or narrowest < FORCED_GAP_RATIO * widest_left
                or narrowest < FORCED_SPACE_SPREAD * chosen[0][0]):
            return None
    per = [0] * len(per_line)
    for _g, li in chosen:
        per[li] += 1
    out = []
    for li, (spans, (_, _, xh)) in enumerate(zip(spans_of, per_line)):
        groups = _groups(spans, xh, per[li] + 1)
        if groups is None:  # cannot happen once the global check passed; refuse rather than guess
            return None
        out.append(groups)
    return out

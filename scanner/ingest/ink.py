"""Image preparation for the handwriting readers: paper, ink, guide lines, ruled lines, slant.

What a reader is given is decided here: :func:`darkness` (paper minus pixel),
:func:`ink_mask` (pen ink, with printed guide lines, box outlines and specks
removed), :func:`ink_by_line` (which ruled line owns each stroke) and, for
Tesseract, :func:`prepare` (cropped, scaled to an x-height, deslanted). Pure
functions on arrays in memory; no reader is loaded here.
"""

from __future__ import annotations

import cv2
import numpy as np

from scanner.errors import BadInput

# A crop whose brightest tenth is darker than this shows no paper at all.
MIN_PAPER_LEVEL = 90

# Darkness (paper minus pixel, 0..255) below which nothing counts as pen ink.
# Printed guide lines are light grey (about 40-90 below paper after scanning);
# ballpoint and gel ink are well past 100.
MIN_INK_DARKNESS = 70
# Connected ink components smaller than this (in pixels at the crop's scale,
# relative to its height) are scan specks, not writing.
SPECK_FRACTION = 0.004
# Tesseract's LSTM reads best with an x-height of roughly 30 px.
TARGET_X_HEIGHT = 30.0


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


def percentile_u8(values: np.ndarray, q: float, where: np.ndarray | None = None) -> float:
    """``np.percentile(values, q)`` for 8-bit values (those ``where`` is true, if given), from a histogram.

    Several times faster than sorting, and with ``where`` no copy of the values
    is made.
    """
    return _percentile_of(_counts_u8(values, where), q)


def _percentile_of(counts: np.ndarray, q: float) -> float:
    """:func:`percentile_u8` of the values counted in ``counts`` (a 256-bin histogram)."""
    size = int(counts.sum())
    if size == 0:
        raise ValueError("percentile of no values")
    cdf = np.cumsum(counts)
    rank = q / 100.0 * (size - 1)
    lo = int(np.searchsorted(cdf, np.floor(rank) + 1))
    hi = int(np.searchsorted(cdf, np.ceil(rank) + 1))
    return lo + (hi - lo) * (rank - np.floor(rank))


def _counts_u8(values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """How many of ``values`` (8-bit; where ``where`` is true) hold each of 0..255 (int64)."""
    values = np.asarray(values, dtype=np.uint8)
    if where is not None:
        where = np.asarray(where, dtype=bool)
    # OpenCV's histogram counts in float32, exact below 2**24 values; NumPy's
    # bincount first widens every value to 64 bits.
    if values.ndim == 2 and values.size < 1 << 24 and (where is None or where.shape == values.shape):
        image = np.ascontiguousarray(values)
        mask = None if where is None else np.ascontiguousarray(where).view(np.uint8)
        return cv2.calcHist([image], [0], mask, [256], [0, 256]).ravel().astype(np.int64)
    flat = (values if where is None else values[where]).ravel()
    return np.bincount(flat, minlength=256)


def _too_dark(gray: np.ndarray) -> bool:
    """No paper to be seen (a black border, a shadow): unreadable, not empty."""
    return percentile_u8(_as_gray(gray), 90) < MIN_PAPER_LEVEL


def darkness(gray: np.ndarray) -> np.ndarray:
    """Paper level minus each pixel, clipped at 0 (uint8): 0 is paper, 255 is black.

    The paper level is a high percentile, so a scan that is grey overall still
    has paper at 0.
    """
    gray = _as_gray(gray)
    # paper - pixel, clipped to 0..255 and truncated: the whole part of the paper level minus the pixel, saturated.
    paper = np.full_like(gray, int(percentile_u8(gray, 90)))
    return cv2.subtract(paper, gray)


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
        line_level = percentile_u8(dark, 50, where=lines)  # the median
        candidate = ~lines | (dark > line_level + 60)
    counts = _counts_u8(dark, candidate)
    peak = _percentile_of(counts, 99.7) if counts.any() else 0.0
    threshold = float(np.clip(0.45 * peak, MIN_INK_DARKNESS / 2, MIN_INK_DARKNESS))
    ink = candidate & (dark >= threshold)
    # Only the components' areas are needed: counted here, which is several
    # times faster than OpenCV's statistics.
    n, labels = cv2.connectedComponents(ink.view(np.uint8), connectivity=8)
    areas = np.bincount(labels.ravel(), minlength=n)
    min_area = max(6, int(SPECK_FRACTION * h * h))
    big = np.zeros(n, dtype=bool)
    big[1:] = areas[1:] >= min_area
    if not big[1:].any():
        return np.zeros_like(ink)
    # Small marks next to writing are i-dots, commas and full stops; small
    # marks on their own are specks.
    reach = max(3, h // 5)
    near = cv2.dilate(big.view(np.uint8)[labels], np.ones((reach, reach), np.uint8)) > 0
    keep = big | (np.bincount(labels[near & ink], minlength=n) > 0)
    keep[0] = False
    return keep[labels]


def _x_height(mask: np.ndarray) -> float:
    """Rough x-height: the run of rows where most of the ink is."""
    rows = mask.sum(axis=1).astype(np.float64)
    if rows.max() <= 0:
        return 0.0
    dense = np.flatnonzero(rows >= 0.35 * rows.max())
    return float(dense[-1] - dense[0] + 1)


def body_height(mask: np.ndarray) -> int:
    """A line's body: from the first to the last row holding at least 35% of its densest row's ink.

    The x-height band of cursive (without ascenders and descenders), most of
    the height of block capitals; the whole mask when it has no ink.
    """
    rows = mask.sum(axis=1)
    dense = np.flatnonzero(rows >= 0.35 * max(1, int(rows.max()))) if rows.size else rows
    return int(dense[-1]) + 1 - int(dense[0]) if dense.size else mask.shape[0]


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
    line (and an ascender reaching above its box is not cut off). A stroke that
    is two lines' letters touching is cut at the boxes' edge. Strokes outside every box are
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
        # (a descender, or its broken-off tail), wherever it ends; but one
        # wider than tall is joined-up letters, not a tail, and goes by its
        # ink (a tall ascender of a word can start in the band of the line above).
        starts = [k for k, (bx0, lo, bx1, hi) in enumerate(bands)
                  if lo <= top < hi and bx0 <= left + cw // 2 < bx1 and in_band[k, i]]
        if starts and not (cw > ch and int(np.argmax(in_band[:, i])) != starts[0]):
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
    owner = {i: k for k, ids in enumerate(owned) for i in ids}
    touching = _touching(labels, stats, in_band, bands, boxes, owned, owner)
    for i in touching:
        owned[owner[i]].remove(i)
    masks = [label_members(labels, n, ids) if ids else np.zeros_like(mask) for ids in owned]
    for i in touching:
        _cut(labels == i, boxes, bands, masks)
    return masks


def _cut(stroke: np.ndarray, boxes: list, bands: list, masks: list[np.ndarray]) -> None:
    """Share a stroke of two lines' touching letters (:func:`_touching`) between their masks.

    Cut at the boxes' edges, each piece with letters in its box's band stays
    with that line; a piece without (the end of a descender from above, the
    top of an ascender from below) goes to the line on the other side of the
    edge it was cut at, so it is not read as a stray mark.
    """
    for k, b in enumerate(boxes):
        if b is None:
            continue
        part = stroke[b[1]:b[3], b[0]:b[2]].astype(np.uint8)
        n, pieces, stats, _ = cv2.connectedComponentsWithStats(part, connectivity=8)
        lo, hi = bands[k][1] - b[1], bands[k][3] - b[1]
        for j in range(1, n):
            piece = pieces == j
            cols = np.nonzero(piece[lo:hi].any(axis=0))[0]
            owner = k
            if not cols.size or cols[-1] - cols[0] + 1 < TOUCH_SPAN * (b[3] - b[1]):
                top, height = int(stats[j, cv2.CC_STAT_TOP]), int(stats[j, cv2.CC_STAT_HEIGHT])
                if top == 0 and k > 0 and boxes[k - 1] is not None:
                    owner = k - 1
                elif top + height == part.shape[0] and k + 1 < len(boxes) and boxes[k + 1] is not None:
                    owner = k + 1
            masks[owner][b[1]:b[3], b[0]:b[2]] |= piece


def _touching(labels: np.ndarray, stats: np.ndarray, in_band: np.ndarray, bands: list, boxes: list,
              owned: list[list[int]], owner: dict[int, int]) -> list[int]:
    """Strokes that are two lines' writing run together, to be cut (:func:`_cut`).

    A long descender of one line often touches a word of the next; as one
    stroke, both went to one line, and the other line lost its word. Such a
    stroke has letters (ink across at least :data:`TOUCH_SPAN` of a box's
    height) in the body band of a line it was not given to, beside writing of
    that line's own; a descender's loop alone in the next line's band has none
    beside it and stays whole.
    """
    found = []
    for i in (int(i) for i in np.nonzero((in_band[:, 1:] > 0).sum(axis=0) >= 2)[0] + 1):
        if i not in owner:
            continue
        for k, (bx0, lo, bx1, hi) in enumerate(bands):
            if k == owner[i] or not in_band[k, i]:
                continue
            cols = np.nonzero((labels[lo:hi, bx0:bx1] == i).any(axis=0))[0] + bx0
            reach = boxes[k][3] - boxes[k][1]
            if cols[-1] - cols[0] + 1 < TOUCH_SPAN * reach:
                continue
            beside = [j for j in owned[k] if in_band[k, j] and stats[j, 0] <= cols[-1] + reach
                      and stats[j, 0] + stats[j, 2] >= cols[0] - reach]
            if beside:
                found.append(i)
                break
    return found


def label_members(labels: np.ndarray, n: int, ids: list[int]) -> np.ndarray:
    """Where ``labels`` (0..n-1) is one of ``ids``: ``np.isin`` by table look-up."""
    table = np.zeros(n, dtype=bool)
    table[ids] = True
    return table[labels]


# A ruled line's body band, as fractions of its box from the top: where the
# letters of its own writing sit (Inklock's rule is at 0.8 of the box). A
# stroke goes to the line whose band holds most of its ink, so a long
# descender (g, y, a long s) stays with its word even when most of its box
# lies in the line below, and a tall ascender stays with the line it rises from.
BODY_BAND = (0.35, 0.85)
# A line whose only ink is this little (against its neighbour's) and lies within
# this much of its box from the neighbour's side is the tail of the neighbour's
# writing: writing of its own would sit on its rule, at 0.8 of the box. A tail
# whose faint middle fell under the ink threshold often reaches half-way down the
# next box; 0.6 rather than 0.4 gave them back (fit half, whole pipeline, five
# seeds: cursive .146 / .154 / .110 / .187 / .135 to .127 / .144 / .107 / .172 /
# .137; 0.5 and 0.7 in between or the same; capitals and font days unchanged).
OVERFLOW_MASS = 0.25
OVERFLOW_REACH = 0.6
# ... and a line whose ink is one stroke starting within this much of its box's
# top, however far down it reaches (:func:`_hanging_stroke`): a descender cut
# off where it crossed the rule, read as a stray "1" line before. Fit half,
# whole pipeline, ten seeds (21-28, 41, 42): real cursive mean .121 to .120,
# three seeds better (.137 / .153 / .120 to .132 / .146 / .116), none worse;
# 0.25 the same; capitals and font twins unchanged.
TAIL_TOP = 0.15
# A stroke whose ink spans at least this much of a box's height across in the
# body band of a line it was not given to, beside that line's own writing, is
# both lines' writing touching (a descender run into a word below), and is cut
# at the boxes' edge (:func:`_touching`, :func:`_cut`); with it, a stroke wider
# than tall goes by its ink in the bands even where it starts in another line's
# band (the ascender of a word written large). Chosen on the fit half (whole
# pipeline, 16 seeds, 21-28 and 41-48: real cursive mean .153 to .131; on 21-28
# 0.35 and 0.7 gave .124 and .129 against .122; capitals and font twins unchanged).
TOUCH_SPAN = 0.5


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
        if (above >= 0 and owned[above] and mass[k] < OVERFLOW_MASS * mass[above]
                and (lows.max() <= top + reach or _hanging_stroke(ids, top, bottom, stats))):
            owned[above].extend(ids)
        elif (below < len(owned) and owned[below] and mass[k] < OVERFLOW_MASS * mass[below]
              and highs.min() >= bottom - reach):
            owned[below].extend(ids)
        else:
            continue
        owned[k] = []
        mass[k] = 0


def _hanging_stroke(ids: list[int], top: int, bottom: int, stats: np.ndarray) -> bool:
    """A line's ink is one stroke (specks aside) no wider than its box is high, starting at the box's top.

    That is a descender of the line above cut off where it crossed the
    ruled line or faded, however far down it reaches: a line's own writing
    starts lower (even an ascender rises from the rule at 0.8 of the box
    only to about a quarter of it).
    """
    areas = stats[ids, cv2.CC_STAT_AREA]
    main = ids[int(np.argmax(areas))]
    return bool(areas.max() >= 0.9 * areas.sum() and stats[main, cv2.CC_STAT_WIDTH] <= bottom - top
                and stats[main, cv2.CC_STAT_TOP] <= top + TAIL_TOP * (bottom - top))


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
    m = np.array([[1.0, shear, extra - shear * h / 2.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    return cv2.warpAffine(image, m, (w + 2 * extra, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)


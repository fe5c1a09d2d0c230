"""Handwritten digits in comb cells: one digit per cell, read by a small network.

Tesseract reads single handwritten digits poorly, so ``digits`` fields use a
multilayer perceptron trained on MNIST digits (``tools/train_digits.py``). Its
weights ship as plain numpy arrays in ``scanner/models/digits_mlp.npz`` (no
pickle, so loading the model runs no code). A cell crop is turned into an image
made exactly as MNIST's were: ink bright, fitted into a 20x20 box keeping its
aspect ratio, centred by centre of mass in 28x28. On a page the line
recogniser reads the same image too, and a digit is read by both
(:func:`agree`): MNIST's American digits have few European 1s or 9s written
like a g, which the line recogniser knows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from scanner.errors import InklockError
from scanner.values import LOW_CONFIDENCE  # the one doubt threshold

MODEL_PATH = Path(__file__).parent.parent / "models" / "digits_mlp.npz"
# Confidence that a cell is empty: high when it holds no dark mark at all, below
# LOW_CONFIDENCE when dark marks were set aside as border remnants or specks.
EMPTY_SURE = 0.95
EMPTY_DOUBTFUL = 0.6
IMPLAUSIBLE_CONFIDENCE = 0.5

_FRAME = 28
_BOX = 20
# A cell counts as empty unless its real ink covers this share of the cell.
_MIN_INK_SHARE = 0.004
# MNIST strokes are about 0.12 of the digit height wide; thinner pen strokes
# are thickened towards that before downscaling so they do not fade away.
_MIN_STROKE_RATIO = 0.07
_TARGET_STROKE_RATIO = 0.10


def fit_to_mnist_frame(ink: np.ndarray) -> np.ndarray | None:
    """Place an ink image (float, ink bright, background 0) into an MNIST frame.

    The ink's bounding box is scaled (anti-aliased) so its longer side is 20 px,
    then shifted so its centre of mass sits at the centre of a 28x28 image: the
    procedure MNIST itself used. Returns float32 in 0..1, or None if no ink.
    """
    ys, xs = np.nonzero(ink > 0.05)
    if len(ys) == 0:
        return None
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    scale = _BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp)
    total = float(small.sum())
    if total <= 0:
        return None
    cy = float((small.sum(axis=1) * np.arange(nh)).sum()) / total
    cx = float((small.sum(axis=0) * np.arange(nw)).sum()) / total
    shift = np.array([[1, 0, (_FRAME - 1) / 2 - cx], [0, 1, (_FRAME - 1) / 2 - cy]], np.float32)
    out = cv2.warpAffine(small, shift, (_FRAME, _FRAME), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.clip(out, 0.0, 1.0)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: twice the area over the perimeter."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / perimeter if perimeter > 0 else 0.0


def _in_edge_band(stats_row: np.ndarray, shape: tuple[int, int], band: float = 0.15) -> bool:
    """True for a component lying wholly within the band along one edge of the crop."""
    x, y, w, h = (int(v) for v in stats_row[:4])
    rows, cols = shape
    return x + w <= band * cols or x >= (1 - band) * cols or y + h <= band * rows or y >= (1 - band) * rows


def _edge_rules(mask: np.ndarray, band: float = 0.15) -> np.ndarray:
    """Pixels of straight rules (at least 60% of the side long) lying in the edge bands.

    These are the printed cell border or a neighbouring rule in a misregistered
    crop. Only the rule's own pixels go, so a digit crossing it keeps its body.
    """
    rows, cols = mask.shape
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(3, int(0.6 * cols))), np.uint8))
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((max(3, int(0.6 * rows)), 1), np.uint8))
    in_band_rows = np.zeros(rows, bool)
    in_band_rows[: int(np.ceil(band * rows))] = in_band_rows[int((1 - band) * rows) :] = True
    in_band_cols = np.zeros(cols, bool)
    in_band_cols[: int(np.ceil(band * cols))] = in_band_cols[int((1 - band) * cols) :] = True
    rules = (horizontal > 0) & in_band_rows[:, None] | (vertical > 0) & in_band_cols[None, :]
    return cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _ink_components(darkness: np.ndarray) -> tuple[np.ndarray, bool]:
    """The mask of real pen ink in a cell, and whether anything doubtful was dropped.

    Hysteresis: a stroke is a connected region clearly darker than paper (22%)
    that either holds pen-dark pixels (45%) or lies away from the cell's edges.
    The printed light-grey border is dark enough for the weak level but not the
    strong one, and it lives at the edges, so it drops out; faint pencil in the
    middle of the cell stays. Specks, and marks in the edge band (a neighbour's
    stroke, a rule of a misregistered crop) are dropped, unless one is the
    biggest mark and long enough to be a digit.
    """
    weak = (darkness > 0.22).astype(np.uint8)
    weak[_edge_rules(weak)] = 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    strong = (darkness > 0.45) & (weak > 0)
    has_strong = np.bincount(labels[strong], minlength=count) > 0
    area_min = max(4, int(0.002 * weak.size))
    candidates = []
    doubtful = False
    for i in range(1, count):
        area = int(stats[i, cv2.CC_STAT_AREA])
        edge = _in_edge_band(stats[i], weak.shape)
        if area < area_min or (edge and not has_strong[i]):
            doubtful |= area >= area_min and has_strong[i]
            continue
        candidates.append((area, i, edge))
    keep = np.zeros(count, dtype=bool)
    biggest = max((c[0] for c in candidates), default=0)
    rows, cols = weak.shape
    for area, i, edge in candidates:
        # In the edge band only a digit of its own counts: the biggest mark, and
        # tall or wide like a "1" written hard against the border.
        tall = stats[i, cv2.CC_STAT_HEIGHT] >= 0.4 * rows or stats[i, cv2.CC_STAT_WIDTH] >= 0.4 * cols
        if edge and (area < biggest or not tall):
            doubtful = True
            continue
        keep[i] = True
    return keep[labels], doubtful


def _normalise(gray: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """normalise_cell, plus whether an empty verdict is doubtful (dark marks were dropped)."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    gray = gray.astype(np.float32)
    rows, cols = gray.shape
    if rows < 8 or cols < 8:
        return None, False
    # Inset a little: the printed border sits at the very edge of the crop.
    inset = max(1, round(0.04 * min(rows, cols)))
    gray = cv2.GaussianBlur(gray[inset : rows - inset, inset : cols - inset], (3, 3), 0)
    paper = float(np.percentile(gray, 80))
    if paper < 60:
        return None, True  # a black crop: nothing sensible to read
    kept, doubtful = _ink_components((paper - gray) / paper)
    if kept.sum() < _MIN_INK_SHARE * kept.size:
        return None, bool(doubtful or kept.any())
    # Keep the anti-aliased edge of the real strokes, nothing else.
    near = cv2.dilate(kept.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    dark = float(np.percentile(gray[kept], 10))
    ink = np.clip((paper - gray) / max(paper - dark, 1.0), 0.0, 1.0) * near
    ys, xs = np.nonzero(kept)
    height = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    width = _stroke_width(kept)
    if width < _MIN_STROKE_RATIO * height:
        grow = int(round((_TARGET_STROKE_RATIO * height - width) / 2))
        if grow > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
            ink = cv2.dilate(ink, kernel)
    return fit_to_mnist_frame(ink), False


def normalise_cell(gray: np.ndarray) -> np.ndarray | None:
    """Turn a grayscale comb-cell crop into a 28x28 MNIST-like image, or None if empty.

    The crop is uint8 (grey or BGR), white paper and dark ink; it may hold
    remnants of the printed light-grey cell border at its edges and scanner
    noise. Ink is what is clearly darker than the local paper level; specks and
    marks hugging the edges are dropped. Returns float32 28x28, ink bright
    (0..1), fitted into a 20x20 box and centred by centre of mass, or None for
    an empty cell.
    """
    return _normalise(gray)[0]


def deskew(image: np.ndarray) -> np.ndarray:
    """Remove the slant of a 28x28 digit using its second-order image moments."""
    m = cv2.moments(image)
    if abs(m["mu02"]) < 1e-2:
        return image.copy()
    skew = m["mu11"] / m["mu02"]
    centre = (_FRAME - 1) / 2
    warp = np.array([[1, skew, -skew * centre], [0, 1, 0]], np.float32)
    return cv2.warpAffine(
        image, warp, (_FRAME, _FRAME), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR, borderValue=0
    )


def features(images: np.ndarray) -> np.ndarray:
    """Model input for a stack of 28x28 MNIST-like images: deskewed pixels, flattened."""
    stack = np.asarray(images, dtype=np.float32).reshape(-1, _FRAME, _FRAME)
    return np.stack([deskew(im) for im in stack]).reshape(len(stack), -1)


# Test-time variants: the digit, nudged one pixel each way and turned 8 degrees.
# A digit the network reads differently under such nudges is genuinely doubtful,
# which is what makes wrong readings come out with low confidence.
_NUDGES = [(0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, -8), (0, 0, 8)]


def variants(images: np.ndarray) -> list[np.ndarray]:
    """The stack of images plus slightly shifted and rotated copies (test-time augmentation)."""
    stack = np.asarray(images, dtype=np.float32).reshape(-1, _FRAME, _FRAME)
    centre = ((_FRAME - 1) / 2, (_FRAME - 1) / 2)
    out = []
    for dx, dy, angle in _NUDGES:
        warp = cv2.getRotationMatrix2D(centre, angle, 1.0)
        warp[:, 2] += (dx, dy)
        out.append(np.stack([cv2.warpAffine(im, warp, (_FRAME, _FRAME), borderValue=0) for im in stack]))
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class MlpModel:
    """Multilayer perceptrons (ReLU hidden layers, softmax out) stored as numpy arrays.

    The .npz holds ``mean`` and ``scale`` (input standardisation), ``members``
    (how many networks), per network ``m{k}_W{i}``, ``m{k}_b{i}`` per layer, and
    ``temperature``, fitted on validation digits so that the averaged softmax
    is a calibrated probability.
    """

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.mean = arrays["mean"].astype(np.float32)
        self.scale = arrays["scale"].astype(np.float32)
        self.temperature = float(arrays["temperature"])
        self.members: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for m in range(int(arrays["members"])):
            layers = []
            i = 0
            while f"m{m}_W{i}" in arrays:
                layers.append((arrays[f"m{m}_W{i}"].astype(np.float32), arrays[f"m{m}_b{i}"].astype(np.float32)))
                i += 1
            self.members.append(layers)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> MlpModel:
        """Load weights from an .npz file (no pickle allowed)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls({k: data[k] for k in data.files})
        except (OSError, KeyError, ValueError) as err:
            raise InklockError(f"The digit model {path} is missing or damaged; reinstall Inklock.") from err

    def member_logits(self, x: np.ndarray) -> np.ndarray:
        """Pre-softmax outputs, shape (members, rows, 10), for feature rows ``x``."""
        z = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        outs = []
        for layers in self.members:
            h = z
            for i, (w, b) in enumerate(layers):
                h = h @ w + b
                if i < len(layers) - 1:
                    h = np.maximum(h, 0.0)
            outs.append(h)
        return np.stack(outs)

    def image_logits(self, images: np.ndarray) -> np.ndarray:
        """Logits for every test-time variant and member: (variants, members, n, 10)."""
        return np.stack([self.member_logits(features(v)) for v in variants(images)])

    def proba_from_logits(self, logits: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Average of the tempered softmaxes over variants and members: (n, 10)."""
        t = self.temperature if temperature is None else temperature
        return softmax(logits / t).mean(axis=(0, 1))

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (rows sum to 1) for 28x28 MNIST-like images."""
        return self.proba_from_logits(self.image_logits(images))


class DigitReader:
    """Reads comb cells one digit each; the model is loaded once per reader.

    ``second``, when given, is a second reader of the same 28x28 images (the
    line recogniser, :meth:`scanner.ingest.linerec.LineReader.digit_probabilities`):
    see :func:`agree`.
    """

    def __init__(self, model_path: Path = MODEL_PATH,
                 second: Callable[[np.ndarray], np.ndarray] | None = None):
        self.model = MlpModel.load(model_path)
        self.second = second

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Scores (n, 10) for a stack of normalised 28x28 images: the digit read is the highest, its confidence that score."""
        proba = self.model.predict_proba(images)
        if self.second is None or not len(images):
            return proba
        return agree(proba, self.second(images))

    def read_cell(self, gray: np.ndarray) -> tuple[str | None, float]:
        """Read one cell: (digit, confidence), or (None, confidence it is empty)."""
        image, doubtful = _normalise(gray)
        if image is None:
            return None, EMPTY_DOUBTFUL if doubtful else EMPTY_SURE
        proba = self.classify(image[None])[0]
        best = int(np.argmax(proba))
        return str(best), float(proba[best])

    def read_cells(self, cells: list[np.ndarray], value_range: tuple[int, int] | None = None) -> tuple[str, float, list[str]]:
        """Read a comb: (text, confidence, flags).

        Text joins the digits read, skipping empty cells ("" if all are empty).
        Confidence is the lowest cell confidence, the chance that the weakest
        cell (digit or emptiness) is read right. Flags:
        ``empty_cell`` when some but not all cells are empty (a digit may be
        missing), ``low_confidence`` when confidence is below 0.8.

        ``value_range`` (lo, hi): when every cell holds a digit and the most
        likely digits make a number outside it, the most likely number inside
        it is read instead (a PHQ-9 total read "44" becomes "14" when the first
        cell was nearly as likely a 1), flagged ``range_corrected`` and
        ``low_confidence`` with confidence at most 0.5: a guess the clinician
        confirms.
        """
        normalised = [_normalise(c) for c in cells]
        present = [image for image, _ in normalised if image is not None]
        confs = [EMPTY_DOUBTFUL if doubtful else EMPTY_SURE for image, doubtful in normalised if image is None]
        text = ""
        flags = []
        if present:
            proba = self.classify(np.stack(present))
            text = "".join(str(d) for d in np.argmax(proba, axis=1))
            confs.extend(proba.max(axis=1))
            if value_range and len(present) == len(cells) and not check_range(text, *value_range):
                fixed = most_likely_in_range(proba, *value_range)
                if fixed is not None:
                    text = fixed
                    flags.append("range_corrected")
                    confs.append(IMPLAUSIBLE_CONFIDENCE)
        confidence = float(min(confs)) if confs else EMPTY_SURE
        if present and len(present) < len(cells):
            flags.append("empty_cell")
        if confidence < LOW_CONFIDENCE:
            flags.append("low_confidence")
        return text, confidence, flags


# Ranges larger than this are not searched value by value (a 6-cell number has a million).
MAX_RANGE_SEARCH = 10_000


def agree(mlp: np.ndarray, net: np.ndarray) -> np.ndarray:
    """Two readers' probabilities (n, 10) made one: the digit both find likeliest, as sure as the less sure of them.

    The digit read is the one with the highest ``mlp^(2/3) * net^(1/3)`` (the
    multilayer perceptron, calibrated on MNIST, counts twice); its confidence is
    the lower of the two readers' probabilities for it, so a digit is sure only
    when both are sure of it. Returned as that product scaled per row so that the
    digit read scores its confidence: the order of a row (what ``argmax`` and
    :func:`most_likely_in_range` use) is the product's. Chosen on MNIST's
    validation digits (``tools/train_digits.py``'s split; README, issue 12j).
    """
    rows = np.arange(len(mlp))
    product = mlp ** (2 / 3) * net ** (1 / 3)
    best = product.argmax(axis=1)
    sure = np.minimum(mlp[rows, best], net[rows, best])
    return product * (sure / np.maximum(product[rows, best], 1e-12))[:, None]


def most_likely_in_range(proba: np.ndarray, lo: int, hi: int) -> str | None:
    """The zero-padded number in [lo, hi] whose digits are jointly most likely under ``proba`` (cells x 10)."""
    cells = proba.shape[0]
    lo, hi = max(lo, 0), min(hi, 10 ** cells - 1)
    if hi < lo or hi - lo + 1 > MAX_RANGE_SEARCH:
        return None
    values = np.arange(lo, hi + 1)
    digits = (values[:, None] // 10 ** np.arange(cells - 1, -1, -1)[None, :]) % 10
    log_p = np.log(np.clip(proba, 1e-12, 1.0))
    scores = log_p[np.arange(cells)[None, :], digits].sum(axis=1)
    return str(int(values[int(np.argmax(scores))])).zfill(cells)


def check_range(text: str, lo: int, hi: int) -> bool:
    """True if ``text`` is all digits and its value lies in [lo, hi]."""
    return text.isdigit() and lo <= int(text) <= hi


def check_date(text: str, order: str = "MMDDYY") -> bool:
    """True if ``text`` (digits only, e.g. "031524") is a real calendar date in ``order``.

    ``order`` is made of MM, DD and YY or YYYY, e.g. "MMDDYY", "DDMMYYYY".
    """
    if not text.isdigit() or len(text) != len(order):
        return False
    parts = {}
    i = 0
    while i < len(order):
        key = order[i : i + 4] if order[i : i + 4] == "YYYY" else order[i : i + 2]
        parts[key] = int(text[i : i + len(key)])
        i += len(key)
    year = parts.get("YYYY", 2000 + parts.get("YY", 0))
    try:
        datetime.date(year, parts.get("MM", 1), parts.get("DD", 1))
    except ValueError:
        return False
    return True


def lower_if_implausible(confidence: float, plausible: bool) -> float:
    """The confidence of a value after its range or date check: at most 0.5 if it failed.

    An impossible value (month 13, a mood of 14 on a 0-10 scale) means at least
    one digit is misread, whatever the network's confidence.
    """
    return confidence if plausible else min(confidence, IMPLAUSIBLE_CONFIDENCE)

"""A field's crop as words: the one cut and the vectors made from it.

Pure (an image in, words or vectors out; no vault), so the page worker
(:mod:`scanner.ingest.read`) cuts each unconfirmed line/text field here and the
writer stores the vectors with the page, while learning, suggestions and the
``inklock reindex`` repair (:mod:`scanner.hand.exemplars`) cut stored crops
the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

from scanner import pixels
from scanner.errors import InklockError
from scanner.hand import wordfeatures, wordsplit
from scanner.values import HAND_KINDS

LEARN_KINDS = HAND_KINDS  # the kinds written in words (scanner.values)
# What cutting and describing a crop may raise (a damaged image, a missing word basis).
CUT_ERRORS: tuple[type[BaseException], ...] = (InklockError, cv2.error, ValueError, ArithmeticError, OSError)

_WORD_EDGE = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)


def normalise(word: str) -> str:
    """The form words are compared in: no surrounding punctuation, case folded."""
    return _WORD_EDGE.sub("", word).casefold()


def crop_line_boxes(kind: str, bbox: Sequence[float], lines: Sequence[Sequence[float]] | None) -> list[pixels.Box] | None:
    """The ruled lines of a text field in its stored crop (None for a line field: its ink finds the line)."""
    return pixels.line_boxes(bbox, lines, pixels.CROP_MARGIN_PT) if kind == "text" else None


def draft_words(gray: np.ndarray, text: str, line_boxes: list[pixels.Box] | None = None) -> list[wordsplit.Word]:
    """Word images of an unconfirmed field: as many as its draft ``text`` has words when that cut is clear."""
    if gray.size == 0 or min(gray.shape[:2]) < 4:
        return []  # too small to hold a word
    tokens = text.split()
    lines = wordsplit.ink_lines(gray, line_boxes)  # cleaned once for both tries
    words = wordsplit.cut_words(lines, count=len(tokens)) if tokens else None
    if words is None:
        words = wordsplit.cut_words(lines, count=None)
    return words or []


def vectors(words: list[wordsplit.Word]) -> np.ndarray:
    """Draft vectors of word images, one row each (float16, ``(len(words), dims())``)."""
    if not words:
        return np.zeros((0, dims()), np.float16)
    return np.concatenate([wordfeatures.embed(w.image, with_turns=False) for w in words]).astype(np.float16)


def draft_vectors(gray: np.ndarray, text: str, line_boxes: list[pixels.Box] | None = None) -> np.ndarray:
    """The vectors search by hand looks through, for one unconfirmed field's crop."""
    return vectors(draft_words(gray, text, line_boxes))


def dims() -> int:
    """Length of one word vector (the generic basis's)."""
    return int(wordfeatures.basis()[1].shape[0])

"""What a word image looks like, as a vector: HOG at two cell sizes on a size-normalised word.

A word image (ink coverage 0..1, see :mod:`scanner.hand.wordsplit`) is stretched to
a fixed 48 x 160 box, described by the square root of OpenCV's HOG with 8 and
16 pixel cells (each part unit length), and projected onto a generic basis of
handwriting shapes (``scanner/models/word_basis.npz``: PCA of the same
descriptor over synthetic handwriting from Debian's fonts, built by
``tools/train_word_basis.py``; no real person's writing went into it). The
vault then adapts this space to its own writer (``scanner.hand.exemplars``).

Learning adds slightly rotated copies of each confirmed word, because the
same person's words lean a little differently from day to day.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from scanner.errors import VaultDamaged

HEIGHT, WIDTH = 48, 160
CELLS = (8, 16)
# Rotations (degrees) of the copies learned beside each confirmed word and
# tried for each word looked up.
TURNS = (-3.0, 3.0)
BASIS_FILE = "word_basis.npz"


@lru_cache(maxsize=len(CELLS))
def _hog(cell: int) -> cv2.HOGDescriptor:
    return cv2.HOGDescriptor((WIDTH, HEIGHT), (2 * cell, 2 * cell), (cell, cell), (cell, cell), 9)


def describe(image: np.ndarray) -> np.ndarray:
    """The raw descriptor (float32) of one word image (ink coverage 0..1)."""
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        image = np.zeros((HEIGHT, WIDTH), np.float32)
        h, w = image.shape
    interp = cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR
    fixed = cv2.resize(image.astype(np.float32), (WIDTH, HEIGHT), interpolation=interp)
    u8 = np.clip(fixed * 255.0, 0, 255).astype(np.uint8)
    parts = []
    for cell in CELLS:
        v = np.sqrt(np.maximum(np.asarray(_hog(cell).compute(u8)).ravel(), 0.0))  # Hellinger: tames strong edges
        parts.append(v / (np.linalg.norm(v) + 1e-6))
    return np.concatenate(parts).astype(np.float32)


def _tight(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image > 0.2)
    if not len(xs):
        return image
    return image[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """The word rotated about its centre, cropped to its ink again."""
    h = image.shape[0]
    pad = int(h * 0.6) + 4
    big = cv2.copyMakeBorder(image.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    m = cv2.getRotationMatrix2D((big.shape[1] / 2.0, big.shape[0] / 2.0), degrees, 1.0)
    return _tight(cv2.warpAffine(big, m, (big.shape[1], big.shape[0]), flags=cv2.INTER_LINEAR))


@lru_cache(maxsize=1)
def basis() -> tuple[np.ndarray, np.ndarray]:
    """(mean, components) of the generic basis: descriptor -> ``DIMS`` numbers."""
    try:
        with resources.files("scanner").joinpath("models", BASIS_FILE).open("rb") as fh:
            data = np.load(fh)
            return data["mean"].astype(np.float32), data["components"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise VaultDamaged(f"Inklock's word model ({BASIS_FILE}) is missing or damaged; reinstall Inklock.") from exc


def project(descriptors: np.ndarray) -> np.ndarray:
    """Raw descriptors (n x D) onto the generic basis (n x DIMS, float32)."""
    mean, comps = basis()
    return (np.atleast_2d(descriptors) - mean) @ comps.T


def embed(image: np.ndarray, *, with_turns: bool) -> np.ndarray:
    """Vectors (float16) of a word image: itself, then its turned copies if asked."""
    images = [image] + ([turned(image, t) for t in TURNS] if with_turns else [])
    return project(np.stack([describe(i) for i in images])).astype(np.float16)

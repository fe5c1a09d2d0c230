"""Build the generic word-shape basis ``scanner/models/word_basis.npz``.

Synthetic handwriting only: words from ``scanner/data/words.txt`` written by
random writers with Debian's handwriting fonts (``tests/synth``), cut out by
``scanner.hand.wordsplit`` and described by ``scanner.hand.wordfeatures.describe``; the
basis is their principal components. No real person's handwriting is used
(``../shared/handwriting-dev`` is for measuring only).

    python -m tools.train_word_basis [--words 6000] [--dims 256] [--out scanner/models/word_basis.npz]

Deterministic for a seed on a given machine's fonts and libraries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from scanner.hand import wordfeatures  # noqa: E402
from scanner.hand import wordsplit  # noqa: E402
from tools.synth.handwriting import random_writer, write_line  # noqa: E402


def synthetic_words(count: int, seed: int) -> list[np.ndarray]:
    """Word images (ink coverage) of random dictionary words in random synthetic hands."""
    rng = np.random.default_rng(seed)
    text = (ROOT / "scanner" / "data" / "words.txt").read_text(encoding="utf-8")
    vocab = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    out: list[np.ndarray] = []
    while len(out) < count:
        writer = random_writer(rng)
        word = vocab[int(rng.integers(len(vocab)))]
        if rng.random() < 0.3:
            word = word.capitalize()
        h = int(rng.integers(36, 72))
        w = int(h * 0.8 * len(word) + 60)
        canvas = np.full((h + 20, w), int(rng.integers(235, 252)), np.uint8)
        write_line(canvas, word, (10, 10, w - 10, h + 10), writer, rng)
        words = wordsplit.split_words(canvas, count=1)
        if words:
            out.append(words[0].image)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=6000)
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--out", type=Path, default=ROOT / "scanner" / "models" / wordfeatures.BASIS_FILE)
    args = ap.parse_args(argv)
    images = synthetic_words(args.words, args.seed)
    x = np.stack([wordfeatures.describe(i) for i in images]).astype(np.float64)
    mean = x.mean(axis=0)
    _u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[: args.dims]
    kept = float((s[: args.dims] ** 2).sum() / (s ** 2).sum())
    np.savez_compressed(args.out, mean=mean.astype(np.float32), components=comps.astype(np.float16),
                        words=np.int32(len(images)), seed=np.int32(args.seed))
    print(f"{args.out}: {len(images)} synthetic words, {x.shape[1]} -> {args.dims} dims, {kept:.1%} of variance kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())

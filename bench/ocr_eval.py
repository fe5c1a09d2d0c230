"""OCR benchmark for ``line``/``text`` fields: accuracy, honesty of confidence, speed.

    .venv/bin/python -m bench.ocr_eval [--small] [--binarize] [--no-real] [--tesseract-only] [--fit]

(a) synthetic lines: clinical phrases rendered in Debian's handwriting fonts on a
line-field crop with a light grey guide line and scan noise (target CER <= 12%);
(b) real handwriting from ../shared/handwriting-dev (names: hand-printed capitals,
gw-words: cursive), when that folder exists. Prints character error rate (CER),
word accuracy and exact-line accuracy with and without dictionary
post-correction, the confidence-honesty figures and milliseconds per line.
``--fit`` prints isotonic-regression calibration points for ``scanner/ocr.py``.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from scanner.ocr import LOW_CONFIDENCE, PSM_SINGLE_LINE, OcrEngine, OcrResult, mean_word_confidence, postcorrect

HANDWRITING_DEV = Path(__file__).resolve().parents[2] / "shared" / "handwriting-dev"

# Fonts that draw capitals for lower-case letters: their reference is upper case.
CAPS_ONLY = {"Because We Learn", "Humor Sans"}

# One face per Debian handwriting-font package (fc-list family names).
FONT_FAMILIES = [
    "DkgHandwriting",
    "Breip",
    "Because We Learn",
    "femkeklaver",
    "Humor Sans",
    "Steve",
    "Dancing Script",
    "Kristi",
    "Rufscript",
    "Comic Neue",
]

PHRASES = [
    "pt reports better sleep this week",
    "denies SI and HI",
    "f/u in 2 wks",
    "client tearful when discussing mother",
    "practised grounding skills in session",
    "HW: thought record daily",
    "anxiety about work deadlines",
    "mood low but stable",
    "discussed boundaries with partner",
    "CBT for panic symptoms",
    "continue DBT skills group",
    "sleep 5 hrs per night",
    "appetite improved since last visit",
    "MI around alcohol use",
    "hx of trauma in childhood",
    "no AVH reported",
    "plan to call sister on Sunday",
    "reviewed safety plan together",
    "worried about job interview",
    "affect congruent with mood",
    "progress on exposure hierarchy",
    "cl engaged and open today",
    "tx plan updated with client",
    "grief after loss of father",
    "insight improving slowly",
    "next appt Tuesday 3pm",
    "walked 20 minutes three times",
    "conflict with roommate again",
    "uses breathing when anxious",
    "reports fewer nightmares",
    "felt calmer after journaling",
    "avoidance of crowded places",
    "good rapport this session",
    "medication helps with focus",
    "irritable with children at home",
    "practice mindfulness each morning",
    "school refusal two days",
    "relapse prevention plan",
    "supportive family present",
    "homework not completed",
]


@dataclass
class Item:
    ref: str
    raw: str
    text: str
    mean_conf: float
    known: bool
    confidence: float
    ms: float
    reader: str = "tesseract"
    agreed: bool = False


def font_files() -> dict[str, str]:
    """Family name -> font file, found with fc-list (missing families are skipped)."""
    found = {}
    for family in FONT_FAMILIES:
        out = subprocess.run(["fc-list", f":family={family}", "file", "style"], capture_output=True, text=True).stdout
        files = sorted(line.split(":")[0] for line in out.splitlines() if line.strip())
        regular = [f for f in files if "Regular" in f or "Bold" not in f and "Italic" not in f]
        if files:
            found[family] = (regular or files)[0]
    return found


def render_line(text: str, font_path: str, rng: random.Random) -> np.ndarray:
    """A line-field crop as a scanner would give it: guide line, pen, noise, skew."""
    size = rng.randint(40, 56)  # x-height about 2.5 mm at 300 dpi
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    w = max(right + 60, 600)
    h = int(size * 2.3)
    baseline = int(h * 0.72)
    image = Image.new("L", (w, h), rng.randint(235, 252))
    draw = ImageDraw.Draw(image)
    draw.line([(0, baseline + 4), (w, baseline + 4)], fill=rng.randint(170, 205), width=2)
    ascent = font.getmetrics()[0]
    draw.text((30 + rng.randint(-10, 10), baseline - ascent + rng.randint(-3, 3)), text, font=font, fill=rng.randint(15, 70))
    image = image.rotate(rng.uniform(-1.2, 1.2), resample=Image.BILINEAR, fillcolor=245)
    arr = np.asarray(image).astype(np.float32)
    arr = cv2.GaussianBlur(arr, (3, 3), rng.uniform(0.3, 0.9))
    arr += np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, arr.shape)
    for _ in range(rng.randint(0, 4)):  # dust specks
        cv2.circle(arr, (rng.randrange(w), rng.randrange(h)), 1, rng.randint(60, 140), -1)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _read_plain(engine: OcrEngine, gray: np.ndarray) -> OcrResult:
    """Tesseract on the crop as scanned, no cleaning: the baseline to beat."""
    text, words = engine._recognise(gray, PSM_SINGLE_LINE)
    return engine._finish(" ".join(text.split()), words)


def run(engine: OcrEngine, samples, plain: bool = False) -> list[Item]:
    items = []
    for ref, gray in samples:
        t0 = time.perf_counter()
        r = _read_plain(engine, gray) if plain else engine.read_line(gray)
        ms = (time.perf_counter() - t0) * 1000
        mean = mean_word_confidence(r.words)
        known = bool(r.raw_text) and postcorrect(r.raw_text, engine.shorthand)[2] == 0
        items.append(Item(ref, r.raw_text, r.text, mean, known, r.confidence, ms, r.reader, r.agreed))
    return items


def _word_hits(ref: str, hyp: str) -> tuple[int, int]:
    """(reference words read exactly, reference words) after aligning the two."""
    r, h = ref.split(), hyp.split()
    missed = sum(op.tag in ("replace", "delete") for op in Levenshtein.editops(r, h))
    return len(r) - missed, len(r)


def summarise(name: str, items: list[Item]) -> dict[str, float]:
    """Print one row per post-correction setting; return the corrected figures."""
    figures = {}
    for label, pick in (("raw", lambda i: i.raw), ("corrected", lambda i: i.text)):
        chars = sum(len(i.ref) for i in items) or 1
        cer = sum(Levenshtein.distance(i.ref, pick(i)) for i in items) / chars
        hits = [_word_hits(i.ref, pick(i)) for i in items]
        wacc = sum(k for k, _ in hits) / max(1, sum(n for _, n in hits))
        exact = sum(i.ref == pick(i) for i in items) / max(1, len(items))
        print(f"  {name:<22} {label:<9} n={len(items):<5} CER={cer:.3f}  word-acc={wacc:.3f}  exact={exact:.3f}")
        figures = {"cer": cer, "wacc": wacc, "exact": exact}
    wrong = [i for i in items if i.text != i.ref]
    right = [i for i in items if i.text == i.ref]
    flagged = sum(i.confidence < LOW_CONFIDENCE for i in wrong) / max(1, len(wrong))
    trusted = sum(i.confidence >= LOW_CONFIDENCE for i in right) / max(1, len(right))
    ms = float(np.median([i.ms for i in items])) if items else 0.0
    print(
        f"  {'':<22} honesty: wrong flagged={flagged:.3f} (of {len(wrong)})  "
        f"right kept >= {LOW_CONFIDENCE}={trusted:.3f} (of {len(right)})  median {ms:.0f} ms/line"
    )
    return figures


def synthetic_samples(per_font: int, seed: int = 7):
    rng = random.Random(seed)
    by_font = {}
    for family, path in font_files().items():
        phrases = rng.sample(PHRASES, min(per_font, len(PHRASES)))
        refs = [p.upper() if family in CAPS_ONLY else p for p in phrases]
        by_font[family] = [(r, render_line(p, path, rng)) for r, p in zip(refs, phrases)]
    return by_font


def real_samples(tsv: str, limit: int | None):
    path = HANDWRITING_DEV / tsv
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    for rel, ref in rows:
        gray = cv2.imread(str(HANDWRITING_DEV / rel), cv2.IMREAD_GRAYSCALE)
        if gray is not None:
            yield ref.strip(), gray


def fit(items: list[Item]) -> None:
    """Print monotone calibration points (mean confidence -> P(line exactly right))."""
    from sklearn.isotonic import IsotonicRegression

    groups = [(f"agreed", [i for i in items if i.agreed])]
    for reader in sorted({i.reader for i in items}):
        for known in (True, False):
            groups.append((f"{reader} known={known}", [i for i in items if not i.agreed and i.reader == reader
                                                       and i.known == known]))
    for name, sel in groups:
        if len(sel) < 10:
            continue
        x = np.array([i.mean_conf for i in sel])
        y = np.array([i.text == i.ref for i in sel], dtype=float)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        grid = [0, 50, 70, 80, 85, 90, 93, 95, 97, 100]
        pts = ", ".join(f"({g}, {iso.predict([g])[0]:.2f})" for g in grid)
        print(f"  {name} n={len(sel)} right={y.mean():.2f}: {pts}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a quick subset")
    ap.add_argument("--binarize", action="store_true", help="feed Tesseract a binary image")
    ap.add_argument("--plain", action="store_true", help="baseline: no guide removal, cropping or scaling")
    ap.add_argument("--no-real", action="store_true", help="skip ../shared/handwriting-dev")
    ap.add_argument("--tesseract-only", action="store_true", help="without the second reader (scanner/linerec.py)")
    ap.add_argument("--fit", action="store_true", help="print calibration points")
    args = ap.parse_args(argv)

    from scanner.linerec import MODEL_NAME

    engine = OcrEngine(binarize=args.binarize, second_reader=not args.tesseract_only)
    second = "off" if args.tesseract_only else MODEL_NAME
    print(f"OCR benchmark (Tesseract {engine.version()}, second reader {second}, binarize={args.binarize}, "
          f"plain={args.plain})")
    everything: list[Item] = []
    synth: list[Item] = []
    print("(a) synthetic handwriting-font lines")
    for family, samples in synthetic_samples(4 if args.small else 12).items():
        items = run(engine, samples, args.plain)
        summarise(family, items)
        synth += items
    print("  --")
    figures = summarise("all fonts", synth)
    print(f"  target CER <= 0.12: {'met' if figures['cer'] <= 0.12 else 'NOT met'}")
    everything += synth
    if not args.no_real and HANDWRITING_DEV.is_dir():
        print("(b) real handwriting (../shared/handwriting-dev)")
        for tsv, baseline in (("names.tsv", 0.81), ("gw-words.tsv", 0.94)):
            items = run(engine, real_samples(tsv, 150 if args.small else None), args.plain)
            summarise(f"{tsv} (base {baseline})", items)
            everything += items
        print("  --")
        summarise("all real", everything[len(synth):])
    if args.fit:
        for name, items in (("font lines", synth), ("real handwriting", everything[len(synth):]), ("all", everything)):
            print(f"calibration fit (isotonic), {name}")
            fit(items)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""OCR benchmark for ``line``/``text`` fields: accuracy, honesty of confidence, speed.

    .venv/bin/python -m bench.ocr_eval [--small] [--no-real] [--reader tesseract] [--line-image ink]
                                       [--max-log-ratio X] [--fit]

(a) real handwriting from ../shared/handwriting-dev (names: hand-printed
capitals, gw-words: cursive), when that folder exists. Each image goes to one
of two halves by a hash of its file name: the "fit" half may tune (``--fit``
prints isotonic calibration points for ``scanner/ocr.py`` from it), the
"measure" half is what every figure is reported on, so nothing is fitted and
measured on the same images. (b) synthetic lines: clinical phrases rendered in
Debian's handwriting fonts on a line-field crop with a light grey guide line
and scan noise. Prints character error rate (CER, case-sensitive), word
accuracy and exact-line accuracy before and after post-correction, the
confidence-honesty figures and milliseconds per line, each beside its target.
"""

from __future__ import annotations

import typing
import argparse
import hashlib
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from scanner.ingest.ocr import LINE_IMAGES, LINE_READER, LOW_CONFIDENCE, PSM_SINGLE_LINE, TESSERACT, OcrEngine, OcrResult

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
    w = int(max(right + 60, 600))
    h = int(size * 2.3)
    baseline = int(h * 0.72)
    image = Image.new("L", (w, h), rng.randint(235, 252))
    draw = ImageDraw.Draw(image)
    draw.line([(0, baseline + 4), (w, baseline + 4)], fill=rng.randint(170, 205), width=2)
    ascent = font.getmetrics()[0]
    draw.text((30 + rng.randint(-10, 10), baseline - ascent + rng.randint(-3, 3)), text, font=font, fill=rng.randint(15, 70))
    image = image.rotate(rng.uniform(-1.2, 1.2), resample=Image.Resampling.BILINEAR, fillcolor=245)
    arr: typing.Any = np.asarray(image).astype(np.float32)
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
        mean = r.score
        known = bool(r.text) and _all_known(engine, r.text)
        items.append(Item(ref, r.raw_text, r.text, mean, known, r.confidence, ms, r.reader, r.agreed))
    return items


def _all_known(engine: OcrEngine, text: str) -> bool:
    from scanner.ingest.words import _EDGE, _is_protected, vocabulary

    for token in text.split():
        m = _EDGE.match(token)
        core = m.group(2) if m else token
        if not _is_protected(core, engine.shorthand) and core.lower() not in vocabulary():
            return False
    return True


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
        print(f"  {name:<26} {label:<9} n={len(items):<5} CER={cer:.3f}  word-acc={wacc:.3f}  exact={exact:.3f}")
        figures = {"cer": cer, "wacc": wacc, "exact": exact}
    wrong = [i for i in items if i.text != i.ref]
    right = [i for i in items if i.text == i.ref]
    flagged = sum(i.confidence < LOW_CONFIDENCE for i in wrong) / max(1, len(wrong))
    trusted = sum(i.confidence >= LOW_CONFIDENCE for i in right) / max(1, len(right))
    ms = float(np.median([i.ms for i in items])) if items else 0.0
    print(
        f"  {'':<26} honesty: wrong below {LOW_CONFIDENCE}={flagged:.3f} (of {len(wrong)}, target >= 0.95)  "
        f"right at >= {LOW_CONFIDENCE}={trusted:.3f} (of {len(right)}, target >= 0.60)  median {ms:.0f} ms/line"
    )
    spoiled = sum(i.raw == i.ref and i.text != i.ref for i in items)
    mended = sum(i.raw != i.ref and i.text == i.ref for i in items)
    print(f"  {'':<26} post-correction: {mended} wrong readings made right, {spoiled} right readings made wrong")
    figures.update(flagged=flagged, trusted=trusted)
    return figures


def in_fit_half(rel: str) -> bool:
    """Which half of the real handwriting an image belongs to (a hash of its name): fit or measure."""
    return hashlib.sha256(rel.encode("utf-8")).digest()[0] % 2 == 0


def synthetic_samples(per_font: int, seed: int = 7):
    rng = random.Random(seed)
    by_font = {}
    for family, path in font_files().items():
        phrases = rng.sample(PHRASES, min(per_font, len(PHRASES)))
        refs = [p.upper() if family in CAPS_ONLY else p for p in phrases]
        by_font[family] = [(r, render_line(p, path, rng)) for r, p in zip(refs, phrases)]
    return by_font


def real_samples(tsv: str, limit: int | None, half: str = "measure"):
    """(reference, image) of one half of a dev set ("fit" or "measure"), every n-th when ``limit``."""
    path = HANDWRITING_DEV / tsv
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    rows = [r for r in rows if in_fit_half(r[0]) == (half == "fit")]
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    for rel, ref in rows:
        gray = cv2.imread(str(HANDWRITING_DEV / rel), cv2.IMREAD_GRAYSCALE)
        if gray is not None:
            yield ref.strip(), gray


def fit(items: list[Item]) -> None:
    """Print monotone calibration points (the reader's score -> P(line exactly right))."""
    from sklearn.isotonic import IsotonicRegression

    for known in (True, False):
        sel = [i for i in items if i.known == known]
        if len(sel) < 10:
            continue
        x = np.array([i.mean_conf for i in sel])
        y = np.array([i.text == i.ref for i in sel], dtype=float)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        grid = [0, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 93, 95, 97, 98, 99, 100]
        pts = ", ".join(f"({g}, {iso.predict([g])[0]:.2f})" for g in grid)
        print(f"  known={known} n={len(sel)} right={y.mean():.2f}: {pts}")


REAL_SETS = (("names.tsv", "capitals", 0.15), ("gw-words.tsv", "cursive", 0.10))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a quick subset")
    ap.add_argument("--reader", choices=(LINE_READER, TESSERACT), default=LINE_READER,
                    help="the line reader (tesseract: as Inklock read lines before PP-OCRv6)")
    ap.add_argument("--line-image", choices=LINE_IMAGES, default="scan", help="how a line is cut for the recogniser")
    ap.add_argument("--max-log-ratio", type=float, default=None, help="CTC vocabulary correction threshold")
    ap.add_argument("--binarize", action="store_true", help="feed Tesseract a binary image")
    ap.add_argument("--plain", action="store_true", help="Tesseract baseline: no guide removal, cropping or scaling")
    ap.add_argument("--no-real", action="store_true", help="skip ../shared/handwriting-dev")
    ap.add_argument("--per-set", type=int, default=None, help="images per real set and half (default 150, small 60)")
    ap.add_argument("--half", choices=("measure", "fit"), default="measure",
                    help="which half of the real handwriting to report on (design choices are made on fit)")
    ap.add_argument("--fit", action="store_true", help="also read the fit half and print calibration points from it")
    args = ap.parse_args(argv)

    from scanner.ingest.linerec import MODEL_NAME

    engine = OcrEngine(binarize=args.binarize, reader=args.reader, line_image=args.line_image,
                       max_log_ratio=args.max_log_ratio)
    name = MODEL_NAME if args.reader == LINE_READER else f"Tesseract {engine.version()}"
    print(f"OCR benchmark (lines read by {name}, line image {args.line_image}, CER case-sensitive)")
    per_set = args.per_set or (60 if args.small else 150)
    real: list[Item] = []
    fit_items: list[Item] = []
    if not args.no_real and HANDWRITING_DEV.is_dir():
        print(f"(a) real handwriting (../shared/handwriting-dev), {args.half} half, {per_set} per set")
        for tsv, what, target in REAL_SETS:
            items = run(engine, real_samples(tsv, per_set, args.half), args.plain)
            figures = summarise(f"{what} ({tsv})", items)
            print(f"  {'':<26} target CER <= {target}: {'met' if figures['cer'] <= target else 'NOT met'}")
            if tsv == "names.tsv":
                # Some of these crops include a printed form label ("NOM :", "PRENOM :"), which
                # Inklock's own field crops never do: shown apart, as a diagnostic only.
                labelled = [i for i in items if re.search(r"NOM|:", i.raw) and not re.search(r"NOM|:", i.ref)]
                rest = [i for i in items if i not in labelled]
                lcer = sum(Levenshtein.distance(i.ref, i.text) for i in rest) / max(1, sum(len(i.ref) for i in rest))
                print(f"  {'':<26} diagnostic: {len(labelled)} crops had a printed label read; "
                      f"CER on the other {len(rest)} = {lcer:.3f}")
            real += items
            if args.fit:
                fit_items += run(engine, real_samples(tsv, per_set, "fit"), args.plain)
        print("  --")
        summarise(f"all real ({args.half} half)", real)
    else:
        print("(a) real handwriting: ../shared/handwriting-dev not found, skipped")
    synth: list[Item] = []
    print("(b) synthetic handwriting-font lines")
    by_font = {}
    for family, samples in synthetic_samples(4 if args.small else 8).items():
        items = run(engine, samples, args.plain)
        by_font[family] = summarise(family, items)["cer"]
        synth += items
    print("  --")
    figures = summarise("all fonts", synth)
    print(f"  target CER <= 0.04 over all fonts: {'met' if figures['cer'] <= 0.04 else 'NOT met'}; "
          f"worst font {max(by_font.values()):.3f} ({max(by_font, key=lambda k: by_font[k])}), target <= 0.10")
    if real:
        summarise(f"beside: all real ({args.half})", real)
    if args.fit and fit_items:
        print("calibration fit (isotonic) on the fit half of the real handwriting")
        fit(fit_items)
        print("calibration fit (isotonic) on the fit half of the real handwriting and the font lines")
        fit(fit_items + synth)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real handwriting through the whole pipeline: what a clinician meets.

Generated pages of Inklock's own forms whose ``line`` and ``text`` fields hold
*real* handwriting: word crops from ``../shared/handwriting-dev`` (``names/``:
hand-printed capitals; ``gw-words/``: cursive), several words composed into
each ruled line (scaled to the line, sat on the printed rule, spaced like
words, laid on the paper by darkest pixel so the paper stays white). Tick and
digit fields are filled as in the other benchmarks. The pages are degraded
like scans (the presets of ``tests/synth/degrade.py``), put into one PDF, read
by the real ``inklock ingest`` into a real temporary vault, and scored against
the words pasted: character error (case-sensitive and not) for cursive and for
capitals, the share of right values at 0.8 confidence or more, and the share
of wrong values below 0.8 or flagged.

Beside it: the same words on twin pages written in handwriting fonts (same
forms, same pipeline: the font figure), and the reader alone on the raw word
crops (the crop-only figure), each with its target.

The dev set is only read to measure; nothing of it is written anywhere but
the temporary folder (deleted at the end), and nothing is learnt from it.

    python -m bench.realhw_bench [--sheets 7] [--small] [--no-fonts] [--crops 200] [--seed 12] [--half fit]

``--half fit`` builds the pages from the other half of the dev set, to choose a
change on; figures are reported on the default (measure) half.

Skips (exit 0, one sentence) when the dev set is absent: set
INKLOCK_HANDWRITING_DEV to its folder, or keep it at ../shared/handwriting-dev.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import print_table  # noqa: E402  (after the path is set)

DEV_ENV = "INKLOCK_HANDWRITING_DEV"
LOW = 0.8
CLASSES = ("cursive", "capitals")
# Targets of issue 12 (case-sensitive CER).
PIPELINE_TARGET = {"cursive": 0.15, "capitals": 0.20}
CROP_TARGET = {"cursive": 0.10, "capitals": 0.15}
FONT_TARGET = 0.04
PASSPHRASE = "bench-passphrase"
# Which half of the dev set the pages are made of: "measure" (default, reported)
# or "fit" (to choose a change on, never to report).
HALF = "measure"


def dev_folder() -> Path | None:
    """The real-handwriting dev set, or None when it is not on this machine."""
    env = os.environ.get(DEV_ENV)
    folder = Path(env) if env else ROOT.parent / "shared" / "handwriting-dev"
    ok = (folder / "names.tsv").is_file() and (folder / "gw-words.tsv").is_file()
    return folder if ok else None


# --- the word crops -----------------------------------------------------------------------------


@dataclass
class Word:
    cls: str  # cursive | capitals
    rel: str  # path inside the dev set
    text: str  # transcription


def in_fit_half(rel: str) -> bool:
    """The dev set's split, as in bench/ocr_eval.py: the "fit" half may tune the reader, the other measures it."""
    return hashlib.sha256(rel.encode("utf-8")).digest()[0] % 2 == 0


def word_pool(folder: Path, cls: str, rng: np.random.Generator) -> list[Word]:
    """The usable crops of one class from the "measure" half, in a seeded order.

    Cursive: gw-words whose transcription is letters only (no numbers or
    punctuation to guess). Capitals: the names crops of the 324 x 44 px kind,
    which hold the name alone (the other kinds carry printed labels such as
    ``NOM :`` or pieces of the neighbouring form fields, which are not in the
    transcription).
    """
    tsv = "gw-words.tsv" if cls == "cursive" else "names.tsv"
    words = []
    for line in (folder / tsv).read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            continue
        rel, text = line.split("\t", 1)
        text = text.strip()
        if in_fit_half(rel) != (HALF == "fit"):
            continue  # the measure half by default: calibration may have been fitted on the other
        if cls == "cursive":
            if not re.fullmatch(r"[A-Za-z]{2,}", text):
                continue
        else:
            if not re.fullmatch(r"[A-Z]{2,}", text):
                continue
            shape = _shape(folder / rel)
            if shape != (44, 324):
                continue
        words.append(Word(cls, rel, text))
    order = rng.permutation(len(words))
    return [words[int(i)] for i in order]


def _shape(path: Path) -> tuple[int, int] | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if img is None else img.shape[:2]


def raw_crop(folder: Path, word: Word) -> np.ndarray:
    img = cv2.imread(str(folder / word.rel), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RuntimeError(f"cannot read {word.rel}")
    return img


def ink_only(gray: np.ndarray) -> np.ndarray:
    """The crop with its paper (and the white outside a word mask) turned white; ink kept as is.

    Paper level: the median of the non-white pixels (the letterbook's grey
    paper; plain white on the names). Anything lighter than 80% of it is paper.
    """
    g = gray.astype(np.float32)
    body = g[g < 250]
    paper = float(np.median(body)) if body.size > 0.2 * g.size else 255.0
    n = np.clip(g / max(paper, 1.0), 0.0, 1.0)
    n = np.clip(n / 0.8, 0.0, 1.0)
    return (n * 255.0 + 0.5).astype(np.uint8)


def measure(ink: np.ndarray, cls: str) -> tuple[np.ndarray, float, float] | None:
    """Trim to the ink; returns (crop, baseline row, body height).

    Body height: for capitals the height of the letters; for cursive the
    x-height (the dense middle band of the row profile, without ascenders and
    descenders). The baseline is the bottom of that band.
    """
    mask = ink < 128
    if mask.sum() < 20:
        return None
    rows, cols = np.where(mask.any(1))[0], np.where(mask.any(0))[0]
    pad = 2
    y0, y1 = max(0, rows[0] - pad), min(ink.shape[0], rows[-1] + pad + 1)
    x0, x1 = max(0, cols[0] - pad), min(ink.shape[1], cols[-1] + pad + 1)
    ink, mask = ink[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    if cls == "capitals":
        # Hand-printed capitals are separate strokes: the letters' height and
        # baseline are the medians over the larger pieces of ink.
        count, _labels, stats, _c = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        pieces = stats[1:]
        pieces = pieces[pieces[:, cv2.CC_STAT_AREA] >= 12]
        if not len(pieces):
            return None
        tall = pieces[pieces[:, cv2.CC_STAT_HEIGHT] >= 0.5 * pieces[:, cv2.CC_STAT_HEIGHT].max()]
        height = float(np.median(tall[:, cv2.CC_STAT_HEIGHT]))
        bottom = float(np.median(tall[:, cv2.CC_STAT_TOP] + tall[:, cv2.CC_STAT_HEIGHT]))
        return ink, bottom, max(4.0, height)
    profile = mask.sum(1).astype(np.float32)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    peak = int(np.argmax(smooth))
    dense = smooth >= 0.4 * smooth[peak]
    top = bottom = peak
    while top > 0 and dense[top - 1]:
        top -= 1
    while bottom < len(dense) - 1 and dense[bottom + 1]:
        bottom += 1
    body = max(bottom - top + 1, 0.2 * len(profile), 4)
    return ink, float(bottom + 1), float(body)


class Crops:
    """Prepared crops, loaded once each (cached; a few hundred small images)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._cache: dict[str, tuple[np.ndarray, float, float] | None] = {}

    def get(self, word: Word):
        if word.rel not in self._cache:
            self._cache[word.rel] = measure(ink_only(raw_crop(self.folder, word)), word.cls)
        return self._cache[word.rel]


class Feed:
    """Words of one class, handed out in seeded order, round again when used up."""

    def __init__(self, words: list[Word]):
        self.words, self.i = words, 0
        self.used: dict[str, Word] = {}

    def peek(self) -> Word:
        return self.words[self.i % len(self.words)]

    def take(self) -> Word:
        w = self.peek()
        self.i += 1
        self.used.setdefault(w.rel, w)
        return w


def compose_line(page: np.ndarray, box, base: float, feed: Feed, crops: Crops, rng: np.random.Generator) -> str:
    """Paste real words along one ruled line, in place; returns the words pasted, spaced."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    size = rng.uniform(0.9, 1.1)  # one hand's letter size on this line
    cls = feed.peek().cls
    body_px = (0.30 if cls == "cursive" else 0.42) * height * size
    x = x0 + rng.uniform(0.02, 0.05) * (x1 - x0)
    right = x0 + 0.97 * (x1 - x0)
    most = int(rng.integers(2, 7))
    words: list[str] = []
    for _ in range(4 * most):  # skip crops that cannot be measured, never loop for ever
        if len(words) >= most:
            break
        word = feed.peek()
        prepared = crops.get(word)
        if prepared is None:
            feed.take()
            continue
        ink, baseline, body = prepared
        k = body_px / body
        w, h = max(1, int(round(ink.shape[1] * k))), max(1, int(round(ink.shape[0] * k)))
        if x + w > right:
            if not words and w > 0.9 * (x1 - x0):
                feed.take()  # a word too long for any line of this field
                continue
            break
        feed.take()
        scaled = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
        top = int(round(base - baseline * k + rng.normal(0, 0.04 * body_px)))
        left = int(round(x))
        py0, px0 = max(top, 0), max(left, 0)
        py1, px1 = min(top + h, page.shape[0]), min(left + w, page.shape[1])
        if py0 < py1 and px0 < px1:
            region = page[py0:py1, px0:px1]
            np.minimum(region, scaled[py0 - top : py1 - top, px0 - left : px1 - left], out=region)
        words.append(word.text)
        gap = rng.uniform(0.8, 1.3) * body_px if cls == "cursive" else rng.uniform(1.0, 1.5) * body_px
        x += w + gap
    return " ".join(words)


# --- the pages -----------------------------------------------------------------------------------


def make_pages(folder: Path, sheets: int, seed: int, fonts: bool, pdf: Path) -> tuple[list[dict], dict[str, Feed], float]:
    """Write the PDF; returns (one entry per page, the word feeds, seconds taken).

    Entry: sheet_id, template, page, source (real | font), preset, and
    ``fields``: {key: (class, text as pasted)} for every filled line/text field.
    """
    from forms.geometry import layout
    from forms.model import get_template
    from tools.synth import pages_to_pdf, printed_pages, random_sheets, random_values
    from tools.synth.handwriting import random_writer
    from tools.synth.page import fill_page, to_px

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    feeds = {cls: Feed(word_pool(folder, cls, np.random.default_rng(seed + i))) for i, cls in enumerate(CLASSES)}
    crops = Crops(folder)
    n_group = sheets // 3
    specs = random_sheets(sheets - n_group, rng) + random_sheets(n_group, rng, template="group")
    presets = ["scanner", "scanner", "phone", "scanner", "clean", "scanner", "scanner", "phone"]
    dpi = 300
    encoded: list = []
    entries: list = []
    plans = []
    for spec in specs:
        geometry = layout(get_template(str(spec.template)), "letter")
        for number, gray in enumerate(printed_pages([spec], dpi, "letter"), start=1):
            page_layout = geometry["pages"][number - 1]
            values = random_values(page_layout, rng)
            texts: dict[str, tuple[str, str]] = {}
            for f in page_layout["fields"]:
                if f["kind"] in ("line", "text"):
                    values[f["key"]] = ""  # written below, by real hands
            writer = random_writer(rng)
            fill_page(gray, page_layout, values, rng, dpi, writer)
            for f in page_layout["fields"]:
                if f["kind"] not in ("line", "text") or rng.random() < 0.15:
                    continue
                cls = CLASSES[int(rng.integers(2))]
                boxes = [to_px(b, dpi) for b in f.get("lines") or [f["bbox"]]]
                bases = [y * dpi / 72.0 - 0.004 * dpi for y in f.get("baselines", [])]
                n = 1 if f["kind"] == "line" else int(rng.integers(1, min(2, len(boxes)) + 1))
                lines = []
                for i, box in enumerate(boxes[:n]):
                    base = bases[i] if i < len(bases) else box[1] + 0.78 * (box[3] - box[1])
                    lines.append(compose_line(gray, box, base, feeds[cls], crops, rng))
                lines = [ln for ln in lines if ln]
                if lines:
                    texts[f["key"]] = (cls, "\n".join(lines))
            preset = presets[len(encoded) % len(presets)]
            encoded.append(_encode(gray, preset, rng, dpi))
            entries.append({"sheet_id": spec.sheet_id, "template": spec.template, "page": number, "source": "real",
                            "preset": preset, "fields": texts})
            plans.append((spec, number, page_layout, texts, preset))
    if fonts:
        by_sheet: dict[str, list] = {}
        for plan in plans:
            by_sheet.setdefault(plan[0].sheet_id, []).append(plan)
        for pages in by_sheet.values():
            twin = random_sheets(1, rng, template=pages[0][0].template)[0]
            writer = random_writer(rng)
            for gray, (_spec, number, page_layout, texts, preset) in zip(printed_pages([twin], dpi, "letter"), pages):
                values = random_values(page_layout, rng)
                for f in page_layout["fields"]:
                    if f["kind"] in ("line", "text"):
                        values[f["key"]] = texts.get(f["key"], ("", ""))[1]
                written = fill_page(gray, page_layout, values, rng, dpi, writer)["values"]
                encoded.append(_encode(gray, preset, rng, dpi))
                entries.append({"sheet_id": twin.sheet_id, "template": twin.template, "page": number, "source": "font",
                                "preset": preset, "writer": writer.font.family,
                                "fields": {k: (cls, written[k]) for k, (cls, _t) in texts.items()}})
    pdf.write_bytes(pages_to_pdf(encoded))
    return entries, feeds, time.perf_counter() - t0


def _encode(gray: np.ndarray, preset: str, rng: np.random.Generator, dpi: float):
    from tools.synth import degrade, encode_jpeg

    out, record = degrade(gray, preset, rng, dpi)
    h, w = out.shape[:2]
    return encode_jpeg(out, record["jpeg_quality"]), w, h, float(record["dpi"])


# --- ingest and score ----------------------------------------------------------------------------


def new_vault(path: Path, entries: list[dict]) -> None:
    """A real vault with every sheet registered, as `inklock print` leaves it."""
    from scanner.vault import store
    from scanner.vault.vault import Vault

    vault, _ = Vault.create(path, PASSPHRASE)
    seen = set()
    for e in entries:
        if e["sheet_id"] in seen:
            continue
        seen.add(e["sheet_id"])
        store.register_sheet(vault, sheet_id=e["sheet_id"], template=e["template"], template_version=1,
                             page_size="letter", client="C-1", date="2025-03-04", session_number=1)
    vault.close()


def inklock_ingest(vault_dir: Path, pdf: Path) -> tuple[dict, float]:
    """The real command line, `inklock ingest --json`, in its own process; (summary, wall seconds)."""
    import subprocess

    exe = shutil.which("inklock") or str(Path(sys.executable).with_name("inklock"))
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, INKLOCK_PASSPHRASE=PASSPHRASE, PYTHONPATH=path)
    t0 = time.perf_counter()
    proc = subprocess.run([exe, "--vault", str(vault_dir), "ingest", "--json", str(pdf)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"inklock ingest failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout), wall


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def distance(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b)


class Tally:
    """Character errors and confidence honesty over a set of (want, got, confidence, flagged) values."""

    def __init__(self):
        self.chars = self.errors = self.errors_ci = 0
        self.values = self.right = self.right_sure = self.wrong = self.wrong_flagged = 0

    def add(self, want: str, got: str | None, confidence: float, flagged: bool) -> bool:
        want, got = norm(want), norm(got)
        self.chars += max(1, len(want))
        self.errors += distance(want, got)
        self.errors_ci += distance(want.lower(), got.lower())
        self.values += 1
        right = want.lower() == got.lower()
        if right:
            self.right += 1
            self.right_sure += confidence >= LOW and not flagged
        else:
            self.wrong += 1
            self.wrong_flagged += confidence < LOW or flagged
        return right

    def cer(self) -> float:
        return self.errors / max(1, self.chars)

    def cer_ci(self) -> float:
        return self.errors_ci / max(1, self.chars)


def score(vault_dir: Path, entries: list[dict], verbose: bool) -> dict[tuple, Tally]:
    """(source, class) and (source, class, preset) -> tally, from what the vault holds after ingest."""
    from scanner.vault import store
    from scanner.vault.vault import Vault

    vault = Vault.open(vault_dir, PASSPHRASE)
    tallies: dict[tuple[str, ...], Tally] = {}
    cache: dict[str, dict] = {}
    missing = 0
    try:
        for e in entries:
            if e["sheet_id"] not in cache:
                try:
                    cache[e["sheet_id"]] = {f["key"]: f for f in store.show_session(vault, e["sheet_id"])["fields"]}
                except Exception:  # noqa: BLE001 - a sheet never read scores as empty
                    cache[e["sheet_id"]] = {}
            fields = cache[e["sheet_id"]]
            for key, (cls, want) in e["fields"].items():
                f = fields.get(key)
                got, confidence, flags = (None, 0.0, {"missing"}) if f is None else (
                    f["value"], float(f["confidence"] or 0.0), set(f["flags"]) - {"empty"})
                missing += f is None
                tally = tallies.setdefault((e["source"], cls), Tally())
                right = tally.add(want, got, confidence, bool(flags))
                tallies.setdefault((e["source"], cls, e["preset"]), Tally()).add(want, got, confidence, bool(flags))
                if verbose and (not right or confidence < LOW):
                    print(f"  [{e['source']} {cls} {e['preset']}] {key}: {'right' if right else 'wrong'}, "
                          f"want {norm(want)!r} got {norm(got)!r} conf {confidence:.2f} {sorted(flags)}")
    finally:
        vault.close()
    if missing:
        print(f"  ({missing} pasted fields not found in the vault: their pages were not identified; scored as empty)")
    return tallies


# --- the reader alone on the raw crops ------------------------------------------------------------


def crop_reader():
    """(name, read(gray) -> (text, confidence), close) for the product's own line reader.

    bench.ocr_eval's crop reader when it offers one, else scanner.ingest.ocr's
    OcrEngine.read_line (the reader ingest uses for a line).
    """
    try:
        from bench import ocr_eval

        offered = getattr(ocr_eval, "crop_reader", None)
        if callable(offered):
            return offered()
    except ImportError:
        pass
    from scanner.ingest.ocr import OcrEngine

    engine = OcrEngine()

    def read(gray: np.ndarray) -> tuple[str, float]:
        r = engine.read_line(gray)
        return r.text, float(r.confidence)

    try:
        from scanner.ingest.linerec import MODEL_NAME
    except ImportError:
        MODEL_NAME = "?"
    return f"OcrEngine.read_line, {MODEL_NAME}", read, engine.close


def crop_figures(folder: Path, feeds: dict[str, Feed], limit: int) -> tuple[str, dict[str, Tally], float]:
    """The reader on the raw crops that were pasted (as scanned, uncleaned), up to ``limit`` per class."""
    name, read, close = crop_reader()
    tallies = {}
    t0 = time.perf_counter()
    n = 0
    try:
        for cls, feed in feeds.items():
            tally = tallies[cls] = Tally()
            for word in sorted(feed.used.values(), key=lambda w: w.rel)[:limit]:
                text, confidence = read(raw_crop(folder, word))
                tally.add(word.text, text, confidence, False)
                n += 1
    finally:
        close()
    return name, tallies, (time.perf_counter() - t0) / max(1, n)


# --- main ----------------------------------------------------------------------------------------


def pct(a: float, b: float) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def share(a: int, b: int) -> str:
    return f"{pct(a, b)} of {b}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", type=int, default=7, help="printed sheets of real handwriting (2 pages each)")
    ap.add_argument("--crops", type=int, default=200, help="crops per class for the crop-only figure")
    ap.add_argument("--no-fonts", action="store_true", help="no twin pages in handwriting fonts")
    ap.add_argument("--small", action="store_true", help="2 sheets, 40 crops per class")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--verbose", action="store_true", help="print every wrong value")
    ap.add_argument("--half", choices=("measure", "fit"), default="measure",
                    help="dev-set half the pages are made of (fit: to choose a change on; report measure)")
    args = ap.parse_args(argv)
    global HALF
    HALF = args.half
    if args.small:
        args.sheets, args.crops = 2, 40
    folder = dev_folder()
    if folder is None:
        print(f"Skipped: no real handwriting here (set {DEV_ENV} or put the dev set at ../shared/handwriting-dev).")
        return 0
    verbose = args.verbose or bool(os.environ.get("BENCH_VERBOSE"))
    work = Path(tempfile.mkdtemp(prefix="inklock-realhw-"))
    rows: list[tuple[str, str, str]] = []
    try:
        pdf = work / "batch.pdf"
        entries, feeds, gen = make_pages(folder, args.sheets, args.seed, not args.no_fonts, pdf)
        real = [e for e in entries if e["source"] == "real"]
        words = {cls: sum(len(t.split()) for e in real for c, t in e["fields"].values() if c == cls) for cls in CLASSES}
        print(f"Generated {len(entries)} pages ({len(real)} with real handwriting: {words['cursive']} cursive and "
              f"{words['capitals']} capital words, {len(feeds['cursive'].used)} + {len(feeds['capitals'].used)} "
              f"distinct crops; seed {args.seed}) in {gen:.1f} s (not counted).", flush=True)
        new_vault(work / "vault", entries)
        summary, wall = inklock_ingest(work / "vault", pdf)
        print(f"inklock ingest: {summary['pages']} pages, {summary['identified']} identified, {wall:.1f} s.", flush=True)
        tallies = score(work / "vault", entries, verbose)
        for cls in CLASSES:
            t = tallies.get(("real", cls), Tally())
            rows.append((f"real {cls}, whole pipeline: CER ({t.values} values, {t.chars} chars)", f"{t.cer():.3f}",
                         f"<= {PIPELINE_TARGET[cls]:.2f}"))
            rows.append(("  case-insensitive CER", f"{t.cer_ci():.3f}", ""))
            by = [(p, tallies[("real", cls, p)]) for p in ("clean", "scanner", "phone") if ("real", cls, p) in tallies]
            rows.append(("  CER by scan: " + ", ".join(f"{p} ({x.values})" for p, x in by),
                         " / ".join(f"{x.cer():.3f}" for _p, x in by), ""))
            rows.append(("  right values at >= 0.8 confidence", share(t.right_sure, t.right), ">= 60%"))
            rows.append(("  wrong values below 0.8 or flagged", share(t.wrong_flagged, t.wrong), ">= 95%"))
        if not args.no_fonts:
            both = Tally()
            for cls in CLASSES:
                t = tallies.get(("font", cls), Tally())
                rows.append((f"same words in handwriting fonts ({cls} set): CER", f"{t.cer():.3f}",
                             f"<= {FONT_TARGET:.2f} (fonts over all pages)"))
                for k in vars(both):
                    setattr(both, k, getattr(both, k) + getattr(t, k))
            rows.append(("  fonts, both: CER / case-insensitive", f"{both.cer():.3f} / {both.cer_ci():.3f}", ""))
            rows.append(("  fonts: right >= 0.8 / wrong below 0.8 or flagged",
                         f"{pct(both.right_sure, both.right)} / {pct(both.wrong_flagged, both.wrong)}", ">= 60% / >= 95%"))
        name, crop_tallies, sec = crop_figures(folder, feeds, args.crops)
        for cls in CLASSES:
            t = crop_tallies[cls]
            rows.append((f"real {cls}, reader alone on raw crops: CER ({t.values} crops)", f"{t.cer():.3f}",
                         f"<= {CROP_TARGET[cls]:.2f}"))
            rows.append(("  case-insensitive CER", f"{t.cer_ci():.3f}", ""))
            rows.append(("  right crops at >= 0.8 confidence", share(t.right_sure, t.right), ">= 60%"))
            rows.append(("  wrong crops below 0.8", share(t.wrong_flagged, t.wrong), ">= 95%"))
        rows.append((f"  crop reader: {name}", f"{1000 * sec:.0f} ms", "per crop"))
        print_table(rows, value_width=16)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

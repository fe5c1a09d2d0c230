"""Learning the clinician's hand (issue #7): word identification, search by hand, speed and size.

    python -m bench.exemplar_bench [--small]

(a) Real cursive (../shared/handwriting-dev/gw-words, George Washington letterbook;
    skipped with a message where it is absent): exemplars are the words of
    pages 270-275, queries the words of pages 276-279. Word identification
    accuracy on recurring words of 3+ letters (the query word has an exemplar),
    beside plain HOG + 1-NN (the issue's baseline: .687); what each learned
    part adds; how often a suggestion is made and how often it is right (all
    query words, recurring or not); search R-precision per query word.
(b) A simulated clinician (handwriting fonts, one writer): ten sessions
    confirmed, five more written; the same figures through the real vault,
    beside Tesseract's draft.
(c) Scale: time per suggestion and index size at 50,000 confirmed words.

Nothing from (a) is stored or shipped: it is measured in memory only.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HANDWRITING_DEV = ROOT.parent / "shared" / "handwriting-dev"

from scanner.hand import exemplars, fieldwords, wordfeatures, wordsplit  # noqa: E402
from scanner.hand import index as hand_index  # noqa: E402

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

BASELINE_GW = 0.687


def norm(word: str) -> str:
    return exemplars.normalise(word)


# ---------------------------------------------------------------- (a) real cursive


def _word_image(gray: np.ndarray) -> np.ndarray:
    words = wordsplit.split_words(gray, count=1)
    return words[0].image if words else np.zeros((8, 8), np.float32)


def _gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image


def _plain_hog(image: np.ndarray) -> np.ndarray:
    """The issue's baseline: one HOG (8 px cells) of the word stretched to 48 x 160."""
    u8 = np.clip(cv2.resize(image, (160, 48), interpolation=cv2.INTER_AREA) * 255, 0, 255).astype(np.uint8)
    return np.asarray(cv2.HOGDescriptor((160, 48), (16, 16), (8, 8), (8, 8), 9).compute(u8)).ravel()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def _index(raw_by_word: list[np.ndarray], labels: list[str], whiten: bool) -> hand_index.ExemplarIndex:
    """An in-memory exemplar index (the same class the vault uses), filled directly."""
    index = hand_index.ExemplarIndex()
    index.ids = np.concatenate([np.full(len(v), i, np.int64) for i, v in enumerate(raw_by_word)])
    index.raw = np.concatenate(raw_by_word).astype(np.float16)
    index.words = {i: (w, norm(w)) for i, w in enumerate(labels)}
    saved = hand_index.MIN_FIT_ROWS
    hand_index.MIN_FIT_ROWS = 0 if whiten else 10 ** 12
    try:
        index._match_space()
    finally:
        hand_index.MIN_FIT_ROWS = saved
    return index


def _identify(index, query_raw: np.ndarray, tta: bool) -> list[tuple[int, float, float]]:
    q = query_raw if tta else query_raw[:, :1]
    n, k, d = q.shape
    return hand_index._nearest(index, index.space(q.reshape(n * k, d).astype(np.float32)).reshape(n, k, -1))


def _r_precision(dist_rows: np.ndarray, relevant_rows: list[np.ndarray]) -> float:
    """Mean over query words of the share of relevant items among the R nearest."""
    out = []
    for dist, rel in zip(dist_rows, relevant_rows):
        r = int(rel.sum())
        if r:
            out.append(float(rel[np.argsort(dist, kind="stable")[:r]].mean()))
    return float(np.mean(out)) if out else float("nan")


def gw_bench(small: bool) -> None:
    tsv = HANDWRITING_DEV / "gw-words.tsv"
    if not tsv.is_file():
        print(f"(a) skipped: {HANDWRITING_DEV} is not here (CI); the figures need the real cursive words.")
        return
    rows = [line.rstrip("\n").split("\t") for line in tsv.read_text(encoding="utf-8").splitlines() if "\t" in line]
    if small:
        rows = [r for r in rows if r[0].split("/")[-1][:3] in ("274", "275", "276")]
    pages = np.array([int(Path(p).name[:3]) for p, _ in rows])
    texts = [t for _, t in rows]
    labels = np.array([norm(t) for t in texts])
    t0 = time.perf_counter()
    images = [_word_image(_gray(HANDWRITING_DEV / p)) for p, _ in rows]
    raw = [wordfeatures.embed(im, with_turns=True) for im in images]  # (3, dims) each: itself, two turns
    per_word_ms = 1000 * (time.perf_counter() - t0) / len(rows)
    split = 275
    ex = np.flatnonzero(pages <= split)
    qs = np.flatnonzero(pages > split)
    known = set(labels[ex])
    recurring = np.array([i for i in qs if len(labels[i]) >= 3 and labels[i] in known])
    long_q = np.array([i for i in qs if len(labels[i]) >= 3])
    print(f"(a) gw-words: {len(ex)} exemplar words (pages 270-{split}), {len(qs)} query words; "
          f"{len(recurring)} recurring of 3+ letters; {per_word_ms:.1f} ms to cut and describe a word")

    # Baseline: plain HOG + 1-NN.
    hog = _unit(np.stack([_plain_hog(im) for im in images]))
    nn = (hog[recurring] @ hog[ex].T).argmax(axis=1)
    base_acc = float(np.mean(labels[ex][nn] == labels[recurring]))

    def accuracy(whiten: bool, turns: bool, tta: bool) -> tuple[float, list, hand_index.ExemplarIndex]:
        vecs = [raw[i] if turns else raw[i][:1] for i in ex]
        index = _index(vecs, [texts[i] for i in ex], whiten)
        found = _identify(index, np.stack([raw[i] for i in long_q]).astype(np.float32), tta)
        pos = {q: j for j, q in enumerate(long_q)}
        acc = float(np.mean([norm(index.words[found[pos[q]][0]][0]) == labels[q] for q in recurring]))
        return acc, found, index

    print(f"    {'word identification, recurring words (3+ letters)':58} {'accuracy':>8}")
    print(f"    {'plain HOG + 1-NN (the issue measured .687)':58} {base_acc:8.3f}")
    for name, args in (("two-scale sqrt-HOG on the generic basis, 1-NN", (False, False, False)),
                       ("+ whitening fitted on this writer's exemplars", (True, False, False)),
                       ("+ turned copies of each exemplar (+-3 deg)", (True, True, False)),
                       ("+ turned copies of each query word (Inklock)", (True, True, True))):
        acc, found, index = accuracy(*args)
        print(f"    {name:58} {acc:8.3f}")
    # Suggestions as the review page makes them: over every query word of 3+ letters.
    confs = np.array([hand_index._word_confidence(d, o) for _, d, o in found])
    right = np.array([norm(index.words[f[0]][0]) == labels[q] for f, q in zip(found, long_q)])
    made = confs >= hand_index.ACCEPT_CONFIDENCE
    rec_mask = np.isin(long_q, recurring)
    print(f"    suggestions (confidence >= {hand_index.ACCEPT_CONFIDENCE}): made for {made.mean():.1%} of all query words "
          f"({made[rec_mask].mean():.1%} of recurring, {made[~rec_mask].mean():.1%} of never-seen words); "
          f"right {right[made].mean():.1%} of the time")
    for lo, hi in ((0.5, 0.7), (0.7, 0.85), (0.85, 1.01)):
        sel = made & (confs >= lo) & (confs < hi)
        if sel.any():
            print(f"      confidence {lo:.2f}-{min(hi, 1):.2f}: {sel.sum():4d} words, mean stated {confs[sel].mean():.2f}, "
                  f"right {right[sel].mean():.2f}")

    # Search R-precision: each query word's exemplars against every query-page word image.
    words = sorted({labels[i] for i in recurring})
    rel = [labels[qs] == w for w in words]
    base_d = np.stack([1 - (hog[qs] @ hog[ex][labels[ex] == w].T).max(axis=1) for w in words])
    space = index.space(np.stack([raw[i][0] for i in qs]).astype(np.float32))
    assert index.matched is not None
    ours_d = np.stack([1 - (space @ index.matched[np.isin(index.norm_codes, [index.norms.index(w)])].T).max(axis=1)
                       for w in words])
    print(f"    search R-precision over {len(words)} query words: plain HOG {_r_precision(base_d, rel):.3f}, "
          f"Inklock {_r_precision(ours_d, rel):.3f}")


# ---------------------------------------------------------------- (b) a simulated clinician


PHRASES = [
    "poor sleep", "sleep improved", "anxiety at work", "panic attacks", "low mood", "mood improved", "tearful today",
    "grief about mother", "conflict with partner", "work stress", "avoidance of driving", "exposure practice",
    "thought record", "breathing exercise", "sleep hygiene", "behavioural activation", "walks daily",
    "denies SI", "safety plan reviewed", "review homework", "cognitive restructuring", "values work",
    "nightmares again", "appetite low", "alcohol reduced", "family visit", "anger at father", "shame about job",
]


def _session_lines(rng: np.random.Generator, lines: int) -> list[str]:
    return [PHRASES[int(i)] for i in rng.choice(len(PHRASES), size=lines, replace=False)]


def clinician_bench(small: bool) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from forms.geometry import layout
    from forms.model import get_template
    from scanner.review import confirm
    from scanner.ingest.ocr import OcrEngine
    from scanner import pixels
    from scanner.ingest.read import CROP_MARGIN_PT, FieldRead, PageResult
    from scanner.ingest.register import PX_PER_PT
    from scanner.vault import store
    from scanner.vault.search import Searcher
    from scanner.vault.vault import Vault
    from tools.synth.handwriting import random_writer, write_line

    from scanner.vault import crypto

    crypto.ARGON2_COSTS = crypto.FAST_ARGON2  # a throwaway vault: its unlock time is not measured here
    template = get_template("session")
    geo = {f["key"]: f for p in layout(template, "letter")["pages"] for f in p["fields"]}
    keys = ["focus", "plan", "hypotheses", "themes_patterns", "session_tasks"]
    rng = np.random.default_rng(7)
    writer = random_writer(rng)
    ocr = OcrEngine()

    def crop(key: str, lines: list[str]) -> tuple[np.ndarray, str, float]:
        f = geo[key]
        x0, y0 = (f["bbox"][0] - CROP_MARGIN_PT) * PX_PER_PT, (f["bbox"][1] - CROP_MARGIN_PT) * PX_PER_PT
        w = int(round((f["bbox"][2] - f["bbox"][0] + 2 * CROP_MARGIN_PT) * PX_PER_PT))
        h = int(round((f["bbox"][3] - f["bbox"][1] + 2 * CROP_MARGIN_PT) * PX_PER_PT))
        img = np.full((h, w), int(rng.integers(238, 250)), np.uint8)
        boxes = [[lb[0] * PX_PER_PT - x0, lb[1] * PX_PER_PT - y0, lb[2] * PX_PER_PT - x0, lb[3] * PX_PER_PT - y0]
                 for lb in (f.get("lines") or [f["bbox"]])]
        for box, text in zip(boxes, lines):
            cv2.line(img, (int(box[0]), int(box[3]) - 3), (int(box[2]), int(box[3]) - 3), 190, 2)
            right = min(box[2], box[0] + 40 + 24 * len(text))
            write_line(img, text, (box[0], box[1], right, box[3]), writer, rng, baseline=box[3] - 0.12 * (box[3] - box[1]))
        inner = img[int(CROP_MARGIN_PT * PX_PER_PT):h - int(CROP_MARGIN_PT * PX_PER_PT),
                    int(CROP_MARGIN_PT * PX_PER_PT):w - int(CROP_MARGIN_PT * PX_PER_PT)]
        read = ocr.read_line(inner) if f["kind"] == "line" else ocr.read_area(inner, pixels.line_boxes(f["bbox"], f.get("lines")))
        return img, read.text, read.confidence

    n_lines = {k: (1 if geo[k]["kind"] == "line" else min(2, len(geo[k].get("lines") or [1]))) for k in keys}
    work = Path(tempfile.mkdtemp(prefix="inklock-exemplar-bench-"))
    vault, _ = Vault.create(work / "vault", "bench passphrase")
    try:
        sessions, truth = [], {}
        total = 15 if not small else 6
        confirmed = 10 if not small else 4
        for s in range(total):
            sheet_id = secrets.token_hex(4).upper()
            number = store.register_sheet(vault, sheet_id=sheet_id, template="session", template_version=1,
                                          page_size="letter", client="C01", date=f"2025-02-{s + 1:02d}",
                                          session_number=s + 1)
            for page in template.pages:
                assert page.number is not None  # numbered when the template loads
                reads = []
                for f in page.fields:
                    if f.key in keys:
                        lines = _session_lines(rng, n_lines[f.key])
                        img, draft, conf = crop(f.key, lines)
                        truth[(number, f.key)] = " ".join(lines)
                        # As the page worker reads it: the crop, and its word vectors for search by hand.
                        g = geo[f.key]
                        boxes = fieldwords.crop_line_boxes(f.kind, g["bbox"], g.get("lines"))
                        vectors = fieldwords.draft_vectors(img, draft, boxes)
                        reads.append(FieldRead(f.key, f.kind, f.privacy, page.number, draft, conf, [],
                                               cv2.imencode(".png", img)[1].tobytes(), draft_vectors=vectors))
                if reads:
                    store.save_page(vault, PageResult("identified", "bench.pdf", secrets.token_hex(32), 0,
                                                      template="session", page=page.number, page_size="letter",
                                                      sheet_id=sheet_id, image_jpeg=b"", fields=reads))
            sessions.append(number)
        for number in sessions[:confirmed]:
            for key in keys:
                confirm.confirm_field(vault, number, key, value=truth[(number, key)])
        st = exemplars.stats(vault)
        print(f"(b) simulated clinician ({writer.font.family}): {confirmed} sessions confirmed -> {st['words']} exemplar "
              f"words ({st['distinct']} distinct) from {st['fields']} of {confirmed * len(keys)} fields; "
              f"{total - confirmed} more sessions written")
        seen = {norm(w) for (n, _k), t in truth.items() if n in sessions[:confirmed] for w in t.split()}
        rec_ours = rec_ocr = rec_n = 0
        exact_ours = exact_ocr = 0
        times, fields = [], 0
        for number in sessions[confirmed:]:
            for key in keys:
                fid = vault.db.execute("SELECT f.id, f.value FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id "
                                       "WHERE s.id = ? AND f.key = ?", [number, key]).fetchone()
                t = time.perf_counter()
                got = exemplars.suggest(vault, fid[0])
                times.append(time.perf_counter() - t)
                want = truth[(number, key)].split()
                drafted = (store.loads(fid[1]) or "").split()
                fields += 1
                exact_ours += [norm(w) for w in got["text"].split()] == [norm(w) for w in want]
                exact_ocr += [norm(w) for w in drafted] == [norm(w) for w in want]
                ours = [norm(w["word"]) for w in got["words"]]
                for i, w in enumerate(want):
                    if len(norm(w)) >= 3 and norm(w) in seen:
                        rec_n += 1
                        rec_ours += len(ours) == len(want) and ours[i] == norm(w)
                        rec_ocr += len(drafted) == len(want) and norm(drafted[i]) == norm(w)
        print(f"    recurring words (3+ letters) named right: Inklock {rec_ours / max(rec_n, 1):.3f}, "
              f"Tesseract draft {rec_ocr / max(rec_n, 1):.3f} ({rec_n} words)")
        print(f"    fields exactly right: Inklock {exact_ours / fields:.3f}, Tesseract draft {exact_ocr / fields:.3f} "
              f"({fields} fields)")
        print(f"    time per suggestion: median {1000 * statistics.median(times):.1f} ms, "
              f"max {1000 * max(times):.1f} ms (target < 50)")
        # Search: every recurring word against the unconfirmed sessions.
        later = {(n, k) for n in sessions[confirmed:] for k in keys}
        ids = {}
        for (n, k) in later:
            ids[vault.db.execute("SELECT f.id FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id WHERE s.id = ? "
                                 "AND f.key = ?", [n, k]).fetchone()[0]] = (n, k)
        rp_hand, rp_text, rp_both = [], [], []
        searcher = Searcher(vault.db, hand=partial(exemplars.search_by_hand, vault))
        for w in sorted(seen):
            if len(w) < 3:
                continue
            relevant = {fid for fid, nk in ids.items() if w in {norm(x) for x in truth[nk].split()}}
            if not relevant:
                continue
            r = len(relevant)
            hand = [fid for fid, _w, _d in exemplars.search_by_hand(vault, [w], limit=50)]
            rp_hand.append(len(set(hand[:r]) & relevant) / r)
            text_hits = [x for x in Searcher(vault.db).search(w, limit=50) if x["status"] == "draft"]
            text_ids = [_fid(vault, x) for x in text_hits]
            rp_text.append(len(set(text_ids[:r]) & relevant) / r)
            both = [_fid(vault, x) for x in searcher.search(w, limit=50) if x["status"] == "draft"]
            rp_both.append(len(set(both[:r]) & relevant) / r)
        print(f"    search R-precision over {len(rp_hand)} words in unconfirmed fields: by hand {np.mean(rp_hand):.3f}, "
              f"text search of the OCR drafts {np.mean(rp_text):.3f}, both tiers together {np.mean(rp_both):.3f}")
    finally:
        vault.close()
        ocr.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _fid(vault: Vault, hit: dict) -> int:
    return vault.db.execute("SELECT id FROM fields WHERE sheet_id = ? AND key = ?",
                            [hit["sheet_id"], hit["field"]]).fetchone()[0]


# ---------------------------------------------------------------- (c) scale


def scale_bench(small: bool) -> None:
    from tools.train_word_basis import synthetic_words

    words = 50_000 if not small else 5_000
    sample = synthetic_words(400 if not small else 100, seed=11)
    vecs = np.stack([wordfeatures.embed(im, with_turns=True) for im in sample]).astype(np.float32)
    rng = np.random.default_rng(3)
    # 50,000 words made from the sample's vectors with noise: the matrix is what costs time and space.
    base = vecs[rng.integers(len(vecs), size=words)]
    raw = (base + rng.normal(0, 0.05 * float(np.abs(vecs).mean()), base.shape)).astype(np.float16)
    index = hand_index.ExemplarIndex()
    index.ids = np.repeat(np.arange(words, dtype=np.int64), raw.shape[1])
    index.raw = raw.reshape(-1, raw.shape[2])
    index.words = {i: (f"w{i % 5000}", f"w{i % 5000}") for i in range(words)}
    t = time.perf_counter()
    index._match_space()
    fit_s = time.perf_counter() - t
    query_words = [wordsplit.Word((0, 0, 1, 1), 0, im) for im in sample[:8]]
    times = []
    for _ in range(5):
        t = time.perf_counter()
        found = hand_index._nearest(index, hand_index._query_vectors(index, query_words))
        [hand_index._word_confidence(d, o) for _, d, o in found]
        times.append(time.perf_counter() - t)
    assert index.raw is not None and index.matched is not None
    stored = index.raw.nbytes
    print(f"(c) {words:,} confirmed words ({len(index.raw):,} vectors with the turned copies):")
    print(f"    vectors in the vault database {stored / 2 ** 20:.0f} MiB (+ word images, about 1-2 KiB each, "
          f"encrypted files); in memory {index.matched.nbytes / 2 ** 20:.0f} MiB")
    print(f"    whitening fit and projection {fit_s:.2f} s (once, then again after 25% growth)")
    print(f"    matching one 8-word field: median {1000 * statistics.median(times):.1f} ms (target < 50 per field; "
          f"cutting and describing the words adds about 4 ms per word)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="the CI smoke version (tiny inputs)")
    args = ap.parse_args(argv)
    gw_bench(args.small)
    clinician_bench(args.small)
    scale_bench(args.small)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fit the line recogniser's confidence on whole-pipeline lines (never on what is measured).

Pages are made the way ``bench/realhw_bench.py`` makes them, from the *fit*
half of the real handwriting (cursive words and capital names pasted on the
ruled lines, degraded like scans), with their handwriting-font twins, plus
generated days in handwriting fonts with clinical text (``tools/synth``).
Each batch is ingested in this process (one worker, so every line's evidence,
:class:`scanner.ingest.ocr.LineEvidence`, can be recorded as it is read), and
every line read is labelled right or wrong against what was written on it.

Prints isotonic fits of "the line is exactly right" on the beam search's
share (``LineEvidence.share``) for the lines judged by it (known words, the
network's probability at least e^-3), real and font apart; then a logistic fit of it on the evidence, the
share of right lines at 0.8 or more and of wrong lines below it, for the fit
and for a held-out part of the fit lines; ``--save FILE`` keeps the labelled
lines (synthetic and dev-set words only, no health information) for a second
look.

    python -m bench.line_calibration [--seeds 31,32,33] [--sheets 7] [--days 2] [--save lines.json]

The figures to report are the ones ``bench/realhw_bench.py`` and
``bench/ingest_bench.py`` print on the measure half and on other seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import realhw_bench as rh  # noqa: E402  (after the path is set)


def _record_lines() -> tuple[list[tuple[str, dict]], Any]:
    """Patch the engine so each finished line's (text, evidence) is appended to the list returned."""
    from scanner.ingest import ocr

    seen: list[tuple[str, dict]] = []
    original = ocr.OcrEngine._finish_line

    def finish_line(self, reading):
        result = original(self, reading)
        if result.evidence is not None:
            seen.append((result.text, asdict(result.evidence)))
        return result

    ocr.OcrEngine._finish_line = finish_line  # type: ignore[method-assign]
    return seen, original


def _ingest(vault_dir: Path, pdf: Path) -> None:
    from scanner.ingest import pipeline
    from scanner.vault.vault import Vault

    vault = Vault.open(vault_dir, rh.PASSPHRASE)
    try:
        pipeline.ingest(vault, [pdf], workers=1)
    finally:
        vault.close()


def _label(vault_dir: Path, wanted: list[tuple[str, str, str, str]], seen: list[tuple[str, dict]]) -> list[dict]:
    """(sheet_id, key, source, text written) -> one row per line read: evidence, right, where it came from."""
    from scanner.vault import store
    from scanner.vault.vault import Vault

    pool: dict[str, list[dict]] = {}
    for text, ev in seen:
        pool.setdefault(text, []).append(ev)
    rows = []
    vault = Vault.open(vault_dir, rh.PASSPHRASE)
    try:
        cache: dict[str, dict] = {}
        for sheet_id, key, source, want in wanted:
            if sheet_id not in cache:
                try:
                    cache[sheet_id] = {f["key"]: f for f in store.show_session(vault, sheet_id)["fields"]}
                except Exception:  # noqa: BLE001 - a sheet never read has nothing to label
                    cache[sheet_id] = {}
            f = cache[sheet_id].get(key)
            if f is None or not isinstance(f["value"], str):
                continue
            got = [ln for ln in f["value"].split("\n") if ln.strip()]
            want_lines = [ln for ln in want.split("\n") if ln.strip()]
            if len(got) != len(want_lines):
                continue  # lines merged or split: no line-by-line label
            for w, g in zip(want_lines, got):
                if not pool.get(g):
                    continue
                ev = pool[g].pop(0)
                rows.append({**ev, "right": rh.norm(w) == rh.norm(g), "source": source, "want": w, "got": g,
                             "field": f"{sheet_id}/{key}", "lines": len(got), "flags": list(f.get("flags") or [])})
    finally:
        vault.close()
    return rows


def realhw_lines(folder: Path, seed: int, sheets: int, work: Path, seen: list) -> list[dict]:
    pdf = work / f"real-{seed}.pdf"
    entries, _feeds, _t = rh.make_pages(folder, sheets, seed, True, pdf)
    rh.new_vault(work / f"v-real-{seed}", entries)
    seen.clear()
    _ingest(work / f"v-real-{seed}", pdf)
    wanted = [(e["sheet_id"], k, f"{e['source']}-{cls}", text) for e in entries for k, (cls, text) in e["fields"].items()]
    return _label(work / f"v-real-{seed}", wanted, seen)


def font_day_lines(seed: int, pages: int, work: Path, seen: list) -> list[dict]:
    from bench import ingest_bench as ib

    pdf = work / f"day-{seed}.pdf"
    expected = ib.make(pdf, pages, seed, ib.drawn_presets(pages, seed, "phone"))
    vault_dir = work / f"v-day-{seed}"
    ib.new_vault(vault_dir, expected)
    seen.clear()
    _ingest(vault_dir, pdf)
    wanted = []
    for e in expected:
        if e.get("blank"):
            continue
        for key, want in e["values"].items():
            if isinstance(want, str) and not want.isdigit():
                wanted.append((e["sheet_id"], key, "font-clinical", want))
    return _label(vault_dir, wanted, seen)


FEATURES = ("log_p", "chars", "min_char", "unknown", "changed", "names", "words", "share")


def matrix(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(-1.0 if r.get(f) is None else r[f]) for f in FEATURES] for r in rows])
    y = np.array([bool(r["right"]) for r in rows])
    return x, y


def report(name: str, conf: np.ndarray, y: np.ndarray) -> None:
    right, wrong = y, ~y
    sure = f"{np.mean(conf[right] >= 0.8):.1%}" if right.any() else "-"
    doubt = f"{np.mean(conf[wrong] < 0.8):.1%}" if wrong.any() else "-"
    print(f"  {name}: {y.sum()} right, {(~y).sum()} wrong; right >= 0.8 {sure}, wrong < 0.8 {doubt}")


SHARE_GRID = (0.0, 0.5, 0.8, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0)


def _judged_by_share(r: dict) -> bool:
    """A line :func:`scanner.ingest.confidence.line_confidence` judges by the beam's share (words apart)."""
    from scanner.ingest.confidence import BEAM_MIN_LOG_P

    return (r.get("share") is not None and not r["changed"] and r["unknown"] == 0
            and r["log_p"] >= BEAM_MIN_LOG_P)


def share_tables(rows: list[dict]) -> None:
    """Isotonic fits of "the line is exactly right" on the beam search's share, real handwriting and fonts apart.

    These are the lines ``_CALIB_SHARE_KNOWN`` in ``scanner/ingest/confidence.py``
    is for: every word known, none post-corrected, the network's own
    probability of the text at least e^BEAM_MIN_LOG_P. The table takes, at
    each point, the lower of the real-handwriting and the font fits, rounded
    down, as the others do. Single words and lines apart, since a single word
    needs a higher share (WORD_MIN_SHARE).
    """
    from sklearn.isotonic import IsotonicRegression

    for single in (False, True):
        for group in ("real", "font"):
            sel = [r for r in rows if _judged_by_share(r) and (r["words"] < 2) == single
                   and r["source"].startswith(group)]
            if len(sel) < 10:
                continue
            x = np.array([r["share"] for r in sel])
            y = np.array([bool(r["right"]) for r in sel], dtype=float)
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
            fit = iso.predict(np.array(SHARE_GRID))
            print(f"share table, {'single words' if single else 'lines'}, {group} ({len(sel)}, {int(y.sum())} right): "
                  + ", ".join(f"({g}, {v:.2f})" for g, v in zip(SHARE_GRID, fit)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="31,32,33", help="seeds of the real-handwriting batches (fit half)")
    ap.add_argument("--sheets", type=int, default=7)
    ap.add_argument("--days", type=int, default=2, help="generated font days with clinical text")
    ap.add_argument("--save", type=Path, help="keep the labelled lines as JSON")
    ap.add_argument("--load", type=Path, help="fit on lines saved earlier instead of reading pages")
    args = ap.parse_args(argv)
    if args.load:
        rows = json.loads(args.load.read_text())
    else:
        folder = rh.dev_folder()
        if folder is None:
            print("Skipped: no real handwriting here.")
            return 0
        rh.HALF = "fit"
        seen, original = _record_lines()
        work = Path(tempfile.mkdtemp(prefix="inklock-calib-"))
        rows = []
        try:
            for seed in (int(s) for s in args.seeds.split(",")):
                rows += realhw_lines(folder, seed, args.sheets, work, seen)
                print(f"seed {seed}: {len(rows)} lines so far", flush=True)
            for n in range(args.days):
                rows += font_day_lines(1000 + n, 21, work, seen)
                print(f"font day {n}: {len(rows)} lines so far", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            from scanner.ingest import ocr

            ocr.OcrEngine._finish_line = original  # type: ignore[method-assign]
        if args.save:
            args.save.write_text(json.dumps(rows))
    share_tables(rows)
    from sklearn.linear_model import LogisticRegression

    x, y = matrix(rows)
    print(f"{len(rows)} lines: " + ", ".join(f"{s} {sum(r['source'] == s for r in rows)}"
                                            for s in sorted({r['source'] for r in rows})))
    rng = np.random.default_rng(0)
    held = rng.random(len(rows)) < 0.3
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x[~held], y[~held])
    print("weights: " + ", ".join(f"{f} {w:+.3f}" for f, w in zip(FEATURES, model.coef_[0])) +
          f", intercept {model.intercept_[0]:+.3f}")
    report("fit part", model.predict_proba(x[~held])[:, 1], y[~held])
    report("held-out part", model.predict_proba(x[held])[:, 1], y[held])
    for s in sorted({r["source"] for r in rows}):
        m = np.array([r["source"] == s for r in rows]) & held
        if m.any():
            report(f"held-out {s}", model.predict_proba(x[m])[:, 1], y[m])
    return 0


if __name__ == "__main__":
    sys.exit(main())

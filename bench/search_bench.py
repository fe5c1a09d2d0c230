"""Search latency at vault scale (SPEC section 9: p95 <= 25 ms; SQLCipher <= 1.3x plain SQLite).

Builds, in a temporary folder, one vault with the real encryption (``Vault.create``)
and one plain SQLite file (the same SQLite build, no key), both filled with the
same synthetic sessions (~1.5 KB of clinical text each, some fields left as
OCR drafts with misread letters). Then runs every query type against both
through :class:`scanner.vault.search.Searcher` and prints p50/p95 side by side.

    python -m bench.search_bench [--sessions 12500 | --small] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from typing import Any
from pathlib import Path

import scanner.vault.db  # noqa: F401  (first: binds sqlite-utils to SQLCipher)

import sqlite_utils
from sqlcipher3 import dbapi2

from scanner.vault import schema
from scanner.vault.search import Filters, Searcher

SEED = 20240917
PASSPHRASE = "bench passphrase, not a secret"
TARGET_P95_MS = 25.0
TARGET_RATIO = 1.3
DATA = Path(__file__).resolve().parents[1] / "scanner" / "data"

CLINICAL = (DATA / "clinical.txt").read_text().split()
SYMPTOMS = ["anxiety", "insomnia", "panic attacks", "low mood", "irritability", "poor concentration", "rumination",
            "intrusive thoughts", "nightmares", "fatigue", "hopelessness", "worry", "avoidance", "tearfulness",
            "anhedonia", "poor appetite", "social withdrawal", "flashbacks", "hypervigilance", "restlessness"]
CONTEXTS = ["work", "school", "family", "the divorce", "a recent move", "the new job", "a breakup", "caregiving",
            "her mother's illness", "his father's death", "financial stress", "court dates", "the pregnancy"]
INTERVENTIONS = ["cbt", "dbt", "mi", "act", "emdr", "psychoeducation", "mindfulness", "exposure", "grounding"]
RISK = ["Denies SI/HI.", "Passive SI, no plan or intent; safety plan reviewed.", "Denies suicidal ideation.",
        "No SI, HI or AVH reported.", "Hx of SA (2019); currently denies SI.", "Reports NSSI urges, no SH this wk."]
HOMEWORK = ["thought record daily", "sleep diary", "behavioral activation: two pleasant activities",
            "practice grounding 5-4-3-2-1", "exposure hierarchy steps 1-3", "journaling before bed",
            "diaphragmatic breathing twice a day", "values worksheet", "call sister this wk"]
MOODS = ["euthymic", "anxious", "dysphoric", "irritable", "flat", "labile", "tearful", "calm", "guarded"]
# Letters Tesseract commonly confuses in hand print.
OCR_SLIPS = {"e": "c", "c": "e", "a": "o", "o": "a", "i": "l", "l": "i", "n": "h", "h": "n", "u": "v",
             "v": "u", "t": "f", "f": "t", "m": "n", "r": "n", "s": "e", "y": "v", "g": "q", "d": "cl"}


def _sentence(rng: random.Random, general: list[str]) -> str:
    """One clinical sentence; random general words give the vault a realistic vocabulary."""
    sym, ctx = rng.choice(SYMPTOMS), rng.choice(CONTEXTS)
    w = lambda: rng.choice(general)  # noqa: E731
    c = lambda: rng.choice(CLINICAL)  # noqa: E731
    return rng.choice([
        f"Client reports {sym} related to {ctx}, worse at night and around {w()}.",
        f"Pt described {sym} and {rng.choice(SYMPTOMS)} after {ctx}; discussed {c()} and {w()}.",
        f"Explored {c()} in the context of {ctx} and the {w()} at home.",
        f"Noted {c()} when talking about {w()} and {w()}; affect {rng.choice(MOODS)}.",
        f"We practiced {c()} skills; client identified {w()} as a trigger for {sym}.",
        (f"Sleep {rng.randint(4, 9)} hrs, appetite {rng.choice(['fair', 'poor', 'good'])}, "
         f"{sym} {rng.choice(['improved', 'unchanged', 'worse'])}."),
        f"Reviewed progress toward goal of reducing {sym}; {c()} and {c()} remain a focus.",
    ])


def _text(rng: random.Random, general: list[str], chars: int) -> str:
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < chars:
        out.append(_sentence(rng, general))
    return " ".join(out)


def ocr_noise(rng: random.Random, text: str, rate: float = 0.08) -> str:
    """Misread one or two letters in about ``rate`` of the words (an OCR draft)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) >= 4 and rng.random() < rate:
            chars = list(word)
            for _ in range(1 if rng.random() < 0.7 else 2):
                j = rng.randrange(len(chars))
                chars[j] = OCR_SLIPS.get(chars[j], chars[j])
            words[i] = "".join(chars)
    return " ".join(words)


def synthetic_rows(sessions: int, seed: int = SEED) -> tuple[list[tuple], list[tuple]]:
    """Rows for ``sheets`` and ``fields``: ~1.5 KB of text per session, ~40% of text fields drafts."""
    rng = random.Random(seed)
    general = (DATA / "words.txt").read_text().split()
    clients = [f"C{n:03d}" for n in range(1, max(2, sessions // 50) + 1)]
    sheets, fields = [], []
    for n in range(1, sessions + 1):
        sheet_id = f"S{n:07d}"
        day = f"{2019 + n * 6 // sessions}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        sheets.append((n, sheet_id, "session", 1, "letter", rng.choice(clients), day, n % 40 + 1, 0, "bench"))
        values = [
            ("presenting", "text", "progress", _text(rng, general, 260)),
            ("mood", "line", "progress", f"Mood {rng.choice(MOODS)}, affect {rng.choice(MOODS)}"),
            ("interventions", "choice", "progress", rng.sample(INTERVENTIONS, rng.randint(1, 3))),
            ("risk", "line", "progress", rng.choice(RISK)),
            ("homework", "line", "progress", f"HW: {rng.choice(HOMEWORK)}"),
            ("plan", "text", "progress", _text(rng, general, 200) + f" f/u in {rng.randint(1, 3)} wks."),
            ("phq9", "digits", "progress", str(rng.randint(0, 27))),
            ("private_notes", "text", "private", _text(rng, general, 620)),
            ("process", "text", "private", _text(rng, general, 240)),
            ("attended", "checkbox", "progress", True),
            ("distress", "scale", "progress", rng.randint(0, 10)),
        ]
        for key, kind, privacy, value in values:
            draft = kind in ("line", "text") and rng.random() < 0.4
            read = ocr_noise(rng, str(value)) if draft else value
            status = "pending" if draft else "confirmed"
            confirmed = None if draft else json.dumps(value)
            fields.append((sheet_id, 1, key, kind, privacy, json.dumps(read), 0.9, "[]", None, 1, status, confirmed))
    return sheets, fields


def fill(db: sqlite_utils.Database, sheets: list[tuple], fields: list[tuple]) -> None:
    """Bulk insert in one transaction; the schema's triggers build the search index."""
    conn = db.conn
    with conn:
        conn.executemany("INSERT INTO sheets(id, sheet_id, template, template_version, page_size, client, date, "
                         "session_number, blank, printed_at) VALUES (?,?,?,?,?,?,?,?,?,?)", sheets)
        conn.executemany("INSERT INTO fields(sheet_id, page, key, kind, privacy, value, confidence, flags, "
                         "crop_file, page_version, status, confirmed_value) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", fields)
        conn.execute("INSERT INTO search_words(search_words) VALUES ('optimize')")
        conn.execute("INSERT INTO search_trigrams(search_trigrams) VALUES ('optimize')")


def plain_db(path: Path) -> sqlite_utils.Database:
    """The same SQLite build and connection settings as the vault, without a key."""
    conn = dbapi2.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    schema.migrate(db)
    return db


def query_sets(sessions: int) -> dict[str, list[tuple[str, Filters]]]:
    """Queries per type; the same for both databases."""
    none = Filters()
    last_year = 2019 + 5
    return {
        "word": [(q, none) for q in ["insomnia", "anxiety", "nightmares", "rumination", "caregiving", "breakup",
                                     "sobriety", "grief", "pregnancy", "hypervigilance"]],
        "prefix": [(q, none) for q in ["anx*", "sleep*", "ruminat*", "psycho*", "trau*", "dissoc*", "flash*",
                                       "hope*"]],
        "phrase": [(q, none) for q in ['"panic attacks"', '"low mood"', '"safety plan"', '"sleep diary"',
                                       '"social withdrawal"', '"thought record"']],
        "boolean": [(q, none) for q in ["anxiety AND work NOT divorce", "panic OR flashbacks",
                                        "(insomnia OR nightmares) AND family", "grief NOT school",
                                        "worry AND court", "mindfulness OR grounding"]],
        "fuzzy/typo": [(q, none) for q in ["insomina", "anxeity", "rumintion", "hypervigilence", "nightmars",
                                           "caregivng", "tearfullness", "concentraton"]],
        "substring": [(q, none) for q in ["nxiet", "umina", "somni", "vigil", "regiv", "earful"]],
        "shorthand": [(q, none) for q in ["SI", "suicidal ideation", "CBT", "follow-up", "homework",
                                          '"self-harm"']],
        "with filters": [
            ("anxiety", Filters(client="C007")),
            ("insomnia", Filters(since=f"{last_year}-01-01", until=f"{last_year}-06-30")),
            ("rumination", Filters(field="private_notes", privacy="private")),
            ("SI", Filters(privacy="progress", client="C003")),
            ("anxeity", Filters(since="2020-01-01", until="2020-12-31")),
            ("nxiet", Filters(field="presenting")),
            ("somni", Filters(privacy="progress")),
            ("regiv", Filters(since=f"{last_year - 2}-03-01")),
            ("panic OR flashbacks", Filters(client="C011", until=f"{last_year}-10-15")),
        ],
    }


def measure(searcher: Searcher, queries: list[tuple[str, Filters]], repeat: int) -> tuple[list[float], int]:
    times, hits = [], 0
    for _ in range(repeat):
        for q, f in queries:
            start = time.perf_counter()
            results = searcher.search(q, f)
            times.append((time.perf_counter() - start) * 1000)
            hits += len(results)
    return times, hits


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def run(sessions: int, repeat: int) -> dict:
    from scanner.vault.vault import Vault

    out: dict = {"sessions": sessions, "types": {}}
    with tempfile.TemporaryDirectory(prefix="inklock-search-bench-") as tmp:
        t0 = time.perf_counter()
        sheets, fields = synthetic_rows(sessions)
        text_kb = sum(len(f[5]) for f in fields) / sessions / 1024
        out["generate_s"] = round(time.perf_counter() - t0, 2)
        vault, _ = Vault.create(Path(tmp) / "vault", PASSPHRASE)
        plain = plain_db(Path(tmp) / "plain.db")
        try:
            for name, db in (("sqlcipher", vault.db), ("plain", plain)):
                t0 = time.perf_counter()
                fill(db, sheets, fields)
                out[f"fill_{name}_s"] = round(time.perf_counter() - t0, 2)
            out["kb_per_session"] = round(text_kb, 2)
            out["fields_indexed"] = vault.db.execute("SELECT count(*) FROM search_docs").fetchone()[0]
            out["vocabulary"] = vault.db.execute("SELECT count(*) FROM search_vocab").fetchone()[0]
            searchers = {"sqlcipher": Searcher(vault.db), "plain": Searcher(plain)}
            for name, s in searchers.items():
                t0 = time.perf_counter()
                s.search("anxeity")  # first fuzzy query: loads the vocabulary
                out[f"first_fuzzy_{name}_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            for kind, queries in query_sets(sessions).items():
                row: dict[str, Any] = {}
                for name, s in searchers.items():
                    measure(s, queries, 1)  # warm the page cache as a running app would be
                    times, hits = measure(s, queries, repeat)
                    row[name] = {"p50": round(statistics.median(times), 2), "p95": round(p95(times), 2),
                                 "hits": hits // repeat}
                row["ratio_p95"] = round(row["sqlcipher"]["p95"] / max(row["plain"]["p95"], 1e-6), 2)
                out["types"][kind] = row
        finally:
            vault.close()
            plain.close()
    return out


def report(out: dict) -> None:
    print(f"search at {out['sessions']} sessions ({out['kb_per_session']} KB text each, "
          f"{out['fields_indexed']} fields indexed, {out['vocabulary']} distinct words); "
          f"fill: SQLCipher {out['fill_sqlcipher_s']} s, plain {out['fill_plain_s']} s")
    print(f"first fuzzy query after opening (reads the vocabulary): SQLCipher {out['first_fuzzy_sqlcipher_ms']} ms, "
          f"plain {out['first_fuzzy_plain_ms']} ms")
    print(f"{'query type':<14}{'SQLCipher p50':>14}{'p95':>8}{'plain p50':>11}{'p95':>8}{'ratio':>7}  target")
    worst_p95, worst_ratio = 0.0, 0.0
    for kind, row in out["types"].items():
        c, p = row["sqlcipher"], row["plain"]
        ok = c["p95"] <= TARGET_P95_MS and row["ratio_p95"] <= TARGET_RATIO
        worst_p95, worst_ratio = max(worst_p95, c["p95"]), max(worst_ratio, row["ratio_p95"])
        print(f"{kind:<14}{c['p50']:>11.1f} ms{c['p95']:>5.1f} ms{p['p50']:>8.1f} ms{p['p95']:>5.1f} ms"
              f"{row['ratio_p95']:>6.2f}x  {'ok' if ok else 'MISSED'}")
    print(f"worst SQLCipher p95 {worst_p95:.1f} ms (target <= {TARGET_P95_MS:.0f} ms); "
          f"worst ratio {worst_ratio:.2f}x (target <= {TARGET_RATIO}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12_500)
    parser.add_argument("--small", action="store_true", help="1,000 sessions (CI: must finish, not meet targets).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = run(1000 if args.small else args.sessions, args.repeat)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

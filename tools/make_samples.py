"""Write ``samples/day.pdf`` and ``samples/expected.json``: a small scanned day for the demo and tests.

Three clients, one ``session`` sheet each (two pages), filled in by synthetic
hands, plus one blank duplex back; one page looks like a phone photo, the others
like a sheet-fed scanner at 300 dpi (grayscale JPEG q75) in mixed orientations;
all shuffled into one PDF. Sheet ids are fixed by the seed, so the demo can
register the same sheets in a throwaway vault before ingesting.

    .venv/bin/python tools/make_samples.py [--out samples] [--seed 20250304]

Deterministic for a seed on one machine (fonts, OpenCV, poppler versions).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forms.render import SheetSpec  # noqa: E402
from tools.synth import make_batch, seeded_sheet_id  # noqa: E402

TEMPLATE = "session"
PAGE_SIZE = "letter"
DATE = "2025-03-04"
DPI = 300
QUALITY = 75
NOISE = 1.5  # sensor noise sigma: more makes every JPEG page much larger
# (client code, session number, carried forward from the last session)
CLIENTS = [
    ("C-104", 7, {"plan": ("walk 3x this week, sleep diary", "2025-02-25"),
                  "unfinished_conversations": ("return to sister conflict", "2025-02-25")}),
    ("M-221", 2, {}),
    ("R-307", 12, {"session_tasks": ("send worksheet", "2025-02-25")}),
]
# Degradation per page in order: each client's page 1 and 2, then the blank back.
PAGES = [
    {"preset": "scanner", "quarter_turns": 0},
    {"preset": "scanner", "quarter_turns": 2},
    {"preset": "scanner", "quarter_turns": 1},
    {"preset": "phone", "quarter_turns": 0},
    {"preset": "scanner", "quarter_turns": 3},
    {"preset": "scanner", "quarter_turns": 2},
    {"preset": "scanner", "quarter_turns": 0},
]


def build(seed: int) -> tuple[bytes, dict]:
    """The PDF bytes and the expected.json document."""
    rng = np.random.default_rng(seed)
    sheets = [
        SheetSpec(seeded_sheet_id(rng), TEMPLATE, client=client, date=DATE, session=session, carry=carry)
        for client, session, carry in CLIENTS
    ]
    fixed = {"quality": QUALITY, "noise": NOISE}
    presets = [dict(p, out_dpi=DPI, **fixed) if p["preset"] == "scanner" else dict(p, **fixed) for p in PAGES]
    pdf, pages = make_batch(sheets, rng, presets=presets, blank_pages=1, dpi=DPI, page_size=PAGE_SIZE)
    by_sheet: dict[str, list[dict]] = {s.sheet_id: [] for s in sheets}
    for entry in pages:
        if not entry["blank"]:
            by_sheet[entry["sheet_id"]].append(
                {k: entry[k] for k in ("page", "source_index", "values", "expected_flags", "marks", "writer", "degradation")}
            )
    doc = {
        "format": 1,
        "made_by": "tools/make_samples.py",
        "seed": seed,
        "pdf": "day.pdf",
        "page_count": len(pages),
        "sheets": [
            {
                "sheet_id": s.sheet_id,
                "template": TEMPLATE,
                "client": s.client,
                "date": DATE,
                "session": s.session,
                "page_size": PAGE_SIZE,
                "carry": {k: {"text": text, "from_date": when} for k, (text, when) in s.carry.items()},
                "pages": sorted(by_sheet[s.sheet_id], key=lambda p: p["page"]),
            }
            for s in sheets
        ],
        "pages": [
            {k: e[k] for k in ("source_index", "sheet_id", "page", "blank")}
            | {"preset": e["degradation"]["preset"], "quarter_turns": e["degradation"]["quarter_turns"]}
            for e in pages
        ],
    }
    return pdf, doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples")
    ap.add_argument("--seed", type=int, default=20250304)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    pdf, doc = build(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "day.pdf").write_bytes(pdf)
    (args.out / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - start
    print(f"wrote {args.out / 'day.pdf'} ({len(pdf) / 1e6:.2f} MB, {doc['page_count']} pages) and expected.json "
          f"in {seconds:.1f} s")
    for p in doc["pages"]:
        what = "blank back" if p["blank"] else f"{p['sheet_id']} page {p['page']}"
        print(f"  page {p['source_index'] + 1}: {what:<22} {p['preset']:<8} {90 * p['quarter_turns']:>3} deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

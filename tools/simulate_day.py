"""Fill a printed packet with synthetic handwriting and "scan" it: try Inklock without a pen.

Takes the JSON that ``inklock print --json`` printed, fills every sheet with
invented (synthetic) answers in a handwriting font, degrades the pages like a
sheet-fed scanner (any orientation, one blank back), shuffles them and writes
one PDF ready for ``inklock ingest``. Synthetic data only.

    inklock print --schedule today.csv --out today.pdf --json > today.json
    .venv/bin/python tools/simulate_day.py today.json --out scan.pdf
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forms.model import get_template  # noqa: E402
from forms.render import SheetSpec  # noqa: E402
from tools.synth import make_batch  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("printed", type=Path, help="the output of 'inklock print --json'")
    ap.add_argument("--out", type=Path, required=True, help="the scanned PDF to write")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    printed = json.loads(args.printed.read_text())
    sheets = [SheetSpec(s["sheet_id"], get_template(s["template"]), client=s["client"], date=s["date"],
                        session=s["session"]) for s in printed["sheets"]]
    rng = np.random.default_rng(args.seed)
    make_batch(sheets, rng, presets={"scanner": 0.9, "phone": 0.1}, blank_pages=1, out_path=args.out)
    print(f"Wrote {args.out}: {sum(s['pages'] for s in printed['sheets']) + 1} scanned pages (synthetic handwriting).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

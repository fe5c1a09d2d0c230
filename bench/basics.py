"""Printing and unlocking: a 20-client packet, and KDF + open + first query.

    python -m bench.basics [--clients 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args(argv)
    from scanner.notes.printing import SheetRequest, print_packet
    from scanner.vault.vault import Vault

    work = Path(tempfile.mkdtemp(prefix="inklock-bench-"))
    try:
        vault, _ = Vault.create(work / "vault", "bench passphrase")
        requests = [SheetRequest("session", f"C{n:03d}", "2026-11-27", None) for n in range(args.clients)]
        print_packet(vault, requests[:1], work / "warm.pdf", "letter")  # imports and fonts, once
        times = []
        for i in range(3):
            t = time.perf_counter()
            print_packet(vault, requests, work / f"packet{i}.pdf", "letter")
            times.append(time.perf_counter() - t)
        vault.close()
        unlock = []
        for _ in range(2 if args.small else 5):
            t = time.perf_counter()
            v = Vault.open(work / "vault", "bench passphrase")
            v.db.execute("SELECT COUNT(*) FROM sheets").fetchone()
            unlock.append(time.perf_counter() - t)
            v.close()
        print(f"{'figure':44}  {'measured':>10}  target")
        print(f"{f'print a {args.clients}-client packet (s, median of 3)':44}  {statistics.median(times):>10.3f}  <= 2")
        print(f"{'unlock: Argon2id + open both dbs + query (s)':44}  {statistics.median(unlock):>10.3f}  0.4-0.8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

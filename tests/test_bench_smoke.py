"""The small benchmark runs to the end (CI smoke test: it must finish, not meet a number)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_small_benchmark_finishes(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench", "--small"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for figure in ("print a", "unlock", "ingest, s/page", "pages identified", "p95", "keys per session"):
        assert figure in proc.stdout, figure


def test_line_calibration_fits_saved_lines(tmp_path, capsys):
    """The fitting tool runs on lines it saved earlier (synthetic numbers here) and prints the shares it reports."""
    import json
    import random

    from bench import line_calibration

    rnd = random.Random(3)
    rows = []
    for n in range(120):
        right = n % 3 != 0
        lp = -rnd.uniform(0, 0.3) if right else -rnd.uniform(0.2, 4)
        rows.append({"log_p": lp, "chars": 12, "words": 2, "min_char": 0.9 if right else 0.5,
                     "unknown": 0 if right else 1, "changed": 0, "names": 0, "right": right,
                     "source": "real-cursive" if n % 2 else "font-clinical", "want": "a b", "got": "a b"})
    saved = tmp_path / "lines.json"
    saved.write_text(json.dumps(rows))
    assert line_calibration.main(["--load", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "120 lines" in out and "held-out part" in out and "right >= 0.8" in out

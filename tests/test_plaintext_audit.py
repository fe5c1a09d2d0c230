"""Plaintext audit: a whole day with Inklock leaves no health information readable on disk.

Unusual marker words go into every written field: in the handwriting of the
scanned pages (the reader may or may not read them) and, typed, into every
confirmation (so they certainly are in the vault). Then the day runs as a
clinician would run it -- print, ingest, confirm, show, note, search, backup --
through the real command (subprocesses, so every child process counts), with
the temp folder, the home folder and the working folder all inside the test.

Afterwards every byte of every file in those folders, in the vault, and in the
system temp folders (files changed during the test) is searched for the
words, as UTF-8 and UTF-16, in any letter case; PDFs also by their extracted
text. Only the exported progress notes may hold progress words, and never a
private one. The client code is checked the same way: it may be in the printed
packet and the notes, nowhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PRIVATE_WORDS = ("marmalquist", "vorpalgrin")
PROGRESS_WORDS = ("tundrafable",)
CLIENT = "QZX-417"
SYSTEM_TEMP = ("/tmp", "/var/tmp", "/dev/shm")
MAX_SCAN_BYTES = 200_000_000


def encodings(word: str) -> list[bytes]:
    """The forms a word may take on disk, matched against lower-cased bytes."""
    w = word.lower()
    return [w.encode(), w.encode("utf-16-le"), w.encode("utf-16-be")]


def hits(data: bytes, words) -> list[str]:
    low = data.lower()  # ASCII letters only: UTF-16 of an ASCII word is lower-cased too
    return [w for w in words if any(e in low for e in encodings(w))]


def pdf_text(path: Path) -> bytes:
    proc = subprocess.run(["pdftotext", str(path), "-"], capture_output=True)
    return proc.stdout


def files_under(root: Path, since: float | None = None, skip: Path | None = None):
    """Regular files below ``root`` (changed since ``since``, if given), not below ``skip``."""
    for folder, dirs, names in os.walk(root, onerror=lambda e: None):
        if skip is not None and Path(folder) == skip:
            dirs[:] = []
            continue
        for name in names:
            path = Path(folder) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink() or st.st_size > MAX_SCAN_BYTES:
                continue
            if since is not None and max(st.st_mtime, st.st_ctime) < since:
                continue
            yield path


def read(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None  # removed meanwhile by someone else's process, or a socket
    if data.startswith(b"%PDF"):
        data += b"\n" + pdf_text(path)  # page text is compressed inside a PDF
    return data


def test_the_finder_finds_planted_words(tmp_path):
    """Positive control for the search itself: every encoding and case, and inside a PDF."""
    for i, blob in enumerate([b"x MARMALQUIST y", "Vorpalgrin".encode("utf-16-le"),
                              "tundraFABLE".encode("utf-16-be")]):
        (tmp_path / f"f{i}").write_bytes(blob)
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "p.pdf"))  # compressed page content
    c.drawString(72, 72, "a QZX-417 b")
    c.save()
    found = {w for p in files_under(tmp_path) for w in hits(read(p), (*PRIVATE_WORDS, *PROGRESS_WORDS, CLIENT))}
    assert found == {*PRIVATE_WORDS, *PROGRESS_WORDS, CLIENT}


def typed_value(f: dict) -> str:
    words = PRIVATE_WORDS if f["privacy"] == "private" else PROGRESS_WORDS
    return f"{' '.join(words)} {f['key'].replace('_', ' ')}"


def handwritten_values(page_layout: dict, rng) -> dict:
    """Random ticks and bubbles; every written field carries a marker word in the handwriting."""
    from tools.synth.values import random_values

    values = random_values(page_layout, rng, empty_rate=0.0)
    for f in page_layout["fields"]:
        if f["kind"] in ("line", "text"):
            word = PRIVATE_WORDS[0] if f["privacy"] == "private" else PROGRESS_WORDS[0]
            values[f["key"]] = f"{word} sleep" if f["kind"] == "line" else f"{word} sleep\nworry {word}"
    return values


@pytest.mark.slow
def test_a_whole_day_leaves_no_plaintext(vault_dir, tmp_path, tmp_path_factory, cli, monkeypatch):
    from forms.geometry import layout
    from forms.model import get_template
    from forms.render import SheetSpec
    from tools.synth.batch import make_batch

    started = time.time() - 1
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = dict(os.environ)  # TMPDIR, HOME, INKLOCK_* are the test's own (conftest)

    def inklock(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "scanner.cli", *map(str, args)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc

    # Morning: print the day's packet.
    (work / "today.csv").write_text(f"client,date,session\n{CLIENT},2025-03-04,7\n", encoding="utf-8")
    printed = json.loads(inklock("print", "--schedule", "today.csv", "--out", "today.pdf", "--json").stdout)
    sheet = printed["sheets"][0]

    # In session: the pen. Evening: the scanner.
    rng = np.random.default_rng(417)
    geometry = layout(get_template("session"))
    spec = SheetSpec(sheet["sheet_id"], "session", client=CLIENT, date="2025-03-04", session=7)
    values = {(sheet["sheet_id"], p["number"]): handwritten_values(p, rng) for p in geometry["pages"]}
    make_batch([spec], rng, presets={"preset": "scanner", "out_dpi": 200}, blank_pages=1, dpi=200,
               values=values, out_path=work / "scan.pdf")
    summary = json.loads(inklock("ingest", "scan.pdf", "--json").stdout)
    assert summary["identified"] == 2, summary

    # Review: every field confirmed; every written one typed with marker words.
    session = str(sheet["session_id"])
    shown = json.loads(inklock("show", session, "--json").stdout)
    for f in shown["fields"]:
        args = ["confirm", session, f["key"]]
        if f["kind"] in ("line", "text"):
            args += ["--value", typed_value(f)]
        run = cli(*args)
        assert run.code == 0, run.err
    shown = inklock("show", session, "--json").stdout
    assert all(w in shown for w in (*PRIVATE_WORDS, *PROGRESS_WORDS)), "the words are in the vault"

    # Progress notes in every format and file type; a search; a backup.
    notes = []
    for fmt, kind in (("soap", "md"), ("birp", "pdf"), ("dap", "txt"), ("soap", "json")):
        notes.append(work / f"note-{fmt}.{kind}")
        inklock("note", session, "--format", fmt, "--out", notes[-1].name)
    for query in (PRIVATE_WORDS[0], PROGRESS_WORDS[0], f'"{PRIVATE_WORDS[1]}"'):
        found = inklock("search", query, "--json").stdout
        assert json.loads(found)["results"], query
        inklock("search", query)
    inklock("sessions")
    inklock("backup", tmp_path / "backups" / "day.inklock")

    # The audit.
    private, progress = PRIVATE_WORDS, (*PROGRESS_WORDS, CLIENT)
    checked = 0
    leaks: list[str] = []
    allowed_progress = {*notes, work / "today.pdf", work / "today.csv"}  # outputs, and the schedule typed in
    # Beside this test's own folder (temp, home, working folder, vault), what every process of
    # the machine wrote during the test into the system temp folders -- not other tests' folders.
    pytest_root = tmp_path_factory.getbasetemp().parent
    roots = [(tmp_path, None, None), *[(Path(d), started, pytest_root) for d in SYSTEM_TEMP if Path(d).is_dir()]]
    seen: set[Path] = set()
    for root, since, skip in roots:
        for path in files_under(root, since, skip):
            if path in seen or path == work / "scan.pdf":  # the input: handwriting as pixels only
                continue
            seen.add(path)
            data = read(path)
            if data is None:
                continue
            checked += 1
            found = hits(data, private)
            if path not in allowed_progress:
                found += hits(data, progress)
            if found:
                leaks.append(f"{path}: {found}")
    assert not leaks, "marker words found in plaintext:\n" + "\n".join(leaks)
    assert vault_dir in {p.parent for p in seen} and any(p.suffix == ".bin" for p in seen)
    assert checked > 20
    # The exported notes do hold the progress words (the audit would have seen a leak there).
    assert all(hits(read(n), PROGRESS_WORDS) for n in notes)


IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"P5\n", b"P6\n", b"%PDF", b"SQLite format 3")


@pytest.mark.slow
def test_scanning_writes_no_file_but_the_vaults(vault_dir, tmp_path, tmp_path_factory, monkeypatch):
    """``inklock scan`` from SANE's test backend: pages go from the scanner into the vault, never into a file.

    Nothing new appears in this test's temp, home or working folder, and
    nothing written to the system temp folders meanwhile is an image, a PDF or
    a plain database; in the vault, every file is encrypted.
    """
    sane_dir = tmp_path / "sane.d"
    sane_dir.mkdir()
    (sane_dir / "dll.conf").write_text("test\n")
    (sane_dir / "test.conf").write_text('number_of_devices 1\ntest-picture "Color pattern"\n')
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = dict(os.environ, SANE_CONFIG_DIR=str(sane_dir))
    (tmp_path / "home").mkdir(exist_ok=True)
    before = {p: p.stat().st_mtime for p in files_under(tmp_path)}
    started = time.time() - 1

    proc = subprocess.run([sys.executable, "-m", "scanner.cli", "scan", "--json"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["pages"] == 10 and summary["unmatched"] == 10, summary

    new = [p for p in files_under(tmp_path) if before.get(p) != p.stat().st_mtime]
    outside = [p for p in new if vault_dir not in p.parents]
    assert not outside, f"files written outside the vault: {outside}"
    assert len([p for p in new if p.suffix == ".bin"]) >= 10  # the pages and their thumbnails, encrypted
    for path in new:
        head = path.read_bytes()[:16]
        assert not any(head.startswith(m) for m in IMAGE_MAGIC), f"{path} is not encrypted"
    pytest_root = tmp_path_factory.getbasetemp().parent
    for root in SYSTEM_TEMP:
        if not Path(root).is_dir():
            continue
        for path in files_under(Path(root), started, pytest_root):
            try:
                head = path.read_bytes()[:16]
            except OSError:
                continue
            assert not any(head.startswith(m) for m in IMAGE_MAGIC[:7]), f"{path} was written during the scan"

"""``inklock watch FOLDER``, run as a user runs it: a process, files dropped in, Ctrl-C.

Nothing here waits for a time to pass: each step waits (with a generous bound)
for the line the watcher prints about a file, and the order of those lines
shows what was left alone.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
BOUND_S = 240  # a bound on each wait, never an expectation


class Watcher:
    def __init__(self, folder: Path, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "scanner.cli", "watch", str(folder)], cwd=cwd,
                                     env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=BOUND_S)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no line starting {prefix!r}; seen: {self.seen}; "
                                     f"stderr: {self.proc.stderr.read() if self.proc.stderr else ''}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def register_sample_sheets(vault) -> None:
    from scanner.vault import store

    for sheet in json.loads((SAMPLES / "expected.json").read_text())["sheets"]:
        store.register_sheet(vault, sheet_id=sheet["sheet_id"], template=sheet["template"], template_version=1,
                             page_size=sheet["page_size"], client=sheet["client"], date=sheet["date"],
                             session_number=sheet["session"])


def test_watch_ingests_complete_files_removes_stored_ones_and_stops_on_ctrl_c(vault, tmp_path):
    register_sample_sheets(vault)
    vault.close()
    folder = tmp_path / "scans"
    folder.mkdir()
    watcher = Watcher(folder, tmp_path)
    try:
        assert watcher.wait_for("Watching ").startswith(f"Watching {folder}")

        # A scan still being written: the first part of the sample day's PDF.
        day = (SAMPLES / "day.pdf").read_bytes()
        cut = len(day) * 3 // 5
        half = folder / "day.pdf"
        half.write_bytes(day[:cut])
        # Meanwhile a complete page arrives (a picture of no form: it waits in review's unmatched queue).
        noise = np.random.default_rng(3).integers(0, 256, (900, 700), dtype=np.uint8)
        Image.fromarray(noise).save(folder / "photo.png")
        line = watcher.wait_for("photo.png:")
        assert "1 unmatched" in line and line.endswith("stored and removed."), line
        assert not (folder / "photo.png").exists()
        # The half-written file was older, yet it was left alone: still there, never reported.
        assert half.read_bytes() == day[:cut]
        assert not any(s.startswith("day.pdf") for s in watcher.seen)

        # A damaged file fails: it stays, and is named.
        broken = folder / "broken.pdf"
        broken.write_bytes(b"%PDF-1.4\nthis is no PDF\n%%EOF\n")
        line = watcher.wait_for("broken.pdf:")
        assert "kept" in line and "not a readable PDF" in line, line
        assert broken.exists()

        # The rest of the scan is written: now it is read whole, stored, and removed.
        with open(half, "ab") as fh:
            fh.write(day[cut:])
        line = watcher.wait_for("day.pdf:")
        assert line.startswith("day.pdf: 7 page(s): 6 read, 0 unmatched, 1 blank") and "removed" in line, line
        assert not half.exists() and broken.exists()

        # A text file given a scan's name, dropped just before Ctrl-C: named on stopping, not passed over.
        (folder / "notes.pdf").write_text("not a scan")
        watcher.proc.send_signal(signal.SIGINT)
        assert watcher.wait_for("Stopped:") == ("Stopped: 2 file(s) stored and removed, 1 kept in the folder, "
                                                "1 not read yet (read when watch runs again):")
        assert watcher.wait_for("  notes.pdf:").startswith("  notes.pdf: it looks unfinished")
        assert watcher.proc.wait(timeout=BOUND_S) == 0
        assert "Traceback" not in watcher.proc.stderr.read()
    finally:
        if watcher.proc.poll() is None:
            watcher.proc.kill()
            watcher.proc.wait()

    from scanner.vault.vault import Vault

    v = Vault.open(vault.path, os.environ["INKLOCK_PASSPHRASE"])
    try:
        assert v.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0] == 6
        assert v.db.execute("SELECT COUNT(*) FROM unmatched").fetchone()[0] == 1
    finally:
        v.close()


def test_watch_refuses_what_is_not_a_folder(vault_dir, cli, tmp_path):
    r = cli("watch", tmp_path / "nowhere")
    assert r.code == 4 and "is not a folder" in r.err

"""``inklock watch FOLDER``: ingest each scan that lands in a folder, then delete it.

For scanners that can only write to a folder, and phone apps that sync one.
The folder is watched with watchfiles (inotify on Linux, FSEvents on macOS);
every change, and a timer besides, re-checks the files waiting. A file is
read only once it is complete: its size and modification time unchanged for
``STABLE_S`` seconds, its format's end marker present (a PDF's ``%%EOF``, a
JPEG's end-of-image, a PNG's IEND), and it opens. A complete file that does
not open is read after ``BROKEN_S`` seconds, one without its end marker after
``GIVE_UP_S``, so a damaged file is reported rather than waited on forever.

Each file is ingested on its own (scanner.ingest.pipeline, as ``--remove-source``): it
is deleted only when every page of it is stored (or was already in the
vault). A file that fails stays where it is and is named; it is tried again
only if it changes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from scanner.errors import BadInput
from scanner.ingest.pages import IMAGE_SUFFIXES, PDF_SUFFIXES, SUPPORTED

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

STABLE_S = 2.0
BROKEN_S = 10.0
GIVE_UP_S = 300.0
TICK_MS = 500


@dataclass
class _Waiting:
    size: int
    mtime: float
    since: float  # when the size and time were last seen to change


def _signature(path: Path) -> tuple[int, float] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime


def has_end_marker(path: Path) -> bool:
    """Whether the file ends as its format says a finished file ends."""
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 2048))
            tail = fh.read()
    except OSError:
        return False
    if suffix in PDF_SUFFIXES:
        return b"%%EOF" in tail
    if suffix in (".jpg", ".jpeg"):
        return tail.rstrip(b"\0").endswith(b"\xff\xd9")
    if suffix == ".png":
        return b"IEND" in tail[-16:]
    return size > 0  # TIFF has no end marker: size stability and opening decide


def opens(path: Path) -> bool:
    """Whether the file opens as what its name says (a half-written one usually does not)."""
    try:
        if path.suffix.lower() in PDF_SUFFIXES:
            import pikepdf

            with pikepdf.open(path) as pdf:
                return len(pdf.pages) > 0
        from PIL import Image

        with Image.open(path) as img:
            img.verify()
        return True
    except Exception:  # noqa: BLE001 -- any failure means: not (yet) a readable file
        return False


class FolderWatch:
    """The files of one folder, each read once it is complete; one line reported per file."""

    def __init__(self, vault: Vault, folder: Path, report: Callable[[str], None], *, workers: int = 1,
                 extra_template_dirs=(), stable_s: float = STABLE_S, broken_s: float = BROKEN_S,
                 give_up_s: float = GIVE_UP_S):
        self.vault = vault
        self.folder = folder
        self.report = report
        self.workers = workers
        self.extra_template_dirs = extra_template_dirs
        self.stable_s = stable_s
        self.broken_s = broken_s
        self.give_up_s = give_up_s
        self.waiting: dict[Path, _Waiting] = {}
        self.failed: dict[Path, tuple[int, float]] = {}  # left in place, until they change
        self.stored = 0
        self.kept = 0

    def candidates(self) -> list[Path]:
        try:
            return sorted(p for p in self.folder.iterdir()
                          if p.suffix.lower() in SUPPORTED and not p.name.startswith(".") and p.is_file())
        except OSError as exc:
            raise BadInput(f"The folder {self.folder} cannot be read ({exc.strerror or exc}).") from None

    def check(self, now: float | None = None) -> None:
        """Look at every file once; ingest those that are complete."""
        now = time.monotonic() if now is None else now
        present = set()
        for path in self.candidates():
            present.add(path)
            sig = _signature(path)
            if sig is None:
                continue
            if self.failed.get(path) == sig:
                continue
            self.failed.pop(path, None)
            seen = self.waiting.get(path)
            if seen is None or (seen.size, seen.mtime) != sig:
                self.waiting[path] = _Waiting(sig[0], sig[1], now)
                continue
            if not self.ready(path, now - seen.since, sig[0]):
                continue
            del self.waiting[path]
            self.ingest_one(path, sig)
        for gone in set(self.waiting) - present:
            del self.waiting[gone]

    def ready(self, path: Path, quiet: float, size: int) -> bool:
        """Whether a file unchanged for ``quiet`` seconds is to be read now."""
        if quiet < self.stable_s or size == 0:
            return False
        if not has_end_marker(path):
            return quiet >= self.give_up_s  # still being written, or cut short
        # Complete, but it does not open: a damaged file, read (and reported) after a grace period.
        return opens(path) or quiet >= self.broken_s

    def ingest_one(self, path: Path, sig: tuple[int, float]) -> None:
        from scanner.ingest.pipeline import ingest

        try:
            summary = ingest(self.vault, [path], workers=self.workers, remove_source=True,
                             extra_template_dirs=self.extra_template_dirs)
        except BadInput as exc:
            self.failed[path] = sig
            self.kept += 1
            self.report(f"{path.name}: kept, not stored ({exc.message.rstrip('.')}).")
            return
        data = summary.as_dict()
        counts = (f"{data['pages']} page(s): {data['identified']} read, {data['unmatched']} unmatched, "
                  f"{data['blank']} blank, {data['duplicates']} already in the vault")
        if not (data["failed"] or data["failed_files"]) and data["duplicates"] == data["pages"] and path.exists():
            # Stored by an earlier run: this copy is only plaintext left behind.
            try:
                os.remove(path)
                data["removed"].append(str(path))
            except OSError as exc:
                data["problems"].append(f"{path} was stored but could not be removed ({exc.strerror}).")
        if str(path) in data["removed"]:
            self.stored += 1
            self.report(f"{path.name}: {counts}; stored and removed.")
            return
        self.failed[path] = sig
        self.kept += 1
        why = "; ".join(p.rstrip(".") for p in data["problems"]) or "it could not be read"
        self.report(f"{path.name}: {counts}, {data['failed'] + data['failed_files']} failed; kept in the "
                    f"folder ({why}).")

    def unread(self) -> list[tuple[Path, str]]:
        """Scans still in the folder, not read and not kept as failed, when the watch stops, with why."""
        out = []
        for path in self.candidates():
            if path in self.failed and self.failed[path] == _signature(path):
                continue  # read, failed, and named already
            why = ("it does not open as a scan" if has_end_marker(path) and not opens(path)
                   else "it looks unfinished (still being written, or cut short)")
            out.append((path, why))
        return out

    def run(self, stop: threading.Event) -> None:
        """Check now, then on every change and tick, until ``stop`` is set."""
        from watchfiles import watch

        self.check()
        for _changes in watch(self.folder, stop_event=stop, rust_timeout=TICK_MS, yield_on_timeout=True,
                              debounce=TICK_MS, raise_interrupt=False, recursive=False):
            if stop.is_set():
                break
            self.check()


def watch_folder(vault: Vault, folder: Path, report: Callable[[str], None], **kwargs: Any) -> FolderWatch:
    """Watch ``folder`` until Ctrl-C (SIGINT) or SIGTERM; a file being read is finished first."""
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder.")
    stop = threading.Event()

    def request_stop(_signum, _frame):
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    watcher = FolderWatch(vault, folder, report, **kwargs)
    try:
        watcher.run(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return watcher


__all__ = ["FolderWatch", "watch_folder", "has_end_marker", "opens", "IMAGE_SUFFIXES"]

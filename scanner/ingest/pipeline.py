"""Ingest: a day's scanned batch into the vault, every page accounted for.

Reads like a script: stream pages -> read each in a worker -> store each result
in this process (one writer). A page is stored in one transaction after its
encrypted files are written, so an interruption leaves every stored page whole
and the rest re-ingestable; a file is recorded as done only when all its pages
are stored.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TYPE_CHECKING

from scanner.ingest import linerec
from scanner.vault import store
from scanner.vault import lock as vaultlock
from scanner.errors import BadInput
from scanner.ingest.pages import FileProblem, FileStart, PageImage, PageUnreadable, iter_pages, shown_path
from scanner.ingest.read import PageResult, Reader
from scanner.ingest.register import LOW_RESOLUTION_DPI, MarkerRegistry
from scanner.ingest.workers import context as workers_context

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

WORKERS = 2
PREFETCH = 4  # pages in flight: memory stays flat whatever the batch size


@dataclass
class FileTally:
    name: str
    sha256: str
    pages: int
    done: int = 0
    failed: int = 0
    path: Path | None = None  # the file itself (its name may not be valid UTF-8; ``name`` is printable)


@dataclass
class IngestSummary:
    files: int = 0
    pages: int = 0
    identified: int = 0
    unmatched: int = 0
    blank: int = 0
    duplicates: int = 0
    failed: int = 0
    failed_files: int = 0
    rescans: int = 0
    kept_confirmed: int = 0
    sessions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    page_problems: dict[str, list[str]] = field(default_factory=dict)
    # "<file> page <n>: <why>" for each page kept as unmatched (assigned or discarded in review)
    unmatched_pages: list[str] = field(default_factory=list)
    # "<file> page <n>: <why>" per page with nothing on it, of a page stored with answers waiting (not stored)
    unfilled_pages: list[str] = field(default_factory=list)
    # session -> keys of confirmed or kept-as-written values a rescan reads differently (kept; flagged rescan_differs)
    differs: dict[int, list[str]] = field(default_factory=dict)
    # session -> keys of confirmed risk answers a rescan reads differently (back in review with the new reading)
    reopened: dict[int, list[str]] = field(default_factory=dict)
    # source -> resolution of each of its pages scanned below register.LOW_RESOLUTION_DPI
    low_resolution: dict[str, list[float]] = field(default_factory=dict)
    # source -> page numbers placed poorly on their form (markers missing or off; values capped as doubtful)
    poorly_placed: dict[str, list[int]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def page_problem(self, source: str, message: str) -> None:
        self.page_problems.setdefault(source, []).append(message)

    def all_problems(self) -> list[str]:
        """One line per file problem; a file with many bad pages is one line, not one per page."""
        out = list(self.problems)
        for source, dpis in self.low_resolution.items():
            out.append(f"{source}: {len(dpis)} page(s) scanned at about {math.floor(min(dpis))} dpi, below the "
                       f"{round(LOW_RESOLUTION_DPI)} dpi Inklock was measured at: every field on them is marked for "
                       "a closer look; scan at 300 dpi.")
        for source, numbers in self.poorly_placed.items():
            out.append(f"{source}: page(s) {', '.join(map(str, numbers))} could be placed on their form only roughly "
                       "(corner markers missing or hidden): every field on them is marked for a closer look; "
                       "if many are wrong, rescan with the whole page flat inside the scan.")
        for source, messages in self.page_problems.items():
            if len(messages) == 1:
                out.append(messages[0])
            else:
                out.append(f"{source}: {len(messages)} pages could not be read; the first: {messages[0]}")
        return [shown_path(m) for m in out]  # a file name that is not UTF-8 is shown, not a crash

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "pages": self.pages, "identified": self.identified,
            "unmatched": self.unmatched, "unmatched_pages": [shown_path(u) for u in self.unmatched_pages],
            "blank": self.blank, "duplicates": self.duplicates,
            "unfilled": len(self.unfilled_pages), "unfilled_pages": [shown_path(u) for u in self.unfilled_pages],
            "failed": self.failed, "failed_files": self.failed_files, "rescans": self.rescans,
            "kept_confirmed": self.kept_confirmed, "sessions": sorted(set(self.sessions)),
            "rescan_differs": {str(k): v for k, v in sorted(self.differs.items())},
            "risk_reopened": {str(k): v for k, v in sorted(self.reopened.items())},
            "problems": self.all_problems(), "removed": [shown_path(r) for r in self.removed],
            "seconds": round(self.seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


def build_registry(extra_dirs=()) -> tuple[MarkerRegistry, dict[str, str]]:
    """Marker ids and geometry of every known template, for every page size."""
    from forms import catalog

    try:
        forms = catalog.all_forms(extra_dirs)
    except catalog.FormUnavailable as exc:
        raise BadInput(str(exc)) from None
    layouts = {(f.name, f.page_size): f for f in forms}
    codes = {f.template.code: f.name for f in forms}
    return MarkerRegistry(layouts), codes


# -- worker side ------------------------------------------------------------
_READER: Reader | None = None


def _watch_parent(conn) -> None:
    """End this worker as soon as the ingest process is gone, even killed with SIGKILL.

    ``conn`` is the read end of a pipe whose only write end the ingest process
    holds; it never writes, so a read returns only at end-of-file, when that
    process has ended. (A parent-death signal would not do: a pool worker's
    parent is the forkserver, which lives on while any worker does.)
    """
    import threading

    def wait() -> None:
        try:
            conn.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=wait, name="inklock-parent-watch", daemon=True).start()


def _init_worker(layouts, sheet_sizes, codes, abbreviations, blank_sheets=None, sheet_layouts=None,
                 parent_pipe=None) -> None:
    global _READER
    if parent_pipe is not None:
        _watch_parent(parent_pipe)
    # Each worker is one core: stop OpenCV and BLAS from spawning threads of their own.
    # NumPy's OpenBLAS otherwise starts a thread per core for the small matrix
    # products of the digit model and the word vectors, and those threads spin
    # while they wait: with two workers on two cores that more than doubled the
    # time per page (measured 0.33 s/page against 0.15 s/page with one thread).
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)
    _READER = Reader(MarkerRegistry(layouts), sheet_sizes, codes, abbreviations, blank_sheets, sheet_layouts)


def _work(page: PageImage) -> PageResult:
    assert _READER is not None
    try:
        gray = page.image  # a PDF's JPEG is decoded here, in the worker
    except PageUnreadable as exc:  # as the loader would have said it (keyed by the source as it does)
        return PageResult("error", str(page.source), page.sha256, page.index, message=exc.message)
    try:
        return _READER.process(shown_path(page.source), page.sha256, page.index, gray)
    except Exception as exc:  # noqa: BLE001 -- one page's failure must not lose the batch
        return PageResult("error", shown_path(page.source), page.sha256, page.index,
                          message=f"{shown_path(page.source)} page {page.index + 1} could not be read "
                                  f"({type(exc).__name__}: {exc}).")


class _InlinePool:
    """Same interface as a process pool, for one worker (tests, tiny batches)."""

    def apply_async(self, fn, args):
        class _Done:
            def __init__(self, value):
                self.value = value

            def get(self):
                return self.value

        return _Done(fn(*args))

    def close(self):
        pass

    def join(self):
        pass


# -- the pipeline --------------------------------------------------------------

def ingest(vault: Vault, paths: list[Path], *, workers: int = WORKERS, remove_source: bool = False,
           extra_template_dirs=(), progress: Callable[[str, int, int], None] | None = None,
           on_wait: Callable[[str], None] | None = None,
           stream: Iterable[FileStart | PageImage | FileProblem] | None = None) -> IngestSummary:
    """Read every page of ``paths`` into the vault and account for each one.

    One ingest at a time per vault: a second one waits for the first (and
    says so through ``on_wait``), then finds the same scan already stored.
    ``stream`` replaces reading ``paths``: pages already in memory, in the form
    :func:`scanner.ingest.pages.iter_pages` yields them (``inklock scan`` feeds the
    scanner's pages this way, so they never become a file).
    """
    # Every worker would fail every page without the second reader's model:
    # say so once, before any page is read or anything is stored.
    linerec.model_path()
    registry, codes = build_registry(extra_template_dirs)
    with vaultlock.hold(vault.path, "ingest", on_wait):
        return _ingest(vault, paths, registry, codes, workers, remove_source, progress, stream)


def _ingest(vault: Vault, paths, registry, codes, workers, remove_source, progress, stream=None) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    store.sweep_unreferenced_files(vault)  # what an earlier, interrupted run may have stranded
    sizes = store.sheet_sizes(vault)
    abbreviations = {r["short"]: r["long"] for r in store.abbreviation_rows(vault)}
    blanks = store.blank_sheet_ids(vault)  # only their hand-written headers are read
    printed = store.sheet_layouts(vault)  # a sheet whose form was edited since is not read
    pool: Any
    parent_pipe: Any
    alive: Any
    if workers > 1:
        # Not fork: a process that has already run OpenCV or OpenMP threads (a test
        # runner, the review app) can deadlock its forked children. The forkserver
        # starts clean once and preloads the reader, so later pools start quickly.
        context = workers_context()
        # The workers watch this pipe: when this process ends, however it ends, they end too.
        parent_pipe, alive = context.Pipe(duplex=False)
        pool = context.Pool(workers, _init_worker, (registry.layouts, sizes, codes, abbreviations, blanks,
                                                printed, parent_pipe))
    else:
        _init_worker(registry.layouts, sizes, codes, abbreviations, blanks, printed)
        pool = _InlinePool()
        parent_pipe = alive = None
    tallies: dict[str, FileTally] = {}
    skipping: set[str] = set()
    inflight: deque = deque()
    total_known = 0

    def finish_file(tally: FileTally) -> None:
        if tally.failed == 0:
            store.record_source(vault, tally.sha256, tally.name, tally.pages, {})
            if remove_source:
                try:
                    os.remove(tally.path or tally.name)
                    summary.removed.append(tally.name)
                except OSError as exc:
                    summary.problems.append(f"{tally.name} was stored but could not be removed ({exc.strerror}).")
        elif remove_source:
            summary.problems.append(f"{tally.name} was kept because some of its pages could not be stored.")

    def handle(result: PageResult) -> None:
        summary.pages += 1
        tally = tallies[result.sha256]
        for k, v in result.timings.items():
            summary.stage_seconds[k] = summary.stage_seconds.get(k, 0.0) + v
        stamp = time.perf_counter()
        try:
            if result.status == "identified":
                outcome = store.save_page(vault, result)
                if outcome["status"] == "unmatched":
                    summary.unmatched += 1
                    summary.unmatched_pages.append(f"{result.source} page {result.index + 1}: {outcome['reason']}")
                elif outcome["status"] == "unfilled":
                    summary.unfilled_pages.append(
                        f"{result.source} page {result.index + 1}: nothing is written on it, and page {result.page} "
                        f"of session {outcome['session']} is already stored with answers; not "
                        "stored, nothing changed (a copy printed again, or a scan too poor to read).")
                else:
                    summary.identified += 1
                    summary.sessions.append(outcome["session"])
                    summary.rescans += outcome["status"] == "rescan"
                    summary.kept_confirmed += outcome["kept_confirmed"]
                    if outcome.get("differs"):
                        summary.differs.setdefault(outcome["session"], []).extend(outcome["differs"])
                    if outcome.get("reopened"):
                        summary.reopened.setdefault(outcome["session"], []).extend(outcome["reopened"])
                    if "low_resolution" in result.flags and result.scan_dpi:
                        summary.low_resolution.setdefault(result.source, []).append(result.scan_dpi)
                    if "poor_registration" in result.flags:
                        summary.poorly_placed.setdefault(result.source, []).append(result.index + 1)
            elif result.status == "unmatched":
                store.save_unmatched(vault, result)
                summary.unmatched += 1
                summary.unmatched_pages.append(f"{result.source} page {result.index + 1}: {result.message}")
            elif result.status == "blank":
                summary.blank += 1
            else:
                summary.failed += 1
                tally.failed += 1
                summary.page_problem(result.source, result.message)
        except Exception as exc:  # noqa: BLE001 -- report and go on with the batch
            summary.failed += 1
            tally.failed += 1
            summary.page_problem(result.source,
                                 f"{result.source} page {result.index + 1} could not be stored ({type(exc).__name__}).")
        summary.stage_seconds["store"] = summary.stage_seconds.get("store", 0.0) + time.perf_counter() - stamp
        tally.done += 1
        if tally.done == tally.pages:
            finish_file(tally)
        if progress:
            progress("page", summary.pages, total_known)

    def drain(limit: int) -> None:
        while len(inflight) > limit:
            handle(inflight.popleft().get())

    try:
        for item in (iter_pages(list(paths)) if stream is None else stream):
            if isinstance(item, FileProblem):
                drain(0)
                if item.index is not None and item.sha256 in tallies:
                    summary.page_problem(str(item.source), item.message)
                    summary.pages += 1
                    summary.failed += 1
                    tally = tallies[item.sha256]
                    tally.failed += 1
                    tally.done += 1
                    if tally.done == tally.pages:
                        finish_file(tally)
                else:
                    summary.problems.append(item.message)
                    summary.failed_files += 1
                continue
            if isinstance(item, FileStart):
                summary.files += 1
                total_known += item.pages
                # Seen before: skipped whole, unless some of its pages were judged blank then (nothing of
                # them was stored, so "already in the vault" would not be true of them): those are read again.
                if item.sha256 in tallies or store.source_fully_stored(vault, item.sha256):  # also twice in one batch
                    skipping.add(item.sha256)
                    summary.pages += item.pages
                    summary.duplicates += item.pages
                    if progress:
                        progress("page", summary.pages, total_known)
                    continue
                skipping.discard(item.sha256)
                tallies[item.sha256] = FileTally(shown_path(item.source), item.sha256, item.pages, path=item.source)
                continue
            if item.sha256 in skipping:
                continue
            if store.page_stored(vault, item.sha256, item.index):
                # Stored by an earlier, interrupted run: count it once, don't read it again.
                summary.pages += 1
                summary.duplicates += 1
                tally = tallies[item.sha256]
                tally.done += 1
                if tally.done == tally.pages:
                    finish_file(tally)
                continue
            inflight.append(pool.apply_async(_work, (item,)))
            drain(PREFETCH)
        drain(0)
    finally:
        pool.close()
        pool.join()
        for end in (alive, parent_pipe):
            if end is not None:
                end.close()
    summary.seconds = time.perf_counter() - started
    return summary


# -- pages placed by hand in review ----------------------------------------------

REREAD_FLAG = "assigned_in_review"  # page flag: placed by the clinician, read from the stored copy


def reread_unmatched(vault: Vault, unmatched_id: int, sheet_id: str, page: int, *, extra_template_dirs=()) -> dict[str, Any]:
    """Read an unmatched page again as page ``page`` of sheet ``sheet_id``, store it, mark it assigned.

    The stored copy (a JPEG, long side 1700 px, about 150 dpi for letter) is
    registered from its corner markers as at ingest; the QR code is not
    needed, since the clinician named the sheet. Reading at that size was
    measured as good as from the full scan (marks, digits and OCR on
    synthetic scanner and phone pages). Refused (BadInput) when the page
    shows no markers, or markers of another form or page than the one named;
    nothing is stored then. Returns save_page's outcome plus ``unmatched_id``.
    """
    import cv2
    import numpy as np

    from scanner.ingest import register as reg
    from scanner.errors import BadInput
    from scanner.ingest.read import CHANGED_FORM, encode_jpeg

    row = store.unmatched_row(vault, unmatched_id)
    if row is None:
        raise BadInput(f"There is no unmatched page {unmatched_id}.")
    if row["status"] != "open":
        raise BadInput(f"Unmatched page {unmatched_id} was already {row['status']}.")
    sheet = store.get_sheet(vault, sheet_id)
    gray = cv2.imdecode(np.frombuffer(vault.get_file(row["image_file"]), np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise BadInput(f"The stored image of unmatched page {unmatched_id} cannot be decoded.")
    registry, codes = build_registry(extra_template_dirs)
    hits = reg.find_markers(gray)
    registration = reg.register(gray, registry, hits, page_size=sheet["page_size"])
    if registration is None:
        raise BadInput(f"Unmatched page {unmatched_id} shows no registration markers, so it cannot be read as a "
                       "form page; rescan it, or discard it if it is not one.")
    if registration.template != sheet["template"]:
        raise BadInput(f"The corner markers of unmatched page {unmatched_id} are those of form "
                       f"'{registration.template}', but session {sheet['id']} is a '{sheet['template']}' sheet.")
    if registration.page != page:
        raise BadInput(f"The corner markers of unmatched page {unmatched_id} show page {registration.page} of the "
                       f"form, not page {page}; assign it as page {registration.page}.")
    printed = sheet.get("layout_digest")
    if printed and printed != registry.layout_digest(registration.template, registration.page_size):
        raise BadInput(f"Unmatched page {unmatched_id} cannot be read: "
                       + CHANGED_FORM.format(sheet=sheet["sheet_id"], template=sheet["template"]) + ".")
    abbreviations = {r["short"]: r["long"] for r in store.abbreviation_rows(vault)}
    reader = Reader(registry, {sheet["sheet_id"]: sheet["page_size"]}, codes, abbreviations)
    straight = reg.warp(gray, registration)
    layout = registry.page_layout(registration.template, registration.page, registration.page_size)
    result = PageResult("identified", f"unmatched page {unmatched_id}", row["source_sha256"] or "",
                        row["source_index"] if row["source_index"] is not None else 0,
                        template=registration.template, page=page, page_size=registration.page_size,
                        sheet_id=sheet["sheet_id"], registration_error_px=round(registration.error_px, 2),
                        flags=[*registration.flags, REREAD_FLAG])
    result.fields = reader.read_fields(straight, layout, registration)
    if page == 1 and not sheet["client"]:
        result.header_png, result.header_guess = reader.read_header(straight, layout)
    result.image_jpeg = encode_jpeg(straight)
    guess = dict(store.loads(row["guess"]) or {}, assigned_sheet_id=sheet["sheet_id"], assigned_page=page,
                 assigned_session=sheet["id"], assigned_at=store.now())
    # One transaction: the page is stored and the unmatched row closed together, or neither.
    with store.transaction(vault.db):
        outcome = store.save_page(vault, result)
        if outcome["status"] == "unfilled":
            raise BadInput(f"Unmatched page {unmatched_id} has nothing written on it, and page {page} of session "
                           f"{sheet['id']} is already stored with answers; discard it instead.")
        store.close_unmatched(vault, unmatched_id, "assigned", guess)
    return {**outcome, "unmatched_id": unmatched_id}

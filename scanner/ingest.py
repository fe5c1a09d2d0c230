"""Ingest: a day's scanned batch into the vault, every page accounted for.

Reads like a script: stream pages -> read each in a worker -> store each result
in this process (one writer). A page is stored in one transaction after its
encrypted files are written, so an interruption leaves every stored page whole
and the rest re-ingestable; a file is recorded as done only when all its pages
are stored.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scanner import store
from scanner.pages import FileProblem, FileStart, PageImage, iter_pages
from scanner.read import PageResult, Reader
from scanner.register import MarkerRegistry

WORKERS = 2
PREFETCH = 4  # pages in flight: memory stays flat whatever the batch size


@dataclass
class FileTally:
    name: str
    sha256: str
    pages: int
    done: int = 0
    failed: int = 0


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
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "pages": self.pages, "identified": self.identified,
            "unmatched": self.unmatched, "blank": self.blank, "duplicates": self.duplicates,
            "failed": self.failed, "failed_files": self.failed_files, "rescans": self.rescans, "kept_confirmed": self.kept_confirmed,
            "sessions": sorted(set(self.sessions)), "problems": self.problems, "removed": self.removed,
            "seconds": round(self.seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


def build_registry(extra_dirs=()) -> tuple[MarkerRegistry, dict[str, str]]:
    """Marker ids and geometry of every known template, for every page size."""
    from forms.geometry import PAGE_SIZES, layout
    from forms.model import list_templates

    layouts = {}
    codes = {}
    for template in list_templates(extra_dirs):
        codes[template.code] = template.name
        for size in PAGE_SIZES:
            layouts[(template.name, size)] = layout(template, size)
    return MarkerRegistry(layouts), codes


# -- worker side ------------------------------------------------------------
_READER: Reader | None = None


def _init_worker(layouts, sheet_sizes, codes, abbreviations) -> None:
    global _READER
    # Each worker is one core: stop OpenCV and BLAS from spawning threads of their own.
    import cv2

    cv2.setNumThreads(1)
    _READER = Reader(MarkerRegistry(layouts), sheet_sizes, codes, abbreviations)


def _work(page: PageImage) -> PageResult:
    assert _READER is not None
    try:
        return _READER.process(str(page.source), page.sha256, page.index, page.image)
    except Exception as exc:  # noqa: BLE001 -- one page's failure must not lose the batch
        return PageResult("error", str(page.source), page.sha256, page.index,
                          message=f"{page.source} page {page.index + 1} could not be read ({type(exc).__name__}: {exc}).")


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

def ingest(vault, paths: list[Path], *, workers: int = WORKERS, remove_source: bool = False,
           extra_template_dirs=(), progress: Callable[[str, int, int], None] | None = None) -> IngestSummary:
    """Read every page of ``paths`` into the vault and account for each one."""
    started = time.perf_counter()
    summary = IngestSummary()
    registry, codes = build_registry(extra_template_dirs)
    sizes = store.sheet_sizes(vault)
    abbreviations = {r["short"]: r["long"] for r in vault.db.query("SELECT short, long FROM abbreviations")}
    if workers > 1:
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        pool = mp.get_context(method).Pool(workers, _init_worker, (registry.layouts, sizes, codes, abbreviations))
    else:
        _init_worker(registry.layouts, sizes, codes, abbreviations)
        pool = _InlinePool()
    tallies: dict[str, FileTally] = {}
    skipping: set[str] = set()
    inflight: deque = deque()
    total_known = 0

    def finish_file(tally: FileTally) -> None:
        if tally.failed == 0:
            store.record_source(vault, tally.sha256, tally.name, tally.pages, {})
            if remove_source:
                try:
                    os.remove(tally.name)
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
                else:
                    summary.identified += 1
                    summary.sessions.append(outcome["session"])
                    summary.rescans += outcome["status"] == "rescan"
                    summary.kept_confirmed += outcome["kept_confirmed"]
            elif result.status == "unmatched":
                store.save_unmatched(vault, result)
                summary.unmatched += 1
            elif result.status == "blank":
                summary.blank += 1
            else:
                summary.failed += 1
                tally.failed += 1
                summary.problems.append(result.message)
        except Exception as exc:  # noqa: BLE001 -- report and go on with the batch
            summary.failed += 1
            tally.failed += 1
            summary.problems.append(f"{result.source} page {result.index + 1} could not be stored ({type(exc).__name__}).")
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
        for item in iter_pages(list(paths)):
            if isinstance(item, FileProblem):
                drain(0)
                summary.problems.append(item.message)
                if item.index is not None and item.sha256 in tallies:
                    summary.pages += 1
                    summary.failed += 1
                    tally = tallies[item.sha256]
                    tally.failed += 1
                    tally.done += 1
                    if tally.done == tally.pages:
                        finish_file(tally)
                else:
                    summary.failed_files += 1
                continue
            if isinstance(item, FileStart):
                summary.files += 1
                total_known += item.pages
                if store.source_seen(vault, item.sha256):
                    skipping.add(item.sha256)
                    summary.pages += item.pages
                    summary.duplicates += item.pages
                    if progress:
                        progress("page", summary.pages, total_known)
                    continue
                skipping.discard(item.sha256)
                tallies[item.sha256] = FileTally(str(item.source), item.sha256, item.pages)
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
    summary.seconds = time.perf_counter() - started
    return summary

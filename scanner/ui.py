"""Terminal output: progress bars and tables (rich). Nothing here decides anything."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.table import Column, Table

# No markup: file names and handwritten values may contain [brackets]. Sentences are
# left for the terminal to wrap (soft wrap), not broken at 80 columns mid-sentence.
console = Console(stderr=False, highlight=False, markup=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def page_progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; a callback (what, done, total)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("Reading pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("pages", total=None)

        def update(_what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done) or None)

        yield update


def print_ingest_summary(data: dict[str, Any]) -> None:
    console.print(
        f"{data['pages']} page(s) from "
        f"{'the scanner ' + data['device'] if data.get('device') else str(data['files']) + ' file(s)'} "
        f"in {data['seconds']:.1f} s: "
        f"{data['identified']} read, {data['unmatched']} unmatched (to assign in review), "
        f"{data['blank']} blank, {data['duplicates']} already in the vault, "
        + (f"{data['unfilled']} unfilled copy(ies) not stored, " if data.get("unfilled") else "")
        + f"{data['failed']} page(s) failed"
        + (f"; {data['failed_files']} file(s) could not be read at all." if data.get("failed_files") else ".")
    )
    if data.get("rescans"):
        console.print(f"{data['rescans']} page(s) were rescans: kept as new versions; "
                      f"{data['kept_confirmed']} confirmed or kept-as-written value(s) left as they were.")
    for session, keys in (data.get("rescan_differs") or {}).items():
        console.print(f"Session {session}: the rescan reads {len(keys)} of them differently ({', '.join(keys)}); "
                      "they stay as you decided: compare them with the new page in review ('rescan differs'), "
                      "and reopen any you want to correct.", style="bold", markup=False)
    for session, keys in (data.get("risk_reopened") or {}).items():
        console.print(f"Session {session}: the rescan reads the risk answer{'s' * (len(keys) != 1)} "
                      f"{', '.join(keys)} otherwise than you confirmed: back in review with the new reading "
                      "('inklock review'; what you confirmed is in the edit trail).", style="bold red", markup=False)
    if data["sessions"]:
        numbers = ", ".join(str(s) for s in data["sessions"])
        console.print(f"Pages read into session{'s' * (len(data['sessions']) != 1)} {numbers} ('inklock show N').")
    for page in data.get("unmatched_pages", []):
        console.print(f"  unmatched: {page}")
    for page in data.get("unfilled_pages", []):
        console.print(f"  not stored: {page}")
    for problem in data["problems"]:
        err_console.print(f"  problem: {problem}")
    for removed in data["removed"]:
        console.print(f"  removed source: {removed}")


def print_sessions(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No sessions.")
        return
    # "session" is the number commands take; "no." the client's session number printed on the sheet.
    table = Table("session", "sheet", "template", "client", Column("date", no_wrap=True), "no.", "pages", "pending")
    for r in rows:
        number = "" if r.get("session_number") is None else str(r["session_number"])
        table.add_row(str(r["session"]), r["sheet_id"], r["template"], r["client"] or "(blank sheet)",
                      r["date"] or "", number, ",".join(str(p) for p in r["pages"]) or "-",
                      str(r["pending"]) if r["pages"] else "-")
    console.print(table)
    for r in rows:  # risk answers under the table, in full (a column would be cut short)
        if r.get("risk"):
            console.print(f"Risk, session {r['session']}: {'; '.join(r['risk'])}.", style="bold red", markup=False)


NARROW = 100  # columns: below this a terminal gets lines instead of wide tables


def narrow() -> bool:
    """Whether the terminal is too narrow for a wide table (output to a file or pipe keeps the table)."""
    return console.is_terminal and console.width < NARROW


def _fmt(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    text = str(value).replace("\n", " / ")
    return text if len(text) < 70 else text[:67] + "..."


def _shown(f: dict[str, Any]) -> tuple[Any, str]:
    """A field's value as ``show`` prints it (the confirmed one once confirmed) and its status in words."""
    if f["status"] != "confirmed":
        return f["value"], f["status"]
    return f["confirmed_value"], "confirmed, corrected" if f["confirmed_value"] != f["value"] else "confirmed"


def print_session(data: dict[str, Any]) -> None:
    console.print(f"Session {data['session']} · sheet {data['sheet_id']} · {data['template']} · "
                  f"client {data['client'] or '(blank sheet)'} · {data['date'] or ''}")
    for p in data["pages"]:
        console.print(f"  page {p['page']} (version {p['version']}): registration error "
                      f"{p['registration_error_px']} px {' '.join(p['flags'])}")
    if not data["pages"] and not data["fields"]:
        console.print("  No page of this sheet has been scanned yet.")
        return
    if narrow():
        # A terminal too narrow for six columns: one line per field, the value first, wrapped whole.
        for f in data["fields"]:
            shown, status = _shown(f)
            about = " · ".join(x for x in (f["privacy"], status, f"{f['confidence']:.2f}", " ".join(f["flags"])) if x)
            console.print(f"{f['key']}: {_fmt(shown)}  [{about}]")
        return
    # A field's key is never cut short (the value column gives way); conf. and flags are the reading's.
    table = Table(Column("field", no_wrap=True), "privacy", "value", "conf.", "flags", "status")
    for f in data["fields"]:
        shown, status = _shown(f)
        table.add_row(f["key"], f["privacy"], _fmt(shown), f"{f['confidence']:.2f}", " ".join(f["flags"]), status)
    console.print(table)


def print_devices(devices: list[dict[str, str]]) -> None:
    table = Table("device", "vendor", "model", "type")
    for d in devices:
        table.add_row(d["device"], d["vendor"], d["model"], d["type"])
    console.print(table)


def print_doctor(report: dict[str, Any]) -> None:
    for c in report["checks"]:
        line = f"{'ok' if c['ok'] else 'MISSING':8} {c['name']}: {c['detail']}"
        if not c["ok"]:
            line += f" -- {c['fix']} (needed for {c['needed_for']})"
        console.print(line, soft_wrap=True)
    missing = [c["name"] for c in report["checks"] if not c["ok"]]
    console.print("Everything Inklock uses is here." if not missing else "Missing: " + ", ".join(missing) + ".")

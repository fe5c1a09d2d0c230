"""Printing packets: validate the request, render, then register the sheets.

Nothing is registered unless the PDF was written, and nothing is written
unless every row of a schedule is valid.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any, TYPE_CHECKING

from scanner.review import risk
from scanner.vault import store
from scanner.errors import BadInput, UsageError
from scanner.values import check_client, check_session, shown

if TYPE_CHECKING:
    from scanner.vault.vault import Vault

# CUPS queue names: printable, no space, '/' or '#' (and never an option).
PRINTER_NAME = re.compile(r"[A-Za-z0-9_.@:+-][A-Za-z0-9_.@:+=-]{0,127}")


@dataclass
class SheetRequest:
    template: str
    client: str | None
    date: str | None
    session: int | None


def check_date(text: str | None, where: str = "") -> str:
    if text is None or text == "":
        return Date.today().isoformat()
    try:
        return Date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise BadInput(f"{where}'{shown(text)}' is not a date; use YYYY-MM-DD.") from None


def read_schedule(path: Path, default_template: str | None) -> list[SheetRequest]:
    """Rows of ``client,date,session[,template]``; the first bad row stops everything."""
    from scanner.outfile import open_regular

    reader = None
    try:
        # Only a regular file: a FIFO would block the command, a device would never end.
        with io.TextIOWrapper(open_regular(path, "schedule"), encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            rows = list(reader)
    except UnicodeDecodeError:
        raise BadInput(f"The schedule {path} is not a text file (a CSV of client,date,session[,template] "
                       "saved as UTF-8).") from None
    except OSError as exc:
        raise BadInput(f"The schedule {path} cannot be read ({exc.strerror or exc}).") from None
    except csv.Error as exc:  # e.g. a cell longer than the csv module allows
        line = reader.line_num if reader is not None else 0
        raise BadInput(f"The schedule {path} cannot be read as CSV at line {line} ({exc}).") from None
    requests = []
    seen: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells and cells[0].lower() == "client":
            continue
        where = f"{path} line {number}: "
        if number == 1 and len(cells) >= 2 and not any(ch.isdigit() for ch in cells[1]):
            raise BadInput(f"{where}'{shown(cells[1])}' is not a date; if this is a header, its columns must be "
                           "client,date,session[,template] (a header line starts with 'client').")
        if len(cells) < 2 or len(cells) > 4:
            raise BadInput(f"{where}expected client,date,session[,template] but found {len(cells)} column(s).")
        template = (cells[3] if len(cells) > 3 and cells[3] else default_template) or "session"
        request = SheetRequest(template, check_client(cells[0], where), check_date(cells[1], where),
                               check_session(cells[2] if len(cells) > 2 else None, where))
        key = (request.template, request.client, request.date, request.session)
        if key in seen:
            raise BadInput(f"{where}repeats line {seen[key]} (same client, date and form); remove one, or give "
                           "each its session number if the client has two sessions that day.")
        seen[key] = number
        requests.append(request)
    if not requests:
        raise BadInput(f"The schedule {path} has no rows to print.")
    return requests


def next_session_number(vault: Vault, client: str) -> int:
    return int(store.last_session_number(vault, client) or 0) + 1


def carry_values(vault: Vault, client: str, before: str | None, template) -> dict[str, tuple[str, str]]:
    """What each carry-forward field of ``template`` prints for ``client`` on a sheet dated ``before``.

    Per field, the answer confirmed in the client's latest session dated strictly
    before ``before`` in which that field was confirmed (a later-dated sheet
    printed earlier never leaks backwards; undated sheets cannot be placed in
    time and are skipped). Only confirmed values: a pending read is a draft.
    An empty confirmed answer there means the item was closed, so nothing is
    carried rather than an older answer. A private field kept as handwritten
    there (never transcribed) prints as such: its handwriting is not read onto
    paper, and it is not "nothing recorded" either. Nor is a field never confirmed
    for the client while an earlier sheet exists (a session not yet held, scanned
    or reviewed, when printing ahead): it prints as not reviewed yet, with the date
    of the client's last sheet before ``before``. Returns {key: (text, date)}.
    """
    fields = {f.key: f for f in template.fields if f.carry_forward}
    if not fields:
        return {}
    latest: dict[str, tuple[Any, str, bool]] = {}
    for row in store.confirmed_before(vault, client, fields, before):
        latest.setdefault(row["key"], (store.loads(row["confirmed_value"]), row["date"], bool(row["kept"])))
    last = store.latest_date_before(vault, client, before)
    out = {}
    for key in fields:
        if key not in latest:
            if last:
                out[key] = (NOT_YET_REVIEWED, last)
            continue
        value, when, kept = latest[key]
        text = KEPT_AS_WRITTEN if kept else _carry_text(fields[key], value)
        if text and (kept or value not in (None, "", [], False)):
            out[key] = (text, when)
    return out


KEPT_AS_WRITTEN = "kept as handwritten on that sheet (not transcribed): see it there."
NOT_YET_REVIEWED = "not reviewed yet: see that sheet."
# Carried texts that point to another sheet rather than carry its words onto paper.
POINTERS = (KEPT_AS_WRITTEN, NOT_YET_REVIEWED)


def _carry_text(field, value: Any) -> str:
    """A confirmed value as the words printed in the 'from last time' box (option labels, not codes).

    The lines of a multi-line answer stay apart, joined by " / " (one line each
    item, as written: "call GP / sleep diary" is two items, not one phrase).
    """
    labels = {o.value: o.label for o in field.options or ()}
    if value is True:
        return "yes"
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    lines = (" ".join(line.split()) for line in labels.get(str(value), str(value)).splitlines())
    return " / ".join(line for line in lines if line)


def print_packet(vault: Vault, requests: list[SheetRequest], out: Path | None, page_size: str, template_dirs=(),
                 printer: str | None = None) -> dict[str, Any]:
    """Render every requested sheet into one PDF and register each sheet in the vault.

    The PDF is written to ``out`` (0600, through the safe writer) or, when
    ``printer`` is given ("" for the default printer), sent from memory to CUPS
    so that no packet stays on disk.
    """
    from forms.geometry import PAGE_SIZES
    from forms import catalog
    from forms.errors import FormsError
    from forms.payload import new_sheet_id
    from forms.render import SheetSpec, render_sheets

    from scanner import outfile

    if page_size not in PAGE_SIZES:
        raise UsageError(f"'{page_size}' is not a page size; use {' or '.join(PAGE_SIZES)}.")
    templates = {}
    digests: dict[str, str] = {}  # template name -> the fingerprint of its layout on this paper
    specs = []
    planned_numbers: dict[str, int] = {}
    reprinted: dict[str, dict[str, Any]] = {}  # sheet id -> its row: sheets printed again, not registered anew
    for req in requests:
        if req.template not in templates:
            try:
                templates[req.template] = catalog.template(req.template, template_dirs)
            except catalog.FormUnavailable as exc:
                raise BadInput(str(exc)) from None
            digests[req.template] = _laid_out(templates[req.template], page_size).reading_digest
            if templates[req.template].name != req.template:  # given as a file: ingest must know it as it is
                _check_known(vault, req.template, templates[req.template].name, page_size, template_dirs)
            _keep_labels(vault, templates[req.template])
        template = templates[req.template]
        number = req.session
        again = (_printed_before(vault, req, template, page_size, digests[req.template], reprinted)
                 if req.client else None)
        if again is not None:
            number = again["session_number"]
            reprinted[again["sheet_id"]] = again
        elif req.client and number is None:
            number = planned_numbers.get(req.client) or next_session_number(vault, req.client)
            planned_numbers[req.client] = number + 1
        carry = carry_values(vault, req.client, req.date, template) if req.client else {}
        notes = risk.last_screen(vault, req.client, req.date, template) if req.client else {}
        specs.append(SheetSpec(sheet_id=again["sheet_id"] if again else new_sheet_id(), template=template,
                               client=req.client, date=req.date if req.client else None, session=number,
                               carry=carry, notes=notes))
    if printer is None:
        assert out is not None  # the CLI gives --out or a printer
        out = outfile.check_target(out)  # refused before anything is drawn or registered
    buffer = io.BytesIO()  # the packet is drawn in memory: no temp file holds it
    try:
        render_sheets(specs, buffer, page_size=page_size)
    except FormsError as exc:  # e.g. a user template the QR payload cannot carry
        raise BadInput(f"The packet cannot be printed: {_sentence(str(exc))}") from None
    sheets = []
    job = None
    # One transaction for the packet, committed only once the PDF is in place
    # (or with the printer): a failure or an interruption part-way registers none of its sheets.
    with store.transaction(vault.db):
        for spec in specs:
            tmpl = spec.template
            assert not isinstance(tmpl, str)  # specs made above hold the template itself
            date = None if spec.date is None else str(spec.date)
            again = reprinted.get(spec.sheet_id)
            session_id = again["id"] if again else store.register_sheet(
                vault, sheet_id=spec.sheet_id, template=tmpl.name,
                template_version=tmpl.version, page_size=page_size, client=spec.client,
                date=date, session_number=spec.session, layout_digest=digests[tmpl.name])
            sheets.append({"sheet_id": spec.sheet_id, "template": tmpl.name, "client": spec.client,
                           "date": date, "session": spec.session, "session_id": session_id,
                           "pages": len(tmpl.pages), "reprinted": again is not None})
        if printer is None:
            assert out is not None
            outfile.write_private(out, buffer.getvalue())
        else:
            job = send_to_printer(buffer.getvalue(), printer)
    warnings = [_reprint_line(row) for row in reprinted.values()] + private_carry_warnings(specs)
    if printer is not None:
        return {"pdf": None, "printer": printer or None, "job": job, "sheets": sheets, "warnings": warnings}
    return {"pdf": str(out), "sheets": sheets, "warnings": warnings}


def _laid_out(template, page_size: str):
    """The form laid out on this paper; BadInput (one sentence, which paper it fits) when it does not fit."""
    from forms import catalog

    try:
        return catalog.laid_out(template, page_size)
    except catalog.FormUnavailable as exc:
        fits = []
        for other in catalog.PAGE_SIZES:
            if other != page_size:
                try:
                    catalog.laid_out(template, other)
                    fits.append(other)
                except catalog.FormUnavailable:
                    pass
        hint = f" It fits on {' and '.join(fits)} paper (--page-size {fits[0]})." if fits else ""
        raise BadInput(f"{str(exc).rstrip('.')}. Nothing was printed.{hint}") from None


def _check_known(vault: Vault, given: str, name: str, page_size: str, template_dirs) -> None:
    """Refuse a template file that ingest would not read its pages with (BadInput).

    Ingest reads a page by the templates it knows: the built-in ones and the
    vault's ``templates/`` folder (a file naming one of those is refused when
    loaded). Sheets printed from a file found elsewhere could never be read back.
    """
    from forms import catalog

    try:
        catalog.form(name, page_size, template_dirs)
    except catalog.FormUnavailable:
        folder = Path(vault.path) / "templates"
        raise BadInput(f"'{given}' is a template this vault does not know, so the pages printed from it could not "
                       f"be read back: copy it into {folder}/ and print it by its name, '{name}'.") from None


def _printed_before(vault: Vault, req: SheetRequest, template, page_size: str, layout_digest: str,
                    planned: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The sheet to print again for ``req``, if one was printed for it and nothing of it has come back.

    Printing a day twice (a jammed printer, a lost page) must not make every
    session twice: a sheet of the same client, date, form and paper, with no
    page received yet, is printed again under its own id, so whichever copy is
    scanned fills that one session (not when the form's layout changed since:
    the two copies would not read alike). A session number asked for that is taken
    otherwise (another date, or pages already received) is refused.
    """
    assert req.client is not None
    again = None if req.date is None else store.unreceived_sheet(
        vault, client=req.client, date=req.date, template=template.name, template_version=template.version,
        page_size=page_size, layout_digest=layout_digest, session_number=req.session, exclude=set(planned))
    if again is not None or req.session is None:
        return again
    taken = next(iter(store.numbered_sheets(vault, req.client, req.session)), None)
    if taken is not None:
        if store.sheet_pages(vault, taken["sheet_id"]):
            why = "pages of it were received"
        elif taken["date"] != req.date:
            why = f"it is dated {taken['date'] or 'by hand'}"
        elif (taken["template"], taken["page_size"]) == (template.name, page_size):
            why = f"it was printed from an earlier form of '{template.name}', edited since"
        else:
            why = f"it was printed as another form ({taken['template']}, {taken['page_size']})"
        raise BadInput(f"{req.client} already has a session {req.session} (sheet {taken['sheet_id']}) and {why}: "
                       "leave out --session for the next number, or give one not yet used.")
    return None


def _reprint_line(row: dict[str, Any]) -> str:
    return (f"{row['client']} {row['date']}: sheet {row['sheet_id']} (session {row['session_number']}) printed "
            "again, not as a new session (nothing of it was received yet); whichever copy is scanned fills it.")


def private_carry_warnings(specs) -> list[str]:
    """A warning line when the packet prints text carried forward from private fields.

    That text is carried onto paper by design (it is the point of the field);
    the line says so, so that the printed sheets are kept like the notes. A
    field kept as handwritten prints only a pointer to its sheet, not its text.
    """
    keys: dict[str, None] = {}
    sheets = 0
    for spec in specs:
        private = [f.key for f in spec.template.fields if f.privacy == "private" and f.key in spec.carry
                   and spec.carry[f.key][0] not in POINTERS]
        sheets += bool(private)
        keys.update(dict.fromkeys(private))
    if not sheets:
        return []
    return [(f"{sheets} sheet(s) carry private text onto paper ({', '.join(keys)} from last time): "
             "keep the printed pages as safely as your psychotherapy notes.")]


def send_to_printer(pdf: bytes, printer: str) -> str | None:
    """Send ``pdf`` to a CUPS printer through ``lp`` on its standard input; returns CUPS's job line.

    ``printer`` "" means the default printer. The job title names no client.
    """
    import shutil
    import subprocess

    lp = shutil.which("lp")
    if lp is None:
        raise UsageError("Printing needs the CUPS 'lp' command, which is not installed (Debian: cups-client); "
                         "write a file with --out instead.")
    if printer and not PRINTER_NAME.fullmatch(printer):
        raise BadInput(f"'{shown(printer)}' is not a printer name; 'lpstat -p' lists them.")
    cmd = [lp, "-t", "Inklock sheets"] + (["-d", printer] if printer else [])
    try:
        done = subprocess.run(cmd, input=pdf, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BadInput(f"The printer did not take the packet ({type(exc).__name__}); nothing was registered.") \
            from None
    if done.returncode != 0:
        reason = " ".join(done.stderr.decode("utf-8", "replace").split())[:200] or f"lp exit {done.returncode}"
        raise BadInput(f"The printer did not take the packet ({reason.rstrip('.')}); nothing was registered.")
    return " ".join(done.stdout.decode("utf-8", "replace").split()) or None


def _keep_labels(vault: Vault, template) -> None:
    """Tick-option label words for search (issue 14); a changed user template re-indexes its sessions."""
    if store.save_labels(vault.db, template) and store.template_in_use(vault, template.name):
        from scanner.vault.search import reindex

        reindex(vault.db)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."

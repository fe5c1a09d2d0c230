"""Printing packets: validate the request, render, then register the sheets.

Nothing is registered unless the PDF was written, and nothing is written
unless every row of a schedule is valid.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any

from scanner import risk, store
from scanner.errors import BadInput, UsageError

CLIENT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,23}")  # used with fullmatch: "$" would let a newline through


@dataclass
class SheetRequest:
    template: str
    client: str | None
    date: str | None
    session: int | None


def shown(text: str, limit: int = 40) -> str:
    """A value as it may appear in a one-line message: control characters made visible, long ones cut."""
    text = "".join(c if c.isprintable() else "?" for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_client(code: str, where: str = "") -> str:
    if not CLIENT_CODE.fullmatch(code or ""):
        raise BadInput(f"{where}'{shown(code)}' is not a client code: use up to 24 letters, digits, '.', '_' or '-' "
                       "(a code, never a name).")
    return code


def check_date(text: str | None, where: str = "") -> str:
    if text is None or text == "":
        return Date.today().isoformat()
    try:
        return Date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise BadInput(f"{where}'{shown(text)}' is not a date; use YYYY-MM-DD.") from None


def check_session(text: Any, where: str = "") -> int | None:
    if text is None or str(text).strip() == "":
        return None
    t = str(text).strip()
    if not t.isdigit() or not 0 < int(t) < 10000:
        raise BadInput(f"{where}'{shown(t)}' is not a session number (1 to 9999).")
    return int(t)


def read_schedule(path: Path, default_template: str | None) -> list[SheetRequest]:
    """Rows of ``client,date,session[,template]``; the first bad row stops everything."""
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = list(reader)
    except FileNotFoundError:
        raise BadInput(f"The schedule {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"The schedule {path} cannot be read as a CSV text file ({type(exc).__name__}).") from None
    except csv.Error as exc:  # e.g. a cell longer than the csv module allows
        line = reader.line_num if reader is not None else 0
        raise BadInput(f"The schedule {path} cannot be read as CSV at line {line} ({exc}).") from None
    requests = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells and cells[0].lower() == "client":
            continue
        where = f"{path} line {number}: "
        if len(cells) < 2 or len(cells) > 4:
            raise BadInput(f"{where}expected client,date,session[,template] but found {len(cells)} column(s).")
        template = (cells[3] if len(cells) > 3 and cells[3] else default_template) or "session"
        requests.append(SheetRequest(template, check_client(cells[0], where), check_date(cells[1], where),
                                     check_session(cells[2] if len(cells) > 2 else None, where)))
    if not requests:
        raise BadInput(f"The schedule {path} has no rows to print.")
    return requests


def next_session_number(vault, client: str) -> int:
    row = vault.db.execute("SELECT MAX(session_number) FROM sheets WHERE client = ?", [client]).fetchone()
    return int(row[0] or 0) + 1


def carry_values(vault, client: str, before: str | None, template) -> dict[str, tuple[str, str]]:
    """What each carry-forward field of ``template`` prints for ``client`` on a sheet dated ``before``.

    Per field, the answer confirmed in the client's latest session dated strictly
    before ``before`` in which that field was confirmed (a later-dated sheet
    printed earlier never leaks backwards; undated sheets cannot be placed in
    time and are skipped). Only confirmed values: a pending read is a draft.
    An empty confirmed answer there means the item was closed, so nothing is
    carried rather than an older answer. Returns {key: (text, date)}.
    """
    fields = {f.key: f for f in template.fields if f.carry_forward}
    if not fields:
        return {}
    marks = ",".join("?" for _ in fields)
    sql = (f"SELECT f.key, f.confirmed_value, s.date FROM fields f JOIN sheets s ON s.sheet_id = f.sheet_id "
           f"WHERE s.client = ? AND f.status = 'confirmed' AND f.key IN ({marks}) AND s.date IS NOT NULL")
    params: list[Any] = [client, *fields]
    if before:
        sql += " AND s.date < ?"
        params.append(before)
    latest: dict[str, tuple[Any, str]] = {}
    for row in vault.db.query(sql + " ORDER BY s.date DESC, s.id DESC", params):
        latest.setdefault(row["key"], (store.loads(row["confirmed_value"]), row["date"]))
    return {key: (_carry_text(fields[key], value), when) for key, (value, when) in latest.items()
            if value not in (None, "", [], False) and _carry_text(fields[key], value)}


def _carry_text(field, value: Any) -> str:
    """A confirmed value as the words printed in the 'from last time' box (option labels, not codes)."""
    labels = {o.value: o.label for o in field.options or ()}
    if value is True:
        return "yes"
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    return " ".join(labels.get(str(value), str(value)).split())


def print_packet(vault, requests: list[SheetRequest], out: Path, page_size: str, template_dirs=()) -> dict[str, Any]:
    """Render every requested sheet into one PDF and register each sheet in the vault."""
    from forms.geometry import PAGE_SIZES
    from forms.errors import FormsError
    from forms.model import TemplateError, get_template
    from forms.payload import new_sheet_id
    from forms.render import SheetSpec, render_sheets

    if page_size not in PAGE_SIZES:
        raise UsageError(f"'{page_size}' is not a page size; use {' or '.join(PAGE_SIZES)}.")
    templates = {}
    specs = []
    planned_numbers: dict[str, int] = {}
    for req in requests:
        if req.template not in templates:
            try:
                templates[req.template] = get_template(req.template, template_dirs)
            except TemplateError as exc:
                raise BadInput(_sentence(str(exc))) from None
            _keep_labels(vault, templates[req.template])
        template = templates[req.template]
        number = req.session
        if req.client and number is None:
            number = planned_numbers.get(req.client) or next_session_number(vault, req.client)
            planned_numbers[req.client] = number + 1
        carry = carry_values(vault, req.client, req.date, template) if req.client else {}
        notes = risk.last_screen(vault, req.client, req.date, template) if req.client else {}
        specs.append(SheetSpec(sheet_id=new_sheet_id(), template=template, client=req.client,
                               date=req.date if req.client else None, session=number, carry=carry, notes=notes))
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise BadInput(f"The folder {out.parent} does not exist.")
    tmp = out.with_name(f".{out.name}.part")
    try:
        try:
            render_sheets(specs, tmp, page_size=page_size)
        except FormsError as exc:  # e.g. a user template the QR payload cannot carry
            raise BadInput(f"The packet cannot be printed: {_sentence(str(exc))}") from None
        sheets = []
        # One transaction for the packet, committed only once the PDF is in place:
        # a failure or an interruption part-way registers none of its sheets.
        with store.transaction(vault.db):
            for spec in specs:
                session_id = store.register_sheet(
                    vault, sheet_id=spec.sheet_id, template=spec.template.name,
                    template_version=spec.template.version, page_size=page_size, client=spec.client,
                    date=spec.date, session_number=spec.session)
                sheets.append({"sheet_id": spec.sheet_id, "template": spec.template.name, "client": spec.client,
                               "date": spec.date, "session": spec.session, "session_id": session_id,
                               "pages": len(spec.template.pages)})
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"pdf": str(out), "sheets": sheets}


def _keep_labels(vault, template) -> None:
    """Tick-option label words for search (issue 14); a changed user template re-indexes its sessions."""
    if store.save_labels(vault.db, template) and vault.db.execute(
            "SELECT 1 FROM sheets WHERE template = ? LIMIT 1", [template.name]).fetchone():
        from scanner.search import reindex

        reindex(vault.db)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."

"""``inklock demo``: the whole pipeline on samples/, in a throwaway vault.

It creates a temporary encrypted vault, prints a packet, registers the sample
sheets (their ids are fixed in samples/expected.json), ingests samples/day.pdf,
shows what was read against what was written, confirms one session through the
same path as ``inklock confirm``, drafts its SOAP note and searches the vault.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from scanner.errors import BadInput
from scanner.values import HAND_KINDS


def samples_dir() -> Path:
    """samples/ of the source checkout (the demo runs from a clone)."""
    here = Path(__file__).resolve().parents[2] / "samples"
    if not (here / "expected.json").exists():
        raise BadInput(f"The sample batch is missing ({here}/expected.json); run the demo from a checkout of Inklock.")
    return here


def compare(expected_values: dict[str, Any], fields: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """How many read values equal the expected ones; the keys that differ."""
    by_key = {f["key"]: f for f in fields}
    right, total, wrong = 0, 0, []
    for key, want in expected_values.items():
        f = by_key.get(key)
        if f is None:
            continue
        total += 1
        got = f["value"]
        if isinstance(want, str) and isinstance(got, str):
            ok = " ".join(want.split()).lower() == " ".join(got.split()).lower()
        else:
            ok = got == want
        right += ok
        if not ok:
            wrong.append(key)
    return right, total, wrong


DEMO_PASSPHRASE = "demo passphrase"  # a throwaway vault of synthetic data


def _as_typed(value: Any) -> str:
    """A value as a clinician would type it to ``inklock confirm --value``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


def run(say: Callable[[str], None], keep: Path | None = None) -> dict[str, Any]:
    """Run the demo; ``say`` prints one line. Returns figures for tests."""
    from scanner.notes import progress as notes
    from scanner.vault import store
    from scanner.ingest.pipeline import ingest
    from scanner.notes.printing import SheetRequest, print_packet
    from functools import partial

    from scanner.hand import exemplars
    from scanner.review.confirm import confirm_field
    from scanner.vault.search import search
    from scanner.vault.vault import Vault

    samples = samples_dir()
    expected = json.loads((samples / "expected.json").read_text())
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="inklock-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"work": str(work)}
    try:
        vault_dir = work / "vault"
        vault, _code = Vault.create(vault_dir, DEMO_PASSPHRASE if keep else secrets.token_urlsafe(16))
        say(f"1. Created a throwaway encrypted vault in {vault_dir}")
        packet = print_packet(vault, [SheetRequest("session", "DEMO1", None, None)], work / "packet.pdf", "letter")
        say(f"2. Printed a session form: {packet['pdf']} (sheet {packet['sheets'][0]['sheet_id']})")
        for sheet in expected["sheets"]:
            store.register_sheet(vault, sheet_id=sheet["sheet_id"], template=sheet["template"],
                                 template_version=sheet.get("template_version", 1), page_size=sheet["page_size"],
                                 client=sheet["client"], date=sheet["date"], session_number=sheet["session"])
        say(f"3. Registered the {len(expected['sheets'])} sample sheets (as if printed from this vault)")
        summary = ingest(vault, [samples / expected.get("pdf", "day.pdf")]).as_dict()
        figures["ingest"] = summary
        say(f"4. Ingested {summary['pages']} pages in {summary['seconds']:.1f} s: {summary['identified']} read, "
            f"{summary['blank']} blank, {summary['unmatched']} unmatched, {summary['failed']} failed")
        right = total = 0
        for sheet in expected["sheets"]:
            shown = store.show_session(vault, sheet["sheet_id"])
            values = {k: v for page in sheet["pages"] for k, v in page["values"].items()}
            r, t, wrong = compare(values, shown["fields"])
            right, total = right + r, total + t
            say(f"   session {shown['session']} ({sheet['client']}): {r}/{t} fields read as written"
                + (f"; differs: {', '.join(wrong[:6])}" if wrong else ""))
        figures["fields_right"], figures["fields_total"] = right, total

        # The clinician confirms one session field by field (the path 'inklock confirm' takes),
        # typing a correction wherever the machine read differs from what was written.
        sheet = expected["sheets"][0]
        shown = store.show_session(vault, sheet["sheet_id"])
        written = {k: v for page in sheet["pages"] for k, v in page["values"].items()}
        from forms import catalog

        layouts = catalog.form(sheet["template"], sheet["page_size"]).fields
        corrected = 0
        for f in shown["fields"]:
            if f["key"] in written and compare({f["key"]: written[f["key"]]}, [f])[0] == 0:
                confirm_field(vault, shown["session"], f["key"], field_layout=layouts[f["key"]],
                              typed=_as_typed(written[f["key"]]))
                corrected += 1
            else:
                confirm_field(vault, shown["session"], f["key"])
        say(f"5. Confirmed session {shown['session']} ({sheet['client']}) field by field: "
            f"{len(shown['fields']) - corrected} accepted as read, {corrected} corrected")
        note_path = notes.write_note(vault, shown["session"], "soap", work / "note.md")
        say(f"6. Drafted its SOAP progress note from confirmed progress fields only ({note_path}):")
        say("")
        for line in note_path.read_text().splitlines():
            say("   " + line)
        say("")
        word = _search_word(expected, layouts)
        if word:
            hits = search(vault, word, hand=partial(exemplars.search_by_hand, vault))
            figures["search_word"], figures["search_hits"] = word, len(hits)
            say(f"7. Searched the vault for the handwritten word '{word}': {len(hits)} result(s)")
            for hit in hits[:3]:
                say(f"   session {hit['session']} · {hit['field']} · {hit['status']} · {hit['snippet']}")
        vault.close()
        say("")
        if keep:
            say(f"Kept the demo vault: inklock --vault {vault_dir} review  (passphrase: '{DEMO_PASSPHRASE}')")
        else:
            say("To confirm fields in the browser: 'inklock review' (or 'inklock demo --keep DIR' to try it here).")
        return figures
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _search_word(expected: dict[str, Any], layouts: dict[str, Any]) -> str | None:
    """A handwritten word of five letters or more from a session that is still unconfirmed."""
    for sheet in expected["sheets"][1:]:
        for page in sheet["pages"]:
            for key, value in page["values"].items():
                fb = layouts.get(key)
                if fb is not None and fb.field.kind in HAND_KINDS and isinstance(value, str):
                    for word in value.split():
                        word = word.strip(".,;:!?()").lower()
                        if len(word) >= 5 and word.isalpha():
                            return word
    return None

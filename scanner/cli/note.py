"""``inklock note``: draft a progress note from a session's confirmed progress fields (SPEC section 7)."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.values import NOTE_FORMATS
from scanner.cli.context import AppContext, output_file, pass_app, session_words


@click.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(NOTE_FORMATS), required=True,
              help="Progress-note format.")
@click.option("--out", type=click.Path(path_type=Path), required=True, callback=output_file,
              help="The file to write: .md or .txt (to paste into an EHR), .pdf (to sign), .json (for systems).")
@pass_app
def note(app: AppContext, session: str, fmt: str, out: Path) -> None:
    """Draft a progress note from confirmed progress fields only.

    Private psychotherapy notes never enter it. While any progress field of
    the session is unconfirmed, nothing is written and the fields are listed
    (exit 3). The note is also kept in the vault's separate progress store.
    A cancelled or no-show session gets a short attendance note. Once the
    session is signed (inklock sign) the note is exported exactly as signed,
    with its addenda after it.

    \b
    inklock note 12 --format soap --out note.md
    inklock note 12 --format birp --out note.pdf
    """
    from scanner.notes import progress as notes

    notes.kind_of(out)  # a bad file name is a usage error before the vault is unlocked
    vault = app.vault()
    written = notes.write_note(vault, session, fmt, out)
    click.echo(f"Wrote {written}: {fmt.upper()} progress note for {session_words(vault, session)}.")

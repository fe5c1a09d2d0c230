"""Registers every ``inklock`` command on the CLI group (SPEC section 8).

Commands that a later release fills in say so in one sentence and exit 2.
"""

from __future__ import annotations

import threading
from pathlib import Path

import click

from scanner.cli import forms as cli_forms
from scanner.cli import note as cli_note
from scanner.cli import packet as cli_print
from scanner.cli import review as cli_review
from scanner.cli import scan as cli_scan
from scanner.cli import search as cli_search
from scanner.cli import sign as cli_sign
from scanner.cli import summary as cli_summary
from scanner.cli import vault as cli_vault
from scanner.cli.context import AppContext, emit_json, pass_app
from scanner.errors import BadInput, UsageError


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (SPEC section 8).")
@click.option("--remove-source", is_flag=True,
              help="Delete each input file once every page of it is stored (never a file with a failed page).")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True, help="Page reader processes.")
@pass_app
def ingest(app: AppContext, paths: tuple[Path, ...], as_json: bool, remove_source: bool, workers: int) -> None:
    """Read scanned pages (PDF, PNG, JPEG, TIFF, or folders of them) into the vault.

    Pages may come in any order and orientation; blank backs are counted and
    skipped; pages that cannot be placed on a sheet wait in review's unmatched
    queue. Ingesting the same file twice adds nothing.
    """
    from scanner.ingest.workers import start_early

    if workers > 1 and app.vault_dir.is_dir():
        start_early()  # the readers' imports and engines load while the passphrase's key is derived
    from scanner.ui import page_progress

    # The pipeline's imports and look-ups (0.5 s) run beside the key derivation, which leaves Python's lock free.
    preparing = _prepare_beside(app.template_dirs())
    try:
        vault = app.vault()
    finally:
        preparing.join()
    from scanner.ingest.pipeline import ingest as run_ingest
    with page_progress(enabled=not as_json) as progress:
        summary = run_ingest(vault, list(paths), workers=workers, remove_source=remove_source,
                             extra_template_dirs=app.template_dirs(), progress=progress,
                             on_wait=lambda message: click.echo(f"inklock: {message}", err=True))
    data = summary.as_dict()
    if as_json:
        emit_json(data)
    else:
        from scanner.ui import print_ingest_summary

        print_ingest_summary(data)
    if summary.failed or summary.failed_files:
        stored = summary.identified + summary.unmatched
        rest = ("everything else was stored" if stored
                else "nothing new was stored" if summary.duplicates or summary.blank else "nothing was stored")
        raise BadInput(f"{summary.failed + summary.failed_files} page(s) or file(s) could not be read; "
                       f"{rest} (see the problems listed).")


def _prepare_beside(template_dirs: list[Path]) -> threading.Thread:
    """In a thread of its own, started now: import the pipeline, check the line model, look up the forms.

    All three are cached, so the ingest's own calls afterwards are free; any
    failure is left to those calls to report, in their order.
    """

    def run() -> None:
        try:
            from scanner.ingest import linerec
            from scanner.ingest.pipeline import build_registry

            linerec.model_path()
            build_registry(template_dirs)
        except BaseException:  # noqa: BLE001 -- the ingest's own calls say what is wrong
            pass

    thread = threading.Thread(target=run, name="inklock-import", daemon=True)
    thread.start()
    return thread


@click.command()
@click.option("--client", default=None, help="Only this client's sessions.")
@click.option("--pending", is_flag=True,
              help="Only scanned sessions with fields waiting (a private note kept as written is not waiting).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def sessions(app: AppContext, client: str | None, pending: bool, as_json: bool) -> None:
    """List sessions (printed sheets) with the pages received, fields pending and risk answers.

    A private field kept as written no longer counts as pending. "risk" lists
    the risk-screen answers other than "none", in words.
    """
    from scanner.review import risk
    from scanner.vault import store

    vault = app.vault()
    rows = risk.add_risk(vault, store.list_sessions(vault, client=client, pending=pending), app.template_dirs())
    if as_json:
        emit_json({"sessions": rows})
        return
    from scanner.ui import print_sessions

    print_sessions(rows)


@click.command()
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(app: AppContext, session: str, as_json: bool) -> None:
    """Show one session: its pages and every field with value, confidence and status."""
    from scanner.vault import store

    data = store.show_session(app.vault(), session)
    if as_json:
        for f in data["fields"]:
            f.pop("crop_file", None)
            f.pop("id", None)
        for p in data["pages"]:
            p.pop("image_file", None)
        emit_json(data)
        return
    from scanner.ui import print_session

    print_session(data)


@click.command()
@click.argument("session")
@click.argument("field_key", required=False)
@click.option("--value", default=None, help="The corrected value (omit to accept the value as read).")
@click.option("--as-written", is_flag=True,
              help="Keep a private line/text field as its handwriting, unconfirmed (refused for a progress field).")
@click.option("--keep-private", is_flag=True,
              help="Keep every waiting private line/text field of the session as written (no FIELD); "
                   "one with nothing written is confirmed empty.")
@pass_app
def confirm(app: AppContext, session: str, field_key: str | None, value: str | None, as_written: bool,
            keep_private: bool) -> None:
    """Confirm one field of a session, as read or with a corrected --value.

    \b
    Values by kind: checkbox yes|no; choice an option value or its printed
    label (several, comma-separated, where the field allows more than one;
    'none' for no answer);
    scale a number on the scale or 'none'; digits the digits; line/text the text.

    \b
    --as-written keeps a private handwritten field as its crop: it leaves the
    queue, its machine reading stays searchable as an unverified draft, and it
    can still be transcribed later (confirm it with --value).
      inklock confirm 3 countertransference --as-written
      inklock confirm 3 --keep-private
    """
    from scanner.review import confirm
    from scanner.vault import store

    vault = app.vault()
    if keep_private:
        if field_key or value is not None or as_written:
            raise UsageError("--keep-private takes a session only, without a field, --value or --as-written.")
        keeping = store.keep_private(vault, session)
        sheet = store.get_sheet(vault, session)
        click.echo(f"Session {sheet['id']}: {len(keeping['kept'])} private field(s) kept as written"
                   + ("; each crop is the record, its reading a searchable draft" if keeping["kept"] else "")
                   + (f"; {len(keeping['empty'])} with nothing written confirmed empty." if keeping["empty"] else "."))
        return
    if not field_key:
        raise UsageError("Name the field to confirm (or use --keep-private for the whole session).")
    if as_written:
        if value is not None:
            raise UsageError("Use either --value or --as-written, not both.")
        done = store.keep_field(vault, session, field_key)
        click.echo(f"Session {done['session']}: {field_key} kept as written (unconfirmed; its crop is the record).")
        return
    sheet = store.get_sheet(vault, session)
    layout = app.field_layout(sheet, field_key)
    done = confirm.confirm_field(vault, session, field_key, field_layout=layout, typed=value)
    what = "confirmed" if done["action"] == "confirm" else "corrected and confirmed"
    click.echo(f"Session {done['session']}: {field_key} {what}.")


@click.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's vault and files in this folder (to try 'inklock review' on it).")
@pass_app
def demo(app: AppContext, keep: Path | None) -> None:
    """Run the whole pipeline on samples/ in a throwaway vault (your own vault is not touched).

    Prints a form, reads the sample day's scanned batch, shows what was read
    against what was written, confirms one session, drafts its SOAP note and
    searches the vault.
    """
    from scanner.cli.demo import run

    run(click.echo, keep)


def register(group: click.Group) -> None:
    """Attach every command to the top-level group."""
    for cmd in (
        cli_vault.init,
        cli_forms.forms,
        cli_print.print_cmd,
        ingest,
        cli_scan.scan,
        cli_scan.watch,
        sessions,
        show,
        confirm,
        cli_review.review,
        cli_note.note,
        cli_sign.sign,
        cli_sign.addendum,
        cli_sign.settings,
        cli_search.search,
        cli_search.reindex,
        cli_summary.summary,
        cli_vault.passwd,
        cli_vault.backup,
        cli_vault.restore,
        demo,
        cli_scan.doctor,
    ):
        group.add_command(cmd)

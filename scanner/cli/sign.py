"""``inklock settings``, ``sign`` and ``addendum``: who writes the notes, signing, and changes after it (issue #14)."""

from __future__ import annotations

import click

from scanner.values import NOTE_FORMATS
from scanner.cli.context import AppContext, emit_json, pass_app, session_words


@click.command()
@click.option("--name", default=None, help="Your name as it goes on notes and their signature line.")
@click.option("--credentials", default=None, help="Your credentials (e.g. PsyD, LCSW).")
@click.option("--licence", "--license", "licence", default=None, help="Your licence number.")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@pass_app
def settings(app: AppContext, name: str | None, credentials: str | None, licence: str | None, as_json: bool) -> None:
    """Show or set the clinician's name, credentials and licence number (kept in the vault).

    They are printed on every progress note and its signature line; a note
    cannot be signed until a name is set. An empty value ("") clears one.

    \b
    inklock settings --name "Dr Ada Example" --credentials PsyD --licence PSY-12345
    inklock settings --json
    """
    from scanner.notes import clinician

    who = clinician.set_clinician(app.vault(), name=name, credentials=credentials, licence=licence)
    if as_json:
        emit_json({"clinician": who})
        return
    for key, label in (("name", "Name"), ("credentials", "Credentials"), ("licence", "Licence")):
        click.echo(f"{label + ':':<13}{who[key] or '(not set)'}")


@click.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(NOTE_FORMATS), default="soap", show_default=True,
              help="Progress-note format to sign.")
@click.option("--confirm-code", is_flag=True,
              help="Confirm the service code suggested from the duration (it is printed as confirmed).")
@click.option("--json", "as_json", is_flag=True, help="Print the signed note as JSON.")
@pass_app
def sign(app: AppContext, session: str, fmt: str, confirm_code: bool, as_json: bool) -> None:
    """Sign a session's progress note with your name, credentials and the time.

    After signing, the session's progress fields cannot change (confirm and
    edit are refused), every export gives exactly the signed text, and later
    changes go into an addendum. Refused (exit 3) until your name is set
    (inklock settings --name) and every progress field is confirmed.

    \b
    inklock sign 12 --format soap --confirm-code
    """
    from scanner.notes import progress as notes

    signed = notes.sign_note(app.vault(), session, fmt, confirm_code=confirm_code)
    if as_json:
        emit_json({"session": signed["session"], "format": signed["format"], "signed_at": signed["signed_at"],
                   "signer": signed["signer"], "note": signed["content"]})
        return
    content = signed["content"]
    who = notes.clinician_line(signed["signer"])
    what = "attendance note" if content.get("kind") == "attendance" else f"{signed['format'].upper()} note"
    click.echo(f"Signed the {what} of {session_words(app.vault(), signed['session'])} as {who} at "
               f"{notes.when(signed['signed_at'])}.")
    if content.get("service_code") and not content.get("code_confirmed"):
        # Said once the note is locked: --confirm-code works only while signing, so the sentence must not suggest it now.
        click.echo(f"Service code {content['service_code']} was signed as a suggestion, not confirmed (only "
                   "'sign --confirm-code' confirms it, before signing; an addendum can record the code you bill).")


@click.command()
@click.argument("session")
@click.option("--text", required=True, help="What the addendum adds or corrects.")
@pass_app
def addendum(app: AppContext, session: str, text: str) -> None:
    """Add a dated addendum to a signed progress note (shown after it in every export).

    \b
    inklock addendum 12 --text "Client called on 2 Dec: safety plan reviewed by phone."
    """
    from scanner.notes import progress as notes

    entry = notes.add_addendum(app.vault(), session, text)
    click.echo(f"Added an addendum to session {session}'s signed note ({notes.when(entry['at'])}).")

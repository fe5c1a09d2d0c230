"""Vault commands: ``init``, ``passwd``, ``backup``, ``restore`` (SPEC sections 5 and 8)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from scanner.cli.context import AppContext, emit_json, output_file, pass_app
from scanner.errors import BadInput, Refused, UsageError

NEW_PASSPHRASE_ENV = "INKLOCK_NEW_PASSPHRASE"
MIN_PASSPHRASE = 8
DEFAULT_SHEET = "inklock-recovery-sheet.pdf"


def _check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"Choose a passphrase of at least {MIN_PASSPHRASE} characters (a few words is best).")
    return passphrase


def _new_passphrase() -> str:
    """The new passphrase from INKLOCK_NEW_PASSPHRASE (automation) or asked twice."""
    value = os.environ.get(NEW_PASSPHRASE_ENV)
    if not value:
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError(
                f"No new passphrase given: run in a terminal to be asked, or set {NEW_PASSPHRASE_ENV} for automation."
            )
        value = click.prompt("New passphrase", hide_input=True, confirmation_prompt=True)
    return _check_new_passphrase(value)


@click.command()
@click.option(
    "--recovery-sheet",
    "sheet",
    type=click.Path(path_type=Path),
    callback=output_file,
    default=DEFAULT_SHEET,
    show_default=True,
    help="Where to write the recovery sheet PDF.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def init(app: AppContext, sheet: Path, as_json: bool) -> None:
    """Create the encrypted vault and write its recovery sheet (a PDF to print)."""
    from scanner.vault.recovery import recovery_sheet_pdf
    from scanner import outfile
    from scanner.vault.vault import KEY_FILE, Vault

    vault_dir = app.vault_dir.expanduser().absolute()
    sheet = sheet.expanduser().absolute()
    if (vault_dir / KEY_FILE).exists():
        raise Refused(f"A vault already exists at {vault_dir}; nothing was changed.")
    if sheet.exists():
        raise Refused(f"{sheet} already exists; choose another place with --recovery-sheet.")
    if not sheet.parent.is_dir():
        raise BadInput(f"The folder {sheet.parent} for the recovery sheet does not exist.")
    outfile.check_target(sheet)  # e.g. a dangling link: refused, never followed
    passphrase = _check_new_passphrase(app.passphrase("Choose a vault passphrase", confirm=True))
    vault, code = Vault.create(vault_dir, passphrase)
    try:
        outfile.write_private(sheet, recovery_sheet_pdf(code, str(vault.path), vault.vault_id))
    except BaseException:
        # Without its recovery sheet the new (still empty) vault is not kept.
        vault.close()
        shutil.rmtree(vault_dir, ignore_errors=True)
        raise
    vault.close()
    if as_json:
        emit_json({"vault": str(vault_dir), "recovery_sheet": str(sheet)})
        return
    click.echo(f"Vault created at {vault_dir}.")
    click.echo(f"Recovery sheet written to {sheet}:")
    click.echo("  print it, keep it away from this computer, then delete the file.")


@click.command()
@click.option(
    "--recovery-code",
    metavar="CODE",
    default=None,
    help="Unlock with the recovery code (from the recovery sheet) instead of the current passphrase.",
)
@pass_app
def passwd(app: AppContext, recovery_code: str | None) -> None:
    """Change the vault passphrase (nothing is re-encrypted; the recovery code keeps working).

    The new passphrase is asked twice, or read from INKLOCK_NEW_PASSPHRASE for automation.
    """
    from scanner.vault.vault import Vault, read_key_file

    read_key_file(app.vault_dir)  # a missing vault is reported before any prompt
    if recovery_code is not None:
        vault = Vault.open(app.vault_dir, recovery_code=recovery_code)
    else:
        vault = Vault.open(app.vault_dir, app.passphrase("Current passphrase"))
    try:
        vault.change_passphrase(_new_passphrase())
    finally:
        vault.close()
    click.echo(f"Passphrase changed for the vault at {app.vault_dir}; the recovery code still works.")


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a backup that is already at FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def backup(app: AppContext, file: Path, force: bool, as_json: bool) -> None:
    """Write an encrypted, verifiable single-file backup of the vault to FILE (a new file, unless --force)."""
    from scanner.outfile import check_target
    from scanner.vault.backup import write_backup

    if file.exists() or file.is_symlink():
        check_target(file)  # a folder, a link or a device is refused (exit 4); missing folders are made
    if file.exists() and not force:
        # An earlier backup may be the only good copy: never replaced without being asked.
        raise BadInput(f"{file} already exists (an earlier backup?); give a new file name, or --force to replace it.")

    summary = write_backup(app.vault(), file)
    if as_json:
        emit_json({"backup": str(summary.path), "files": summary.files, "bytes": summary.bytes})
        return
    click.echo(
        f"Backup written to {summary.path} ({summary.files} stored files, {summary.bytes / 1e6:.1f} MB); "
        "restoring it needs the current passphrase or the recovery code."
    )


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the vault that is already there.")
@click.option("--recovery-code", metavar="CODE", default=None, help="Unlock the backup with the recovery code.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def restore(app: AppContext, file: Path, force: bool, recovery_code: str | None, as_json: bool) -> None:
    """Restore the vault from a backup FILE, after verifying all of it.

    Needs the passphrase the vault had when the backup was made. An existing
    vault is only replaced with --force.
    """
    from scanner.vault.backup import check_restore_target, restore_backup

    target = app.vault_dir.expanduser().absolute()
    check_restore_target(target, force)
    if not file.is_file():
        raise BadInput(f"No backup file at {file}.")
    passphrase = None if recovery_code else app.passphrase("Passphrase of the backed-up vault")
    restore_backup(file, target, passphrase, force=force, recovery_code=recovery_code)
    if as_json:
        emit_json({"vault": str(target), "backup": str(file)})
        return
    click.echo(f"Vault restored to {target} from {file}.")
    if recovery_code:
        # The restored vault has the passphrase it had when backed up: say how to set one you know.
        click.echo("It opens with the passphrase it had when the backup was made, and with the recovery code; "
                   "to set a new passphrase: inklock passwd --recovery-code CODE.")

"""``inklock scan``, ``inklock watch`` and ``inklock doctor``: pages in without typing a path."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.cli.context import AppContext, emit_json, flush_warnings, pass_app
from scanner.errors import BadInput


def _fail_if_pages_failed(data: dict) -> None:
    failed = data["failed"] + data["failed_files"]
    if failed:
        raise BadInput(f"{failed} page(s) or file(s) could not be read; everything else was stored "
                       "(see the problems listed).")


@click.command()
@click.option("--device", default=None, metavar="NAME",
              help="The SANE device (as 'scan --list' shows it); default: the vault's kept scanner, "
                   "else the only one found.")
@click.option("--keep-device", is_flag=True, help="Keep --device as this vault's scanner for later scans.")
@click.option("--list", "list_only", is_flag=True, help="List the scanners SANE finds, and scan nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the ingest summary, plus device and stopped).")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True, help="Page reader processes.")
@pass_app
def scan(app: AppContext, device: str | None, keep_device: bool, list_only: bool, as_json: bool,
         workers: int) -> None:
    """Scan the stack in the scanner's feeder straight into the vault (no file is written).

    300 dpi grayscale, both sides where the scanner can, until the feeder is
    empty. Each page is read and stored as it arrives, exactly as 'inklock
    ingest' reads a file: same summary, same exit codes. If the scanner jams
    or disappears part-way, every page already read is kept and the message
    says from which page to feed the rest.

    \b
    inklock scan --list                 the scanners SANE finds
    inklock scan                        the only scanner, or the kept one
    inklock scan --device 'fujitsu:fi-7160:1234' --keep-device
    """
    from scanner.ingest import scan as scanning

    if list_only:
        devices = scanning.list_devices()
        if as_json:
            emit_json({"devices": [d.as_dict() for d in devices]})
            return
        if not devices:
            click.echo("No scanner was found ('scanimage -L' lists what SANE sees).")
            return
        from scanner.ui import print_devices

        print_devices([d.as_dict() for d in devices])
        return
    if keep_device and not device:
        raise click.UsageError("--keep-device needs --device NAME.")
    vault = app.vault()
    name = device or scanning.kept_device(vault) or scanning.choose_device(scanning.list_devices(), None, None)
    from scanner.ui import page_progress, print_ingest_summary

    with page_progress(enabled=not as_json) as progress:
        data = scanning.scan_into_vault(vault, scanning.SaneScanner(name), workers=workers,
                                        extra_template_dirs=app.template_dirs(), progress=progress)
    if keep_device and data["pages"]:
        scanning.keep_device(vault, name)
    stopped = data["stopped"]
    if as_json:
        emit_json(data)
    else:
        shown = dict(data, problems=[p for p in data["problems"] if p != stopped])
        print_ingest_summary(shown)
    if stopped:
        raise BadInput(stopped)
    _fail_if_pages_failed(data)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_app
def watch(app: AppContext, folder: Path) -> None:
    """Ingest every scan that lands in FOLDER, then delete it; runs until Ctrl-C.

    For scanners that can only save to a folder, and phone apps that sync one.
    Files already there are read first. A file is read once it is complete
    (its size has stopped changing and it opens), and deleted only when every
    page of it is stored; a file that fails stays in the folder and is named.
    One line per file. Ctrl-C finishes the file being read, then stops (exit 0).
    """
    from scanner.ingest.watch import watch_folder

    vault = app.vault()
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder.")
    dirs = app.template_dirs()
    flush_warnings()  # it runs until stopped: say them now
    click.echo(f"Watching {folder} (Ctrl-C stops).")
    watcher = watch_folder(vault, folder, click.echo, extra_template_dirs=dirs)
    unread = watcher.unread()
    click.echo(f"Stopped: {watcher.stored} file(s) stored and removed, {watcher.kept} kept in the folder"
               + (f", {len(unread)} not read yet (read when watch runs again):" if unread else "."))
    for path, why in unread:
        click.echo(f"  {path.name}: {why}.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def doctor(app: AppContext, as_json: bool) -> None:
    """Say what this machine has of what Inklock uses (OCR, models, SANE and the scanner, printer), and
    what to install for what is missing. Changes nothing; does not open the vault."""
    from scanner.cli.doctor import run

    report = run(app.vault_dir)
    if as_json:
        emit_json(report)
        return
    from scanner.ui import print_doctor

    print_doctor(report)

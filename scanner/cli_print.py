"""``inklock print``: session forms for one client, a day's schedule, or blank sheets."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.cli import AppContext, emit_json
from scanner.errors import UsageError

pass_app = click.make_pass_decorator(AppContext)


@click.command("print")
@click.argument("template", required=False)
@click.option("--client", default=None, help="Client code (a code, never a name).")
@click.option("--date", "date_", default=None, help="Session date, YYYY-MM-DD (default: today).")
@click.option("--session", type=int, default=None, help="Session number (default: the client's next).")
@click.option("--schedule", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with columns client,date,session[,template]: one sheet per row.")
@click.option("--blank", is_flag=True, help="Sheets with no client: the header is filled in by hand.")
@click.option("--count", type=click.IntRange(1, 500), default=1, show_default=True, help="How many blank sheets.")
@click.option("--page-size", type=click.Choice(["letter", "a4"]), default="letter", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The PDF to write (default: inklock-<date>.pdf).")
@click.option("--json", "as_json", is_flag=True, help="Print {pdf, sheets} as JSON.")
@pass_app
def print_cmd(app: AppContext, template, client, date_, session, schedule, blank, count, page_size, out, as_json):
    """Print session forms: each sheet gets markers, a QR code and its header.

    \b
    inklock print session --client C017 --date 2026-11-27
    inklock print --schedule today.csv --out today.pdf
    inklock print session --blank --count 5 --out spare.pdf
    """
    from scanner import printing

    modes = sum(bool(x) for x in (schedule, blank, client))
    if modes != 1:
        raise UsageError("Say what to print: --client CODE, --schedule FILE.csv or --blank (exactly one).")
    if schedule:
        requests = printing.read_schedule(schedule, template)
    elif blank:
        requests = [printing.SheetRequest(template or "session", None, None, None) for _ in range(count)]
    else:
        if not template:
            raise UsageError("Name the template to print, e.g. 'inklock print session --client C017'.")
        requests = [printing.SheetRequest(template, printing.check_client(client), printing.check_date(date_),
                                          printing.check_session(session))]
    out = out or Path(f"inklock-{requests[0].date or 'blank'}.pdf")
    result = printing.print_packet(app.vault(), requests, out, page_size, app.template_dirs())
    if as_json:
        emit_json(result)
    else:
        click.echo(f"Wrote {result['pdf']}: {len(result['sheets'])} sheet(s), "
                   f"{sum(s['pages'] for s in result['sheets'])} page(s).")

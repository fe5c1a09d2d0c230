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
@click.option("--calendar", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An exported calendar (.ics): one sheet per appointment on --date (or --from/--to).")
@click.option("--from", "from_", default=None, help="With --calendar: first day, YYYY-MM-DD.")
@click.option("--to", default=None, help="With --calendar: last day (default: a week from --from).")
@click.option("--client-pattern", default=None, metavar="REGEX",
              help="With --calendar: the client code in an event's summary (default: first [A-Z]-\\d+).")
@click.option("--blank-unknown", is_flag=True,
              help="With --calendar: a blank sheet for each appointment without a client code.")
@click.option("--blank", is_flag=True, help="Sheets with no client: the header is filled in by hand.")
@click.option("--count", type=click.IntRange(1, 500), default=1, show_default=True, help="How many blank sheets.")
@click.option("--page-size", type=click.Choice(["letter", "a4"]), default="letter", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The PDF to write (default: inklock-<date>.pdf).")
@click.option("--json", "as_json", is_flag=True, help="Print {pdf, sheets} as JSON.")
@pass_app
def print_cmd(app: AppContext, template, client, date_, session, schedule, calendar, from_, to, client_pattern,
              blank_unknown, blank, count, page_size, out, as_json):
    """Print session forms: each sheet gets markers, a QR code and its header.

    \b
    inklock print session --client C017 --date 2026-11-27
    inklock print --schedule today.csv --out today.pdf
    inklock print session --blank --count 5 --out spare.pdf
    inklock print --calendar week.ics --from 2026-11-23 --to 2026-11-27
    """
    from scanner import printing

    modes = sum(bool(x) for x in (schedule, blank, client, calendar))
    if modes != 1:
        raise UsageError("Say what to print: --client CODE, --schedule FILE.csv, --calendar FILE.ics or --blank "
                         "(exactly one).")
    skipped = []
    if calendar:
        from scanner import calendar_import as cal

        first, last = cal.day_range(date_, from_, to)
        requests, _printed, skipped = cal.calendar_requests(calendar, first, last, template,
                                                            cal.client_pattern(client_pattern), blank_unknown)
    elif schedule:
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
    if calendar:
        result["skipped"] = [a.as_dict() for a in skipped]
    if as_json:
        emit_json(result)
    else:
        for a in skipped:
            click.echo(f"Skipped {a.start} '{printing.shown(a.summary)}': "
                       f"{'cancelled' if a.cancelled else 'no client code'}.")
        click.echo(f"Wrote {result['pdf']}: {len(result['sheets'])} sheet(s), "
                   f"{sum(s['pages'] for s in result['sheets'])} page(s).")

"""``inklock summary``: a client's treatment summary over a date range (SPEC section 7)."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.cli.context import AppContext, emit_json, output_file, pass_app


@click.command()
@click.option("--client", required=True, help="Client code.")
@click.option("--since", default=None, help="First session date to include, YYYY-MM-DD (default: the first).")
@click.option("--until", default=None, help="Last session date to include, YYYY-MM-DD (default: the last).")
@click.option("--out", type=click.Path(path_type=Path), required=True, callback=output_file,
              help="The file to write: .md (to paste), .pdf (with a chart per measure) or .json.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON (no clinical content).")
@pass_app
def summary(app: AppContext, client: str, since: str | None, until: str | None, out: Path, as_json: bool) -> None:
    """Write a treatment summary from confirmed progress fields only.

    Sessions attended, presenting focus, interventions and how often, scale
    trends (a chart in the PDF), homework, goals, risk and plan. Private
    psychotherapy notes never enter it; unconfirmed answers are left out and
    counted. Nothing is written when the client has no scanned session in the
    period (exit 4) or none of them has a confirmed progress field (exit 3).

    \b
    inklock summary --client C017 --since 2026-01-01 --until 2026-03-31 --out c017.pdf
    inklock summary --client C017 --out c017.md
    """
    from scanner.notes import summary as builder

    builder.kind_of(out)  # a bad file name or date is a usage error before the vault is unlocked
    builder.check_period(since, until)
    done = builder.write_summary(app.vault(), client, since, until, out)
    if as_json:
        emit_json({"out": str(out), "client": done.client, "since": done.since, "until": done.until,
                   "first_date": done.first_date, "last_date": done.last_date, "sessions": len(done.sessions),
                   "attended": done.attended, "pending_sessions": done.pending_sessions})
        return
    click.echo(f"Wrote {out}: treatment summary of client {done.client}, {len(done.sessions)} session(s) "
               f"from {done.first_date} to {done.last_date}.")
    if done.pending_sessions:
        click.echo(f"Note: {done.pending_sessions} session(s) have unconfirmed progress fields; "
                   "those answers are not in it.")

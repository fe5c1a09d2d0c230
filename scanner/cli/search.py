"""Search commands: ``search`` and ``reindex`` (SPEC sections 5 and 8)."""

from __future__ import annotations

import click

from scanner.cli.context import AppContext, emit_json, pass_app

# Private-use characters mark highlights for the terminal, so brackets typed in a
# note are never mistaken for them; --json uses the documented [ and ].
_MARK = ("\ue000", "\ue001")


def _check_known(vault, client: str | None, field_key: str | None) -> None:
    """A filter naming no client or field of this vault is a typing slip, not "nothing found" (BadInput)."""
    from scanner.errors import BadInput
    from scanner.values import shown
    from scanner.vault import store

    if client is not None:
        clients = store.list_clients(vault)
        if client.casefold() not in {c.casefold() for c in clients}:
            raise BadInput(f"No client '{shown(client)}' in this vault (--client takes a client code, "
                           "as 'inklock sessions' shows them).")
    if field_key is not None:
        keys = store.field_keys(vault)
        if field_key not in keys:
            raise BadInput(f"No field '{shown(field_key)}' in this vault; its fields are: {', '.join(keys) or 'none yet'}.")


@click.command()
@click.argument("query")
@click.option("--client", default=None, help="Only this client's sessions.")
@click.option("--since", default=None, help="From this session date (YYYY-MM-DD).")
@click.option("--until", default=None, help="Up to this session date (YYYY-MM-DD).")
@click.option("--field", "field_key", default=None, help="Only this field key.")
@click.option("--privacy", type=click.Choice(["private", "progress"]), default=None,
              help="Only psychotherapy-note (private) or progress fields.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Most fields to show.")
@click.option("--json", "as_json", is_flag=True, help='Print {"query", "results": [...]}.')
@pass_app
def search(app: AppContext, query: str, client: str | None, since: str | None, until: str | None,
           field_key: str | None, privacy: str | None, limit: int, as_json: bool) -> None:
    """Search confirmed text and OCR drafts, tolerant of OCR errors and shorthand.

    \b
    QUERY: words (all must appear), anx* (prefix), "poor sleep" (phrase),
    AND, OR, NOT, and parentheses. Exact matches come first, then shorthand
    (SI <-> suicidal ideation), near spellings (OCR slips), and substrings.
    Results are grouped by session; drafts are unconfirmed machine reads.
    """
    from functools import partial

    from scanner.hand import exemplars
    from scanner.vault.search import Filters, Searcher

    filters = Filters(client=client, since=since, until=until, field=field_key, privacy=privacy)
    vault = app.vault()
    _check_known(vault, client, field_key)
    hand = partial(exemplars.search_by_hand, vault)
    if as_json:
        emit_json({"query": query, "results": Searcher(vault.db, hand=hand).search(query, filters, limit)})
        return
    results = Searcher(vault.db, highlight=_MARK, hand=hand).search(query, filters, limit)
    print_results(query, results)


@click.command()
@pass_app
def reindex(app: AppContext) -> None:
    """Rebuild the search index and the handwriting exemplars from every field in the vault."""
    from scanner.hand import exemplars
    from scanner.vault.search import reindex as rebuild

    from forms.model import list_templates

    from scanner.vault.store import save_labels

    vault = app.vault()
    for template in list_templates(app.template_dirs()):  # tick labels for search (issue 14)
        save_labels(vault.db, template)
    count = rebuild(vault.db)
    click.echo(f"Search index rebuilt: {count} field(s) with text indexed.")
    hand = exemplars.rebuild(vault)
    click.echo(f"Handwriting learned again: {hand['words']} word(s) from {hand['fields']} confirmed field(s) "
               f"({hand['skipped']} skipped: their words and crop did not line up); "
               f"{hand['drafts']} unconfirmed field(s) cut into words for search.")


def _snippet(text: str):
    from rich.text import Text

    out = Text()
    rest = text or ""
    while _MARK[0] in rest:
        before, _, rest = rest.partition(_MARK[0])
        hit, _, rest = rest.partition(_MARK[1])
        out.append(before)
        out.append(hit, style="bold reverse")
    out.append(rest)
    return out


def print_results(query: str, results: list[dict]) -> None:
    """A table of hits, one section per session."""
    from rich.table import Column, Table
    from rich.text import Text

    from scanner.ui import console, narrow

    if not results:
        console.print(f"Nothing found for {query!r}.")
        return
    sessions = len({r["session"] for r in results})
    if narrow():
        # Too narrow for seven columns: each session a heading, each hit a line and its snippet below.
        last = None
        for r in results:
            if r["session"] != last:
                console.print(f"Session {r['session']} · {r['client'] or 'blank sheet'} · {r['date'] or 'no date'}")
                last = r["session"]
            console.print(f"  {r['field']} · {r['status']} · {r['match']}")
            console.print(Text("    ") + _snippet(r["snippet"]))
        _results_footer(results, sessions)
        return
    table = Table("session", Column("date", no_wrap=True), "client", Column("field", no_wrap=True), "status", "match",
                  "snippet")
    last = None
    for r in results:
        first = r["session"] != last
        if first and last is not None:
            table.add_section()
        last = r["session"]
        table.add_row(str(r["session"]) if first else "", (r["date"] or "") if first else "",
                      (r["client"] or "") if first else "", r["field"], r["status"], r["match"], _snippet(r["snippet"]))
    console.print(table)
    _results_footer(results, sessions)


def _results_footer(results: list[dict], sessions: int) -> None:
    from scanner.ui import console

    drafts = sum(r["status"] == "draft" for r in results)
    console.print(f"{len(results)} field(s) in {sessions} session(s)"
                  + (f"; {drafts} unconfirmed draft(s): check them against the handwriting in review." if drafts else "."))

"""The ``inklock`` command line: parse, call the library, report.

Thin by design: every command parses its arguments, calls one library function
and prints the result. One place (:func:`main`) turns exceptions into a
one-sentence message on stderr and an exit code; no traceback reaches a user
unless ``--debug`` is given.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from scanner.cli import commands
from scanner.cli.context import VAULT_ENV, WARNINGS, AppContext, default_vault_dir, flush_warnings
from scanner.errors import ExitCode, InklockError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--vault",
    "vault_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=VAULT_ENV,
    default=None,
    help=f"Vault folder (or ${VAULT_ENV}); default: your user data folder.",
)
@click.option("--debug", is_flag=True, help="Show a traceback on unexpected errors.")
@click.version_option(package_name="inklock", prog_name="inklock")
@click.pass_context
def cli(ctx: click.Context, vault_dir: Path | None, debug: bool) -> None:
    """Inklock: handwritten session notes, read into an encrypted vault.

    \b
    A day with Inklock:
      inklock init                                 create the vault (once)
      inklock print --calendar today.ics --out today.pdf
      inklock scan                                 read the stack from the scanner
      inklock ingest scan.pdf                      (or a scanned file; inklock watch FOLDER)
      inklock review                               confirm every field
      inklock settings --name "Dr A. Example" --credentials PsyD   (once)
      inklock note SESSION --format soap --out note.md
      inklock sign SESSION                         sign it; changes become addenda
      inklock search "sleep"

    SESSION is the number 'inklock sessions' shows, the sheet id printed on
    the sheet, or CLIENT/N: the client's session N, as printed on the sheet
    (inklock note C017/7 --format soap --out note.md).

    The passphrase is asked for in the terminal; INKLOCK_PASSPHRASE is read
    instead for automation and tests.
    """
    app = AppContext(vault_dir=vault_dir or default_vault_dir(), debug=debug)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register_commands() -> None:
    commands.register(cli)


def one_line(message: str) -> str:
    """A message as one line: a value with a line break must not split the sentence."""
    return " ".join("".join(c if c.isprintable() else " " for c in message).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into one sentence and an exit code."""
    _register_commands()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    WARNINGS.clear()
    try:
        rv = cli.main(args=argv, prog_name="inklock", standalone_mode=False)
        flush_warnings()
    except InklockError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"inklock: {one_line(exc.message)}", err=True)
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group typed without its command: show its help, and say so in one line.
        if exc.ctx is not None:
            click.echo(exc.ctx.get_help())
        name = exc.ctx.command_path if exc.ctx is not None else "inklock"
        click.echo(f"inklock: '{name}' needs a command; they are listed above.", err=True)
        return int(ExitCode.USAGE)
    except click.exceptions.Abort:
        click.echo("inklock: stopped.", err=True)
        return int(ExitCode.USAGE)
    except click.ClickException as exc:
        click.echo(f"inklock: {one_line(exc.format_message())}", err=True)
        return int(ExitCode.USAGE)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("inklock: interrupted; nothing half-written was kept.", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001  (the one place an unexpected error is reported)
        if debug:
            traceback.print_exc()
        click.echo(
            f"inklock: unexpected error ({type(exc).__name__}); run again with --debug for details.",
            err=True,
        )
        return int(ExitCode.UNEXPECTED)
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""What every ``inklock`` command shares: :class:`AppContext` (the vault and how to unlock it) and JSON output.

Command modules import this, never :mod:`scanner.cli.main`: ``main`` builds the
group and imports :mod:`scanner.cli.commands`, which imports the command
modules, so the imports run one way only.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from scanner.errors import BadInput, UsageError

PASSPHRASE_ENV = "INKLOCK_PASSPHRASE"
VAULT_ENV = "INKLOCK_VAULT"


# Warnings of this run, said on stderr once the command has done its work
# (scanner.cli.main); a command that is refused says only why.
WARNINGS: list[str] = []


def warn(text: str, now: bool = False) -> None:
    """A warning line for stderr: after the command's output, or at once with ``now`` (long-running commands)."""
    if now:
        click.echo(f"inklock: warning: {text}", err=True)
    elif text not in WARNINGS:
        WARNINGS.append(text)


def flush_warnings() -> None:
    """Say the warnings gathered so far (a long-running command, before it settles in)."""
    while WARNINGS:
        warn(WARNINGS.pop(0), now=True)


def default_vault_dir() -> Path:
    """The vault's default home: the platform's per-user data folder."""
    import platformdirs

    return Path(platformdirs.user_data_dir("inklock", appauthor=False)) / "vault"


@dataclass
class AppContext:
    """What every command may need: where the vault is and how to unlock it."""

    vault_dir: Path
    debug: bool = False
    _vault: Any = field(default=None, repr=False)
    _templates_checked: bool = field(default=False, repr=False)

    def passphrase(self, prompt: str = "Vault passphrase", confirm: bool = False) -> str:
        """The passphrase from INKLOCK_PASSPHRASE (automation, tests) or a hidden prompt."""
        value = os.environ.get(PASSPHRASE_ENV)
        if value:
            return value
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError(
                f"No passphrase given: run in a terminal to be asked, or set {PASSPHRASE_ENV} for automation."
            )
        return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)

    def vault(self) -> Any:
        """Open (once) and return the vault, asking for the passphrase."""
        if self._vault is None:
            from scanner.vault.vault import Vault

            self._vault = Vault.open(self.vault_dir, self.passphrase())
        return self._vault

    def template_dirs(self) -> list[Path]:
        """User templates: the vault's own templates/ folder, when there is one.

        A file there that cannot be used is left out of every form list (the
        other forms work on); the command says so once it has done its work
        (:func:`warn`), once per file.
        """
        folder = self.vault_dir / "templates"
        dirs = [folder] if folder.is_dir() else []
        if dirs and not self._templates_checked:
            self._templates_checked = True
            from forms.model import template_problems

            for problem in template_problems(dirs):
                warn(f"a template is left out until it is fixed: {problem}")
        return dirs

    def field_layout(self, sheet: dict, key: str) -> Any:
        """The box of one field of a printed sheet, a ``forms.boxes.FieldBox`` (for checking typed values)."""
        from forms import catalog

        try:
            return catalog.form(sheet["template"], sheet["page_size"], self.template_dirs()).field(key)
        except catalog.FormUnavailable as exc:
            raise BadInput(str(exc)) from None

    def close(self) -> None:
        if self._vault is not None:
            self._vault.close()
            self._vault = None


pass_app = click.make_pass_decorator(AppContext)
"""Decorator: pass the command the :class:`AppContext` the group made."""


def output_file(_ctx: Any, _param: Any, value: Path | None) -> Path | None:
    """Click callback for an output path: one that is not a place for a new file (a folder, a link,
    a device, a missing folder) is refused with one sentence and exit 4 before any work is done."""
    if value is not None:
        from scanner.outfile import check_target

        check_target(value)
    return value


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def session_words(vault: Any, session: str | int) -> str:
    """The words for a session: "session 3 (client C-104, 2025-03-04, their session 7)".

    The vault's number, which commands take, with whose session it is and the
    number printed on the sheet: a number typed from the paper that names
    another client's session shows it at once.
    """
    from scanner.vault import store

    sheet = store.get_sheet(vault, session)
    parts = [f"client {sheet['client']}" if sheet["client"] else "blank sheet", sheet["date"],
             f"their session {sheet['session_number']}" if sheet["session_number"] is not None else None]
    return f"session {sheet['id']} ({', '.join(str(p) for p in parts if p)})"
